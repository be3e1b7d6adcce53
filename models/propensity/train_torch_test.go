//go:build torch

package propensity

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/kairos-engine/kairos/models/features"
)

// On the simulated environment the learned model beats the per-action
// baseline on the most recent slice, is promoted, and its greedy policy
// earns more than the baseline's best single action and the random
// logging policy, judged both by IPW and by the simulator's true rates.
func TestTrainBeatsBaselineOnSimulation(t *testing.T) {
	ex, truth := simulate(20000, 42)
	m, rep, err := Train(ex, nil, TrainConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if !rep.Promoted {
		t.Fatalf("not promoted: %s", rep.Reason)
	}
	if rep.Model.AUC < rep.Baseline.AUC+0.05 {
		t.Fatalf("AUC %.4f barely above the baseline's %.4f", rep.Model.AUC, rep.Baseline.AUC)
	}
	// True value of the policies on the holdout's contexts.
	hold := ex[len(ex)-rep.Holdout:]
	truthHold := truth[len(truth)-rep.Holdout:]
	base := FitBaseline(ex[:len(ex)-rep.Holdout], 0)
	best := base.Best(m.Actions)
	probs := make([]float64, len(m.Actions))
	var vModel, vBase, vRandom, vOracle float64
	for i := range hold {
		m.Predict(&hold[i].Features, probs)
		k, _ := indexOf(simActions, m.Actions[argmax(probs)])
		kb, _ := indexOf(simActions, best)
		vModel += truthHold[i][k]
		vBase += truthHold[i][kb]
		for _, p := range truthHold[i] {
			vRandom += p / float64(len(simActions))
		}
		vOracle += slicesMax(truthHold[i])
	}
	n := float64(len(hold))
	t.Logf("true holdout CTR: model policy %.4f, baseline best action (%s) %.4f, random %.4f, oracle %.4f",
		vModel/n, best, vBase/n, vRandom/n, vOracle/n)
	if vModel <= vBase*1.2 || vModel <= vRandom*1.5 {
		t.Fatalf("model policy %.4f does not clearly beat baseline %.4f and random %.4f", vModel/n, vBase/n, vRandom/n)
	}
	// A second run against the promoted model as current is not promoted
	// unless it is better still, and reports the comparison.
	_, rep2, err := Train(ex, m, TrainConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Current == nil || rep2.Promoted {
		t.Fatalf("same data, same seed, current given: %s", rep2.Reason)
	}
}

// With outcomes independent of the contact, the learned model has nothing
// to learn beyond the per-action rates and must not be promoted.
func TestTrainNotPromotedWithoutSignal(t *testing.T) {
	ex, _ := simulate(6000, 7)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range ex {
		ex[i].Outcome = rng.Float64() < 0.03
	}
	_, rep, err := Train(ex, nil, TrainConfig{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if rep.Promoted {
		t.Fatalf("promoted on noise: %s", rep.Reason)
	}
}

// The pure-Go export computes what libtorch computes: for the network as
// trained (after some steps, in the middle of training) and for an MLP
// loaded back into libtorch.
func TestExportAgrees(t *testing.T) {
	ex, _ := simulate(3000, 9)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n, err := newNet(len(simActions), []int{32, 16}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	cfg := TrainConfig{}
	if err := cfg.defaults(ex); err != nil {
		t.Fatal(err)
	}
	mean, inv := standardisation(ex)
	m, err := n.export(features.Version, cfg.Actions, mean, inv)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := NewTorchMLP(m)
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	vs := make([]features.Vector, 500)
	for i := range vs {
		vs[i] = ex[i].Features
	}
	torchOut := make([]float64, len(vs)*len(cfg.Actions))
	if err := tm.PredictBatch(vs, torchOut); err != nil {
		t.Fatal(err)
	}
	goOut := make([]float64, len(torchOut))
	if err := m.PredictBatch(vs, goOut); err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i := range goOut {
		worst = max(worst, math.Abs(goOut[i]-torchOut[i]))
	}
	t.Logf("largest |pure Go − libtorch| over %d probabilities: %.2g", len(goOut), worst)
	if worst > 1e-5 {
		t.Fatalf("pure-Go MLP and libtorch disagree by %v", worst)
	}
	// And the trained model of Train, through its own export path.
	trained, _, err := Train(ex, nil, TrainConfig{Seed: 5, Epochs: 3})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := NewTorchMLP(trained)
	if err != nil {
		t.Fatal(err)
	}
	defer tt.Close()
	if err := tt.PredictBatch(vs, torchOut); err != nil {
		t.Fatal(err)
	}
	if err := trained.PredictBatch(vs, goOut); err != nil {
		t.Fatal(err)
	}
	for i := range goOut {
		if math.Abs(goOut[i]-torchOut[i]) > 1e-5 {
			t.Fatalf("trained model: pure Go %v, libtorch %v", goOut[i], torchOut[i])
		}
	}
}

func indexOf(xs []string, s string) (int, bool) {
	for i, x := range xs {
		if x == s {
			return i, true
		}
	}
	return -1, false
}

func slicesMax(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func benchTorch(b *testing.B, rows int) {
	m := randomMLP(b, 32)
	tm, err := NewTorchMLP(m)
	if err != nil {
		b.Fatal(err)
	}
	defer tm.Close()
	ex, _ := simulate(rows, 5)
	vs := make([]features.Vector, rows)
	for i := range ex {
		vs[i] = ex[i].Features
	}
	out := make([]float64, rows*len(simActions))
	b.ReportAllocs()
	for b.Loop() {
		if err := tm.PredictBatch(vs, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/contact")
}

func BenchmarkTorchPredict1(b *testing.B)        { benchTorch(b, 1) }
func BenchmarkTorchPredictBatch256(b *testing.B) { benchTorch(b, 256) }
