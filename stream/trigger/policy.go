package trigger

import (
	"time"

	"github.com/kairos-engine/kairos/state"
)

// ConsentMode is what a channel's marketing needs from the contact.
type ConsentMode uint8

// The modes.
const (
	// UnlessOptedOut sends marketing unless the contact opted out (soft
	// opt-in, as for existing customers in many jurisdictions).
	UnlessOptedOut ConsentMode = iota
	// RequireOptIn sends marketing only after an explicit opt-in.
	RequireOptIn
)

// Cap is one marketing-pressure limit: at most Max emissions per rolling
// Per window.
type Cap struct {
	Max int
	Per time.Duration
}

// Policy is the contact policy applied to every trigger before it is
// emitted. The zero value has no quiet hours and no caps; DefaultPolicy is
// what a rule file without a policy section gets.
type Policy struct {
	// TimeZone is the zone of contacts whose own is unknown. Default UTC.
	TimeZone *time.Location
	// QuietStart and QuietEnd are minutes after local midnight; marketing
	// is not sent from QuietStart to QuietEnd (wrapping past midnight when
	// QuietStart > QuietEnd). Equal values mean no quiet hours. Default
	// 21:00 to 08:00.
	QuietStart, QuietEnd int
	// Caps per contact channel (email, sms, push). Defaults: email 1 per
	// day and 3 per 7 days; sms 1 per day and 2 per 7 days; push 2 per day
	// and 6 per 7 days.
	Caps [3][]Cap
	// Consent per contact channel. Defaults: email UnlessOptedOut, sms and
	// push RequireOptIn.
	Consent [3]ConsentMode
}

// DefaultPolicy returns the default contact policy.
func DefaultPolicy() Policy {
	day := 24 * time.Hour
	return Policy{
		TimeZone:   time.UTC,
		QuietStart: 21 * 60,
		QuietEnd:   8 * 60,
		Caps: [3][]Cap{
			{{Max: 1, Per: day}, {Max: 3, Per: 7 * day}},
			{{Max: 1, Per: day}, {Max: 2, Per: 7 * day}},
			{{Max: 2, Per: day}, {Max: 6, Per: 7 * day}},
		},
		Consent: [3]ConsentMode{UnlessOptedOut, RequireOptIn, RequireOptIn},
	}
}

// Verdict is the outcome of the policy for one trigger.
type Verdict uint8

// The verdicts.
const (
	Allow Verdict = iota
	DeferUntil
	Block // dropped, with a reason
)

// Reason says why a trigger was not emitted now. The values are metric
// label values and stable.
type Reason string

// The reasons.
const (
	ReasonNoAddress   Reason = "no_address"        // no email, phone or contact id for the channel
	ReasonHardBounce  Reason = "hard_bounce"       // the address bounced hard: suppressed
	ReasonComplained  Reason = "complained"        // spam complaint: no marketing ever
	ReasonOptedOut    Reason = "opted_out"         // the contact left the channel
	ReasonNoConsent   Reason = "no_consent"        // the channel needs an opt-in the contact never gave
	ReasonList        Reason = "list_unsubscribed" // not subscribed to the rule's list
	ReasonPressure    Reason = "pressure"          // the channel's cap is reached
	ReasonQuietHours  Reason = "quiet_hours"       // night in the contact's time zone
	ReasonDisplaced   Reason = "displaced"         // lost the deferral slot to a higher priority
	ReasonExpired     Reason = "expired"           // could not be sent before its expiry
	ReasonCooldown    Reason = "cooldown"          // the rule already emitted (once, cooldown)
	ReasonRuleRemoved Reason = "rule_removed"      // a timer of a rule the current set lacks
)

var allReasons = []Reason{
	ReasonNoAddress, ReasonHardBounce, ReasonComplained, ReasonOptedOut, ReasonNoConsent, ReasonList,
	ReasonPressure, ReasonQuietHours, ReasonDisplaced, ReasonExpired, ReasonCooldown, ReasonRuleRemoved,
}

