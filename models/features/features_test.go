package features

import (
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/state"
)

const (
	day = msPerDay
	t0  = int64(1_767_225_600_000) // 2026-01-01T00:00:00Z
)

func idx(t *testing.T, name string) int {
	t.Helper()
	for i, n := range names {
		if n == name {
			return i
		}
	}
	t.Fatalf("no feature %q", name)
	return -1
}

func TestNamesMatchDoc(t *testing.T) {
	// The package documentation is the contract data teams read: every
	// name must appear in it at its index.
	src := docText(t)
	for i, n := range names {
		if strings.HasPrefix(n, "stage_") && n != "stage_age_days_log" || strings.HasPrefix(n, "category_slot_") {
			continue // documented as a range
		}
		if !regexp.MustCompile(`(?m)^//	` + itoa(i) + ` +` + n + ` `).MatchString(src) {
			t.Errorf("feature %d %q is not documented at its index", i, n)
		}
	}
	if Name(-1) != "" || Name(Len) != "" || Name(0) != names[0] {
		t.Error("Name bounds")
	}
	if got := Names(); len(got) != Len {
		t.Errorf("Names: %d, want %d", len(got), Len)
	}
}

func TestCompute(t *testing.T) {
	at := t0 + 400*day
	tests := []struct {
		name    string
		contact state.Contact
		want    map[string]float64
	}{
		{
			name: "empty record",
			want: map[string]float64{
				"seen_fresh_7d": 0, "tenure_days_log": 0, "has_ordered": 0,
				"open_rate": 0.25, "click_rate": 0.05, "click_to_open": 0.2,
				"stage_unknown": 1, "known": 0, "category_affinity_log": 0,
			},
		},
		{
			name: "recency and tenure",
			contact: state.Contact{
				FirstSeen: at - 99*day, LastSeen: at - 7*day,
				Sessions: state.Sessions{Count: 9},
			},
			want: map[string]float64{
				"seen_fresh_7d": 0.5, "seen_fresh_90d": math.Exp2(-7.0 / 90),
				"tenure_days_log": math.Log(100), "sessions_log": math.Log(10),
			},
		},
		{
			name: "orders",
			contact: state.Contact{
				Orders: state.Orders{Count: 3, Placed: 4, Cancelled: 1, Revenue: 29_900, Refunded: 100, Last: at - 30*day},
				Purchases: []state.PurchaseDay{
					{Day: int32(at/day - 400)}, {Day: int32(at/day - 365)}, {Day: int32(at/day - 364)},
					{Day: int32(at/day - 10)}, {Day: int32(at/day + 1)},
				},
			},
			want: map[string]float64{
				"has_ordered": 1, "order_fresh_30d": 0.5, "orders_log": math.Log(4),
				"purchase_days_365_log": math.Log(3), "monetary_log": math.Log1p(299),
				"aov_log": math.Log1p(299.0 / 3), "cancel_rate": 0.25, "refund_share": 100.0 / 30_000,
			},
		},
		{
			name: "open cart",
			contact: state.Contact{Cart: state.Cart{UpdatedAt: at - day, Items: []state.CartItem{
				{SKU: "a", Quantity: 2, Price: 1_000}, {SKU: "b", Quantity: 1, Price: 500},
			}}},
			want: map[string]float64{"cart_items_log": math.Log(4), "cart_value_log": math.Log1p(25), "cart_fresh_1d": 0.5},
		},
		{
			name: "email engagement",
			contact: state.Contact{Engagement: state.EmailStats{
				Sent: 20, Delivered: 16, Opened: 8, Clicked: 2, Bounced: 1,
				LastOpen: at - 30*day, LastClick: at - 60*day, LastSent: at,
			}},
			want: map[string]float64{
				"open_rate": 9.0 / 20, "click_rate": 2.2 / 20, "click_to_open": 2.4 / 10,
				"bounce_rate": 1.0 / 21, "open_fresh_30d": 0.5, "click_fresh_30d": 0.25, "sent_fresh_7d": 1,
			},
		},
		{
			name: "consent and identity",
			contact: func() state.Contact {
				c := state.Contact{EmailAddr: "ann@example.com"}
				c.Consent.Channels[state.ChannelEmail].Status = state.ConsentComplained
				c.Consent.Channels[state.ChannelPush].Status = state.ConsentOptedIn
				return c
			}(),
			want: map[string]float64{"email_opted_in": 0, "email_blocked": 1, "sms_opted_in": 0, "push_opted_in": 1, "known": 1},
		},
		{
			name:    "stage",
			contact: state.Contact{Scores: state.Scores{Stage: uint8(lead.StageMQL), StageAt: at - 2*day}},
			want:    map[string]float64{"stage_mql": 1, "stage_unknown": 0, "stage_age_days_log": math.Log(3)},
		},
		{
			name:    "stage from a newer engine reads as unknown",
			contact: state.Contact{Scores: state.Scores{Stage: 200}},
			want:    map[string]float64{"stage_unknown": 1},
		},
		{
			name: "affinities decay to at",
			contact: state.Contact{
				AffinityAt: at - 14*day,
				Categories: []state.Affinity{{Name: "shoes", Score: 6}, {Name: "bags", Score: 2}},
				Products:   []state.Affinity{{Name: "sku1", Score: 4}},
			},
			want: map[string]float64{"category_affinity_log": math.Log1p(4), "product_affinity_log": math.Log1p(2)},
		},
		{
			name:    "events stored after at count as now",
			contact: state.Contact{LastSeen: at + day, Recent: []state.RecentEvent{{At: at - 8*day}, {At: at - 2*day}, {At: at - 1}, {At: at + day}}},
			want:    map[string]float64{"seen_fresh_7d": 1, "recent_24h_log": math.Log(3), "recent_7d_log": math.Log(4)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Compute(&tt.contact, at)
			for name, want := range tt.want {
				if got := float64(v[idx(t, name)]); math.Abs(got-want) > 1e-6*max(1, math.Abs(want)) {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
		})
	}
}

func TestCategorySlotsAreShares(t *testing.T) {
	c := state.Contact{AffinityAt: t0, Categories: []state.Affinity{{Name: "shoes", Score: 3}, {Name: "bags", Score: 1}, {Name: "hats", Score: 0}}}
	v := Compute(&c, t0+5*day)
	var sum float64
	for k := range CategorySlots {
		sum += float64(v[categoryFirst+k])
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Fatalf("slots sum to %v, want 1", sum)
	}
	shoes := v[categoryFirst+CategorySlot("shoes")]
	if CategorySlot("shoes") != CategorySlot("bags") && math.Abs(float64(shoes)-0.75) > 1e-6 {
		t.Fatalf("shoes share %v, want 0.75", shoes)
	}
}

func TestNilContactIsEmptyRecord(t *testing.T) {
	if a, b := Compute(nil, t0), Compute(&state.Contact{}, t0); a != b {
		t.Fatalf("nil %v\nempty %v", a.String(), b.String())
	}
}

// Properties over random records: every feature is finite and inside its
// documented range, the vector is deterministic, and moving at forward
// never makes a freshness feature larger.
func TestComputeProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fresh := []int{idx(t, "seen_fresh_7d"), idx(t, "seen_fresh_90d"), idx(t, "order_fresh_30d"),
		idx(t, "order_fresh_365d"), idx(t, "cart_fresh_1d"), idx(t, "open_fresh_30d"), idx(t, "click_fresh_30d"), idx(t, "sent_fresh_7d")}
	for i := range 2000 {
		c := randomContact(rng)
		at := t0 + rng.Int64N(800*day)
		v := Compute(&c, at)
		if v != Compute(&c, at) {
			t.Fatal("not deterministic")
		}
		for k, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) || x < 0 {
				t.Fatalf("case %d: %s = %v", i, names[k], x)
			}
			if !strings.HasSuffix(names[k], "_log") && x > 1 {
				t.Fatalf("case %d: %s = %v > 1", i, names[k], x)
			}
		}
		var onehot float32
		for s := range stageSlots {
			onehot += v[stageFirst+s]
		}
		if onehot != 1 {
			t.Fatalf("case %d: stage one-hot sums to %v", i, onehot)
		}
		later := Compute(&c, at+rng.Int64N(30*day))
		for _, k := range fresh {
			if later[k] > v[k] {
				t.Fatalf("case %d: %s grew from %v to %v as time passed", i, names[k], v[k], later[k])
			}
		}
	}
}

