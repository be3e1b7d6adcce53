//go:build torch

package propensity

import (
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/torch"
)

// A TorchScript model dropped into the models directory with an action
// in its manifest supplies that action's propensity through libtorch,
// over the MLP's; the other actions keep the MLP's.
func TestSourceWithTorchScript(t *testing.T) {
	dir := t.TempDir()
	pt, err := os.ReadFile("../torch/testdata/linear.pt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "linear.pt"), pt, 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := "name: cart_model\nmodel: linear.pt\nfeature_version: 1\noutput: logit\naction: b\n"
	if err := os.WriteFile(filepath.Join(dir, "cart_model.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := torch.Open(torch.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	cat, err := nba.ParseCatalogue("t.yaml", []byte("version: v1\nactions:\n  - {id: a, placements: [homepage], value: 1}\n  - {id: b, placements: [homepage], value: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var mlp atomic.Pointer[MLP]
	mlp.Store(constMLP(t, []string{"a", "b"}, []float32{0, 0}))
	src := NewSource(&mlp, reg)
	var v features.Vector
	for i := range v {
		v[i] = float32(i%5) / 4
	}
	// The fixture's closed formula (models/torch/testdata/make_fixtures.py).
	logit := -0.5
	for i, x := range v {
		logit += float64(float32(float64((i%7)-3)/20)) * float64(x)
	}
	out := make([]nba.Learned, 2)
	if !src.Estimate(cat, &v, out) {
		t.Fatal("no estimate")
	}
	if out[0] != (nba.Learned{P: 0.5, Model: MLPName}) {
		t.Fatalf("action a: %+v, want the MLP's 0.5", out[0])
	}
	if want := 1 / (1 + math.Exp(-logit)); out[1].Model != "cart_model" || math.Abs(out[1].P-want) > 1e-5 {
		t.Fatalf("action b: %+v, want cart_model's %v", out[1], want)
	}
}
