package event

import (
	"strconv"

	"github.com/valyala/fastjson"

	"github.com/kairos-engine/kairos/state"
)

// collectProps visits the properties once: it checks them like
// checkObject, except the items of an order and the traits, which have
// their own readers; fills e.Props with the scalar ones; and bounds every
// name and string value.
func (d *Decoder) collectProps(o *fastjson.Object, e *Event) error {
	read := ""
	switch e.Type {
	case state.EventOrderPlaced:
		read = "items"
	case state.EventSignup, state.EventIdentify:
		read = "traits"
	}
	base := len(d.keys)
	var f *treeFault
	var err error
	o.Visit(func(k []byte, v *fastjson.Value) {
		d.keys = append(d.keys, b2s(k))
		if f != nil || err != nil {
			return
		}
		name := b2s(k)
		if len(name) > MaxNameLen {
			err = fail(ReasonInvalidField, "properties."+clip(name), "property name longer than "+strconv.Itoa(MaxNameLen)+" bytes")
			return
		}
		var text string
		switch v.Type() {
		case fastjson.TypeString:
			b, _ := v.StringBytes()
			if len(b) > MaxStringLen {
				err = fail(ReasonInvalidField, "properties."+name, "longer than "+strconv.Itoa(MaxStringLen)+" bytes")
				return
			}
			text = b2s(b)
		case fastjson.TypeNumber:
			if f = d.checkTree(v); f != nil {
				f.path = name
				return
			}
			text = d.numText(v)
		case fastjson.TypeTrue:
			text = "true"
		case fastjson.TypeFalse:
			text = "false"
		case fastjson.TypeNull:
			return
		default: // objects and arrays are not props
			if name != read {
				if f = d.checkTree(v); f != nil {
					f.path = name + f.path
				}
			}
			return
		}
		if len(e.Props) < MaxProps {
			e.Props = append(e.Props, Prop{Name: name, Value: text})
		}
	})
	// A malformed record is invalid_json even when a field is also wrong.
	if jsonErr := d.endObject(base, f, "properties", -1); jsonErr != nil {
		return jsonErr
	}
	return err
}

// properties reads the fixed properties of e's type.
func (d *Decoder) properties(o *fastjson.Object, e *Event) error {
	r := fields{d: d, o: o, t: e.Type, path: "properties", index: -1}
	switch e.Type {
	case state.EventPageView:
		e.URL = r.text("url", false)
		if e.URL == "" {
			e.URL = e.Context.URL
		}
		e.Category = r.token("category", false)
	case state.EventProductView:
		e.SKU = r.token("sku", true)
		e.Category = r.token("category", false)
	case state.EventAddToCart:
		e.SKU = r.token("sku", true)
		e.Category = r.token("category", false)
		e.Quantity = r.quantity("quantity")
		e.Price = r.money("price", false)
	case state.EventRemoveFromCart:
		e.SKU = r.token("sku", true)
		e.Category = r.token("category", false)
		e.Quantity = r.quantity("quantity")
	case state.EventSearch:
		e.Query = r.text("query", true)
	case state.EventFormSubmit:
		e.Form = r.token("form", true)
		e.Content = r.text("content", false)
	case state.EventSignup:
		e.List = r.token("list", true)
		r.traits(e, "list")
	case state.EventIdentify:
		r.traits(e, "")
		if r.err == nil && len(e.Traits) == 0 && e.Phone == "" && e.identifiers() < 2 {
			return fail(ReasonMissingField, "properties.traits",
				"identify needs two identifiers (contact_id, email, anonymous_id) to link, or traits to set")
		}
	case state.EventOrderPlaced:
		e.OrderID = r.token("order_id", true)
		r.items(e)
		e.Total = r.money("total", true)
		e.Currency = r.currency("currency")
	case state.EventOrderCancelled, state.EventOrderShipped:
		e.OrderID = r.token("order_id", true)
	case state.EventOrderRefunded:
		e.OrderID = r.token("order_id", true)
		e.Amount = -1
		if r.has("amount") {
			e.Amount = r.money("amount", true)
		}
	case state.EventEmailSent:
		e.Campaign = r.token("campaign", false)
		e.List = r.token("list", false)
	case state.EventEmailDelivered, state.EventEmailOpened, state.EventEmailComplained:
		e.Campaign = r.token("campaign", false)
	case state.EventEmailClicked:
		e.Campaign = r.token("campaign", false)
		e.URL = r.text("url", false)
	case state.EventEmailBounced:
		e.Campaign = r.token("campaign", false)
		e.Bounce = r.bounce()
	case state.EventEmailUnsubscribed:
		e.Campaign = r.token("campaign", false)
		if e.List = r.token("list", false); e.List == "all" {
			e.List = ""
		}
	}
	return r.err
}

