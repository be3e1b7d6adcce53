package fold

import (
	"strconv"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func typeOf(name string) state.EventType { return state.ParseEventType([]byte(name)) }

// TestOrders covers the order lifecycle in both arrival orders: the
// aggregates must not depend on whether a cancellation or refund arrives
// before or after the order it refers to.
func TestOrders(t *testing.T) {
	type step struct {
		typ    string
		order  string
		at     string
		total  int64
		amount int64
	}
	cases := []struct {
		name    string
		steps   []step
		count   int32
		revenue int64
		days    int
	}{
		{"placed", []step{{"order_placed", "o1", "2026-01-01T10:00:00Z", 1999, -1}}, 1, 1999, 1},
		{"duplicate order id counted once", []step{
			{"order_placed", "o1", "2026-01-01T10:00:00Z", 1999, -1},
			{"order_placed", "o1", "2026-01-01T10:00:00Z", 1999, -1}}, 1, 1999, 1},
		{"cancelled", []step{
			{"order_placed", "o1", "2026-01-01T10:00:00Z", 1999, -1},
			{"order_cancelled", "o1", "2026-01-01T11:00:00Z", 0, -1}}, 0, 0, 0},
		{"cancel before placed", []step{
			{"order_cancelled", "o1", "2026-01-01T11:00:00Z", 0, -1},
			{"order_placed", "o1", "2026-01-01T10:00:00Z", 1999, -1}}, 0, 0, 0},
		{"partial refund", []step{
			{"order_placed", "o1", "2026-01-01T10:00:00Z", 5000, -1},
			{"order_refunded", "o1", "2026-01-02T10:00:00Z", 0, 1250}}, 1, 3750, 1},
		{"refunds capped at total", []step{
			{"order_placed", "o1", "2026-01-01T10:00:00Z", 5000, -1},
			{"order_refunded", "o1", "2026-01-02T10:00:00Z", 0, 4000},
			{"order_refunded", "o1", "2026-01-03T10:00:00Z", 0, 4000}}, 1, 0, 1},
		{"whole refund before placed", []step{
			{"order_refunded", "o1", "2026-01-02T10:00:00Z", 0, -1},
			{"order_placed", "o1", "2026-01-01T10:00:00Z", 5000, -1}}, 1, 0, 1},
		{"refund then cancel", []step{
			{"order_placed", "o1", "2026-01-01T10:00:00Z", 5000, -1},
			{"order_refunded", "o1", "2026-01-02T10:00:00Z", 0, 1000},
			{"order_cancelled", "o1", "2026-01-03T10:00:00Z", 0, -1}}, 0, 0, 0},
		{"two orders on one day are one purchase day", []step{
			{"order_placed", "o1", "2026-01-01T10:00:00Z", 1000, -1},
			{"order_placed", "o2", "2026-01-01T18:00:00Z", 2000, -1},
			{"order_placed", "o3", "2026-01-05T18:00:00Z", 3000, -1}}, 3, 6000, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFolder()
			c := &state.Contact{Key: "c:c1"}
			for i, s := range tc.steps {
				f.Apply(c, &event.Event{ID: "e" + strconv.Itoa(i), Type: typeOf(s.typ), ContactID: "c1", Time: ms(s.at),
					OrderID: s.order, Total: s.total, Amount: s.amount, Currency: "EUR",
					Items: []event.Item{{SKU: "S1", Category: "shoes", Quantity: 1, Price: s.total}}})
			}
			if c.Orders.Count != tc.count || c.Orders.Revenue != tc.revenue || len(c.Purchases) != tc.days {
				t.Errorf("count %d revenue %d purchase days %d; want %d %d %d", c.Orders.Count, c.Orders.Revenue, len(c.Purchases), tc.count, tc.revenue, tc.days)
			}
			var spend int64
			for _, p := range c.Purchases {
				spend += p.Spend
			}
			if spend != c.Orders.Revenue {
				t.Errorf("purchase-day spend %d != revenue %d", spend, c.Orders.Revenue)
			}
		})
	}
}

func TestDedupe(t *testing.T) {
	f := NewFolder()
	c := &state.Contact{Key: "c:c1"}
	e := &event.Event{ID: "x", Type: state.EventPageView, ContactID: "c1", Time: ms("2026-01-01T10:00:00Z")}
	if !f.Apply(c, e) || f.Apply(c, e) {
		t.Fatal("second apply of the same id must be dropped")
	}
	if c.Counts[state.EventPageView] != 1 {
		t.Fatalf("page views %d", c.Counts[state.EventPageView])
	}
	for i := range state.SeenIDsCap + 10 {
		f.Apply(c, &event.Event{ID: "y" + strconv.Itoa(i), Type: state.EventPageView, Time: e.Time})
	}
	if n := len(c.SeenIDs); n < state.SeenIDsCap || n >= 2*state.SeenIDsCap {
		t.Fatalf("window %d, want between %d and %d", n, state.SeenIDsCap, 2*state.SeenIDsCap)
	}
	// The newest SeenIDsCap ids are always in the window.
	for i := range state.SeenIDsCap {
		id := "y" + strconv.Itoa(state.SeenIDsCap+10-1-i)
		if !Seen(c, id) {
			t.Fatalf("id %s of the newest %d not in the window", id, state.SeenIDsCap)
		}
	}
}

