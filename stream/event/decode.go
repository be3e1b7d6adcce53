package event

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/kairos-engine/kairos/state"
)

// Reason is the stable code of why a record was dead-lettered. It is the
// value of the kairos.reason header and the reason label of the dead-letter
// metrics, so existing values never change; new ones are appended.
type Reason string

// The dead-letter reasons.
const (
	// ReasonInvalidJSON: not a single JSON object in UTF-8, or an object
	// the decoder reads has a duplicated key.
	ReasonInvalidJSON Reason = "invalid_json"
	// ReasonTooLarge: the record exceeds Config.MaxSize; it was not parsed.
	ReasonTooLarge Reason = "too_large"
	// ReasonUnknownType: "type" names no known event type.
	ReasonUnknownType Reason = "unknown_type"
	// ReasonWrongTopic: the type belongs to another stream than the topic
	// the record came from (an order event on kairos.clickstream).
	ReasonWrongTopic Reason = "wrong_topic"
	// ReasonMissingField: a required field is absent, null or empty.
	ReasonMissingField Reason = "missing_field"
	// ReasonInvalidField: a field has the wrong JSON type, is out of range
	// or too long, or is not in the expected format.
	ReasonInvalidField Reason = "invalid_field"
	// ReasonBadTimestamp: "timestamp" is not RFC 3339, or is absurd
	// (before Config.MinTime or more than Config.MaxFuture ahead).
	ReasonBadTimestamp Reason = "bad_timestamp"
)

// Reasons returns every Reason, so that metrics can pre-register one series
// per reason and a dashboard shows zeros rather than gaps.
func Reasons() []Reason {
	return []Reason{
		ReasonInvalidJSON,
		ReasonTooLarge,
		ReasonUnknownType,
		ReasonWrongTopic,
		ReasonMissingField,
		ReasonInvalidField,
		ReasonBadTimestamp,
	}
}

// Error is why Decode rejected a record. Every error Decode returns is an
// *Error; use errors.As to reach its Reason for the dead-letter header.
type Error struct {
	Reason Reason
	// Field is the JSON path of the offending field ("properties.order_id",
	// "properties.items[2].price"), empty when the record as a whole is
	// at fault.
	Field string
	// Detail says what is wrong in words a producer team can act on.
	Detail string
}

