package trigger

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
)

// Headers on every trigger record.
const (
	HeaderTriggerID = "kairos.trigger_id"
	HeaderRule      = "kairos.rule"
	HeaderJourney   = "kairos.journey"
)

// Topics names the trigger topic of each channel.
type Topics struct {
	Email, SMS, Push, Sales string
}

// DefaultTopics returns kairos.triggers.email, .sms, .push and .sales.
func DefaultTopics() Topics {
	return Topics{Email: "kairos.triggers.email", SMS: "kairos.triggers.sms", Push: "kairos.triggers.push", Sales: "kairos.triggers.sales"}
}

func (t *Topics) of(ch Channel) string {
	switch ch {
	case ChannelEmail:
		return t.Email
	case ChannelSMS:
		return t.SMS
	case ChannelPush:
		return t.Push
	}
	return t.Sales
}

// Engine evaluates one rule set. It is immutable and safe for concurrent
// use by every partition worker; a rule reload builds a new Engine (with
// the same Metrics) and swaps it in between batches.
type Engine struct {
	rules  *RuleSet
	topics Topics
	byID   map[string]*Rule
	rm     []*ruleMetrics
	m      *Metrics

	// candidates[t] are the rules an input of event type t can match, in
	// file order; candidates[0] those of an input without event.
	candidates [state.NumEventTypes][]*Rule
	// stateOnly are the rules with a clause that needs no event: they are
	// candidates for every input, but only match on a state change.
	stateOnly bool
	// unless[t] is set when some rule's wait is cancelled by type t.
	unless [state.NumEventTypes]bool
	// scheduled are the scheduled rules; rescheduleOn[t] says whether an
	// event of type t can move one's due time.
	scheduled    []*Rule
	rescheduleOn [state.NumEventTypes]bool

	zones sync.Map // time-zone name → *time.Location

	// sendTime recommends when to send an emitted email trigger (the
	// send-time model); nil: triggers carry no send_at.
	sendTime func(c *state.Contact, at int64, seed string) int64
}

