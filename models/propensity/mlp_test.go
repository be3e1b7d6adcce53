package propensity

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kairos-engine/kairos/models/features"
)

// randomMLP is an MLP with random weights: enough to test inference and
// encoding without training.
func randomMLP(t testing.TB, hidden ...int) *MLP {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	dims := append(append([]int{features.Len}, hidden...), len(simActions))
	var layers []Layer
	for k := 0; k+1 < len(dims); k++ {
		l := Layer{In: dims[k], Out: dims[k+1], W: make([]float32, dims[k]*dims[k+1]), B: make([]float32, dims[k+1])}
		for i := range l.W {
			l.W[i] = float32(rng.NormFloat64() / math.Sqrt(float64(dims[k])))
		}
		for i := range l.B {
			l.B[i] = float32(rng.NormFloat64() * 0.1)
		}
		layers = append(layers, l)
	}
	ex, _ := simulate(500, 1)
	mean, inv := standardisation(ex)
	m, err := NewMLP(features.Version, simActions, mean, inv, layers)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// reference is a plain float64 forward pass, the definition Predict
// implements.
func reference(m *MLP, v *features.Vector) []float64 {
	x := make([]float64, features.Len)
	for i := range x {
		x[i] = float64((v[i] - m.Mean[i]) * m.InvScale[i])
	}
	for li, l := range m.Layers {
		h := make([]float64, l.Out)
		for j := range h {
			h[j] = float64(l.B[j])
			for i := range l.In {
				h[j] += x[i] * float64(l.W[i*l.Out+j])
			}
			if li < len(m.Layers)-1 {
				h[j] = max(h[j], 0)
			}
		}
		x = h
	}
	for j := range x {
		x[j] = sigmoid(x[j])
	}
	return x
}

func TestPredictMatchesReferenceAndBatch(t *testing.T) {
	for _, hidden := range [][]int{{}, {16}, {32, 8}} {
		m := randomMLP(t, hidden...)
		ex, _ := simulate(37, 2) // not a multiple of the batch block
		vs := make([]features.Vector, len(ex))
		for i := range ex {
			vs[i] = ex[i].Features
		}
		batch := make([]float64, len(vs)*len(simActions))
		if err := m.PredictBatch(vs, batch); err != nil {
			t.Fatal(err)
		}
		one := make([]float64, len(simActions))
		for i := range vs {
			m.Predict(&vs[i], one)
			want := reference(m, &vs[i])
			for a := range one {
				if math.Abs(one[a]-want[a]) > 1e-5 || one[a] != batch[i*len(simActions)+a] && math.Abs(one[a]-batch[i*len(simActions)+a]) > 1e-6 {
					t.Fatalf("hidden %v row %d action %d: single %v batch %v reference %v", hidden, i, a, one[a], batch[i*len(simActions)+a], want[a])
				}
			}
			if p, ok := m.PredictAction(&vs[i], simActions[3]); !ok || p != one[3] {
				t.Fatalf("PredictAction %v %v, want %v", p, ok, one[3])
			}
		}
		if err := m.PredictBatch(vs, batch[:1]); err == nil {
			t.Fatal("short out accepted")
		}
	}
	if _, ok := randomMLP(t).PredictAction(&features.Vector{}, "nope"); ok {
		t.Fatal("unknown action scored")
	}
}

func TestPredictDoesNotAllocate(t *testing.T) {
	m := randomMLP(t, 32)
	var v features.Vector
	out := make([]float64, len(simActions))
	vs := make([]features.Vector, 16)
	bout := make([]float64, 16*len(simActions))
	if n := testing.AllocsPerRun(100, func() { m.Predict(&v, out) }); n != 0 {
		t.Fatalf("Predict allocates %v", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = m.PredictBatch(vs, bout) }); n != 0 {
		t.Fatalf("PredictBatch allocates %v", n)
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	m := randomMLP(t, 16)
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMLP(&buf)
	if err != nil {
		t.Fatal(err)
	}
	ex, _ := simulate(20, 3)
	a, b := make([]float64, len(simActions)), make([]float64, len(simActions))
	for i := range ex {
		m.Predict(&ex[i].Features, a)
		got.Predict(&ex[i].Features, b)
		for k := range a {
			if a[k] != b[k] {
				t.Fatalf("row %d: %v != %v", i, a, b)
			}
		}
	}
}

func TestReadMLPRejects(t *testing.T) {
	var good bytes.Buffer
	if _, err := randomMLP(t, 4).WriteTo(&good); err != nil {
		t.Fatal(err)
	}
	g := good.String()
	tests := []struct{ name, in, msg string }{
		{"not json", "hello", "not a model file"},
		{"other format", strings.Replace(g, "kairos-propensity-mlp/1", "onnx", 1), `format "onnx"`},
		{"duplicate action", strings.Replace(g, `"newsletter_signup"`, `"welcome_offer"`, 1), "listed twice"},
		{"short bias", strings.Replace(g, `"b":[`, `"b":[1,`, 1), "biases"},
		{"wrong width", strings.Replace(g, `"in":62`, `"in":61`, 1), "takes 61 inputs"},
		{"no layers", `{"format":"kairos-propensity-mlp/1","actions":["a"],"mean":[],"inv_scale":[]}`, "standardisation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ReadMLP(strings.NewReader(tt.in)); err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want %q", err, tt.msg)
			}
		})
	}
}

