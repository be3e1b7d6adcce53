package churn

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestFromPurchaseDays(t *testing.T) {
	const at = 100.0
	for _, tc := range []struct {
		name   string
		days   []int32
		spends []int64
		at     float64
		unit   time.Duration
		want   Customer
		ok     bool
	}{
		{name: "none", at: at},
		{name: "all after at", days: []int32{101, 105}, spends: []int64{100, 100}, at: at},
		{name: "NaN at", days: []int32{1}, at: math.NaN()},
		{name: "spends of the wrong length", days: []int32{1, 2}, spends: []int64{1}, at: at},
		{
			name: "one purchase", days: []int32{30}, spends: []int64{1999}, at: at,
			want: Customer{X: 0, Tx: 0, T: 10}, ok: true,
		},
		{
			name: "first day's spend excluded", days: []int32{16, 23, 30}, spends: []int64{100000, 1000, 3000}, at: at,
			want: Customer{X: 2, Tx: 2, T: 12, MeanRepeatSpend: 20}, ok: true,
		},
		{
			name: "same day merged", days: []int32{16, 16, 23, 23, 23}, spends: []int64{5, 5, 1000, 2000, 500}, at: at,
			want: Customer{X: 1, Tx: 1, T: 12, MeanRepeatSpend: 35}, ok: true,
		},
		{
			name: "unsorted", days: []int32{23, 16, 30, 23}, spends: []int64{1000, 5, 4000, 2000}, at: at,
			want: Customer{X: 2, Tx: 2, T: 12, MeanRepeatSpend: 35}, ok: true,
		},
		{
			name: "days after at ignored", days: []int32{16, 23, 101, 200}, spends: []int64{1, 700, 900, 900}, at: at,
			want: Customer{X: 1, Tx: 1, T: 12, MeanRepeatSpend: 7}, ok: true,
		},
		{
			name: "day equal to at counts", days: []int32{86, 100}, spends: []int64{1, 700}, at: at,
			want: Customer{X: 1, Tx: 2, T: 2, MeanRepeatSpend: 7}, ok: true,
		},
		{
			name: "fractional at", days: []int32{93}, at: 100.5,
			want: Customer{X: 0, Tx: 0, T: 7.5 / 7}, ok: true,
		},
		{
			name: "no monetary data", days: []int32{2, 9}, at: at,
			want: Customer{X: 1, Tx: 1, T: 14}, ok: true,
		},
		{
			name: "refunded day counts with spend 0", days: []int32{2, 9, 16}, spends: []int64{500, -300, 1000}, at: at,
			want: Customer{X: 2, Tx: 2, T: 14, MeanRepeatSpend: 5}, ok: true,
		},
		{
			name: "unit of a day", days: []int32{90, 95}, spends: []int64{0, 250}, at: at, unit: 24 * time.Hour,
			want: Customer{X: 1, Tx: 5, T: 10, MeanRepeatSpend: 2.5}, ok: true,
		},
		{
			name: "negative and extreme day numbers", days: []int32{math.MinInt32, -5, math.MaxInt32}, spends: []int64{1, 2, 3}, at: 0,
			want: Customer{X: 1, Tx: (float64(math.MinInt32)*-1 - 5) / 7, T: -float64(math.MinInt32) / 7, MeanRepeatSpend: 0.02}, ok: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := FromPurchaseDays(tc.days, tc.spends, tc.at, tc.unit)
			if ok != tc.ok || !closeCustomer(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
			if ok {
				if err := got.Validate(); err != nil {
					t.Errorf("FromPurchaseDays built an invalid customer: %v", err)
				}
			}
		})
	}
}

func closeCustomer(a, b Customer) bool {
	near := func(x, y float64) bool { return math.Abs(x-y) <= 1e-12*max(1, math.Abs(y)) }
	return near(a.X, b.X) && near(a.Tx, b.Tx) && near(a.T, b.T) && near(a.MeanRepeatSpend, b.MeanRepeatSpend)
}

func TestFromPurchaseDaysSortedDoesNotAllocate(t *testing.T) {
	days := []int32{10, 12, 12, 40, 77}
	spends := []int64{100, 200, 300, 400, 500}
	if n := testing.AllocsPerRun(100, func() { FromPurchaseDays(days, spends, 100, Week) }); n != 0 {
		t.Errorf("%v allocations per call on sorted days, want 0", n)
	}
}

func TestCustomerValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Customer
		ok   bool
	}{
		{"new", Customer{T: 0}, true},
		{"repeat", Customer{X: 3, Tx: 2, T: 5, MeanRepeatSpend: 12.5}, true},
		{"tx equals T", Customer{X: 1, Tx: 5, T: 5}, true},
		{"negative x", Customer{X: -1}, false},
		{"fractional x", Customer{X: 1.5, Tx: 1, T: 2}, false},
		{"x too large", Customer{X: MaxRepeat + 1, Tx: 1, T: 2}, false},
		{"NaN x", Customer{X: math.NaN()}, false},
		{"tx above T", Customer{X: 1, Tx: 3, T: 2}, false},
		{"negative tx", Customer{X: 1, Tx: -1, T: 2}, false},
		{"infinite T", Customer{X: 1, Tx: 1, T: math.Inf(1)}, false},
		{"tx without repeat", Customer{X: 0, Tx: 1, T: 2}, false},
		{"negative spend", Customer{X: 1, Tx: 1, T: 2, MeanRepeatSpend: -1}, false},
		{"NaN spend", Customer{X: 1, Tx: 1, T: 2, MeanRepeatSpend: math.NaN()}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", tc.c, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidCustomer) {
				t.Errorf("error %v does not wrap ErrInvalidCustomer", err)
			}
			var s Summary
			if err := s.Add(tc.c); (err == nil) != tc.ok {
				t.Errorf("Summary.Add = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
