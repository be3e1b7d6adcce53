package propensity

import (
	"errors"
	"math"
	"sync/atomic"
	"testing"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/torch"
)

// constMLP predicts sigmoid(bias[a]) for action a whatever the features:
// one layer with zero weights.
func constMLP(t *testing.T, actions []string, bias []float32) *MLP {
	t.Helper()
	mean, inv := make([]float32, features.Len), make([]float32, features.Len)
	for i := range inv {
		inv[i] = 1
	}
	m, err := NewMLP(features.Version, actions, mean, inv,
		[]Layer{{In: features.Len, Out: len(actions), W: make([]float32, features.Len*len(actions)), B: bias}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type fakeModels struct {
	list   []*torch.Model
	values map[string]float64
}

func (f *fakeModels) Models() []*torch.Model { return f.list }

func (f *fakeModels) Score(name string, _ *features.Vector) (float64, error) {
	v, ok := f.values[name]
	if !ok {
		return 0, errors.New("forward pass failed")
	}
	return v, nil
}

func model(name, action string, out torch.Output) *torch.Model {
	return &torch.Model{Manifest: torch.Manifest{Name: name, Action: action, Output: out, FeatureVersion: features.Version}}
}

func TestSourceEstimate(t *testing.T) {
	cat, err := nba.ParseCatalogue("t.yaml", []byte(`version: v1
actions:
  - {id: a, placements: [homepage], value: 1}
  - {id: b, placements: [homepage], value: 1}
  - {id: c, placements: [homepage], value: 1}
  - {id: d, placements: [homepage], value: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	sigmoid := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	var mlp atomic.Pointer[MLP]
	// The MLP knows b, a and an action the catalogue no longer has.
	mlp.Store(constMLP(t, []string{"b", "gone", "a"}, []float32{1, 2, -1}))
	byo := &fakeModels{
		list: []*torch.Model{
			model("a_model", "a", torch.OutputProbability), // overrides the MLP for a
			model("c_model", "c", torch.OutputLogit),
			model("spend", "d", torch.OutputScore), // not a propensity
			model("broken", "d", torch.OutputProbability),
			model("churn", "", torch.OutputProbability), // no action
		},
		values: map[string]float64{"a_model": 0.3, "c_model": 0.7, "spend": 120, "churn": 0.2},
	}
	var v features.Vector
	out := make([]nba.Learned, 4)
	for _, tc := range []struct {
		name string
		src  *Source
		want []nba.Learned
	}{
		{"mlp and bring-your-own", NewSource(&mlp, byo), []nba.Learned{
			{P: 0.3, Model: "a_model"}, {P: sigmoid(1), Model: MLPName}, {P: 0.7, Model: "c_model"}, {}}},
		{"mlp alone", NewSource(&mlp, nil), []nba.Learned{
			{P: sigmoid(-1), Model: MLPName}, {P: sigmoid(1), Model: MLPName}, {}, {}}},
		{"bring-your-own alone", NewSource(nil, byo), []nba.Learned{
			{P: 0.3, Model: "a_model"}, {}, {P: 0.7, Model: "c_model"}, {}}},
		{"nothing", NewSource(new(atomic.Pointer[MLP]), nil), []nba.Learned{{}, {}, {}, {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range out {
				out[i] = nba.Learned{P: 9, Model: "stale"}
			}
			got := tc.src.Estimate(cat, &v, out)
			wantAny := false
			for i, w := range tc.want {
				wantAny = wantAny || w.Model != ""
				if out[i].Model != w.Model || math.Abs(out[i].P-w.P) > 1e-6 {
					t.Errorf("action %s: %+v, want %+v", cat.Actions()[i].ID, out[i], w)
				}
			}
			if got != wantAny {
				t.Errorf("Estimate = %v, want %v", got, wantAny)
			}
		})
	}

	// A new MLP (a promotion) is picked up at once.
	src := NewSource(&mlp, nil)
	src.Estimate(cat, &v, out)
	mlp.Store(constMLP(t, []string{"d"}, []float32{0}))
	src.Estimate(cat, &v, out)
	if out[3].Model != MLPName || out[3].P != 0.5 || out[0].Model != "" {
		t.Fatalf("after a promotion: %+v", out)
	}
	// A model trained on another feature vector version is not used.
	stale := constMLP(t, []string{"a"}, []float32{0})
	stale.FeatureVersion = features.Version + 1
	mlp.Store(stale)
	if src.Estimate(cat, &v, out) {
		t.Fatalf("a model for feature version %d served: %+v", stale.FeatureVersion, out)
	}
}

func TestSourceEstimateAllocs(t *testing.T) {
	cat, err := nba.ParseCatalogue("t.yaml", []byte("version: v1\nactions:\n  - {id: a, placements: [homepage], value: 1}\n  - {id: b, placements: [homepage], value: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var mlp atomic.Pointer[MLP]
	mlp.Store(constMLP(t, []string{"a", "b"}, []float32{0, 1}))
	src := NewSource(&mlp, nil)
	var v features.Vector
	out := make([]nba.Learned, 2)
	if n := testing.AllocsPerRun(100, func() { src.Estimate(cat, &v, out) }); n != 0 {
		t.Fatalf("Estimate allocates %v times", n)
	}
}
