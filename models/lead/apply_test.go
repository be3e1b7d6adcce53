package lead

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/kairos-engine/kairos/state"
)

const (
	hour = int64(3600 * 1000)
	day  = 24 * hour
	t0   = int64(1_790_000_000_000) // 2026-09-21, any instant works
)

// testPlan has rules of every shape: decaying groups with different
// half-lives, a never-decaying group, a cap, a sales-acceptance rule and
// fit rules.
const testPlan = `version: t1
top: 3
lifecycle:
  mql: 50
  sql: 100
  hysteresis: 10
  sales_accepted:
    rules: [accepted]
    traits: {lead_status: {equals: sql}}
behaviour:
  - group: web
    description: On the site
    half_life: 10d
    rules:
      - {id: visit, event: page_view, points: 10, description: Visited}
      - {id: demo, event: form_submit, when: {form: {equals: request-demo}}, points: 30}
      - {id: accepted, event: form_submit, when: {form: {equals: sales-accepted}}, points: 0}
  - group: mail
    half_life: 5d
    rules:
      - {id: click, event: clicked, points: 5, cap: {max: 3, per: 7d}}
      - {id: unsub, event: unsubscribed, points: -20}
  - group: forever
    half_life: never
    rules:
      - {id: bounce, event: bounced, when: {type: {equals: hard}}, points: -50}
      - {id: plus, event: search, points: 1}
      - {id: minus, event: remove_from_cart, points: -1}
fit:
  - group: firmo
    rules:
      - {id: senior, traits: {job_title: {word: [vp, director]}}, points: 15}
      - {id: size, traits: {company_size: {gte: 50}}, points: 10}
`

func knownContact(email string) *state.Contact {
	return &state.Contact{Key: state.MakeKey(state.IDEmail, email), EmailAddr: email}
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*(1+math.Abs(a)+math.Abs(b))
}

func leadPoints(s *state.Scores) map[string]float64 {
	m := map[string]float64{}
	for _, e := range s.Lead {
		m[e.Rule] = e.Points
	}
	return m
}

