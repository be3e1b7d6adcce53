package lead

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/kairos-engine/kairos/state"
)

// Props is what Apply reads event properties through; Prop returns a
// property's text and whether it is present. The decoded event
// (*event.Event in stream/event) implements it with the event's top-level
// scalar properties, as the producer sent them. A value the decoder takes
// from elsewhere is not among them: page_view's url when it came only in
// context.url, bounced's type when it was sent as bounce_type. A worker
// that wants rules to see those passes a Props that falls back to the
// decoded fields. Apply calls Prop only for the names the plan's
// conditions use and keeps nothing it returns.
type Props interface {
	Prop(name string) (string, bool)
}

// op is a condition operator.
type op uint8

const (
	opEquals op = iota + 1
	opIn
	opContains
	opWord
	opPrefix
	opGTE
	opLTE
	opExists
)

// opNames maps the YAML names of the operators, in the order the
// documentation and error messages list them.
var opNames = [...]struct {
	name string
	op   op
}{
	{"equals", opEquals},
	{"in", opIn},
	{"contains", opContains},
	{"word", opWord},
	{"prefix", opPrefix},
	{"gte", opGTE},
	{"lte", opLTE},
	{"exists", opExists},
}

// test is one operator applied to one value. String operands are stored
// lower-cased: every string comparison ignores ASCII case.
type test struct {
	op     op
	strs   []string // equals (one), in, contains, word and prefix (any of)
	bytes  [][]byte // strs as bytes, for contains and word
	num    float64  // gte, lte
	exists bool     // exists
}

// match is every test on one property or trait; all must hold.
type match struct {
	name  string
	tests []test
}

// scratchLen bounds the values scratch lower-cases; longer ones are
// searched by indexFold, slower but still without allocating.
const scratchLen = 512

// scratch is the per-call workspace of condition matching, on the stack
// of Apply and ScoreInto: the last value lower-cased for contains and
// word, so that the several rules reading one property (every page_view
// rule reads url) lower-case it once and then search it with bytes.Index.
type scratch struct {
	v   string // the value buf holds lower-cased, when ok
	ok  bool
	buf [scratchLen]byte
}

// lower returns v lower-cased (ASCII), or nil when v is too long.
func (sc *scratch) lower(v string) []byte {
	if sc.ok && sc.v == v {
		return sc.buf[:len(v)]
	}
	if len(v) > len(sc.buf) {
		return nil
	}
	for i := 0; i < len(v); i++ {
		sc.buf[i] = lowerByte(v[i])
	}
	sc.v, sc.ok = v, true
	return sc.buf[:len(v)]
}

// matchProps reports whether every condition holds for the event's
// properties. A nil props has no property.
func matchProps(ms []match, props Props, sc *scratch) bool {
	for i := range ms {
		var v string
		var ok bool
		if props != nil {
			v, ok = props.Prop(ms[i].name)
		}
		if !holds(ms[i].tests, v, ok, sc) {
			return false
		}
	}
	return true
}

// matchTraits reports whether every condition holds for c's traits. A nil
// c has no trait.
func matchTraits(ms []match, c *state.Contact, sc *scratch) bool {
	for i := range ms {
		var v string
		var ok bool
		if c != nil {
			v, ok = c.Trait(ms[i].name)
		}
		if !holds(ms[i].tests, v, ok, sc) {
			return false
		}
	}
	return true
}

// holds applies the tests to one value. An empty value counts as absent,
// as it does in the event contract.
func holds(ts []test, v string, ok bool, sc *scratch) bool {
	ok = ok && v != ""
	num, numOK, parsed := 0.0, false, false
	for i := range ts {
		t := &ts[i]
		if t.op == opExists {
			if ok != t.exists {
				return false
			}
			continue
		}
		if !ok {
			return false
		}
		switch t.op {
		case opEquals, opIn:
			if !anyString(t.strs, v, equalFold) {
				return false
			}
		case opContains, opWord:
			if !t.search(v, sc.lower(v)) {
				return false
			}
		case opPrefix:
			if !anyString(t.strs, v, prefixFold) {
				return false
			}
		case opGTE, opLTE:
			if !parsed {
				num, numOK = parseNumber(v)
				parsed = true
			}
			if !numOK || t.op == opGTE && num < t.num || t.op == opLTE && num > t.num {
				return false
			}
		}
	}
	return true
}

// search runs contains or word: whether any operand occurs in v (as whole
// words for word). low is v lower-cased, or nil when v was too long for
// the scratch buffer.
func (t *test) search(v string, low []byte) bool {
	for i, b := range t.bytes {
		var found bool
		switch {
		case low == nil && t.op == opContains:
			found = containsFold(v, t.strs[i])
		case low == nil:
			found = wordFold(v, t.strs[i])
		case t.op == opContains:
			found = bytes.Index(low, b) >= 0
		default:
			found = hasWord(low, b)
		}
		if found {
			return true
		}
	}
	return false
}