// Error renders "reason: field: detail", leaving out empty parts.
func (e *Error) Error() string {
	var b strings.Builder
	b.Grow(len(e.Reason) + len(e.Field) + len(e.Detail) + 4)
	b.WriteString(string(e.Reason))
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

func fail(r Reason, field, detail string) error {
	return &Error{Reason: r, Field: field, Detail: detail}
}

// Bounds of the event contract. They keep one producer's mistake from
// bloating a contact record or a metric, and keep money exact in float64.
const (
	// DefaultMaxSize is the default Config.MaxSize: 64 KiB, far above any
	// real event (a large order is a few KiB).
	DefaultMaxSize = 64 << 10
	// DefaultMaxFuture is the default Config.MaxFuture.
	DefaultMaxFuture = 24 * time.Hour
	// MaxIDLen bounds the event id and the identifiers, in bytes.
	MaxIDLen = 256
	// MaxStringLen bounds every string property value, in bytes.
	MaxStringLen = 2048
	// MaxNameLen bounds property and trait names, in bytes.
	MaxNameLen = 256
	// MaxItems bounds the items of an order.
	MaxItems = 100
	// MaxProps bounds Event.Props: the first MaxProps scalar properties
	// are kept, later ones only reach the fixed fields.
	MaxProps = 64
	// MaxQuantity bounds a quantity.
	MaxQuantity = 1_000_000
	// MaxMoney bounds an amount in minor units: 10^15 stays exact in a
	// float64, which the models use.
	MaxMoney = 1_000_000_000_000_000
	// maxBadLocations bounds the invalid names the time zone cache keeps,
	// so that a producer sending random names cannot grow it without
	// limit.
	maxBadLocations = 1024
)

// Config configures a Decoder. The zero value is usable: every zero field
// takes its documented default.
type Config struct {
	// MaxSize is the largest record accepted, in bytes. A larger record is
	// dead-lettered as too_large without being parsed. Default
	// DefaultMaxSize (64 KiB).
	MaxSize int
	// MinTime is the earliest event time accepted. Earlier timestamps are
	// producer bugs (zero dates, seconds read as milliseconds), not
	// history. Default 1990-01-01T00:00:00Z.
	MinTime time.Time
	// MaxFuture is how far an event time may lie ahead of Now: room for
	// clock skew and a wrongly applied time zone, not for a timestamp in
	// microseconds. Default DefaultMaxFuture (24h).
	MaxFuture time.Duration
	// Now returns the current time. Default time.Now; tests pin it.
	Now func() time.Time
}

// Validate reports settings that cannot be meant. Zero values are not
// errors: they take the defaults.
func (c Config) Validate() error {
	var errs []error
	if c.MaxSize < 0 {
		errs = append(errs, errors.New("event: MaxSize must not be negative (0 means the 64 KiB default)"))
	}
	if c.MaxFuture < 0 {
		errs = append(errs, errors.New("event: MaxFuture must not be negative (0 means the 24h default)"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.MaxSize <= 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.MinTime.IsZero() {
		c.MinTime = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.MaxFuture <= 0 {
		c.MaxFuture = DefaultMaxFuture
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Decoder decodes and validates the JSON events of the input topics.
//
// A Decoder is not safe for concurrent use: each partition worker owns one.
// It reuses its parser and scratch buffers between records, so the steady
// state allocates one buffer per event (the text of its strings).
type Decoder struct {
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

// NewDecoder returns a Decoder with cfg's zero fields set to their defaults.
// Callers should check cfg.Validate first; negative values are treated as
// unset.
func NewDecoder(cfg Config) *Decoder {
	cfg = cfg.withDefaults()
	return &Decoder{
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
func (d *Decoder) Decode(data []byte, stream state.Stream, e *Event) error {
	e.reset()
	d.num = d.num[:0]
	if err := d.decode(data, stream, e); err != nil {
		e.reset()
		return err
	}
	e.own()
	return nil
}

func (d *Decoder) decode(data []byte, stream state.Stream, e *Event) error {
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
	var env envelope
	if err := d.envelope(obj, &env); err != nil {
		return err
	}

	if err := d.eventType(env[envType], stream, e); err != nil {
		return err
	}
	if e.ID, err = identifier(env[envID], "id", true); err != nil {
		return err
	}
	if e.ContactID, err = identifier(env[envContactID], "contact_id", false); err != nil {
		return err
	}
	if e.Email, err = email(env[envEmail]); err != nil {
		return err
	}
	if e.AnonymousID, err = identifier(env[envAnonymousID], "anonymous_id", false); err != nil {
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

// The envelope fields, indexing envelope.
const (
	envType = iota
	envID
	envContactID
	envEmail
	envAnonymousID
	envTimestamp
	envContext
	envProperties
	envFields
)

// envelope holds the top-level values of a record; nil is absent or null.
type envelope [envFields]*fastjson.Value

// envelope reads the top level in one visit, which costs less than a
// lookup per field, and checks it like checkObject. A repeated envelope
// field is caught by its slot being taken already, so only unknown keys go
// on the duplicate-key stack. The context and properties objects are
// checked by their own readers.
func (d *Decoder) envelope(o *fastjson.Object, env *envelope) error {
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

func (d *Decoder) eventType(v *fastjson.Value, stream state.Stream, e *Event) error {
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

func streamName(s state.Stream) string {
	switch s {
	case state.StreamClickstream:
		return "kairos.clickstream"
	case state.StreamOrders:
		return "kairos.orders"
	case state.StreamEmail:
		return "kairos.email"
	}
	return "stream " + strconv.Itoa(int(s))
}

// identifier reads the event id or a contact identifier: a string of at
// most MaxIDLen bytes without control characters. Empty counts as absent.
func identifier(v *fastjson.Value, field string, required bool) (string, error) {
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
func email(v *fastjson.Value) (string, error) {
	s, err := identifier(v, "email", false)
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

func (d *Decoder) timestamp(v *fastjson.Value) (int64, error) {
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

func (d *Decoder) context(v *fastjson.Value, c *Context) error {
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
	r := fields{d: d, o: o, path: "context", index: -1}
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
	uv := get(o, "utm")
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
	u := fields{d: d, o: uo, path: "context.utm", index: -1}
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
func (d *Decoder) location(name string) *time.Location {
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

// reset clears e and keeps the capacity of its slices.
func (e *Event) reset() {
	*e = Event{Items: e.Items[:0], Traits: e.Traits[:0], Props: e.Props[:0]}
}

// own copies every string of e into one new allocation, so that e no
// longer aliases the decoder's buffers. Every string field of Event,
// Context, Item, state.Trait and Prop must be listed here;
// TestOwnCoversEveryString checks that with reflection.
func (e *Event) own() {
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
