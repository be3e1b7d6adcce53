package event

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The JSON scanner. It reads a record in one pass without building a
// tree: the values of the keys the decoder knows go into fixed slots per
// object (see slots), those of the nested objects it reads (context,
// context.utm, properties, the items of an order) included, whatever the
// type of the event, which may come last; the members of properties and
// properties.traits also go into lists in the order of the record; and
// everything else goes through a validating skipper. The scratch holds
// offsets, into the record or into the buffer of unescaped strings, not
// pointers: filling it costs no write barrier and it never keeps a record
// alive. Only the checks of a faulty record (check.go) read an object
// again, from its byte range.
//
// The grammar is RFC 8259's, in UTF-8, with no nesting below maxDepth.
// Two kinds of fault do not stop the scan, because the decoder has always
// reported them with the path of the offending field, and after the
// envelope's own errors: a repeated key in an object, and a number outside
// the JSON grammar (NaN, 01, +1, 1., .5), delimited the way the decoder's
// original fastjson parser delimited numbers. They set Decoder.faulty, and
// the decoder then finds and orders them the way it always has (see
// check.go). A record with such a number and an escape or control
// character anywhere is refused outright, without a path, as it always
// was.

// maxDepth bounds the nesting of values: a value nested deeper than this
// (the record itself is at depth 1) is invalid_json. It is the limit of
// the fastjson parser the decoder used to run, so no record that decoded
// before is refused now, and it keeps the recursive skipper's stack small.
const maxDepth = 300

// detailTooDeep is the Detail of a record nested deeper than maxDepth.
const detailTooDeep = "nested deeper than 300 levels"

// span is a text of the record being decoded, of Decoder.buf when buf is
// set (an unescaped string), or of statics when static is set. clean
// marks a text of printable ASCII only, which needs no check for control
// characters.
type span struct {
	lo, hi             int32
	buf, clean, static bool
}

// kind is the JSON type of a value. The zero kind is an absent value.
type kind uint8

const (
	kindAbsent kind = iota
	kindNull
	kindString
	kindNumber
	kindTrue
	kindFalse
	kindObject
	kindArray
)

// value is one JSON value of the record being decoded.
type value struct {
	// text is a string's text, unescaped, or a number as written.
	text span
	// lo and hi delimit the value in the record.
	lo, hi int32
	// n counts the elements of an array.
	n    int32
	kind kind
}

// absent reports a value that is not there or null: null is how many
// serialisers write "not set".
func (v *value) absent() bool { return v.kind <= kindNull }

// member is one key and value of an object.
type member struct {
	key span
	value
}

// slots holds the values of the keys an object reader knows, by the
// index its lookup gives them (see field). Only the first occurrence of a
// key is kept: a repeated key sets Decoder.faulty.
type slots struct {
	seen uint32 // the slots filled
	vals [propFields]value
}

// item holds an element of properties.items: the slots of an object, or
// an element that is not one.
type item struct {
	seen uint32
	vals [itemFields]value
	lo   int32 // where the element starts
	obj  bool
}

// get returns the value in slot i, nil when it is absent or null.
func (s *slots) get(i int) *value { return get(s.seen, s.vals[:], i) }

// get returns the value in slot i of vals, nil when it is absent or null.
func get(seen uint32, vals []value, i int) *value {
	if seen&(1<<i) == 0 || vals[i].absent() {
		return nil
	}
	return &vals[i]
}

// text returns the text of s. It aliases the record or d.buf until
// Event.own copies it.
func (d *Decoder) text(s span) string {
	if s.static {
		return statics[s.lo:s.hi]
	}
	if s.buf {
		return b2s(d.buf[s.lo:s.hi])
	}
	return b2s(d.data[s.lo:s.hi])
}

// fault records a structural fault at data[i], the first one of the
// record, and returns -1, which every scanning function returns to stop
// the scan.
func (d *Decoder) fault(i int, detail string) int {
	d.faultAt, d.faultDetail = i, detail
	return -1
}

// ws returns the index of the first byte at or after i that is not white
// space.
func ws(data []byte, i int) int {
	for i < len(data) && data[i] <= ' ' {
		switch data[i] {
		case ' ', '\n', '\r', '\t':
			i++
		default:
			return i
		}
	}
	return i
}

