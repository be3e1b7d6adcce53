package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Contact record format
//
// A stored contact is one byte of format version followed by sections and an
// end marker:
//
//	record  = version:byte { section } end
//	section = tag:uvarint length:uvarint payload:[length]byte
//	end     = 0x00 (tag 0)
//
// The version byte is the major version: a reader refuses a version it does
// not know (ErrUnknownVersion) because it cannot tell what the bytes mean.
// Within one major version the format grows without a version bump:
//
//   - a new section gets a new tag; older readers skip tags they do not know,
//     and a reader leaves the fields of a missing section at their zero
//     values, so records written before the section existed still decode;
//   - a new field is appended at the end of a section's payload; readers
//     ignore payload bytes after the fields they know, and a reader that
//     knows the field must treat a payload that ends before it as zero
//     (the fields a section had when it was introduced are required);
//   - a repeated group (counts per event type, channels) is written as a
//     count and the entries, so a newer writer's extra entries are read and
//     dropped by an older reader.
//
// Tags and the field order inside a section are therefore persistent: never
// renumber, reorder or remove; retire a section by no longer writing it. An
// empty section is not written at all. The end marker makes a record cut at
// a section boundary detectable: without it, truncation would silently drop
// whole sections.
//
// Integers are varints (signed ones zigzag, as encoding/binary writes them).
// Times are Unix milliseconds; in time-ordered lists (recent events, orders,
// purchase days) each one is written as the difference from the previous
// one, and related instants (LastSeen after FirstSeen, ...) as differences
// too, so a typical time costs one to four bytes instead of six. Scores are
// raw little-endian IEEE 754 bits so they round-trip exactly. The 168-bin
// hour-of-week histogram is mostly zeros and is written sparsely. Event-id
// hashes are uniformly distributed, so they are fixed 8-byte words: a varint
// would take 9 or 10 bytes for most of them.

// contactFormatVersion is the major version this build writes and the
// highest it reads.
const contactFormatVersion = 1

// Section tags. Persistent: see the format description above.
const (
	secEnd        = 0
	secIdentity   = 1
	secTraits     = 2
	secConsent    = 3
	secActivity   = 4
	secRecent     = 5
	secAffinities = 6
	secCart       = 7
	secOrders     = 8
	secPurchases  = 9
	secEngagement = 10
	secSeenIDs    = 11
	secScores     = 12 // added after the v1 golden file: records without it decode with zero scores
	secTriggers   = 13 // added later: the trigger engine's per-contact state, opaque here
	secDecisions  = 14 // added later: next-best-action impression history, opaque here
	numSections   = 15 // one past the highest known tag
)

var (
	// ErrUnknownVersion is returned by DecodeContact for a record written in a
	// newer major format than this build reads, typically during a rollback
	// after a newer release has already rewritten some contacts.
	ErrUnknownVersion = errors.New("state: contact record has an unknown format version")

	// ErrCorrupt is returned, wrapped with what was being decoded, when
	// stored bytes cannot be decoded: truncated, garbage or out of range.
	// DecodeContact names the section and field that failed.
	ErrCorrupt = errors.New("state: corrupt data")
)

// AppendEncoded appends the binary encoding of c to dst and returns the
// extended slice. It allocates only when dst has to grow, so a caller that
// reuses its buffer encodes without allocating.
//
// The variable parts are written up to their Max* bound (the newest entries
// of time-ordered lists, the first ones of the others) so that every record
// written can be read back: DecodeContact rejects lists longer than the
// bounds.
func (c *Contact) AppendEncoded(dst []byte) []byte {
	dst = append(dst, contactFormatVersion)
	for tag := 1; tag < numSections; tag++ {
		s := &recordSections[tag]
		if s.empty(c) {
			continue
		}
		dst = append(dst, byte(tag)) // tags < 128: a one-byte uvarint
		dst = append(dst, 0)         // length placeholder, see endSection
		start := len(dst)
		dst = s.encode(dst, c)
		dst = endSection(dst, start)
	}
	return append(dst, secEnd)
}

// endSection writes the payload length of the section whose payload starts
// at dst[start], in the one byte reserved before it.
func endSection(dst []byte, start int) []byte {
	return fillPlaceholder(dst, start-1, uint64(len(dst)-start))
}

// fillPlaceholder writes v as a uvarint at dst[at], a one-byte placeholder
// reserved before what follows was appended. When v needs more than one
// byte (128 or more), what follows is moved up to make room: one memmove,
// cheaper than a sizing pass over the contact.
func fillPlaceholder(dst []byte, at int, v uint64) []byte {
	if v < 0x80 {
		dst[at] = byte(v)
		return dst
	}
	var buf [binary.MaxVarintLen64]byte
	w := binary.PutUvarint(buf[:], v)
	end := len(dst)
	dst = append(dst, buf[:w-1]...) // grow by w-1; overwritten just below
	copy(dst[at+w:], dst[at+1:end])
	copy(dst[at:], buf[:w])
	return dst
}

