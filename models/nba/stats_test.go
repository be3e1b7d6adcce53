package nba

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func randomStats(r *rand.Rand) *Stats {
	s := NewStats()
	actions := []string{"a", "b", "c", "welcome-offer"}
	groups := []string{"homepage/lead", "cart/customer", "email/other"}
	for range r.IntN(12) {
		imp := r.Uint64N(1000)
		k := Key{Action: actions[r.IntN(len(actions))], Group: groups[r.IntN(len(groups))], Control: r.IntN(4) == 0}
		s.Add(k, Counts{Impressions: imp, Conversions: r.Uint64N(imp + 1), Dismissals: r.Uint64N(10)})
	}
	for range r.IntN(5) {
		s.AddDecision(r.IntN(3) == 0)
	}
	return s
}

func merged(parts ...*Stats) *Stats {
	out := NewStats()
	for _, p := range parts {
		out.Merge(p)
	}
	return out
}

// TestStatsMerge checks the property the multi-instance design relies on:
// merging partition summaries in any order or grouping gives one result.
func TestStatsMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		a, b, c := randomStats(r), randomStats(r), randomStats(r)
		ab := merged(a, b)
		if !ab.Equal(merged(b, a)) {
			t.Fatalf("case %d: merge is not commutative", i)
		}
		left := merged(ab, c)
		right := merged(a, merged(b, c))
		if !left.Equal(right) {
			t.Fatalf("case %d: merge is not associative", i)
		}
		if !merged(a, NewStats()).Equal(a) {
			t.Fatalf("case %d: empty stats are not neutral", i)
		}
		// Merge does not alias its argument.
		before := b.Clone()
		ab.Add(Key{Action: "a", Group: "g"}, Counts{Impressions: 1})
		if !b.Equal(before) {
			t.Fatalf("case %d: merge aliased its input", i)
		}
	}
}

func TestStatsEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		s := randomStats(r)
		b, _ := s.AppendBinary(nil)
		b2, _ := s.Clone().AppendBinary(nil)
		if string(b) != string(b2) {
			t.Fatal("encoding is not deterministic")
		}
		var back Stats
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if !back.Equal(s) {
			t.Fatal("round trip changed the stats")
		}
	}
	bad := [][]byte{nil, {2}, {1, 0, 0, 1}, {1, 0, 0, 1, 1, 'a', 1, 'g', 0, 1, 2, 0}, {1, 0, 0, 0, 9}}
	for i, in := range bad {
		var s Stats
		if err := s.UnmarshalBinary(in); !errors.Is(err, ErrBadStats) {
			t.Errorf("bad input %d: %v", i, err)
		}
	}
}

func FuzzStats(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 3 {
		b, _ := randomStats(r).AppendBinary(nil)
		f.Add(b)
	}
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Stats
		if err := s.UnmarshalBinary(in); err != nil {
			return
		}
		out, _ := s.AppendBinary(nil)
		var back Stats
		if err := back.UnmarshalBinary(out); err != nil || !back.Equal(&s) {
			t.Fatalf("re-encoding decoded stats failed: %v", err)
		}
	})
}

func TestBetaSampler(t *testing.T) {
	tests := []Beta{{1, 1}, {0.5, 0.5}, {2, 30}, {60, 4000}, {300, 700}, {0.2, 5}}
	for _, b := range tests {
		r := rng{s: 42}
		const n = 100000
		var sum, sum2 float64
		for range n {
			x := r.beta(b.Alpha, b.Beta)
			if !(x >= 0 && x <= 1) {
				t.Fatalf("Beta(%v, %v) drew %v", b.Alpha, b.Beta, x)
			}
			sum += x
			sum2 += x * x
		}
		mean := sum / n
		variance := sum2/n - mean*mean
		ab := b.Alpha + b.Beta
		wantVar := b.Alpha * b.Beta / (ab * ab * (ab + 1))
		if se := math.Sqrt(wantVar / n); math.Abs(mean-b.Mean()) > 5*se {
			t.Errorf("Beta(%v, %v): mean %v, want %v ± %v", b.Alpha, b.Beta, mean, b.Mean(), 5*se)
		}
		if math.Abs(variance-wantVar)/wantVar > 0.05 {
			t.Errorf("Beta(%v, %v): variance %v, want %v", b.Alpha, b.Beta, variance, wantVar)
		}
	}
}

