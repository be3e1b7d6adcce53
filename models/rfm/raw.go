package rfm

import (
	"math"
	"slices"
)

// Raw computes a customer's raw recency, frequency and monetary value at
// the evaluation day atDay from per-day purchase data: days are the
// distinct purchase days (days since 1970-01-01), sorted ascending, and
// orders[i] and spends[i] (minor units, net of refunds) belong to
// days[i]; this is state.PurchaseDay split into columns.
//
// Only days ≤ atDay count, so a past instant can be evaluated on today's
// data. A day with zero orders is not a purchase and is skipped. Then:
//
//   - r = atDay − the last purchase day ≤ atDay, in whole days (0 if the
//     customer bought on atDay);
//   - f = the orders on days in the window (atDay − WindowDays, atDay];
//   - m = the spend on those days in major units (spend / MinorPerMajor),
//     0 if refunds in the window exceed purchases.
//
// ok is false, and r, f, m are 0, when the customer has no purchase on or
// before atDay (not a customer at atDay), or when the three slices differ
// in length. Days out of order give unspecified values, never a panic. It
// does not allocate; the cost is a binary search plus one step per
// purchase day in the window.
func Raw(days []int32, orders []uint16, spends []int64, atDay int32, cfg Config) (r, f, m float64, ok bool) {
	if len(orders) != len(days) || len(spends) != len(days) {
		return 0, 0, 0, false
	}
	cfg = cfg.withDefaults()
	// end is the number of days ≤ atDay.
	end := len(days)
	if atDay < math.MaxInt32 {
		end, _ = slices.BinarySearch(days, atDay+1)
	}
	last := -1
	for i := end - 1; i >= 0; i-- {
		if orders[i] != 0 {
			last = i
			break
		}
	}
	if last < 0 {
		return 0, 0, 0, false
	}
	start := int64(atDay) - int64(cfg.WindowDays) // exclusive
	var nOrders uint64
	var spend int64
	for i := last; i >= 0 && int64(days[i]) > start; i-- {
		if orders[i] == 0 {
			continue
		}
		nOrders += uint64(orders[i])
		spend = addSat(spend, spends[i])
	}
	r = float64(int64(atDay) - int64(days[last]))
	f = float64(nOrders)
	if spend > 0 {
		m = float64(spend) / float64(cfg.MinorPerMajor)
	}
	return r, f, m, true
}

// addSat adds without wrapping around.
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}