// DecodeContact decodes a record written by AppendEncoded into c,
// overwriting every field. The slices already in c are reused when they are
// large enough, so decoding into the same Contact again and again allocates
// little; this also means a shallow copy of c taken before the call shares
// those arrays and sees them overwritten. Strings never point into data: the
// caller may reuse data (a Pebble value, a Kafka record) once this returns.
//
// A record with a newer major version returns an error wrapping
// ErrUnknownVersion; truncated or invalid bytes return an error wrapping
// ErrCorrupt. On error c holds a mix of old and new values and must not be
// used.
func DecodeContact(data []byte, c *Contact) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: contact record: empty", ErrCorrupt)
	}
	switch v := data[0]; {
	case v == 0:
		return fmt.Errorf("%w: contact record: version byte is 0", ErrCorrupt)
	case v > contactFormatVersion:
		return fmt.Errorf("%w %d: this build reads versions up to %d; run a Kairos release that knows version %d",
			ErrUnknownVersion, v, contactFormatVersion, v)
	}
	r := recordReader{b: data[1:]}
	var seen [numSections]bool
	for {
		tag := r.uvarint("section tag")
		if r.err != nil {
			return r.err
		}
		if tag == secEnd {
			break
		}
		n := r.uvarint("section length")
		if r.err == nil && n > uint64(len(r.b)) {
			r.fail("section "+strconv.FormatUint(tag, 10), "truncated: length "+strconv.FormatUint(n, 10)+
				" exceeds the "+strconv.Itoa(len(r.b))+" bytes left")
		}
		if r.err != nil {
			return r.err
		}
		payload := r.b[:n]
		r.b = r.b[n:]
		if tag >= numSections {
			continue // written by a newer release of this major version
		}
		s := &recordSections[tag]
		if seen[tag] {
			return fmt.Errorf("%w: contact record: %s section appears twice", ErrCorrupt, s.name)
		}
		seen[tag] = true
		sr := recordReader{b: payload, sec: s.name}
		decodeSection(tag, &sr, c)
		if sr.err != nil {
			return sr.err
		}
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: contact record: %d bytes after the end marker", ErrCorrupt, len(r.b))
	}
	for tag := 1; tag < numSections; tag++ {
		if !seen[tag] {
			recordSections[tag].reset(c)
		}
	}
	return nil
}

// recordSection describes how one group of fields is stored. Keeping a
// section's emptiness test, encoder and reset side by side (and its decoder
// next to its encoder) makes it hard to add a field to one and forget the
// others.
type recordSection struct {
	name string
	// empty reports whether every field of the section is zero, in which
	// case the section is not written.
	empty func(c *Contact) bool
	// encode appends the payload. Its decoder, which sets every field of
	// the section, is called from decodeSection.
	encode func(dst []byte, c *Contact) []byte
	// reset zeroes the fields of a section absent from the record, keeping
	// slice capacity.
	reset func(c *Contact)
}

