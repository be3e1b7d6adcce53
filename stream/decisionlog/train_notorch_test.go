//go:build !torch

package decisionlog

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kairos-engine/kairos/models/propensity"
)

// TestTrainPure: without the torch build, a run reads the log, builds the
// examples, judges the baseline, says training needs torch, and writes
// nothing.
func TestTrainPure(t *testing.T) {
	b := startBroker(t)
	produce(t, b.Addr(), synthLog(t, 3000, 1))
	out := filepath.Join(t.TempDir(), "propensity.mlp")
	res, err := Train(t.Context(), Config{Read: ReadConfig{Brokers: []string{b.Addr()}}, Out: out})
	if !errors.Is(err, propensity.ErrTorchUnavailable) {
		t.Fatalf("err %v, want ErrTorchUnavailable", err)
	}
	// 3000 decisions 10 minutes apart: the last 7 days' (1008) are still
	// open, but for those already converted.
	if st := res.Stats; st.Decisions != 3000 || st.Examples+st.Pending != 3000 || st.Pending < 850 || st.Pending > 7*24*6 || st.Positives == 0 {
		t.Fatalf("stats %+v", res.Stats)
	}
	if res.Baseline == nil || res.Baseline.BaselinePolicy == nil || res.Baseline.Holdout != (res.Stats.Examples+2)/5 {
		t.Fatalf("baseline %+v", res.Baseline)
	}
	// Uniform logging: the logged rate is the mean rate, and the baseline's
	// best single action (cart-reminder, 0.123 on average) beats it.
	if !(res.Baseline.BaselinePolicy.IPW > res.Baseline.LoggedRate) || res.Baseline.Best != "cart-reminder" {
		t.Fatalf("baseline policy %+v vs logged %v, best %s", res.Baseline.BaselinePolicy, res.Baseline.LoggedRate, res.Baseline.Best)
	}
	if res.Written {
		t.Fatal("written without training")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("model file: %v", err)
	}
}
