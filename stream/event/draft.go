package event

import (
	"unsafe"

	"github.com/kairos-engine/kairos/state"
)

// draft is the event being decoded, with its strings as spans of the
// record or of Decoder.buf. It holds no pointer, so that filling it costs
// no write barrier; Decoder.own then writes each field of the Event once,
// with its strings in the text arena. Writing the strings of an Event one
// by one, aliasing the record, and again in their own buffer would cost a
// write barrier per string twice over while the garbage collector runs.
//
// Its fields mirror those of Event, Context, Item, state.Trait and Prop;
// TestOwnCoversEveryString checks that every string of an Event has one.
type draft struct {
	Type                              state.EventType
	ID, ContactID, Email, AnonymousID span
	Time                              int64
	Context                           draftContext
	Category, SKU                     span
	Quantity                          int32
	Price                             int64
	Query, Form, Content, List        span
	Campaign, OrderID                 span
	Total                             int64
	Currency                          span
	Amount                            int64
	URL                               span
	Bounce                            Bounce
	Phone                             span
	DecisionID, Action                span
}

type draftContext struct {
	IP, UserAgent, URL, Referrer, TimeZone                 span
	UTMSource, UTMMedium, UTMCampaign, UTMTerm, UTMContent span
}

type draftItem struct {
	SKU, Category span
	Quantity      int32
	Price         int64
}

// pair is a trait or a prop.
type pair struct {
	Name, Value span
}

// statics holds the texts the decoder supplies itself: the words of the
// booleans, the default currency and the names of the properties it
// knows. An Event shares them instead of copying them (they are
// constants), which spares own a copy for most Props names.
var statics, propNameTexts = func() (string, [propFields]span) {
	s := "truefalseEUR"
	var names [propFields]span
	for i, name := range propNames {
		names[i] = span{lo: int32(len(s)), hi: int32(len(s) + len(name)), clean: true, static: true}
		s += name
	}
	return s, names
}()

var (
	textTrue  = span{lo: 0, hi: 4, clean: true, static: true}
	textFalse = span{lo: 4, hi: 9, clean: true, static: true}
	textEUR   = span{lo: 9, hi: 12, clean: true, static: true}
)

func (s span) len() int { return int(s.hi - s.lo) }

// size is the room s takes in the buffer of own.
func (s span) size() int {
	if s.static {
		return 0
	}
	return s.len()
}

// identifiers counts the identifiers the event carries.
func (v *draft) identifiers() int {
	n := 0
	for _, s := range [...]span{v.ContactID, v.Email, v.AnonymousID} {
		if s.len() > 0 {
			n++
		}
	}
	return n
}

