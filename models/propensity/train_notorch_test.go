//go:build !torch

package propensity

import (
	"errors"
	"testing"
)

func TestTrainNeedsTorch(t *testing.T) {
	ex, _ := simulate(300, 1)
	if _, _, err := Train(ex, nil, TrainConfig{}); !errors.Is(err, ErrTorchUnavailable) {
		t.Fatalf("got %v", err)
	}
}
