package propensity

import (
	"errors"
	"fmt"
	"math"

	"github.com/kairos-engine/kairos/models/features"
)

// Example is one logged decision and what followed: the contact's feature
// vector when the decision was made, the action shown, whether the outcome
// the action is judged on (a click, an order within the attribution
// window) happened, and the logging policy's probability of showing that
// action. next-best-action's decision log (kairos.decisions) joined with
// its outcome events produces these.
type Example struct {
	Features features.Vector
	// Action is the catalogue id of the action shown.
	Action string
	// Outcome is true when the action converted.
	Outcome bool
	// At is the decision's event time (Unix ms): the holdout is the most
	// recent slice by At.
	At int64
	// Propensity is the probability with which the logging policy chose
	// Action for this contact, in (0, 1]; 0 when unknown. It is only used
	// for off-policy (inverse propensity weighted) estimates.
	Propensity float64
}

// Errors callers branch on.
var (
	// ErrTorchUnavailable: training needs a kairos built with -tags torch.
	ErrTorchUnavailable = errors.New("training the propensity model needs a kairos binary built with -tags torch (see models/torch/README.md); the pure-Go build can only serve a trained model")
	// ErrTooFewExamples: not enough examples, or a slice without both
	// outcomes, to train and judge a model.
	ErrTooFewExamples = errors.New("too few examples to train and evaluate a propensity model")
)

// validate checks an example's fields that would silently corrupt
// training.
func (e *Example) validate(i int) error {
	if e.Action == "" {
		return fmt.Errorf("example %d: empty action", i)
	}
	for k, x := range e.Features {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("example %d: feature %s is %v", i, features.Name(k), x)
		}
	}
	if e.Propensity < 0 || e.Propensity > 1 || math.IsNaN(e.Propensity) {
		return fmt.Errorf("example %d: propensity %v is not in [0, 1]", i, e.Propensity)
	}
	return nil
}
