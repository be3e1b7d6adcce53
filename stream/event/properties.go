package event

import (
	"strconv"

	"github.com/kairos-engine/kairos/state"
)

// The properties fields the readers know, the slots of Decoder.props.
const (
	propURL = iota
	propCategory
	propSKU
	propQuantity
	propPrice
	propQuery
	propForm
	propContent
	propList
	propTraits
	propPhone
	propOrderID
	propItems
	propTotal
	propCurrency
	propAmount
	propCampaign
	propType
	propBounceType
	propDecisionID
	propActionID
	propFields
)

var propNames = [propFields]string{
	"url", "category", "sku", "quantity", "price", "query", "form", "content", "list", "traits",
	"phone", "order_id", "items", "total", "currency", "amount", "campaign", "type", "bounce_type",
	"decision_id", "action_id",
}

func propField(key string) int {
	switch key {
	case "url":
		return propURL
	case "category":
		return propCategory
	case "sku":
		return propSKU
	case "quantity":
		return propQuantity
	case "price":
		return propPrice
	case "query":
		return propQuery
	case "form":
		return propForm
	case "content":
		return propContent
	case "list":
		return propList
	case "traits":
		return propTraits
	case "phone":
		return propPhone
	case "order_id":
		return propOrderID
	case "items":
		return propItems
	case "total":
		return propTotal
	case "currency":
		return propCurrency
	case "amount":
		return propAmount
	case "campaign":
		return propCampaign
	case "type":
		return propType
	case "bounce_type":
		return propBounceType
	case "decision_id":
		return propDecisionID
	case "action_id":
		return propActionID
	}
	return -1
}

// The fields of an order item, the slots of Decoder.item.
const (
	itemSKU = iota
	itemCategory
	itemQuantity
	itemPrice
	itemFields
)

var itemNames = [itemFields]string{"sku", "category", "quantity", "price"}

func itemField(key string) int {
	switch key {
	case "sku":
		return itemSKU
	case "category":
		return itemCategory
	case "quantity":
		return itemQuantity
	case "price":
		return itemPrice
	}
	return -1
}

// collectProps goes over the properties once, in order: it fills the Props
// with the scalar ones and bounds every name and string value. In a
// faulty record it also checks them like checkObject, except the items of
// an order and the traits, which have their own readers, and in the same
// order as always: a malformed record is invalid_json even when a field
// is also wrong, but the values after a wrong field are not looked at.
func (d *Decoder) collectProps() error {
	read := ""
	switch d.ev.Type {
	case state.EventOrderPlaced:
		read = "items"
	case state.EventSignup, state.EventIdentify:
		read = "traits"
	}
	o := d.propList
	var f *treeFault
	var err error
props:
	for i := range o {
		m := &o[i]
		name := d.text(m.key)
		if len(name) > MaxNameLen {
			err = fail(ReasonInvalidField, "properties."+clip(name), "property name longer than "+strconv.Itoa(MaxNameLen)+" bytes")
			break
		}
		text := m.text
		switch m.kind {
		case kindString:
			if text.len() > MaxStringLen {
				err = fail(ReasonInvalidField, "properties."+name, "longer than "+strconv.Itoa(MaxStringLen)+" bytes")
				break props
			}
		case kindNumber:
			if d.faulty {
				if _, f = d.checkAt(d.data, int(m.lo)); f != nil {
					f.path = name
					break props
				}
			}
		case kindTrue:
			text = textTrue
		case kindFalse:
			text = textFalse
		case kindNull:
			continue
		default: // objects and arrays are not props
			if d.faulty && name != read {
				if _, f = d.checkAt(d.data, int(m.lo)); f != nil {
					f.path = name + f.path
					break props
				}
			}
			continue
		}
		if len(d.outProps) < MaxProps {
			key := m.key
			if f := propField(name); f >= 0 {
				key = propNameTexts[f] // shared, not copied
			}
			d.outProps = append(d.outProps, pair{Name: key, Value: text})
		}
	}
	if d.faulty {
		base := len(d.keys)
		for i := range o {
			d.keys = append(d.keys, d.text(o[i].key))
		}
		if jsonErr := d.endObject(base, f, "properties", -1); jsonErr != nil {
			return jsonErr
		}
	}
	return err
}

