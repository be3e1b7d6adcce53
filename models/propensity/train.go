package propensity

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/kairos-engine/kairos/models/features"
)

// ExternalFeatures is the FeatureVersion of a model trained on vectors
// that are not contact features (the Open Bandit evaluation encodes its
// own context in the same width). Such a model must not serve contacts.
const ExternalFeatures = -1

// TrainConfig configures Train. Zero values take the documented defaults.
type TrainConfig struct {
	// Actions are the action ids the model scores, in logit order.
	// Default: the distinct actions of the examples, sorted.
	Actions []string
	// Hidden are the widths of the ReLU hidden layers. Default [32].
	Hidden []int
	// Epochs is the most passes over the training slice. Default 40.
	Epochs int
	// Patience stops training after this many epochs without a better
	// validation log-loss; the best epoch's weights are kept. Default 5.
	Patience int
	// BatchSize of a gradient step. Default 256.
	BatchSize int
	// LearningRate of Adam. Default 0.003.
	LearningRate float64
	// WeightDecay (L2) of Adam. Default 1e-4.
	WeightDecay float64
	// HoldoutFraction is the most recent share of the examples (by At)
	// held out to judge the model against the baseline. Default 0.2.
	HoldoutFraction float64
	// ValidationFraction is the most recent share of the training slice
	// used to pick the epoch. Default 0.1.
	ValidationFraction float64
	// PriorStrength of the baseline's Beta prior, in pseudo-observations.
	// Default: fitted to the data (FitBaseline).
	PriorStrength float64
	// FeatureVersion recorded in the model. Default features.Version;
	// ExternalFeatures for vectors that are not contact features.
	FeatureVersion int
	// MinExamples is the fewest examples Train accepts. Default 200.
	MinExamples int
	// Seed makes initialisation and shuffling reproducible.
	Seed uint64
}

func (c *TrainConfig) defaults(ex []Example) error {
	if len(c.Actions) == 0 {
		seen := map[string]bool{}
		for i := range ex {
			if !seen[ex[i].Action] {
				seen[ex[i].Action] = true
				c.Actions = append(c.Actions, ex[i].Action)
			}
		}
		slices.Sort(c.Actions)
	}
	if len(c.Hidden) == 0 {
		c.Hidden = []int{32}
	}
	for _, h := range c.Hidden {
		if h < 1 || h > MaxWidth {
			return fmt.Errorf("propensity: hidden width %d, want 1..%d", h, MaxWidth)
		}
	}
	if len(c.Actions) > MaxWidth {
		return fmt.Errorf("propensity: %d actions, at most %d", len(c.Actions), MaxWidth)
	}
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	deff := func(p *float64, v float64) {
		if *p <= 0 || math.IsNaN(*p) {
			*p = v
		}
	}
	def(&c.Epochs, 40)
	def(&c.Patience, 5)
	def(&c.BatchSize, 256)
	def(&c.MinExamples, 200)
	deff(&c.LearningRate, 0.003)
	deff(&c.WeightDecay, 1e-4)
	deff(&c.HoldoutFraction, 0.2)
	deff(&c.ValidationFraction, 0.1)
	if c.HoldoutFraction >= 1 || c.ValidationFraction >= 1 {
		return fmt.Errorf("propensity: holdout %v and validation %v fractions must be below 1", c.HoldoutFraction, c.ValidationFraction)
	}
	if c.FeatureVersion == 0 {
		c.FeatureVersion = features.Version
	}
	return nil
}

// Metrics judge a model on the holdout.
type Metrics struct {
	LogLoss float64
	AUC     float64
}

