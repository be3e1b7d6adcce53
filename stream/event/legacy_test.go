package event

// The decoder as it was before the hand-written scanner replaced the
// fastjson tree, kept as the reference that FuzzLegacyAgreement holds the
// new one to: the same Reason and Field for every record, and the same
// Event for every record both accept. Delete it, and that fuzz target,
// when the event contract changes on purpose.

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/kairos-engine/kairos/state"
)

// legacyDecoder decodes and validates the JSON events of the input topics.
//
// A legacyDecoder is not safe for concurrent use: each partition worker owns one.
// It reuses its parser and scratch buffers between records, so the steady
// state allocates one buffer per event (the text of its strings).
type legacyDecoder struct {
	cfg   Config
	minMS int64
	p     fastjson.Parser
	// keys is scratch for the duplicate-key check: a stack of the keys of
	// the objects being walked.
	keys []string
	// scratch holds the text of one number for checkTree.
	scratch []byte
	// numbers is set when the numbers of the current record still need
	// checking against the JSON grammar.
	numbers bool
	// limit caches Now+MaxFuture in Unix ms. It is refreshed only when an
	// event is later than it: the true limit only grows, and time.Now on
	// every record costs more than the rest of the timestamp check.
	limit int64
	// num holds the text of the numbers of the current record. It is only
	// appended to during one Decode, so strings aliasing it stay valid
	// until Event.own copies them.
	num []byte
	// locs caches time.LoadLocation by name; nil marks a name that failed,
	// badLocs counts those.
	locs    map[string]*time.Location
	badLocs int
}

// newLegacyDecoder returns a legacyDecoder with cfg's zero fields set to their defaults.
// Callers should check cfg.Validate first; negative values are treated as
// unset.
func newLegacyDecoder(cfg Config) *legacyDecoder {
	cfg = cfg.withDefaults()
	return &legacyDecoder{
		cfg:   cfg,
		minMS: cfg.MinTime.UnixMilli(),
		locs:  make(map[string]*time.Location),
	}
}

// Decode decodes one record of the input stream into *e, which it resets
// first, and validates it against the event contract. stream is the stream
// of the topic the record came from; 0 accepts every type (the internal
// re-key topic carries all three streams).
//
// The returned error is always an *Error. On error *e is reset. Decode does
// not keep data. The strings of *e are ordinary Go strings that outlive the
// next Decode; they share one backing allocation per event, so a caller
// keeping one small string for long in memory may want strings.Clone. The
// slices of *e (Items, Traits, Props) are reused by the next Decode into
// the same Event and must be copied to be kept.
func (d *legacyDecoder) Decode(data []byte, stream state.Stream, e *Event) error {
	e.reset()
	d.num = d.num[:0]
	if err := d.decode(data, stream, e); err != nil {
		e.reset()
		return err
	}
	legacyOwn(e)
	return nil
}

