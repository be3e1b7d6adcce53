package churn

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Week is the default model time unit, the one of the literature.
const Week = 7 * 24 * time.Hour

// MinorPerMajor converts the spends passed to FromPurchaseDays (minor units)
// to the major units of Customer.MeanRepeatSpend. It assumes a currency with
// two decimals; for others (JPY: 1, KWD: 1000) the figures are only rescaled:
// Gamma-Gamma is scale-equivariant (γ scales with the money unit, p and q do
// not), so fits and CLV remain right in the scaled unit.
const MinorPerMajor = 100

// MaxRepeat bounds Customer.X: more repeat transactions than this are
// rejected by Validate, Summary.Add and DecodeSummary.
const MaxRepeat = 1 << 24

// ErrInvalidCustomer is returned (wrapped) by Customer.Validate and
// Summary.Add for statistics that no purchase history can produce.
var ErrInvalidCustomer = errors.New("churn: invalid customer statistics")

// Customer holds the sufficient statistics of one customer for BG/NBD and
// Gamma-Gamma. Times are in the model's time unit (the unit the parameters
// were fitted in, a week by default) and measured from the first purchase.
type Customer struct {
	// X is the number of repeat transactions: distinct purchase days minus
	// one. It is a non-negative whole number.
	X float64
	// Tx is the time of the last purchase (0 when X == 0) and T the age of
	// the customer at the time of observation, both since the first
	// purchase; 0 <= Tx <= T.
	Tx, T float64
	// MeanRepeatSpend (zbar) is the mean spend of the X repeat
	// transactions in major units (the first purchase is excluded, as
	// Gamma-Gamma requires); 0 when X == 0.
	MeanRepeatSpend float64
}

// Validate reports whether c is something a purchase history can produce:
// finite values, X a whole number in [0, MaxRepeat], 0 <= Tx <= T, Tx == 0
// when X == 0, MeanRepeatSpend >= 0. The error wraps ErrInvalidCustomer.
func (c Customer) Validate() error {
	bad := func(what string) error {
		return fmt.Errorf("%w: %s (x=%v t_x=%v T=%v zbar=%v)", ErrInvalidCustomer, what, c.X, c.Tx, c.T, c.MeanRepeatSpend)
	}
	switch {
	case !(c.X >= 0 && c.X <= MaxRepeat) || c.X != math.Trunc(c.X):
		return bad("x must be a whole number of repeat transactions in [0, 2^24]")
	case !(c.Tx >= 0) || math.IsInf(c.Tx, 0):
		return bad("t_x must be finite and >= 0")
	case !(c.T >= c.Tx) || math.IsInf(c.T, 0):
		return bad("T must be finite and >= t_x")
	case c.X == 0 && c.Tx != 0:
		return bad("t_x must be 0 when x is 0")
	case !(c.MeanRepeatSpend >= 0) || math.IsInf(c.MeanRepeatSpend, 0):
		return bad("mean repeat spend must be finite and >= 0")
	}
	return nil
}

// unitDays returns the length of unit in days; unit <= 0 means Week.
func unitDays(unit time.Duration) float64 {
	if unit <= 0 {
		unit = Week
	}
	return float64(unit) / float64(24*time.Hour)
}

// FromPurchaseDays builds a customer's statistics from its purchase days, as
// the BG/NBD literature does (and as reproduces the CDNOW summaries):
//
//   - days are day numbers (days since 1970-01-01 in the contact's time
//     zone, state.PurchaseDay.Day) and spends[i] the net spend of days[i] in
//     minor units; spends may be nil (no monetary data: zbar is 0), else it
//     must have the length of days;
//   - days after atDay are ignored (historical replays, calibration
//     periods); atDay may be fractional (a day number plus a fraction of the
//     day elapsed); a day equal to atDay counts;
//   - equal day numbers are merged into one transaction (their spends
//     summed); days need not be sorted, though sorted input (the stored
//     order) avoids an allocation;
//   - the first purchase day is the origin: X = distinct days - 1,
//     Tx = last - first, T = atDay - first, converted to unit (<= 0 means
//     Week, the default);
//   - MeanRepeatSpend is the mean spend of the repeat days (the first day
//     excluded) in major units (spend / MinorPerMajor); a day with a
//     negative net spend counts as a transaction with spend 0.
//
// The caller passes net purchase days: the day of a cancelled order is
// removed (if it was the day's only order), a refund lowers that day's
// spend. It returns false when no purchase is on or before atDay, when
// atDay is not finite, or when spends has the wrong length.
func FromPurchaseDays(days []int32, spends []int64, atDay float64, unit time.Duration) (Customer, bool) {
	if spends != nil && len(spends) != len(days) {
		return Customer{}, false
	}
	if math.IsNaN(atDay) || math.IsInf(atDay, 0) {
		return Customer{}, false
	}
	sorted := true
	for i := 1; i < len(days); i++ {
		if days[i] < days[i-1] {
			sorted = false
			break
		}
	}
	if !sorted {
		type pd struct {
			day   int32
			spend int64
		}
		ps := make([]pd, len(days))
		for i, d := range days {
			ps[i].day = d
			if spends != nil {
				ps[i].spend = spends[i]
			}
		}
		slices.SortStableFunc(ps, func(a, b pd) int { return cmp.Compare(a.day, b.day) })
		ds := make([]int32, len(ps))
		var ss []int64
		if spends != nil {
			ss = make([]int64, len(ps))
		}
		for i, p := range ps {
			ds[i] = p.day
			if ss != nil {
				ss[i] = p.spend
			}
		}
		days, spends = ds, ss
	}

	var (
		n           int // distinct days on or before atDay
		first, last int32
		daySpend    float64 // net spend of day last, so far
		repeatSpend float64 // sum of the closed repeat days' spends, each clamped at 0
	)
	for i, d := range days {
		if float64(d) > atDay {
			break
		}
		var s float64
		if spends != nil {
			s = float64(spends[i])
		}
		if n > 0 && d == last {
			daySpend += s
			continue
		}
		// A new distinct day: close the previous one if it was a repeat.
		if n == 0 {
			first = d
		} else if n > 1 {
			repeatSpend += max(daySpend, 0)
		}
		n++
		last, daySpend = d, s
	}
	if n == 0 {
		return Customer{}, false
	}
	if n > 1 {
		repeatSpend += max(daySpend, 0)
	}
	u := unitDays(unit)
	c := Customer{
		X:  float64(n - 1),
		Tx: float64(int64(last)-int64(first)) / u,
		T:  (atDay - float64(first)) / u,
	}
	if n > 1 {
		c.MeanRepeatSpend = repeatSpend / float64(n-1) / MinorPerMajor
	}
	return c, true
}