// Decision is the policy's answer for one trigger at one instant.
type Decision struct {
	Verdict Verdict
	Until   int64  // DeferUntil: the next allowed moment (Unix ms)
	Reason  Reason // DeferUntil and Block
}

// hasAddress reports whether the contact can be reached on ch.
func hasAddress(c *state.Contact, ch state.Channel) bool {
	switch ch {
	case state.ChannelEmail:
		return c.EmailAddr != "" || c.Key.Kind() == state.IDEmail
	case state.ChannelSMS:
		return c.Phone != ""
	default: // push: the sender maps the contact id to its devices
		return c.ContactID != "" || c.Key.Kind() == state.IDContact
	}
}

// Check applies the policy to a trigger of rule r for contact c at event
// time at, in the contact's zone loc. In order: the sales channel is not a
// message to the contact and is always allowed; a missing address or a
// hard bounce blocks every kind; a service message is then allowed; a
// marketing message needs consent (no complaint, not opted out, an opt-in
// where the channel requires one, the rule's list), then pressure and
// quiet hours, which defer it to the next allowed moment or drop it, as
// the rule says. Consent failures are never deferred: waiting does not
// give consent.
func (p *Policy) Check(r *Rule, c *state.Contact, cs *ContactState, at int64, loc *time.Location) Decision {
	sc, ok := r.Channel.contact()
	if !ok {
		return Decision{Verdict: Allow}
	}
	if !hasAddress(c, sc) {
		return Decision{Verdict: Block, Reason: ReasonNoAddress}
	}
	st := c.Consent.Channels[sc].Status
	if st == state.ConsentSuppressed {
		return Decision{Verdict: Block, Reason: ReasonHardBounce}
	}
	if r.Kind == Service {
		return Decision{Verdict: Allow}
	}
	if reason, ok := p.consent(sc, c, r.List); !ok {
		return Decision{Verdict: Block, Reason: reason}
	}
	next, reason := p.nextAllowed(sc, cs, at, loc)
	if next <= at {
		return Decision{Verdict: Allow}
	}
	if r.OnBlock == Drop {
		return Decision{Verdict: Block, Reason: reason}
	}
	return Decision{Verdict: DeferUntil, Until: next, Reason: reason}
}

// consent checks marketing consent on a contact channel and, when list is
// set, the subscription to that list.
func (p *Policy) consent(sc state.Channel, c *state.Contact, list string) (Reason, bool) {
	switch c.Consent.Channels[sc].Status {
	case state.ConsentSuppressed:
		return ReasonHardBounce, false
	case state.ConsentComplained:
		return ReasonComplained, false
	case state.ConsentOptedOut:
		return ReasonOptedOut, false
	case state.ConsentOptedIn:
	default:
		if p.Consent[sc] == RequireOptIn {
			return ReasonNoConsent, false
		}
	}
	if list != "" {
		for _, l := range c.Consent.Lists {
			if l.List == list {
				if l.Subscribed {
					return "", true
				}
				break
			}
		}
		return ReasonList, false
	}
	return "", true
}

// nextAllowed returns the first instant at or after at when a marketing
// message may go out on sc as far as pressure and quiet hours go, and the
// reason it is later than at (the first obstacle met).
func (p *Policy) nextAllowed(sc state.Channel, cs *ContactState, at int64, loc *time.Location) (int64, Reason) {
	t := at
	var reason Reason
	// Each step only moves t later, and a later t never raises the count
	// in a window nor starts quiet hours it left, so this settles in a
	// few rounds; the bound is a guard.
	for range 8 {
		moved := false
		if cs != nil {
			if u := p.pressureFree(sc, cs.Sends[sc], t); u > t {
				t, moved = u, true
				if reason == "" {
					reason = ReasonPressure
				}
			}
		}
		if u := p.quietEnd(t, loc); u > t {
			t, moved = u, true
			if reason == "" {
				reason = ReasonQuietHours
			}
		}
		if !moved {
			break
		}
	}
	return t, reason
}

