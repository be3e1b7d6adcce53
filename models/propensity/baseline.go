package propensity

// Baseline is the Bayesian per-action model the learned one must beat:
// each action's conversion rate is the mean of its Beta posterior, the
// prior centred on the pooled rate of all actions (empirical Bayes) with
// the weight of PriorStrength observations. It ignores the contact, so it
// is the closed-form default next-best-action starts from.
type Baseline struct {
	Alpha, Beta map[string]float64 // posterior parameters per action
	// Prior parameters, for actions without examples.
	PriorAlpha, PriorBeta float64
}

// DefaultPriorStrength is the prior's weight in pseudo-observations.
const DefaultPriorStrength = 2

// FitBaseline computes the posterior of every action seen in ex.
func FitBaseline(ex []Example, priorStrength float64) *Baseline {
	if priorStrength <= 0 {
		priorStrength = DefaultPriorStrength
	}
	var pos float64
	for i := range ex {
		if ex[i].Outcome {
			pos++
		}
	}
	rate := (pos + 0.5) / (float64(len(ex)) + 1) // never exactly 0 or 1
	b := &Baseline{
		Alpha: map[string]float64{}, Beta: map[string]float64{},
		PriorAlpha: rate * priorStrength, PriorBeta: (1 - rate) * priorStrength,
	}
	for i := range ex {
		a := ex[i].Action
		if _, ok := b.Alpha[a]; !ok {
			b.Alpha[a], b.Beta[a] = b.PriorAlpha, b.PriorBeta
		}
		if ex[i].Outcome {
			b.Alpha[a]++
		} else {
			b.Beta[a]++
		}
	}
	return b
}

// Predict returns the posterior mean conversion rate of an action.
func (b *Baseline) Predict(action string) float64 {
	al, ok := b.Alpha[action]
	if !ok {
		return b.PriorAlpha / (b.PriorAlpha + b.PriorBeta)
	}
	return al / (al + b.Beta[action])
}

// Best returns the action with the highest posterior mean among actions
// (ties: the first).
func (b *Baseline) Best(actions []string) string {
	best, bp := "", -1.0
	for _, a := range actions {
		if p := b.Predict(a); p > bp {
			best, bp = a, p
		}
	}
	return best
}
