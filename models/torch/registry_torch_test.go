//go:build torch

package torch

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/state"
)

// fixtureLogit is the closed formula testdata/make_fixtures.py builds
// linear.pt from.
func fixtureLogit(v *features.Vector) float64 {
	s := -0.5
	for i, x := range v {
		s += float64(float32(float64((i%7)-3)/20)) * float64(x)
	}
	return s
}

func randomVectors(n int, seed uint64) []features.Vector {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	vs := make([]features.Vector, n)
	for i := range vs {
		c := state.Contact{
			FirstSeen: 1e12, LastSeen: 1e12 + rng.Int64N(1e10), ContactID: "x",
			Sessions:   state.Sessions{Count: rng.Uint32N(100)},
			Orders:     state.Orders{Count: rng.Int32N(10), Placed: 10, Revenue: rng.Int64N(1e6), Last: 1e12 + rng.Int64N(1e10)},
			Engagement: state.EmailStats{Delivered: rng.Uint32N(50), Opened: rng.Uint32N(20), Clicked: rng.Uint32N(5)},
			AffinityAt: 1e12, Categories: []state.Affinity{{Name: "shoes", Score: rng.Float64() * 5}, {Name: "bags", Score: rng.Float64()}},
			Scores: state.Scores{Stage: uint8(rng.IntN(7))},
		}
		vs[i] = features.Compute(&c, 1e12+2e10)
	}
	return vs
}

func TestScoreMatchesFixtureFormula(t *testing.T) {
	for _, output := range []string{"logit", "score"} {
		t.Run(output, func(t *testing.T) {
			r, err := Open(Config{Dir: modelsDir(t, map[string]string{
				"m.yaml": manifest("linear", "linear.pt", output), "linear.pt": "@linear.pt",
			})})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			vs := randomVectors(64, 1)
			batch := make([]float64, len(vs))
			m, _ := r.Get("linear")
			if err := m.ScoreBatch(vs, batch); err != nil {
				t.Fatal(err)
			}
			for i := range vs {
				want := fixtureLogit(&vs[i])
				if output == "logit" {
					want = 1 / (1 + math.Exp(-want))
				}
				got, err := r.Score("linear", &vs[i])
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(got-want) > 1e-5 || math.Abs(batch[i]-got) > 1e-6 {
					t.Fatalf("row %d: single %v, batch %v, want %v", i, got, batch[i], want)
				}
			}
		})
	}
}

func TestBadModelsAreRejectedWithReasons(t *testing.T) {
	tests := []struct {
		name, file string
		sentinel   error
		msg        string
	}{
		{"garbage", "not a zip at all", nil, "not a TorchScript module"},
		{"input width", "@wrong_width.pt", ErrShape, "must take a float32 tensor [batch, 62]"},
		{"two outputs", "@two_outputs.pt", ErrShape, "returned [1 2]"},
		{"empty file", "", nil, "not a TorchScript module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(Config{Dir: modelsDir(t, map[string]string{"m.yaml": manifest("m", "m.pt", "logit"), "m.pt": tt.file})})
			if err == nil || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "m.yaml: model m") {
				t.Fatalf("got %v, want an error naming the manifest and containing %q", err, tt.msg)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Fatalf("%v does not wrap %v", err, tt.sentinel)
			}
			if len(r.Models()) != 0 {
				t.Fatal("a bad model was loaded")
			}
		})
	}
}

