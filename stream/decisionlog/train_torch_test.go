//go:build torch

package decisionlog

import (
	"path/filepath"
	"testing"
)

// TestTrainPromotes: with the torch build, a run on a log with a signal
// the baseline cannot see (the cart reminder works on open carts only)
// trains, beats the baseline, writes the model; a second run on the same
// log does not beat the model it wrote, and keeps it.
func TestTrainPromotes(t *testing.T) {
	b := startBroker(t)
	produce(t, b.Addr(), synthLog(t, 6000, 2))
	out := filepath.Join(t.TempDir(), "propensity.mlp")
	cfg := Config{Read: ReadConfig{Brokers: []string{b.Addr()}}, Out: out}
	cfg.Train.Seed = 1
	res, err := Train(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%s", res.Stats, res.Report)
	if !res.Report.Promoted || !res.Written {
		t.Fatalf("not promoted: %s", res.Report)
	}
	m, err := ReadModel(out)
	if err != nil || m == nil {
		t.Fatalf("written model: %v", err)
	}
	if len(m.Actions) != len(synthActions) {
		t.Fatalf("actions %v", m.Actions)
	}
	if !(res.Report.ModelPolicy.IPW > res.Baseline.BaselinePolicy.IPW) {
		t.Fatalf("learned policy %+v not above the baseline's %+v", res.Report.ModelPolicy, res.Baseline.BaselinePolicy)
	}
	res, err = Train(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.Current == nil || res.Report.Promoted || res.Written {
		t.Fatalf("second run on the same log: %s", res.Report)
	}
}
