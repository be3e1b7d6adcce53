package trigger

import (
	"math"
	"strings"
	"testing"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/state"
)

// Each default journey fires exactly when it should and not otherwise.
// Times are on weekdays in March 2026, at 10:00 UTC unless a test is about
// time; contacts without a time zone use the policy's (UTC).

func TestJourneyWelcome(t *testing.T) {
	t.Run("sign-up, then the follow-up three days later, once", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(ev("s1", "signup", `"email":"ann@example.com"`, "2026-03-10T10:00:00Z", `{"list":"newsletter","traits":{"first_name":"Ann"}}`))
		got := h.expect("welcome", "sign-up")
		if got[0].Journey != "welcome" || got[0].Step != 1 || got[0].Contact.Email != "ann@example.com" || got[0].Contact.Name != "Ann" ||
			got[0].Topic != "kairos.triggers.email" || got[0].Cause.Event != "signup" || got[0].Cause.Ref != "newsletter" {
			t.Fatalf("payload %+v", got[0])
		}
		if tm := h.timers("e:ann@example.com"); tm != "welcome-product-groups@2026-03-13T10:00:00Z" {
			t.Fatalf("timers %q", tm)
		}
		h.send(ev("s2", "signup", `"email":"ann@example.com"`, "2026-03-10T11:00:00Z", `{"list":"offers"}`))
		h.expect("", "a second sign-up: welcome is once, the follow-up's wait is kept")
		h.idle("2026-03-13T09:59:59Z")
		h.expect("", "one second before the follow-up")
		h.idle("2026-03-13T10:00:00Z")
		got = h.expect("welcome-product-groups", "three days later")
		if got[0].Step != 2 || got[0].Viewed == nil {
			t.Fatalf("follow-up payload %+v", got[0])
		}
		h.send(ev("s3", "signup", `"email":"ann@example.com"`, "2026-03-20T10:00:00Z", `{"list":"events"}`))
		h.idle("2026-03-30T10:00:00Z")
		h.expect("", "once: never again")
	})
	t.Run("a new known contact through identify", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(ev("p1", "page_view", `"anonymous_id":"a-1"`, "2026-03-10T09:00:00Z", `{"url":"https://shop.example/"}`))
		h.expect("", "an anonymous page view")
		h.send(ev("i1", "identify", `"contact_id":"42","anonymous_id":"a-1"`, "2026-03-10T10:00:00Z", `{"traits":{"first_name":"Ann"}}`))
		h.expect("", "a contact id without an email address: welcome goes by email, so no address")
		h.send(ev("i2", "identify", `"contact_id":"43","email":"bob@example.com"`, "2026-03-10T10:00:00Z", `{"traits":{"first_name":"Bob"}}`))
		h.expect("welcome", "a new known contact with an email address")
		h.send(ev("i3", "identify", `"contact_id":"43","email":"bob@example.com"`, "2026-03-10T10:05:00Z", `{"traits":{"last_name":"Lee"}}`))
		h.expect("", "already known")
	})
	t.Run("an order before the follow-up cancels it", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(ev("s1", "signup", c42, "2026-03-10T10:00:00Z", `{"list":"newsletter"}`))
		h.expect("welcome", "sign-up")
		h.send(ev("o1", "order_placed", c42, "2026-03-12T10:00:00Z", `{"order_id":"9001","items":[{"sku":"S1","category":"shoes","price":10}],"total":10}`))
		h.expect("order-thank-you", "order")
		h.idle("2026-03-14T10:00:00Z")
		h.expect("", "the follow-up requires no order")
	})
}