// Report is what Train measured, for the operator and for the decision to
// promote.
type Report struct {
	Examples, Train, Validation, Holdout int
	// HoldoutFrom is the At of the first held-out example.
	HoldoutFrom int64
	// Epochs is the number of epochs run; BestEpoch the one kept.
	Epochs, BestEpoch int
	Model, Baseline   Metrics
	// BaselineStrength is the fitted prior strength of the baseline.
	BaselineStrength float64
	// Current is the model in service, on the same holdout; nil if none
	// was given.
	Current *Metrics
	// Off-policy estimates on the holdout, when the examples carry
	// logging propensities: the learned model's greedy policy, the
	// baseline's best single action, and the logged policy's own rate.
	ModelPolicy, BaselinePolicy *PolicyValue
	LoggedRate                  float64
	// Promoted is true when the new model should replace the current one;
	// Reason says why or why not.
	Promoted bool
	Reason   string
}

// String renders the report on a few lines.
func (r *Report) String() string {
	s := fmt.Sprintf("examples %d: train %d (validation %d), holdout %d from At=%d; epochs %d (best %d)\n"+
		"holdout log-loss %.5f, AUC %.4f (baseline, prior strength %.0f: log-loss %.5f, AUC %.4f)",
		r.Examples, r.Train, r.Validation, r.Holdout, r.HoldoutFrom, r.Epochs, r.BestEpoch,
		r.Model.LogLoss, r.Model.AUC, r.BaselineStrength, r.Baseline.LogLoss, r.Baseline.AUC)
	if r.Current != nil {
		s += fmt.Sprintf(" (current: log-loss %.5f, AUC %.4f)", r.Current.LogLoss, r.Current.AUC)
	}
	if r.ModelPolicy != nil {
		s += fmt.Sprintf("\nIPW outcome rate: model policy %.5f ± %.5f (%d matched), baseline policy %.5f ± %.5f (%d matched), logged %.5f",
			r.ModelPolicy.IPW, r.ModelPolicy.StdErr, r.ModelPolicy.Matched, r.BaselinePolicy.IPW, r.BaselinePolicy.StdErr, r.BaselinePolicy.Matched, r.LoggedRate)
	}
	return s + "\n" + r.Reason
}

// split validates the examples and returns copies ordered by At: the
// training part (its last validation examples are the validation slice)
// and the holdout.
func split(ex []Example, cfg *TrainConfig) (train, holdout []Example, validation int, err error) {
	if len(ex) < cfg.MinExamples {
		return nil, nil, 0, fmt.Errorf("%w: %d, want at least %d", ErrTooFewExamples, len(ex), cfg.MinExamples)
	}
	known := map[string]bool{}
	for _, a := range cfg.Actions {
		known[a] = true
	}
	for i := range ex {
		if err := ex[i].validate(i); err != nil {
			return nil, nil, 0, fmt.Errorf("propensity: %w", err)
		}
		if !known[ex[i].Action] {
			return nil, nil, 0, fmt.Errorf("propensity: example %d: action %q is not among the %d actions to train", i, ex[i].Action, len(cfg.Actions))
		}
	}
	sorted := slices.Clone(ex)
	slices.SortStableFunc(sorted, func(a, b Example) int { return cmp.Compare(a.At, b.At) })
	nh := int(math.Round(float64(len(sorted)) * cfg.HoldoutFraction))
	train, holdout = sorted[:len(sorted)-nh], sorted[len(sorted)-nh:]
	validation = int(math.Round(float64(len(train)) * cfg.ValidationFraction))
	for name, part := range map[string][]Example{"holdout": holdout, "training": train[:len(train)-validation], "validation": train[len(train)-validation:]} {
		var pos int
		for i := range part {
			if part[i].Outcome {
				pos++
			}
		}
		if pos == 0 || pos == len(part) {
			return nil, nil, 0, fmt.Errorf("%w: the %s slice (%d examples) has only one kind of outcome", ErrTooFewExamples, name, len(part))
		}
	}
	return train, holdout, validation, nil
}

