package scoring_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
)

var summaryAt = instant("2026-06-01T12:00:00Z").UnixMilli()

// randomContact is a visitor, a lead with some behaviour, or a customer
// with up to 12 purchase days in the two years before summaryAt (some of
// them after it, which the summary must ignore).
func randomContact(rng *rand.Rand, m *scoring.Models, i int) *state.Contact {
	zones := []string{"", "Europe/Amsterdam", "America/Chicago", "Asia/Kolkata"}
	c := &state.Contact{Key: state.Key(fmt.Sprintf("a:%d", i)), TimeZone: zones[rng.IntN(len(zones))]}
	if rng.IntN(4) > 0 {
		c.Key, c.ContactID = state.Key(fmt.Sprintf("c:%d", i)), fmt.Sprint(i)
	}
	at := summaryAt - rng.Int64N(60)*86400e3
	for range rng.IntN(4) {
		m.Lead.Apply(&c.Scores, state.EventFormSubmit, at, propMap{"form": "request-demo"}, c)
	}
	if rng.IntN(3) == 0 {
		return c
	}
	atDay := int32(summaryAt / 86400e3)
	for range 1 + rng.IntN(12) {
		d := atDay - 730 + rng.Int32N(760)
		p := state.PurchaseDay{Day: d, Orders: uint16(1 + rng.IntN(3)), Spend: rng.Int64N(40000)}
		if rng.IntN(10) == 0 {
			p.Orders, p.Spend = 0, 0 // cancelled
		}
		i := 0
		for i < len(c.Purchases) && c.Purchases[i].Day < d {
			i++
		}
		if i < len(c.Purchases) && c.Purchases[i].Day == d {
			continue
		}
		c.Purchases = append(c.Purchases[:i], append([]state.PurchaseDay{p}, c.Purchases[i:]...)...)
		c.Orders.Count += int32(p.Orders)
	}
	return c
}