func TestJourneyLeadNurtureMQLSQL(t *testing.T) {
	h := newHarness(t, "")
	steps := []struct {
		ev, want string
	}{
		{ev("f1", "form_submit", c42, "2026-03-10T10:00:00Z", `{"form":"request-demo"}`), "welcome"},
		{ev("f2", "form_submit", c42, "2026-03-10T10:01:00Z", `{"form":"contact-sales"}`), ""},
		// 70 points: MQL, and a content download deferred by pressure
		// (the welcome went out today).
		{ev("f3", "form_submit", c42, "2026-03-10T10:02:00Z", `{"form":"whitepaper-download","content":"state-of-retail"}`), "mql-reached"},
		{ev("f4", "form_submit", c42, "2026-03-10T10:03:00Z", `{"form":"sales-accepted"}`), "sql-reached"},
		{ev("f5", "form_submit", c42, "2026-03-10T10:04:00Z", `{"form":"request-demo"}`), ""},
	}
	for _, s := range steps {
		before := h.contacts["c:42"]
		var stage uint8
		if before != nil {
			stage = before.Scores.Stage
		}
		h.send(s.ev)
		got := h.expect(s.want, s.ev)
		after := h.contacts["c:42"].Scores.Stage
		for _, e := range got {
			if e.Channel == "sales" {
				if e.Topic != "kairos.triggers.sales" || e.Scores == nil || e.Scores.Stage != lead.Stage(after).String() || after == stage {
					t.Fatalf("sales trigger %+v on stage %d → %d", e, stage, after)
				}
			}
		}
	}
	if tm := h.timers("c:42"); !strings.Contains(tm, "~deferred.email@2026-03-11T10:00:00Z") {
		t.Fatalf("content download should wait in the email slot until the pressure window ends: %q", tm)
	}
	h.idle("2026-03-11T10:00:00Z")
	got := h.expect("content-download", "deferred content download")
	if got[0].Journey != "lead_nurture" || got[0].Cause.Ref != "state-of-retail" || got[0].Cause.At != "2026-03-10T10:02:00.000Z" {
		t.Fatalf("payload %+v", got[0])
	}
	h.send(ev("f6", "form_submit", c42, "2026-03-11T12:00:00Z", `{"form":"newsletter"}`))
	h.expect("", "a form without content is no download")
}

const order9001 = `{"order_id":"9001","items":[{"sku":"SHOE-42","category":"shoes","quantity":2,"price":59.90},{"sku":"SOCK-1","category":"socks","price":4.5}],"total":124.30}`