// NewEngine builds the engine of a rule set. topics names the trigger
// topics (DefaultTopics for the defaults); m may be nil (unregistered
// metrics, for tests).
func NewEngine(rs *RuleSet, topics Topics, m *Metrics) (*Engine, error) {
	if rs == nil || len(rs.Rules) == 0 {
		return nil, errors.New("trigger engine: no rules")
	}
	for _, t := range []string{topics.Email, topics.SMS, topics.Push, topics.Sales} {
		if t == "" {
			return nil, errors.New("trigger engine: every channel needs a topic name")
		}
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	e := &Engine{rules: rs, topics: topics, byID: make(map[string]*Rule, len(rs.Rules)), m: m}
	for _, r := range rs.Rules {
		e.byID[r.ID] = r
		e.rm = append(e.rm, m.forRule(r.ID))
		if r.Schedule != nil {
			e.scheduled = append(e.scheduled, r)
			switch r.Schedule.kind {
			case scheduleAnniversary, scheduleOverdue:
				for t := state.EventOrderPlaced; t <= state.EventOrderShipped; t++ {
					e.rescheduleOn[t] = true
				}
			case scheduleTraitDate:
				e.rescheduleOn[state.EventIdentify] = true
				e.rescheduleOn[state.EventSignup] = true
			}
			continue
		}
		if r.Wait != nil {
			for _, t := range r.Wait.Unless {
				e.unless[t] = true
			}
		}
		for t := range state.NumEventTypes {
			if ruleCandidate(r, t) {
				e.candidates[t] = append(e.candidates[t], r)
			}
		}
		if r.kinds&^hasEvent != 0 {
			e.stateOnly = true
		}
	}
	return e, nil
}

// ruleCandidate reports whether an input of event type t (0: none) could
// match one of r's clauses.
func ruleCandidate(r *Rule, t state.EventType) bool {
	for _, c := range r.On {
		if c.kinds&hasEvent == 0 || t != state.EventUnknown && c.Event == t {
			return true
		}
	}
	return false
}

// Rules returns the rule set.
func (e *Engine) Rules() *RuleSet { return e.rules }

// Snapshot is the part of a contact's state before an event that rule
// clauses compare with the state after it. The worker folds into the
// contact in place, so it takes this (a few words, no allocation) before
// the fold.
type Snapshot struct {
	Known   bool
	Stage   uint8
	Segment uint8
	Orders  int32
}

// Snap takes the Snapshot of c.
func Snap(c *state.Contact) Snapshot {
	return Snapshot{Known: known(c), Stage: c.Scores.Stage, Segment: c.Scores.Segment, Orders: c.Orders.Count}
}

// known: the contact has a contact id or an email address from an event
// (not merely a key: a profile created for an email key is not yet known
// before its first event is folded).
func known(c *state.Contact) bool { return c.ContactID != "" || c.EmailAddr != "" }

// Input is one evaluation: a contact after an event (or after a refresh of
// its scores), with the snapshot from before.
type Input struct {
	// Before is the snapshot taken before the fold and the score update;
	// nil disables the clauses that compare before and after.
	Before *Snapshot
	// After is the contact after the fold and score update.
	After *state.Contact
	// Event is the folded event; nil for a re-evaluation without event
	// (P(alive) or RFM segment refresh).
	Event *event.Event
	// Source is the record that caused this evaluation; trigger ids derive
	// from it.
	Source Source
	// Now is the partition's event-time clock (its watermark), Unix ms:
	// a late event's trigger is judged, for expiry and pressure, at Now,
	// not in the past. 0 means the event's time; an input without event
	// needs it (it is the refresh's instant).
	Now int64
	// PAliveBefore and PAliveAfter are the churn model's P(alive) before
	// and after, for p_alive_below clauses; NaN when not computed.
	PAliveBefore, PAliveAfter float64
	// State is the contact's trigger state, decoded from its record; the
	// evaluation updates it, and the caller stores it whenever actions
	// were returned.
	State *ContactState
}

// Op is what an Action asks the caller to write.
type Op uint8

// The operations.
const (
	// OpEmit: add Record to the outbox.
	OpEmit Op = iota + 1
	// OpArm: arm Timer (state.Batch.ArmTimer).
	OpArm
	// OpCancel: cancel Timer (state.Batch.CancelTimer with its Contact,
	// Name and Due).
	OpCancel
)

// Action is one write an evaluation asks for, in the batch that holds the
// state change it belongs to.
type Action struct {
	Op     Op
	Rule   string
	Timer  state.Timer
	Record state.OutboxRecord
	// TriggerID is set for OpEmit.
	TriggerID string
}

// Apply writes actions into the batch, in order.
func Apply(b *state.Batch, acts []Action) error {
	for i := range acts {
		a := &acts[i]
		var err error
		switch a.Op {
		case OpEmit:
			err = b.AddOutbox(a.Record)
		case OpArm:
			err = b.ArmTimer(&a.Timer)
		case OpCancel:
			err = b.CancelTimer(a.Timer.Contact, a.Timer.Name, a.Timer.Due)
		default:
			err = fmt.Errorf("unknown op %d", a.Op)
		}
		if err != nil {
			return fmt.Errorf("trigger %s: %w", a.Rule, err)
		}
	}
	return nil
}

// Wants reports whether Evaluate could do anything for this input (its
// State is not read): a rule has a clause on the event's type, an armed
// wait could be cancelled by it, a scheduled rule's date could move, or
// the state changed in a way a clause compares. When it is false, the
// caller need not decode the contact's trigger state nor call Evaluate.
func (e *Engine) Wants(in *Input) bool {
	if in.Event == nil {
		return len(e.candidates[0]) > 0 || len(e.scheduled) > 0
	}
	t := in.Event.Type
	if t >= state.NumEventTypes {
		return false
	}
	if e.unless[t] || e.rescheduleOn[t] {
		return true
	}
	for _, r := range e.candidates[t] {
		if r.kinds&hasEvent != 0 {
			return true
		}
	}
	if !e.stateOnly {
		return false
	}
	if in.Before != nil && *in.Before != Snap(in.After) {
		return true
	}
	x, y := in.PAliveBefore, in.PAliveAfter
	return !math.IsNaN(x) && !math.IsNaN(y) && x != y
}

// Evaluate runs the rules on one input and appends to acts what must be
// written in the same batch as the contact: triggers to emit, timers to
// arm and to cancel. It updates in.State; when it appended nothing,
// in.State is unchanged.
//
// In order: an event cancels the waits it completes (an unless event with
// event time in (cause, due)) and the deferred triggers of those rules;
// then every candidate rule is matched (one clause of on:, then when:,
// then once/cooldown); a match with a wait arms or keeps its timer, an
// immediate match goes to the contact policy (emit, defer into the
// channel's slot, or suppress); finally the scheduled rules' dates are
// recomputed and their timers moved if needed.
func (e *Engine) Evaluate(in *Input, acts []Action) []Action {
	c, cs := in.After, in.State
	var t state.EventType
	causeAt := in.Now
	if in.Event != nil {
		t, causeAt = in.Event.Type, in.Event.Time
		if t >= state.NumEventTypes {
			return acts
		}
	}
	if in.Event == nil && in.Now <= 0 {
		return acts // a refresh needs its instant: nothing to judge it at
	}
	at := max(causeAt, in.Now)

	if in.Event != nil && e.unless[t] && len(cs.Timers) > 0 {
		acts = e.cancelWaits(c, cs, in.Event, acts)
	}
	for _, r := range e.candidates[t] {
		acts = e.consider(r, in, causeAt, at, acts)
	}
	if in.Event == nil || e.rescheduleOn[t] {
		for _, r := range e.scheduled {
			acts = e.reschedule(r, c, cs, in.Source, at, acts)
		}
	}
	return acts
}

func (e *Engine) metrics(r *Rule) *ruleMetrics { return e.rm[r.index] }

func cancelAction(contact state.Key, a *Armed) Action {
	return Action{Op: OpCancel, Rule: a.Rule, Timer: state.Timer{Contact: contact, Name: a.Name, Due: a.Due}}
}

// cancelWaits cancels the armed waits (and deferred triggers) of rules
// whose wait an event of this type completes: one after the cause, and
// for a wait before its deadline.
func (e *Engine) cancelWaits(c *state.Contact, cs *ContactState, ev *event.Event, acts []Action) []Action {
	for i := 0; i < len(cs.Timers); {
		a := &cs.Timers[i]
		r := e.byID[a.Rule]
		if r == nil || r.Wait == nil || !slices.Contains(r.Wait.Unless, ev.Type) || ev.Time <= a.Cause {
			i++
			continue
		}
		// A wait is completed by an unless event inside its window; a
		// deferred trigger of such a rule by one any time after its cause
		// (the cart was ordered before the reminder could be sent).
		if a.Name == r.ID && ev.Time >= a.Due {
			i++
			continue
		}
		e.metrics(r).cancelled.Inc()
		acts = append(acts, cancelAction(c.Key, a))
		cs.removeTimer(i)
	}
	return acts
}

// pending is a trigger on its way to the policy.
type pending struct {
	id        string
	src       Source
	cause     int64 // event time of the cause
	base      int64 // expiry counts from here
	causeType state.EventType
	ref       string
	reason    string
}

func (e *Engine) consider(r *Rule, in *Input, causeAt, at int64, acts []Action) []Action {
	rm := e.metrics(r)
	rm.evaluated.Inc()
	var clause *Cause
	for i := range r.On {
		if e.clauseHolds(&r.On[i], in) {
			clause = &r.On[i]
			break
		}
	}
	if clause == nil {
		return acts
	}
	c, cs := in.After, in.State
	if !e.when(r, c, causeAt) {
		return acts
	}
	rm.matched.Inc()
	if e.coolingDown(r, cs, at) {
		rm.suppressed[ReasonCooldown].Inc()
		return acts
	}
	p := pending{src: in.Source, cause: causeAt, base: causeAt, reason: describe(r, clause, in)}
	if in.Event != nil {
		p.causeType, p.ref = in.Event.Type, eventRef(in.Event)
	}
	if r.Wait != nil {
		return e.arm(r, c, cs, &p, acts)
	}
	p.id = TriggerID(in.Source, r.ID, 0)
	return e.deliver(r, c, cs, &p, at, acts)
}

// arm starts (or restarts, or keeps) a rule's wait.
func (e *Engine) arm(r *Rule, c *state.Contact, cs *ContactState, p *pending, acts []Action) []Action {
	due := p.cause + r.Wait.For.Milliseconds()
	if i := cs.timer(r.ID); i >= 0 {
		if !r.Wait.Restart || cs.Timers[i].Due == due {
			return acts
		}
		acts = append(acts, cancelAction(c.Key, &cs.Timers[i]))
		cs.removeTimer(i)
	}
	// A late cause whose window already holds an unless event (the order
	// arrived before the late add_to_cart) arms nothing.
	if e.unlessSeen(r, c, p.cause, due-1) {
		e.metrics(r).cancelled.Inc()
		return acts
	}
	d := timerData{kind: timerWait, rule: r.ID, src: p.src, cause: p.cause, base: due,
		causeType: p.causeType, ref: p.ref, reason: p.reason}
	cs.setTimer(Armed{Name: r.ID, Rule: r.ID, Due: due, Cause: p.cause, Priority: int32(r.Priority)})
	return append(acts, Action{Op: OpArm, Rule: r.ID,
		Timer: state.Timer{Contact: c.Key, Name: r.ID, Due: due, Data: d.appendBinary(nil)}})
}

// deferSlot is the timer name of a channel's deferral slot: a contact has
// at most one deferred marketing trigger per channel.
func deferSlot(ch Channel) string { return "~deferred." + ch.String() }

// deliver applies the contact policy at instant at: emit, defer into the
// channel's slot, or suppress.
//
// Priorities: each channel has one deferral slot per contact. A deferred
// trigger takes the slot if it is free or holds a trigger of strictly
// lower priority, which is then cancelled and counted as displaced;
// otherwise the newcomer is displaced (at equal priority the earlier one
// keeps the slot). A trigger the policy allows now is emitted whatever
// waits in the slot: displacement concerns only what has not been sent.
func (e *Engine) deliver(r *Rule, c *state.Contact, cs *ContactState, p *pending, at int64, acts []Action) []Action {
	rm := e.metrics(r)
	expires := p.base + r.Expires.Milliseconds()
	if at > expires {
		rm.suppressed[ReasonExpired].Inc()
		return acts
	}
	d := e.rules.Policy.Check(r, c, cs, at, e.zone(c))
	switch d.Verdict {
	case Block:
		rm.suppressed[d.Reason].Inc()
		return acts
	case DeferUntil:
		if d.Until > expires {
			rm.suppressed[ReasonExpired].Inc()
			return acts
		}
		slot := deferSlot(r.Channel)
		if i := cs.timer(slot); i >= 0 {
			cur := &cs.Timers[i]
			if int32(r.Priority) <= cur.Priority {
				rm.suppressed[ReasonDisplaced].Inc()
				return acts
			}
			if cr := e.byID[cur.Rule]; cr != nil {
				e.metrics(cr).suppressed[ReasonDisplaced].Inc()
			} else {
				e.m.suppressed.WithLabelValues(cur.Rule, string(ReasonDisplaced)).Inc()
			}
			acts = append(acts, cancelAction(c.Key, cur))
			cs.removeTimer(i)
		}
		rm.deferred.Inc()
		td := timerData{kind: timerDeferred, rule: r.ID, src: p.src, cause: p.cause, base: p.base, id: p.id,
			causeType: p.causeType, ref: p.ref, reason: p.reason}
		cs.setTimer(Armed{Name: slot, Rule: r.ID, Due: d.Until, Cause: p.cause, Priority: int32(r.Priority)})
		return append(acts, Action{Op: OpArm, Rule: r.ID,
			Timer: state.Timer{Contact: c.Key, Name: slot, Due: d.Until, Data: td.appendBinary(nil)}})
	}
	pl := Payload{
		TriggerID: p.id, Rule: r, Contact: c, Reason: p.reason,
		CauseType: p.causeType, CauseRef: p.ref, CausedAt: p.cause,
		EmittedAt: at, ExpiresAt: expires,
	}
	if e.sendTime != nil && r.Channel == ChannelEmail {
		pl.SendAt = e.sendTime(c, at, p.id)
	}
	value := AppendPayload(make([]byte, 0, 512), &pl)
	cs.fired(r.ID, at, func(id string) bool { return e.byID[id] != nil })
	if sc, ok := r.Channel.contact(); ok && r.Kind == Marketing {
		cs.sent(int(sc), at)
	}
	rm.emitted.Inc()
	rm.delay.Observe(float64(at-p.cause) / 1000)
	return append(acts, Action{Op: OpEmit, Rule: r.ID, TriggerID: p.id, Record: state.OutboxRecord{
		Topic: e.topics.of(r.Channel),
		Key:   []byte(c.Key.Value()),
		Value: value,
		Headers: []state.Header{
			{Key: HeaderTriggerID, Value: []byte(p.id)},
			{Key: HeaderRule, Value: []byte(r.ID)},
			{Key: HeaderJourney, Value: []byte(r.Journey.String())},
		},
	}})
}

func (e *Engine) coolingDown(r *Rule, cs *ContactState, at int64) bool {
	if !r.Once && r.Cooldown == 0 {
		return false
	}
	last, ok := cs.lastFired(r.ID)
	return ok && (r.Once || at < last+r.Cooldown.Milliseconds())
}

// Fire handles one due timer read with state.Partition.DueTimers, at the
// partition's event-time clock now (the watermark, or the wall clock of an
// idle partition). c and cs are the contact's current state. The timer is
// consumed (an OpCancel is always appended first); then its rule is
// re-checked against the current state (conditions, unless events up to
// the deadline, cooldown) and the trigger goes to the contact policy, or a
// scheduled rule arms its next occurrence. A timer the contact's state
// does not list (cancelled or replaced in a batch not yet committed) is
// only deleted. The caller stores cs, which is changed whenever the timer
// was the one cs lists. An error means the timer's data is corrupt: the
// returned actions still delete it, and the partition can go on.
func (e *Engine) Fire(t *state.Timer, c *state.Contact, cs *ContactState, now int64, acts []Action) ([]Action, error) {
	acts = append(acts, Action{Op: OpCancel, Timer: state.Timer{Contact: t.Contact, Name: t.Name, Due: t.Due}})
	i := cs.timer(t.Name)
	if i < 0 || cs.Timers[i].Due != t.Due {
		return acts, nil
	}
	acts[len(acts)-1].Rule = cs.Timers[i].Rule
	cs.removeTimer(i)
	var d timerData
	if err := d.unmarshal(t.Data); err != nil {
		return acts, fmt.Errorf("timer %s/%s: %w", t.Contact, t.Name, err)
	}
	r := e.byID[d.rule]
	if r == nil {
		e.m.suppressed.WithLabelValues(d.rule, string(ReasonRuleRemoved)).Inc()
		return acts, nil
	}
	rm := e.metrics(r)
	rm.evaluated.Inc()
	at := max(now, t.Due)
	p := pending{id: d.id, src: d.src, cause: d.cause, base: d.base, causeType: d.causeType, ref: d.ref, reason: d.reason}
	switch d.kind {
	case timerWait, timerDeferred:
		// A wait is judged as of its deadline (the partition's clock may
		// be past it), against unless events before it; a deferred
		// trigger as of when it became due, against unless events up to
		// the moment it would go out.
		asOf, horizon := t.Due, t.Due
		if d.kind == timerDeferred {
			asOf, horizon = d.base, at
		}
		if !e.when(r, c, asOf) || r.Wait != nil && e.unlessSeen(r, c, d.cause, horizon) {
			rm.cancelled.Inc()
			return acts, nil
		}
		if d.kind == timerWait {
			rm.matched.Inc()
			p.id = TriggerID(d.src, r.ID, 0)
			p.base = t.Due
		}
		if e.coolingDown(r, cs, at) {
			rm.suppressed[ReasonCooldown].Inc()
			return acts, nil
		}
		return e.deliver(r, c, cs, &p, at, acts), nil
	}
	// A scheduled occurrence: it is handled (whatever the policy says)
	// once its due time is recorded, so it is not armed again.
	due, ok := e.scheduleDue(r, c, cs)
	if !ok || due != t.Due {
		rm.cancelled.Inc()
		return e.reschedule(r, c, cs, d.src, at, acts), nil
	}
	cs.fired(r.ID, t.Due, func(id string) bool { return e.byID[id] != nil })
	if !e.when(r, c, at) {
		rm.cancelled.Inc()
	} else {
		rm.matched.Inc()
		p.id = TriggerID(d.src, r.ID, t.Due)
		p.cause, p.base = t.Due, t.Due
		p.reason = e.scheduleReason(r, c, t.Due)
		acts = e.deliver(r, c, cs, &p, at, acts)
	}
	return e.reschedule(r, c, cs, d.src, at, acts), nil
}

// reschedule keeps a scheduled rule's timer at the due time the contact's
// state gives now: arming, moving or cancelling it.
func (e *Engine) reschedule(r *Rule, c *state.Contact, cs *ContactState, src Source, at int64, acts []Action) []Action {
	due, ok := e.scheduleDue(r, c, cs)
	i := cs.timer(r.ID)
	if i >= 0 {
		if ok && cs.Timers[i].Due == due {
			return acts
		}
		acts = append(acts, cancelAction(c.Key, &cs.Timers[i]))
		cs.removeTimer(i)
	}
	if !ok {
		return acts
	}
	d := timerData{kind: timerSchedule, rule: r.ID, src: src, cause: at, base: due}
	cs.setTimer(Armed{Name: r.ID, Rule: r.ID, Due: due, Cause: at, Priority: int32(r.Priority)})
	return append(acts, Action{Op: OpArm, Rule: r.ID,
		Timer: state.Timer{Contact: c.Key, Name: r.ID, Due: due, Data: d.appendBinary(nil)}})
}

const dayMS = 24 * 60 * 60 * 1000

// scheduleDue computes a scheduled rule's next occurrence from the
// contact's state: after the last handled one (recorded in cs.Fired), so
// that an occurrence is handled once. false: none.
func (e *Engine) scheduleDue(r *Rule, c *state.Contact, cs *ContactState) (int64, bool) {
	handled, hasHandled := cs.lastFired(r.ID)
	after := func(due int64) bool { return !hasHandled || due > handled }
	s := r.Schedule
	switch s.kind {
	case scheduleAnniversary:
		if c.Orders.First == 0 || c.Orders.Count <= 0 {
			return 0, false
		}
		first := time.UnixMilli(c.Orders.First).In(e.zone(c))
		k := 1
		if hasHandled {
			k = max(1, time.UnixMilli(handled).In(e.zone(c)).Year()-first.Year())
		}
		for ; k < 1000; k++ {
			due := first.AddDate(k, 0, 0).UnixMilli()
			if after(due) {
				return due, true
			}
		}
		return 0, false
	case scheduleTraitDate:
		v, ok := c.Trait(s.Trait)
		if !ok {
			return 0, false
		}
		d, ok := parseDate(v, e.zone(c))
		if !ok {
			return 0, false
		}
		due := d + s.Offset.Milliseconds()
		return due, after(due)
	case scheduleOverdue:
		n := len(c.Purchases)
		if n < s.MinOrders || c.Orders.Last == 0 {
			return 0, false
		}
		gap := float64(c.Purchases[n-1].Day-c.Purchases[0].Day) / float64(n-1)
		due := c.Orders.Last + int64(math.Round(s.Factor*gap*dayMS))
		return due, after(due)
	}
	return 0, false
}

func (e *Engine) scheduleReason(r *Rule, c *state.Contact, due int64) string {
	s := r.Schedule
	switch s.kind {
	case scheduleAnniversary:
		loc := e.zone(c)
		years := time.UnixMilli(due).In(loc).Year() - time.UnixMilli(c.Orders.First).In(loc).Year()
		if years == 1 {
			return "1 year since the first order"
		}
		return strconv.Itoa(years) + " years since the first order"
	case scheduleTraitDate:
		v, _ := c.Trait(s.Trait)
		return s.Trait + " " + v + " (" + formatOffset(s.Offset) + ")"
	}
	n := len(c.Purchases)
	gap := float64(c.Purchases[n-1].Day-c.Purchases[0].Day) / float64(n-1)
	return "no order within " + strconv.FormatFloat(s.Factor, 'f', -1, 64) + " × the typical gap of " +
		strconv.FormatFloat(gap, 'f', 1, 64) + " days since the last order"
}

func formatOffset(d time.Duration) string {
	if d == 0 {
		return "on the date"
	}
	days := d.Hours() / 24
	if d < 0 {
		return strconv.FormatFloat(-days, 'f', -1, 64) + " days before"
	}
	return strconv.FormatFloat(days, 'f', -1, 64) + " days after"
}

// parseDate reads a date trait: 2027-03-01 (midnight in loc) or RFC 3339.
func parseDate(v string, loc *time.Location) (int64, bool) {
	if t, err := time.ParseInLocation("2006-01-02", v, loc); err == nil {
		return t.UnixMilli(), true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UnixMilli(), true
	}
	return 0, false
}

func (e *Engine) clauseHolds(cl *Cause, in *Input) bool {
	k := cl.kinds
	if k&hasEvent != 0 {
		if in.Event == nil || in.Event.Type != cl.Event || !whereHolds(cl.Where, in.Event) {
			return false
		}
	}
	if k&^hasEvent == 0 {
		return true
	}
	b, a := in.Before, in.After
	if k&hasPAlive != 0 {
		x, y := in.PAliveBefore, in.PAliveAfter
		if math.IsNaN(x) || math.IsNaN(y) || !(x >= cl.PAliveBelow && y < cl.PAliveBelow) {
			return false
		}
	}
	if k&(hasBecameKnown|hasStage|hasSegment|hasOrderCount) == 0 {
		return true
	}
	if b == nil {
		return false
	}
	if k&hasBecameKnown != 0 && (b.Known || !known(a)) {
		return false
	}
	if k&hasStage != 0 && (lead.Stage(b.Stage) == cl.Stage || lead.Stage(a.Scores.Stage) != cl.Stage) {
		return false
	}
	if k&hasSegment != 0 {
		to := rfm.Segment(a.Scores.Segment)
		if !rfm.Worse(rfm.Segment(b.Segment), to) || len(cl.SegmentTo) > 0 && !slices.Contains(cl.SegmentTo, to) {
			return false
		}
	}
	if k&hasOrderCount != 0 && !(b.Orders < cl.OrderCount && a.Orders.Count >= cl.OrderCount) {
		return false
	}
	return true
}

func whereHolds(conds []PropCond, ev *event.Event) bool {
	for i := range conds {
		pc := &conds[i]
		if !propHolds(pc, ev) {
			return false
		}
	}
	return true
}

func propHolds(pc *PropCond, ev *event.Event) bool {
	if ev.Type == state.EventOrderPlaced && (pc.Prop == "category" || pc.Prop == "sku") {
		for _, it := range ev.Items {
			v := it.Category
			if pc.Prop == "sku" {
				v = it.SKU
			}
			if testValue(pc, v) {
				return true
			}
		}
		return false
	}
	return testValue(pc, propOf(ev, pc.Prop))
}

func propOf(ev *event.Event, name string) string {
	switch name {
	case "form":
		return ev.Form
	case "content":
		return ev.Content
	case "list":
		return ev.List
	case "campaign":
		return ev.Campaign
	case "category":
		return ev.Category
	case "sku":
		return ev.SKU
	case "url":
		return ev.URL
	case "query":
		return ev.Query
	case "order_id":
		return ev.OrderID
	}
	return ""
}

func testValue(pc *PropCond, v string) bool {
	if pc.Op == OpPresent {
		return v != ""
	}
	if v == "" {
		return false
	}
	switch pc.Op {
	case OpEquals, OpIn:
		for _, x := range pc.Values {
			if strings.EqualFold(v, x) {
				return true
			}
		}
	case OpPrefix:
		return len(v) >= len(pc.Values[0]) && strings.EqualFold(v[:len(pc.Values[0])], pc.Values[0])
	case OpContains:
		return strings.Contains(lowerASCII(v), pc.Values[0])
	}
	return false
}

// when checks a rule's conditions on the contact at instant at.
func (e *Engine) when(r *Rule, c *state.Contact, at int64) bool {
	w := &r.When
	if !w.CartItems.holds(int64(len(c.Cart.Items))) || !w.Orders.holds(int64(c.Orders.Count)) {
		return false
	}
	if len(w.Stages) > 0 && !slices.Contains(w.Stages, lead.Stage(c.Scores.Stage)) {
		return false
	}
	if w.Known != nil && known(c) != *w.Known {
		return false
	}
	if v := w.ProductViews; v != nil {
		from := at - v.Within.Milliseconds()
		n := 0
		for i := range c.Recent {
			if ev := &c.Recent[i]; ev.Type == state.EventProductView && ev.At > from && ev.At <= at {
				n++
			}
		}
		if n < v.Min {
			return false
		}
	}
	return true
}

// unlessSeen reports whether the contact's state shows an event of one of
// the rule's unless types with event time in (from, to]: the order that
// arrived a second before the deadline wins. Orders, opens and clicks are
// read from their own fields (orders list, last open and click); other
// types from the recent-events ring, which holds the last
// state.RecentEventsCap events.
func (e *Engine) unlessSeen(r *Rule, c *state.Contact, from, to int64) bool {
	// After the cause, strictly: the cause may itself be of an unless type
	// (an order restarts the cross-sell wait).
	in := func(t int64) bool { return t > from && t <= to }
	for _, t := range r.Wait.Unless {
		switch t {
		case state.EventOrderPlaced:
			for i := range c.Orders.Recent {
				if o := &c.Orders.Recent[i]; o.Flags&state.OrderPlaced != 0 && in(o.At) {
					return true
				}
			}
		case state.EventEmailOpened:
			if in(c.Engagement.LastOpen) {
				return true
			}
		case state.EventEmailClicked:
			if in(c.Engagement.LastClick) {
				return true
			}
		}
		for i := range c.Recent {
			if c.Recent[i].Type == t && in(c.Recent[i].At) {
				return true
			}
		}
	}
	return false
}

// zone returns the contact's time zone, or the policy's default.
func (e *Engine) zone(c *state.Contact) *time.Location {
	def := e.rules.Policy.TimeZone
	if def == nil {
		def = time.UTC
	}
	if c.TimeZone == "" {
		return def
	}
	if l, ok := e.zones.Load(c.TimeZone); ok {
		return l.(*time.Location)
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		loc = def
	}
	e.zones.Store(c.TimeZone, loc)
	return loc
}

// Pressure answers `GET /v1/contacts/{id}/pressure` at event time at: per
// contact channel, when the next marketing message may be sent.
func (e *Engine) Pressure(c *state.Contact, cs *ContactState, at int64) [3]ChannelPressure {
	return e.rules.Policy.Pressure(c, cs, at, e.zone(c))
}

func eventRef(ev *event.Event) string {
	switch ev.Type {
	case state.EventProductView, state.EventAddToCart, state.EventRemoveFromCart:
		return ev.SKU
	case state.EventOrderPlaced, state.EventOrderCancelled, state.EventOrderRefunded, state.EventOrderShipped:
		return ev.OrderID
	case state.EventFormSubmit:
		if ev.Content != "" {
			return ev.Content
		}
		return ev.Form
	case state.EventSignup:
		return ev.List
	case state.EventEmailSent, state.EventEmailDelivered, state.EventEmailOpened, state.EventEmailClicked:
		return ev.Campaign
	case state.EventPageView:
		return ev.URL
	case state.EventSearch:
		return ev.Query
	}
	return ""
}

// describe is the payload's reason: why the rule matched, for people.
func describe(r *Rule, cl *Cause, in *Input) string {
	var b strings.Builder
	k := cl.kinds
	sep := func() {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
	}
	if k&hasEvent != 0 {
		b.WriteString(cl.Event.String())
		if ref := eventRef(in.Event); ref != "" {
			b.WriteString(" " + ref)
		}
	}
	if k&hasBecameKnown != 0 {
		sep()
		b.WriteString("became a known contact")
	}
	if k&hasStage != 0 {
		sep()
		b.WriteString("lifecycle stage " + lead.Stage(in.Before.Stage).String() + " → " + cl.Stage.String())
	}
	if k&hasSegment != 0 {
		sep()
		b.WriteString("RFM segment " + rfm.Segment(in.Before.Segment).String() + " → " + rfm.Segment(in.After.Scores.Segment).String())
	}
	if k&hasOrderCount != 0 {
		sep()
		b.WriteString("order number " + strconv.Itoa(int(cl.OrderCount)))
	}
	if k&hasPAlive != 0 {
		sep()
		b.WriteString("P(alive) " + strconv.FormatFloat(in.PAliveAfter, 'f', 2, 64) + " fell below " +
			strconv.FormatFloat(cl.PAliveBelow, 'f', 2, 64))
	}
	if w := r.Wait; w != nil {
		if len(w.Unless) == 0 {
			b.WriteString(", " + fmtDuration(w.For) + " later")
		} else {
			b.WriteString(", then no ")
			for i, t := range w.Unless {
				if i > 0 {
					b.WriteString(" or ")
				}
				b.WriteString(t.String())
			}
			b.WriteString(" within " + fmtDuration(w.For))
		}
	}
	return b.String()
}

func fmtDuration(d time.Duration) string {
	switch {
	case d%(7*24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(7*24*time.Hour)), 10) + "w"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// SetSendTime makes emitted email triggers carry send_at, the moment f
// recommends (the send-time model: the contact's best hour in the day
// after at; seed makes its exploration deterministic per trigger). Call it
// before the engine is used.
func (e *Engine) SetSendTime(f func(c *state.Contact, at int64, seed string) int64) { e.sendTime = f }