func (d *legacyDecoder) decode(data []byte, stream state.Stream, e *Event) error {
	if len(data) > d.cfg.MaxSize {
		return fail(ReasonTooLarge, "", "record is "+strconv.Itoa(len(data))+
			" bytes, the limit is "+strconv.Itoa(d.cfg.MaxSize))
	}
	if !utf8.Valid(data) {
		return fail(ReasonInvalidJSON, "", "not valid UTF-8")
	}
	// fastjson's parser is lenient: it takes NaN, bad escapes and raw
	// control characters. Kairos is strict, so that every consumer of a
	// topic reads the same bytes the same way. The parser runs first
	// because it bounds the nesting depth and the validator does not.
	root, err := d.p.ParseBytes(data)
	if err != nil {
		return fail(ReasonInvalidJSON, "", err.Error())
	}
	// With escapes or raw control characters, rare in practice, the full
	// validator decides. Without them, the strings and structure the
	// parser accepted are valid JSON and only its number syntax is looser:
	// the readers check the numbers and the repeated keys of every object
	// as they visit it (see checkObject), instead of a second pass.
	d.numbers = !hasControlOrBackslash(data)
	if !d.numbers {
		if err := fastjson.ValidateBytes(data); err != nil {
			return fail(ReasonInvalidJSON, "", err.Error())
		}
	}
	if root.Type() != fastjson.TypeObject {
		return fail(ReasonInvalidJSON, "", "an event must be a JSON object")
	}
	obj, _ := root.Object()
	var env legacyEnvelope
	if err := d.envelope(obj, &env); err != nil {
		return err
	}

	if err := d.eventType(env[envType], stream, e); err != nil {
		return err
	}
	if e.ID, err = legacyIdentifier(env[envID], "id", true); err != nil {
		return err
	}
	if e.ContactID, err = legacyIdentifier(env[envContactID], "contact_id", false); err != nil {
		return err
	}
	if e.Email, err = legacyEmail(env[envEmail]); err != nil {
		return err
	}
	if e.AnonymousID, err = legacyIdentifier(env[envAnonymousID], "anonymous_id", false); err != nil {
		return err
	}
	if e.ContactID == "" && e.Email == "" && e.AnonymousID == "" {
		return fail(ReasonMissingField, "contact_id|email|anonymous_id",
			"at least one of contact_id, email or anonymous_id is required")
	}
	if e.Time, err = d.timestamp(env[envTimestamp]); err != nil {
		return err
	}
	if err := d.context(env[envContext], &e.Context); err != nil {
		return err
	}

	var po *fastjson.Object
	if v := env[envProperties]; v != nil {
		if v.Type() != fastjson.TypeObject {
			return fail(ReasonInvalidField, "properties", "must be an object")
		}
		po, _ = v.Object()
		if err := d.collectProps(po, e); err != nil {
			return err
		}
	}
	return d.properties(po, e)
}

// envelope holds the top-level values of a record; nil is absent or null.
type legacyEnvelope [envFields]*fastjson.Value

// envelope reads the top level in one visit, which costs less than a
// lookup per field, and checks it like checkObject. A repeated envelope
// field is caught by its slot being taken already, so only unknown keys go
// on the duplicate-key stack. The context and properties objects are
// checked by their own readers.
func (d *legacyDecoder) envelope(o *fastjson.Object, env *legacyEnvelope) error {
	base := len(d.keys)
	var f *treeFault
	var seen uint
	o.Visit(func(k []byte, v *fastjson.Value) {
		if f != nil {
			return
		}
		var i int
		switch string(k) {
		case "type":
			i = envType
		case "id":
			i = envID
		case "contact_id":
			i = envContactID
		case "email":
			i = envEmail
		case "anonymous_id":
			i = envAnonymousID
		case "timestamp":
			i = envTimestamp
		case "context":
			i = envContext
		case "properties":
			i = envProperties
		default:
			d.keys = append(d.keys, b2s(k))
			if f = d.checkTree(v); f != nil {
				f.path = clip(b2s(k)) + f.path
			}
			return
		}
		if seen&(1<<i) != 0 {
			f = &treeFault{path: string(k), detail: "duplicate key"}
			return
		}
		seen |= 1 << i
		if v.Type() != fastjson.TypeNull {
			env[i] = v
		}
	})
	return d.endObject(base, f, "", -1)
}

func (d *legacyDecoder) eventType(v *fastjson.Value, stream state.Stream, e *Event) error {
	if v == nil {
		return fail(ReasonMissingField, "type", "required")
	}
	b, err := v.StringBytes()
	if err != nil {
		return fail(ReasonInvalidField, "type", "must be a string")
	}
	if len(b) == 0 {
		return fail(ReasonMissingField, "type", "required")
	}
	t := state.ParseEventType(b)
	if t == state.EventUnknown {
		return fail(ReasonUnknownType, "type", quote(b2s(b))+" is not a known event type")
	}
	if stream != 0 && t.Stream() != stream {
		return fail(ReasonWrongTopic, "type", t.String()+" belongs to the "+streamName(t.Stream())+
			" topic, this record came from the "+streamName(stream)+" topic")
	}
	e.Type = t
	return nil
}