func TestJourneyPostPurchase(t *testing.T) {
	t.Run("thank-you, shipping notice, review a week after shipping, cross-sell", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(ev("o1", "order_placed", c42, "2026-03-10T10:00:00Z", order9001))
		got := h.expect("order-thank-you", "order")
		if got[0].Order == nil || got[0].Order.OrderID != "9001" || strings.Join(got[0].Order.Categories, ",") != "shoes,socks" {
			t.Fatalf("order summary %+v", got[0].Order)
		}
		h.send(ev("o2", "order_shipped", c42, "2026-03-11T22:30:00Z", `{"order_id":"9001"}`))
		got = h.expect("order-shipped", "a service message ignores quiet hours and pressure")
		if got[0].Kind != "service" || got[0].Journey != "service" || got[0].Order.Status != "shipped" {
			t.Fatalf("shipping payload %+v", got[0])
		}
		h.idle("2026-03-18T22:29:59Z")
		h.expect("", "before a week")
		// Due at 22:30, in quiet hours: deferred to 08:00.
		h.idle("2026-03-18T22:30:00Z")
		h.expect("", "quiet hours")
		h.idle("2026-03-19T08:00:00Z")
		got = h.expect("review-invitation", "the morning after")
		if got[0].Order.OrderID != "9001" {
			t.Fatalf("review for order %+v", got[0].Order)
		}
		h.idle("2026-03-24T10:00:00Z")
		h.expect("cross-sell", "two weeks after the order")
	})
	t.Run("a refund cancels the review invitation", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(ev("o1", "order_placed", c42, "2026-03-10T10:00:00Z", order9001))
		h.send(ev("o2", "order_shipped", c42, "2026-03-11T10:00:00Z", `{"order_id":"9001"}`))
		h.expect("order-thank-you,order-shipped", "order and shipping")
		h.send(ev("o3", "order_refunded", c42, "2026-03-18T09:59:59Z", `{"order_id":"9001"}`))
		h.idle("2026-03-19T10:00:00Z")
		h.expect("", "refunded a second before the deadline")
	})
	t.Run("another order restarts the cross-sell wait", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(ev("o1", "order_placed", c42, "2026-03-10T10:00:00Z", order9001))
		h.send(ev("o2", "order_placed", c42, "2026-03-20T10:00:00Z", `{"order_id":"9002","items":[{"sku":"HAT","category":"hats","price":20}],"total":20}`))
		h.expect("order-thank-you,order-thank-you", "two orders")
		h.idle("2026-03-24T10:00:00Z")
		h.expect("", "the second order restarted the wait")
		h.idle("2026-04-03T10:00:00Z")
		got := h.expect("cross-sell", "two weeks after the second order")
		if got[0].Order.OrderID != "9002" {
			t.Fatalf("cross-sell for %+v", got[0].Order)
		}
	})
	t.Run("hard bounce suppresses even service; opt-out does not", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(ev("u1", "unsubscribed", `"email":"ann@example.com"`, "2026-03-09T10:00:00Z", `{}`))
		h.send(ev("o1", "order_placed", `"email":"ann@example.com"`, "2026-03-10T10:00:00Z", order9001))
		h.expect("", "opted out: no thank-you (marketing)")
		h.send(ev("o2", "order_shipped", `"email":"ann@example.com"`, "2026-03-10T11:00:00Z", `{"order_id":"9001"}`))
		h.expect("order-shipped", "opted out: service still goes")
		h.send(ev("b1", "bounced", `"email":"ann@example.com"`, "2026-03-10T12:00:00Z", `{"type":"hard"}`))
		h.send(ev("o3", "order_shipped", `"email":"ann@example.com"`, "2026-03-10T13:00:00Z", `{"order_id":"9002"}`))
		h.expect("", "a hard bounce suppresses service too")
	})
}

func TestJourneyLoyalty(t *testing.T) {
	t.Run("third order, once", func(t *testing.T) {
		h := newHarness(t, `version: "1"
rules:
  - {id: third-order, journey: loyalty, channel: email, kind: marketing, on: {order_count: 3}, once: true, fields: [order]}
`)
		for i, day := range []string{"01", "05", "09", "13"} {
			h.send(ev("o"+day, "order_placed", c42, "2026-03-"+day+"T10:00:00Z", `{"order_id":"`+day+`","items":[{"sku":"S","price":1}],"total":1}`))
			want := ""
			if i == 2 {
				want = "third-order"
			}
			h.expect(want, "order "+day)
		}
		h.send(ev("c09", "order_cancelled", c42, "2026-03-14T10:00:00Z", `{"order_id":"09"}`))
		h.send(ev("c13", "order_cancelled", c42, "2026-03-14T10:01:00Z", `{"order_id":"13"}`))
		h.send(ev("o20", "order_placed", c42, "2026-03-20T10:00:00Z", `{"order_id":"20","items":[{"sku":"S","price":1}],"total":1}`))
		h.expect("", "back to three after cancellations: once")
	})
	t.Run("anniversary of the first order, yearly", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(ev("o1", "order_placed", c42, "2025-03-10T10:00:00Z", order9001))
		h.expect("order-thank-you", "first order")
		if tm := h.timers("c:42"); !strings.Contains(tm, "customer-anniversary@2026-03-10T10:00:00Z") {
			t.Fatalf("timers %q", tm)
		}
		h.idle("2026-03-10T10:00:00Z")
		got := h.expect("customer-anniversary", "one year")
		if got[0].Reason != "1 year since the first order" {
			t.Fatalf("reason %q", got[0].Reason)
		}
		if tm := h.timers("c:42"); !strings.Contains(tm, "customer-anniversary@2027-03-10T10:00:00Z") {
			t.Fatalf("next anniversary not armed: %q", tm)
		}
		h.send(ev("o2", "order_placed", c42, "2026-06-10T10:00:00Z", `{"order_id":"2","items":[{"sku":"S","price":1}],"total":1}`))
		h.expect("order-thank-you", "a later order does not move the anniversary")
		if tm := h.timers("c:42"); !strings.Contains(tm, "customer-anniversary@2027-03-10T10:00:00Z") {
			t.Fatalf("anniversary moved: %q", tm)
		}
	})
	t.Run("contract renewal thirty days before the date", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(ev("i1", "identify", c42, "2026-03-01T10:00:00Z", `{"traits":{"renewal_date":"2026-05-01"}}`))
		h.expect("welcome", "new known contact")
		h.send(ev("i2", "identify", c42, "2026-03-02T10:00:00Z", `{"traits":{"renewal_date":"2026-06-01"}}`))
		h.idle("2026-04-15T00:00:00Z")
		h.expect("", "the date moved to June")
		h.idle("2026-05-02T08:00:00Z")
		got := h.expect("contract-renewal", "thirty days before 1 June (2 May 00:00, deferred by quiet hours to 08:00)")
		if !strings.Contains(got[0].Reason, "renewal_date 2026-06-01") {
			t.Fatalf("reason %q", got[0].Reason)
		}
	})
}

