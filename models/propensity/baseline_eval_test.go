package propensity

import (
	"errors"
	"math"
	"testing"
)

func TestEvaluateBaseline(t *testing.T) {
	ex, truth := simulate(4000, 11)
	r, err := EvaluateBaseline(ex, TrainConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Examples != 4000 || r.Holdout != 800 || r.Train != 3200 {
		t.Fatalf("sizes: %+v", r)
	}
	if !(r.Baseline.LogLoss > 0 && r.Baseline.LogLoss < 0.5) || math.IsNaN(r.Baseline.AUC) {
		t.Fatalf("baseline metrics %+v", r.Baseline)
	}
	if r.BaselinePolicy == nil || r.BaselinePolicy.N != 800 {
		t.Fatalf("policy estimate %+v", r.BaselinePolicy)
	}
	// The best action by the baseline has the highest mean true rate
	// over the contacts, give or take noise: its IPW estimate is near it.
	idx := -1
	for i, a := range simActions {
		if a == r.Best {
			idx = i
		}
	}
	var mean float64
	for _, p := range truth[len(truth)-800:] {
		mean += p[idx] / 800
	}
	if d := math.Abs(r.BaselinePolicy.IPW - mean); d > 4*r.BaselinePolicy.StdErr+0.005 {
		t.Fatalf("IPW %v ± %v, true %v", r.BaselinePolicy.IPW, r.BaselinePolicy.StdErr, mean)
	}
	if _, err := EvaluateBaseline(ex[:50], TrainConfig{}); !errors.Is(err, ErrTooFewExamples) {
		t.Fatalf("50 examples: %v", err)
	}
	for i := range ex {
		ex[i].Propensity = 0
	}
	if r, err := EvaluateBaseline(ex, TrainConfig{}); err != nil || r.BaselinePolicy != nil {
		t.Fatalf("without propensities: %v %+v", err, r)
	}
}
