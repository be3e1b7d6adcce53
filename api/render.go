package api

import (
	"strconv"

	"github.com/kairos-engine/kairos/state"
)

// Contact profile JSON
//
// GET /v1/contacts/{id} and GET /v1/contacts?email=|anonymous_id= answer
// with one object. Every field below is always present, so clients can rely
// on the shape; a value that is not known is null (strings, instants) or
// empty ([] and {}). Instants are RFC 3339 UTC strings with millisecond
// precision ("2025-03-01T09:30:00.250Z") or null for "never". Money is a
// JSON number in major units with exactly two decimals (1999 cents →
// 19.99), written from the stored integer so it is never rounded.
//
// The fields marked (contract) are relied on by callers and dashboards and
// must not change meaning; the others may grow.
//
//	contact_id     (contract) id value of the canonical key: the contact id, or the
//	               email or anonymous id of a contact not yet known by a contact id
//	key            canonical key, e.g. "c:42", "e:ann@example.com", "a:7f3c"
//	email          normalised email address
//	phone
//	anonymous_ids  values of the contact's anonymous ids (a: keys)
//	aliases        every other key resolving to the contact: ["e:..", "a:.."]
//	traits         {"name": "value", ...}
//	time_zone      IANA name; "UTC" when none is known
//	language
//	first_seen     (contract) first event, event time
//	last_seen      (contract) latest event, event time
//	consent        {"email"|"sms"|"push": {"status", "at"}, "lists": [{"list", "subscribed", "at"}]}
//	               status is unknown, opted_in, opted_out, suppressed or complained
//	aggregates
//	  orders         (contract) net number of orders (placed minus cancelled)
//	  revenue        (contract) net revenue, money
//	  refunded       money refunded on live orders
//	  currency       currency of the orders
//	  first_order, last_order
//	  page_views     (contract) product_views, add_to_carts, searches, sessions
//	  emails_sent    (contract) emails_delivered
//	  emails_opened  (contract)
//	  emails_clicked (contract) emails_bounced, last_sent, last_open, last_click
//	  events         {event type: count}, only types seen at least once
//	affinities     {"categories": [{"name", "score"}], "products": [...]}, highest first;
//	               scores decayed to the time of the request (state.AffinityHalfLife)
//	cart           {"items": [{"sku", "category", "quantity", "price"}], "value", "updated_at"};
//	               value is the sum of quantity × price
//	recent_orders  newest first: [{"order_id", "at", "total", "refunded", "currency",
//	               "status", "categories"}]; status is pending (seen cancelled, refunded
//	               or shipped before it was seen placed), placed, shipped,
//	               partially_refunded, refunded or cancelled
//	recent_events  newest first: [{"type", "at", "ref"}]