func TestJourneyWinBack(t *testing.T) {
	t.Run("P(alive) falls below the threshold", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(ev("o1", "order_placed", c42, "2026-01-10T10:00:00Z", order9001))
		h.take()
		h.refresh("c:42", "2026-03-10T10:00:00Z", func(*state.Contact) {}, 0.5, 0.4)
		h.expect("", "still above 0.3")
		h.refresh("c:42", "2026-03-11T10:00:00Z", func(*state.Contact) {}, 0.4, 0.25)
		got := h.expect("p-alive-low", "crossed 0.3")
		if !strings.Contains(got[0].Reason, "0.25") || got[0].Journey != "win_back" {
			t.Fatalf("payload %+v", got[0])
		}
		h.refresh("c:42", "2026-03-12T10:00:00Z", func(*state.Contact) {}, 0.35, 0.2)
		h.expect("", "cooldown of 90 days")
		h.refresh("c:42", "2026-03-13T10:00:00Z", func(*state.Contact) {}, math.NaN(), 0.1)
		h.expect("", "unknown before: no crossing")
	})
	t.Run("RFM segment worsens into an at-risk segment", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(ev("o1", "order_placed", c42, "2026-01-10T10:00:00Z", order9001))
		h.take()
		set := func(s rfm.Segment) func(*state.Contact) {
			return func(c *state.Contact) { c.Scores.Segment = uint8(s) }
		}
		h.refresh("c:42", "2026-02-01T10:00:00Z", set(rfm.Champions), math.NaN(), math.NaN())
		h.refresh("c:42", "2026-02-10T10:00:00Z", set(rfm.Loyal), math.NaN(), math.NaN())
		h.expect("", "worse, but not at risk")
		h.refresh("c:42", "2026-03-10T10:00:00Z", set(rfm.AtRisk), math.NaN(), math.NaN())
		got := h.expect("segment-worsened", "Loyal → At risk")
		if !strings.Contains(got[0].Reason, "Loyal → At risk") || got[0].Scores.Segment != "At risk" {
			t.Fatalf("payload %+v", got[0])
		}
	})
	t.Run("expected next order overdue", func(t *testing.T) {
		h := newHarness(t, "")
		for _, d := range []string{"01", "11", "21"} {
			h.send(ev("o"+d, "order_placed", c42, "2026-03-"+d+"T10:00:00Z", `{"order_id":"`+d+`","items":[{"sku":"S","price":1}],"total":1}`))
		}
		h.take()
		// Typical gap 10 days, factor 2: due 20 days after the last order.
		h.idle("2026-04-10T09:59:59Z")
		h.expect("", "not yet overdue")
		h.idle("2026-04-10T10:00:00Z")
		h.expect("order-overdue", "overdue")
		h.idle("2026-06-10T10:00:00Z")
		h.expect("", "handled once")
	})
}

