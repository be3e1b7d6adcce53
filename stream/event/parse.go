package event

// The number and time parsers below read the text the producer wrote
// instead of going through float64 or time.Parse: money must not pick up
// binary rounding, and time.Parse allocates a *time.Location for every
// numeric zone offset that is not the host's.

// parseMoney parses the text of a JSON number as a non-negative amount in
// minor units (cents). Up to two decimals are exact ("19.9" is 1990); a
// third decimal rounds half up ("0.125" is 13) and later ones are ignored,
// which is the same as rounding half up on the whole fraction. It returns
// a problem description instead of an error so that the caller can name
// the field.
func parseMoney(s string) (int64, string) {
	if s == "" {
		return 0, "not a number"
	}
	if s[0] == '-' {
		return 0, "must not be negative"
	}
	var units int64
	i := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		units = units*10 + int64(s[i]-'0')
		if units > MaxMoney/100 {
			return 0, "too large"
		}
	}
	if i == 0 {
		return 0, "not a number"
	}
	var cents int64
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for ; i < len(s) && isDigit(s[i]); i++ {
			switch d := int64(s[i] - '0'); i - start {
			case 0:
				cents += 10 * d
			case 1:
				cents += d
			case 2:
				if d >= 5 {
					cents++
				}
			}
		}
		if i == start {
			return 0, "not a number"
		}
	}
	if i < len(s) {
		if s[i] == 'e' || s[i] == 'E' {
			return 0, "exponent notation is not accepted, write a plain decimal such as 1500.00"
		}
		return 0, "not a number"
	}
	n := units*100 + cents
	if n > MaxMoney {
		return 0, "too large"
	}
	return n, ""
}

// parseQuantity parses the text of a JSON number as a whole number in
// 1..MaxQuantity.
func parseQuantity(s string) (int32, string) {
	if s != "" && s[0] == '-' {
		return 0, "must be at least 1"
	}
	var n int64
	i := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		n = n*10 + int64(s[i]-'0')
		if n > MaxQuantity {
			return 0, "must be at most 1000000"
		}
	}
	switch {
	case i == 0:
		return 0, "not a number"
	case i < len(s):
		return 0, "must be a whole number"
	case n < 1:
		return 0, "must be at least 1"
	}
	return int32(n), ""
}

// parseTime parses an RFC 3339 date-time such as "2026-11-24T06:00:00Z",
// "2026-11-24T06:00:00.123Z" or "2026-11-24T07:00:00+01:00" into Unix
// milliseconds. Fractional digits beyond the millisecond are truncated.
// Lower-case 't' and 'z' are accepted, as RFC 3339 allows; a leap second
// (":60") is not, as in time.Parse.
func parseTime(s string) (int64, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") ||
		s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	y1, ok1 := digits2(s, 0)
	y2, ok2 := digits2(s, 2)
	month, ok3 := digits2(s, 5)
	day, ok4 := digits2(s, 8)
	hour, ok5 := digits2(s, 11)
	minute, ok6 := digits2(s, 14)
	sec, ok7 := digits2(s, 17)
	year := y1*100 + y2
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(year, month) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	rest := s[19:]
	var ms int64
	if rest[0] == '.' {
		i := 1
		for ; i < len(rest) && isDigit(rest[i]); i++ {
			if i <= 3 {
				ms = ms*10 + int64(rest[i]-'0')
			}
		}
		if i == 1 {
			return 0, false
		}
		for j := i; j <= 3; j++ { // ".5" is 500 ms
			ms *= 10
		}
		rest = rest[i:]
	}
	var offset int64 // minutes east of UTC
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digits2(rest, 1)
		om, okm := digits2(rest, 4)
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, false
		}
		offset = oh*60 + om
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	days := daysFromCivil(year, month, day)
	return ((days*24+hour)*60+minute-offset)*60_000 + sec*1000 + ms, true
}

// digits2 parses the two decimal digits at s[i:i+2]. A byte that is not
// a digit wraps around to more than 9 when '0' is subtracted.
func digits2(s string, i int) (int64, bool) {
	a, b := s[i]-'0', s[i+1]-'0'
	return int64(a)*10 + int64(b), a <= 9 && b <= 9
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func daysIn(year, month int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm, valid for years 0..9999 here).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12 // March is 0
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// validNumber reports whether s is a number in the JSON grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(s []byte) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i == len(s):
		return false
	case s[i] == '0':
		i++
	case '1' <= s[i] && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}
