package trigger

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kairos-engine/kairos/state"
)

func utc(s string) int64 { return ms(s) }

func TestPressureNextAllowed(t *testing.T) {
	p := DefaultPolicy()
	p.QuietStart, p.QuietEnd = 0, 0 // pressure alone
	at := "2026-03-10T10:00:00Z"
	cases := []struct {
		name  string
		sends []string
		want  string
	}{
		{"no sends", nil, at},
		{"one an hour ago: a day after it", []string{"2026-03-10T09:00:00Z"}, "2026-03-11T09:00:00Z"},
		{"one 25 hours ago", []string{"2026-03-09T09:00:00Z"}, at},
		{"three in seven days: when the oldest leaves", []string{"2026-03-04T12:00:00Z", "2026-03-06T10:00:00Z", "2026-03-08T10:00:00Z"}, "2026-03-11T12:00:00Z"},
		{"both caps: the later release", []string{"2026-03-04T12:00:00Z", "2026-03-06T10:00:00Z", "2026-03-10T09:30:00Z"}, "2026-03-11T12:00:00Z"},
		{"four in seven days", []string{"2026-03-03T11:00:00Z", "2026-03-04T12:00:00Z", "2026-03-06T10:00:00Z", "2026-03-08T10:00:00Z"}, "2026-03-11T12:00:00Z"},
		{"a later emission counts (late trigger)", []string{"2026-03-10T18:00:00Z"}, "2026-03-11T18:00:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := &ContactState{}
			for _, s := range tc.sends {
				cs.sent(int(state.ChannelEmail), utc(s))
			}
			got, reason := p.nextAllowed(state.ChannelEmail, cs, utc(at), time.UTC)
			if got != utc(tc.want) {
				t.Fatalf("next allowed %s, want %s", time.UnixMilli(got).UTC().Format(time.RFC3339), tc.want)
			}
			if (got > utc(at)) != (reason == ReasonPressure) {
				t.Fatalf("reason %q", reason)
			}
		})
	}
}

func TestQuietHoursAcrossZones(t *testing.T) {
	p := DefaultPolicy()
	loc := func(name string) *time.Location {
		l, err := time.LoadLocation(name)
		if err != nil {
			t.Skipf("time zone data missing: %v", err)
		}
		return l
	}
	cases := []struct {
		name, zone, at, want string
	}{
		{"UTC day", "UTC", "2026-03-10T10:00:00Z", "2026-03-10T10:00:00Z"},
		{"UTC 21:00 starts quiet", "UTC", "2026-03-10T21:00:00Z", "2026-03-11T08:00:00Z"},
		{"UTC 07:59", "UTC", "2026-03-10T07:59:00Z", "2026-03-10T08:00:00Z"},
		{"UTC 08:00 is allowed", "UTC", "2026-03-10T08:00:00Z", "2026-03-10T08:00:00Z"},
		{"New York 22:30 EDT", "America/New_York", "2026-03-10T02:30:00Z", "2026-03-10T12:00:00Z"},
		{"New York afternoon is 20:00 UTC, fine there", "America/New_York", "2026-03-10T20:00:00Z", "2026-03-10T20:00:00Z"},
		{"Tokyo 22:00", "Asia/Tokyo", "2026-03-10T13:00:00Z", "2026-03-10T23:00:00Z"},
		{"Tokyo 10:00 is 01:00 UTC", "Asia/Tokyo", "2026-03-10T01:00:00Z", "2026-03-10T01:00:00Z"},
		{"Paris night into summer time: 08:00 CEST", "Europe/Paris", "2026-03-28T21:30:00Z", "2026-03-29T06:00:00Z"},
		{"Paris night into winter time: 08:00 CET", "Europe/Paris", "2026-10-24T20:30:00Z", "2026-10-25T07:00:00Z"},
		{"Kolkata half-hour offset", "Asia/Kolkata", "2026-03-10T16:00:00Z", "2026-03-11T02:30:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := p.quietEnd(utc(tc.at), loc(tc.zone))
			if got != utc(tc.want) {
				t.Fatalf("quiet end %s, want %s", time.UnixMilli(got).UTC().Format(time.RFC3339), tc.want)
			}
		})
	}
	t.Run("daytime quiet hours do not wrap", func(t *testing.T) {
		q := Policy{QuietStart: 12 * 60, QuietEnd: 14 * 60}
		if got := q.quietEnd(utc("2026-03-10T13:00:00Z"), time.UTC); got != utc("2026-03-10T14:00:00Z") {
			t.Fatalf("got %d", got)
		}
		if got := q.quietEnd(utc("2026-03-10T15:00:00Z"), time.UTC); got != utc("2026-03-10T15:00:00Z") {
			t.Fatalf("got %d", got)
		}
	})
}