// identifiers counts the identifiers e carries.
func (e *Event) identifiers() int {
	n := 0
	for _, s := range [...]string{e.ContactID, e.Email, e.AnonymousID} {
		if s != "" {
			n++
		}
	}
	return n
}

// fields reads the fields of one JSON object (properties, an order item,
// the context). The first error sticks: later reads return zero values,
// and err is checked once at the end, which keeps the per-type code flat.
type fields struct {
	d    *Decoder
	o    *fastjson.Object // nil: no object, every field is absent
	t    state.EventType
	path string // "properties", "properties.items", "context"
	// index is the array index of the object under path, or -1.
	index int
	err   error
}

// field returns the JSON path of name, only built on the error path.
func (r *fields) field(name string) string {
	if r.index < 0 {
		return r.path + "." + name
	}
	return r.path + "[" + strconv.Itoa(r.index) + "]." + name
}

func (r *fields) fail(reason Reason, name, detail string) {
	if r.err == nil {
		r.err = fail(reason, r.field(name), detail)
	}
}

func (r *fields) required(name string) {
	detail := "required"
	if r.t != state.EventUnknown {
		detail = "required for " + r.t.String()
	}
	r.fail(ReasonMissingField, name, detail)
}

func (r *fields) has(name string) bool {
	return r.err == nil && get(r.o, name) != nil
}

// text reads a string of at most MaxStringLen bytes. Empty counts as
// absent.
func (r *fields) text(name string, required bool) string {
	if r.err != nil {
		return ""
	}
	v := get(r.o, name)
	if v == nil {
		if required {
			r.required(name)
		}
		return ""
	}
	b, err := v.StringBytes()
	if err != nil {
		r.fail(ReasonInvalidField, name, "must be a string")
		return ""
	}
	if len(b) == 0 && required {
		r.required(name)
		return ""
	}
	if len(b) > MaxStringLen {
		r.fail(ReasonInvalidField, name, "longer than "+strconv.Itoa(MaxStringLen)+" bytes")
		return ""
	}
	return b2s(b)
}

// token reads a text that names something (sku, order id, list, campaign,
// time zone): it ends up in keys and labels, so control characters are
// refused.
func (r *fields) token(name string, required bool) string {
	s := r.text(name, required)
	if hasControl(s) {
		r.fail(ReasonInvalidField, name, "contains a control character")
		return ""
	}
	return s
}

// money reads a non-negative amount in minor units from the number's text.
func (r *fields) money(name string, required bool) int64 {
	if r.err != nil {
		return 0
	}
	v := get(r.o, name)
	if v == nil {
		if required {
			r.required(name)
		}
		return 0
	}
	if v.Type() != fastjson.TypeNumber {
		r.fail(ReasonInvalidField, name, "must be a JSON number such as 19.99")
		return 0
	}
	n, problem := parseMoney(r.d.numText(v))
	if problem != "" {
		r.fail(ReasonInvalidField, name, problem)
	}
	return n
}

// quantity reads an optional whole number in 1..MaxQuantity, default 1.
func (r *fields) quantity(name string) int32 {
	if r.err != nil {
		return 0
	}
	v := get(r.o, name)
	if v == nil {
		return 1
	}
	if v.Type() != fastjson.TypeNumber {
		r.fail(ReasonInvalidField, name, "must be a JSON number")
		return 0
	}
	q, problem := parseQuantity(r.d.numText(v))
	if problem != "" {
		r.fail(ReasonInvalidField, name, problem)
	}
	return q
}