// identifier reads the event id or a contact identifier: a string of at
// most MaxIDLen bytes without control characters. Empty counts as absent.
func legacyIdentifier(v *fastjson.Value, field string, required bool) (string, error) {
	if v == nil {
		if required {
			return "", fail(ReasonMissingField, field, "required")
		}
		return "", nil
	}
	b, err := v.StringBytes()
	if err != nil {
		return "", fail(ReasonInvalidField, field, "must be a string")
	}
	s := b2s(b)
	switch {
	case s == "" && required:
		return "", fail(ReasonMissingField, field, "required, must not be empty")
	case len(s) > MaxIDLen:
		return "", fail(ReasonInvalidField, field, "longer than "+strconv.Itoa(MaxIDLen)+" bytes")
	case hasControl(s):
		return "", fail(ReasonInvalidField, field, "contains a control character")
	}
	return s, nil
}

// email reads and normalises the email identifier: one '@' between a
// non-empty local part and domain, no white space inside.
func legacyEmail(v *fastjson.Value) (string, error) {
	s, err := legacyIdentifier(v, "email", false)
	if err != nil || s == "" {
		return "", err
	}
	s = state.NormalizeEmail(s)
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return "", fail(ReasonInvalidField, "email", "must be an address with one '@' between a local part and a domain")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			return "", fail(ReasonInvalidField, "email", "must not contain white space")
		}
	}
	return s, nil
}

func (d *legacyDecoder) timestamp(v *fastjson.Value) (int64, error) {
	if v == nil {
		return 0, fail(ReasonMissingField, "timestamp", "required")
	}
	b, err := v.StringBytes()
	if err != nil {
		return 0, fail(ReasonBadTimestamp, "timestamp", "must be an RFC 3339 string such as 2026-11-24T06:00:00.123Z")
	}
	if len(b) == 0 {
		return 0, fail(ReasonMissingField, "timestamp", "required")
	}
	ms, ok := parseTime(b2s(b))
	if !ok {
		return 0, fail(ReasonBadTimestamp, "timestamp", quote(b2s(b))+" is not RFC 3339 (2026-11-24T06:00:00.123Z or 2026-11-24T07:00:00+01:00)")
	}
	if ms < d.minMS {
		return 0, fail(ReasonBadTimestamp, "timestamp", quote(b2s(b))+" is before "+d.cfg.MinTime.UTC().Format(time.RFC3339))
	}
	if ms > d.limit {
		d.limit = d.cfg.Now().Add(d.cfg.MaxFuture).UnixMilli()
		if ms > d.limit {
			return 0, fail(ReasonBadTimestamp, "timestamp", quote(b2s(b))+" is more than "+d.cfg.MaxFuture.String()+" in the future")
		}
	}
	return ms, nil
}

func (d *legacyDecoder) context(v *fastjson.Value, c *Context) error {
	if v == nil {
		return nil
	}
	if v.Type() != fastjson.TypeObject {
		return fail(ReasonInvalidField, "context", "must be an object")
	}
	o, _ := v.Object()
	if err := d.checkObject(o, "context", -1, "utm"); err != nil {
		return err
	}
	r := legacyFields{d: d, o: o, path: "context", index: -1}
	c.IP = r.text("ip", false)
	c.UserAgent = r.text("user_agent", false)
	c.URL = r.text("url", false)
	c.Referrer = r.text("referrer", false)
	if tz := r.token("timezone", false); tz != "" {
		loc := d.location(tz)
		if loc == nil {
			return fail(ReasonInvalidField, "context.timezone", quote(tz)+" is not an IANA time zone name such as Europe/Paris")
		}
		c.TimeZone, c.Location = tz, loc
	}
	if r.err != nil {
		return r.err
	}
	uv := legacyGet(o, "utm")
	if uv == nil {
		return nil
	}
	if uv.Type() != fastjson.TypeObject {
		return fail(ReasonInvalidField, "context.utm", "must be an object")
	}
	uo, _ := uv.Object()
	if err := d.checkObject(uo, "context.utm", -1, ""); err != nil {
		return err
	}
	u := legacyFields{d: d, o: uo, path: "context.utm", index: -1}
	c.UTMSource = u.text("source", false)
	c.UTMMedium = u.text("medium", false)
	c.UTMCampaign = u.text("campaign", false)
	c.UTMTerm = u.text("term", false)
	c.UTMContent = u.text("content", false)
	return u.err
}

