package state

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
)

const msPerDay = int64(86_400_000)

// cloneContact deep-copies a contact through the codec (whose round trip is
// tested on its own).
func cloneContact(t *testing.T, c *Contact) *Contact {
	t.Helper()
	return roundTrip(t, c)
}

func TestDecayFactor(t *testing.T) {
	hl := AffinityHalfLife.Milliseconds()
	for _, tc := range []struct {
		name     string
		dt       int64
		halfLife time.Duration
		want     float64
	}{
		{"no time", 0, AffinityHalfLife, 1},
		{"back in time is not inflated", -hl, AffinityHalfLife, 1},
		{"one half-life", hl, AffinityHalfLife, 0.5},
		{"two half-lives", 2 * hl, AffinityHalfLife, 0.25},
		{"engagement half-life", EngagementHalfLife.Milliseconds(), EngagementHalfLife, 0.5},
		{"one millisecond", 1, time.Millisecond, 0.5},
		{"far future underflows to zero", math.MaxInt64, AffinityHalfLife, 0},
		{"zero half-life forgets", 1, 0, 0},
		{"zero half-life, no time", 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DecayFactor(tc.dt, tc.halfLife); math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("DecayFactor(%d, %v) = %v, want %v", tc.dt, tc.halfLife, got, tc.want)
			}
		})
	}
}

func TestAbsorbIdentity(t *testing.T) {
	many := func(prefix string, n int) []Key {
		var ks []Key
		for i := range n {
			ks = append(ks, Key(fmt.Sprintf("%s%03d", prefix, i)))
		}
		return ks
	}
	for _, tc := range []struct {
		name    string
		c, o    Contact
		want    Contact
		wantLen int // of Aliases, when the list itself is not spelled out
	}{
		{
			name: "o's key and aliases become sorted aliases",
			c:    Contact{Key: "c:1", Aliases: []Key{"e:ann@example.com"}},
			o:    Contact{Key: "a:zz", Aliases: []Key{"a:b", "e:ann@example.com"}},
			want: Contact{Key: "c:1", Aliases: []Key{"a:b", "a:zz", "e:ann@example.com"}},
		},
		{
			name: "c's own key is never an alias",
			c:    Contact{Key: "c:1"},
			o:    Contact{Key: "c:1", Aliases: []Key{"c:1", "a:x"}},
			want: Contact{Key: "c:1", Aliases: []Key{"a:x"}},
		},
		{
			name: "c's fields kept, empty ones filled from o",
			c:    Contact{Key: "c:1", ContactID: "1", TimeZone: "Europe/Paris"},
			o: Contact{Key: "e:ann@example.com", ContactID: "2", EmailAddr: "ann@example.com",
				Phone: "+331", TimeZone: "America/New_York", Language: "fr"},
			want: Contact{Key: "c:1", ContactID: "1", EmailAddr: "ann@example.com", Phone: "+331",
				TimeZone: "Europe/Paris", Language: "fr", Aliases: []Key{"e:ann@example.com"}},
		},
		{
			name: "bounded: o's key first, then c's aliases",
			c:    Contact{Key: "c:1", Aliases: many("a:c", MaxAliases)},
			o:    Contact{Key: "a:new", Aliases: many("a:o", 5)},
			want: Contact{Key: "c:1", Aliases: slices.Concat(many("a:c", MaxAliases-1), []Key{"a:new"})},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Absorb(&tc.o)
			if d := firstDiff(&tc.want, &tc.c); d != "" {
				t.Fatal(d)
			}
		})
	}
}

func TestAbsorbTraits(t *testing.T) {
	c := &Contact{Traits: []Trait{{"company", "Acme"}, {"name", "Ann"}}}
	o := &Contact{Traits: []Trait{{"name", "Anonymous"}, {"city", "Lyon"}, {"age", "40"}}}
	c.Absorb(o)
	want := []Trait{{"age", "40"}, {"city", "Lyon"}, {"company", "Acme"}, {"name", "Ann"}}
	if !reflect.DeepEqual(c.Traits, want) {
		t.Fatalf("traits = %v, want %v", c.Traits, want)
	}

	full := &Contact{}
	for i := range MaxTraits {
		full.Traits = append(full.Traits, Trait{Name: fmt.Sprintf("t%02d", i), Value: "c"})
	}
	full.Absorb(&Contact{Traits: []Trait{{"extra", "o"}, {"t00", "o"}}})
	if len(full.Traits) != MaxTraits {
		t.Fatalf("%d traits, want the bound %d", len(full.Traits), MaxTraits)
	}
	if v, _ := full.Trait("t00"); v != "c" {
		t.Fatalf("t00 = %q, want c's value", v)
	}
}

