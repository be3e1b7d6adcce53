package event

import (
	"encoding/binary"
	"slices"
	"strconv"
)

// The checks of a faulty record: one with a repeated key or a malformed
// number somewhere (see Decoder.faulty). No key may repeat, since parsers
// disagree on which value wins, so a filter upstream and Kairos could read
// different events from the same bytes; and the numbers must follow the
// JSON grammar. The decoder reports the first such fault the way it always
// has: each object is checked right before its reader looks its fields up,
// so that a wrong envelope field is reported before a fault inside the
// properties, and each fault is reported with its path. Well-formed
// records, nearly all of them, never come here.

// treeFault is a repeated key or a malformed number found by checkAt, and
// where.
type treeFault struct {
	path   string // built while unwinding: "meta.list[2].price"
	detail string
}

// checkObject checks the members of an object. The value of the key
// read, which has its own reader, is skipped; every other container is
// walked, so that what no reader looks at is checked too. path and index
// name the object in an error (index -1 outside arrays).
func (d *Decoder) checkObject(ms []member, path string, index int, read string) error {
	base := len(d.keys)
	var f *treeFault
	for i := range ms {
		m := &ms[i]
		key := d.text(m.key)
		d.keys = append(d.keys, key)
		if f != nil || key == read {
			continue
		}
		if _, f = d.checkAt(d.data, int(m.lo)); f != nil {
			f.path = clip(key) + f.path
		}
	}
	return d.endObject(base, f, path, index)
}

// endObject completes the check of an object whose keys are d.keys[base:]:
// it looks for a repeated key, pops the keys and turns a fault into an
// *Error.
func (d *Decoder) endObject(base int, f *treeFault, path string, index int) error {
	keys := d.keys[base:]
	if f == nil {
		if dup := duplicate(keys); dup != "" {
			f = &treeFault{path: clip(dup), detail: "duplicate key"}
		}
	}
	clear(keys)
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
	default:
		// A key alone would alias the record or d.buf.
		field = string([]byte(field))
	}
	return fail(ReasonInvalidJSON, field, f.detail)
}

// checkAt checks the valid value at data[i] and everything under it,
// depth first, and returns the index after it; it stops at the first
// fault. The keys of the objects being walked are stacked on d.keys.
func (d *Decoder) checkAt(data []byte, i int) (int, *treeFault) {
	switch data[i] {
	case '"':
		_, end := d.str(data, i)
		return end, nil
	case '{':
		i = ws(data, i+1)
		if data[i] == '}' {
			return i + 1, nil
		}
		base := len(d.keys)
		for {
			var k span
			k, i = d.str(data, i)
			key := d.text(k)
			d.keys = append(d.keys, key)
			var f *treeFault
			if i, f = d.checkAt(data, d.colon(data, i)); f != nil {
				f.path = "." + clip(key) + f.path
				clear(d.keys[base:])
				d.keys = d.keys[:base]
				return -1, f
			}
			if i = ws(data, i); data[i] != ',' {
				break
			}
			i = ws(data, i+1)
		}
		var f *treeFault
		if dup := duplicate(d.keys[base:]); dup != "" {
			f = &treeFault{path: "." + clip(dup), detail: "duplicate key"}
		}
		clear(d.keys[base:])
		d.keys = d.keys[:base]
		return i + 1, f
	case '[':
		i = ws(data, i+1)
		if data[i] == ']' {
			return i + 1, nil
		}
		for n := 0; ; n++ {
			var f *treeFault
			if i, f = d.checkAt(data, i); f != nil {
				f.path = "[" + strconv.Itoa(n) + "]" + f.path
				return -1, f
			}
			if i = ws(data, i); data[i] != ',' {
				return i + 1, nil
			}
			i = ws(data, i+1)
		}
	}
	end, k := d.scalar(data, i)
	if k == kindNumber && !validNumber(data[i:end]) {
		return -1, &treeFault{detail: quote(string(data[i:end])) +
			" is not a JSON number (NaN, Inf, a leading zero or plus sign, a dangling '.' or exponent)"}
	}
	return end, nil
}

// members reads the members of the valid object at data[i] into d.nested,
// for a check.
func (d *Decoder) members(i int) []member {
	d.object(d.data, i, 0, objMembers, nil, &d.nested)
	return d.nested
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
// backslash: the records in which a malformed number has no path. It
// looks at 16 bytes per step: (x - 0x20 in every byte) &^ x has a byte's
// high bit set where that byte of x is below 0x20, and y = x ^ backslashes
// has a zero byte where x has a backslash.
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
