package event

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestPlainEnd holds the 8-bytes-at-a-time scan of plainEnd to a byte by
// byte one: every byte value at every position, and random words mixing
// the bytes that end a plain string, where borrows and carries between
// bytes could mark the wrong one.
func TestPlainEnd(t *testing.T) {
	ends := func(c byte) bool { return !plain[c] || c == 0x7f }
	want := func(data []byte) int {
		for j := 0; j+8 <= len(data); j += 8 {
			for k := j; k < j+8; k++ {
				if ends(data[k]) {
					return k
				}
			}
		}
		return -1
	}
	check := func(data []byte) {
		t.Helper()
		if got, w := plainEnd(data, 0), want(data); got != w {
			t.Fatalf("plainEnd(%q) = %d, want %d", data, got, w)
		}
	}
	for c := range 256 {
		for pos := range 16 {
			for _, fill := range []byte{'a', '~', ' ', '!', '#', '[', ']'} {
				data := []byte(strings.Repeat(string(fill), 16))
				data[pos] = byte(c)
				check(data)
			}
		}
	}
	special := []byte{0, 0x01, 0x1f, 0x20, 0x21, '"', 0x23, '\\', 0x5b, 0x5d, 0x7e, 0x7f, 0x80, 0xc2, 0xfe, 0xff}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		data := make([]byte, 16)
		for i := range data {
			if r.IntN(3) == 0 {
				data[i] = special[r.IntN(len(special))]
			} else {
				data[i] = byte(r.IntN(256))
			}
		}
		check(data)
	}
}

// TestErrorDoesNotAliasRecord: an *Error may be kept (it goes into a
// dead-letter header), so its Field must not point into the record or the
// decoder's buffers. The fastjson decoder returned the key of a repeated
// unknown envelope field as Field without copying it, so the next Decode
// rewrote it.
func TestErrorDoesNotAliasRecord(t *testing.T) {
	for _, first := range []string{`{"zz":1,"zz":2}`, `{"z\u007a":1,"zz":2}`, `{"zz":01}`, `{"t\u0079pe":"a","type":"b"}`} {
		d := testDecoder()
		var e Event
		data := []byte(first)
		err := d.Decode(data, 0, &e)
		var de *Error
		if !errors.As(err, &de) || de.Reason != ReasonInvalidJSON || de.Field == "" {
			t.Fatalf("%s: err = %v", first, err)
		}
		field := strings.Clone(de.Field)
		for i := range data {
			data[i] = 'x'
		}
		_ = d.Decode([]byte(`{"ab":1,"ab":2,"c\u0064":1,"cd":2}`), 0, &e)
		if de.Field != field {
			t.Errorf("%s: Field changed from %q to %q", first, field, de.Field)
		}
	}
}

// TestDepth: a value may be nested 300 levels deep, the record itself
// being the first; deeper is invalid_json without a Field, and the
// decoder must not recurse without bound.
func TestDepth(t *testing.T) {
	const ok = `{"type":"opened","id":"e","email":"a@b","timestamp":"2026-11-24T06:00:00Z","x":`
	nest := func(levels int, inner string) string {
		return ok + strings.Repeat("[", levels) + inner + strings.Repeat("]", levels) + "}"
	}
	// A large MaxSize, for a record of 100,000 levels.
	d := NewDecoder(Config{MaxSize: 1 << 20, Now: func() time.Time { return testNow }})
	var e Event
	// The record is level 1 and "x" level 2: 298 arrays put 1 at level 300.
	for _, s := range []string{nest(298, "1"), nest(299, ""), nest(298, `{}`)} {
		if err := d.Decode([]byte(s), 0, &e); err != nil {
			t.Errorf("depth 300: %v", err)
		}
	}
	for _, s := range []string{nest(299, "1"), nest(299, `"s"`), nest(300, ""), nest(299, "{}"),
		strings.Repeat(`{"a":`, 100_000)} {
		err := d.Decode([]byte(s), 0, &e)
		var de *Error
		if !errors.As(err, &de) || de.Reason != ReasonInvalidJSON || de.Field != "" {
			t.Errorf("depth 301: err = %v", err)
		}
	}
}

// TestFieldTables: the key switches and the name tables of the slots must
// agree.
func TestFieldTables(t *testing.T) {
	tables := []struct {
		which int
		names []string
	}{
		{objContext, ctxNames[:]},
		{objUTM, utmNames[:]},
		{objProperties, propNames[:]},
		{objItem, itemNames[:]},
	}
	for _, tt := range tables {
		for i, name := range tt.names {
			if got := field(tt.which, name); got != i {
				t.Errorf("field(%d, %q) = %d, want %d", tt.which, name, got, i)
			}
			if got := field(tt.which, name+"x"); got != -1 {
				t.Errorf("field(%d, %q) = %d", tt.which, name+"x", got)
			}
		}
	}
	for i, name := range []string{"type", "id", "contact_id", "email", "anonymous_id", "timestamp", "context", "properties"} {
		if got := envField(name); got != i {
			t.Errorf("envField(%q) = %d, want %d", name, got, i)
		}
	}
	for i, s := range propNameTexts {
		if got := statics[s.lo:s.hi]; got != propNames[i] {
			t.Errorf("propNameTexts[%d] = %q, want %q", i, got, propNames[i])
		}
	}
	for s, want := range map[span]string{textTrue: "true", textFalse: "false", textEUR: "EUR"} {
		if got := statics[s.lo:s.hi]; got != want {
			t.Errorf("static text %q, want %q", got, want)
		}
	}
}
