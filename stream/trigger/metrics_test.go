package trigger

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestFunnelMetrics follows one rule through its funnel on a registry.
func TestFunnelMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, "")
	eng, err := NewEngine(h.eng.rules, DefaultTopics(), NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	add := func(id, at string) {
		h.send(ev(id, "add_to_cart", c42, at, `{"sku":"S","price":10}`))
	}
	add("a1", "2026-03-10T10:00:00Z")
	h.idle("2026-03-10T11:00:00Z")    // emitted, 1h after the cause
	add("a2", "2026-03-10T12:00:00Z") // within the 1d cooldown: suppressed, nothing armed
	h.idle("2026-03-10T13:00:00Z")
	add("a3", "2026-03-11T20:30:00Z") // fires 21:30: quiet hours, deferred to 08:00
	h.idle("2026-03-11T21:30:00Z")
	h.idle("2026-03-12T08:00:00Z") // emitted
	h.expect("abandoned-cart,abandoned-cart", "funnel")

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string, labels ...string) *dto.Metric {
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		next:
			for _, m := range mf.GetMetric() {
				for i := 0; i+1 < len(labels); i += 2 {
					found := false
					for _, lp := range m.GetLabel() {
						if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
							found = true
						}
					}
					if !found {
						continue next
					}
				}
				return m
			}
		}
		t.Fatalf("no %s%v", name, labels)
		return nil
	}
	rule := []string{"rule", "abandoned-cart"}
	for _, c := range []struct {
		name string
		want float64
	}{
		// 3 adds, 2 waits fired, 1 deferred trigger fired.
		{"kairos_trigger_evaluated_total", 6},
		// 3 adds and 2 waits at fire time.
		{"kairos_trigger_matched_total", 5},
		{"kairos_trigger_deferred_total", 1},
		{"kairos_trigger_emitted_total", 2},
	} {
		if got := get(c.name, rule...).GetCounter().GetValue(); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if got := get("kairos_trigger_suppressed_total", "rule", "abandoned-cart", "reason", "cooldown").GetCounter().GetValue(); got != 1 {
		t.Errorf("suppressed{cooldown} = %v", got)
	}
	hist := get("kairos_trigger_delay_seconds", rule...).GetHistogram()
	// 3600 s and 1h+11h30 = 41400 s (cause 20:30, out at 08:00).
	if hist.GetSampleCount() != 2 || hist.GetSampleSum() != 3600+41400 {
		t.Errorf("delay histogram count %d sum %v", hist.GetSampleCount(), hist.GetSampleSum())
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "kairos_trigger_") || mf.GetHelp() == "" {
			t.Errorf("metric %s: name or help", mf.GetName())
		}
	}
}