// The shipped plan scores the example events as documented.
func TestDefaultPlanRules(t *testing.T) {
	p := shipped(t)
	tests := []struct {
		name  string
		t     state.EventType
		props props
		want  map[string]float64
	}{
		{"pricing page", state.EventPageView, props{"url": "https://shop.test/en/pricing"}, map[string]float64{"pricing-page": 10}},
		{"other page", state.EventPageView, props{"url": "https://shop.test/en/shoes"}, map[string]float64{}},
		{"page without url", state.EventPageView, nil, map[string]float64{}},
		{"case studies", state.EventPageView, props{"url": "/customers/acme"}, map[string]float64{"case-studies": 5}},
		{"careers", state.EventPageView, props{"url": "/careers/backend"}, map[string]float64{"careers-page": -10}},
		{"whitepaper", state.EventFormSubmit, props{"form": "whitepaper-download", "content": "b2b-guide"}, map[string]float64{"whitepaper": 15}},
		{"demo request", state.EventFormSubmit, props{"form": "request-demo"}, map[string]float64{"demo-request": 30}},
		{"contact sales", state.EventFormSubmit, props{"form": "contact-sales"}, map[string]float64{"contact-sales": 25}},
		{"sales accepted", state.EventFormSubmit, props{"form": "sales-accepted"}, map[string]float64{"sales-accepted": 0}},
		{"product view", state.EventProductView, props{"sku": "A1"}, map[string]float64{"product-view": 1}},
		{"add to cart", state.EventAddToCart, props{"sku": "A1"}, map[string]float64{"add-to-cart": 3}},
		{"search", state.EventSearch, props{"query": "desk"}, map[string]float64{"search": 1}},
		{"newsletter", state.EventSignup, props{"list": "newsletter-weekly"}, map[string]float64{"newsletter-signup": 5}},
		{"webinar", state.EventSignup, props{"list": "webinar-2026-q4"}, map[string]float64{"webinar": 10}},
		{"email open", state.EventEmailOpened, nil, map[string]float64{"email-open": 1}},
		{"email click", state.EventEmailClicked, props{"url": "https://shop.test/x"}, map[string]float64{"email-click": 5}},
		{"unsubscribe", state.EventEmailUnsubscribed, nil, map[string]float64{"unsubscribe": -20}},
		{"complaint", state.EventEmailComplained, nil, map[string]float64{"spam-complaint": -50}},
		{"hard bounce", state.EventEmailBounced, props{"type": "hard"}, map[string]float64{"hard-bounce": -50}},
		{"soft bounce", state.EventEmailBounced, props{"type": "soft"}, map[string]float64{}},
		{"order", state.EventOrderPlaced, props{"order_id": "o1", "total": "99.90"}, map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s state.Scores
			ch := p.Apply(&s, tt.t, t0, tt.props, nil)
			if got := leadPoints(&s); !maps(got, tt.want) || ch.Matched != len(tt.want) {
				t.Errorf("rules %v (matched %d), want %v", got, ch.Matched, tt.want)
			}
		})
	}

	fit := []struct {
		name   string
		traits []state.Trait
		want   float64
	}{
		{"ideal B2B contact", traits("company_size", "51-200", "country", "de", "industry", "Software", "job_title", "Head of Marketing"), 40},
		{"CTO, small company abroad", traits("company_size", "12", "country", "BR", "job_title", "CTO"), 15},
		{"director is not a CTO twice", traits("job_title", "Sales Director"), 15},
		{"doctor is not a CTO", traits("job_title", "Doctor"), 0},
		{"student", traits("job_title", "Working Student"), -10},
		{"international is not intern", traits("job_title", "International Sales Manager"), 0},
		{"no traits", nil, 0},
	}
	for _, tt := range fit {
		t.Run("fit "+tt.name, func(t *testing.T) {
			r := p.Score(&state.Scores{}, &state.Contact{Traits: tt.traits}, t0)
			if r.Fit != tt.want {
				t.Errorf("fit %v, want %v (top %+v)", r.Fit, tt.want, r.Top)
			}
		})
	}
}