// recordSections is indexed by tag; entry 0 (the end marker) is unused.
// It is a lookup table, never modified.
var recordSections = [numSections]recordSection{
	secTriggers: {
		name:   "triggers",
		empty:  func(c *Contact) bool { return len(c.Triggers) == 0 },
		encode: func(dst []byte, c *Contact) []byte { return appendOpaque(dst, c.Triggers) },
		reset:  func(c *Contact) { c.Triggers = nil },
	},
	secDecisions: {
		name:   "decisions",
		empty:  func(c *Contact) bool { return len(c.Decisions) == 0 },
		encode: func(dst []byte, c *Contact) []byte { return appendOpaque(dst, c.Decisions) },
		reset:  func(c *Contact) { c.Decisions = nil },
	},
	secScores: {
		name: "scores",
		empty: func(c *Contact) bool {
			s := &c.Scores
			return len(s.Lead) == 0 && s.Stage == 0 && s.StageAt == 0 && s.Segment == 0 && s.SegmentDay == 0 && len(s.Transitions) == 0
		},
		encode: encodeScores,
		reset: func(c *Contact) {
			c.Scores = Scores{Lead: c.Scores.Lead[:0], Transitions: c.Scores.Transitions[:0]}
		},
	},
	secIdentity: {
		name: "identity",
		empty: func(c *Contact) bool {
			return c.Key == "" && c.ContactID == "" && c.EmailAddr == "" && c.Phone == "" &&
				c.TimeZone == "" && c.Language == "" && len(c.Aliases) == 0
		},
		encode: encodeIdentity,
		reset: func(c *Contact) {
			c.Key, c.ContactID, c.EmailAddr, c.Phone, c.TimeZone, c.Language = "", "", "", "", "", ""
			c.Aliases = c.Aliases[:0]
		},
	},
	secTraits: {
		name:   "traits",
		empty:  func(c *Contact) bool { return len(c.Traits) == 0 },
		encode: encodeTraits,
		reset:  func(c *Contact) { c.Traits = c.Traits[:0] },
	},
	secConsent: {
		name: "consent",
		empty: func(c *Contact) bool {
			return c.Consent.Channels == [NumChannels]ChannelConsent{} && len(c.Consent.Lists) == 0
		},
		encode: encodeConsent,
		reset: func(c *Contact) {
			c.Consent.Channels = [NumChannels]ChannelConsent{}
			c.Consent.Lists = c.Consent.Lists[:0]
		},
	},
	secActivity: {
		name: "activity",
		empty: func(c *Contact) bool {
			return c.FirstSeen == 0 && c.LastSeen == 0 && c.Counts == [NumEventTypes]uint32{} && c.Sessions == Sessions{}
		},
		encode: encodeActivity,
		reset: func(c *Contact) {
			c.FirstSeen, c.LastSeen = 0, 0
			c.Counts = [NumEventTypes]uint32{}
			c.Sessions = Sessions{}
		},
	},
	secRecent: {
		name:   "recent events",
		empty:  func(c *Contact) bool { return len(c.Recent) == 0 },
		encode: encodeRecent,
		reset:  func(c *Contact) { c.Recent = c.Recent[:0] },
	},
	secAffinities: {
		name: "affinities",
		empty: func(c *Contact) bool {
			return len(c.Categories) == 0 && len(c.Products) == 0 && c.AffinityAt == 0
		},
		encode: encodeAffinities,
		reset: func(c *Contact) {
			c.Categories, c.Products, c.AffinityAt = c.Categories[:0], c.Products[:0], 0
		},
	},
	secCart: {
		name:   "cart",
		empty:  func(c *Contact) bool { return len(c.Cart.Items) == 0 && c.Cart.UpdatedAt == 0 },
		encode: encodeCart,
		reset:  func(c *Contact) { c.Cart.Items, c.Cart.UpdatedAt = c.Cart.Items[:0], 0 },
	},
	secOrders: {
		name: "orders",
		empty: func(c *Contact) bool {
			o := &c.Orders
			return o.Count == 0 && o.Placed == 0 && o.Cancelled == 0 && o.Revenue == 0 && o.Refunded == 0 &&
				o.Currency == "" && o.First == 0 && o.Last == 0 && len(o.Recent) == 0
		},
		encode: encodeOrders,
		reset: func(c *Contact) {
			c.Orders = Orders{Recent: c.Orders.Recent[:0]}
		},
	},
	secPurchases: {
		name:   "purchase days",
		empty:  func(c *Contact) bool { return len(c.Purchases) == 0 },
		encode: encodePurchases,
		reset:  func(c *Contact) { c.Purchases = c.Purchases[:0] },
	},
	secEngagement: {
		name:   "email engagement",
		empty:  func(c *Contact) bool { return engagementEmpty(&c.Engagement) },
		encode: encodeEngagement,
		reset:  func(c *Contact) { c.Engagement = EmailStats{} },
	},
	secSeenIDs: {
		name:   "seen ids",
		empty:  func(c *Contact) bool { return len(c.SeenIDs) == 0 },
		encode: encodeSeenIDs,
		reset:  func(c *Contact) { c.SeenIDs = c.SeenIDs[:0] },
	},
}

// engagementEmpty looks at the counters first: they are non-zero for any
// contact with email activity, which spares the scan of the histogram.
func engagementEmpty(e *EmailStats) bool {
	if e.Sent|e.Delivered|e.Opened|e.Clicked|e.Bounced != 0 ||
		e.LastSent|e.LastOpen|e.LastClick|e.HistAt != 0 {
		return false
	}
	for _, v := range e.HourOfWeek[:] {
		if math.Float32bits(v) != 0 {
			return false
		}
	}
	return true
}

// decodeSection calls the decoder of a known section. It is a switch rather
// than a field of recordSections because a call through a func value makes
// the reader escape to the heap: one allocation per section.
func decodeSection(tag uint64, r *recordReader, c *Contact) {
	switch tag {
	case secIdentity:
		decodeIdentity(r, c)
	case secTraits:
		decodeTraits(r, c)
	case secConsent:
		decodeConsent(r, c)
	case secActivity:
		decodeActivity(r, c)
	case secRecent:
		decodeRecent(r, c)
	case secAffinities:
		decodeAffinities(r, c)
	case secCart:
		decodeCart(r, c)
	case secOrders:
		decodeOrders(r, c)
	case secPurchases:
		decodePurchases(r, c)
	case secEngagement:
		decodeEngagement(r, c)
	case secSeenIDs:
		decodeSeenIDs(r, c)
	case secScores:
		decodeScores(r, c)
	case secTriggers:
		c.Triggers = decodeOpaque(r, c.Triggers, MaxTriggerState)
	case secDecisions:
		c.Decisions = decodeOpaque(r, c.Decisions, MaxDecisionState)
	}
}