// properties reads the fixed properties of the event's type.
func (d *Decoder) properties(r *fields) error {
	v := &d.ev
	switch v.Type {
	case state.EventPageView:
		v.URL = r.text(propURL, false)
		if v.URL.len() == 0 {
			v.URL = v.Context.URL
		}
		v.Category = r.token(propCategory, false)
	case state.EventProductView:
		v.SKU = r.token(propSKU, true)
		v.Category = r.token(propCategory, false)
	case state.EventAddToCart:
		v.SKU = r.token(propSKU, true)
		v.Category = r.token(propCategory, false)
		v.Quantity = r.quantity(propQuantity)
		v.Price = r.money(propPrice, false)
	case state.EventRemoveFromCart:
		v.SKU = r.token(propSKU, true)
		v.Category = r.token(propCategory, false)
		v.Quantity = r.quantity(propQuantity)
	case state.EventSearch:
		v.Query = r.text(propQuery, true)
	case state.EventFormSubmit:
		v.Form = r.token(propForm, true)
		v.Content = r.text(propContent, false)
	case state.EventSignup:
		v.List = r.token(propList, true)
		r.traits("list")
	case state.EventIdentify:
		r.traits("")
		if r.err == nil && len(d.outTraits) == 0 && v.Phone.len() == 0 && v.identifiers() < 2 {
			return fail(ReasonMissingField, "properties.traits",
				"identify needs two identifiers (contact_id, email, anonymous_id) to link, or traits to set")
		}
	case state.EventOrderPlaced:
		v.OrderID = r.token(propOrderID, true)
		r.items()
		v.Total = r.money(propTotal, true)
		v.Currency = r.currency(propCurrency)
	case state.EventOrderCancelled, state.EventOrderShipped:
		v.OrderID = r.token(propOrderID, true)
	case state.EventOrderRefunded:
		v.OrderID = r.token(propOrderID, true)
		v.Amount = -1
		if r.has(propAmount) {
			v.Amount = r.money(propAmount, true)
		}
	case state.EventEmailSent:
		v.Campaign = r.token(propCampaign, false)
		v.List = r.token(propList, false)
	case state.EventEmailDelivered, state.EventEmailOpened, state.EventEmailComplained:
		v.Campaign = r.token(propCampaign, false)
	case state.EventEmailClicked:
		v.Campaign = r.token(propCampaign, false)
		v.URL = r.text(propURL, false)
	case state.EventEmailBounced:
		v.Campaign = r.token(propCampaign, false)
		v.Bounce = r.bounce()
	case state.EventEmailUnsubscribed:
		v.Campaign = r.token(propCampaign, false)
		if v.List = r.token(propList, false); d.text(v.List) == "all" {
			v.List = span{}
		}
	case state.EventActionClick, state.EventActionDismiss:
		v.DecisionID = r.decisionID(propDecisionID)
		v.Action = r.token(propActionID, true)
	}
	return r.err
}

// fields reads the fields of one JSON object (properties, an order item,
// the context) from its slots. The first error sticks: later reads return
// zero values, and err is checked once at the end, which keeps the
// per-type code flat.
type fields struct {
	d     *Decoder
	seen  uint32
	vals  []value  // the slots; nil: no object, every field is absent
	names []string // the keys of the slots
	t     state.EventType
	path  string // "properties", "properties.items", "context"
	// index is the array index of the object under path, or -1.
	index int
	err   error
}

// get returns the value of a slot, nil when it is absent or null.
func (r *fields) get(slot int) *value {
	return get(r.seen, r.vals, slot)
}

// field returns the JSON path of a slot, only built on the error path.
func (r *fields) field(slot int) string {
	if r.index < 0 {
		return r.path + "." + r.names[slot]
	}
	return r.path + "[" + strconv.Itoa(r.index) + "]." + r.names[slot]
}

func (r *fields) fail(reason Reason, slot int, detail string) {
	if r.err == nil {
		r.err = fail(reason, r.field(slot), detail)
	}
}

func (r *fields) required(slot int) {
	detail := "required"
	if r.t != state.EventUnknown {
		detail = "required for " + r.t.String()
	}
	r.fail(ReasonMissingField, slot, detail)
}

func (r *fields) has(slot int) bool {
	return r.err == nil && r.get(slot) != nil
}