func TestAbsorbConsent(t *testing.T) {
	cc := func(s ConsentStatus, at int64) ChannelConsent { return ChannelConsent{Status: s, At: at} }
	for _, tc := range []struct {
		name    string
		c, o    ChannelConsent
		wantFor string // "c" or "o"
	}{
		{"more recent opt-in wins over opt-out", cc(ConsentOptedOut, 10), cc(ConsentOptedIn, 20), "o"},
		{"more recent opt-out wins over opt-in", cc(ConsentOptedIn, 20), cc(ConsentOptedOut, 10), "c"},
		{"tie keeps c", cc(ConsentOptedIn, 10), cc(ConsentOptedOut, 10), "c"},
		{"known beats unknown", cc(ConsentUnknown, 0), cc(ConsentOptedIn, 5), "o"},
		{"suppressed wins over a later opt-in", cc(ConsentSuppressed, 10), cc(ConsentOptedIn, 99), "c"},
		{"suppressed on o wins over c's later opt-in", cc(ConsentOptedIn, 99), cc(ConsentSuppressed, 10), "o"},
		{"complained wins over a later opt-in", cc(ConsentOptedIn, 99), cc(ConsentComplained, 1), "o"},
		{"complained wins over a later suppression", cc(ConsentComplained, 1), cc(ConsentSuppressed, 99), "c"},
		{"two suppressions: the more recent", cc(ConsentSuppressed, 1), cc(ConsentSuppressed, 2), "o"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Contact{}
			o := &Contact{}
			c.Consent.Channels[ChannelSMS] = tc.c
			o.Consent.Channels[ChannelSMS] = tc.o
			want := tc.c
			if tc.wantFor == "o" {
				want = tc.o
			}
			c.Absorb(o)
			if got := c.Consent.Channels[ChannelSMS]; got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			if c.Consent.Channels[ChannelEmail] != (ChannelConsent{}) {
				t.Fatal("another channel changed")
			}
		})
	}

	t.Run("lists", func(t *testing.T) {
		c := &Contact{Consent: Consent{Lists: []ListConsent{
			{List: "news", Subscribed: true, At: 10},
			{List: "promo", Subscribed: true, At: 30},
		}}}
		o := &Contact{Consent: Consent{Lists: []ListConsent{
			{List: "promo", Subscribed: false, At: 20}, // older: c's stays
			{List: "news", Subscribed: false, At: 40},  // newer: o's wins
			{List: "events", Subscribed: true, At: 5},  // only o: added
		}}}
		c.Absorb(o)
		want := []ListConsent{
			{List: "events", Subscribed: true, At: 5},
			{List: "news", Subscribed: false, At: 40},
			{List: "promo", Subscribed: true, At: 30},
		}
		if !reflect.DeepEqual(c.Consent.Lists, want) {
			t.Fatalf("lists = %+v, want %+v", c.Consent.Lists, want)
		}
	})
}

func TestAbsorbActivity(t *testing.T) {
	for _, tc := range []struct {
		name                string
		cFirst, oFirst      int64
		cLast, oLast        int64
		wantFirst, wantLast int64
	}{
		{"o earlier", 100, 50, 200, 150, 50, 200},
		{"o later", 100, 120, 200, 300, 100, 300},
		{"o never seen", 100, 0, 200, 0, 100, 200},
		{"c never seen", 0, 100, 0, 200, 100, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Contact{FirstSeen: tc.cFirst, LastSeen: tc.cLast}
			c.Absorb(&Contact{FirstSeen: tc.oFirst, LastSeen: tc.oLast})
			if c.FirstSeen != tc.wantFirst || c.LastSeen != tc.wantLast {
				t.Fatalf("seen %d..%d, want %d..%d", c.FirstSeen, c.LastSeen, tc.wantFirst, tc.wantLast)
			}
		})
	}

	t.Run("counts add and saturate", func(t *testing.T) {
		c, o := &Contact{}, &Contact{}
		c.Counts[EventPageView], o.Counts[EventPageView] = 3, 4
		c.Counts[EventOrderPlaced], o.Counts[EventOrderPlaced] = math.MaxUint32-1, 5
		c.Absorb(o)
		if c.Counts[EventPageView] != 7 || c.Counts[EventOrderPlaced] != math.MaxUint32 {
			t.Fatalf("counts = %v", c.Counts)
		}
	})

	t.Run("sessions", func(t *testing.T) {
		c := &Contact{Sessions: Sessions{Count: 3, Start: 100, Last: 200}}
		c.Absorb(&Contact{Sessions: Sessions{Count: 2, Start: 250, Last: 300}})
		if want := (Sessions{Count: 5, Start: 250, Last: 300}); c.Sessions != want {
			t.Fatalf("o's session is later: got %+v, want %+v", c.Sessions, want)
		}
		c.Absorb(&Contact{Sessions: Sessions{Count: 1, Start: 10, Last: 20}})
		if want := (Sessions{Count: 6, Start: 250, Last: 300}); c.Sessions != want {
			t.Fatalf("c's session is later: got %+v, want %+v", c.Sessions, want)
		}
	})
}