func maps(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Caps count hits in a window anchored at the first hit, in event time.
func TestCap(t *testing.T) {
	p := mustPlan(t, testPlan)
	var s state.Scores
	var matched, capped int
	for i := range int64(5) { // five clicks in five hours: three count
		ch := p.Apply(&s, state.EventEmailClicked, t0+i*hour, nil, nil)
		matched, capped = matched+ch.Matched, capped+ch.Capped
	}
	if matched != 3 || capped != 2 {
		t.Fatalf("matched %d, capped %d; want 3, 2", matched, capped)
	}
	e := s.Lead[0]
	if e.Hits != 3 || e.WindowStart != t0 || e.At != t0+2*hour {
		t.Errorf("entry %+v", e)
	}
	want := 0.0
	for i := range int64(3) {
		want += 5 * math.Pow(2, -float64(2*hour-i*hour)/float64(5*day))
	}
	if !near(e.Points, want) {
		t.Errorf("points %v, want %v", e.Points, want)
	}
	// Still inside the window (anchored at t0, not sliding): capped.
	if ch := p.Apply(&s, state.EventEmailClicked, t0+7*day-1, nil, nil); ch.Capped != 1 {
		t.Errorf("at the window's last millisecond: %+v", ch)
	}
	// The window ends 7d after its first hit: a new one starts there.
	if ch := p.Apply(&s, state.EventEmailClicked, t0+7*day, nil, nil); ch.Matched != 1 {
		t.Errorf("at the window's end: %+v", ch)
	}
	if e := s.Lead[0]; e.Hits != 1 || e.WindowStart != t0+7*day {
		t.Errorf("new window %+v", e)
	}
	// A late click from the old window counts against the current window.
	p.Apply(&s, state.EventEmailClicked, t0+hour/2, nil, nil)
	if e := s.Lead[0]; e.Hits != 2 || e.WindowStart != t0+7*day {
		t.Errorf("late hit %+v", e)
	}
}

// Read-time decay is exactly points · 2^(−Δt/half-life).
func TestDecayExact(t *testing.T) {
	p := mustPlan(t, testPlan)
	var s state.Scores
	p.Apply(&s, state.EventPageView, t0, nil, nil)                       // 10, half-life 10d
	p.Apply(&s, state.EventEmailUnsubscribed, t0+day, nil, nil)          // -20, half-life 5d
	p.Apply(&s, state.EventEmailBounced, t0, props{"type": "hard"}, nil) // -50, never
	closed := func(at int64) float64 {
		return 10*math.Pow(2, -float64(at-t0)/float64(10*day)) +
			-20*math.Pow(2, -float64(at-t0-day)/float64(5*day)) - 50
	}
	for _, dt := range []int64{day, day + 1, 2 * day, 5*day + 17, 10 * day, 30 * day, 365 * day, 3650 * day} {
		at := t0 + dt
		r := p.Score(&s, nil, at)
		if want := closed(at); math.Abs(r.Behaviour-want) > 1e-12*(1+math.Abs(want)) {
			t.Errorf("Δt %dms: behaviour %.15g, closed form %.15g", dt, r.Behaviour, want)
		}
		for _, c := range r.Top {
			if c.Rule == "bounce" && c.Points != -50 {
				t.Errorf("never-decaying rule worth %v at Δt %d", c.Points, dt)
			}
		}
	}
	// Reading before the last event does not inflate points.
	if r := p.Score(&s, nil, t0-day); !near(r.Behaviour, 10-20-50) {
		t.Errorf("read before At: %v", r.Behaviour)
	}
	// Half-lives: the visit is worth half after 10 days, a quarter after 20.
	var v state.Scores
	p.Apply(&v, state.EventPageView, t0, nil, nil)
	for k, want := range map[int64]float64{10: 5, 20: 2.5, 30: 1.25} {
		if got := p.Score(&v, nil, t0+k*day).Behaviour; math.Abs(got-want) > 1e-12 {
			t.Errorf("after %dd: %v, want %v", k, got, want)
		}
	}
}

// Any arrival order of the same events gives the same score, up to float
// rounding, and it is the closed-form sum of the decayed hits.
func TestOutOfOrder(t *testing.T) {
	p := mustPlan(t, testPlan)
	type ev struct {
		t     state.EventType
		props props
		pts   float64
		hl    float64 // ms; 0 never
		at    int64
	}
	kinds := []ev{
		{t: state.EventPageView, pts: 10, hl: float64(10 * day)},
		{t: state.EventFormSubmit, props: props{"form": "request-demo"}, pts: 30, hl: float64(10 * day)},
		{t: state.EventEmailUnsubscribed, pts: -20, hl: float64(5 * day)},
		{t: state.EventEmailBounced, props: props{"type": "hard"}, pts: -50},
		{t: state.EventSearch, pts: 1},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		evs := make([]ev, 1+rng.IntN(40))
		for i := range evs {
			evs[i] = kinds[rng.IntN(len(kinds))]
			evs[i].at = t0 + rng.Int64N(60*day)
		}
		end := t0 + 60*day + rng.Int64N(30*day)
		want := 0.0
		for _, e := range evs {
			f := 1.0
			if e.hl > 0 {
				f = math.Pow(2, -float64(end-e.at)/e.hl)
			}
			want += e.pts * f
		}
		orders := [][]ev{evs, slices.Clone(evs), slices.Clone(evs), slices.Clone(evs)}
		slices.SortFunc(orders[1], func(a, b ev) int { return int(a.at - b.at) })
		slices.SortFunc(orders[2], func(a, b ev) int { return int(b.at - a.at) })
		rng.Shuffle(len(orders[3]), func(i, j int) { orders[3][i], orders[3][j] = orders[3][j], orders[3][i] })
		for oi, order := range orders {
			var s state.Scores
			for _, e := range order {
				if e.props == nil {
					p.Apply(&s, e.t, e.at, nil, nil)
				} else {
					p.Apply(&s, e.t, e.at, e.props, nil)
				}
			}
			if got := p.Score(&s, nil, end).Behaviour; !near(got, want) {
				t.Fatalf("trial %d order %d: score %.12g, closed form %.12g", trial, oi, got, want)
			}
			if !slices.IsSortedFunc(s.Lead, func(a, b state.LeadRule) int { return strings.Compare(a.Rule, b.Rule) }) {
				t.Fatalf("trial %d: s.Lead not sorted: %+v", trial, s.Lead)
			}
		}
	}
}

// A score oscillating around a threshold does not flap the stage: the
// stage is left only hysteresis points below its threshold.
func TestHysteresis(t *testing.T) {
	p := mustPlan(t, testPlan) // mql 50, sql 100, hysteresis 10
	c := knownContact("ann@example.com")
	var s state.Scores
	at := t0
	score := 0
	// plus (+1) and minus (-1) never decay, so the score is exact.
	step := func(delta int) Change {
		at += hour
		score += delta
		typ := state.EventSearch
		if delta < 0 {
			typ = state.EventRemoveFromCart
		}
		return p.Apply(&s, typ, at, nil, c)
	}
	for range 49 {
		step(+1)
	}
	if Stage(s.Stage) != StageLead {
		t.Fatalf("at 49: %v", Stage(s.Stage))
	}
	if ch := step(+1); !ch.StageChanged || ch.To != StageMQL {
		t.Fatalf("at 50: %+v", ch)
	}
	transitions := len(s.Transitions)
	for i := range 40 { // oscillate 49, 50, 49, 50, ... and down to 41
		d := +1
		if i%2 == 0 {
			d = -1
		}
		if ch := step(d); ch.StageChanged {
			t.Fatalf("score %d: flapped %+v", score, ch)
		}
	}
	for score > 40 {
		if ch := step(-1); ch.StageChanged {
			t.Fatalf("score %d: left MQL early", score)
		}
	}
	if ch := step(-1); !ch.StageChanged || ch.To != StageLead || score != 39 {
		t.Fatalf("score %d: %+v, want back to lead below 40", score, ch)
	}
	for score < 49 { // below the threshold again: stays lead
		if ch := step(+1); ch.StageChanged {
			t.Fatalf("score %d: %+v", score, ch)
		}
	}
	if len(s.Transitions) != transitions+1 {
		t.Errorf("%d transitions, want %d", len(s.Transitions), transitions+1)
	}
	// SQL: reached at 100, held down to 90, then MQL (not lead: 89 ≥ 40).
	for score < 100 {
		step(+1)
	}
	if Stage(s.Stage) != StageSQL {
		t.Fatalf("at 100: %v", Stage(s.Stage))
	}
	for score > 90 {
		if ch := step(-1); ch.StageChanged {
			t.Fatalf("score %d: left SQL early", score)
		}
	}
	if ch := step(-1); ch.To != StageMQL {
		t.Fatalf("score %d: %+v, want MQL", score, ch)
	}
	// Decay alone moves the read-time stage; Refresh stores it.
	var d state.Scores
	p.Apply(&d, state.EventFormSubmit, t0, props{"form": "request-demo"}, c)
	p.Apply(&d, state.EventFormSubmit, t0, props{"form": "request-demo"}, c) // 60: MQL
	if Stage(d.Stage) != StageMQL {
		t.Fatalf("two demos: %v", Stage(d.Stage))
	}
	// 60·2^(−x/10d) = 45 after about 4.15 days, 39 after about 6.2 days.
	if r := p.Score(&d, c, t0+5*day); r.Stage != StageMQL {
		t.Errorf("score %v after 5 days: %v, want still MQL", r.Total, r.Stage)
	}
	if r := p.Score(&d, c, t0+7*day); r.Stage != StageLead || Stage(d.Stage) != StageMQL {
		t.Errorf("score %v after 7 days: read %v stored %v, want read lead, stored MQL", r.Total, r.Stage, Stage(d.Stage))
	}
	if ch := p.Refresh(&d, c, t0+7*day); ch.To != StageLead || !ch.StageChanged {
		t.Errorf("Refresh: %+v", ch)
	}
}

// A late event does not judge the stage as it was in the past: the stage
// is evaluated at the contact's latest event time.
func TestLateEventStage(t *testing.T) {
	p := mustPlan(t, testPlan)
	c := knownContact("a@b.c")
	var s state.Scores
	demo := props{"form": "request-demo"}
	c.LastSeen = t0
	p.Apply(&s, state.EventFormSubmit, t0, demo, c)
	p.Apply(&s, state.EventFormSubmit, t0, demo, c) // 60 at t0: MQL
	if Stage(s.Stage) != StageMQL {
		t.Fatalf("stage %v", Stage(s.Stage))
	}
	// Ten days later (60 → 30) the contact is seen, then a late search
	// (+1) from t0 arrives: at t0 the score would be 61, at LastSeen 31.
	c.LastSeen = t0 + 10*day
	if ch := p.Apply(&s, state.EventSearch, t0, nil, c); ch.To != StageLead || s.StageAt != t0+10*day {
		t.Errorf("late event: %+v at %d, want lead at LastSeen", ch, s.StageAt)
	}
}

func TestStagePrecedence(t *testing.T) {
	p := mustPlan(t, testPlan)
	type setup struct {
		stored  Stage
		storeAt int64
		c       *state.Contact
		events  []state.EventType // page_view: +10 each; form_submit: sales-accepted
	}
	visits := func(n int) []state.EventType {
		return slices.Repeat([]state.EventType{state.EventPageView}, n)
	}
	customer := func(c *state.Contact, last int64) *state.Contact {
		c.Orders = state.Orders{Count: 1, Placed: 1, First: last, Last: last}
		return c
	}
	tests := []struct {
		name string
		s    setup
		want Stage
	}{
		{"no contact", setup{}, StageVisitor},
		{"anonymous", setup{c: &state.Contact{Key: "a:x"}}, StageVisitor},
		{"anonymous with a high score", setup{c: &state.Contact{Key: "a:x"}, events: visits(20)}, StageVisitor},
		{"email", setup{c: knownContact("a@b.c")}, StageLead},
		{"contact id", setup{c: &state.Contact{ContactID: "42"}}, StageLead},
		{"keyed by contact id", setup{c: &state.Contact{Key: "c:42"}}, StageLead},
		{"MQL", setup{c: knownContact("a@b.c"), events: visits(6)}, StageMQL},
		{"SQL by score", setup{c: knownContact("a@b.c"), events: visits(11)}, StageSQL},
		{"SQL by acceptance rule", setup{c: knownContact("a@b.c"), events: []state.EventType{state.EventFormSubmit}}, StageSQL},
		{"SQL by acceptance trait", setup{c: &state.Contact{EmailAddr: "a@b.c", Traits: traits("lead_status", "SQL")}}, StageSQL},
		{"fit counts", setup{c: &state.Contact{EmailAddr: "a@b.c", Traits: traits("company_size", "200", "job_title", "VP Sales")}, events: visits(3)}, StageMQL},
		{"customer over SQL", setup{c: customer(knownContact("a@b.c"), t0), events: visits(10)}, StageCustomer},
		{"customer over acceptance", setup{c: customer(knownContact("a@b.c"), t0), events: []state.EventType{state.EventFormSubmit}}, StageCustomer},
		{"anonymous customer", setup{c: customer(&state.Contact{Key: "a:x"}, t0)}, StageCustomer},
		{"cancelled orders only", setup{c: &state.Contact{EmailAddr: "a@b.c", Orders: state.Orders{Placed: 1, Cancelled: 1, Last: t0}}}, StageLead},
		{"lapsed stays lapsed", setup{stored: StageLapsed, storeAt: t0, c: customer(knownContact("a@b.c"), t0-day), events: visits(10)}, StageLapsed},
		{"lapsed orders again", setup{stored: StageLapsed, storeAt: t0, c: customer(knownContact("a@b.c"), t0+hour)}, StageCustomer},
		{"lapsed without contact", setup{stored: StageLapsed, storeAt: t0}, StageLapsed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.Scores{Stage: uint8(tt.s.stored), StageAt: tt.s.storeAt}
			for i, e := range tt.s.events {
				var pr props
				if e == state.EventFormSubmit {
					pr = props{"form": "sales-accepted"}
				}
				p.Apply(&s, e, t0+int64(i), pr, tt.s.c)
			}
			ch := p.Refresh(&s, tt.s.c, t0+hour)
			if ch.To != tt.want || Stage(s.Stage) != tt.want {
				t.Errorf("stage %v (stored %v), want %v", ch.To, Stage(s.Stage), tt.want)
			}
			if r := p.Score(&s, tt.s.c, t0+hour); r.Stage != tt.want {
				t.Errorf("read stage %v, want %v", r.Stage, tt.want)
			}
		})
	}
}

