package api

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kairos-engine/kairos/state"
)

var trickyStrings = []string{
	"",
	"plain",
	`quote " backslash \ slash /`,
	"\x00\x01\x07\x08\x09\x0a\x0b\x0c\x0d\x1b\x1f\x7f",
	"<script>alert('&')</script>",
	"line\u2028sep\u2029para",
	"ünïcødé 日本語 🎉",
	"\xff",                    // invalid byte
	"a\xc3",                   // truncated 2-byte sequence
	"\xe2\x82",                // truncated 3-byte sequence
	"\xed\xa0\x80",            // UTF-16 surrogate encoded in UTF-8: invalid
	"\xf4\x90\x80\x80",        // above U+10FFFF
	"\xc0\xaf",                // overlong '/'
	"ok\xffthen\xfe\xfdend",   // several invalid bytes
	"\u0080\u0085\u009f",      // C1 controls: valid UTF-8, not escaped by JSON
	"\ufffd real replacement", // a real U+FFFD
	strings.Repeat("x", 300) + "\n",
}

// TestAppendJSONString checks that every output is valid JSON, decodes to
// what encoding/json decodes its own encoding to, and is byte-identical to
// encoding/json's output.
func TestAppendJSONString(t *testing.T) {
	for _, s := range trickyStrings {
		checkJSONString(t, s)
	}
}

func checkJSONString(t *testing.T, s string) {
	t.Helper()
	got := appendJSONString([]byte("prefix"), s)
	if string(got[:6]) != "prefix" {
		t.Fatalf("%q: prefix overwritten", s)
	}
	got = got[6:]
	if !json.Valid(got) {
		t.Fatalf("%q: invalid JSON %s", s, got)
	}
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var gotS, wantS string
	if err := json.Unmarshal(got, &gotS); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	if err := json.Unmarshal(want, &wantS); err != nil {
		t.Fatal(err)
	}
	if gotS != wantS {
		t.Errorf("%q: decodes to %q, encoding/json's to %q", s, gotS, wantS)
	}
	if utf8.ValidString(s) && gotS != s {
		t.Errorf("%q: valid UTF-8 does not round-trip: %q", s, gotS)
	}
	if string(got) != string(want) {
		t.Errorf("%q: %s, encoding/json writes %s", s, got, want)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkJSONString(t, s) })
}

func TestAppendMoney(t *testing.T) {
	for _, tt := range []struct {
		minor int64
		want  string
	}{
		{0, "0.00"}, {1, "0.01"}, {10, "0.10"}, {99, "0.99"}, {100, "1.00"}, {1999, "19.99"},
		{-5, "-0.05"}, {-1999, "-19.99"}, {123456789, "1234567.89"},
		{math.MaxInt64, "92233720368547758.07"}, {math.MinInt64, "-92233720368547758.08"},
	} {
		got := string(appendMoney(nil, tt.minor))
		if got != tt.want {
			t.Errorf("appendMoney(%d) = %s, want %s", tt.minor, got, tt.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("appendMoney(%d) = %s: not a JSON number", tt.minor, got)
		}
	}
}

func TestAppendScore(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{0, "0"}, {4, "4"}, {0.5, "0.5"}, {1.0 / 3, "0.333333"}, {1e-9, "1e-09"}, {1234567, "1.23457e+06"},
		{math.NaN(), "0"}, {math.Inf(1), "0"}, {math.Inf(-1), "0"},
	} {
		got := string(appendScore(nil, tt.f))
		if got != tt.want || !json.Valid([]byte(got)) {
			t.Errorf("appendScore(%v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}

// TestAppendTime compares the integer formatter with time.Format over the
// edges of its range and random instants.
func TestAppendTime(t *testing.T) {
	if got := string(appendTime(nil, 0)); got != "null" {
		t.Errorf("appendTime(0) = %s", got)
	}
	ref := func(ms int64) string {
		return `"` + time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`
	}
	cases := []int64{
		1, -1, 999, -999, 1000, -1000, 86_399_999, 86_400_000, -86_400_000,
		time.Date(2000, 2, 29, 23, 59, 59, 999e6, time.UTC).UnixMilli(),
		time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		time.Date(2100, 2, 28, 12, 0, 0, 1e6, time.UTC).UnixMilli(),
		minRFC3339Millis, minRFC3339Millis - 1, maxRFC3339Millis - 1, maxRFC3339Millis,
		math.MaxInt64, math.MinInt64 + 1,
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		cases = append(cases, r.Int64N(maxRFC3339Millis-minRFC3339Millis)+minRFC3339Millis)
	}
	for _, ms := range cases {
		if ms == 0 {
			continue
		}
		got := string(appendTime(nil, ms))
		if want := ref(ms); got != want {
			t.Fatalf("appendTime(%d) = %s, want %s", ms, got, want)
		}
		if !json.Valid([]byte(got)) {
			t.Fatalf("appendTime(%d) = %s: invalid JSON", ms, got)
		}
		if ms >= minRFC3339Millis && ms < maxRFC3339Millis {
			if _, err := time.Parse(time.RFC3339Nano, got[1:len(got)-1]); err != nil {
				t.Fatalf("appendTime(%d) = %s: not RFC 3339: %v", ms, got, err)
			}
		}
	}
}

func BenchmarkAppendTime(b *testing.B) {
	var buf []byte
	ms := time.Date(2025, 3, 1, 9, 30, 0, 250e6, time.UTC).UnixMilli()
	for b.Loop() {
		buf = appendTime(buf[:0], ms)
	}
}

func BenchmarkAppendJSONString(b *testing.B) {
	s := "ann@example.com " + strconv.Itoa(42) + " ünïcødé"
	var buf []byte
	for b.Loop() {
		buf = appendJSONString(buf[:0], s)
	}
}

// TestRenderTrickyStrings puts hostile strings in every string field of a
// contact: the profile must stay valid JSON.
func TestRenderTrickyStrings(t *testing.T) {
	for _, s := range trickyStrings {
		c := annContact()
		c.ContactID, c.EmailAddr, c.Phone, c.TimeZone, c.Language = s, s, s, s, s
		c.Aliases = []state.Key{state.MakeKey(state.IDAnonymous, s), state.MakeKey(state.IDEmail, s)}
		c.Traits = []state.Trait{{Name: s, Value: s}, {Name: s + "2", Value: s}}
		c.Consent.Lists = []state.ListConsent{{List: s}}
		c.Recent[0].Ref = s
		c.Categories[0].Name, c.Products[0].Name = s, s
		c.Cart.Items[0].SKU, c.Cart.Items[0].Category = s, s
		c.Orders.Currency, c.Orders.Recent[0].ID, c.Orders.Recent[0].Currency = s, s, s
		c.Orders.Recent[1].Categories = []string{s}
		out := appendContact(nil, state.MakeKey(state.IDContact, s), c, t0)
		if !json.Valid(out) {
			t.Errorf("%q: invalid JSON: %s", s, out)
		}
	}
}
