package propensity

import "fmt"

// BaselineReport judges the Bayesian per-action baseline alone on the
// same holdout Train would use: what the pure-Go build can say about a
// decision log (Train needs the torch build), and the bar a learned model
// has to clear.
type BaselineReport struct {
	Examples, Train, Holdout int
	// HoldoutFrom is the At of the first held-out example.
	HoldoutFrom int64
	Baseline    Metrics
	// BaselineStrength is the fitted prior strength.
	BaselineStrength float64
	// BaselinePolicy is the off-policy outcome rate of always showing
	// the baseline's best action, and LoggedRate the logged policy's
	// own rate, on the holdout's examples that carry a logging
	// propensity; nil and 0 when none does.
	BaselinePolicy *PolicyValue
	LoggedRate     float64
	// Best is the baseline's best action.
	Best string
}

// String renders the report on a few lines.
func (r *BaselineReport) String() string {
	s := fmt.Sprintf("examples %d: train %d, holdout %d from At=%d\n"+
		"baseline (prior strength %.0f) on the holdout: log-loss %.5f, AUC %.4f",
		r.Examples, r.Train, r.Holdout, r.HoldoutFrom, r.BaselineStrength, r.Baseline.LogLoss, r.Baseline.AUC)
	if r.BaselinePolicy != nil {
		s += fmt.Sprintf("\nIPW outcome rate: baseline policy (always %s) %.5f ± %.5f (%d matched), logged %.5f",
			r.Best, r.BaselinePolicy.IPW, r.BaselinePolicy.StdErr, r.BaselinePolicy.Matched, r.LoggedRate)
	} else {
		s += "\nno logging propensities in the examples: no off-policy estimate"
	}
	return s
}

// EvaluateBaseline splits ex exactly as Train does (cfg's Actions,
// HoldoutFraction, ValidationFraction, MinExamples, PriorStrength), fits
// the baseline on the training part and measures it on the holdout. It
// fails with ErrTooFewExamples where Train would.
func EvaluateBaseline(ex []Example, cfg TrainConfig) (*BaselineReport, error) {
	if err := cfg.defaults(ex); err != nil {
		return nil, err
	}
	train, holdout, _, err := split(ex, &cfg)
	if err != nil {
		return nil, err
	}
	base := FitBaseline(train, cfg.PriorStrength)
	r := &BaselineReport{Examples: len(ex), Train: len(train), Holdout: len(holdout), HoldoutFrom: holdout[0].At,
		BaselineStrength: base.Strength, Best: base.Best(cfg.Actions)}
	p := make([]float64, len(holdout))
	y := make([]bool, len(holdout))
	var logged, n float64
	for i := range holdout {
		p[i] = base.Predict(holdout[i].Action)
		y[i] = holdout[i].Outcome
		if holdout[i].Propensity > 0 {
			n++
			if y[i] {
				logged++
			}
		}
	}
	r.Baseline = Metrics{LogLoss(p, y), AUC(p, y)}
	if n > 0 {
		bp := EstimatePolicy(holdout, func(*Example) string { return r.Best })
		r.BaselinePolicy, r.LoggedRate = &bp, logged/n
	}
	return r, nil
}