func TestMarkLapsed(t *testing.T) {
	p := mustPlan(t, testPlan)
	c := knownContact("a@b.c")
	c.Orders = state.Orders{Count: 1, Placed: 1, First: t0, Last: t0}
	var s state.Scores
	if ch := p.Apply(&s, state.EventOrderPlaced, t0, nil, c); ch.To != StageCustomer {
		t.Fatalf("order: %+v", ch)
	}
	if ch := p.MarkLapsed(&s, t0+200*day, true); !ch.StageChanged || ch.From != StageCustomer || ch.To != StageLapsed || s.StageAt != t0+200*day {
		t.Fatalf("mark lapsed: %+v, stage at %d", ch, s.StageAt)
	}
	if ch := p.MarkLapsed(&s, t0+201*day, true); ch.StageChanged {
		t.Errorf("lapsed twice: %+v", ch)
	}
	// Events and a late order from before the lapse keep it lapsed.
	p.Apply(&s, state.EventPageView, t0+202*day, nil, c)
	c.Orders.Placed, c.Orders.Count = 2, 2
	c.Orders.Last = t0 + 100*day
	if ch := p.Apply(&s, state.EventOrderPlaced, t0+100*day, nil, c); ch.To != StageLapsed {
		t.Errorf("late order: %+v", ch)
	}
	// A new order after the lapse: customer again.
	c.Orders.Placed, c.Orders.Count = 3, 3
	c.Orders.Last = t0 + 230*day
	if ch := p.Apply(&s, state.EventOrderPlaced, t0+230*day, nil, c); !ch.StageChanged || ch.To != StageCustomer {
		t.Errorf("order again: %+v", ch)
	}
	// The churn model can also revive it.
	p.MarkLapsed(&s, t0+400*day, true)
	if ch := p.MarkLapsed(&s, t0+401*day, false); ch.To != StageCustomer || !ch.StageChanged {
		t.Errorf("revive: %+v", ch)
	}
	// Only customers lapse.
	lead := state.Scores{Stage: uint8(StageMQL)}
	if ch := p.MarkLapsed(&lead, t0, true); ch.StageChanged || Stage(lead.Stage) != StageMQL {
		t.Errorf("MQL marked lapsed: %+v", ch)
	}
	want := []state.Transition{
		{Kind: state.TransitionStage, From: uint8(StageUnknown), To: uint8(StageCustomer), At: t0},
		{Kind: state.TransitionStage, From: uint8(StageCustomer), To: uint8(StageLapsed), At: t0 + 200*day},
		{Kind: state.TransitionStage, From: uint8(StageLapsed), To: uint8(StageCustomer), At: t0 + 230*day},
		{Kind: state.TransitionStage, From: uint8(StageCustomer), To: uint8(StageLapsed), At: t0 + 400*day},
		{Kind: state.TransitionStage, From: uint8(StageLapsed), To: uint8(StageCustomer), At: t0 + 401*day},
	}
	if !slices.Equal(s.Transitions, want) {
		t.Errorf("transitions\n got %+v\nwant %+v", s.Transitions, want)
	}
}