func TestAbsorbRecent(t *testing.T) {
	ev := func(at int64, ref string) RecentEvent { return RecentEvent{Type: EventPageView, At: at, Ref: ref} }
	c := &Contact{Recent: []RecentEvent{ev(10, "c1"), ev(30, "c3")}}
	c.Absorb(&Contact{Recent: []RecentEvent{ev(20, "o2"), ev(30, "o3"), ev(40, "o4")}})
	want := []RecentEvent{ev(10, "c1"), ev(20, "o2"), ev(30, "o3"), ev(30, "c3"), ev(40, "o4")}
	if !reflect.DeepEqual(c.Recent, want) {
		t.Fatalf("recent = %v, want %v (by time, o first on ties)", c.Recent, want)
	}

	c, o := &Contact{}, &Contact{}
	for i := range RecentEventsCap {
		c.Recent = append(c.Recent, ev(int64(2*i), "c"))
		o.Recent = append(o.Recent, ev(int64(2*i+1), "o"))
	}
	c.Absorb(o)
	if len(c.Recent) != RecentEventsCap || c.Recent[0].At != RecentEventsCap || c.Recent[RecentEventsCap-1].At != 2*RecentEventsCap-1 {
		t.Fatalf("want the newest %d events, got %d from %d to %d",
			RecentEventsCap, len(c.Recent), c.Recent[0].At, c.Recent[len(c.Recent)-1].At)
	}
}

func TestAbsorbAffinities(t *testing.T) {
	hl := AffinityHalfLife.Milliseconds()
	for _, tc := range []struct {
		name         string
		c, o         Contact
		wantCats     []Affinity
		wantProducts []Affinity
		wantAt       int64
	}{
		{
			name: "o older: its scores decay to c's instant, then add by name",
			c: Contact{AffinityAt: 2 * hl, Categories: []Affinity{{"shoes", 1}, {"bags", 0.5}},
				Products: []Affinity{{"sku-1", 1}}},
			o:            Contact{AffinityAt: hl, Categories: []Affinity{{"shoes", 2}, {"hats", 4}}},
			wantCats:     []Affinity{{"hats", 2}, {"shoes", 2}, {"bags", 0.5}}, // ties by name
			wantProducts: []Affinity{{"sku-1", 1}},
			wantAt:       2 * hl,
		},
		{
			name:     "c older: c's scores decay",
			c:        Contact{AffinityAt: 0, Categories: []Affinity{{"shoes", 8}}},
			o:        Contact{AffinityAt: 3 * hl, Categories: []Affinity{{"bags", 2}}},
			wantCats: []Affinity{{"bags", 2}, {"shoes", 1}},
			wantAt:   3 * hl,
		},
		{
			name:     "o has none: c untouched, instant kept",
			c:        Contact{AffinityAt: hl, Categories: []Affinity{{"b", 1}, {"a", 1}}},
			o:        Contact{AffinityAt: 5 * hl},
			wantCats: []Affinity{{"b", 1}, {"a", 1}},
			wantAt:   hl,
		},
		{
			name:         "c has none: o's taken as they are",
			c:            Contact{AffinityAt: 9 * hl},
			o:            Contact{AffinityAt: hl, Products: []Affinity{{"sku-2", 3}}},
			wantProducts: []Affinity{{"sku-2", 3}},
			wantAt:       hl,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Absorb(&tc.o)
			if !affinitiesNear(tc.c.Categories, tc.wantCats) || !affinitiesNear(tc.c.Products, tc.wantProducts) {
				t.Fatalf("categories %v products %v, want %v and %v", tc.c.Categories, tc.c.Products, tc.wantCats, tc.wantProducts)
			}
			if tc.c.AffinityAt != tc.wantAt {
				t.Fatalf("AffinityAt = %d, want %d", tc.c.AffinityAt, tc.wantAt)
			}
		})
	}

	t.Run("bounded, highest kept", func(t *testing.T) {
		c, o := &Contact{AffinityAt: 1}, &Contact{AffinityAt: 1}
		for i := range MaxAffinities {
			c.Categories = append(c.Categories, Affinity{Name: "c" + strconv.Itoa(i), Score: float64(100 - 2*i)})
			o.Categories = append(o.Categories, Affinity{Name: "o" + strconv.Itoa(i), Score: float64(99 - 2*i)})
		}
		c.Absorb(o)
		if len(c.Categories) != MaxAffinities {
			t.Fatalf("%d categories, want %d", len(c.Categories), MaxAffinities)
		}
		if c.Categories[0].Name != "c0" || c.Categories[1].Name != "o0" || c.Categories[MaxAffinities-1].Score != float64(100-MaxAffinities+1) {
			t.Fatalf("not the highest, highest first: %v", c.Categories)
		}
	})
}