// appendContact appends the profile document of c, stored under key, with
// time-dependent scores evaluated at now (Unix milliseconds).
func appendContact(dst []byte, key state.Key, c *state.Contact, now int64) []byte {
	dst = append(dst, `{"contact_id":`...)
	dst = appendJSONString(dst, key.Value())
	dst = append(dst, `,"key":`...)
	dst = appendJSONString(dst, string(key))

	email := c.EmailAddr
	if email == "" && key.Kind() == state.IDEmail {
		email = key.Value()
	}
	dst = append(dst, `,"email":`...)
	dst = appendOptString(dst, email)
	dst = append(dst, `,"phone":`...)
	dst = appendOptString(dst, c.Phone)

	dst = append(dst, `,"anonymous_ids":[`...)
	n := 0
	if key.Kind() == state.IDAnonymous {
		dst = appendJSONString(dst, key.Value())
		n++
	}
	for _, a := range c.Aliases {
		if a.Kind() != state.IDAnonymous {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, a.Value())
		n++
	}
	dst = append(dst, `],"aliases":[`...)
	for i, a := range c.Aliases {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, string(a))
	}

	dst = append(dst, `],"traits":{`...)
	for i := range c.Traits {
		t := &c.Traits[i]
		if i > 0 {
			if t.Name == c.Traits[i-1].Name {
				continue // sorted by name: a duplicate would make an invalid object
			}
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, t.Name)
		dst = append(dst, ':')
		dst = appendJSONString(dst, t.Value)
	}
	tz := c.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	dst = append(dst, `},"time_zone":`...)
	dst = appendJSONString(dst, tz)
	dst = append(dst, `,"language":`...)
	dst = appendOptString(dst, c.Language)
	dst = append(dst, `,"first_seen":`...)
	dst = appendTime(dst, c.FirstSeen)
	dst = append(dst, `,"last_seen":`...)
	dst = appendTime(dst, c.LastSeen)

	dst = appendConsent(dst, &c.Consent)
	dst = appendAggregates(dst, c)

	factor := state.DecayFactor(now-c.AffinityAt, state.AffinityHalfLife)
	dst = append(dst, `,"affinities":{"categories":`...)
	dst = appendAffinities(dst, c.Categories, factor)
	dst = append(dst, `,"products":`...)
	dst = appendAffinities(dst, c.Products, factor)
	dst = append(dst, '}')

	dst = appendCart(dst, &c.Cart)
	dst = appendRecentOrders(dst, c.Orders.Recent)

	dst = append(dst, `,"recent_events":[`...)
	for i := len(c.Recent) - 1; i >= 0; i-- {
		e := &c.Recent[i]
		if i < len(c.Recent)-1 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":`...)
		dst = appendJSONString(dst, e.Type.String())
		dst = append(dst, `,"at":`...)
		dst = appendTime(dst, e.At)
		dst = append(dst, `,"ref":`...)
		dst = appendOptString(dst, e.Ref)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

func appendConsent(dst []byte, cs *state.Consent) []byte {
	dst = append(dst, `,"consent":{`...)
	for ch := range state.NumChannels {
		cc := cs.Channels[ch]
		dst = appendJSONString(dst, ch.String())
		dst = append(dst, `:{"status":`...)
		dst = appendJSONString(dst, cc.Status.String())
		dst = append(dst, `,"at":`...)
		dst = appendTime(dst, cc.At)
		dst = append(dst, "},"...)
	}
	dst = append(dst, `"lists":[`...)
	for i := range cs.Lists {
		l := &cs.Lists[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"list":`...)
		dst = appendJSONString(dst, l.List)
		dst = append(dst, `,"subscribed":`...)
		dst = strconv.AppendBool(dst, l.Subscribed)
		dst = append(dst, `,"at":`...)
		dst = appendTime(dst, l.At)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

func appendAggregates(dst []byte, c *state.Contact) []byte {
	o := &c.Orders
	e := &c.Engagement
	dst = append(dst, `,"aggregates":{"orders":`...)
	dst = strconv.AppendInt(dst, int64(o.Count), 10)
	dst = append(dst, `,"revenue":`...)
	dst = appendMoney(dst, o.Revenue)
	dst = append(dst, `,"refunded":`...)
	dst = appendMoney(dst, o.Refunded)
	dst = append(dst, `,"currency":`...)
	dst = appendOptString(dst, o.Currency)
	dst = append(dst, `,"first_order":`...)
	dst = appendTime(dst, o.First)
	dst = append(dst, `,"last_order":`...)
	dst = appendTime(dst, o.Last)
	dst = appendUintField(dst, `,"page_views":`, c.Counts[state.EventPageView])
	dst = appendUintField(dst, `,"product_views":`, c.Counts[state.EventProductView])
	dst = appendUintField(dst, `,"add_to_carts":`, c.Counts[state.EventAddToCart])
	dst = appendUintField(dst, `,"searches":`, c.Counts[state.EventSearch])
	dst = appendUintField(dst, `,"sessions":`, c.Sessions.Count)
	dst = appendUintField(dst, `,"emails_sent":`, e.Sent)
	dst = appendUintField(dst, `,"emails_delivered":`, e.Delivered)
	dst = appendUintField(dst, `,"emails_opened":`, e.Opened)
	dst = appendUintField(dst, `,"emails_clicked":`, e.Clicked)
	dst = appendUintField(dst, `,"emails_bounced":`, e.Bounced)
	dst = append(dst, `,"last_sent":`...)
	dst = appendTime(dst, e.LastSent)
	dst = append(dst, `,"last_open":`...)
	dst = appendTime(dst, e.LastOpen)
	dst = append(dst, `,"last_click":`...)
	dst = appendTime(dst, e.LastClick)
	dst = append(dst, `,"events":{`...)
	n := 0
	for t, count := range c.Counts {
		if count == 0 {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, state.EventType(t).String())
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(count), 10)
		n++
	}
	return append(dst, "}}"...)
}

func appendUintField(dst []byte, name string, v uint32) []byte {
	dst = append(dst, name...)
	return strconv.AppendUint(dst, uint64(v), 10)
}

func appendAffinities(dst []byte, as []state.Affinity, factor float64) []byte {
	dst = append(dst, '[')
	for i := range as {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = appendJSONString(dst, as[i].Name)
		dst = append(dst, `,"score":`...)
		dst = appendScore(dst, as[i].Score*factor)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func appendCart(dst []byte, cart *state.Cart) []byte {
	dst = append(dst, `,"cart":{"items":[`...)
	var value int64
	for i := range cart.Items {
		it := &cart.Items[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"sku":`...)
		dst = appendJSONString(dst, it.SKU)
		dst = append(dst, `,"category":`...)
		dst = appendOptString(dst, it.Category)
		dst = append(dst, `,"quantity":`...)
		dst = strconv.AppendInt(dst, int64(it.Quantity), 10)
		dst = append(dst, `,"price":`...)
		dst = appendMoney(dst, it.Price)
		dst = append(dst, '}')
		value += int64(it.Quantity) * it.Price
	}
	dst = append(dst, `],"value":`...)
	dst = appendMoney(dst, value)
	dst = append(dst, `,"updated_at":`...)
	dst = appendTime(dst, cart.UpdatedAt)
	return append(dst, '}')
}

func appendRecentOrders(dst []byte, orders []state.Order) []byte {
	dst = append(dst, `,"recent_orders":[`...)
	for i := len(orders) - 1; i >= 0; i-- {
		o := &orders[i]
		if i < len(orders)-1 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"order_id":`...)
		dst = appendJSONString(dst, o.ID)
		dst = append(dst, `,"at":`...)
		dst = appendTime(dst, o.At)
		dst = append(dst, `,"total":`...)
		dst = appendMoney(dst, o.Total)
		dst = append(dst, `,"refunded":`...)
		dst = appendMoney(dst, o.Refunded)
		dst = append(dst, `,"currency":`...)
		dst = appendOptString(dst, o.Currency)
		dst = append(dst, `,"status":"`...)
		dst = append(dst, orderStatus(o)...)
		dst = append(dst, `","categories":[`...)
		for j, cat := range o.Categories {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, cat)
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, ']')
}

// orderStatus names the state of an order from its flags and refunds. A
// cancellation wins over everything; an order not yet seen placed is
// pending whatever else was seen (events can arrive out of order).
func orderStatus(o *state.Order) string {
	switch {
	case o.Flags&state.OrderCancelled != 0:
		return "cancelled"
	case o.Flags&state.OrderPlaced == 0:
		return "pending"
	case o.Flags&state.OrderRefundAll != 0 || (o.Refunded > 0 && o.Refunded >= o.Total):
		return "refunded"
	case o.Refunded > 0:
		return "partially_refunded"
	case o.Flags&state.OrderShipped != 0:
		return "shipped"
	}
	return "placed"
}
