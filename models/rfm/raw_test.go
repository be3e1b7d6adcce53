package rfm

import (
	"math"
	"testing"
)

func TestRaw(t *testing.T) {
	type day struct {
		day    int32
		orders uint16
		spend  int64
	}
	tests := []struct {
		name    string
		days    []day
		at      int32
		cfg     Config
		r, f, m float64
		ok      bool
	}{
		{name: "no purchases", at: 100},
		{name: "only future purchases", days: []day{{101, 1, 500}}, at: 100},
		{name: "bought on the evaluation day", days: []day{{100, 2, 1999}}, at: 100, r: 0, f: 2, m: 19.99, ok: true},
		{
			name: "history, later days ignored",
			days: []day{{10, 1, 1000}, {50, 3, 2500}, {90, 1, 100}, {120, 5, 99999}},
			at:   100, r: 10, f: 5, m: 36, ok: true,
		},
		{
			name: "window excludes its first day",
			days: []day{{0, 1, 100}, {1, 2, 200}, {365, 1, 300}},
			at:   365, r: 0, f: 3, m: 5, ok: true, // (0, 365] holds days 1 and 365
		},
		{
			name: "last purchase outside the window",
			days: []day{{0, 4, 10000}},
			at:   400, r: 400, f: 0, m: 0, ok: true,
		},
		{
			name: "short window",
			days: []day{{70, 1, 100}, {80, 2, 200}, {95, 1, 300}},
			at:   100, cfg: Config{WindowDays: 25}, r: 5, f: 3, m: 5, ok: true,
		},
		{
			name: "refunds exceeding spend floor monetary at zero",
			days: []day{{90, 1, 1000}, {95, 1, -2500}},
			at:   100, r: 5, f: 2, m: 0, ok: true,
		},
		{
			name: "zero-order days are not purchases",
			days: []day{{50, 1, 100}, {99, 0, 700}},
			at:   100, r: 50, f: 1, m: 1, ok: true,
		},
		{name: "only zero-order days", days: []day{{50, 0, 100}}, at: 100},
		{
			name: "window beyond the maximum is the maximum",
			days: []day{{0, 1, 100}, {1, 1, 100}},
			at:   MaxWindowDays, cfg: Config{WindowDays: math.MaxInt}, r: MaxWindowDays - 1, f: 1, m: 1, ok: true, // (0, max] holds day 1
		},
		{
			name: "minor units per major",
			days: []day{{100, 1, 1500}},
			at:   100, cfg: Config{MinorPerMajor: 1}, r: 0, f: 1, m: 1500, ok: true,
		},
		{
			name: "extreme days",
			days: []day{{math.MinInt32, 1, 100}, {math.MaxInt32, 1, 200}},
			at:   math.MaxInt32, cfg: Config{WindowDays: 1}, r: 0, f: 1, m: 2, ok: true,
		},
		{
			name: "extreme recency",
			days: []day{{math.MinInt32, 1, 100}},
			at:   math.MaxInt32, r: math.MaxUint32, f: 0, m: 0, ok: true,
		},
		{
			name: "saturating spend",
			days: []day{{1, 1, math.MaxInt64}, {2, 1, math.MaxInt64}},
			at:   2, cfg: Config{MinorPerMajor: 1}, r: 0, f: 2, m: math.MaxInt64, ok: true,
		},
		{
			name: "orders summed past uint16",
			days: []day{{1, math.MaxUint16, 0}, {2, math.MaxUint16, 0}},
			at:   2, r: 0, f: 2 * math.MaxUint16, m: 0, ok: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var days []int32
			var orders []uint16
			var spends []int64
			for _, d := range tt.days {
				days = append(days, d.day)
				orders = append(orders, d.orders)
				spends = append(spends, d.spend)
			}
			r, f, m, ok := Raw(days, orders, spends, tt.at, tt.cfg)
			if r != tt.r || f != tt.f || m != tt.m || ok != tt.ok {
				t.Errorf("Raw = (%v, %v, %v, %v), want (%v, %v, %v, %v)", r, f, m, ok, tt.r, tt.f, tt.m, tt.ok)
			}
		})
	}
}

func TestRawMismatchedSlices(t *testing.T) {
	for _, tt := range []struct {
		name   string
		orders []uint16
		spends []int64
	}{
		{"short orders", []uint16{1}, []int64{1, 2}},
		{"short spends", []uint16{1, 1}, []int64{1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, ok := Raw([]int32{1, 2}, tt.orders, tt.spends, 5, Config{}); ok {
				t.Error("Raw accepted slices of different lengths")
			}
		})
	}
}

func TestRawDoesNotAllocate(t *testing.T) {
	days, orders, spends := purchaseHistory(200)
	allocs := testing.AllocsPerRun(100, func() {
		Raw(days, orders, spends, days[len(days)-1], Config{})
	})
	if allocs != 0 {
		t.Errorf("Raw allocates %v times per call", allocs)
	}
}

// purchaseHistory returns n purchase days three days apart.
func purchaseHistory(n int) ([]int32, []uint16, []int64) {
	days := make([]int32, n)
	orders := make([]uint16, n)
	spends := make([]int64, n)
	for i := range n {
		days[i] = int32(20000 + 3*i)
		orders[i] = uint16(1 + i%3)
		spends[i] = int64(1000 + 37*i)
	}
	return days, orders, spends
}
