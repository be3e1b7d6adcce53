package fold

import (
	"slices"

	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
)

// Orders are folded idempotently by order id as well as by event id: a
// second order_placed for the same order id changes nothing, so an order
// replayed under a new event id is not counted twice.

func findOrder(c *state.Contact, id string) *state.Order {
	for i := len(c.Orders.Recent) - 1; i >= 0; i-- {
		if c.Orders.Recent[i].ID == id {
			return &c.Orders.Recent[i]
		}
	}
	return nil
}

// addOrder inserts by time and returns a pointer to the stored entry. The
// list keeps the newest MaxRecentOrders; a cancellation of an order older
// than that is no longer matched (documented limit).
func addOrder(c *state.Contact, o state.Order) *state.Order {
	rs := c.Orders.Recent
	i := len(rs)
	for i > 0 && rs[i-1].At > o.At {
		i--
	}
	if len(rs) >= state.MaxRecentOrders {
		if i == 0 {
			// Older than all kept: keep it in place of the oldest so its
			// flags still work, at the cost of forgetting that one.
			rs[0] = o
			return &rs[0]
		}
		copy(rs, rs[1:i])
		rs[i-1] = o
		return &rs[i-1]
	}
	c.Orders.Recent = slices.Insert(rs, i, o)
	return &c.Orders.Recent[i]
}

// live is the net revenue an order contributes.
func live(o *state.Order) int64 {
	return o.Total - o.Refunded
}

func (f *Folder) orderPlaced(c *state.Contact, e *event.Event) {
	o := findOrder(c, e.OrderID)
	if o != nil && o.Flags&state.OrderPlaced != 0 {
		return
	}
	if o == nil {
		o = addOrder(c, state.Order{ID: keep(e.OrderID), At: e.Time})
	}
	o.At = e.Time
	o.Day = f.LocalDay(c, e.Time)
	o.Total = e.Total
	o.Currency = keep(e.Currency)
	o.Flags |= state.OrderPlaced
	o.Categories = o.Categories[:0]
	for _, it := range e.Items {
		if it.Category != "" && !slices.Contains(o.Categories, it.Category) && len(o.Categories) < state.MaxOrderCategories {
			o.Categories = append(o.Categories, keep(it.Category))
		}
	}
	// A refund seen before the order: apply it now, capped at the total.
	if o.Flags&state.OrderRefundAll != 0 || o.Refunded > o.Total {
		o.Refunded = o.Total
	}

	for _, it := range e.Items {
		bumpItem(c, it.Category, it.SKU, weightPurchase, e.Time)
	}
	// The order empties the cart it was built from.
	if c.Cart.UpdatedAt <= e.Time {
		c.Cart.Items = c.Cart.Items[:0]
		c.Cart.UpdatedAt = e.Time
	}

	c.Orders.Placed++
	if c.Orders.Currency != e.Currency {
		c.Orders.Currency = keep(e.Currency)
	}
	if o.Flags&state.OrderCancelled != 0 {
		c.Orders.Cancelled++
		return
	}
	c.Orders.Count++
	c.Orders.Revenue += live(o)
	c.Orders.Refunded += o.Refunded
	if c.Orders.First == 0 || e.Time < c.Orders.First {
		c.Orders.First = e.Time
	}
	c.Orders.Last = max(c.Orders.Last, e.Time)
	addPurchase(c, o.Day, 1, live(o))
}

func (f *Folder) orderCancelled(c *state.Contact, e *event.Event) {
	o := findOrder(c, e.OrderID)
	if o == nil {
		addOrder(c, state.Order{ID: keep(e.OrderID), At: e.Time, Flags: state.OrderCancelled})
		return
	}
	if o.Flags&state.OrderCancelled != 0 {
		return
	}
	o.Flags |= state.OrderCancelled
	if o.Flags&state.OrderPlaced == 0 {
		return
	}
	c.Orders.Cancelled++
	c.Orders.Count--
	c.Orders.Revenue -= live(o)
	c.Orders.Refunded -= o.Refunded
	addPurchase(c, o.Day, -1, -live(o))
	recomputeOrderSpan(c)
}

func (f *Folder) orderRefunded(c *state.Contact, e *event.Event) {
	o := findOrder(c, e.OrderID)
	if o == nil {
		o = addOrder(c, state.Order{ID: keep(e.OrderID), At: e.Time})
	}
	if o.Flags&state.OrderPlaced == 0 {
		// Not placed yet: remember the refund for when it is.
		if e.Amount < 0 {
			o.Flags |= state.OrderRefundAll
		} else {
			o.Refunded += e.Amount
		}
		return
	}
	r := o.Total - o.Refunded
	if e.Amount >= 0 && e.Amount < r {
		r = e.Amount
	}
	if r <= 0 {
		return
	}
	o.Refunded += r
	if o.Flags&state.OrderCancelled != 0 {
		return // a cancelled order already contributes nothing
	}
	c.Orders.Revenue -= r
	c.Orders.Refunded += r
	addPurchase(c, o.Day, 0, -r)
}

// recomputeOrderSpan resets First and Last after a cancellation from the
// live orders still in the recent list; older orders are outside it and
// their bounds are kept.
func recomputeOrderSpan(c *state.Contact) {
	var first, last int64
	for i := range c.Orders.Recent {
		o := &c.Orders.Recent[i]
		if o.Flags&state.OrderPlaced == 0 || o.Flags&state.OrderCancelled != 0 {
			continue
		}
		if first == 0 || o.At < first {
			first = o.At
		}
		last = max(last, o.At)
	}
	if c.Orders.Count == 0 {
		c.Orders.First, c.Orders.Last = 0, 0
		return
	}
	if int(c.Orders.Count) <= len(c.Orders.Recent) {
		c.Orders.First = first
	}
	c.Orders.Last = last
}

// addPurchase adjusts one purchase day; a day left with no order is removed
// so that x (repeat purchase days) stays right after cancellations.
func addPurchase(c *state.Contact, day int32, orders int, spend int64) {
	ps := c.Purchases
	i, found := slices.BinarySearchFunc(ps, day, func(p state.PurchaseDay, d int32) int {
		switch {
		case p.Day < d:
			return -1
		case p.Day > d:
			return 1
		}
		return 0
	})
	if !found {
		if orders <= 0 {
			return
		}
		if len(ps) >= state.MaxPurchaseDays {
			if i == 0 {
				return
			}
			ps = slices.Delete(ps, 0, 1)
			i--
		}
		c.Purchases = slices.Insert(ps, i, state.PurchaseDay{Day: day, Orders: uint16(orders), Spend: spend})
		return
	}
	n := int(ps[i].Orders) + orders
	if n <= 0 {
		c.Purchases = slices.Delete(ps, i, i+1)
		return
	}
	ps[i].Orders = uint16(n)
	ps[i].Spend += spend
}