func TestTransitionsBounded(t *testing.T) {
	p := mustPlan(t, testPlan)
	c := knownContact("a@b.c")
	var s state.Scores
	s.Transitions = []state.Transition{{Kind: state.TransitionSegment, From: 1, To: 2, At: t0 + 5*hour}}
	at := t0
	for i := range 40 { // lead ↔ SQL by acceptance trait, 40 changes
		at += hour
		c.Traits = nil
		if i%2 == 0 {
			c.Traits = traits("lead_status", "sql")
		}
		if ch := p.Apply(&s, state.EventSearch, at, nil, c); !ch.StageChanged && i > 0 {
			t.Fatalf("step %d: no change", i)
		}
	}
	if len(s.Transitions) != state.MaxTransitions {
		t.Fatalf("%d transitions", len(s.Transitions))
	}
	if last := s.Transitions[len(s.Transitions)-1]; last.At != at {
		t.Errorf("newest transition %+v, want at %d", last, at)
	}
	if !slices.IsSortedFunc(s.Transitions, func(a, b state.Transition) int { return int(a.At - b.At) }) {
		t.Errorf("not sorted: %+v", s.Transitions)
	}
	// A late event cannot date a change before the stored one.
	before := s.StageAt
	c.Traits = nil
	if Stage(s.Stage) == StageLead {
		c.Traits = traits("lead_status", "sql")
	}
	p.Apply(&s, state.EventSearch, t0, nil, c)
	if s.StageAt != before || s.Transitions[len(s.Transitions)-1].At != before {
		t.Errorf("late change dated %d, want %d", s.StageAt, before)
	}
}