func affinitiesNear(got, want []Affinity) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Name != want[i].Name || math.Abs(got[i].Score-want[i].Score) > 1e-9 {
			return false
		}
	}
	return true
}

func TestAbsorbCart(t *testing.T) {
	cart := func(at int64, skus ...string) Cart {
		c := Cart{UpdatedAt: at}
		for _, s := range skus {
			c.Items = append(c.Items, CartItem{SKU: s, Quantity: 1})
		}
		return c
	}
	for _, tc := range []struct {
		name       string
		c, o, want Cart
	}{
		{"later non-empty wins: o", cart(10, "a"), cart(20, "b"), cart(20, "b")},
		{"later non-empty wins: c", cart(30, "a"), cart(20, "b"), cart(30, "a")},
		{"tie keeps c", cart(20, "a"), cart(20, "b"), cart(20, "a")},
		{"c's cart emptied after o's was filled stays empty", cart(90), cart(20, "b"), cart(90)},
		{"o's cart emptied later empties c's", cart(10, "a"), cart(90), cart(90)},
		{"both empty: later time", cart(10), cart(90), cart(90)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, o := &Contact{Cart: tc.c}, &Contact{Cart: tc.o}
			c.Absorb(o)
			if !reflect.DeepEqual(c.Cart, tc.want) {
				t.Fatalf("cart = %+v, want %+v", c.Cart, tc.want)
			}
			if len(o.Cart.Items) > 0 && len(c.Cart.Items) > 0 && &o.Cart.Items[0] == &c.Cart.Items[0] {
				t.Fatal("c's cart shares o's array")
			}
		})
	}
}

// placedOrder builds a live order and the aggregates the fold would hold
// for a contact with only that order.
func placedOrder(id string, at int64, total int64) (Order, Orders, PurchaseDay) {
	d := int32(at / msPerDay)
	od := Order{ID: id, At: at, Day: d, Total: total, Flags: OrderPlaced, Currency: "EUR"}
	agg := Orders{Count: 1, Placed: 1, Revenue: total, Currency: "EUR", First: at, Last: at, Recent: []Order{od}}
	return od, agg, PurchaseDay{Day: d, Orders: 1, Spend: total}
}

