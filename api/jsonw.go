package api

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The API writes its JSON by appending to a byte slice instead of going
// through encoding/json: a profile has a fixed shape, and writing it directly
// costs a fraction of reflection-based marshalling and allocates nothing.
// These are the primitives; render.go composes them.

const hexDigits = "0123456789abcdef"

// jsonSafe[b] reports whether the ASCII byte b is written as itself inside a
// JSON string. Bytes >= utf8.RuneSelf are false: they go through UTF-8
// validation. The table is computed once and never written again.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = true
	}
	// '"' and '\\' must be escaped; '<', '>' and '&' are escaped as
	// encoding/json does, so a response embedded in HTML cannot close a
	// <script> element.
	for _, b := range `"\<>&` {
		t[b] = false
	}
	return t
}()

// appendJSONString appends s as a quoted JSON string. It produces the same
// bytes as encoding/json.Marshal: control characters are escaped (\n, \r, \t,
// \b, \f by name, the others as \u00XX), '<', '>' and '&' as \u003c, \u003e
// and \u0026, U+2028 and U+2029 as \u2028 and \u2029 (JavaScript line
// terminators), and every byte that is not part of valid UTF-8 becomes
// U+FFFD, so the output is always valid JSON whatever s holds.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendOptString appends s as a JSON string, or null when it is empty.
func appendOptString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, s)
}

// appendMoney appends an amount in minor units (cents) as a JSON number in
// major units with exactly two decimals: 1999 → 19.99, -5 → -0.05. It works
// on the integer, so no amount is ever rounded.
func appendMoney(dst []byte, minor int64) []byte {
	u := uint64(minor)
	if minor < 0 {
		dst = append(dst, '-')
		u = -u // two's complement magnitude; right for math.MinInt64 too
	}
	dst = strconv.AppendUint(dst, u/100, 10)
	frac := u % 100
	return append(dst, '.', byte('0'+frac/10), byte('0'+frac%10))
}

// appendScore appends a score as a JSON number with six significant
// digits, or 0 for NaN and infinities, which JSON cannot express.
func appendScore(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, '0')
	}
	return strconv.AppendFloat(dst, f, 'g', 6, 64)
}

// Unix milliseconds of 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z: the
// range whose years have the four digits RFC 3339 requires.
const (
	minRFC3339Millis = -62167219200000
	maxRFC3339Millis = 253402300800000
)

// appendTime appends a Unix-millisecond instant as a quoted RFC 3339 UTC
// timestamp with millisecond precision ("2025-03-01T09:30:00.250Z"), or
// null when ms is 0, the stored value for "never". It formats with integer
// arithmetic (days to civil date, Hinnant's algorithm) because a profile
// holds up to a hundred instants and time.Time.AppendFormat costs ~100ns
// each. Instants outside years 0000-9999 fall back to time.Format.
func appendTime(dst []byte, ms int64) []byte {
	if ms == 0 {
		return append(dst, "null"...)
	}
	if ms < minRFC3339Millis || ms >= maxRFC3339Millis {
		dst = append(dst, '"')
		dst = time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		return append(dst, '"')
	}
	secs := floorDiv(ms, 1000)
	milli := ms - secs*1000
	days := floorDiv(secs, 86400)
	sod := secs - days*86400
	y, m, d := civilFromDays(days)

	dst = append(dst, '"')
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = append2(dst, sod/3600)
	dst = append(dst, ':')
	dst = append2(dst, sod/60%60)
	dst = append(dst, ':')
	dst = append2(dst, sod%60)
	dst = append(dst, '.', byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10), 'Z', '"')
	return dst
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// civilFromDays converts days since 1970-01-01 to a proleptic Gregorian
// date (http://howardhinnant.github.io/date_algorithms.html#civil_from_days).
func civilFromDays(days int64) (y, m, d int64) {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100) // [0, 365]
	mp := (5*doy + 2) / 153                  // [0, 11], March-based
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func append2(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

func append4(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}
