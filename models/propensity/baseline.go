package propensity

// Baseline is the Bayesian per-action model the learned one must beat:
// each action's conversion rate is the mean of its Beta posterior, the
// prior centred on the pooled rate of all actions with the weight of
// Strength observations (empirical Bayes: fitted to the spread of the
// actions' rates unless given). It ignores the contact, so it is the
// closed-form default next-best-action starts from.
type Baseline struct {
	Alpha, Beta map[string]float64 // posterior parameters per action
	// Prior parameters, for actions without examples.
	PriorAlpha, PriorBeta float64
	// Strength is PriorAlpha + PriorBeta, in pseudo-observations.
	Strength float64
}

// Bounds of a fitted prior strength: at least two pseudo-observations
// (the weakest prior that still keeps an unseen action off 0), at most
// 10,000 (actions indistinguishable from the pooled rate).
const (
	MinPriorStrength = 2
	MaxPriorStrength = 10_000
)

// FitBaseline computes the posterior of every action seen in ex. A
// priorStrength ≤ 0 is fitted by the method of moments: the spread of the
// actions' observed rates beyond what binomial noise explains is the
// prior's variance m(1−m)/(strength+1).
func FitBaseline(ex []Example, priorStrength float64) *Baseline {
	var pos float64
	n := map[string]float64{}
	k := map[string]float64{}
	for i := range ex {
		n[ex[i].Action]++
		if ex[i].Outcome {
			pos++
			k[ex[i].Action]++
		}
	}
	rate := (pos + 0.5) / (float64(len(ex)) + 1) // never exactly 0 or 1
	if priorStrength <= 0 {
		priorStrength = fitStrength(rate, n, k)
	}
	b := &Baseline{Strength: priorStrength,
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

func fitStrength(m float64, n, k map[string]float64) float64 {
	if len(n) < 2 {
		return MinPriorStrength
	}
	var total, v, noise float64
	for a, na := range n {
		d := k[a]/na - m
		v += na * d * d
		noise += m * (1 - m) // na · m(1−m)/na
		total += na
	}
	between := (v - noise) / total // weighted variance beyond binomial noise
	if between <= 0 {
		return MaxPriorStrength
	}
	return min(max(m*(1-m)/between-1, MinPriorStrength), MaxPriorStrength)
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