func TestAbsorbOrders(t *testing.T) {
	t.Run("distinct orders: union and sums", func(t *testing.T) {
		_, ca, cd := placedOrder("c-1", 10*msPerDay, 1000)
		_, oa, od := placedOrder("o-1", 5*msPerDay, 300)
		oa.Currency = "USD"
		c := &Contact{Orders: ca, Purchases: []PurchaseDay{cd}}
		c.Absorb(&Contact{Orders: oa, Purchases: []PurchaseDay{od}})
		o := &c.Orders
		if o.Count != 2 || o.Placed != 2 || o.Revenue != 1300 || o.First != 5*msPerDay || o.Last != 10*msPerDay || o.Currency != "EUR" {
			t.Fatalf("aggregates = %+v", *o)
		}
		if len(o.Recent) != 2 || o.Recent[0].ID != "o-1" || o.Recent[1].ID != "c-1" {
			t.Fatalf("recent = %+v, want o-1 then c-1", o.Recent)
		}
		if len(c.Purchases) != 2 || c.Purchases[0].Day != 5 || c.Purchases[1].Day != 10 {
			t.Fatalf("purchases = %+v", c.Purchases)
		}
	})

	// The same order in both profiles (a replayed or mis-keyed event) is
	// counted once.
	t.Run("duplicate, identical copies", func(t *testing.T) {
		_, agg, pd := placedOrder("x", 10*msPerDay, 1000)
		c := &Contact{Orders: agg, Purchases: []PurchaseDay{pd}}
		o := cloneContact(t, c)
		o.Key = "a:1"
		c.Absorb(o)
		if c.Orders.Count != 1 || c.Orders.Placed != 1 || c.Orders.Revenue != 1000 || len(c.Orders.Recent) != 1 {
			t.Fatalf("orders = %+v, want the order once", c.Orders)
		}
		if want := []PurchaseDay{pd}; !reflect.DeepEqual(c.Purchases, want) {
			t.Fatalf("purchases = %+v, want %+v", c.Purchases, want)
		}
	})

	t.Run("duplicate, cancel seen only by o before placed", func(t *testing.T) {
		od, agg, pd := placedOrder("x", 10*msPerDay, 1000)
		c := &Contact{Orders: agg, Purchases: []PurchaseDay{pd}}
		// o saw only order_cancelled: flagged, not counted.
		o := &Contact{Orders: Orders{Recent: []Order{{ID: "x", At: 11 * msPerDay, Flags: OrderCancelled}}}}
		c.Absorb(o)
		want := Orders{Count: 0, Placed: 1, Cancelled: 1, Revenue: 0, Currency: "EUR", First: 10 * msPerDay, Last: 10 * msPerDay}
		od.Flags |= OrderCancelled
		want.Recent = []Order{od}
		if d := firstDiff(&want, &c.Orders); d != "" {
			t.Fatalf("orders: %s", d)
		}
		if len(c.Purchases) != 0 {
			t.Fatalf("purchases = %+v, want the cancelled order's day gone", c.Purchases)
		}
	})

	t.Run("duplicate, placed only by o, refund pending on c", func(t *testing.T) {
		od, agg, pd := placedOrder("x", 10*msPerDay, 1000)
		c := &Contact{Orders: Orders{Recent: []Order{{ID: "x", Refunded: 200}}}}
		o := &Contact{Orders: agg, Purchases: []PurchaseDay{pd}}
		c.Absorb(o)
		od.Refunded = 200
		want := Orders{Count: 1, Placed: 1, Revenue: 800, Refunded: 200, Currency: "EUR",
			First: 10 * msPerDay, Last: 10 * msPerDay, Recent: []Order{od}}
		if d := firstDiff(&want, &c.Orders); d != "" {
			t.Fatalf("orders: %s", d)
		}
		if want := []PurchaseDay{{Day: pd.Day, Orders: 1, Spend: 800}}; !reflect.DeepEqual(c.Purchases, want) {
			t.Fatalf("purchases = %+v, want %+v", c.Purchases, want)
		}
	})

	t.Run("duplicate, refunded in full on o", func(t *testing.T) {
		od, agg, pd := placedOrder("x", 10*msPerDay, 1000)
		c := &Contact{Orders: agg, Purchases: []PurchaseDay{pd}}
		c.Orders.Recent[0].Flags |= OrderShipped
		oo := od
		oo.Flags |= OrderRefundAll
		o := &Contact{
			Orders:    Orders{Count: 1, Placed: 1, Revenue: 0, Refunded: 1000, Recent: []Order{oo}},
			Purchases: []PurchaseDay{{Day: pd.Day, Orders: 1, Spend: 0}},
		}
		c.Absorb(o)
		if got := c.Orders.Recent[0].Flags; got != OrderPlaced|OrderShipped|OrderRefundAll {
			t.Fatalf("flags = %b, want both copies' flags", got)
		}
		if c.Orders.Count != 1 || c.Orders.Placed != 1 || c.Orders.Revenue != 0 || c.Orders.Refunded != 1000 {
			t.Fatalf("orders = %+v, want one fully refunded order", c.Orders)
		}
		if want := []PurchaseDay{{Day: pd.Day, Orders: 1, Spend: 0}}; !reflect.DeepEqual(c.Purchases, want) {
			t.Fatalf("purchases = %+v, want %+v", c.Purchases, want)
		}
	})

	t.Run("bounded, newest kept, aggregates still summed", func(t *testing.T) {
		c, o := &Contact{}, &Contact{}
		for i := range MaxRecentOrders {
			c.Orders.Recent = append(c.Orders.Recent, Order{ID: "c" + strconv.Itoa(i), At: int64(2 * i), Flags: OrderPlaced})
			o.Orders.Recent = append(o.Orders.Recent, Order{ID: "o" + strconv.Itoa(i), At: int64(2*i + 1), Flags: OrderPlaced})
		}
		c.Orders.Placed, o.Orders.Placed = MaxRecentOrders+10, MaxRecentOrders
		c.Absorb(o)
		if len(c.Orders.Recent) != MaxRecentOrders || c.Orders.Recent[0].At != MaxRecentOrders {
			t.Fatalf("%d recent orders from %d, want the newest %d", len(c.Orders.Recent), c.Orders.Recent[0].At, MaxRecentOrders)
		}
		if c.Orders.Placed != 2*MaxRecentOrders+10 {
			t.Fatalf("placed = %d", c.Orders.Placed)
		}
	})
}

func TestMergeOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		c, o Order
		want Order
	}{
		{
			name: "flags ORed, larger refund, zero fields filled from o",
			c:    Order{ID: "x", At: 5, Day: 1, Flags: OrderPlaced, Refunded: 100},
			o:    Order{ID: "x", At: 6, Day: 2, Total: 500, Refunded: 300, Flags: OrderShipped, Currency: "EUR", Categories: []string{"shoes"}},
			want: Order{ID: "x", At: 5, Day: 1, Total: 500, Refunded: 300, Flags: OrderPlaced | OrderShipped, Currency: "EUR", Categories: []string{"shoes"}},
		},
		{
			name: "the copy that saw order_placed gives the fields",
			c:    Order{ID: "x", At: 9, Day: 3, Total: 1, Flags: OrderCancelled, Currency: "USD"},
			o:    Order{ID: "x", At: 5, Day: 1, Total: 500, Flags: OrderPlaced, Currency: "EUR"},
			want: Order{ID: "x", At: 5, Day: 1, Total: 500, Flags: OrderPlaced | OrderCancelled, Currency: "EUR"},
		},
		{
			name: "both placed: c's non-zero total kept",
			c:    Order{ID: "x", At: 5, Total: 700, Flags: OrderPlaced},
			o:    Order{ID: "x", At: 5, Total: 500, Flags: OrderPlaced},
			want: Order{ID: "x", At: 5, Total: 700, Flags: OrderPlaced},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mergeOrder(&tc.c, &tc.o); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAbsorbPurchases(t *testing.T) {
	c := &Contact{Purchases: []PurchaseDay{{Day: 1, Orders: 1, Spend: 10}, {Day: 5, Orders: 2, Spend: 20}}}
	c.Absorb(&Contact{Purchases: []PurchaseDay{{Day: 3, Orders: 1, Spend: 7}, {Day: 5, Orders: math.MaxUint16, Spend: 1}}})
	want := []PurchaseDay{{Day: 1, Orders: 1, Spend: 10}, {Day: 3, Orders: 1, Spend: 7}, {Day: 5, Orders: math.MaxUint16, Spend: 21}}
	if !reflect.DeepEqual(c.Purchases, want) {
		t.Fatalf("purchases = %+v, want %+v (merged by day, orders saturate)", c.Purchases, want)
	}

	c, o := &Contact{}, &Contact{}
	for i := range MaxPurchaseDays {
		c.Purchases = append(c.Purchases, PurchaseDay{Day: int32(2 * i), Orders: 1})
		o.Purchases = append(o.Purchases, PurchaseDay{Day: int32(2*i + 1), Orders: 1})
	}
	c.Absorb(o)
	if len(c.Purchases) != MaxPurchaseDays || c.Purchases[0].Day != MaxPurchaseDays {
		t.Fatalf("%d days from %d, want the newest %d", len(c.Purchases), c.Purchases[0].Day, MaxPurchaseDays)
	}
}

func TestAbsorbEngagement(t *testing.T) {
	hl := EngagementHalfLife.Milliseconds()
	c := &Contact{Engagement: EmailStats{Sent: 5, Opened: 2, LastSent: 100, LastOpen: 300, LastClick: 0, HistAt: 2 * hl}}
	o := &Contact{Engagement: EmailStats{Sent: 3, Clicked: 1, Bounced: 1, LastSent: 200, LastOpen: 50, LastClick: 70, HistAt: hl}}
	c.Engagement.HourOfWeek[10] = 1
	o.Engagement.HourOfWeek[10] = 2
	o.Engagement.HourOfWeek[20] = 4
	c.Absorb(o)
	e := c.Engagement
	if e.Sent != 8 || e.Opened != 2 || e.Clicked != 1 || e.Bounced != 1 {
		t.Fatalf("counters = %+v", e)
	}
	if e.LastSent != 200 || e.LastOpen != 300 || e.LastClick != 70 || e.HistAt != 2*hl {
		t.Fatalf("times: sent %d open %d click %d hist %d", e.LastSent, e.LastOpen, e.LastClick, e.HistAt)
	}
	// o's histogram is one half-life older: halved, then added.
	if e.HourOfWeek[10] != 2 || e.HourOfWeek[20] != 2 || e.HourOfWeek[0] != 0 {
		t.Fatalf("histogram bins 10, 20 = %v, %v, want 2, 2", e.HourOfWeek[10], e.HourOfWeek[20])
	}

	t.Run("o without histogram leaves c's", func(t *testing.T) {
		c := &Contact{Engagement: EmailStats{HistAt: 5}}
		c.Engagement.HourOfWeek[3] = 1
		c.Absorb(&Contact{Engagement: EmailStats{HistAt: 9 * hl}})
		if c.Engagement.HourOfWeek[3] != 1 || c.Engagement.HistAt != 5 {
			t.Fatalf("got bin 3 = %v at %d", c.Engagement.HourOfWeek[3], c.Engagement.HistAt)
		}
	})
}

func TestAbsorbSeenIDs(t *testing.T) {
	c := &Contact{SeenIDs: []uint64{1, 2, 3}}
	c.Absorb(&Contact{SeenIDs: []uint64{7, 2, 8}})
	if want := []uint64{7, 8, 1, 2, 3}; !slices.Equal(c.SeenIDs, want) {
		t.Fatalf("seen ids = %v, want %v (o's then c's, a shared id at its later place)", c.SeenIDs, want)
	}

	c, o := &Contact{}, &Contact{}
	for i := range SeenIDsCap {
		c.SeenIDs = append(c.SeenIDs, uint64(1000+i))
		o.SeenIDs = append(o.SeenIDs, uint64(i))
	}
	c.Absorb(o)
	if len(c.SeenIDs) != SeenIDsCap || c.SeenIDs[0] != 1000 {
		t.Fatalf("%d ids from %d, want c's %d (the newest)", len(c.SeenIDs), c.SeenIDs[0], SeenIDsCap)
	}
}

func TestAbsorbEmptyChangesNothing(t *testing.T) {
	g := contactGen{r: rand.New(rand.NewPCG(11, 12)), prefix: "c"}
	for i := range 50 {
		c := fullContact()
		if i > 0 {
			c = g.contact()
		}
		want := cloneContact(t, c)

		c.Absorb(&Contact{})
		if d := firstDiff(want, c); d != "" {
			t.Fatalf("contact %d: absorbing the zero contact changed %s", i, d)
		}

		c.Absorb(&Contact{Key: "a:anon"})
		if !slices.Contains(c.Aliases, "a:anon") {
			t.Fatalf("contact %d: o's key is not an alias: %v", i, c.Aliases)
		}
		want.Aliases, c.Aliases = nil, nil
		if d := firstDiff(want, c); d != "" {
			t.Fatalf("contact %d: absorbing an empty anonymous contact changed %s", i, d)
		}
	}
}

func TestAbsorbSelfAndNil(t *testing.T) {
	c := fullContact()
	c.Absorb(c)
	c.Absorb(nil)
	if d := firstDiff(fullContact(), c); d != "" {
		t.Fatal(d)
	}
}

// Absorb leaves o as it was and shares no memory with it.
func TestAbsorbIsolatesO(t *testing.T) {
	g := contactGen{r: rand.New(rand.NewPCG(5, 6)), prefix: "o"}
	for range 20 {
		o := g.contact()
		o.Orders.Recent = append(firstN(o.Orders.Recent, MaxRecentOrders-1), Order{ID: "solo", At: testEpoch + msPerDay, Flags: OrderPlaced, Categories: []string{"x"}})
		o.Cart = Cart{Items: []CartItem{{SKU: "s"}}, UpdatedAt: math.MaxInt64}
		before := cloneContact(t, o)
		c := &Contact{Key: "c:1"}
		c.Absorb(o)
		if d := firstDiff(before, o); d != "" {
			t.Fatalf("o changed: %s", d)
		}
		snapshot := cloneContact(t, c)
		scribble(o)
		if d := firstDiff(snapshot, c); d != "" {
			t.Fatalf("writing to o changed c: %s", d)
		}
	}
}

// scribble overwrites every element of every slice of c.
func scribble(c *Contact) {
	for i := range c.Aliases {
		c.Aliases[i] = "x:scribbled"
	}
	for i := range c.Traits {
		c.Traits[i].Value = "scribbled"
	}
	for i := range c.Consent.Lists {
		c.Consent.Lists[i].At = -1
	}
	for i := range c.Recent {
		c.Recent[i].At = -1
	}
	for i := range c.Categories {
		c.Categories[i].Score = -1
	}
	for i := range c.Products {
		c.Products[i].Score = -1
	}
	for i := range c.Cart.Items {
		c.Cart.Items[i].SKU = "scribbled"
	}
	for i := range c.Orders.Recent {
		c.Orders.Recent[i].Total = -1
		for j := range c.Orders.Recent[i].Categories {
			c.Orders.Recent[i].Categories[j] = "scribbled"
		}
	}
	for i := range c.Purchases {
		c.Purchases[i].Spend = -1
	}
	for i := range c.SeenIDs {
		c.SeenIDs[i] = 0
	}
}

// Absorb keeps every list within its bound, whatever the sizes going in.
func TestAbsorbBounds(t *testing.T) {
	g := contactGen{r: rand.New(rand.NewPCG(21, 22))}
	for i := range 100 {
		g.prefix = "c"
		c := g.contact()
		g.prefix = "o"
		c.Absorb(g.contact())
		for _, b := range []struct {
			name     string
			len, max int
		}{
			{"aliases", len(c.Aliases), MaxAliases},
			{"traits", len(c.Traits), MaxTraits},
			{"lists", len(c.Consent.Lists), MaxLists},
			{"recent", len(c.Recent), RecentEventsCap},
			{"categories", len(c.Categories), MaxAffinities},
			{"products", len(c.Products), MaxAffinities},
			{"cart", len(c.Cart.Items), MaxCartItems},
			{"orders", len(c.Orders.Recent), MaxRecentOrders},
			{"purchases", len(c.Purchases), MaxPurchaseDays},
			{"seen ids", len(c.SeenIDs), SeenIDsCap},
		} {
			if b.len > b.max {
				t.Fatalf("pair %d: %d %s, bound %d", i, b.len, b.name, b.max)
			}
		}
		for _, l := range [][]Key{c.Aliases} {
			if !slices.IsSorted(l) {
				t.Fatalf("pair %d: aliases not sorted", i)
			}
		}
		if !slices.IsSortedFunc(c.Recent, func(a, b RecentEvent) int { return cmp.Compare(a.At, b.At) }) ||
			!slices.IsSortedFunc(c.Orders.Recent, func(a, b Order) int { return cmp.Compare(a.At, b.At) }) ||
			!slices.IsSortedFunc(c.Purchases, func(a, b PurchaseDay) int { return cmp.Compare(int64(a.Day), int64(b.Day)) }) {
			t.Fatalf("pair %d: a time-ordered list is out of order", i)
		}
		if !slices.IsSortedFunc(c.Categories, func(a, b Affinity) int { return -cmp.Compare(a.Score, b.Score) }) {
			t.Fatalf("pair %d: categories not highest first", i)
		}
		// What Absorb produces must be storable as is.
		if d := firstDiff(c, roundTrip(t, c)); d != "" {
			t.Fatalf("pair %d: merged contact does not round-trip: %s", i, d)
		}
	}
}

// The aggregates of a merged contact are the sums of both (the profiles
// share no order), so no activity is lost or counted twice.
func TestAbsorbSumsProperty(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 0xAB50B))
			for i := range 100 {
				c := contactGen{r: r, prefix: "c"}.contact()
				o := contactGen{r: r, prefix: "o"}.contact()
				want := *c // aggregates only: no slices are read
				c.Absorb(o)
				for et := range c.Counts {
					if c.Counts[et] != want.Counts[et]+o.Counts[et] {
						t.Fatalf("pair %d: count of %v = %d, want %d + %d", i, EventType(et), c.Counts[et], want.Counts[et], o.Counts[et])
					}
				}
				got := []int64{
					int64(c.Sessions.Count), int64(c.Orders.Count), int64(c.Orders.Placed), int64(c.Orders.Cancelled),
					c.Orders.Revenue, c.Orders.Refunded, int64(c.Engagement.Sent), int64(c.Engagement.Delivered),
					int64(c.Engagement.Opened), int64(c.Engagement.Clicked), int64(c.Engagement.Bounced),
				}
				sums := []int64{
					int64(want.Sessions.Count) + int64(o.Sessions.Count),
					int64(want.Orders.Count) + int64(o.Orders.Count),
					int64(want.Orders.Placed) + int64(o.Orders.Placed),
					int64(want.Orders.Cancelled) + int64(o.Orders.Cancelled),
					want.Orders.Revenue + o.Orders.Revenue,
					want.Orders.Refunded + o.Orders.Refunded,
					int64(want.Engagement.Sent) + int64(o.Engagement.Sent),
					int64(want.Engagement.Delivered) + int64(o.Engagement.Delivered),
					int64(want.Engagement.Opened) + int64(o.Engagement.Opened),
					int64(want.Engagement.Clicked) + int64(o.Engagement.Clicked),
					int64(want.Engagement.Bounced) + int64(o.Engagement.Bounced),
				}
				if !slices.Equal(got, sums) {
					t.Fatalf("pair %d: aggregates %v, want sums %v", i, got, sums)
				}
				if want.FirstSeen != 0 && o.FirstSeen != 0 && c.FirstSeen != min(want.FirstSeen, o.FirstSeen) ||
					c.LastSeen != max(want.LastSeen, o.LastSeen) {
					t.Fatalf("pair %d: seen %d..%d", i, c.FirstSeen, c.LastSeen)
				}
			}
		})
	}
}

func BenchmarkAbsorb(b *testing.B) {
	c, o := typicalContact(), typicalContact()
	o.Key = "a:anon"
	for i := range o.Orders.Recent {
		o.Orders.Recent[i].ID += "-anon"
	}
	data := c.AppendEncoded(nil)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		var cc Contact // Absorb writes into c's slices: a fresh copy each time
		if err := DecodeContact(data, &cc); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cc.Absorb(o)
	}
}