func TestComputeDoesNotAllocate(t *testing.T) {
	c := randomContact(rand.New(rand.NewPCG(3, 4)))
	if n := testing.AllocsPerRun(100, func() { _ = Compute(&c, t0+400*day) }); n != 0 {
		t.Fatalf("Compute allocates %v times", n)
	}
}

func BenchmarkCompute(b *testing.B) {
	c := randomContact(rand.New(rand.NewPCG(5, 6)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Compute(&c, t0+400*day)
	}
}

func randomContact(rng *rand.Rand) state.Contact {
	ts := func() int64 {
		if rng.IntN(5) == 0 {
			return 0
		}
		return t0 + rng.Int64N(800*day)
	}
	c := state.Contact{
		FirstSeen: ts(), LastSeen: ts(), AffinityAt: ts(),
		Sessions: state.Sessions{Count: rng.Uint32N(500)},
		Orders: state.Orders{Count: rng.Int32N(40) - 2, Placed: rng.Uint32N(40), Cancelled: rng.Uint32N(5),
			Revenue: rng.Int64N(1_000_000) - 1000, Refunded: rng.Int64N(10_000), Last: ts()},
		Cart:       state.Cart{UpdatedAt: ts()},
		Engagement: state.EmailStats{Sent: rng.Uint32N(200), Delivered: rng.Uint32N(200), Opened: rng.Uint32N(100), Clicked: rng.Uint32N(50), Bounced: rng.Uint32N(3), LastOpen: ts(), LastClick: ts(), LastSent: ts()},
		Scores:     state.Scores{Stage: uint8(rng.IntN(9)), StageAt: ts()},
	}
	if c.Engagement.Sent < c.Engagement.Bounced {
		c.Engagement.Sent = c.Engagement.Bounced
	}
	if c.Orders.Placed < c.Orders.Cancelled {
		c.Orders.Placed = c.Orders.Cancelled
	}
	for k := range state.NumEventTypes {
		c.Counts[k] = rng.Uint32N(1000)
	}
	for range rng.IntN(state.RecentEventsCap) {
		c.Recent = append(c.Recent, state.RecentEvent{At: ts()})
	}
	for i := range rng.IntN(10) {
		c.Cart.Items = append(c.Cart.Items, state.CartItem{SKU: itoa(i), Quantity: rng.Int32N(5), Price: rng.Int64N(10_000)})
	}
	for i := range rng.IntN(state.MaxAffinities) {
		c.Categories = append(c.Categories, state.Affinity{Name: "cat" + itoa(i), Score: rng.Float64() * 10})
		c.Products = append(c.Products, state.Affinity{Name: "sku" + itoa(i), Score: rng.Float64() * 10})
	}
	d := int32(t0/day) - 10
	for range rng.IntN(50) {
		d += 1 + rng.Int32N(40)
		c.Purchases = append(c.Purchases, state.PurchaseDay{Day: d, Orders: 1})
	}
	c.Consent.Channels[state.ChannelEmail].Status = state.ConsentStatus(rng.IntN(5))
	return c
}