// pressureFree returns the first instant at or after t at which every cap
// of sc has room: for a cap of Max per Per, the emissions in (t−Per, ∞)
// must be fewer than Max, so when there are k ≥ Max, the moment the
// (k−Max+1)-th of them leaves the window. Emissions after t (a late
// trigger) count: pressure is about messages close together.
func (p *Policy) pressureFree(sc state.Channel, sends []int64, t int64) int64 {
	for range 4 {
		moved := false
		for _, cp := range p.Caps[sc] {
			per := cp.Per.Milliseconds()
			k := 0
			for i := len(sends) - 1; i >= 0 && sends[i] > t-per; i-- {
				k++
			}
			if k >= cp.Max {
				if u := sends[len(sends)-k+(k-cp.Max)] + per; u > t {
					t, moved = u, true
				}
			}
		}
		if !moved {
			break
		}
	}
	return t
}

// quietEnd returns at when it is outside quiet hours in loc, else the end
// of the quiet period it is in, computed on the local calendar so that a
// daylight-saving change is handled (08:00 local is 08:00 local).
func (p *Policy) quietEnd(at int64, loc *time.Location) int64 {
	if p.QuietStart == p.QuietEnd {
		return at
	}
	if loc == nil {
		loc = p.TimeZone
	}
	if loc == nil {
		loc = time.UTC
	}
	lt := time.UnixMilli(at).In(loc)
	m := lt.Hour()*60 + lt.Minute()
	y, mo, d := lt.Date()
	endH, endM := p.QuietEnd/60, p.QuietEnd%60
	if p.QuietStart < p.QuietEnd {
		if m >= p.QuietStart && m < p.QuietEnd {
			return time.Date(y, mo, d, endH, endM, 0, 0, loc).UnixMilli()
		}
		return at
	}
	switch {
	case m >= p.QuietStart:
		return time.Date(y, mo, d+1, endH, endM, 0, 0, loc).UnixMilli()
	case m < p.QuietEnd:
		return time.Date(y, mo, d, endH, endM, 0, 0, loc).UnixMilli()
	}
	return at
}

// ChannelPressure is the answer for one channel of
// `GET /v1/contacts/{id}/pressure`.
type ChannelPressure struct {
	Channel Channel
	// NextAllowed is the first instant at or after the asked one when a
	// marketing message may be sent (Unix ms); 0 when consent forbids
	// marketing on the channel, Blocked then saying why.
	NextAllowed int64
	// Reason is why NextAllowed is later than asked (pressure,
	// quiet_hours), or why it is 0.
	Reason Reason
	// Sent counts the marketing emissions inside each cap's window, in the
	// order of Policy.Caps.
	Sent []int
	Caps []Cap
}

// Pressure answers, for each contact channel, when the next marketing
// message may be sent at or after at.
func (p *Policy) Pressure(c *state.Contact, cs *ContactState, at int64, loc *time.Location) [3]ChannelPressure {
	var out [3]ChannelPressure
	for sc := range state.Channel(3) {
		cp := &out[sc]
		cp.Channel = Channel(sc)
		cp.Caps = p.Caps[sc]
		for _, cap := range p.Caps[sc] {
			n := 0
			if cs != nil {
				for _, s := range cs.Sends[sc] {
					if s > at-cap.Per.Milliseconds() {
						n++
					}
				}
			}
			cp.Sent = append(cp.Sent, n)
		}
		if !hasAddress(c, sc) {
			cp.Reason = ReasonNoAddress
			continue
		}
		if reason, ok := p.consent(sc, c, ""); !ok {
			cp.Reason = reason
			continue
		}
		cp.NextAllowed, cp.Reason = p.nextAllowed(sc, cs, at, loc)
	}
	return out
}