// FuzzReadMLP: a model file is read from disk at start and on promotion;
// any bytes give a valid model or an error, and a valid one predicts
// finite probabilities.
func FuzzReadMLP(f *testing.F) {
	var good bytes.Buffer
	if _, err := randomMLP(f, 2).WriteTo(&good); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add([]byte(`{"format":"kairos-propensity-mlp/1","actions":["a"],"layers":[{"in":62,"out":1}]}`))
	f.Add([]byte(`{"format":"kairos-propensity-mlp/1","mean":[1e400]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadMLP(bytes.NewReader(data))
		if err != nil {
			return
		}
		out := make([]float64, len(m.Actions))
		var v features.Vector
		m.Predict(&v, out)
		for _, p := range out {
			if math.IsNaN(p) || p < 0 || p > 1 {
				t.Fatalf("probability %v", p)
			}
		}
	})
}

func TestMetrics(t *testing.T) {
	y := []bool{false, false, true, true}
	for _, tt := range []struct {
		p   []float64
		auc float64
	}{
		{[]float64{0.1, 0.2, 0.8, 0.9}, 1},
		{[]float64{0.9, 0.8, 0.2, 0.1}, 0},
		{[]float64{0.5, 0.5, 0.5, 0.5}, 0.5},
		{[]float64{0.1, 0.6, 0.6, 0.9}, 0.875},
	} {
		if got := AUC(tt.p, y); math.Abs(got-tt.auc) > 1e-12 {
			t.Errorf("AUC(%v) = %v, want %v", tt.p, got, tt.auc)
		}
	}
	if !math.IsNaN(AUC([]float64{0.1}, []bool{true})) {
		t.Error("AUC with one class")
	}
	if got, want := LogLoss([]float64{0.5, 0.25}, []bool{true, false}), (math.Ln2+math.Log(4.0/3))/2; math.Abs(got-want) > 1e-12 {
		t.Errorf("LogLoss %v, want %v", got, want)
	}
	if got := LogLoss([]float64{0}, []bool{true}); math.IsInf(got, 0) {
		t.Error("LogLoss not clipped")
	}
}

func TestEstimatePolicy(t *testing.T) {
	// Two actions logged uniformly; "b" converts every time it is shown,
	// "a" never. Always choosing b is worth 1, IPW recovers it exactly.
	var ex []Example
	for i := range 100 {
		a := []string{"a", "b"}[i%2]
		ex = append(ex, Example{Action: a, Outcome: a == "b", Propensity: 0.5})
	}
	ex = append(ex, Example{Action: "b", Outcome: true}) // unknown propensity: skipped
	pv := EstimatePolicy(ex, func(*Example) string { return "b" })
	if pv.N != 100 || pv.Matched != 50 || pv.IPW != 1 || pv.SNIPS != 1 {
		t.Fatalf("%+v", pv)
	}
	if pv := EstimatePolicy(ex, func(*Example) string { return "a" }); pv.IPW != 0 {
		t.Fatalf("%+v", pv)
	}
}

func TestBaseline(t *testing.T) {
	ex := []Example{{Action: "a", Outcome: true}, {Action: "a"}, {Action: "a"}, {Action: "b"}}
	b := FitBaseline(ex, 2)
	// Pooled rate (1+0.5)/(4+1) = 0.3: prior Beta(0.6, 1.4).
	if got, want := b.Predict("a"), (1+0.6)/(3+2.0); math.Abs(got-want) > 1e-12 {
		t.Fatalf("a: %v, want %v", got, want)
	}
	if got, want := b.Predict("b"), 0.6/3; math.Abs(got-want) > 1e-12 {
		t.Fatalf("b: %v, want %v", got, want)
	}
	if got := b.Predict("new"); math.Abs(got-0.3) > 1e-12 {
		t.Fatalf("unseen action: %v", got)
	}
	if b.Best([]string{"b", "a", "new"}) != "a" {
		t.Fatal("Best")
	}
}

// The fitted prior is strong when the actions convert alike and weak when
// they differ far beyond binomial noise.
func TestBaselineFittedStrength(t *testing.T) {
	make := func(rates ...float64) []Example {
		var ex []Example
		for a, r := range rates {
			for i := range 1000 {
				ex = append(ex, Example{Action: string(rune('a' + a)), Outcome: float64(i) < r*1000})
			}
		}
		return ex
	}
	if s := FitBaseline(make(0.05, 0.05, 0.05, 0.05), 0).Strength; s != MaxPriorStrength {
		t.Errorf("alike: strength %v", s)
	}
	if s := FitBaseline(make(0.01, 0.3, 0.05, 0.6), 0).Strength; s > 10 {
		t.Errorf("different: strength %v", s)
	}
	if s := FitBaseline(make(0.05), 0).Strength; s != MinPriorStrength {
		t.Errorf("one action: strength %v", s)
	}
}

func TestSplit(t *testing.T) {
	ex, _ := simulate(1000, 4)
	// Shuffle: split must order by time itself.
	rand.New(rand.NewPCG(1, 1)).Shuffle(len(ex), func(i, j int) { ex[i], ex[j] = ex[j], ex[i] })
	cfg := TrainConfig{}
	if err := cfg.defaults(ex); err != nil {
		t.Fatal(err)
	}
	train, holdout, nval, err := split(ex, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(holdout) != 200 || len(train) != 800 || nval != 80 {
		t.Fatalf("sizes %d %d %d", len(train), len(holdout), nval)
	}
	if train[len(train)-1].At > holdout[0].At {
		t.Fatal("holdout is not the most recent slice")
	}
	for _, tt := range []struct {
		name string
		ex   []Example
		cfg  TrainConfig
		want string
	}{
		{"too few", ex[:10], TrainConfig{}, "too few"},
		{"unknown action", ex, TrainConfig{Actions: []string{"welcome_offer"}}, "not among"},
		{"one outcome", func() []Example {
			c := append([]Example(nil), ex...)
			for i := range c {
				c[i].Outcome = false
			}
			return c
		}(), TrainConfig{}, "only one kind of outcome"},
		{"nan feature", func() []Example {
			c := append([]Example(nil), ex...)
			c[5].Features[3] = float32(math.NaN())
			return c
		}(), TrainConfig{}, "sessions_log is NaN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if err := cfg.defaults(tt.ex); err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := split(tt.ex, &cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	if _, _, _, err := split(ex[:10], &cfg); !errors.Is(err, ErrTooFewExamples) {
		t.Fatalf("%v", err)
	}
}

func BenchmarkPredict(b *testing.B) {
	m := randomMLP(b, 32)
	ex, _ := simulate(256, 5)
	out := make([]float64, len(simActions))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Predict(&ex[i%len(ex)].Features, out)
		i++
	}
}

func BenchmarkPredictBatch256(b *testing.B) {
	m := randomMLP(b, 32)
	ex, _ := simulate(256, 5)
	vs := make([]features.Vector, len(ex))
	for i := range ex {
		vs[i] = ex[i].Features
	}
	out := make([]float64, len(vs)*len(simActions))
	b.ReportAllocs()
	for b.Loop() {
		_ = m.PredictBatch(vs, out)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(vs)), "ns/contact")
}