// policyRules: three marketing rules of different priorities on different
// events, one of which drops when blocked, plus an SMS rule and a
// list-bound one.
const policyRules = `version: "1"
rules:
  - {id: low, journey: lead_nurture, channel: email, kind: marketing, priority: 10, on: {event: search}, expires: 3d}
  - {id: low-twin, journey: lead_nurture, channel: email, kind: marketing, priority: 10, on: {event: remove_from_cart}, expires: 3d}
  - {id: high, journey: abandoned_cart, channel: email, kind: marketing, priority: 50, on: {event: form_submit}, expires: 3d}
  - {id: dropper, journey: browse_abandonment, channel: email, kind: marketing, priority: 90, on: {event: page_view}, on_block: drop}
  - {id: short, journey: welcome, channel: email, kind: marketing, on: {event: product_view}, expires: 1h}
  - {id: texter, journey: loyalty, channel: sms, kind: marketing, on: {event: add_to_cart}}
  - {id: listed, journey: welcome, channel: email, kind: marketing, list: vip, on: {event: delivered}}
`

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func suppressed(h *harness, rule string, r Reason) float64 {
	return counterValue(h.eng.m.suppressed.WithLabelValues(rule, string(r)))
}

func TestPriorityDisplacement(t *testing.T) {
	h := newHarness(t, policyRules)
	send := func(id, typ, at, props string) { h.send(ev(id, typ, c42, at, props)) }
	send("e1", "search", "2026-03-10T10:00:00Z", `{"query":"shoes"}`)
	h.expect("low", "pressure is free")
	send("e2", "search", "2026-03-10T11:00:00Z", `{"query":"boots"}`)
	h.expect("", "1 per day: deferred")
	if tm := h.timers("c:42"); tm != "~deferred.email@2026-03-11T10:00:00Z" {
		t.Fatalf("slot %q", tm)
	}
	send("e3", "remove_from_cart", "2026-03-10T11:30:00Z", `{"sku":"x"}`)
	if got := suppressed(h, "low-twin", ReasonDisplaced); got != 1 {
		t.Fatalf("equal priority: the earlier keeps the slot; low-twin displaced %v", got)
	}
	send("e4", "form_submit", "2026-03-10T12:00:00Z", `{"form":"f"}`)
	if got := suppressed(h, "low", ReasonDisplaced); got != 1 {
		t.Fatalf("higher priority displaces the deferred low: %v", got)
	}
	send("e5", "search", "2026-03-10T13:00:00Z", `{"query":"hats"}`)
	if got := suppressed(h, "low", ReasonDisplaced); got != 2 {
		t.Fatalf("a lower newcomer is displaced: %v", got)
	}
	send("e6", "page_view", "2026-03-10T14:00:00Z", `{"url":"/x"}`)
	if got := suppressed(h, "dropper", ReasonPressure); got != 1 {
		t.Fatalf("on_block drop records pressure: %v", got)
	}
	h.expect("", "nothing else went out")
	h.idle("2026-03-11T10:00:00Z")
	got := h.expect("high", "the slot's holder goes out when pressure allows")
	if got[0].Cause.At != "2026-03-10T12:00:00.000Z" || got[0].EmittedAt != "2026-03-11T10:00:00.000Z" {
		t.Fatalf("deferred payload %+v", got[0])
	}
	if d := counterValue(h.eng.m.deferred.WithLabelValues("high")); d != 1 {
		t.Fatalf("deferred{high} = %v", d)
	}
	// Two sends in a week, a third today would break 1/day: defer.
	send("e7", "form_submit", "2026-03-12T10:00:00Z", `{"form":"f"}`)
	h.expect("high", "a day later")
	send("e8", "form_submit", "2026-03-13T10:00:00Z", `{"form":"f"}`)
	h.expect("", "third in a week: e1 at 10:00 on the 10th leaves the 7-day window on the 17th")
	// The next allowed moment (the 17th) is past the expiry (the 16th):
	// the deferral is refused up front rather than kept to die later.
	if tm := h.timers("c:42"); tm != "" {
		t.Fatalf("slot %q", tm)
	}
	if got := suppressed(h, "high", ReasonExpired); got != 1 {
		t.Fatalf("expired %v", got)
	}
}

