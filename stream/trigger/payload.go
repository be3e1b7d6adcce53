package trigger

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/state"
)

// Payload is one trigger as published on kairos.triggers.<channel>.
// README.md ("Triggers for senders") documents the JSON.
type Payload struct {
	TriggerID string
	Rule      *Rule
	Contact   *state.Contact
	Reason    string
	// Cause: what happened (event type, what it was about, its event time).
	CauseType state.EventType
	CauseRef  string
	CausedAt  int64
	EmittedAt int64 // event time of the decision
	SendAt    int64 // recommended send time, 0 when none
	ExpiresAt int64
}

// Payload limits: senders get the gist, not the whole record.
const (
	payloadViewed = 5
	payloadCart   = 20
)

// AppendPayload appends the JSON of p to dst and returns it. It reads
// p.Contact and keeps nothing.
func AppendPayload(dst []byte, p *Payload) []byte {
	r, c := p.Rule, p.Contact
	dst = append(dst, `{"trigger_id":`...)
	dst = appendJSONString(dst, p.TriggerID)
	dst = append(dst, `,"contact_id":`...)
	dst = appendJSONString(dst, c.Key.Value())
	dst = append(dst, `,"journey":`...)
	dst = appendJSONString(dst, r.Journey.String())
	dst = append(dst, `,"step":`...)
	dst = strconv.AppendInt(dst, int64(r.Step), 10)
	dst = append(dst, `,"rule":`...)
	dst = appendJSONString(dst, r.ID)
	dst = append(dst, `,"channel":`...)
	dst = appendJSONString(dst, r.Channel.String())
	dst = append(dst, `,"kind":`...)
	dst = appendJSONString(dst, r.Kind.String())
	dst = append(dst, `,"priority":`...)
	dst = strconv.AppendInt(dst, int64(r.Priority), 10)
	dst = append(dst, `,"reason":`...)
	dst = appendJSONString(dst, p.Reason)
	dst = append(dst, `,"cause":{`...)
	if p.CauseType != state.EventUnknown {
		dst = append(dst, `"event":`...)
		dst = appendJSONString(dst, p.CauseType.String())
		if p.CauseRef != "" {
			dst = append(dst, `,"ref":`...)
			dst = appendJSONString(dst, p.CauseRef)
		}
		dst = append(dst, ',')
	}
	dst = append(dst, `"at":`...)
	dst = appendTime(dst, p.CausedAt)
	dst = append(dst, `},"emitted_at":`...)
	dst = appendTime(dst, p.EmittedAt)
	if p.SendAt != 0 {
		dst = append(dst, `,"send_at":`...)
		dst = appendTime(dst, p.SendAt)
	}
	dst = append(dst, `,"expires_at":`...)
	dst = appendTime(dst, p.ExpiresAt)

	dst = append(dst, `,"contact":{`...)
	n := 0
	field := func(name, v string) {
		if v == "" {
			return
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = appendJSONString(dst, name)
		dst = append(dst, ':')
		dst = appendJSONString(dst, v)
	}
	if r.Fields&FieldName != 0 {
		first, _ := c.Trait("first_name")
		last, _ := c.Trait("last_name")
		name, _ := c.Trait("name")
		if name == "" {
			switch {
			case first != "" && last != "":
				name = first + " " + last
			default:
				name = first + last
			}
		}
		field("name", name)
		field("first_name", first)
		field("last_name", last)
	}
	if r.Fields&FieldEmail != 0 {
		email := c.EmailAddr
		if email == "" && c.Key.Kind() == state.IDEmail {
			email = c.Key.Value()
		}
		field("email", email)
	}
	if r.Fields&FieldPhone != 0 {
		field("phone", c.Phone)
	}
	if r.Fields&FieldLanguage != 0 {
		field("language", c.Language)
		field("time_zone", c.TimeZone)
	}
	dst = append(dst, '}')

	if r.Fields&FieldViewed != 0 {
		dst = append(dst, `,"viewed":{"products":[`...)
		k := 0
		for i := len(c.Recent) - 1; i >= 0 && k < payloadViewed; i-- {
			e := &c.Recent[i]
			if e.Type != state.EventProductView || e.Ref == "" || seenBefore(c.Recent[i+1:], e.Ref) {
				continue
			}
			if k > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, e.Ref)
			k++
		}
		dst = append(dst, `],"categories":[`...)
		for i := 0; i < len(c.Categories) && i < payloadViewed; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, c.Categories[i].Name)
		}
		dst = append(dst, "]}"...)
	}
	if r.Fields&FieldCart != 0 {
		dst = append(dst, `,"cart":{"items":[`...)
		var total int64
		for i, it := range c.Cart.Items {
			total += int64(it.Quantity) * it.Price
			if i >= payloadCart {
				continue
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"sku":`...)
			dst = appendJSONString(dst, it.SKU)
			if it.Category != "" {
				dst = append(dst, `,"category":`...)
				dst = appendJSONString(dst, it.Category)
			}
			dst = append(dst, `,"quantity":`...)
			dst = strconv.AppendInt(dst, int64(it.Quantity), 10)
			if it.Price > 0 {
				dst = append(dst, `,"price":`...)
				dst = appendMoney(dst, it.Price)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, `],"total":`...)
		dst = appendMoney(dst, total)
		dst = append(dst, `,"updated_at":`...)
		dst = appendTime(dst, c.Cart.UpdatedAt)
		dst = append(dst, '}')
	}
	if r.Fields&FieldOrder != 0 {
		dst = append(dst, `,"orders":{"count":`...)
		dst = strconv.AppendInt(dst, int64(c.Orders.Count), 10)
		dst = append(dst, `,"revenue":`...)
		dst = appendMoney(dst, c.Orders.Revenue)
		if c.Orders.Currency != "" {
			dst = append(dst, `,"currency":`...)
			dst = appendJSONString(dst, c.Orders.Currency)
		}
		if c.Orders.First != 0 {
			dst = append(dst, `,"first_at":`...)
			dst = appendTime(dst, c.Orders.First)
			dst = append(dst, `,"last_at":`...)
			dst = appendTime(dst, c.Orders.Last)
		}
		dst = append(dst, '}')
		if o := orderOf(c, p); o != nil {
			dst = append(dst, `,"order":{"order_id":`...)
			dst = appendJSONString(dst, o.ID)
			dst = append(dst, `,"status":`...)
			dst = appendJSONString(dst, orderStatus(o))
			if o.Flags&state.OrderPlaced != 0 {
				dst = append(dst, `,"placed_at":`...)
				dst = appendTime(dst, o.At)
				dst = append(dst, `,"total":`...)
				dst = appendMoney(dst, o.Total)
				dst = append(dst, `,"currency":`...)
				dst = appendJSONString(dst, o.Currency)
			}
			dst = append(dst, `,"categories":[`...)
			for i, cat := range o.Categories {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendJSONString(dst, cat)
			}
			dst = append(dst, "]}"...)
		}
	}
	if r.Fields&FieldScores != 0 {
		dst = append(dst, `,"scores":{"stage":`...)
		dst = appendJSONString(dst, lead.Stage(c.Scores.Stage).String())
		dst = append(dst, `,"segment":`...)
		dst = appendJSONString(dst, rfm.Segment(c.Scores.Segment).String())
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func seenBefore(later []state.RecentEvent, ref string) bool {
	for i := range later {
		if later[i].Type == state.EventProductView && later[i].Ref == ref {
			return true
		}
	}
	return false
}

// orderOf is the order a payload summarises: the cause's order when the
// cause was an order event, else the latest placed order.
func orderOf(c *state.Contact, p *Payload) *state.Order {
	if p.CauseRef != "" && p.CauseType.Stream() == state.StreamOrders {
		for i := len(c.Orders.Recent) - 1; i >= 0; i-- {
			if c.Orders.Recent[i].ID == p.CauseRef {
				return &c.Orders.Recent[i]
			}
		}
	}
	for i := len(c.Orders.Recent) - 1; i >= 0; i-- {
		if c.Orders.Recent[i].Flags&state.OrderPlaced != 0 {
			return &c.Orders.Recent[i]
		}
	}
	return nil
}

func orderStatus(o *state.Order) string {
	switch {
	case o.Flags&state.OrderCancelled != 0:
		return "cancelled"
	case o.Flags&state.OrderRefundAll != 0 || o.Refunded > 0 && o.Refunded >= o.Total:
		return "refunded"
	case o.Flags&state.OrderShipped != 0:
		return "shipped"
	case o.Flags&state.OrderPlaced != 0:
		return "placed"
	}
	return "unknown"
}

// appendMoney writes minor units as a JSON number with two decimals.
func appendMoney(dst []byte, minor int64) []byte {
	if minor < 0 {
		dst = append(dst, '-')
		if minor == math.MinInt64 {
			return append(dst, "92233720368547758.08"...)
		}
		minor = -minor
	}
	dst = strconv.AppendInt(dst, minor/100, 10)
	cents := minor % 100
	return append(dst, '.', byte('0'+cents/10), byte('0'+cents%10))
}

// appendTime writes a Unix ms time as an RFC 3339 UTC string.
func appendTime(dst []byte, ms int64) []byte {
	dst = append(dst, '"')
	dst = time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
