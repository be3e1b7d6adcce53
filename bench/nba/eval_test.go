package main

import (
	"math"
	"os"
	"testing"
)

// TestRegret is the next-best-action evaluation: in simulated shops with
// known conversion rates per action and stage, Thompson sampling's
// cumulative regret must be a small fraction of a uniformly random
// policy's and must grow sublinearly (it learns).
func TestRegret(t *testing.T) {
	steps := []int{2000, 10000, 20000}
	mean, conv, err := regretTable(2, steps, 100)
	if err != nil {
		t.Fatal(err)
	}
	l, r := mean[policyLearning], mean[policyRandom]
	t.Logf("regret Thompson %v, random %v; conversions %v", l, r, conv)
	if l[2] > 0.2*r[2] {
		t.Errorf("Thompson regret %.0f after %d decisions is not clearly below random's %.0f", l[2], steps[2], r[2])
	}
	early := l[0] / float64(steps[0])
	late := (l[2] - l[1]) / float64(steps[2]-steps[1])
	if late > early/3 {
		t.Errorf("regret per decision %.4f late vs %.4f early: not learning", late, early)
	}
	if o := mean[policyOracle]; o[2] != 0 {
		t.Errorf("the oracle has regret %v", o[2])
	}
}

// TestOBDReplay runs the off-policy replay on the Open Bandit Dataset
// sample when it is present. The estimator must give a uniformly random
// policy exactly the logged CTR, and the learning policy must not be
// significantly worse than the logged random policy.
func TestOBDReplay(t *testing.T) {
	// ../shared/data beside the project: three levels up from this
	// package in a checkout, four in a worktree under /work/wt.
	dir := ""
	for _, d := range []string{"../../../shared/data/obd", "../../../../shared/data/obd"} {
		if _, err := os.Stat(d); err == nil {
			dir = d
			break
		}
	}
	if dir == "" {
		t.Skip("Open Bandit Dataset not found at ../shared/data/obd beside the project (see its README.md)")
	}
	if testing.Short() {
		t.Skip("replay takes a few seconds")
	}
	rows, items, err := readOBD(dir, "random", "men")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 10000 || items != 34 {
		t.Fatalf("%d rows, %d items; want 10000 and 34", len(rows), items)
	}
	clicks, uniform := 0, 0.0
	for _, r := range rows {
		if r.click {
			clicks++
			uniform += (1 / float64(items)) / r.propensity
		}
	}
	ctr := float64(clicks) / float64(len(rows))
	if math.Abs(uniform/float64(len(rows))-ctr) > 1e-12 {
		t.Fatalf("IPW of the uniform policy %v != logged CTR %v", uniform/float64(len(rows)), ctr)
	}
	cat, err := obdCatalogue(items)
	if err != nil {
		t.Fatal(err)
	}
	res := replay(cat, rows, nil, 1, 100)
	t.Logf("logged CTR %.4f; Thompson IPW %.4f ± %.4f; matched %d rows, %d clicks", ctr, res.ipw, 1.96*res.ipwSE, res.matched, res.clicks)
	if res.matched < 200 || res.matched > 400 {
		t.Errorf("matched %d rows; a 1-in-34 match rate gives about 294", res.matched)
	}
	if res.ipw < ctr-3*res.ipwSE {
		t.Errorf("Thompson IPW %.4f is significantly below the random policy's %.4f", res.ipw, ctr)
	}
}

// TestSendTime is the send-time evaluation: on a synthetic population with
// known preferred hours, the model's chosen hour beats the best single
// global hour clearly, does at least as well as the contact's own history
// without the prior, and approaches the oracle as history grows.
func TestSendTime(t *testing.T) {
	lengths := []int{0, 2, 20, 100}
	rows, fit, err := sendTimeTable(4000, 7, lengths)
	if err != nil {
		t.Skip("time zones unavailable:", err)
	}
	t.Logf("fit: β %.1f γ %.1f rate %.3f", fit.Strength, fit.DayStrength, fit.Rate)
	closed := make([]float64, len(rows))
	for i, r := range rows {
		closed[i] = (r.model - r.global) / (r.oracle - r.global)
		t.Logf("%3d events: global %.3f own %.3f model %.3f oracle %.3f (gap closed %.2f)", r.events, r.global, r.ownOnly, r.model, r.oracle, closed[i])
		if r.events > 0 && r.model < r.ownOnly {
			t.Errorf("%d events: model %.3f below own history alone %.3f", r.events, r.model, r.ownOnly)
		}
		if i > 0 && closed[i] <= closed[i-1] {
			t.Errorf("%d events: gap closed %.2f did not grow from %.2f", r.events, closed[i], closed[i-1])
		}
	}
	if math.Abs(rows[0].model/rows[0].global-1) > 0.02 {
		t.Errorf("without history the model (%.3f) should be the global hour (%.3f)", rows[0].model, rows[0].global)
	}
	if rows[1].model < 1.2*rows[1].global {
		t.Errorf("2 events: model %.3f not clearly above the global hour %.3f", rows[1].model, rows[1].global)
	}
	if rows[2].model < 1.4*rows[2].global {
		t.Errorf("20 events: model %.3f not clearly above the global hour %.3f", rows[2].model, rows[2].global)
	}
	if closed[3] < 0.85 {
		t.Errorf("100 events: only %.0f%% of the gap to the oracle closed", 100*closed[3])
	}
}