// location resolves an IANA name through the cache. LoadLocation reads the
// zoneinfo database (a file or the embedded time/tzdata), far too slow for
// every event.
func (d *legacyDecoder) location(name string) *time.Location {
	if loc, ok := d.locs[name]; ok {
		return loc
	}
	// name aliases the parser's buffer, and a Location keeps its name.
	name = strings.Clone(name)
	var loc *time.Location
	// "Local" is the host's zone, not an IANA name: the same event must
	// mean the same on every instance.
	if name != "Local" {
		if l, err := time.LoadLocation(name); err == nil {
			loc = l
		}
	}
	// Valid names are bounded by the zoneinfo database; invalid ones are
	// whatever producers send, so only so many are remembered.
	if loc != nil || d.badLocs < maxBadLocations {
		d.locs[name] = loc
		if loc == nil {
			d.badLocs++
		}
	}
	return loc
}

// collectProps visits the properties once: it checks them like
// checkObject, except the items of an order and the traits, which have
// their own readers; fills e.Props with the scalar ones; and bounds every
// name and string value.
func (d *legacyDecoder) collectProps(o *fastjson.Object, e *Event) error {
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
func (d *legacyDecoder) properties(o *fastjson.Object, e *Event) error {
	r := legacyFields{d: d, o: o, t: e.Type, path: "properties", index: -1}
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
		if r.err == nil && len(e.Traits) == 0 && e.Phone == "" && legacyIdentifiers(e) < 2 {
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
	case state.EventActionClick, state.EventActionDismiss:
		e.DecisionID = r.token("decision_id", true)
		if r.err == nil {
			if _, err := hex.DecodeString(e.DecisionID); err != nil || len(e.DecisionID) != 32 {
				r.fail(ReasonInvalidField, "decision_id", "must be the 32 hexadecimal digits of the decision_id the API answered")
				e.DecisionID = ""
			}
		}
		e.Action = r.token("action_id", true)
	}
	return r.err
}

// fields reads the fields of one JSON object (properties, an order item,
// the context). The first error sticks: later reads return zero values,
// and err is checked once at the end, which keeps the per-type code flat.
type legacyFields struct {
	d    *legacyDecoder
	o    *fastjson.Object // nil: no object, every field is absent
	t    state.EventType
	path string // "properties", "properties.items", "context"
	// index is the array index of the object under path, or -1.
	index int
	err   error
}

// field returns the JSON path of name, only built on the error path.
func (r *legacyFields) field(name string) string {
	if r.index < 0 {
		return r.path + "." + name
	}
	return r.path + "[" + strconv.Itoa(r.index) + "]." + name
}

func (r *legacyFields) fail(reason Reason, name, detail string) {
	if r.err == nil {
		r.err = fail(reason, r.field(name), detail)
	}
}

func (r *legacyFields) required(name string) {
	detail := "required"
	if r.t != state.EventUnknown {
		detail = "required for " + r.t.String()
	}
	r.fail(ReasonMissingField, name, detail)
}

func (r *legacyFields) has(name string) bool {
	return r.err == nil && legacyGet(r.o, name) != nil
}

// text reads a string of at most MaxStringLen bytes. Empty counts as
// absent.
func (r *legacyFields) text(name string, required bool) string {
	if r.err != nil {
		return ""
	}
	v := legacyGet(r.o, name)
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
func (r *legacyFields) token(name string, required bool) string {
	s := r.text(name, required)
	if hasControl(s) {
		r.fail(ReasonInvalidField, name, "contains a control character")
		return ""
	}
	return s
}

// money reads a non-negative amount in minor units from the number's text.
func (r *legacyFields) money(name string, required bool) int64 {
	if r.err != nil {
		return 0
	}
	v := legacyGet(r.o, name)
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
func (r *legacyFields) quantity(name string) int32 {
	if r.err != nil {
		return 0
	}
	v := legacyGet(r.o, name)
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
func (r *legacyFields) currency(name string) string {
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

func (r *legacyFields) bounce() Bounce {
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
func (r *legacyFields) items(e *Event) {
	if r.err != nil {
		return
	}
	v := legacyGet(r.o, "items")
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
		f := legacyFields{d: r.d, o: io, t: r.t, path: "properties.items", index: i}
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
func (r *legacyFields) traits(e *Event, skip string) {
	if r.err != nil || r.o == nil {
		return
	}
	src, path, nested := r.o, "properties", false
	if v := legacyGet(r.o, "traits"); v != nil {
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
		if v := legacyGet(r.o, "phone"); v != nil {
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
func (r *legacyFields) phone(e *Event, v *fastjson.Value, path string) {
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

// get returns the value of name in o, nil when o is nil or the value is
// absent or null: null is how many serialisers write "not set".
func legacyGet(o *fastjson.Object, name string) *fastjson.Value {
	if o == nil {
		return nil
	}
	v := o.Get(name)
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil
	}
	return v
}

// numText returns the text of a number as written. The result aliases
// d.num, which only grows during one Decode, so it stays valid until
// Event.own copies it.
func (d *legacyDecoder) numText(v *fastjson.Value) string {
	off := len(d.num)
	d.num = v.MarshalTo(d.num)
	return b2s(d.num[off:])
}

// checkObject checks an object before a reader looks its fields up: no key
// may repeat, since parsers disagree on which value wins, so a filter
// upstream and Kairos could read different events from the same bytes;
// and the numbers must follow the JSON grammar (see legacyDecoder.numbers). The
// value of the key read, which has its own reader, is skipped; every
// other container is walked, so that what no reader looks at is checked
// too. path and index name o in an error (index -1 outside arrays).
func (d *legacyDecoder) checkObject(o *fastjson.Object, path string, index int, read string) error {
	base := len(d.keys)
	var f *treeFault
	o.Visit(func(k []byte, v *fastjson.Value) {
		d.keys = append(d.keys, b2s(k))
		if f != nil || string(k) == read {
			return
		}
		if f = d.checkTree(v); f != nil {
			f.path = clip(b2s(k)) + f.path
		}
	})
	return d.endObject(base, f, path, index)
}

// endObject completes a visit of an object whose keys are d.keys[base:]:
// it looks for a repeated key, pops the keys and turns a fault into an
// *Error.
func (d *legacyDecoder) endObject(base int, f *treeFault, path string, index int) error {
	keys := d.keys[base:]
	if f == nil {
		if dup := duplicate(keys); dup != "" {
			f = &treeFault{path: clip(dup), detail: "duplicate key"}
		}
	}
	clear(keys) // drop the aliases of the parser's buffer
	d.keys = d.keys[:base]
	if f == nil {
		return nil
	}
	field := f.path
	switch {
	case index >= 0:
		field = path + "[" + strconv.Itoa(index) + "]." + field
	case path != "":
		field = path + "." + field
	}
	return fail(ReasonInvalidJSON, field, f.detail)
}

// checkTree checks v and everything under it like checkObject. The keys of
// the objects being walked are stacked on d.keys.
func (d *legacyDecoder) checkTree(v *fastjson.Value) *treeFault {
	switch v.Type() {
	case fastjson.TypeNumber:
		if d.numbers {
			d.scratch = v.MarshalTo(d.scratch[:0])
			if !validNumber(d.scratch) {
				return &treeFault{detail: quote(string(d.scratch)) + " is not a JSON number (NaN, Inf, a leading zero or plus sign, a dangling '.' or exponent)"}
			}
		}
	case fastjson.TypeObject:
		o, _ := v.Object()
		base := len(d.keys)
		var f *treeFault
		o.Visit(func(k []byte, c *fastjson.Value) {
			d.keys = append(d.keys, b2s(k))
			if f != nil {
				return
			}
			if f = d.checkTree(c); f != nil {
				f.path = "." + clip(b2s(k)) + f.path
			}
		})
		keys := d.keys[base:]
		if f == nil {
			if dup := duplicate(keys); dup != "" {
				f = &treeFault{path: "." + clip(dup), detail: "duplicate key"}
			}
		}
		clear(keys)
		d.keys = d.keys[:base]
		return f
	case fastjson.TypeArray:
		a, _ := v.Array()
		for i, c := range a {
			if f := d.checkTree(c); f != nil {
				f.path = "[" + strconv.Itoa(i) + "]" + f.path
				return f
			}
		}
	}
	return nil
}

// legacyOwn copies every string of e into one new allocation, so that e no
// longer aliases the decoder's buffers. Every string field of Event,
// Context, Item, state.Trait and Prop must be listed here;
// TestOwnCoversEveryString checks that with reflection.
func legacyOwn(e *Event) {
	c := &e.Context
	fixed := [...]*string{
		&e.ID, &e.ContactID, &e.Email, &e.AnonymousID,
		&c.IP, &c.UserAgent, &c.URL, &c.Referrer, &c.TimeZone,
		&c.UTMSource, &c.UTMMedium, &c.UTMCampaign, &c.UTMTerm, &c.UTMContent,
		&e.Category, &e.SKU, &e.Query, &e.Form, &e.Content, &e.List,
		&e.Campaign, &e.OrderID, &e.Currency, &e.URL, &e.Phone,
	}
	n := 0
	for _, p := range fixed {
		n += len(*p)
	}
	for i := range e.Items {
		n += len(e.Items[i].SKU) + len(e.Items[i].Category)
	}
	for i := range e.Traits {
		n += len(e.Traits[i].Name) + len(e.Traits[i].Value)
	}
	for i := range e.Props {
		n += len(e.Props[i].Name) + len(e.Props[i].Value)
	}
	if n == 0 {
		return
	}
	// buf has its final capacity, so appending never moves the bytes
	// that earlier strings point to, and nothing writes to it afterwards.
	buf := make([]byte, 0, n)
	cp := func(s *string) {
		if len(*s) == 0 {
			return
		}
		off := len(buf)
		buf = append(buf, *s...)
		*s = unsafe.String(&buf[off], len(*s))
	}
	for _, p := range fixed {
		cp(p)
	}
	for i := range e.Items {
		cp(&e.Items[i].SKU)
		cp(&e.Items[i].Category)
	}
	for i := range e.Traits {
		cp(&e.Traits[i].Name)
		cp(&e.Traits[i].Value)
	}
	for i := range e.Props {
		cp(&e.Props[i].Name)
		cp(&e.Props[i].Value)
	}
}

// legacyIdentifiers counts the identifiers e carries.
func legacyIdentifiers(e *Event) int {
	n := 0
	for _, s := range [...]string{e.ContactID, e.Email, e.AnonymousID} {
		if s != "" {
			n++
		}
	}
	return n
}

// FuzzLegacyAgreement holds the decoder to the one it replaced: for every
// record, the same Reason and Field (the Detail words may differ), and for
// every record both accept, the same Event.
func FuzzLegacyAgreement(f *testing.F) {
	for _, c := range contractExamples {
		f.Add([]byte(c.JSON), uint8(0))
	}
	for _, s := range legacySeeds {
		f.Add([]byte(s), uint8(0))
	}
	cfg := Config{Now: func() time.Time { return testNow }}
	d, ld := NewDecoder(cfg), newLegacyDecoder(cfg)
	f.Fuzz(func(t *testing.T, data []byte, streamByte uint8) {
		stream := state.Stream(streamByte % 4)
		var got, want Event
		err := d.Decode(data, stream, &got)
		wantErr := ld.Decode(data, stream, &want)
		// The one intended difference: fastjson's validator misses a raw
		// control character in a string before an escape, so the old
		// decoder read such records; the new one refuses them.
		if !json.Valid(data) && fastjson.ValidateBytes(data) == nil && utf8.Valid(data) {
			var de *Error
			if !errors.As(err, &de) || de.Reason != ReasonInvalidJSON || de.Field != "" {
				t.Fatalf("%q: got %v, want invalid_json without a field", data, err)
			}
			return
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%q:\n got %v\nwant %v", data, err, wantErr)
		}
		if err != nil {
			var de, we *Error
			if !errors.As(err, &de) || !errors.As(wantErr, &we) {
				t.Fatalf("not *Error: %v, %v", err, wantErr)
			}
			if de.Reason != we.Reason || de.Field != we.Field {
				t.Fatalf("%q:\n got %v\nwant %v", data, err, wantErr)
			}
			return
		}
		gl, wl := got.Context.Location, want.Context.Location
		if (gl == nil) != (wl == nil) || gl != nil && gl.String() != wl.String() {
			t.Fatalf("%q: Location %v, want %v", data, gl, wl)
		}
		got.Context.Location, want.Context.Location = nil, nil
		if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
			t.Fatalf("%q:\n got %s\nwant %s", data, g, w)
		}
	})
}

// legacySeeds are records whose errors depend on the order of the checks.
var legacySeeds = []string{
	``, ` `, `{}`, `[]`, `null`, `nan`, `-`, `{"a":1} x`, `{"type":"page_view"`, `{"a":--}`, `{"a":-Inf}`, `{"a":+nan}`,
	`{"type":"purchase","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","context":{"ip":"a","ip":"b"}}`,
	`{"x":[01],"type":"page_view","type":"page_view"}`,
	`{"type":"page_view","type":"page_view","x":[01]}`,
	`{"a":1,"type":"page_view","a":2,"id":"e"}`,
	`{"t\u0079pe":"opened","id":"e","email":"a@b","timestamp":"2026-11-24T06:00:00Z","type":"sent"}`,
	`{"id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"sku":"s","x":01},"type":"product_view"}`,
	`{"id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"items":[{"a":1,"a":2}],"x":01},"type":"page_view"}`,
	`{"id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"items":[{"a":1,"a":2}],"x":01},"type":"order_placed"}`,
	`{"type":"order_placed","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"order_id":"o","total":1,"items":[{"sku":"a","price":1},{"sku":"b","price":01}]}}`,
	`{"type":"order_placed","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"total":1,"items":[{"sku":"a","price":01}]}}`,
	`{"type":"signup","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"traits":{"a":1,"a":2}}}`,
	`{"type":"signup","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"list":"l","":"x","traits":null}}`,
	`{"type":"identify","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"":"x","plan":"pro"}}`,
	`{"type":"identify","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"phone":"+1","traits":{"phone":5,"a":"b"}}}`,
	`{"type":"identify","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"phone":"","traits":{"phone":5}}}`,
	`{"type":"page_view","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"s":"` + strings.Repeat("x", MaxStringLen+1) + `","x":01}}`,
	`{"type":"page_view","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"s":"` + strings.Repeat("x", MaxStringLen+1) + `","x":1,"x":2}}`,
	`{"type":"page_view","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","context":{"utm":{"a":01},"x":[1,{"b":1,"b":2}]}}`,
	`{"type":"page_view","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","context":{"ip":1,"utm":{"a":01}}}`,
	`{"type":"page_view","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","context":{"timezone":"Europe/Paris","utm":{"source":"a","source":"b"}}}`,
	`{"type":"search","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"query":"\ud83d\ude00 \ud800\u0041 \udc00 \ud800x \u00e9\/\b\f\n\r\t\"\\"}}`,
	`{"type":"search","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"query":"q","n":1e}}`,
	`{"type":"search","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"query":"q"},"id":[01]}`,
	`{"type":"search","id":[01],"anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"query":"q"}}`,
	"{\"type\":\"search\",\"id\":\"e\",\"anonymous_id\":\"a\",\"timestamp\":\"2026-11-24T06:00:00Z\",\n\"properties\":{\"query\":\"q\",\"n\":1.}}",
	`{"a":{"b":{"c":{"d":[[[[{"e":1,"e":1}]]]]}}}}`,
	strings.Repeat(`[`, 299) + strings.Repeat(`]`, 299),
	"{\"type\":\"page_view\",\"id\":\"e\",\"anonymous_id\":\"a\",\"timestamp\":\"2026-11-24T06:00:00Z\",\"properties\":{\"note\":\"x\x01\\ty\"}}",
	`{"a":` + strings.Repeat(`[`, 298) + `1` + strings.Repeat(`]`, 298) + `}`,
	`{"a":` + strings.Repeat(`[`, 299) + `1` + strings.Repeat(`]`, 299) + `}`,
	`{"a":` + strings.Repeat(`[`, 299) + strings.Repeat(`]`, 299) + `}`,
}
