package event

import (
	"errors"
	"strconv"
	"strings"
	"time"

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
// It reuses its scratch buffers between records, so the steady state
// allocates one buffer per event (the text of its strings).
type Decoder struct {
	cfg   Config
	minMS int64
	// limit caches Now+MaxFuture in Unix ms. It is refreshed only when an
	// event is later than it: the true limit only grows, and time.Now on
	// every record costs more than the rest of the timestamp check.
	limit int64
	// locs caches time.LoadLocation by name; nil marks a name that failed,
	// badLocs counts those.
	locs    map[string]*time.Location
	badLocs int

	// The scratch of one Decode. data is the record, dropped when Decode
	// returns; the rest refers to it by offsets only.
	data []byte
	// env, ctx, utm and props hold the fields of the objects the decoder
	// reads, items the elements of properties.items; propList has every
	// member of properties in order, traitList every member of
	// properties.traits.
	env, ctx, utm, props slots
	items                []item
	propList, traitList  []member
	// nested holds the members of an object being checked.
	nested []member
	// keys is a stack of the keys of the objects being scanned that no
	// slot knows, for the repeated-key check.
	keys []string
	// buf holds the unescaped strings and the normalised email. It only
	// grows during one Decode.
	buf []byte
	// arena is what is left of the current chunk of the text arena, from
	// which own takes the room for an event's strings (see strings). One
	// allocation per chunk instead of one per event: the allocation was a
	// sixth of the decoder's time.
	arena []byte
	// ev, lines, outTraits, outProps and loc are the event being decoded
	// (see draft).
	ev                  draft
	lines               []draftItem
	outTraits, outProps []pair
	loc                 *time.Location
	// faulty is set when the record has a repeated key or a malformed
	// number somewhere: the decoder then checks every object it reads the
	// way it always has, to report the same error at the same place (see
	// check.go). badNumber is set for the malformed number.
	faulty, badNumber bool
	// faultAt and faultDetail describe the first structural fault.
	faultAt     int
	faultDetail string
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
// next Decode; they share chunks of a few KiB with the strings of other
// events (see Decoder.strings), so a caller keeping one small string for long
// in memory should strings.Clone it. The
// slices of *e (Items, Traits, Props) are reused by the next Decode into
// the same Event and must be copied to be kept.
func (d *Decoder) Decode(data []byte, stream state.Stream, e *Event) error {
	d.data, d.buf = data, d.buf[:0]
	d.ev = draft{}
	d.lines, d.outTraits, d.outProps = d.lines[:0], d.outTraits[:0], d.outProps[:0]
	if d.loc != nil {
		d.loc = nil
	}
	err := d.decode(data, stream)
	if err != nil {
		e.reset()
	} else {
		d.own(e)
	}
	d.data = nil
	if len(d.keys) > 0 { // left by a structural fault
		clear(d.keys)
		d.keys = d.keys[:0]
	}
	return err
}

func (d *Decoder) decode(data []byte, stream state.Stream) error {
	if len(data) > d.cfg.MaxSize {
		return fail(ReasonTooLarge, "", "record is "+strconv.Itoa(len(data))+
			" bytes, the limit is "+strconv.Itoa(d.cfg.MaxSize))
	}
	if err := d.scan(data); err != nil {
		return err
	}
	if d.faulty {
		if err := d.checkEnvelope(); err != nil {
			return err
		}
	}
	env, v := &d.env, &d.ev
	if err := d.eventType(env.get(envType), stream); err != nil {
		return err
	}
	var err error
	if v.ID, err = d.identifier(env.get(envID), "id", true); err != nil {
		return err
	}
	if v.ContactID, err = d.identifier(env.get(envContactID), "contact_id", false); err != nil {
		return err
	}
	if v.Email, err = d.email(env.get(envEmail)); err != nil {
		return err
	}
	if v.AnonymousID, err = d.identifier(env.get(envAnonymousID), "anonymous_id", false); err != nil {
		return err
	}
	if v.identifiers() == 0 {
		return fail(ReasonMissingField, "contact_id|email|anonymous_id",
			"at least one of contact_id, email or anonymous_id is required")
	}
	if v.Time, err = d.timestamp(env.get(envTimestamp)); err != nil {
		return err
	}
	if err := d.context(env.get(envContext)); err != nil {
		return err
	}

	r := fields{d: d, names: propNames[:], t: v.Type, path: "properties", index: -1}
	if p := env.get(envProperties); p != nil {
		if p.kind != kindObject {
			return fail(ReasonInvalidField, "properties", "must be an object")
		}
		r.seen, r.vals = d.props.seen, d.props.vals[:]
		if err := d.collectProps(); err != nil {
			return err
		}
	}
	return d.properties(&r)
}

// The envelope fields, the slots of Decoder.env.
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

// envField returns the slot of an envelope field, -1 for other keys.
func envField(key string) int {
	switch key {
	case "type":
		return envType
	case "id":
		return envID
	case "contact_id":
		return envContactID
	case "email":
		return envEmail
	case "anonymous_id":
		return envAnonymousID
	case "timestamp":
		return envTimestamp
	case "context":
		return envContext
	case "properties":
		return envProperties
	}
	return -1
}

// The context fields, the slots of Decoder.ctx, and of context.utm.
const (
	ctxIP = iota
	ctxUserAgent
	ctxURL
	ctxReferrer
	ctxTimeZone
	ctxUTM
	ctxFields
)

var ctxNames = [ctxFields]string{"ip", "user_agent", "url", "referrer", "timezone", "utm"}

func ctxField(key string) int {
	switch key {
	case "ip":
		return ctxIP
	case "user_agent":
		return ctxUserAgent
	case "url":
		return ctxURL
	case "referrer":
		return ctxReferrer
	case "timezone":
		return ctxTimeZone
	case "utm":
		return ctxUTM
	}
	return -1
}

const (
	utmSource = iota
	utmMedium
	utmCampaign
	utmTerm
	utmContent
	utmFields
)

var utmNames = [utmFields]string{"source", "medium", "campaign", "term", "content"}

func utmField(key string) int {
	switch key {
	case "source":
		return utmSource
	case "medium":
		return utmMedium
	case "campaign":
		return utmCampaign
	case "term":
		return utmTerm
	case "content":
		return utmContent
	}
	return -1
}

// scan reads the record in one pass: it validates all of it, fills the
// slots of the objects the decoder reads, and skips the rest. The only
// errors it returns are invalid_json without a Field; the faults that
// have a Field set d.faulty instead.
func (d *Decoder) scan(data []byte) error {
	d.faulty, d.badNumber = false, false
	i := ws(data, 0)
	switch {
	case i == len(data):
		i = d.fault(i, "no JSON value")
	case data[i] != '{':
		if i = d.skip(data, i, 1); i >= 0 {
			if i = ws(data, i); i < len(data) {
				i = d.fault(i, "data after the JSON value")
			}
		}
		if i >= 0 {
			return fail(ReasonInvalidJSON, "", "an event must be a JSON object")
		}
	default:
		if d.env.seen, i = d.object(data, i, 1, objEnvelope, d.env.vals[:], nil); i >= 0 {
			if i = ws(data, i); i < len(data) {
				i = d.fault(i, "data after the JSON object")
			}
		}
	}
	if i < 0 {
		return fail(ReasonInvalidJSON, "", d.faultDetail+" at byte "+strconv.Itoa(d.faultAt))
	}
	// The decoder has always refused these outright; without escapes and
	// control characters, the checks find them with their path.
	if d.badNumber && hasControlOrBackslash(data) {
		return fail(ReasonInvalidJSON, "", "a number is not in the JSON grammar (NaN, Inf, a leading zero or plus sign, a dangling '.' or exponent)")
	}
	return nil
}

// checkEnvelope finds the first repeated key or malformed number of the
// top level the way the decoder always has: in the order of the record, a
// repeated envelope field or a fault in the value of an unknown key, then
// a repeated unknown key. The values of the envelope fields are checked
// by their own readers.
func (d *Decoder) checkEnvelope() error {
	data := d.data
	i := ws(data, ws(data, 0)+1)
	base := len(d.keys)
	var f *treeFault
	var seen uint
	for data[i] != '}' {
		var k span
		k, i = d.str(data, i)
		i = d.colon(data, i)
		key := d.text(k)
		if n := envField(key); n >= 0 {
			if seen&(1<<n) != 0 {
				f = &treeFault{path: key, detail: "duplicate key"}
				break
			}
			seen |= 1 << n
			i = d.skip(data, i, 2)
		} else {
			d.keys = append(d.keys, key)
			if i, f = d.checkAt(data, i); f != nil {
				f.path = clip(key) + f.path
				break
			}
		}
		if i = ws(data, i); data[i] == ',' {
			i = ws(data, i+1)
		}
	}
	return d.endObject(base, f, "", -1)
}

func (d *Decoder) eventType(v *value, stream state.Stream) error {
	if v == nil {
		return fail(ReasonMissingField, "type", "required")
	}
	if v.kind != kindString {
		return fail(ReasonInvalidField, "type", "must be a string")
	}
	name := d.text(v.text)
	if name == "" {
		return fail(ReasonMissingField, "type", "required")
	}
	t := state.ParseEventType(s2b(name))
	if t == state.EventUnknown {
		return fail(ReasonUnknownType, "type", quote(name)+" is not a known event type")
	}
	if stream != 0 && t.Stream() != stream {
		return fail(ReasonWrongTopic, "type", t.String()+" belongs to the "+streamName(t.Stream())+
			" topic, this record came from the "+streamName(stream)+" topic")
	}
	d.ev.Type = t
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
func (d *Decoder) identifier(v *value, field string, required bool) (span, error) {
	if v == nil {
		if required {
			return span{}, fail(ReasonMissingField, field, "required")
		}
		return span{}, nil
	}
	if v.kind != kindString {
		return span{}, fail(ReasonInvalidField, field, "must be a string")
	}
	switch n := v.text.len(); {
	case n == 0 && required:
		return span{}, fail(ReasonMissingField, field, "required, must not be empty")
	case n > MaxIDLen:
		return span{}, fail(ReasonInvalidField, field, "longer than "+strconv.Itoa(MaxIDLen)+" bytes")
	case d.controlIn(v.text):
		return span{}, fail(ReasonInvalidField, field, "contains a control character")
	}
	return v.text, nil
}

// email reads and normalises the email identifier: one '@' between a
// non-empty local part and domain, no white space inside. A normalised
// address that differs from the record's goes into d.buf.
func (d *Decoder) email(v *value) (span, error) {
	sp, err := d.identifier(v, "email", false)
	if err != nil || sp.len() == 0 {
		return span{}, err
	}
	raw := d.text(sp)
	s := state.NormalizeEmail(raw)
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return span{}, fail(ReasonInvalidField, "email", "must be an address with one '@' between a local part and a domain")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			return span{}, fail(ReasonInvalidField, "email", "must not contain white space")
		}
	}
	if s == raw {
		return sp, nil
	}
	lo := len(d.buf)
	d.buf = append(d.buf, s...)
	return span{lo: int32(lo), hi: int32(len(d.buf)), buf: true}, nil
}

func (d *Decoder) timestamp(v *value) (int64, error) {
	if v == nil {
		return 0, fail(ReasonMissingField, "timestamp", "required")
	}
	if v.kind != kindString {
		return 0, fail(ReasonBadTimestamp, "timestamp", "must be an RFC 3339 string such as 2026-11-24T06:00:00.123Z")
	}
	s := d.text(v.text)
	if s == "" {
		return 0, fail(ReasonMissingField, "timestamp", "required")
	}
	ms, ok := parseTime(s)
	if !ok {
		return 0, fail(ReasonBadTimestamp, "timestamp", quote(s)+" is not RFC 3339 (2026-11-24T06:00:00.123Z or 2026-11-24T07:00:00+01:00)")
	}
	if ms < d.minMS {
		return 0, fail(ReasonBadTimestamp, "timestamp", quote(s)+" is before "+d.cfg.MinTime.UTC().Format(time.RFC3339))
	}
	if ms > d.limit {
		d.limit = d.cfg.Now().Add(d.cfg.MaxFuture).UnixMilli()
		if ms > d.limit {
			return 0, fail(ReasonBadTimestamp, "timestamp", quote(s)+" is more than "+d.cfg.MaxFuture.String()+" in the future")
		}
	}
	return ms, nil
}

// context reads the context object, checking it first in a faulty record.
func (d *Decoder) context(v *value) error {
	if v == nil {
		return nil
	}
	if v.kind != kindObject {
		return fail(ReasonInvalidField, "context", "must be an object")
	}
	if d.faulty {
		if err := d.checkObject(d.members(int(v.lo)), "context", -1, "utm"); err != nil {
			return err
		}
	}
	c := &d.ev.Context
	r := fields{d: d, seen: d.ctx.seen, vals: d.ctx.vals[:], names: ctxNames[:], path: "context", index: -1}
	c.IP = r.text(ctxIP, false)
	c.UserAgent = r.text(ctxUserAgent, false)
	c.URL = r.text(ctxURL, false)
	c.Referrer = r.text(ctxReferrer, false)
	if tz := r.token(ctxTimeZone, false); tz.len() > 0 {
		name := d.text(tz)
		loc := d.location(name)
		if loc == nil {
			return fail(ReasonInvalidField, "context.timezone", quote(name)+" is not an IANA time zone name such as Europe/Paris")
		}
		c.TimeZone, d.loc = tz, loc
	}
	if r.err != nil {
		return r.err
	}
	uv := d.ctx.get(ctxUTM)
	if uv == nil {
		return nil
	}
	if uv.kind != kindObject {
		return fail(ReasonInvalidField, "context.utm", "must be an object")
	}
	if d.faulty {
		if err := d.checkObject(d.members(int(uv.lo)), "context.utm", -1, ""); err != nil {
			return err
		}
	}
	u := fields{d: d, seen: d.utm.seen, vals: d.utm.vals[:], names: utmNames[:], path: "context.utm", index: -1}
	c.UTMSource = u.text(utmSource, false)
	c.UTMMedium = u.text(utmMedium, false)
	c.UTMCampaign = u.text(utmCampaign, false)
	c.UTMTerm = u.text(utmTerm, false)
	c.UTMContent = u.text(utmContent, false)
	return u.err
}

// location resolves an IANA name through the cache. LoadLocation reads the
// zoneinfo database (a file or the embedded time/tzdata), far too slow for
// every event.
func (d *Decoder) location(name string) *time.Location {
	if loc, ok := d.locs[name]; ok {
		return loc
	}
	// name aliases the record or the decoder's buffer, and a Location
	// keeps its name.
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
