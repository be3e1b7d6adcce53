package rfm

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidCuts is wrapped by Cuts.Validate; the message names the
// dimension and the cut.
var ErrInvalidCuts = errors.New("rfm: invalid cuts")

// Cuts are the four quintile boundaries of each dimension, listed from the
// worst boundary to the best: index k (0..3) separates score k+1 from
// score k+2. So R (days since the last order, fewer is better) is
// non-increasing, and F (orders) and M (major units) are non-decreasing.
// R[0] is the recency that 80 % of customers beat, F[0] and M[0] the
// values 20 % of customers stay below.
//
// Cuts is a plain value of about 300 bytes, safe to share between
// goroutines: compute it once per population (Quintiles, Config.Cuts) and
// score many customers with it.
type Cuts struct {
	R, F, M [4]float64
	// N is the number of customers of the population the cuts come from.
	N uint64
	// Fallback is true when the population was smaller than the minimum
	// and these are the configured fallback cuts, not its quintiles.
	Fallback bool

	// lo and hi are the bounds [lo, hi) of the sketch bin of each cut,
	// indexed [dimension R, F, M][cut], set with binned by Quintiles.
	// Cuts without them (fallback, hand-made) compare values exactly.
	lo, hi [3][4]float64
	binned bool
}

// Score is the 1..5 score of each dimension; 5 is best. The zero Score is
// not valid: it is what a non-customer has.
type Score struct{ R, F, M int }

// Valid reports whether every dimension is in 1..5.
func (s Score) Valid() bool {
	return s.R >= 1 && s.R <= 5 && s.F >= 1 && s.F <= 5 && s.M >= 1 && s.M <= 5
}

// DefaultCuts returns the fallback cuts used while a population is too
// small for quintiles:
//
//	R days    365, 180, 90, 30: score 5 ≤ 30 < 4 ≤ 90 < 3 ≤ 180 < 2 ≤ 365 < 1
//	F orders  2, 3, 5, 8:       score 1 ≤ 1, 2 = 2, 3 in 3..4, 4 in 5..7, 5 ≥ 8
//	M units   50, 150, 400, 1000 (major units of the shop's currency;
//	          set Config.Fallback for another scale)
func DefaultCuts() Cuts {
	return Cuts{
		R: [4]float64{365, 180, 90, 30},
		F: [4]float64{2, 3, 5, 8},
		M: [4]float64{50, 150, 400, 1000},
	}
}

// Validate reports cuts that Score cannot use consistently: a negative,
// NaN or infinite cut, or cuts out of order.
func (c Cuts) Validate() error {
	for _, d := range [3]struct {
		name string
		cuts *[4]float64
		desc bool
	}{{"R", &c.R, true}, {"F", &c.F, false}, {"M", &c.M, false}} {
		for k, v := range d.cuts {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return fmt.Errorf("%w: %s[%d] is %v; use a finite value ≥ 0", ErrInvalidCuts, d.name, k, v)
			}
			if k == 0 {
				continue
			}
			if prev := d.cuts[k-1]; d.desc && v > prev {
				return fmt.Errorf("%w: R[%d] = %v is above R[%d] = %v; list recency cuts from the most days to the fewest",
					ErrInvalidCuts, k, v, k-1, prev)
			} else if !d.desc && v < prev {
				return fmt.Errorf("%w: %s[%d] = %v is below %s[%d] = %v; list cuts from the lowest to the highest",
					ErrInvalidCuts, d.name, k, v, d.name, k-1, prev)
			}
		}
	}
	return nil
}

// Score scores a customer's raw recency r (days), frequency f (orders)
// and monetary value m (major units) against the cuts. It does not
// allocate.
//
// Tie rule: a value equal to one cut scores the better of the two
// buckets the cut separates (with DefaultCuts, 30 days scores R 5 and 2
// orders F 2). On discrete data several cuts can coincide; a value equal
// to a run of e coinciding cuts could belong to any of the e+1 buckets
// the run spans, and scores the middle one, the better middle when there
// are two: score = 1 + (cuts it strictly beats) + ceil(e/2). For example
// F cuts 1, 1, 2, 2 (60 % of customers ordered once) score one order 2,
// two orders 4 and three 5. A NaN value scores 1.
//
// "Equal" is exact for fallback and hand-made cuts. For cuts from a
// population (Quintiles) it means "in the same sketch bin as the cut's
// customer": values within about RelativeAccuracy of the cut, which the
// sketch cannot tell apart from it. So customers who share a value (one
// order, a popular price) are tied whatever the sketch's error, and a
// customer exactly at a cut scores the better bucket. Whole numbers below
// 100 have a bin each, so for R and F there this is exact equality.
func (c Cuts) Score(r, f, m float64) Score {
	return Score{
		R: score(&c.R, &c.lo[0], &c.hi[0], c.binned, r, true),
		F: score(&c.F, &c.lo[1], &c.hi[1], c.binned, f, false),
		M: score(&c.M, &c.lo[2], &c.hi[2], c.binned, m, false),
	}
}

func score(cuts, lo, hi *[4]float64, binned bool, v float64, lowerIsBetter bool) int {
	if math.IsNaN(v) {
		return 1
	}
	beaten, equal := 0, 0
	for k, c := range cuts {
		below, above := v < c, v > c
		if binned {
			below, above = v < lo[k], v >= hi[k]
		}
		switch {
		case below == above: // neither
			equal++
		case above != lowerIsBetter:
			beaten++
		}
	}
	return 1 + beaten + (equal+1)/2
}
