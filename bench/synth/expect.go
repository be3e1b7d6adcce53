package synth

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Totals are the aggregates a contact must end up with after the engine
// folded a set of events: what the crash and integration tests compare.
type Totals struct {
	Orders        int   // placed minus cancelled
	RevenueCents  int64 // placed totals net of cancellations and refunds
	PageViews     int
	EmailsSent    int
	EmailsOpened  int
	EmailsClicked int
}

// Expect folds events independently of the engine (encoding/json, a
// union-find over identifiers, no shared code with the decoder or the
// fold) and returns the totals per contact, keyed by the canonical typed
// key the engine uses: "c:<contact_id>" when any event of the person
// carried one, else "e:<email>", else "a:<anonymous_id>". Duplicate event
// ids are counted once; values that are not valid events are skipped.
func Expect(values [][]byte) map[string]Totals {
	type order struct {
		placed, cancelled bool
		total             int64
		refunded          int64
		refundAll         bool
	}
	type evt struct {
		ID          string          `json:"id"`
		Type        string          `json:"type"`
		ContactID   string          `json:"contact_id"`
		Email       string          `json:"email"`
		AnonymousID string          `json:"anonymous_id"`
		Properties  json.RawMessage `json:"properties"`
	}
	type props struct {
		OrderID string       `json:"order_id"`
		Total   *json.Number `json:"total"`
		Amount  *json.Number `json:"amount"`
	}
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		p, ok := parent[x]
		if !ok {
			parent[x] = x
			return x
		}
		if p == x {
			return x
		}
		r := find(p)
		parent[x] = r
		return r
	}
	rank := func(k string) int { return strings.Index("cea", k[:1]) }
	union := func(a, b string) {
		ra, rb := find(a), find(b)
		if ra == rb {
			return
		}
		// The higher-ranked id (contact id, then email) names the set.
		if rank(rb) < rank(ra) {
			ra, rb = rb, ra
		}
		parent[rb] = ra
	}
	seen := map[string]bool{}
	var events []evt
	for _, v := range values {
		var e evt
		if json.Unmarshal(v, &e) != nil || e.ID == "" || seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		e.Email = strings.ToLower(strings.TrimSpace(e.Email))
		var ids []string
		if e.ContactID != "" {
			ids = append(ids, "c:"+e.ContactID)
		}
		if e.Email != "" {
			ids = append(ids, "e:"+e.Email)
		}
		if e.AnonymousID != "" {
			ids = append(ids, "a:"+e.AnonymousID)
		}
		if len(ids) == 0 {
			continue
		}
		for _, id := range ids[1:] {
			union(ids[0], id)
		}
		find(ids[0])
		events = append(events, e)
	}
	orders := map[string]map[string]*order{}
	out := map[string]Totals{}
	for _, e := range events {
		first := e.ContactID
		switch {
		case first != "":
			first = "c:" + first
		case e.Email != "":
			first = "e:" + e.Email
		default:
			first = "a:" + e.AnonymousID
		}
		k := find(first)
		t := out[k]
		var p props
		_ = json.Unmarshal(e.Properties, &p)
		os := orders[k]
		if os == nil {
			os = map[string]*order{}
			orders[k] = os
		}
		o := os[p.OrderID]
		if o == nil && p.OrderID != "" {
			o = &order{}
			os[p.OrderID] = o
		}
		if o == nil && strings.HasPrefix(e.Type, "order_") {
			continue // no order id: not a valid order event
		}
		switch e.Type {
		case "page_view":
			t.PageViews++
		case "sent":
			t.EmailsSent++
		case "opened":
			t.EmailsOpened++
		case "clicked":
			t.EmailsClicked++
		case "order_placed":
			if !o.placed && p.Total != nil {
				o.placed = true
				o.total = cents(string(*p.Total))
			}
		case "order_cancelled":
			o.cancelled = true
		case "order_refunded":
			if p.Amount == nil {
				o.refundAll = true
			} else {
				o.refunded += cents(string(*p.Amount))
			}
		}
		out[k] = t
	}
	for k, os := range orders {
		t := out[k]
		for _, o := range os {
			if !o.placed || o.cancelled {
				continue
			}
			r := min(o.refunded, o.total)
			if o.refundAll {
				r = o.total
			}
			t.Orders++
			t.RevenueCents += o.total - r
		}
		out[k] = t
	}
	return out
}

func cents(s string) int64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return int64(math.Round(f * 100))
}
