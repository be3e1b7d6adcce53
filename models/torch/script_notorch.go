//go:build !torch

package torch

import "github.com/kairos-engine/kairos/models/features"

// script is a loaded TorchScript module. Without the torch build tag there
// is no libtorch, so none can be loaded: manifests are still parsed and
// validated, and loading the model says how to get a build that can.
type script struct{}

func loadScript([]byte) (*script, error) { return nil, ErrTorchUnavailable }

func (*script) forward([]features.Vector, []float64) error { return ErrTorchUnavailable }

func (*script) release() {}