// currency reads an optional ISO 4217 code, default EUR.
func (r *fields) currency(name string) string {
	s := r.token(name, false)
	if r.err != nil {
		return ""
	}
	if s == "" {
		return "EUR"
	}
	if len(s) != 3 || !isUpper(s[0]) || !isUpper(s[1]) || !isUpper(s[2]) {
		r.fail(ReasonInvalidField, name, "must be an ISO 4217 code of three upper-case letters such as EUR")
		return ""
	}
	return s
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

func (r *fields) bounce() Bounce {
	kind := r.token("type", false)
	alt := r.token("bounce_type", false)
	if r.err != nil {
		return 0
	}
	switch {
	case kind == "":
		kind = alt
	case alt != "" && alt != kind:
		r.fail(ReasonInvalidField, "bounce_type", "disagrees with properties.type")
		return 0
	}
	switch kind {
	case "hard":
		return BounceHard
	case "soft":
		return BounceSoft
	case "":
		r.fail(ReasonMissingField, "type", `required for bounced: "hard" or "soft" (bounce_type is accepted too)`)
	default:
		r.fail(ReasonInvalidField, "type", `must be "hard" or "soft"`)
	}
	return 0
}

// items reads the lines of an order.
func (r *fields) items(e *Event) {
	if r.err != nil {
		return
	}
	v := get(r.o, "items")
	if v == nil {
		r.required("items")
		return
	}
	if v.Type() != fastjson.TypeArray {
		r.fail(ReasonInvalidField, "items", "must be an array")
		return
	}
	arr, _ := v.Array()
	switch {
	case len(arr) == 0:
		r.fail(ReasonInvalidField, "items", "must hold at least one item")
		return
	case len(arr) > MaxItems:
		r.fail(ReasonInvalidField, "items", "holds "+strconv.Itoa(len(arr))+" items, at most "+strconv.Itoa(MaxItems)+" are accepted")
		return
	}
	for i, iv := range arr {
		if iv.Type() != fastjson.TypeObject {
			r.err = fail(ReasonInvalidField, "properties.items["+strconv.Itoa(i)+"]", "must be an object")
			return
		}
		io, _ := iv.Object()
		if err := r.d.checkObject(io, "properties.items", i, ""); err != nil {
			r.err = err
			return
		}
		f := fields{d: r.d, o: io, t: r.t, path: "properties.items", index: i}
		it := Item{
			SKU:      f.token("sku", true),
			Category: f.token("category", false),
			Quantity: f.quantity("quantity"),
			Price:    f.money("price", true),
		}
		if f.err != nil {
			r.err = f.err
			return
		}
		e.Items = append(e.Items, it)
	}
}

// traits fills e.Traits from properties.traits when present, else from the
// top-level scalar properties other than skip (the type's own field).
// "phone" goes to e.Phone instead. Null values are ignored: an event never
// unsets a trait.
func (r *fields) traits(e *Event, skip string) {
	if r.err != nil || r.o == nil {
		return
	}
	src, path, nested := r.o, "properties", false
	if v := get(r.o, "traits"); v != nil {
		if v.Type() != fastjson.TypeObject {
			r.fail(ReasonInvalidField, "traits", "must be an object of strings, numbers and booleans")
			return
		}
		src, _ = v.Object()
		path, nested = "properties.traits", true
		if err := r.d.checkObject(src, path, -1, ""); err != nil {
			r.err = err
			return
		}
		// properties.phone wins over traits.phone.
		if v := get(r.o, "phone"); v != nil {
			r.phone(e, v, "properties")
		}
	}
	src.Visit(func(k []byte, v *fastjson.Value) {
		if r.err != nil {
			return
		}
		name := b2s(k)
		if !nested && (name == skip || name == "traits") {
			return
		}
		if name == "phone" {
			r.phone(e, v, path)
			return
		}
		var text string
		switch v.Type() {
		case fastjson.TypeString:
			b, _ := v.StringBytes()
			text = b2s(b)
		case fastjson.TypeNumber:
			text = r.d.numText(v)
		case fastjson.TypeTrue:
			text = "true"
		case fastjson.TypeFalse:
			text = "false"
		case fastjson.TypeNull:
			return
		default:
			if nested {
				r.err = fail(ReasonInvalidField, path+"."+clip(name), "a trait must be a string, number or boolean")
			}
			return // objects among the properties are not traits
		}
		switch {
		case len(name) > MaxNameLen:
			r.err = fail(ReasonInvalidField, path+"."+clip(name), "trait name longer than "+strconv.Itoa(MaxNameLen)+" bytes")
			return
		case len(text) > state.MaxTraitLen:
			r.err = fail(ReasonInvalidField, path+"."+name, "trait value longer than "+strconv.Itoa(state.MaxTraitLen)+" bytes")
			return
		case len(e.Traits) == state.MaxTraits:
			r.err = fail(ReasonInvalidField, path, "more than "+strconv.Itoa(state.MaxTraits)+" traits")
			return
		}
		e.Traits = append(e.Traits, state.Trait{Name: name, Value: text})
	})
}

// phone reads traits.phone, or phone among the top-level properties, unless
// properties.phone already set e.Phone.
func (r *fields) phone(e *Event, v *fastjson.Value, path string) {
	if e.Phone != "" || v.Type() == fastjson.TypeNull {
		return
	}
	b, err := v.StringBytes()
	switch {
	case err != nil:
		r.err = fail(ReasonInvalidField, path+".phone", "must be a string")
	case len(b) > state.MaxTraitLen:
		r.err = fail(ReasonInvalidField, path+".phone", "longer than "+strconv.Itoa(state.MaxTraitLen)+" bytes")
	case hasControl(b2s(b)):
		r.err = fail(ReasonInvalidField, path+".phone", "contains a control character")
	default:
		e.Phone = b2s(b)
	}
}