func TestReport(t *testing.T) {
	p := mustPolicy(t, `version: v9
control: {share: 0.1, baseline: random}
actions:
  - {id: a, placements: [homepage], value: 1}
  - {id: b, placements: [homepage], value: 1}
`, nil)
	s := NewStats()
	s.Add(Key{Action: "a", Group: "homepage/lead"}, Counts{Impressions: 900, Conversions: 90})
	s.Add(Key{Action: "a", Group: "homepage/customer"}, Counts{Impressions: 100, Conversions: 10, Dismissals: 3})
	s.Add(Key{Action: "a", Group: "homepage/lead", Control: true}, Counts{Impressions: 200, Conversions: 10})
	s.Add(Key{Action: "b", Group: "homepage/lead"}, Counts{Impressions: 50})
	s.Add(Key{Action: "gone", Group: "homepage/lead"}, Counts{Impressions: 50, Conversions: 50})
	for range 1050 {
		s.AddDecision(false)
	}
	for range 200 {
		s.AddDecision(true)
	}
	r := NewReport(p.Catalogue(), s, 0.95)
	if r.Catalogue != "v9" || r.Baseline != "random" || len(r.Actions) != 2 {
		t.Fatalf("report %+v", r)
	}
	a := r.Actions[0]
	if a.Learning.Impressions != 1000 || a.Learning.Conversions != 100 || a.Learning.Dismissals != 3 || a.Learning.Rate != 0.1 {
		t.Fatalf("learning arm %+v", a.Learning)
	}
	if !(a.Learning.Lower < 0.1 && 0.1 < a.Learning.Upper) || a.Learning.Upper-a.Learning.Lower > 0.05 {
		t.Fatalf("interval %+v", a.Learning)
	}
	if a.Uplift == nil || math.Abs(*a.Uplift-1) > 1e-9 {
		t.Fatalf("uplift %v, want 1 (0.10 vs 0.05)", a.Uplift)
	}
	if r.Actions[1].Uplift != nil {
		t.Fatal("uplift without control data")
	}
	if r.Learning.Impressions != 1050 || r.Learning.Conversions != 100 || r.Control.Conversions != 10 {
		t.Fatalf("overall %+v %+v", r.Learning, r.Control)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
}

func TestParseOutcome(t *testing.T) {
	cat, _ := DefaultCatalogue()
	id := NewDecisionID()
	tests := []struct {
		in, err string
	}{
		{`{"decision_id":"` + id.String() + `","action_id":"cart-reminder","outcome":"order","timestamp":"2026-11-24T10:00:00Z","value":59.9}`, ""},
		{`{"action_id":"cart-reminder","outcome":"click"}`, ""},
		{`{"action_id":"cart-reminder","outcome":"buy"}`, "outcome must be click, order or dismiss"},
		{`{"action_id":"nope","outcome":"click"}`, `unknown action_id "nope"`},
		{`{"outcome":"click"}`, "action_id is required"},
		{`{"action_id":"cart-reminder"}`, "outcome is required"},
		{`{"action_id":"cart-reminder","outcome":"click","extra":1}`, "unknown field"},
		{`{"action_id":"cart-reminder","outcome":"click","value":-1}`, "non-negative"},
		{`{"decision_id":"xyz","action_id":"cart-reminder","outcome":"click"}`, "decision_id must be"},
		{`{"action_id":"cart-reminder","outcome":"click"} {}`, "trailing data"},
		{`[`, "bad outcome"},
	}
	for _, tt := range tests {
		o, err := ParseOutcome([]byte(tt.in), cat)
		if tt.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.in, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrBadOutcome) || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err %v, want %q (got %+v)", tt.in, err, tt.err, o)
		}
	}
}

func FuzzParseOutcome(f *testing.F) {
	f.Add([]byte(`{"decision_id":"00112233445566778899aabbccddeeff","action_id":"a","outcome":"click"}`))
	f.Add([]byte(`{"action_id":"a","outcome":"dismiss","value":1e308}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		o, err := ParseOutcome(in, nil)
		if err != nil {
			return
		}
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("a parsed outcome does not marshal: %v", err)
		}
		if _, err := ParseOutcome(b, nil); err != nil {
			t.Fatalf("re-parse: %v (%s)", err, b)
		}
	})
}

func TestRecord(t *testing.T) {
	cat, _ := DefaultCatalogue()
	p := NewPolicy(cat, nil)
	x := baseContext()
	out := make([]Choice, 3)
	d := p.Decide(x, nil, DecisionID{5}, out)
	rec := p.Record(d, testNow, "42", "")
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var back DecisionRecord
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.DecisionID != d.ID || len(back.Choices) != 3 || back.Choices[0].Propensity != d.Choices[0].Propensity || back.Group != d.Group {
		t.Fatalf("record round trip: %s", b)
	}
	if !strings.Contains(string(b), `"decision_id":"05000000000000000000000000000000"`) {
		t.Fatalf("decision id not hex text: %s", b)
	}
	reason := string(d.Choices[0].AppendReason(nil, d.Policy))
	if !strings.Contains(reason, "thompson: p=") {
		t.Fatalf("reason %q", reason)
	}
}
