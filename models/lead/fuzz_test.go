package lead

import (
	"errors"
	"testing"

	"github.com/kairos-engine/kairos/state"
)

// FuzzParsePlan: no input panics ParsePlan, every error is a *PlanError,
// and a plan that parses can be applied and scored.
func FuzzParsePlan(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte(testPlan))
	f.Add([]byte("version: v1\nlifecycle: {mql: 50, sql: 90}\nbehaviour: [{group: g, half_life: 1d, rules: [{id: r, event: page_view, when: {url: {contains: x, gte: 3}}, points: 1, cap: {max: 1, per: 1h}}]}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("version: v1\nbehaviour: &b [*b]\n"))
	f.Add([]byte("--- !!map\n? [a]\n: b\n"))
	f.Add([]byte("version: v1\nlifecycle: {mql: .nan, sql: .inf}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlan("fuzz.yaml", data)
		if err != nil {
			var pe *PlanError
			if !errors.As(err, &pe) || p != nil {
				t.Fatalf("error %v (%T), plan %v", err, err, p)
			}
			return
		}
		var s state.Scores
		c := &state.Contact{EmailAddr: "a@b.c", Traits: traits("job_title", "CTO")}
		for typ := state.EventType(0); typ <= state.NumEventTypes; typ++ {
			p.Apply(&s, typ, t0, props{"url": "/pricing", "form": "request-demo", "type": "hard"}, c)
		}
		p.Score(&s, c, t0+day)
	})
}