// own writes the decoded event into *e, every field of it. Its strings
// are copied into the decoder's text arena (see Decoder.arena), so that e
// aliases neither the record nor the decoder's scratch; its slices reuse
// the capacity of e's. Every field of Event must be written here;
// TestOwnCoversEveryString checks the strings.
func (d *Decoder) own(e *Event) {
	v, c := &d.ev, &d.ev.Context
	// Of the fixed fields only Currency can be static (textEUR).
	n := v.ID.len() + v.ContactID.len() + v.Email.len() + v.AnonymousID.len() +
		c.IP.len() + c.UserAgent.len() + c.URL.len() + c.Referrer.len() + c.TimeZone.len() +
		c.UTMSource.len() + c.UTMMedium.len() + c.UTMCampaign.len() + c.UTMTerm.len() + c.UTMContent.len() +
		v.Category.len() + v.SKU.len() + v.Query.len() + v.Form.len() + v.Content.len() + v.List.len() +
		v.Campaign.len() + v.OrderID.len() + v.Currency.size() + v.URL.len() + v.Phone.len() +
		v.DecisionID.len() + v.Action.len()
	for i := range d.lines {
		n += d.lines[i].SKU.size() + d.lines[i].Category.size()
	}
	for i := range d.outTraits {
		n += d.outTraits[i].Name.size() + d.outTraits[i].Value.size()
	}
	for i := range d.outProps {
		n += d.outProps[i].Name.size() + d.outProps[i].Value.size()
	}
	o := owner{buf: d.strings(n), data: d.data, scratch: d.buf}

	items := e.Items[:0]
	for i := range d.lines {
		it := &d.lines[i]
		items = append(items, Item{SKU: o.str(it.SKU), Category: o.str(it.Category), Quantity: it.Quantity, Price: it.Price})
	}
	traits := e.Traits[:0]
	for i := range d.outTraits {
		traits = append(traits, state.Trait{Name: o.str(d.outTraits[i].Name), Value: o.str(d.outTraits[i].Value)})
	}
	props := e.Props[:0]
	for i := range d.outProps {
		props = append(props, Prop{Name: o.str(d.outProps[i].Name), Value: o.str(d.outProps[i].Value)})
	}
	// Field by field: a composite literal would be built on the stack and
	// copied.
	e.ID = o.str(v.ID)
	e.Type = v.Type
	e.ContactID = o.str(v.ContactID)
	e.Email = o.str(v.Email)
	e.AnonymousID = o.str(v.AnonymousID)
	e.Time = v.Time
	ec := &e.Context
	ec.IP = o.str(c.IP)
	ec.UserAgent = o.str(c.UserAgent)
	ec.URL = o.str(c.URL)
	ec.Referrer = o.str(c.Referrer)
	ec.TimeZone = o.str(c.TimeZone)
	ec.UTMSource = o.str(c.UTMSource)
	ec.UTMMedium = o.str(c.UTMMedium)
	ec.UTMCampaign = o.str(c.UTMCampaign)
	ec.UTMTerm = o.str(c.UTMTerm)
	ec.UTMContent = o.str(c.UTMContent)
	ec.Location = d.loc
	e.Category = o.str(v.Category)
	e.SKU = o.str(v.SKU)
	e.Quantity = v.Quantity
	e.Price = v.Price
	e.Query = o.str(v.Query)
	e.Form = o.str(v.Form)
	e.Content = o.str(v.Content)
	e.List = o.str(v.List)
	e.Campaign = o.str(v.Campaign)
	e.OrderID = o.str(v.OrderID)
	e.Items = items
	e.Total = v.Total
	e.Currency = o.str(v.Currency)
	e.Amount = v.Amount
	e.URL = o.str(v.URL)
	e.Bounce = v.Bounce
	e.Traits = traits
	e.Phone = o.str(v.Phone)
	e.DecisionID = o.str(v.DecisionID)
	e.Action = o.str(v.Action)
	e.Props = props
}

// Sizes of the text arena's chunks. A chunk holds the strings of a few
// dozen typical events; an event with more text than textLarge gets an
// allocation of its own, so that it neither wastes the rest of a chunk nor
// pins one.
const (
	textChunk = 8 << 10
	textLarge = 1 << 10
)

// strings returns n bytes of the text arena: room for the strings of one
// event. Bytes handed out are never written again, which is what makes the
// strings immutable, however long they are kept; the chunk they share
// is freed by the collector once no string of it is referenced.
func (d *Decoder) strings(n int) []byte {
	if n > textLarge {
		return make([]byte, n)
	}
	if n > len(d.arena) {
		d.arena = make([]byte, textChunk)
	}
	b := d.arena[:n:n]
	d.arena = d.arena[n:]
	return b
}

// owner fills the buffer of Decoder.own from the record and the
// decoder's scratch.
type owner struct {
	buf, data, scratch []byte
	off                int
}

// str copies the text of s into the buffer. Most fields are empty, so
// that test is kept small enough to be inlined.
func (o *owner) str(s span) string {
	switch {
	case s.lo == s.hi:
		return ""
	case s.static:
		return statics[s.lo:s.hi]
	}
	return o.copy(s)
}

// copy is kept out of line so that str stays small.
//
//go:noinline
func (o *owner) copy(s span) string {
	src := o.data
	if s.buf {
		src = o.scratch
	}
	dst := o.buf[o.off : o.off+s.len()]
	o.off += copy(dst, src[s.lo:s.hi])
	return unsafe.String(unsafe.SliceData(dst), len(dst))
}

// reset clears e and keeps the capacity of its slices.
func (e *Event) reset() {
	*e = Event{Items: e.Items[:0], Traits: e.Traits[:0], Props: e.Props[:0]}
}