func TestJourneyAbandonedCart(t *testing.T) {
	add := func(id, at string) string {
		return ev(id, "add_to_cart", c42, at, `{"sku":"SHOE-42","category":"shoes","quantity":2,"price":59.90}`)
	}
	order := func(id, at string) string { return ev(id, "order_placed", c42, at, order9001) }
	cases := []struct {
		name   string
		events []string
		idle   string
		want   string
	}{
		{"no order within the hour", []string{add("a1", "2026-03-10T10:00:00Z")}, "2026-03-10T11:00:00Z", "abandoned-cart"},
		{"one millisecond before the deadline", []string{add("a1", "2026-03-10T10:00:00Z")}, "2026-03-10T10:59:59.999Z", ""},
		{"order just before the deadline", []string{add("a1", "2026-03-10T10:00:00Z"), order("o1", "2026-03-10T10:59:59Z")},
			"2026-03-10T12:00:00Z", "order-thank-you"},
		{"another add restarts the hour", []string{add("a1", "2026-03-10T10:00:00Z"), add("a2", "2026-03-10T10:30:00Z")},
			"2026-03-10T11:15:00Z", ""},
		{"late add_to_cart older than the order it preceded", []string{order("o1", "2026-03-10T10:30:00Z"), add("a1", "2026-03-10T10:00:00Z")},
			"2026-03-10T12:00:00Z", "order-thank-you"},
		{"emptied cart at fire time", []string{add("a1", "2026-03-10T10:00:00Z"),
			ev("r1", "remove_from_cart", c42, "2026-03-10T10:10:00Z", `{"sku":"SHOE-42","quantity":2}`)},
			"2026-03-10T12:00:00Z", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			for _, e := range tc.events {
				h.send(e)
			}
			h.idle(tc.idle)
			got := h.expect(tc.want, tc.name)
			if tc.want == "abandoned-cart" {
				e := got[0]
				if e.Cart == nil || len(e.Cart.Items) != 1 || e.Cart.Items[0].SKU != "SHOE-42" || e.Cart.Items[0].Quantity != 2 ||
					e.Cart.Total != 119.8 || e.Cause.At != "2026-03-10T10:00:00.000Z" || e.EmittedAt != "2026-03-10T11:00:00.000Z" {
					t.Fatalf("payload %+v cart %+v", e, e.Cart)
				}
			}
		})
	}
	t.Run("restarted hour fires from the last add", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(add("a1", "2026-03-10T10:00:00Z"))
		h.send(add("a2", "2026-03-10T10:30:00Z"))
		h.idle("2026-03-10T11:30:00Z")
		h.expect("abandoned-cart", "an hour after the second add")
	})
	t.Run("a late order within the allowed lateness still cancels", func(t *testing.T) {
		h := newHarness(t, "")
		h.wm.Lateness = 5 * 60 * 1000 * 1e6 // 5 minutes
		h.send(add("a1", "2026-03-10T10:00:00Z"))
		h.send(ev("p1", "page_view", c42, "2026-03-10T11:02:00Z", `{"url":"/"}`))
		h.expect("", "watermark 10:57: not due yet")
		h.send(order("o1", "2026-03-10T10:59:00Z"))
		h.expect("order-thank-you", "the late order")
		h.send(ev("p2", "page_view", c42, "2026-03-10T11:10:00Z", `{"url":"/"}`))
		h.expect("", "cancelled by the late order")
	})
	t.Run("without lateness the deadline passed first", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(add("a1", "2026-03-10T10:00:00Z"))
		h.send(ev("p1", "page_view", c42, "2026-03-10T11:02:00Z", `{"url":"/"}`))
		h.expect("abandoned-cart", "watermark 11:02")
	})
}

