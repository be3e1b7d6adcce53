package nba

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/state"
)

var testNow = time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC) // a Tuesday

func baseContext() *Context {
	nowMS := testNow.UnixMilli()
	x := &Context{
		ContactID: "42", Known: true, Placement: "homepage", Now: testNow,
		Stage: "customer", Segment: "Loyal", LeadScore: 35, PAlive: 0.8, CLV: 240,
		FirstSeen: nowMS - 90*msPerDay, Orders: 4, Revenue: 310.5, LastOrder: nowMS - 20*msPerDay,
		CartItems: 2, CartValue: 42, CartUpdated: nowMS - 45*60000, Sessions: 12, PageViews: 80,
		EmailOpens: 9, EmailClicks: 3, Language: "de",
		Lists: []state.ListConsent{{List: "newsletter", Subscribed: true}},
		Recent: []state.RecentEvent{
			{Type: state.EventAddToCart, At: nowMS - 50*60000, Ref: "SHO-1"},
			{Type: state.EventPageView, At: nowMS - 10*60000, Ref: "/sale"},
		},
		Categories:   []state.Affinity{{Name: "shoes", Score: 2.5}, {Name: "books", Score: 0.7}},
		PageURL:      "https://shop.example/c/shoes?sort=new",
		PageCategory: "shoes",
	}
	x.Consent[state.ChannelEmail] = state.ConsentOptedIn
	return x
}