func summarize(t testing.TB, m *scoring.Models, cs []*state.Contact) *scoring.Summary {
	t.Helper()
	s := scoring.NewSummary(summaryAt)
	s.Partitions = 1
	for _, c := range cs {
		if err := s.Add(c, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func merged(t testing.TB, parts ...*scoring.Summary) *scoring.Summary {
	t.Helper()
	s := scoring.NewSummary(summaryAt)
	for _, p := range parts {
		if err := s.Merge(p); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// sameSummary compares two summaries of the same contacts: counts and
// histogram counts exactly, sums and log-likelihoods to rounding, RFM
// quintiles within the sketch's relative accuracy.
func sameSummary(t *testing.T, what string, a, b *scoring.Summary) {
	t.Helper()
	if a.Partitions != b.Partitions || a.Contacts != b.Contacts || a.Skipped != b.Skipped || a.Stages != b.Stages || a.Segments != b.Segments {
		t.Errorf("%s: counts differ: %d/%d/%d %v %v vs %d/%d/%d %v %v", what, a.Partitions, a.Contacts, a.Skipped, a.Stages, a.Segments,
			b.Partitions, b.Contacts, b.Skipped, b.Stages, b.Segments)
	}
	for _, h := range []struct {
		name string
		x, y scoring.Histogram
	}{{"lead", a.Lead, b.Lead}, {"p_alive", a.PAlive, b.PAlive}, {"clv", a.CLV, b.CLV}} {
		if h.x.N != h.y.N || fmt.Sprint(h.x.Counts) != fmt.Sprint(h.y.Counts) || !near(h.x.Sum, h.y.Sum, 1e-9) {
			t.Errorf("%s: %s histogram %v %v %v vs %v %v %v", what, h.name, h.x.N, h.x.Counts, h.x.Sum, h.y.N, h.y.Counts, h.y.Sum)
		}
	}
	if a.Churn.Len() != b.Churn.Len() || a.Churn.RepeatCustomers() != b.Churn.RepeatCustomers() || a.Churn.SpendCustomers() != b.Churn.SpendCustomers() {
		t.Errorf("%s: churn customers %d/%d/%d vs %d/%d/%d", what, a.Churn.Len(), a.Churn.RepeatCustomers(), a.Churn.SpendCustomers(),
			b.Churn.Len(), b.Churn.RepeatCustomers(), b.Churn.SpendCustomers())
	}
	if x, y := a.Churn.BGNBDLogLikelihood(cdnowBG), b.Churn.BGNBDLogLikelihood(cdnowBG); !near(x, y, 1e-12) {
		t.Errorf("%s: BG/NBD log-likelihood %v vs %v", what, x, y)
	}
	if x, y := a.Churn.GammaGammaLogLikelihood(cdnowGG), b.Churn.GammaGammaLogLikelihood(cdnowGG); !near(x, y, 1e-12) {
		t.Errorf("%s: Gamma-Gamma log-likelihood %v vs %v", what, x, y)
	}
	if a.RFM.Len() != b.RFM.Len() {
		t.Errorf("%s: RFM customers %d vs %d", what, a.RFM.Len(), b.RFM.Len())
	}
	qa, qb := a.RFM.Quintiles(), b.RFM.Quintiles()
	for k := range 4 {
		for _, d := range []struct {
			name string
			x, y float64
		}{{"R", qa.R[k], qb.R[k]}, {"F", qa.F[k], qb.F[k]}, {"M", qa.M[k], qb.M[k]}} {
			if math.Abs(d.x-d.y) > 2*rfm.RelativeAccuracy*math.Max(d.x, d.y) {
				t.Errorf("%s: %s[%d] %v vs %v", what, d.name, k, d.x, d.y)
			}
		}
	}
}

// TestSummaryMergeProperties: for random contact sets split at random
// into three partitions, Merge is associative and commutative and equals
// the summary of all contacts in one partition (but for the partition
// count).
func TestSummaryMergeProperties(t *testing.T) {
	m := newModels(t, scoring.Config{}, fitted())
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			n := 50 + rng.IntN(300)
			var all []*state.Contact
			var parts [3][]*state.Contact
			for i := range n {
				c := randomContact(rng, m, i)
				all = append(all, c)
				k := rng.IntN(3)
				parts[k] = append(parts[k], c)
			}
			a, b, c := summarize(t, m, parts[0]), summarize(t, m, parts[1]), summarize(t, m, parts[2])
			left := merged(t, merged(t, a, b), c)
			right := merged(t, a, merged(t, b, c))
			swapped := merged(t, c, b, a)
			sameSummary(t, "(a+b)+c vs a+(b+c)", left, right)
			sameSummary(t, "a+b+c vs c+b+a", left, swapped)
			one := summarize(t, m, all)
			one.Partitions = 3
			sameSummary(t, "merge vs one", left, one)
			if left.Contacts != uint64(n) {
				t.Errorf("contacts %d, want %d", left.Contacts, n)
			}
			// Merging leaves its argument alone.
			before := a.Contacts
			merged(t, a, b)
			if a.Contacts != before {
				t.Error("Merge changed its argument")
			}
		})
	}
}

// TestSummaryAdd counts one contact of each kind by hand.
func TestSummaryAdd(t *testing.T) {
	m := newModels(t, scoring.Config{}, fitted())
	day := int32(summaryAt / 86400e3)
	visitor := &state.Contact{Key: "a:v"}
	m.Lead.Apply(&visitor.Scores, state.EventPageView, summaryAt, propMap{}, visitor)
	leadC := &state.Contact{Key: "c:l", ContactID: "l"}
	m.Lead.Apply(&leadC.Scores, state.EventFormSubmit, summaryAt, propMap{"form": "request-demo"}, leadC)
	buyer := &state.Contact{Key: "c:b", ContactID: "b", Orders: state.Orders{Count: 2},
		Purchases: []state.PurchaseDay{{Day: day - 100, Orders: 1, Spend: 1000}, {Day: day - 10, Orders: 1, Spend: 3000}}}
	future := &state.Contact{Key: "c:f", ContactID: "f", Orders: state.Orders{Count: 1},
		Purchases: []state.PurchaseDay{{Day: day + 10, Orders: 1, Spend: 1000}}}
	s := summarize(t, m, []*state.Contact{visitor, leadC, buyer, future})
	if s.Contacts != 4 || s.Skipped != 0 {
		t.Errorf("contacts %d skipped %d", s.Contacts, s.Skipped)
	}
	// The future buyer is a customer by its order count (the lead stage
	// does not look at ?at=) but not a buyer at summaryAt.
	wantStages := [scoring.NumStages]uint64{lead.StageVisitor: 1, lead.StageLead: 1, lead.StageCustomer: 2}
	if s.Stages != wantStages {
		t.Errorf("stages %v, want %v", s.Stages, wantStages)
	}
	if s.RFM.Len() != 1 || s.Churn.Len() != 1 || s.Churn.RepeatCustomers() != 1 {
		t.Errorf("RFM customers %d churn customers %d repeat %d, want 1 1 1", s.RFM.Len(), s.Churn.Len(), s.Churn.RepeatCustomers())
	}
	var segs uint64
	for _, n := range s.Segments {
		segs += n
	}
	sc := m.Evaluate(buyer, summaryAt, nil)
	if segs != 1 || s.Segments[sc.RFM.Segment] != 1 {
		t.Errorf("segments %v, want one %v", s.Segments, sc.RFM.Segment)
	}
	// Lead scores of the known: 30 (lead), 0 (buyer), 0 (future buyer).
	if s.Lead.N != 3 || !near(s.Lead.Sum, 30, 1e-9) {
		t.Errorf("lead histogram n %d sum %v", s.Lead.N, s.Lead.Sum)
	}
	if s.PAlive.N != 1 || !near(s.PAlive.Sum, sc.Churn.PAlive, 1e-12) || s.CLV.N != 1 || !near(s.CLV.Sum, sc.Churn.CLV, 1e-12) {
		t.Errorf("p_alive %d %v, clv %d %v; want %v %v", s.PAlive.N, s.PAlive.Sum, s.CLV.N, s.CLV.Sum, sc.Churn.PAlive, sc.Churn.CLV)
	}
	// P(alive) ≤ 1 falls in the bucket of its upper bound.
	var total uint64
	for _, n := range s.PAlive.Counts {
		total += n
	}
	if total != 1 || s.PAlive.Counts[len(s.PAlive.Counts)-1] != 0 {
		t.Errorf("p_alive counts %v", s.PAlive.Counts)
	}
}

// TestObserve: Observe adds exactly what Evaluate computes.
func TestObserve(t *testing.T) {
	m := newModels(t, scoring.Config{}, fitted())
	day := int32(summaryAt / 86400e3)
	c := &state.Contact{Key: "c:b", TimeZone: "Asia/Kolkata", Purchases: []state.PurchaseDay{
		{Day: day - 300, Orders: 1, Spend: 1000}, {Day: day - 200, Orders: 0}, {Day: day - 20, Orders: 2, Spend: 3000}}}
	pop, sum := rfm.NewPopulation(), churn.Summary{}
	if err := scoring.Observe(c, summaryAt, scoring.Config{}, pop, &sum); err != nil {
		t.Fatal(err)
	}
	sc := m.Evaluate(c, summaryAt, nil)
	var want churn.Summary
	if err := want.Add(sc.Churn.Customer); err != nil {
		t.Fatal(err)
	}
	if pop.Len() != 1 || sum.Len() != 1 || sum.BGNBDLogLikelihood(cdnowBG) != want.BGNBDLogLikelihood(cdnowBG) {
		t.Errorf("observed %d/%d, log-likelihood %v want %v", pop.Len(), sum.Len(), sum.BGNBDLogLikelihood(cdnowBG), want.BGNBDLogLikelihood(cdnowBG))
	}
	if err := scoring.Observe(c, summaryAt-400*86400e3, scoring.Config{}, pop, &sum); err != nil || pop.Len() != 1 || sum.Len() != 1 {
		t.Errorf("an instant before the first purchase added something: %v %d %d", err, pop.Len(), sum.Len())
	}
}
