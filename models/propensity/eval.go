package propensity

import (
	"cmp"
	"math"
	"slices"
)

// LogLoss is the mean negative log-likelihood of outcomes y under
// probabilities p, with p clipped to [1e-7, 1−1e-7] so one confident
// mistake is large but finite.
func LogLoss(p []float64, y []bool) float64 {
	if len(p) == 0 {
		return math.NaN()
	}
	var s float64
	for i, pi := range p {
		pi = min(max(pi, 1e-7), 1-1e-7)
		if y[i] {
			s -= math.Log(pi)
		} else {
			s -= math.Log1p(-pi)
		}
	}
	return s / float64(len(p))
}

// AUC is the area under the ROC curve: the probability that a random
// positive is scored above a random negative, ties counting one half
// (the Mann-Whitney statistic with mid-ranks). NaN without both classes.
func AUC(p []float64, y []bool) float64 {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(p[a], p[b]) })
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && p[idx[j]] == p[idx[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			if y[idx[k]] {
				pos++
				rankSum += mid
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// PolicyValue is an off-policy estimate of a policy's outcome rate from
// logged examples (inverse propensity weighting).
type PolicyValue struct {
	// IPW is Σ 1[π(x)=a]·y/p / n, unbiased when the logged propensities
	// are right; StdErr is its standard error.
	IPW, StdErr float64
	// SNIPS is the self-normalised estimate Σ w·y / Σ w: a little biased,
	// much less variable.
	SNIPS float64
	// Matched is how many logged actions the policy agreed with; N is how
	// many examples had a known propensity.
	Matched, N int
}

// EstimatePolicy estimates the outcome rate of the policy that, for each
// example, chooses the action choose returns. Examples without a logged
// propensity are skipped.
func EstimatePolicy(ex []Example, choose func(e *Example) string) PolicyValue {
	var sum, sum2, wsum float64
	var pv PolicyValue
	for i := range ex {
		e := &ex[i]
		if e.Propensity <= 0 {
			continue
		}
		pv.N++
		if choose(e) != e.Action {
			continue
		}
		pv.Matched++
		w := 1 / e.Propensity
		wsum += w
		if e.Outcome {
			sum += w
			sum2 += w * w
		}
	}
	if pv.N == 0 {
		return PolicyValue{IPW: math.NaN(), StdErr: math.NaN(), SNIPS: math.NaN()}
	}
	n := float64(pv.N)
	pv.IPW = sum / n
	pv.StdErr = math.Sqrt(max(sum2/n-pv.IPW*pv.IPW, 0) / n)
	pv.SNIPS = math.NaN()
	if wsum > 0 {
		pv.SNIPS = sum / wsum
	}
	return pv
}