func TestJourneyBrowseAbandonment(t *testing.T) {
	view := func(id, at, sku string) string {
		return ev(id, "product_view", c42, at, `{"sku":"`+sku+`","category":"shoes"}`)
	}
	t.Run("three views, no cart", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(view("v1", "2026-03-10T10:00:00Z", "A"))
		h.send(view("v2", "2026-03-10T10:05:00Z", "B"))
		h.expect("", "two views")
		h.send(view("v3", "2026-03-10T10:10:00Z", "C"))
		h.idle("2026-03-10T12:09:59Z")
		h.expect("", "before two hours")
		h.idle("2026-03-10T12:10:00Z")
		got := h.expect("browse-abandonment", "two hours after the third view")
		if got[0].Viewed == nil || strings.Join(got[0].Viewed.Products, ",") != "C,B,A" {
			t.Fatalf("viewed %+v", got[0].Viewed)
		}
	})
	t.Run("views spread over days", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(view("v1", "2026-03-08T10:00:00Z", "A"))
		h.send(view("v2", "2026-03-09T10:05:00Z", "B"))
		h.send(view("v3", "2026-03-10T10:10:00Z", "C"))
		h.idle("2026-03-11T10:00:00Z")
		h.expect("", "fewer than three in a day")
	})
	t.Run("a cart within two hours", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(view("v1", "2026-03-10T10:00:00Z", "A"))
		h.send(view("v2", "2026-03-10T10:05:00Z", "B"))
		h.send(view("v3", "2026-03-10T10:10:00Z", "C"))
		h.send(ev("a1", "add_to_cart", c42, "2026-03-10T11:00:00Z", `{"sku":"C","price":5}`))
		h.idle("2026-03-10T12:30:00Z")
		h.expect("abandoned-cart", "the cart turns it into an abandoned cart instead")
	})
	t.Run("anonymous visitors get none", func(t *testing.T) {
		h := newHarness(t, "")
		for i, at := range []string{"10:00", "10:05", "10:10"} {
			h.send(ev("v"+at, "product_view", `"anonymous_id":"a-1"`, "2026-03-10T"+at+":00Z", `{"sku":"`+string(rune('A'+i))+`"}`))
		}
		h.idle("2026-03-10T13:00:00Z")
		h.expect("", "anonymous")
	})
}

func TestJourneyNoOpenFollowUp(t *testing.T) {
	sent := ev("m1", "sent", `"email":"ann@example.com"`, "2026-03-10T10:00:00Z", `{"campaign":"spring"}`)
	t.Run("not opened within 48 hours", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(sent)
		h.idle("2026-03-12T09:59:59Z")
		h.expect("", "47:59:59 later")
		h.idle("2026-03-12T10:00:00Z")
		got := h.expect("no-open-follow-up", "48 hours")
		if got[0].Cause.Ref != "spring" || got[0].Cause.Event != "sent" {
			t.Fatalf("cause %+v", got[0].Cause)
		}
	})
	for _, typ := range []string{"opened", "clicked"} {
		t.Run(typ+" just before the deadline", func(t *testing.T) {
			h := newHarness(t, "")
			h.send(sent)
			h.send(ev("m2", typ, `"email":"ann@example.com"`, "2026-03-12T09:59:59Z", `{"campaign":"spring"}`))
			h.idle("2026-03-13T10:00:00Z")
			h.expect("", typ)
		})
	}
	t.Run("an open before the send does not count", func(t *testing.T) {
		h := newHarness(t, "")
		h.send(ev("m0", "opened", `"email":"ann@example.com"`, "2026-03-10T09:00:00Z", `{"campaign":"winter"}`))
		h.send(sent)
		h.idle("2026-03-12T10:00:00Z")
		h.expect("no-open-follow-up", "only opens after the send count")
	})
}