// s.Lead stays sorted and bounded; entries of rules the plan no longer has
// go first.
func TestLeadBounded(t *testing.T) {
	p := mustPlan(t, testPlan)
	var s state.Scores
	for i := range state.MaxLeadRules {
		s.Lead = append(s.Lead, state.LeadRule{Rule: fmt.Sprintf("old-%02d", i), Points: 100, At: t0})
	}
	p.Apply(&s, state.EventPageView, t0, nil, nil)
	p.Apply(&s, state.EventEmailClicked, t0, nil, nil)
	if len(s.Lead) != state.MaxLeadRules {
		t.Fatalf("%d entries", len(s.Lead))
	}
	got := leadPoints(&s)
	if got["visit"] != 10 || got["click"] != 5 {
		t.Errorf("new rules not kept: %v", got)
	}
	if !slices.IsSortedFunc(s.Lead, func(a, b state.LeadRule) int { return strings.Compare(a.Rule, b.Rule) }) {
		t.Errorf("not sorted")
	}
	// Stale entries count nothing.
	if r := p.Score(&s, nil, t0); r.Behaviour != 15 {
		t.Errorf("behaviour %v, want 15", r.Behaviour)
	}
}

func TestScoreTop(t *testing.T) {
	p := mustPlan(t, testPlan) // top 3
	c := &state.Contact{EmailAddr: "a@b.c", Traits: traits("company_size", "80", "job_title", "Director")}
	var s state.Scores
	p.Apply(&s, state.EventPageView, t0, nil, c)                               // visit 10
	p.Apply(&s, state.EventEmailUnsubscribed, t0, nil, c)                      // unsub -20
	p.Apply(&s, state.EventFormSubmit, t0, props{"form": "sales-accepted"}, c) // accepted 0: not shown
	p.Apply(&s, state.EventSearch, t0, nil, c)                                 // plus 1
	r := p.Score(&s, c, t0)
	want := []Contribution{
		{Rule: "unsub", Group: "mail", Points: -20, Kind: KindBehaviour},
		{Rule: "senior", Group: "firmo", Points: 15, Kind: KindFit},
		{Rule: "size", Group: "firmo", Points: 10, Kind: KindFit},
	}
	if !slices.Equal(r.Top, want) {
		t.Errorf("top\n got %+v\nwant %+v", r.Top, want)
	}
	if r.Behaviour != -9 || r.Fit != 25 || r.Total != 16 || r.Stage != StageSQL {
		t.Errorf("result %+v", r)
	}
	// Ties order by rule id; descriptions come from the plan.
	p5 := mustPlan(t, strings.Replace(testPlan, "top: 3", "top: 5", 1))
	r = p5.Score(&s, c, t0)
	if len(r.Top) != 5 || r.Top[3].Rule != "visit" || r.Top[3].Description != "Visited" || r.Top[4].Rule != "plus" {
		t.Errorf("top 5: %+v", r.Top)
	}
	if k, _ := KindFit.MarshalText(); string(k) != "fit" || KindBehaviour.String() != "behaviour" {
		t.Errorf("kind names")
	}
}