// plain marks the bytes a string holds as they are: not a quote, a
// backslash, a control character or the start of a multi-byte sequence.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainEnd returns the index of the first byte at or after j that a
// plain string cannot hold (a quote, a backslash, a control character,
// DEL or a byte of a multi-byte sequence), or -1 if it is within the last
// 7 bytes of data. It reads 8 bytes per step: in (x - 0x20 in every byte)
// &^ x, the high bit of a byte is set where that byte of x is below 0x20,
// and in (y - 1) &^ y where y has a zero byte, so with y = x ^ quotes or
// x ^ backslashes where x has a quote or a backslash; x + 1 (in every
// byte) | x has it set where x is DEL or above. The lowest byte so marked
// is exact, higher ones may be borrow or carry artefacts. It is small
// enough to be inlined into the member loop.
func plainEnd(data []byte, j int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for ; j+8 <= len(data); j += 8 {
		x := binary.LittleEndian.Uint64(data[j:])
		q, b := x^('"'*ones), x^('\\'*ones)
		if m := (((x-0x20*ones)|(q-ones)|(b-ones))&^x | (x + ones) | x) & highs; m != 0 {
			return j + bits.TrailingZeros64(m)>>3
		}
	}
	return -1
}

// str reads the string opening at data[i] and returns its text and the
// index after it. A string of printable ASCII without escapes is read by
// plainEnd, anything else by strSlow.
func (d *Decoder) str(data []byte, i int) (span, int) {
	if j := plainEnd(data, i+1); j >= 0 && data[j] == '"' {
		return span{lo: int32(i + 1), hi: int32(j), clean: true}, j + 1
	}
	return d.strSlow(data, i)
}

// strSlow is str for strings with escapes, multi-byte sequences or faults,
// and at the end of the record. Escaped strings are unescaped into d.buf.
func (d *Decoder) strSlow(data []byte, i int) (span, int) {
	end, esc := d.strEnd(data, i)
	if end < 0 {
		return span{}, end
	}
	if !esc {
		return span{lo: int32(i + 1), hi: int32(end - 1)}, end
	}
	lo := len(d.buf)
	d.buf = appendUnescaped(d.buf, data[i+1:end-1])
	return span{lo: int32(lo), hi: int32(len(d.buf)), buf: true}, end
}

// strEnd validates the string opening at data[i] and returns the index
// after its closing quote, and whether it holds an escape.
func (d *Decoder) strEnd(data []byte, i int) (int, bool) {
	esc := false
	i++
	for {
		for i < len(data) && plain[data[i]] {
			i++
		}
		if i >= len(data) {
			return d.fault(i, "unterminated string"), false
		}
		switch c := data[i]; {
		case c == '"':
			return i + 1, esc
		case c == '\\':
			esc = true
			if i+1 >= len(data) {
				return d.fault(i, "unterminated string"), false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					return d.fault(i, `\u not followed by four hexadecimal digits`), false
				}
				i += 6
			default:
				return d.fault(i, "invalid escape sequence in a string"), false
			}
		case c < 0x20:
			return d.fault(i, "control character in a string (escape it)"), false
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return d.fault(i, "not valid UTF-8"), false
			}
			i += size
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// appendUnescaped appends the text of the valid string body s. Escapes
// are read as the decoder always read them (fastjson's best effort): a
// surrogate followed by another \u escape makes one rune of the two, the
// replacement character if they are not a pair; a surrogate not followed
// by \u stays as written.
func appendUnescaped(dst, s []byte) []byte {
	for {
		n := indexByte(s, '\\')
		if n < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:n]...)
		c := s[n+1]
		s = s[n+2:]
		switch c {
		case 'u':
			x := rune(hex4(s))
			hx := s[:4]
			s = s[4:]
			switch {
			case !utf16.IsSurrogate(x):
				dst = utf8.AppendRune(dst, x)
			case len(s) >= 6 && s[0] == '\\' && s[1] == 'u':
				dst = utf8.AppendRune(dst, utf16.DecodeRune(x, rune(hex4(s[2:]))))
				s = s[6:]
			default:
				dst = append(dst, '\\', 'u')
				dst = append(dst, hx...)
			}
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
	}
}