// TestOutOfOrderAffinity: folding the same events in any order gives the
// same decayed scores (up to float rounding).
func TestOutOfOrderAffinity(t *testing.T) {
	evs := []*event.Event{
		{ID: "1", Type: state.EventProductView, SKU: "a", Category: "shoes", Time: ms("2026-01-01T10:00:00Z")},
		{ID: "2", Type: state.EventProductView, SKU: "b", Category: "bags", Time: ms("2026-01-10T10:00:00Z")},
		{ID: "3", Type: state.EventAddToCart, SKU: "a", Category: "shoes", Quantity: 1, Time: ms("2026-01-20T10:00:00Z")},
	}
	fold := func(order []int) *state.Contact {
		f := NewFolder()
		c := &state.Contact{Key: "a:x"}
		for _, i := range order {
			f.Apply(c, evs[i])
		}
		return c
	}
	a, b := fold([]int{0, 1, 2}), fold([]int{2, 0, 1})
	if a.AffinityAt != b.AffinityAt || len(a.Categories) != len(b.Categories) {
		t.Fatalf("different shape: %+v vs %+v", a.Categories, b.Categories)
	}
	for i := range a.Categories {
		d := a.Categories[i].Score - b.Categories[i].Score
		if a.Categories[i].Name != b.Categories[i].Name || d > 1e-9 || d < -1e-9 {
			t.Errorf("category %d: %+v vs %+v", i, a.Categories[i], b.Categories[i])
		}
	}
	if a.Categories[0].Name != "shoes" {
		t.Errorf("strongest category %q, want shoes", a.Categories[0].Name)
	}
}

func TestConsent(t *testing.T) {
	f := NewFolder()
	c := &state.Contact{Key: "c:c1"}
	at := ms("2026-01-01T10:00:00Z")
	f.Apply(c, &event.Event{ID: "1", Type: state.EventSignup, List: "news", Time: at})
	f.Apply(c, &event.Event{ID: "2", Type: state.EventSignup, List: "offers", Time: at + 1})
	f.Apply(c, &event.Event{ID: "3", Type: state.EventEmailUnsubscribed, List: "offers", Time: at + 2})
	if c.Consent.Channels[state.ChannelEmail].Status != state.ConsentOptedIn {
		t.Fatal("leaving one list must not leave the channel")
	}
	if len(c.Consent.Lists) != 2 || !c.Consent.Lists[0].Subscribed || c.Consent.Lists[1].Subscribed {
		t.Fatalf("lists %+v", c.Consent.Lists)
	}
	f.Apply(c, &event.Event{ID: "4", Type: state.EventEmailBounced, Bounce: event.BounceHard, Time: at + 3})
	f.Apply(c, &event.Event{ID: "5", Type: state.EventSignup, List: "news", Time: at + 4})
	if c.Consent.Channels[state.ChannelEmail].Status != state.ConsentSuppressed {
		t.Fatal("a hard bounce must not be lifted by a later sign-up")
	}
}

func TestHourOfWeekInContactZone(t *testing.T) {
	f := NewFolder()
	c := &state.Contact{Key: "c:c1", TimeZone: "America/New_York"}
	// Monday 2026-01-05 14:30 UTC is 09:30 in New York: bin 9.
	f.Apply(c, &event.Event{ID: "1", Type: state.EventEmailOpened, Time: ms("2026-01-05T14:30:00Z")})
	if c.Engagement.HourOfWeek[9] != 1 {
		t.Fatalf("bin 9 = %v", c.Engagement.HourOfWeek[9])
	}
}

func BenchmarkApply(b *testing.B) {
	f := NewFolder()
	c := &state.Contact{Key: "c:c1", TimeZone: "Europe/Amsterdam"}
	base := ms("2026-01-01T10:00:00Z")
	evs := []event.Event{
		{Type: state.EventPageView, URL: "/shoes", Category: "shoes"},
		{Type: state.EventProductView, SKU: "S1", Category: "shoes"},
		{Type: state.EventAddToCart, SKU: "S1", Category: "shoes", Quantity: 1, Price: 1999},
		{Type: state.EventEmailOpened, Campaign: "weekly"},
		{Type: state.EventProductView, SKU: "S2", Category: "bags"},
	}
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = "ev-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e := evs[i%len(evs)]
		e.ID = ids[i%len(ids)]
		e.Time = base + int64(i)*1000
		f.Apply(c, &e)
	}
}