// hasWord reports whether w occurs in s bounded by non-alphanumerics (or
// the ends); both are lower-cased.
func hasWord(s, w []byte) bool {
	for off := 0; off+len(w) <= len(s); {
		i := bytes.Index(s[off:], w)
		if i < 0 {
			return false
		}
		i += off
		if (i == 0 || !isAlnum(s[i-1])) && (i+len(w) == len(s) || !isAlnum(s[i+len(w)])) {
			return true
		}
		off = i + 1
	}
	return false
}

func anyString(lowered []string, v string, f func(s, lower string) bool) bool {
	for _, l := range lowered {
		if f(v, l) {
			return true
		}
	}
	return false
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// lowerASCII lower-cases the ASCII letters of s (plan operands, at parse).
func lowerASCII(s string) string {
	b := []byte(s)
	for i := range b {
		b[i] = lowerByte(b[i])
	}
	return string(b)
}

// equalFold reports whether s equals lower, ignoring ASCII case; lower is
// already lower-cased.
func equalFold(s, lower string) bool {
	return len(s) == len(lower) && prefixFold(s, lower)
}

// prefixFold reports whether s starts with lower, ignoring ASCII case.
func prefixFold(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		if lowerByte(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// containsFold reports whether lower occurs in s, ignoring ASCII case.
func containsFold(s, lower string) bool {
	return indexFold(s, lower) >= 0
}

// indexFold returns the index of the first occurrence of lower in s,
// ignoring ASCII case, or -1. It jumps between candidate first bytes with
// strings.IndexByte, so it allocates nothing and is fast on long URLs.
func indexFold(s, lower string) int {
	n := len(lower)
	if n == 0 {
		return 0
	}
	lo, up := lower[0], lower[0]
	if 'a' <= lo && lo <= 'z' {
		up = lo - 'a' + 'A'
	}
	for i := 0; i+n <= len(s); i++ {
		j := indexByte2(s[i:len(s)-n+1], lo, up)
		if j < 0 {
			return -1
		}
		i += j
		if prefixFold(s[i:], lower) {
			return i
		}
	}
	return -1
}

// indexByte2 returns the first index of a or b in s, or -1.
func indexByte2(s string, a, b byte) int {
	i := strings.IndexByte(s, a)
	if a == b {
		return i
	}
	if i >= 0 {
		s = s[:i] // b only matters before the first a
	}
	if j := strings.IndexByte(s, b); j >= 0 {
		return j
	}
	return i
}

// wordFold reports whether lower occurs in s as whole words, ignoring
// ASCII case: not preceded or followed by an ASCII letter or digit. So
// "cto" matches "CTO" and "CTO / Co-Founder" but not "Director"; "vice
// president" matches "Vice President, Sales".
func wordFold(s, lower string) bool {
	for off := 0; off+len(lower) <= len(s); off++ {
		i := indexFold(s[off:], lower)
		if i < 0 {
			return false
		}
		i += off
		if (i == 0 || !isAlnum(s[i-1])) && (i+len(lower) == len(s) || !isAlnum(s[i+len(lower)])) {
			return true
		}
		off = i
	}
	return false
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// parseNumber reads the number a property or trait holds, for gte and lte.
// Besides plain numbers ("250", "-1.5", "2e3") it reads the lower bound of
// the ranges forms and CRMs use for company sizes: "51-200" and "1000+"
// read as 51 and 1000. Surrounding spaces are ignored. It never allocates:
// the text is checked before strconv sees it.
func parseNumber(s string) (float64, bool) {
	s = trimSpace(s)
	n := numberPrefix(s)
	if n == 0 {
		return 0, false
	}
	rest := trimSpace(s[n:])
	switch {
	case rest == "" || rest == "+":
	case rest[0] == '-' || strings.HasPrefix(rest, "–"):
		hi := strings.TrimPrefix(rest, "–")
		if hi == rest {
			hi = rest[1:]
		}
		hi = trimSpace(hi)
		if m := numberPrefix(hi); m == 0 || m != len(hi) {
			return 0, false
		}
	default:
		return 0, false
	}
	if v, ok := smallInt(s[:n]); ok {
		return v, true
	}
	f, err := strconv.ParseFloat(s[:n], 64)
	if err != nil { // out of range: only the error path allocates
		return 0, false
	}
	return f, true
}

// smallInt reads a plain integer of at most 15 digits (exact in a
// float64), the common case, faster than strconv.
func smallInt(s string) (float64, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg, s = s[0] == '-', s[1:]
	}
	if s == "" || len(s) > 15 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int64(s[i]-'0')
	}
	if neg {
		v = -v
	}
	return float64(v), true
}

// numberPrefix returns the length of the decimal number s starts with:
// [+-]digits[.digits][(e|E)[+-]digits], or 0.
func numberPrefix(s string) int {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	start := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	digits := i - start
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		if j > i+1 {
			digits += j - i - 1
			i = j
		} else if digits > 0 {
			i = j // "5." is a number
		}
	}
	if digits == 0 {
		return 0
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && '0' <= s[k] && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	return i
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