func TestExpressions(t *testing.T) {
	tests := []struct {
		expr string
		want bool
	}{
		{`known`, true},
		{`not known`, false},
		{`stage == "customer" and orders >= 3`, true},
		{`stage in ["mql", "sql"]`, false},
		{`stage not in ["mql", "sql"]`, true},
		{`segment in ["Champions", "Loyal"]`, true},
		{`lead_score > 30 && p_alive >= 0.8`, true},
		{`clv / orders == 60`, true},
		{`revenue - 10.5 == 300 || false`, true},
		{`-orders < 0`, true},
		{`orders % 3 == 1`, true},
		{`days_since_last_order == 20`, true},
		{`days_since_first_seen > 89 and days_since_first_seen < 91`, true},
		{`has_cart and cart_items == 2 and cart_value >= 40`, true},
		{`cart_age_minutes == 45`, true},
		{`hour == 10 and weekday == 1`, true},
		{`email_opt_in and not sms_opt_in and !push_opt_in`, true},
		{`affinity("shoes") > 2 and affinity("kitchen") == 0`, true},
		{`top_category == "shoes"`, true},
		{`recent("add_to_cart", "1h") == 1 and recent("add_to_cart", "30m") == 0`, true},
		{`recent("page_view", "1d") >= 1`, true},
		{`subscribed("newsletter") and not subscribed("promotions")`, true},
		{`page_url contains "/c/shoes"`, true},
		{`page_url startsWith "https://" and page_url endsWith "new"`, true},
		{`page_url matches "^https://shop\\.example/c/[a-z]+"`, true},
		{`page_category == "books"`, false},
		{`placement == "homepage"`, true},
		{`language == "de"`, true},
		{`(orders > 10 ? "big" : "small") == "small"`, true},
		{`sessions in [12, 13]`, true},
		{`emails_opened > emails_clicked * 2`, true},
		{`page_views >= 80`, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			conds, err := compileEligibility(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			x := baseContext()
			x.derive()
			got := true
			for _, c := range conds {
				got = got && c.eval(x)
			}
			if got != tt.want {
				t.Fatalf("%s = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestExpressionSplit(t *testing.T) {
	conds, err := compileEligibility(`known and (orders > 1 or has_cart) && stage == "lead"`)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, c := range conds {
		texts = append(texts, c.text)
	}
	if got := strings.Join(texts, " | "); got != `known | orders > 1 or has_cart | stage == "lead"` {
		t.Fatalf("conjuncts %q", got)
	}
}

func mustPolicy(t testing.TB, yaml string, s *Stats) *Policy {
	t.Helper()
	c, err := ParseCatalogue("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return NewPolicy(c, s)
}

func TestExplain(t *testing.T) {
	p := mustPolicy(t, `version: v1
control: {share: 0}
actions:
  - {id: always, placements: [homepage], value: 1}
  - {id: leads, placements: [homepage], value: 1, eligible: 'known and stage == "lead" and orders == 0'}
  - {id: cart-only, placements: [cart], value: 1}
  - {id: later, placements: [homepage], value: 1, valid_from: 2027-01-01}
  - {id: over, placements: [homepage], value: 1, valid_until: 2026-01-01}
  - {id: mail, placements: [homepage, email], value: 1}
  - {id: capped, placements: [homepage], value: 1, cap: {max: 1, per: 1d}}
  - {id: bought, placements: [homepage], value: 1}
`, nil)
	x := baseContext()
	var h History
	id := DecisionID{1}
	h.RecordImpression(p.cat.Action("capped"), id, testNow.UnixMilli()-3600_000)
	h.RecordImpression(p.cat.Action("bought"), id, testNow.UnixMilli()-3600_000)
	if r := h.RecordOutcome(p.cat.Action("bought"), id, OutcomeOrder, testNow.UnixMilli()-1800_000); r != Attributed {
		t.Fatalf("outcome %v", r)
	}
	got := map[string]Verdict{}
	for _, v := range p.Explain(x, &h) {
		got[v.Action] = v
	}
	want := map[string]Verdict{
		"always":    {Action: "always", Eligible: true},
		"leads":     {Action: "leads", Reason: ReasonCondition, Condition: `stage == "lead"`},
		"cart-only": {Action: "cart-only", Reason: ReasonPlacement},
		"later":     {Action: "later", Reason: ReasonNotYet},
		"over":      {Action: "over", Reason: ReasonExpired},
		"mail":      {Action: "mail", Eligible: true},
		"capped":    {Action: "capped", Reason: ReasonCap},
		"bought":    {Action: "bought", Reason: ReasonConverted},
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: got %+v, want %+v", id, got[id], w)
		}
	}
	x.Placement = "email"
	x.Consent[state.ChannelEmail] = state.ConsentOptedOut
	if v := p.Explain(x, &h)[5]; v.Reason != ReasonConsent {
		t.Errorf("email without consent: %+v", v)
	}
	x.Consent[state.ChannelEmail] = state.ConsentOptedIn
	x.Pressure[state.ChannelEmail] = true
	if v := p.Explain(x, &h)[5]; v.Reason != ReasonPressure {
		t.Errorf("email over pressure: %+v", v)
	}
	x.Placement = "nowhere"
	if v := p.Explain(x, &h)[0]; v.Reason != ReasonUnknownPlc {
		t.Errorf("unknown placement: %+v", v)
	}
}

func TestDecideRanksAndReproduces(t *testing.T) {
	cat, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	p := NewPolicy(cat, nil)
	x := baseContext()
	x.ContactID = controlFreeID(t, p)
	out := make([]Choice, 3)
	id := DecisionID{7, 7, 7}
	d := p.Decide(x, nil, id, out)
	if len(d.Choices) != 3 || d.Control || d.Policy != "thompson" || d.Group != "homepage/customer" {
		t.Fatalf("decision %+v", d)
	}
	for i := 1; i < len(d.Choices); i++ {
		if d.Choices[i-1].Score < d.Choices[i].Score {
			t.Fatalf("not sorted: %+v", d.Choices)
		}
	}
	for _, c := range d.Choices {
		if want := c.Sample * c.Weight * c.Action.Value * c.Action.Lever; math.Abs(c.Score-want) > 1e-12 {
			t.Fatalf("score %v, want %v", c.Score, want)
		}
	}
	first := fmt.Sprint(names(d.Choices))
	out2 := make([]Choice, 3)
	d2 := p.Decide(x, nil, id, out2)
	if fmt.Sprint(names(d2.Choices)) != first || d2.Choices[0].Sample != d.Choices[0].Sample {
		t.Fatalf("same id gave another decision: %v vs %v", names(d2.Choices), first)
	}
	// Different ids explore: over many decisions more than one action leads.
	leaders := map[string]bool{}
	for i := range 200 {
		d := p.Decide(x, nil, DecisionID{byte(i), byte(i >> 8), 1}, out)
		leaders[d.Choices[0].Action.ID] = true
	}
	if len(leaders) < 2 {
		t.Fatalf("Thompson sampling never explored: leaders %v", leaders)
	}
}

func names(cs []Choice) []string {
	var s []string
	for _, c := range cs {
		s = append(s, c.Action.ID)
	}
	return s
}

func controlFreeID(t testing.TB, p *Policy) string {
	for i := range 1000 {
		id := fmt.Sprintf("c-%d", i)
		if !p.InControl(id) {
			return id
		}
	}
	t.Fatal("every id in control")
	return ""
}

func TestDecideFallbackAndUnknownPlacement(t *testing.T) {
	p := mustPolicy(t, `version: v1
fallback: {homepage: fb}
actions:
  - {id: fb, placements: [homepage], value: 1}
  - {id: never, placements: [homepage], value: 100, eligible: orders > 1000}
`, nil)
	x := baseContext()
	x.Placement = "homepage"
	out := make([]Choice, 2)
	var h History
	h.RecordImpression(p.cat.Action("fb"), DecisionID{1}, testNow.UnixMilli())
	h.RecordOutcome(p.cat.Action("fb"), DecisionID{1}, OutcomeClick, testNow.UnixMilli())
	d := p.Decide(x, &h, DecisionID{2}, out)
	if len(d.Choices) != 1 || !d.Choices[0].Fallback || d.Choices[0].Action.ID != "fb" {
		t.Fatalf("want the fallback, got %+v", d)
	}
	x.Placement = "cart"
	if d := p.Decide(x, nil, DecisionID{3}, out); len(d.Choices) != 0 || d.Group != "" {
		t.Fatalf("unknown placement: %+v", d)
	}
}

func TestControlGroup(t *testing.T) {
	p := mustPolicy(t, `version: v1
control: {share: 0.2, baseline: priority}
actions:
  - {id: low, placements: [homepage], value: 1}
  - {id: high, placements: [homepage], value: 50}
  - {id: mid, placements: [homepage], value: 10}
`, nil)
	in := 0
	const n = 20000
	for i := range n {
		if p.InControl(fmt.Sprint("contact-", i)) {
			in++
		}
	}
	if share := float64(in) / n; math.Abs(share-0.2) > 0.015 {
		t.Fatalf("control share %.3f, want 0.2", share)
	}
	if p.InControl("") {
		t.Fatal("unknown visitor in control")
	}
	var id string
	for i := 0; ; i++ {
		if id = fmt.Sprint("contact-", i); p.InControl(id) {
			break
		}
	}
	x := baseContext()
	x.ContactID = id
	out := make([]Choice, 3)
	d := p.Decide(x, nil, DecisionID{9}, out)
	if !d.Control || d.Policy != "priority" || fmt.Sprint(names(d.Choices)) != "[high mid low]" {
		t.Fatalf("control decision %+v %v", d, names(d.Choices))
	}
}

func TestDecideAllocs(t *testing.T) {
	p := benchPolicy(t, 50)
	x := baseContext()
	var h History
	for _, a := range p.cat.actions[:10] {
		h.RecordImpression(a, DecisionID{1}, testNow.UnixMilli()-3600_000)
	}
	out := make([]Choice, 3)
	id := DecisionID{1, 2, 3}
	allocs := testing.AllocsPerRun(200, func() {
		id[0]++
		p.Decide(x, &h, id, out)
	})
	if allocs != 0 {
		t.Fatalf("Decide allocates %v times per call", allocs)
	}
}

// benchPolicy builds a catalogue of n actions with conditions of the kinds
// real catalogues use, and statistics with a few thousand impressions per
// cell.
func benchPolicy(t testing.TB, n int) *Policy {
	var b strings.Builder
	b.WriteString("version: bench\ncontrol: {share: 0.05}\nactions:\n")
	exprs := []string{
		`known and stage in ["lead", "mql", "customer"] and orders >= 1`,
		`affinity("shoes") > 0.5 or page_category == "shoes"`,
		`has_cart and cart_age_minutes >= 30 and recent("order_placed", "1d") == 0`,
		`stage == "customer" and (orders >= 3 or segment in ["Champions", "Loyal"])`,
		`p_alive < 0.3 or days_since_last_order > 60`,
		`hour >= 8 and hour < 22 and page_url contains "/c/"`,
		`email_opt_in and subscribed("newsletter")`,
		`lead_score >= 20 and clv > 100`,
	}
	for i := range n {
		fmt.Fprintf(&b, "  - id: action-%d\n    placements: {homepage: %g, product_page: 1, cart: 1, email: 1}\n    value: %d\n    eligible: '%s'\n    cap: {max: 5, per: 7d}\n",
			i, 1+float64(i%3)/10, 1+i%17, exprs[i%len(exprs)])
	}
	cat, err := ParseCatalogue("bench.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	s := NewStats()
	for i, a := range cat.actions {
		for _, g := range []string{"homepage/customer", "homepage/lead"} {
			s.Add(Key{Action: a.ID, Group: g}, Counts{Impressions: 5000, Conversions: uint64(50 + 10*(i%9))})
		}
	}
	return NewPolicy(cat, s)
}

func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("actions=%d", n), func(b *testing.B) {
			p := benchPolicy(b, n)
			x := baseContext()
			x.ContactID = controlFreeID(b, p)
			var h History
			for _, a := range p.cat.actions[:10] {
				h.RecordImpression(a, DecisionID{1}, testNow.UnixMilli()-3600_000)
			}
			out := make([]Choice, 3)
			id := NewDecisionID()
			b.ReportAllocs()
			for b.Loop() {
				id[0]++
				p.Decide(x, &h, id, out)
			}
		})
	}
}

func BenchmarkExplain(b *testing.B) {
	p := benchPolicy(b, 50)
	x := baseContext()
	b.ReportAllocs()
	for b.Loop() {
		p.Explain(x, nil)
	}
}

// TestDecidePruningIsExact compares Decide, which stops once no remaining
// action can make the top n, with a full walk of the same order that
// draws for every eligible action: the draws before the stop are the same,
// and every action after it is bounded below the n-th score, so the
// rankings must be identical.
func TestDecidePruningIsExact(t *testing.T) {
	p := benchPolicy(t, 50)
	x := baseContext()
	x.ContactID = controlFreeID(t, p)
	stagesSeen := []string{"customer", "lead", "visitor", "mql"}
	for i := range 2000 {
		x.Stage = stagesSeen[i%len(stagesSeen)]
		x.CartItems = i % 3
		id := DecisionID{byte(i), byte(i >> 8), 42}
		for _, n := range []int{1, 3, 10} {
			out := make([]Choice, n)
			got := p.Decide(x, nil, id, out)
			want := fullWalk(p, x, id, n)
			if fmt.Sprint(names(got.Choices)) != fmt.Sprint(want) {
				t.Fatalf("decision %d, n=%d, stage %s: pruned %v, full %v", i, n, x.Stage, names(got.Choices), want)
			}
		}
	}
}

func fullWalk(p *Policy, x *Context, id DecisionID, n int) []string {
	x.derive()
	pi := p.cat.Placement(x.Placement)
	gi := pi*numStageGroups + stageGroup(x.Stage)
	r := rng{s: id.Seed()}
	type scored struct {
		id    string
		score float64
	}
	var all []scored
	for _, ai := range p.order[gi] {
		a := p.cat.actions[ai]
		if p.check(a, pi, x, nil) != "" {
			continue
		}
		cell := int(ai)*len(p.groups) + gi
		post := p.post[cell]
		s := min(r.beta(post.Alpha, post.Beta), p.upper[cell]) * a.Weights[pi] * a.Value * a.Lever
		all = append(all, scored{a.ID, s})
	}
	slices.SortStableFunc(all, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	var ids []string
	for i := 0; i < n && i < len(all); i++ {
		ids = append(ids, all[i].id)
	}
	return ids
}

func BenchmarkNewPolicy(b *testing.B) {
	p := benchPolicy(b, 50)
	s := NewStats()
	for _, a := range p.cat.actions {
		for _, g := range p.groups {
			s.Add(Key{Action: a.ID, Group: g}, Counts{Impressions: 3000, Conversions: 90})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		NewPolicy(p.cat, s)
	}
}