func TestDeferVersusDrop(t *testing.T) {
	h := newHarness(t, policyRules)
	h.send(ev("q1", "page_view", c42, "2026-03-10T22:00:00Z", `{"url":"/"}`))
	h.expect("", "quiet hours, drop")
	if got := suppressed(h, "dropper", ReasonQuietHours); got != 1 {
		t.Fatalf("dropped at night: %v", got)
	}
	h.send(ev("q2", "product_view", c42, "2026-03-10T22:05:00Z", `{"sku":"A"}`))
	h.expect("", "quiet hours, defer, but 08:00 is past the 1h expiry")
	if got := suppressed(h, "short", ReasonExpired); got != 1 {
		t.Fatalf("expired: %v", got)
	}
	h.send(ev("q3", "search", c42, "2026-03-10T22:10:00Z", `{"query":"x"}`))
	h.idle("2026-03-11T07:59:59Z")
	h.expect("", "still night")
	h.idle("2026-03-11T08:00:00Z")
	h.expect("low", "deferred to 08:00")
}

func TestQuietHoursInContactZone(t *testing.T) {
	h := newHarness(t, policyRules)
	// 02:30 UTC is 22:30 in New York (EDT): deferred to 08:00 EDT, 12:00 UTC.
	h.send(`{"id":"z1","type":"search","contact_id":"42","email":"ann@example.com","timestamp":"2026-03-10T02:30:00Z","properties":{"query":"x"},"context":{"timezone":"America/New_York"}}`)
	h.expect("", "night in New York")
	if tm := h.timers("c:42"); tm != "~deferred.email@2026-03-10T12:00:00Z" {
		t.Fatalf("slot %q", tm)
	}
	h.idle("2026-03-10T12:00:00Z")
	h.expect("low", "08:00 in New York")
}

func TestConsent(t *testing.T) {
	h := newHarness(t, policyRules)
	h.send(ev("x1", "add_to_cart", `"contact_id":"42","email":"ann@example.com"`, "2026-03-10T10:00:00Z", `{"sku":"A"}`))
	h.expect("", "sms: no phone")
	if got := suppressed(h, "texter", ReasonNoAddress); got != 1 {
		t.Fatalf("no_address %v", got)
	}
	h.send(ev("x2", "identify", c42, "2026-03-10T10:01:00Z", `{"traits":{"phone":"+33612345678"}}`))
	h.send(ev("x3", "add_to_cart", c42, "2026-03-10T10:02:00Z", `{"sku":"B"}`))
	if got := suppressed(h, "texter", ReasonNoConsent); got != 1 {
		t.Fatalf("sms needs an opt-in: %v", got)
	}
	h.send(ev("x4", "delivered", `"email":"ann@example.com"`, "2026-03-10T10:03:00Z", `{}`))
	if got := suppressed(h, "listed", ReasonList); got != 1 {
		t.Fatalf("not on the vip list: %v", got)
	}
	h.send(ev("x5", "signup", `"email":"ann@example.com"`, "2026-03-10T10:04:00Z", `{"list":"vip"}`))
	h.send(ev("x6", "delivered", `"email":"ann@example.com"`, "2026-03-10T10:05:00Z", `{}`))
	h.expect("listed", "on the vip list")
	h.send(ev("x7", "complained", `"email":"ann@example.com"`, "2026-03-12T10:06:00Z", `{}`))
	h.send(ev("x8", "delivered", `"email":"ann@example.com"`, "2026-03-14T10:07:00Z", `{}`))
	if got := suppressed(h, "listed", ReasonComplained); got != 1 {
		t.Fatalf("complained: %v", got)
	}
	h.expect("", "after a complaint")
}

