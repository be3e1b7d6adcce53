//go:build unix

package fold

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
)

// BenchmarkApplyScored is BenchmarkApply's event mix (browsing, cart,
// email) with and without models: the difference is what lead scoring,
// the daily segment snapshot and the lapsed check add to the fold. The
// contact is a customer (so the snapshot and churn paths run) with a
// fitted BG/NBD.
func BenchmarkApplyScored(b *testing.B) {
	pop := scoring.Population{BG: churn.BGNBD{R: 0.2426, Alpha: 4.4136, A: 0.7929, B: 2.4259}, BGFitted: true,
		GG: churn.GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}, GGFitted: true}
	base := ms("2026-01-01T10:00:00Z")
	evs := []event.Event{
		{Type: state.EventPageView, URL: "/pricing", Category: "shoes"},
		{Type: state.EventProductView, SKU: "S1", Category: "shoes"},
		{Type: state.EventAddToCart, SKU: "S1", Category: "shoes", Quantity: 1, Price: 1999},
		{Type: state.EventEmailOpened, Campaign: "weekly"},
		{Type: state.EventProductView, SKU: "S2", Category: "bags"},
	}
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = "ev-" + strconv.Itoa(i)
	}
	for _, bc := range []struct {
		name   string
		models bool
	}{{"without", false}, {"with", true}} {
		b.Run(bc.name, func(b *testing.B) {
			f := NewFolder()
			if bc.models {
				f.SetModels(scoringModels(b, pop))
			}
			c := &state.Contact{Key: "c:c1", ContactID: "c1", TimeZone: "Europe/Amsterdam"}
			for i := range 12 {
				f.Apply(c, &event.Event{ID: "o" + strconv.Itoa(i), Type: state.EventOrderPlaced, ContactID: "c1", OrderID: strconv.Itoa(i),
					Time: base - int64(12-i)*30*86400e3, Total: 5000, Currency: "EUR"})
			}
			b.ReportAllocs()
			cpu := cpuTime()
			for i := 0; b.Loop(); i++ {
				e := evs[i%len(evs)]
				e.ID = ids[i%len(ids)]
				// An event a second, as BenchmarkApply: the customer stays
				// alive (every event runs the P(alive) check) and a new
				// local day, with its segment snapshot, comes every 86,400.
				e.Time = base + int64(i)*1000
				f.Apply(c, &e)
			}
			reportCPU(b, cpu)
		})
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