// text reads a string of at most MaxStringLen bytes. Empty counts as
// absent.
func (r *fields) text(slot int, required bool) span {
	if r.err != nil {
		return span{}
	}
	v := r.get(slot)
	if v == nil {
		if required {
			r.required(slot)
		}
		return span{}
	}
	if v.kind != kindString {
		r.fail(ReasonInvalidField, slot, "must be a string")
		return span{}
	}
	switch n := v.text.len(); {
	case n == 0 && required:
		r.required(slot)
		return span{}
	case n > MaxStringLen:
		r.fail(ReasonInvalidField, slot, "longer than "+strconv.Itoa(MaxStringLen)+" bytes")
		return span{}
	}
	return v.text
}

// token reads a text that names something (sku, order id, list, campaign,
// time zone): it ends up in keys and labels, so control characters are
// refused.
func (r *fields) token(slot int, required bool) span {
	s := r.text(slot, required)
	if s.len() > 0 && r.d.controlIn(s) {
		r.fail(ReasonInvalidField, slot, "contains a control character")
		return span{}
	}
	return s
}

// decisionID reads a required next-best-action decision id: the 32
// hexadecimal digits the API answered with.
func (r *fields) decisionID(slot int) span {
	s := r.token(slot, true)
	if r.err != nil {
		return span{}
	}
	t := r.d.text(s)
	ok := len(t) == 32
	for i := 0; ok && i < len(t); i++ {
		c := t[i]
		ok = '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
	}
	if !ok {
		r.fail(ReasonInvalidField, slot, "must be the 32 hexadecimal digits of the decision_id the API answered")
		return span{}
	}
	return s
}

// money reads a non-negative amount in minor units from the number's text.
func (r *fields) money(slot int, required bool) int64 {
	if r.err != nil {
		return 0
	}
	v := r.get(slot)
	if v == nil {
		if required {
			r.required(slot)
		}
		return 0
	}
	if v.kind != kindNumber {
		r.fail(ReasonInvalidField, slot, "must be a JSON number such as 19.99")
		return 0
	}
	n, problem := parseMoney(r.d.text(v.text))
	if problem != "" {
		r.fail(ReasonInvalidField, slot, problem)
	}
	return n
}

// quantity reads an optional whole number in 1..MaxQuantity, default 1.
func (r *fields) quantity(slot int) int32 {
	if r.err != nil {
		return 0
	}
	v := r.get(slot)
	if v == nil {
		return 1
	}
	if v.kind != kindNumber {
		r.fail(ReasonInvalidField, slot, "must be a JSON number")
		return 0
	}
	q, problem := parseQuantity(r.d.text(v.text))
	if problem != "" {
		r.fail(ReasonInvalidField, slot, problem)
	}
	return q
}