func indexByte(s []byte, c byte) int {
	for i := range s {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// hex4 reads four hexadecimal digits.
func hex4(s []byte) uint32 {
	var x uint32
	for _, c := range s[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		x = x<<4 | uint32(c)
	}
	return x
}

// numeric marks the bytes fastjson took into a number.
var numeric = func() (t [256]bool) {
	for _, c := range "0123456789.-+eE" {
		t[c] = true
	}
	return t
}()

// scalar reads the literal or number starting at data[i] and returns the
// index after it and its kind. A number is delimited the way fastjson's
// parser did (a run of digits, signs, dots and exponents, or NaN or Inf
// with an optional sign), so that a malformed one is told apart from
// malformed JSON as before; the caller checks it against the grammar.
func (d *Decoder) scalar(data []byte, i int) (int, kind) {
	switch data[i] {
	case 't':
		if hasPrefix(data[i:], "true") {
			return i + 4, kindTrue
		}
	case 'f':
		if hasPrefix(data[i:], "false") {
			return i + 5, kindFalse
		}
	case 'n':
		if hasPrefix(data[i:], "null") {
			return i + 4, kindNull
		}
		if foldPrefix(data[i:], "nan") {
			return i + 3, kindNumber
		}
	default:
		j := i
		for j < len(data) && numeric[data[j]] {
			j++
		}
		if j == len(data) || j > i+1 || j == i+1 && data[i] != '-' && data[i] != '+' {
			return j, kindNumber
		}
		if foldPrefix(data[j:], "inf") || foldPrefix(data[j:], "nan") {
			return j + 3, kindNumber
		}
	}
	return d.fault(i, "invalid value"), 0
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// foldPrefix reports whether b starts with the lower-case ASCII word s in
// any case.
func foldPrefix(b []byte, s string) bool {
	if len(b) < len(s) {
		return false
	}
	for i := range len(s) {
		if b[i]|0x20 != s[i] {
			return false
		}
	}
	return true
}

// value reads the value at data[i], at the given depth, into v: strings
// unescaped, containers validated and delimited. It notes a malformed
// number.
func (d *Decoder) value(data []byte, i, depth int, v *value) int {
	if depth > maxDepth {
		return d.fault(i, detailTooDeep)
	}
	v.lo = int32(i)
	switch data[i] {
	case '"':
		v.kind = kindString
		v.text, i = d.str(data, i)
	case '{':
		v.kind = kindObject
		i = d.skipObject(data, i, depth)
	case '[':
		v.kind = kindArray
		v.n, i = d.skipArray(data, i, depth)
	default:
		start := i
		if i, v.kind = d.scalar(data, i); v.kind == kindNumber {
			v.text = span{lo: int32(start), hi: int32(i)}
			if !validNumber(data[start:i]) {
				d.badNumber, d.faulty = true, true
			}
		}
	}
	v.hi = int32(i)
	return i
}

// skip validates the value at data[i], at the given depth, and returns
// the index after it.
func (d *Decoder) skip(data []byte, i, depth int) int {
	var v value
	return d.value(data, i, depth, &v)
}

// skipObject validates the object opening at data[i] and notes a repeated
// key.
func (d *Decoder) skipObject(data []byte, i, depth int) int {
	_, i = d.object(data, i, depth, objSkipped, nil, nil)
	return i
}

// skipArray validates the array opening at data[i] and returns its number
// of elements and the index after it.
func (d *Decoder) skipArray(data []byte, i, depth int) (int32, int) {
	return d.array(data, i, depth, false)
}

// array validates the array opening at data[i] and returns its number of
// elements and the index after it. With items, it reads its first
// MaxItems+1 elements into d.items: properties.items, read whatever the
// type, since the type may come later in the record.
func (d *Decoder) array(data []byte, i, depth int, items bool) (int32, int) {
	if items {
		d.items = d.items[:0]
	}
	i = ws(data, i+1)
	if i < len(data) && data[i] == ']' {
		return 0, i + 1
	}
	var n int32
	for {
		if i >= len(data) {
			return 0, d.fault(i, "unterminated array")
		}
		if items && n <= MaxItems {
			d.items = append(d.items, item{lo: int32(i)})
			it := &d.items[len(d.items)-1]
			if data[i] == '{' && depth < maxDepth {
				it.obj = true
				it.seen, i = d.object(data, i, depth+1, objItem, it.vals[:], nil)
			} else {
				i = d.skip(data, i, depth+1)
			}
		} else {
			i = d.skip(data, i, depth+1)
		}
		if i < 0 {
			return 0, i
		}
		n++
		if i+1 < len(data) && data[i] == ',' && data[i+1] > ' ' {
			i++
			continue
		}
		var more bool
		if i, more = comma(data, i); more {
			continue
		}
		if i >= len(data) || data[i] != ']' {
			return 0, d.fault(i, "expected ',' or ']' after an array element")
		}
		return n, i + 1
	}
}

// The objects an object reader knows the keys of.
const (
	objSkipped = iota // no key known, nothing kept
	objMembers        // no key known, every member kept
	objEnvelope
	objContext
	objUTM
	objProperties
	objItem
)

// object reads the object opening at data[i], at the given depth, and
// returns the slots it filled and the index after it. The value of a key
// that the object kind which knows goes into its slot of vals; every
// member goes into *all when all is not nil; other values are validated
// and dropped. The objects nested in known keys that the decoder reads
// (context, properties, context.utm, properties.items and
// properties.traits) are read on the way. A repeated key sets d.faulty:
// known keys are told by the slots filled, the others go on d.keys.
//
// The loop makes no call for a key or a string value of printable ASCII:
// every call makes the compiler save and restore the loop's state.
func (d *Decoder) object(data []byte, i, depth, which int, vals []value, all *[]member) (uint32, int) {
	if depth > maxDepth {
		return 0, d.fault(i, detailTooDeep)
	}
	if all != nil {
		*all = (*all)[:0]
	}
	// The values of a member at the deepest level are read by value,
	// which refuses them; the loop only reads strings itself.
	deep := depth == maxDepth
	var seen uint32
	i = ws(data, i+1)
	if i < len(data) && data[i] == '}' {
		return 0, i + 1
	}
	base := len(d.keys)
	for {
		if i >= len(data) || data[i] != '"' {
			return 0, d.fault(i, "expected a key")
		}
		// A known key is plain ASCII: if the text up to the next quote is
		// one, the key is read. Any other key is read as any string, and
		// looked up again: it may spell a known key with escapes.
		var k span
		var key string
		slot := -1
		if j := quoteIn16(data, i+1); j >= 0 {
			key = b2s(data[i+1 : j])
			switch which {
			case objEnvelope:
				slot = envField(key)
			case objContext:
				slot = ctxField(key)
			case objUTM:
				slot = utmField(key)
			case objProperties:
				slot = propField(key)
			case objItem:
				slot = itemField(key)
			}
			if slot >= 0 {
				k, i = span{lo: int32(i + 1), hi: int32(j), clean: true}, j+1
			}
		}
		if slot < 0 {
			if k, i = d.str(data, i); i < 0 {
				return 0, i
			}
			key = d.text(k)
			slot = field(which, key)
		}
		if i+1 < len(data) && data[i] == ':' && data[i+1] > ' ' {
			i++
		} else if i = d.colon(data, i); i < 0 {
			return 0, i
		}
		switch {
		case slot < 0:
			d.keys = append(d.keys, key)
		case seen&(1<<slot) != 0:
			d.faulty = true
			slot = -1
		default:
			seen |= 1 << slot
		}
		var v value
		if j := i + 1; data[i] == '"' && !deep {
			if j = plainEnd(data, j); j >= 0 && data[j] == '"' {
				v = value{text: span{lo: int32(i + 1), hi: int32(j), clean: true}, lo: int32(i), hi: int32(j + 1), kind: kindString}
				i = j + 1
			} else {
				i = d.value(data, i, depth+1, &v)
			}
		} else if slot >= 0 && (data[i] == '{' || data[i] == '[') {
			i = d.known(data, i, depth+1, which, slot, &v)
		} else {
			i = d.value(data, i, depth+1, &v)
		}
		if i < 0 {
			return 0, i
		}
		if slot >= 0 {
			vals[slot] = v
		}
		if all != nil {
			*all = append(*all, member{key: k, value: v})
		}
		if i+1 < len(data) && data[i] == ',' && data[i+1] > ' ' {
			i++
			continue
		}
		var more bool
		if i, more = comma(data, i); more {
			continue
		}
		if i >= len(data) || data[i] != '}' {
			return 0, d.fault(i, "expected ',' or '}' after an object value")
		}
		break
	}
	if len(d.keys) > base+1 && duplicate(d.keys[base:]) != "" {
		d.faulty = true
	}
	clear(d.keys[base:])
	d.keys = d.keys[:base]
	return seen, i + 1
}

// field returns the slot of key in the object kind which, -1 for a key
// it does not know.
func field(which int, key string) int {
	switch which {
	case objEnvelope:
		return envField(key)
	case objContext:
		return ctxField(key)
	case objUTM:
		return utmField(key)
	case objProperties:
		return propField(key)
	case objItem:
		return itemField(key)
	}
	return -1
}

// quoteIn16 returns the index of the first quote among the 16 bytes from
// data[j], or -1 if there is none or fewer than 16 bytes are left. In
// (y - 1) &^ y, the high bit of the lowest zero byte of y is set, so with
// y = x ^ quotes for the first quote of x.
func quoteIn16(data []byte, j int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	if j+16 > len(data) {
		return -1
	}
	for k := j; k < j+16; k += 8 {
		y := binary.LittleEndian.Uint64(data[k:]) ^ ('"' * ones)
		if m := (y - ones) &^ y & highs; m != 0 {
			return k + bits.TrailingZeros64(m)>>3
		}
	}
	return -1
}

// known reads the container at data[i], the value of a known key, into
// v, and reads it into its own slots if it is one of the objects the
// decoder reads.
func (d *Decoder) known(data []byte, i, depth, which, slot int, v *value) int {
	if depth > maxDepth {
		return d.fault(i, detailTooDeep)
	}
	obj := data[i] == '{'
	*v = value{kind: kindArray, lo: int32(i)}
	if obj {
		v.kind = kindObject
	}
	switch {
	case which == objEnvelope && slot == envContext && obj:
		d.ctx.seen, i = d.object(data, i, depth, objContext, d.ctx.vals[:], nil)
	case which == objEnvelope && slot == envProperties && obj:
		d.props.seen, i = d.object(data, i, depth, objProperties, d.props.vals[:], &d.propList)
	case which == objContext && slot == ctxUTM && obj:
		d.utm.seen, i = d.object(data, i, depth, objUTM, d.utm.vals[:], nil)
	case which == objProperties && slot == propTraits && obj:
		_, i = d.object(data, i, depth, objMembers, nil, &d.traitList)
	case which == objProperties && slot == propItems && !obj:
		v.n, i = d.array(data, i, depth, true)
	default:
		return d.value(data, i, depth, v)
	}
	v.hi = int32(i)
	return i
}

// comma reads the white space after a value and, if a comma follows, the
// comma and the white space after it. It returns the index of what
// follows and whether that was a comma. The loops test for a comma right
// before the next value themselves, which is cheaper than this call.
func comma(data []byte, i int) (int, bool) {
	if i = ws(data, i); i < len(data) && data[i] == ',' {
		return ws(data, i+1), true
	}
	return i, false
}

// colon reads the colon after a key and the white space around it, and
// returns the index of the value. The loops test for a colon right before
// the value themselves, which is cheaper than this call.
func (d *Decoder) colon(data []byte, i int) int {
	i = ws(data, i)
	if i >= len(data) || data[i] != ':' {
		return d.fault(i, "expected ':' after a key")
	}
	if i = ws(data, i+1); i >= len(data) {
		return d.fault(i, "expected a value")
	}
	return i
}

// b2s views b as a string without copying. Every string so made aliases
// the record or d.buf and is copied by Event.own before Decode returns.
func b2s(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// s2b views s as bytes, which must not be written.
func s2b(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// controlIn reports whether the text of s has a control character.
func (d *Decoder) controlIn(s span) bool {
	return !s.clean && hasControl(d.text(s))
}

// hasControl reports C0 and C1 control characters and DEL.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return true
		}
		// U+0080..U+009F are encoded as C2 80..C2 9F.
		if c == 0xc2 && i+1 < len(s) && s[i+1] < 0xa0 {
			return true
		}
	}
	return false
}

// clip shortens a name quoted in an error so that a hostile key cannot
// blow up the dead-letter header.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func quote(s string) string { return strconv.Quote(clip(s)) }
