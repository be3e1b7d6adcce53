package event

import (
	"encoding/binary"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"
)

// get returns the value of name in o, nil when o is nil or the value is
// absent or null: null is how many serialisers write "not set".
func get(o *fastjson.Object, name string) *fastjson.Value {
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
func (d *Decoder) numText(v *fastjson.Value) string {
	off := len(d.num)
	d.num = v.MarshalTo(d.num)
	return b2s(d.num[off:])
}

// treeFault is what checkTree found wrong, and where.
type treeFault struct {
	path   string // built while unwinding: "meta.list[2].price"
	detail string
}

// checkObject checks an object before a reader looks its fields up: no key
// may repeat, since parsers disagree on which value wins, so a filter
// upstream and Kairos could read different events from the same bytes;
// and the numbers must follow the JSON grammar (see Decoder.numbers). The
// value of the key read, which has its own reader, is skipped; every
// other container is walked, so that what no reader looks at is checked
// too. path and index name o in an error (index -1 outside arrays).
func (d *Decoder) checkObject(o *fastjson.Object, path string, index int, read string) error {
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
func (d *Decoder) endObject(base int, f *treeFault, path string, index int) error {
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
func (d *Decoder) checkTree(v *fastjson.Value) *treeFault {
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

// duplicate returns a key that occurs twice in keys, or "". It may reorder
// keys.
func duplicate(keys []string) string {
	if len(keys) <= 16 {
		// Quadratic, but without sorting for the usual handful of keys.
		for i := 1; i < len(keys); i++ {
			for j := 0; j < i; j++ {
				if keys[i] == keys[j] {
					return keys[i]
				}
			}
		}
		return ""
	}
	slices.Sort(keys)
	for i := 1; i < len(keys); i++ {
		if keys[i] == keys[i-1] {
			return keys[i]
		}
	}
	return ""
}

// hasControlOrBackslash reports whether data holds a byte below 0x20 or a
// backslash: the rare records that need the full validator. It looks at
// 16 bytes per step: (x - 0x20 in every byte) &^ x has a byte's high bit
// set where that byte of x is below 0x20, and y = x ^ backslashes has a
// zero byte where x has a backslash.
func hasControlOrBackslash(data []byte) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
		bs    = '\\' * ones
	)
	var acc uint64
	for len(data) >= 16 {
		x := binary.LittleEndian.Uint64(data[:8])
		z := binary.LittleEndian.Uint64(data[8:16])
		y, w := x^bs, z^bs
		acc |= (x-0x20*ones)&^x | (y-ones)&^y | (z-0x20*ones)&^z | (w-ones)&^w
		data = data[16:]
	}
	if acc&highs != 0 {
		return true
	}
	for _, c := range data {
		if c < 0x20 || c == '\\' {
			return true
		}
	}
	return false
}

// b2s views b as a string without copying. Every string so made aliases
// the parser's buffer or d.num and is copied by Event.own before Decode
// returns.
func b2s(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
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
