//go:build unix

package scoring_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
)

// benchCustomer is a known B2B customer in Amsterdam with fit traits,
// behaviour on six rules and 24 purchase days over two years.
func benchCustomer(b testing.TB, m *scoring.Models) *state.Contact {
	c := &state.Contact{Key: "c:42", ContactID: "42", EmailAddr: "ann@example.com", TimeZone: "Europe/Amsterdam",
		Traits: []state.Trait{{Name: "company_size", Value: "250"}, {Name: "country", Value: "NL"}, {Name: "industry", Value: "retail"}, {Name: "job_title", Value: "Head of Purchasing"}}}
	at := summaryAt - 20*86400e3
	for i, ev := range []struct {
		t state.EventType
		p propMap
	}{
		{state.EventPageView, propMap{"url": "/pricing"}},
		{state.EventPageView, propMap{"url": "/case-studies/acme"}},
		{state.EventProductView, propMap{}},
		{state.EventAddToCart, propMap{}},
		{state.EventEmailOpened, propMap{}},
		{state.EventEmailClicked, propMap{}},
		{state.EventFormSubmit, propMap{"form": "whitepaper-download"}},
	} {
		m.Lead.Apply(&c.Scores, ev.t, at+int64(i)*3600e3, ev.p, c)
	}
	day := int32(summaryAt / 86400e3)
	for i := range 24 {
		c.Purchases = append(c.Purchases, state.PurchaseDay{Day: day - 720 + int32(i)*30, Orders: 1 + uint16(i%2), Spend: 2000 + int64(i)*150})
		c.Orders.Count += int32(1 + i%2)
	}
	return c
}

// BenchmarkEvaluate is the read-time cost of a full scores object: lead
// score with its top contributions, RFM, P(alive), expected purchases,
// order value and 12-month CLV.
func BenchmarkEvaluate(b *testing.B) {
	m := newModels(b, scoring.Config{}, fitted())
	c := benchCustomer(b, m)
	top := make([]lead.Contribution, 0, m.Lead.Top())
	b.ReportAllocs()
	var sc scoring.Scores
	cpu := cpuTime()
	for b.Loop() {
		sc = m.Evaluate(c, summaryAt, top)
	}
	reportCPU(b, cpu)
	if !sc.HasChurn || len(sc.Lead.Top) == 0 {
		b.Fatalf("incomplete scores: %+v", sc)
	}
}

// cpuTime is the process's user and system CPU time: on a shared machine
// it measures the work per operation where wall time also counts the
// time other processes held the cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