func TestEnginePressureAPI(t *testing.T) {
	h := newHarness(t, policyRules)
	h.send(ev("e1", "search", c42, "2026-03-10T10:00:00Z", `{"query":"x"}`))
	h.take()
	c, cs := h.contact("c:42")
	ps := h.eng.Pressure(c, cs, utc("2026-03-10T12:00:00Z"))
	if e := ps[state.ChannelEmail]; e.NextAllowed != utc("2026-03-11T10:00:00Z") || e.Reason != ReasonPressure || e.Sent[0] != 1 || e.Sent[1] != 1 {
		t.Fatalf("email %+v", e)
	}
	if s := ps[state.ChannelSMS]; s.NextAllowed != 0 || s.Reason != ReasonNoAddress {
		t.Fatalf("sms %+v", s)
	}
	ps = h.eng.Pressure(c, cs, utc("2026-03-11T22:00:00Z"))
	if e := ps[state.ChannelEmail]; e.NextAllowed != utc("2026-03-12T08:00:00Z") || e.Reason != ReasonQuietHours {
		t.Fatalf("email at night %+v", e)
	}
}

func TestRuleErrors(t *testing.T) {
	base := "version: \"1\"\nrules:\n"
	cases := []struct {
		name, yaml, want string
	}{
		{"empty", "", "test.yaml: the file is empty"},
		{"syntax", "version: [", "test.yaml:1: YAML"},
		{"unknown top field", "version: \"1\"\nrulez: []\n", "test.yaml:2: rulez: unknown field"},
		{"no rules", "version: \"1\"\nrules: []\n", "test.yaml:2: rules: must be a non-empty list"},
		{"bad id", base + "  - {id: Bad, journey: welcome, channel: email, kind: marketing, on: {event: signup}}\n", "test.yaml:3: rules[0].id: \"Bad\""},
		{"duplicate id", base + "  - {id: a, journey: welcome, channel: email, kind: marketing, on: {event: signup}}\n  - {id: a, journey: welcome, channel: email, kind: marketing, on: {event: signup}}\n", "test.yaml:4: rules[1].id: \"a\" is already the id of the rule at line 3"},
		{"unknown journey", base + "  - id: a\n    journey: welcom\n    channel: email\n", "test.yaml:4: rules[a].journey: unknown journey \"welcom\""},
		{"unknown channel", base + "  - {id: a, journey: welcome, channel: fax, kind: marketing, on: {event: signup}}\n", "rules[a].channel: unknown channel \"fax\""},
		{"missing kind", base + "  - {id: a, journey: welcome, channel: email, on: {event: signup}}\n", "rules[a].kind: required"},
		{"unknown event", base + "  - id: a\n    journey: welcome\n    channel: email\n    kind: marketing\n    on: {event: signin}\n", "test.yaml:7: rules[a].on[0].event: unknown event type \"signin\""},
		{"bad duration", base + "  - id: a\n    journey: welcome\n    channel: email\n    kind: marketing\n    on: {event: signup}\n    wait: {for: 3 days}\n", "test.yaml:8: rules[a].wait.for: \"3 days\" is not a positive duration"},
		{"unless unknown", base + "  - {id: a, journey: welcome, channel: email, kind: marketing, on: {event: signup}, wait: {for: 1h, unless: [ordered]}}\n", "rules[a].wait.unless: unknown event type \"ordered\""},
		{"no on", base + "  - {id: a, journey: welcome, channel: email, kind: marketing}\n", "rules[a].on: required"},
		{"on and schedule", base + "  - {id: a, journey: loyalty, channel: email, kind: marketing, on: {event: signup}, schedule: {anniversary: first_order}}\n", "rules[a].schedule: a rule has either on: or schedule:"},
		{"where without event", base + "  - {id: a, journey: welcome, channel: email, kind: marketing, on: {became_known: true, where: {form: {equals: x}}}}\n", "rules[a].on[0].where: where: compares the event's properties"},
		{"bad stage", base + "  - {id: a, journey: mql_reached, channel: sales, on: {stage: hot}}\n", "rules[a].on[0].stage: unknown stage \"hot\""},
		{"p_alive out of range", base + "  - {id: a, journey: win_back, channel: email, kind: marketing, on: {p_alive_below: 1.5}}\n", "rules[a].on[0].p_alive_below: must be between 0 and 1"},
		{"priority range", base + "  - {id: a, journey: welcome, channel: email, kind: marketing, priority: 5000, on: {event: signup}}\n", "rules[a].priority: must be between 0 and 1000"},
		{"priority as string", base + "  - {id: a, journey: welcome, channel: email, kind: marketing, priority: \"5\", on: {event: signup}}\n", "rules[a].priority: must be a whole number"},
		{"once and cooldown", base + "  - {id: a, journey: welcome, channel: email, kind: marketing, once: true, cooldown: 1d, on: {event: signup}}\n", "rules[a].cooldown: once already allows"},
		{"list on sms", base + "  - {id: a, journey: welcome, channel: sms, kind: marketing, list: news, on: {event: signup}}\n", "rules[a].list: a list subscription applies to marketing email only"},
		{"unknown field name", base + "  - {id: a, journey: welcome, channel: email, kind: marketing, fields: [name, shoe_size], on: {event: signup}}\n", "rules[a].fields: unknown field \"shoe_size\""},
		{"quiet hours", "version: \"1\"\npolicy:\n  quiet_hours: {start: \"25:00\", end: \"08:00\"}\nrules: []\n", "test.yaml:3: policy.quiet_hours.start: \"25:00\" is not a time of day"},
		{"cap max", "version: \"1\"\npolicy:\n  pressure:\n    email: [{max: 0, per: 1d}]\nrules: []\n", "test.yaml:4: policy.pressure.email[0].max: must be between 1 and 16"},
		{"consent", "version: \"1\"\npolicy:\n  consent: {sms: maybe}\nrules: []\n", "policy.consent.sms: \"maybe\": must be opt_in"},
		{"time zone", "version: \"1\"\npolicy:\n  time_zone: Mars/Olympus\nrules: []\n", "test.yaml:3: policy.time_zone: \"Mars/Olympus\" is not an IANA time zone"},
		{"schedule once", base + "  - {id: a, journey: loyalty, channel: email, kind: marketing, once: true, schedule: {anniversary: first_order}}\n", "rules[a].schedule: a scheduled rule fires once per occurrence"},
		{"segment", base + "  - {id: a, journey: win_back, channel: email, kind: marketing, on: {segment_worse: [at_risky]}}\n", "rules[a].on[0].segment_worse: unknown RFM segment \"at_risky\""},
		{"two documents", "version: \"1\"\n---\nversion: \"2\"\n", "test.yaml:2: a rule file is one YAML document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRules("test.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tc.want)
			}
			if _, ok := err.(*RuleError); !ok {
				t.Fatalf("error %T, want *RuleError", err)
			}
		})
	}
}

func TestDefaultRulesCoverEveryJourney(t *testing.T) {
	rs, err := DefaultRules()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Journey]bool{}
	for _, r := range rs.Rules {
		seen[r.Journey] = true
	}
	for j := range numJourneys {
		if !seen[j] {
			t.Errorf("journey %s has no default rule", j)
		}
	}
	if _, err := NewEngine(rs, DefaultTopics(), nil); err != nil {
		t.Fatal(err)
	}
}