func TestReloadKeepsPreviousModelOnBadFile(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := modelsDir(t, map[string]string{
		"a.yaml": manifest("a", "a.pt", "logit"), "a.pt": "@linear.pt",
		"b.yaml": manifest("b", "b.pt", "probability"), "b.pt": "@linear.pt",
	})
	r, err := Open(Config{Dir: dir, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	a0, _ := r.Get("a")

	// Unchanged files: the same loaded model, not a new load.
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if a1, _ := r.Get("a"); a1 != a0 {
		t.Fatal("an unchanged model was loaded again")
	}

	// A broken TorchScript file: error, previous version still serves.
	writeFiles(t, dir, map[string]string{"a.pt": "@wrong_width.pt"})
	err = r.Reload()
	if err == nil || !strings.Contains(err.Error(), "still serving the previous version of model a") {
		t.Fatalf("got %v", err)
	}
	v := randomVectors(1, 9)[0]
	if a1, _ := r.Get("a"); a1 != a0 {
		t.Fatal("the previous model was not kept")
	}
	if _, err := r.Score("a", &v); err != nil {
		t.Fatal(err)
	}

	// A broken manifest: same.
	writeFiles(t, dir, map[string]string{"a.pt": "@linear.pt", "a.yaml": "name: a\noutput: odds\n"})
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), "a.yaml:2: output") {
		t.Fatalf("got %v", err)
	}
	if a1, _ := r.Get("a"); a1 != a0 {
		t.Fatal("the previous model was not kept")
	}

	// Fixed, with a new output meaning: a new version replaces the old,
	// whose module is released.
	writeFiles(t, dir, map[string]string{"a.yaml": manifest("a", "a.pt", "score")})
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	a2, _ := r.Get("a")
	if a2 == a0 || a2.Manifest.Output != OutputScore {
		t.Fatalf("not replaced: %+v", a2.Manifest)
	}
	if _, err := a0.Score(&v); !errors.Is(err, errReleased) {
		t.Fatalf("old version after replacement: %v", err)
	}
	if got, _ := r.Score("a", &v); math.Abs(got-fixtureLogit(&v)) > 1e-5 {
		t.Fatalf("new version scores %v, want %v", got, fixtureLogit(&v))
	}

	// A removed manifest removes its model.
	if err := os.Remove(filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Get("b"); ok {
		t.Fatal("removed model still served")
	}
	if n := testutil.ToFloat64(r.metrics.models); n != 1 {
		t.Fatalf("models gauge %v", n)
	}
	if n := testutil.ToFloat64(r.metrics.loadErrors); n != 2 {
		t.Fatalf("load errors %v", n)
	}
}

func TestDuplicateNamesAndActions(t *testing.T) {
	r, err := Open(Config{Dir: modelsDir(t, map[string]string{
		"a.yaml": manifest("m", "x.pt", "logit") + "action: cart_reminder\n",
		"b.yaml": manifest("m", "x.pt", "logit"),
		"c.yaml": manifest("c", "x.pt", "logit") + "action: cart_reminder\n",
		"x.pt":   "@linear.pt",
	})})
	if err == nil || !strings.Contains(err.Error(), `name "m" is already used`) || !strings.Contains(err.Error(), `action "cart_reminder" already takes`) {
		t.Fatalf("got %v", err)
	}
	if m, ok := r.ForAction("cart_reminder"); !ok || m.Manifest.File != filepath.Join(filepath.Dir(m.Manifest.File), "a.yaml") {
		t.Fatalf("ForAction: %v %v", m, ok)
	}
	if len(r.Models()) != 1 {
		t.Fatalf("%d models", len(r.Models()))
	}
}

// Scores keep flowing, correct and without errors, while reloads replace
// the model underneath them (run with -race).
func TestScoreDuringReloads(t *testing.T) {
	dir := modelsDir(t, map[string]string{"a.yaml": manifest("a", "a.pt", "score"), "a.pt": "@linear.pt"})
	r, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	vs := randomVectors(8, 3)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v := &vs[(g+i)%len(vs)]
				got, err := r.Score("a", v)
				if err == nil && math.Abs(got-fixtureLogit(v)) > 1e-5 {
					err = errors.New("wrong score during reload")
				}
				if err != nil {
					errc <- err
					return
				}
			}
		})
	}
	for i := range 20 {
		// Alternate the description so the digest changes and each
		// reload loads and swaps a new module.
		writeFiles(t, dir, map[string]string{"a.yaml": manifest("a", "a.pt", "score") + "description: v" + string(rune('a'+i)) + "\n"})
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

func benchScript(b *testing.B, rows int) {
	dir := b.TempDir()
	for name, src := range map[string]string{"m.yaml": manifest("m", "m.pt", "logit"), "m.pt": "testdata/linear.pt"} {
		data := []byte(src)
		if name == "m.pt" {
			var err error
			if data, err = os.ReadFile(src); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	r, err := Open(Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	m, _ := r.Get("m")
	vs := randomVectors(rows, 4)
	out := make([]float64, rows)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.ScoreBatch(vs, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/contact")
}

func BenchmarkScriptScore1(b *testing.B)        { benchScript(b, 1) }
func BenchmarkScriptScoreBatch256(b *testing.B) { benchScript(b, 256) }
