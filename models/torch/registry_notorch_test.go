//go:build !torch

package torch

import (
	"errors"
	"strings"
	"testing"

	"github.com/kairos-engine/kairos/models/features"
)

// Without libtorch a models directory is still read and its manifests
// validated; loading the TorchScript file says which build is needed.
func TestOpenWithoutTorch(t *testing.T) {
	dir := modelsDir(t, map[string]string{
		"linear.yaml": manifest("linear", "linear.pt", "logit"),
		"linear.pt":   "@linear.pt",
		"bad.yaml":    "name: bad\noutput: odds\n",
	})
	r, err := Open(Config{Dir: dir})
	if r == nil {
		t.Fatal(err)
	}
	if !errors.Is(err, ErrTorchUnavailable) || !strings.Contains(err.Error(), "bad.yaml:2: output") {
		t.Fatalf("got %v", err)
	}
	if len(r.Models()) != 0 {
		t.Fatalf("models loaded without torch: %v", r.Models())
	}
	var v features.Vector
	if _, err := r.Score("linear", &v); !errors.Is(err, ErrNoModel) {
		t.Fatalf("Score: %v", err)
	}
}
