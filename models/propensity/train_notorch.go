//go:build !torch

package propensity

// Train needs libtorch: in a build without the torch tag it returns
// ErrTorchUnavailable (a trained model still loads and serves, ReadMLP).
func Train(ex []Example, current *MLP, cfg TrainConfig) (*MLP, *Report, error) {
	return nil, nil, ErrTorchUnavailable
}