// Bounds of repeated groups that have no Max* constant: their index is a
// one-byte type (EventType, Channel), so a newer writer cannot have more.
const (
	maxCountEntries   = 256
	maxChannelEntries = 256
)

// firstN returns the first n elements of s, or all of them if there are
// fewer: for lists ordered by importance (sorted names, highest scores).
func firstN[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// newestN returns the last n elements of s: for lists ordered oldest first.
func newestN[T any](s []T, n int) []T {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func appendLenString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBoolByte(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func encodeIdentity(dst []byte, c *Contact) []byte {
	dst = appendLenString(dst, string(c.Key))
	dst = appendLenString(dst, c.ContactID)
	dst = appendLenString(dst, c.EmailAddr)
	dst = appendLenString(dst, c.Phone)
	dst = appendLenString(dst, c.TimeZone)
	dst = appendLenString(dst, c.Language)
	aliases := firstN(c.Aliases, MaxAliases)
	dst = binary.AppendUvarint(dst, uint64(len(aliases)))
	for _, a := range aliases {
		dst = appendLenString(dst, string(a))
	}
	return dst
}

func decodeIdentity(r *recordReader, c *Contact) {
	c.Key = Key(r.str("key", string(c.Key)))
	c.ContactID = r.str("contact id", c.ContactID)
	c.EmailAddr = r.str("email", c.EmailAddr)
	c.Phone = r.str("phone", c.Phone)
	c.TimeZone = r.str("time zone", c.TimeZone)
	c.Language = r.str("language", c.Language)
	n := r.count("aliases", MaxAliases, 1)
	c.Aliases = reuseSlice(c.Aliases, n)
	for i := range c.Aliases {
		c.Aliases[i] = Key(r.str("alias", string(c.Aliases[i])))
	}
}

func encodeTraits(dst []byte, c *Contact) []byte {
	traits := firstN(c.Traits, MaxTraits)
	dst = binary.AppendUvarint(dst, uint64(len(traits)))
	for i := range traits {
		dst = appendLenString(dst, traits[i].Name)
		dst = appendLenString(dst, traits[i].Value)
	}
	return dst
}

func decodeTraits(r *recordReader, c *Contact) {
	n := r.count("traits", MaxTraits, 2)
	c.Traits = reuseSlice(c.Traits, n)
	for i := range c.Traits {
		t := &c.Traits[i]
		t.Name = r.str("trait name", t.Name)
		t.Value = r.str("trait value", t.Value)
	}
}

func encodeConsent(dst []byte, c *Contact) []byte {
	dst = binary.AppendUvarint(dst, uint64(NumChannels))
	for _, ch := range c.Consent.Channels {
		dst = append(dst, byte(ch.Status))
		dst = binary.AppendVarint(dst, ch.At)
	}
	lists := firstN(c.Consent.Lists, MaxLists)
	dst = binary.AppendUvarint(dst, uint64(len(lists)))
	for i := range lists {
		dst = appendLenString(dst, lists[i].List)
		dst = appendBoolByte(dst, lists[i].Subscribed)
		dst = binary.AppendVarint(dst, lists[i].At)
	}
	return dst
}

func decodeConsent(r *recordReader, c *Contact) {
	n := r.count("channels", maxChannelEntries, 2)
	c.Consent.Channels = [NumChannels]ChannelConsent{}
	for i := range n {
		st := ConsentStatus(r.u8("channel status"))
		at := r.varint("channel changed at")
		if i < int(NumChannels) { // a newer writer's extra channels are dropped
			c.Consent.Channels[i] = ChannelConsent{Status: st, At: at}
		}
	}
	n = r.count("lists", MaxLists, 3)
	c.Consent.Lists = reuseSlice(c.Consent.Lists, n)
	for i := range c.Consent.Lists {
		l := &c.Consent.Lists[i]
		l.List = r.str("list name", l.List)
		l.Subscribed = r.boolean("list subscribed")
		l.At = r.varint("list changed at")
	}
}

func encodeActivity(dst []byte, c *Contact) []byte {
	dst = binary.AppendVarint(dst, c.FirstSeen)
	dst = binary.AppendVarint(dst, c.LastSeen-c.FirstSeen)
	// Trailing zero counts are left out: most contacts never see the email
	// or order types at the end of the array.
	n := len(c.Counts)
	for n > 0 && c.Counts[n-1] == 0 {
		n--
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	for _, v := range c.Counts[:n] {
		dst = binary.AppendUvarint(dst, uint64(v))
	}
	dst = binary.AppendUvarint(dst, uint64(c.Sessions.Count))
	dst = binary.AppendVarint(dst, c.Sessions.Start-c.LastSeen)
	dst = binary.AppendVarint(dst, c.Sessions.Last-c.Sessions.Start)
	return dst
}

func decodeActivity(r *recordReader, c *Contact) {
	c.FirstSeen = r.varint("first seen")
	c.LastSeen = c.FirstSeen + r.varint("last seen")
	n := r.count("counts", maxCountEntries, 1)
	c.Counts = [NumEventTypes]uint32{}
	for i := range n {
		v := r.u32("count")
		if i < int(NumEventTypes) { // a newer writer's extra event types are dropped
			c.Counts[i] = v
		}
	}
	c.Sessions.Count = r.u32("session count")
	c.Sessions.Start = c.LastSeen + r.varint("session start")
	c.Sessions.Last = c.Sessions.Start + r.varint("session last")
}

func encodeRecent(dst []byte, c *Contact) []byte {
	recent := newestN(c.Recent, RecentEventsCap)
	dst = binary.AppendUvarint(dst, uint64(len(recent)))
	var prev int64
	for i := range recent {
		e := &recent[i]
		dst = append(dst, byte(e.Type))
		dst = binary.AppendVarint(dst, e.At-prev)
		prev = e.At
		dst = appendLenString(dst, e.Ref)
	}
	return dst
}

func decodeRecent(r *recordReader, c *Contact) {
	n := r.count("recent events", RecentEventsCap, 3)
	c.Recent = reuseSlice(c.Recent, n)
	var prev int64
	for i := range c.Recent {
		e := &c.Recent[i]
		e.Type = EventType(r.u8("event type"))
		e.At = prev + r.varint("event time")
		prev = e.At
		e.Ref = r.str("event ref", e.Ref)
	}
}

func appendAffinities(dst []byte, as []Affinity) []byte {
	as = firstN(as, MaxAffinities)
	dst = binary.AppendUvarint(dst, uint64(len(as)))
	for i := range as {
		dst = appendLenString(dst, as[i].Name)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(as[i].Score))
	}
	return dst
}

func readAffinities(r *recordReader, what string, as []Affinity) []Affinity {
	n := r.count(what, MaxAffinities, 9)
	as = reuseSlice(as, n)
	for i := range as {
		as[i].Name = r.str("affinity name", as[i].Name)
		as[i].Score = math.Float64frombits(r.fixed64("affinity score"))
	}
	return as
}

func encodeAffinities(dst []byte, c *Contact) []byte {
	dst = binary.AppendVarint(dst, c.AffinityAt)
	dst = appendAffinities(dst, c.Categories)
	return appendAffinities(dst, c.Products)
}

func decodeAffinities(r *recordReader, c *Contact) {
	c.AffinityAt = r.varint("affinity time")
	c.Categories = readAffinities(r, "category affinities", c.Categories)
	c.Products = readAffinities(r, "product affinities", c.Products)
}

func encodeCart(dst []byte, c *Contact) []byte {
	dst = binary.AppendVarint(dst, c.Cart.UpdatedAt)
	items := firstN(c.Cart.Items, MaxCartItems)
	dst = binary.AppendUvarint(dst, uint64(len(items)))
	for i := range items {
		it := &items[i]
		dst = appendLenString(dst, it.SKU)
		dst = appendLenString(dst, it.Category)
		dst = binary.AppendVarint(dst, int64(it.Quantity))
		dst = binary.AppendVarint(dst, it.Price)
	}
	return dst
}

func decodeCart(r *recordReader, c *Contact) {
	c.Cart.UpdatedAt = r.varint("cart updated at")
	n := r.count("cart items", MaxCartItems, 4)
	c.Cart.Items = reuseSlice(c.Cart.Items, n)
	for i := range c.Cart.Items {
		it := &c.Cart.Items[i]
		it.SKU = r.str("item sku", it.SKU)
		it.Category = r.str("item category", it.Category)
		it.Quantity = r.i32("item quantity")
		it.Price = r.varint("item price")
	}
}

func encodeOrders(dst []byte, c *Contact) []byte {
	o := &c.Orders
	dst = binary.AppendVarint(dst, int64(o.Count))
	dst = binary.AppendUvarint(dst, uint64(o.Placed))
	dst = binary.AppendUvarint(dst, uint64(o.Cancelled))
	dst = binary.AppendVarint(dst, o.Revenue)
	dst = binary.AppendVarint(dst, o.Refunded)
	dst = appendLenString(dst, o.Currency)
	dst = binary.AppendVarint(dst, o.First)
	dst = binary.AppendVarint(dst, o.Last-o.First)
	recent := newestN(o.Recent, MaxRecentOrders)
	dst = binary.AppendUvarint(dst, uint64(len(recent)))
	var prevAt int64
	var prevDay int32
	for i := range recent {
		od := &recent[i]
		dst = appendLenString(dst, od.ID)
		dst = binary.AppendVarint(dst, od.At-prevAt)
		dst = binary.AppendVarint(dst, int64(od.Day)-int64(prevDay))
		prevAt, prevDay = od.At, od.Day
		dst = binary.AppendVarint(dst, od.Total)
		dst = binary.AppendVarint(dst, od.Refunded)
		dst = append(dst, od.Flags)
		dst = appendLenString(dst, od.Currency)
		cats := firstN(od.Categories, MaxOrderCategories)
		dst = binary.AppendUvarint(dst, uint64(len(cats)))
		for _, cat := range cats {
			dst = appendLenString(dst, cat)
		}
	}
	return dst
}

func decodeOrders(r *recordReader, c *Contact) {
	o := &c.Orders
	o.Count = r.i32("order count")
	o.Placed = r.u32("orders placed")
	o.Cancelled = r.u32("orders cancelled")
	o.Revenue = r.varint("revenue")
	o.Refunded = r.varint("refunded")
	o.Currency = r.str("currency", o.Currency)
	o.First = r.varint("first order")
	o.Last = o.First + r.varint("last order")
	n := r.count("recent orders", MaxRecentOrders, 8)
	o.Recent = reuseSlice(o.Recent, n)
	var prevAt int64
	var prevDay int32
	for i := range o.Recent {
		od := &o.Recent[i]
		od.ID = r.str("order id", od.ID)
		od.At = prevAt + r.varint("order time")
		od.Day = r.dayAfter(prevDay, "order day")
		prevAt, prevDay = od.At, od.Day
		od.Total = r.varint("order total")
		od.Refunded = r.varint("order refunded")
		od.Flags = r.u8("order flags")
		od.Currency = r.str("order currency", od.Currency)
		nc := r.count("order categories", MaxOrderCategories, 1)
		od.Categories = reuseSlice(od.Categories, nc)
		for j := range od.Categories {
			od.Categories[j] = r.str("order category", od.Categories[j])
		}
	}
}

func encodePurchases(dst []byte, c *Contact) []byte {
	days := newestN(c.Purchases, MaxPurchaseDays)
	dst = binary.AppendUvarint(dst, uint64(len(days)))
	var prev int32
	for i := range days {
		d := &days[i]
		dst = binary.AppendVarint(dst, int64(d.Day)-int64(prev))
		prev = d.Day
		dst = binary.AppendUvarint(dst, uint64(d.Orders))
		dst = binary.AppendVarint(dst, d.Spend)
	}
	return dst
}

func decodePurchases(r *recordReader, c *Contact) {
	n := r.count("purchase days", MaxPurchaseDays, 3)
	c.Purchases = reuseSlice(c.Purchases, n)
	var prev int32
	for i := range c.Purchases {
		d := &c.Purchases[i]
		d.Day = r.dayAfter(prev, "purchase day")
		prev = d.Day
		v := r.uvarint("purchase day orders")
		if v > math.MaxUint16 {
			r.fail("purchase day orders", "out of range: "+strconv.FormatUint(v, 10))
		}
		d.Orders = uint16(v)
		d.Spend = r.varint("purchase day spend")
	}
}

func encodeEngagement(dst []byte, c *Contact) []byte {
	e := &c.Engagement
	dst = binary.AppendUvarint(dst, uint64(e.Sent))
	dst = binary.AppendUvarint(dst, uint64(e.Delivered))
	dst = binary.AppendUvarint(dst, uint64(e.Opened))
	dst = binary.AppendUvarint(dst, uint64(e.Clicked))
	dst = binary.AppendUvarint(dst, uint64(e.Bounced))
	dst = binary.AppendVarint(dst, e.LastSent)
	dst = binary.AppendVarint(dst, e.LastOpen-e.LastSent)
	dst = binary.AppendVarint(dst, e.LastClick-e.LastSent)
	dst = binary.AppendVarint(dst, e.HistAt-e.LastSent)
	// Sparse histogram: the number of non-zero bins, then (bin, bits) pairs
	// in increasing bin order. Bits, not values, decide "non-zero" so that
	// -0 survives the round trip too. One pass: the count goes in a
	// placeholder filled afterwards.
	countAt := len(dst)
	dst = append(dst, 0)
	var nz uint64
	for bin, v := range e.HourOfWeek[:] {
		if b := math.Float32bits(v); b != 0 {
			dst = append(dst, byte(bin))
			dst = binary.LittleEndian.AppendUint32(dst, b)
			nz++
		}
	}
	return fillPlaceholder(dst, countAt, nz)
}

func decodeEngagement(r *recordReader, c *Contact) {
	e := &c.Engagement
	e.Sent = r.u32("sent")
	e.Delivered = r.u32("delivered")
	e.Opened = r.u32("opened")
	e.Clicked = r.u32("clicked")
	e.Bounced = r.u32("bounced")
	e.LastSent = r.varint("last sent")
	e.LastOpen = e.LastSent + r.varint("last open")
	e.LastClick = e.LastSent + r.varint("last click")
	e.HistAt = e.LastSent + r.varint("histogram time")
	e.HourOfWeek = [HoursPerWeek]float32{}
	n := r.count("histogram bins", HoursPerWeek, 5)
	next := 0 // bins are strictly increasing: one encoding per histogram
	for range n {
		bin := int(r.u8("histogram bin"))
		v := math.Float32frombits(r.fixed32("histogram value"))
		if r.err != nil {
			return
		}
		if bin < next || bin >= HoursPerWeek {
			r.fail("histogram bin", "bin "+strconv.Itoa(bin)+" out of order or range")
			return
		}
		e.HourOfWeek[bin] = v
		next = bin + 1
	}
}

func encodeSeenIDs(dst []byte, c *Contact) []byte {
	ids := newestN(c.SeenIDs, SeenIDsCap)
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = binary.LittleEndian.AppendUint64(dst, id)
	}
	return dst
}

// legacySeenIDsCap is the dedupe window of records written before the
// window shrank to SeenIDsCap: such records are read, keeping the newest
// SeenIDsCap ids.
const legacySeenIDsCap = 128

func decodeSeenIDs(r *recordReader, c *Contact) {
	n := r.count("seen ids", legacySeenIDsCap, 8)
	skip := max(n-SeenIDsCap, 0)
	for range skip {
		r.fixed64("seen id")
	}
	c.SeenIDs = reuseSlice(c.SeenIDs, n-skip)
	for i := range c.SeenIDs {
		c.SeenIDs[i] = r.fixed64("seen id")
	}
}

// reuseSlice returns s with length n, reusing its array when it is large
// enough. Elements are left as they were: decoders overwrite every field,
// and old strings serve as candidates for reuse (see recordReader.str). A nil s
// stays nil for n == 0, so decoding into a zero Contact yields nil slices.
func reuseSlice[T any](s []T, n int) []T {
	if n <= cap(s) {
		return s[:n]
	}
	return make([]T, n)
}

// recordReader consumes one section payload. The first error sticks: later reads
// return zero values, so decoders read straight through and the caller
// checks err once. Every read names what it reads, for the error message.
type recordReader struct {
	b   []byte
	sec string // section name for error messages; "" between sections
	err error
}

func (r *recordReader) fail(what, why string) {
	if r.err == nil {
		if r.sec == "" {
			r.err = fmt.Errorf("%w: contact record: %s: %s", ErrCorrupt, what, why)
		} else {
			r.err = fmt.Errorf("%w: contact record, %s section: %s: %s", ErrCorrupt, r.sec, what, why)
		}
	}
	r.b = nil
}

// uvarint (and varint through it) reads the one-byte case without the
// general loop: most counts, lengths and time deltas are below 128 (±64).
func (r *recordReader) uvarint(what string) uint64 {
	if b := r.b; len(b) > 0 && b[0] < 0x80 {
		r.b = b[1:]
		return uint64(b[0])
	}
	return r.uvarintSlow(what)
}

func (r *recordReader) uvarintSlow(what string) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		if n == 0 {
			r.fail(what, "truncated")
		} else {
			r.fail(what, "varint overflows 64 bits")
		}
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) varint(what string) int64 {
	ux := r.uvarint(what)
	// Zigzag decoding, as binary.Varint does.
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (r *recordReader) u32(what string) uint32 {
	v := r.uvarint(what)
	if v > math.MaxUint32 {
		r.fail(what, "out of range: "+strconv.FormatUint(v, 10))
		return 0
	}
	return uint32(v)
}

func (r *recordReader) i32(what string) int32 {
	v := r.varint(what)
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail(what, "out of range: "+strconv.FormatInt(v, 10))
		return 0
	}
	return int32(v)
}

// dayAfter reads a day written as the difference from prev.
func (r *recordReader) dayAfter(prev int32, what string) int32 {
	d := int64(prev) + r.varint(what)
	if d < math.MinInt32 || d > math.MaxInt32 {
		r.fail(what, "out of range: "+strconv.FormatInt(d, 10))
		return 0
	}
	return int32(d)
}

func (r *recordReader) u8(what string) byte {
	if len(r.b) == 0 {
		r.fail(what, "truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *recordReader) boolean(what string) bool {
	switch r.u8(what) {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(what, "not 0 or 1")
	return false
}

func (r *recordReader) fixed64(what string) uint64 {
	if len(r.b) < 8 {
		r.fail(what, "truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *recordReader) fixed32(what string) uint32 {
	if len(r.b) < 4 {
		r.fail(what, "truncated")
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

// str reads a length-prefixed string. If it equals old, old is returned
// instead of a new copy: decoding into a reused Contact then allocates only
// for strings that changed. Either way the result never aliases the input.
func (r *recordReader) str(what, old string) string {
	n := r.uvarint(what)
	if n > uint64(len(r.b)) {
		r.fail(what, "truncated: length "+strconv.FormatUint(n, 10)+" exceeds the "+strconv.Itoa(len(r.b))+" bytes left")
		return ""
	}
	b := r.b[:n]
	r.b = r.b[n:]
	if string(b) == old { // compiled to a comparison, no allocation
		return old
	}
	return string(b)
}

// count reads the number of entries of a list and checks it against the
// list's bound and against the bytes left (each entry takes at least
// minSize bytes), so a corrupt count can never make the caller allocate
// more than the record could hold.
func (r *recordReader) count(what string, limit, minSize int) int {
	v := r.uvarint(what)
	if r.err != nil {
		return 0
	}
	if v > uint64(limit) {
		r.fail(what, strconv.FormatUint(v, 10)+" entries exceed the limit of "+strconv.Itoa(limit))
		return 0
	}
	if int(v)*minSize > len(r.b) {
		r.fail(what, "truncated: "+strconv.FormatUint(v, 10)+" entries cannot fit in "+strconv.Itoa(len(r.b))+" bytes")
		return 0
	}
	return int(v)
}

func encodeScores(dst []byte, c *Contact) []byte {
	s := &c.Scores
	rules := firstN(s.Lead, MaxLeadRules)
	dst = binary.AppendUvarint(dst, uint64(len(rules)))
	for i := range rules {
		l := &rules[i]
		dst = appendLenString(dst, l.Rule)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(l.Points))
		dst = binary.AppendVarint(dst, l.At)
		dst = binary.AppendUvarint(dst, uint64(l.Hits))
		dst = binary.AppendVarint(dst, l.WindowStart)
	}
	dst = append(dst, s.Stage)
	dst = binary.AppendVarint(dst, s.StageAt)
	dst = append(dst, s.Segment)
	dst = binary.AppendVarint(dst, int64(s.SegmentDay))
	ts := newestN(s.Transitions, MaxTransitions)
	dst = binary.AppendUvarint(dst, uint64(len(ts)))
	for _, t := range ts {
		dst = append(dst, t.Kind, t.From, t.To)
		dst = binary.AppendVarint(dst, t.At)
	}
	return dst
}

func decodeScores(r *recordReader, c *Contact) {
	s := &c.Scores
	n := r.count("lead rules", MaxLeadRules, 11)
	s.Lead = reuseSlice(s.Lead, n)
	for i := range s.Lead {
		l := &s.Lead[i]
		l.Rule = r.str("lead rule", l.Rule)
		l.Points = math.Float64frombits(r.fixed64("lead points"))
		l.At = r.varint("lead at")
		l.Hits = r.u32("lead hits")
		l.WindowStart = r.varint("lead window start")
	}
	s.Stage = r.u8("stage")
	s.StageAt = r.varint("stage at")
	s.Segment = r.u8("segment")
	s.SegmentDay = r.i32("segment day")
	n = r.count("transitions", MaxTransitions, 4)
	s.Transitions = reuseSlice(s.Transitions, n)
	for i := range s.Transitions {
		t := &s.Transitions[i]
		t.Kind = r.u8("transition kind")
		t.From = r.u8("transition from")
		t.To = r.u8("transition to")
		t.At = r.varint("transition at")
	}
}

// appendOpaque writes a section owned by another package: its length,
// then its bytes. Fields a later release appends to the section come after
// them and are skipped by this one.
func appendOpaque(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// decodeOpaque copies such a section (its owner validates the bytes when
// it reads them), bounded so that a damaged record cannot claim a huge
// one.
func decodeOpaque(r *recordReader, dst []byte, limit int) []byte {
	n := r.count("payload", limit, 1)
	if r.err != nil || n == 0 {
		return nil
	}
	dst = append(dst[:0], r.b[:n]...)
	r.b = r.b[n:]
	return dst
}