// standardisation returns the mean and inverse standard deviation of each
// feature; a constant feature gets scale 1.
func standardisation(ex []Example) (mean, inv []float32) {
	mean, inv = make([]float32, features.Len), make([]float32, features.Len)
	n := float64(len(ex))
	for k := range features.Len {
		var s, s2 float64
		for i := range ex {
			x := float64(ex[i].Features[k])
			s += x
			s2 += x * x
		}
		mu := s / n
		sd := math.Sqrt(max(s2/n-mu*mu, 0))
		mean[k] = float32(mu)
		inv[k] = 1
		if sd > 1e-6 {
			inv[k] = float32(1 / sd)
		}
	}
	return mean, inv
}

// evaluate fills the holdout part of the report and decides promotion.
func evaluate(r *Report, m *MLP, base *Baseline, current *MLP, holdout []Example) {
	y := make([]bool, len(holdout))
	pm := make([]float64, len(holdout))
	pb := make([]float64, len(holdout))
	var pc []float64
	if current != nil && current.FeatureVersion == m.FeatureVersion {
		pc = make([]float64, len(holdout))
	}
	for i := range holdout {
		e := &holdout[i]
		y[i] = e.Outcome
		pm[i], _ = m.PredictAction(&e.Features, e.Action)
		pb[i] = base.Predict(e.Action)
		if pc != nil {
			p, ok := current.PredictAction(&e.Features, e.Action)
			if !ok {
				p = pb[i] // an action the current model does not know: it would have fallen back to the baseline
			}
			pc[i] = p
		}
	}
	r.Model = Metrics{LogLoss(pm, y), AUC(pm, y)}
	r.Baseline = Metrics{LogLoss(pb, y), AUC(pb, y)}
	if pc != nil {
		r.Current = &Metrics{LogLoss(pc, y), AUC(pc, y)}
	}
	var logged, n float64
	for i := range holdout {
		if holdout[i].Propensity > 0 {
			n++
			if holdout[i].Outcome {
				logged++
			}
		}
	}
	if n > 0 {
		probs := make([]float64, len(m.Actions))
		mp := EstimatePolicy(holdout, func(e *Example) string {
			m.Predict(&e.Features, probs)
			return m.Actions[argmax(probs)]
		})
		best := base.Best(m.Actions)
		bp := EstimatePolicy(holdout, func(*Example) string { return best })
		r.ModelPolicy, r.BaselinePolicy, r.LoggedRate = &mp, &bp, logged/n
	}
	switch {
	case !(r.Model.LogLoss < r.Baseline.LogLoss):
		r.Reason = fmt.Sprintf("not promoted: holdout log-loss %.5f is not below the baseline's %.5f", r.Model.LogLoss, r.Baseline.LogLoss)
	case !(r.Model.AUC >= r.Baseline.AUC):
		r.Reason = fmt.Sprintf("not promoted: holdout AUC %.4f is below the baseline's %.4f", r.Model.AUC, r.Baseline.AUC)
	case r.Current != nil && !(r.Model.LogLoss < r.Current.LogLoss):
		r.Reason = fmt.Sprintf("not promoted: holdout log-loss %.5f is not below the current model's %.5f", r.Model.LogLoss, r.Current.LogLoss)
	default:
		r.Promoted = true
		r.Reason = fmt.Sprintf("promoted: holdout log-loss %.5f < baseline %.5f, AUC %.4f ≥ baseline %.4f", r.Model.LogLoss, r.Baseline.LogLoss, r.Model.AUC, r.Baseline.AUC)
		if r.Current != nil {
			r.Reason += fmt.Sprintf(", log-loss < current %.5f", r.Current.LogLoss)
		}
	}
}

func argmax(xs []float64) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}

// logLossOn is the log-loss of m on examples, for epoch selection.
func logLossOn(m *MLP, ex []Example) float64 {
	p := make([]float64, len(ex))
	y := make([]bool, len(ex))
	for i := range ex {
		p[i], _ = m.PredictAction(&ex[i].Features, ex[i].Action)
		y[i] = ex[i].Outcome
	}
	return LogLoss(p, y)
}