// currency reads an optional ISO 4217 code, default EUR.
func (r *fields) currency(slot int) span {
	sp := r.token(slot, false)
	if r.err != nil {
		return span{}
	}
	if sp.len() == 0 {
		return textEUR
	}
	if s := r.d.text(sp); len(s) != 3 || !isUpper(s[0]) || !isUpper(s[1]) || !isUpper(s[2]) {
		r.fail(ReasonInvalidField, slot, "must be an ISO 4217 code of three upper-case letters such as EUR")
		return span{}
	}
	return sp
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

func (r *fields) bounce() Bounce {
	kind := r.d.text(r.token(propType, false))
	alt := r.d.text(r.token(propBounceType, false))
	if r.err != nil {
		return 0
	}
	switch {
	case kind == "":
		kind = alt
	case alt != "" && alt != kind:
		r.fail(ReasonInvalidField, propBounceType, "disagrees with properties.type")
		return 0
	}
	switch kind {
	case "hard":
		return BounceHard
	case "soft":
		return BounceSoft
	case "":
		r.fail(ReasonMissingField, propType, `required for bounced: "hard" or "soft" (bounce_type is accepted too)`)
	default:
		r.fail(ReasonInvalidField, propType, `must be "hard" or "soft"`)
	}
	return 0
}

// items reads the lines of an order, which the scan read into d.items.
func (r *fields) items() {
	if r.err != nil {
		return
	}
	v := r.get(propItems)
	if v == nil {
		r.required(propItems)
		return
	}
	if v.kind != kindArray {
		r.fail(ReasonInvalidField, propItems, "must be an array")
		return
	}
	switch {
	case v.n == 0:
		r.fail(ReasonInvalidField, propItems, "must hold at least one item")
		return
	case v.n > MaxItems:
		r.fail(ReasonInvalidField, propItems, "holds "+strconv.Itoa(int(v.n))+" items, at most "+strconv.Itoa(MaxItems)+" are accepted")
		return
	}
	d := r.d
	for i := range d.items[:v.n] {
		it := &d.items[i]
		if !it.obj {
			r.err = fail(ReasonInvalidField, "properties.items["+strconv.Itoa(i)+"]", "must be an object")
			return
		}
		if d.faulty {
			if err := d.checkObject(d.members(int(it.lo)), "properties.items", i, ""); err != nil {
				r.err = err
				return
			}
		}
		f := fields{d: d, seen: it.seen, vals: it.vals[:], names: itemNames[:], t: r.t, path: "properties.items", index: i}
		line := draftItem{
			SKU:      f.token(itemSKU, true),
			Category: f.token(itemCategory, false),
			Quantity: f.quantity(itemQuantity),
			Price:    f.money(itemPrice, true),
		}
		if f.err != nil {
			r.err = f.err
			return
		}
		d.lines = append(d.lines, line)
	}
}

// traits fills e.Traits from properties.traits when present, else from the
// top-level scalar properties other than skip (the type's own field).
// "phone" goes to e.Phone instead. Null values are ignored: an event never
// unsets a trait.
func (r *fields) traits(skip string) {
	if r.err != nil || r.vals == nil {
		return
	}
	d := r.d
	src, path, nested := d.propList, "properties", false
	if v := r.get(propTraits); v != nil {
		if v.kind != kindObject {
			r.fail(ReasonInvalidField, propTraits, "must be an object of strings, numbers and booleans")
			return
		}
		path, nested = "properties.traits", true
		src = d.traitList
		if d.faulty {
			if err := d.checkObject(d.members(int(v.lo)), path, -1, ""); err != nil {
				r.err = err
				return
			}
		}
		// properties.phone wins over traits.phone.
		if v := r.get(propPhone); v != nil {
			r.phone(v, "properties")
		}
	}
	for i := range src {
		if r.err != nil {
			return
		}
		m := &src[i]
		name := d.text(m.key)
		if !nested && (name == skip || name == "traits") {
			continue
		}
		if name == "phone" {
			r.phone(&m.value, path)
			continue
		}
		text := m.text
		switch m.kind {
		case kindString, kindNumber:
		case kindTrue:
			text = textTrue
		case kindFalse:
			text = textFalse
		case kindNull:
			continue
		default:
			if nested {
				r.err = fail(ReasonInvalidField, path+"."+clip(name), "a trait must be a string, number or boolean")
			}
			continue // objects among the properties are not traits
		}
		switch {
		case len(name) > MaxNameLen:
			r.err = fail(ReasonInvalidField, path+"."+clip(name), "trait name longer than "+strconv.Itoa(MaxNameLen)+" bytes")
			return
		case text.len() > state.MaxTraitLen:
			r.err = fail(ReasonInvalidField, path+"."+name, "trait value longer than "+strconv.Itoa(state.MaxTraitLen)+" bytes")
			return
		case len(d.outTraits) == state.MaxTraits:
			r.err = fail(ReasonInvalidField, path, "more than "+strconv.Itoa(state.MaxTraits)+" traits")
			return
		}
		d.outTraits = append(d.outTraits, pair{Name: m.key, Value: text})
	}
}

// phone reads traits.phone, or phone among the top-level properties, unless
// properties.phone already set the phone.
func (r *fields) phone(v *value, path string) {
	ev := &r.d.ev
	if ev.Phone.len() > 0 || v.kind == kindNull {
		return
	}
	switch {
	case v.kind != kindString:
		r.err = fail(ReasonInvalidField, path+".phone", "must be a string")
	case v.text.len() > state.MaxTraitLen:
		r.err = fail(ReasonInvalidField, path+".phone", "longer than "+strconv.Itoa(state.MaxTraitLen)+" bytes")
	case r.d.controlIn(v.text):
		r.err = fail(ReasonInvalidField, path+".phone", "contains a control character")
	default:
		ev.Phone = v.text
	}
}