func TestStageNames(t *testing.T) {
	for s := StageUnknown; s < numStages; s++ {
		if got, ok := ParseStage(s.String()); !ok || got != s {
			t.Errorf("ParseStage(%q) = %v, %v", s.String(), got, ok)
		}
	}
	if Stage(200).String() != "unknown" {
		t.Error("out of range stage")
	}
	if b, _ := StageMQL.MarshalText(); string(b) != "mql" {
		t.Error("MarshalText")
	}
}

// The hot path allocates nothing once the contact's rules exist.
func TestApplyAllocs(t *testing.T) {
	p := shipped(t)
	c := &state.Contact{EmailAddr: "a@b.c", Traits: traits("company_size", "120", "industry", "retail", "job_title", "Head of Purchasing")}
	var s state.Scores
	pricing := props{"url": "https://shop.test/pricing"}
	p.Apply(&s, state.EventPageView, t0, pricing, c)
	p.Apply(&s, state.EventEmailClicked, t0, nil, c)
	demo := props{"form": "request-demo"}
	p.Apply(&s, state.EventFormSubmit, t0, demo, c)
	at := t0
	tests := []struct {
		name string
		f    func()
	}{
		{"matching event", func() {
			at += day
			if ch := p.Apply(&s, state.EventFormSubmit, at, demo, c); ch.Matched != 1 {
				t.Fatalf("demo request: %+v", ch)
			}
		}},
		{"late matching event", func() { p.Apply(&s, state.EventFormSubmit, t0-day, demo, c) }},
		{"capped event", func() { p.Apply(&s, state.EventEmailClicked, at, nil, c) }},
		{"no rule", func() { p.Apply(&s, state.EventOrderShipped, at, nil, c) }},
		{"anonymous", func() { at += day; p.Apply(&s, state.EventPageView, at, pricing, nil) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(200, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per Apply", tt.name, n)
		}
	}
}

func TestScoreIntoAllocs(t *testing.T) {
	p := shipped(t)
	c := &state.Contact{EmailAddr: "a@b.c", Traits: traits("company_size", "120", "country", "DE", "industry", "retail", "job_title", "Head of Purchasing")}
	var s state.Scores
	for i, u := range []string{"/pricing", "/customers/x", "/b2b"} {
		p.Apply(&s, state.EventPageView, t0+int64(i), props{"url": u}, c)
	}
	p.Apply(&s, state.EventEmailClicked, t0, nil, c)
	p.Apply(&s, state.EventFormSubmit, t0, props{"form": "whitepaper-download"}, c)
	buf := make([]Contribution, 0, p.Top())
	var r Result
	if n := testing.AllocsPerRun(200, func() { r = p.ScoreInto(buf, &s, c, t0+10*day) }); n != 0 {
		t.Errorf("%v allocations per ScoreInto", n)
	}
	if len(r.Top) != 5 || r.Stage != StageMQL {
		t.Errorf("result %+v", r)
	}
}
