package trigger

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/state"
)

func randomState(r *rand.Rand) ContactState {
	var s ContactState
	for ch := range s.Sends {
		at := r.Int64N(1e12)
		for range r.IntN(MaxSends + 4) {
			at += r.Int64N(1e9)
			s.sent(ch, at)
		}
	}
	for range r.IntN(10) {
		name := "r" + strconv.Itoa(r.IntN(40))
		rule := name
		if r.IntN(3) == 0 {
			rule, name = name, deferSlot(Channel(r.IntN(3)))
		}
		due := r.Int64N(2e12) - 1e11
		s.setTimer(Armed{Name: name, Rule: rule, Due: due, Cause: due - r.Int64N(1e10), Priority: int32(r.IntN(1001))})
	}
	for range r.IntN(10) {
		s.fired("f"+strconv.Itoa(r.IntN(200)), r.Int64N(2e12), func(string) bool { return true })
	}
	return s
}

// TestContactStateRoundTrip: decode(encode(s)) == s for random states,
// and the encoding of a decoded state is the same bytes.
func TestContactStateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 2000 {
		s := randomState(r)
		b := s.AppendBinary(nil)
		var got ContactState
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		norm := func(x *ContactState) {
			for ch := range x.Sends {
				if len(x.Sends[ch]) == 0 {
					x.Sends[ch] = nil
				}
			}
			if len(x.Timers) == 0 {
				x.Timers = nil
			}
			if len(x.Fired) == 0 {
				x.Fired = nil
			}
		}
		norm(&s)
		norm(&got)
		if !reflect.DeepEqual(s, got) {
			t.Fatalf("case %d:\n got %+v\nwant %+v", i, got, s)
		}
		if b2 := got.AppendBinary(nil); !bytes.Equal(b, b2) {
			t.Fatalf("case %d: re-encoding differs", i)
		}
	}
}

func TestContactStateBounds(t *testing.T) {
	var s ContactState
	for i := range 100 {
		s.sent(0, int64(i))
		s.fired("rule-"+strconv.Itoa(i*7%300), int64(i), func(id string) bool { return id != "rule-7" })
	}
	if len(s.Sends[0]) != MaxSends || s.Sends[0][0] != 100-MaxSends {
		t.Fatalf("sends %v", s.Sends[0])
	}
	// A late emission goes in place.
	s.sent(0, 90)
	if s.Sends[0][MaxSends-1] != 99 || len(s.Sends[0]) != MaxSends {
		t.Fatalf("sends %v", s.Sends[0])
	}
	if len(s.Fired) > maxFired {
		t.Fatalf("%d fired entries", len(s.Fired))
	}
	var empty ContactState
	if b := empty.AppendBinary(nil); len(b) != 0 {
		t.Fatalf("empty state encodes to %d bytes", len(b))
	}
}

func TestContactStateCorrupt(t *testing.T) {
	good := func() []byte {
		s := ContactState{Timers: []Armed{{Name: "a", Rule: "a", Due: 5}}}
		return s.AppendBinary(nil)
	}
	cases := map[string][]byte{
		"version":   {9},
		"truncated": good()[:len(good())-1],
		"trailing":  append(good(), 0),
		"too many":  {1, 200, 1},
	}
	for name, b := range cases {
		var s ContactState
		if err := s.UnmarshalBinary(b); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzContactState: the decoder never panics, and whatever it accepts
// re-encodes to a state that decodes the same.
func FuzzContactState(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	for range 8 {
		s := randomState(r)
		f.Add(s.AppendBinary(nil))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var s ContactState
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		b := s.AppendBinary(nil)
		var s2 ContactState
		if err := s2.UnmarshalBinary(b); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(b, s2.AppendBinary(nil)) {
			t.Fatal("unstable encoding")
		}
	})
}

// FuzzPayload: whatever strings a contact holds (they come from outside
// events), the payload is valid JSON and keeps them.
func FuzzPayload(f *testing.F) {
	f.Add("Ann", "ann@example.com", "SHOE-42", "shoes", "fr")
	f.Add("\x00\"\\\n\u2028", "\xff\xfe", "<script>", "é", "")
	f.Fuzz(func(t *testing.T, name, email, sku, cat, lang string) {
		c := &state.Contact{
			Key: state.MakeKey(state.IDContact, name), EmailAddr: email, Phone: sku, Language: lang, TimeZone: cat,
			Traits:  []state.Trait{{Name: "first_name", Value: name}},
			Recent:  []state.RecentEvent{{Type: state.EventProductView, Ref: sku}},
			Cart:    state.Cart{Items: []state.CartItem{{SKU: sku, Category: cat, Quantity: 1, Price: 1999}}},
			Orders:  state.Orders{Count: 1, Recent: []state.Order{{ID: sku, Flags: state.OrderPlaced, Categories: []string{cat}, Currency: lang}}},
			Scores:  state.Scores{Stage: 3, Segment: 8},
			Consent: state.Consent{},
		}
		c.Categories = []state.Affinity{{Name: cat, Score: 1}}
		r := &Rule{ID: "r", Fields: ^Field(0), Expires: time.Hour}
		p := &Payload{TriggerID: "x", Rule: r, Contact: c, Reason: name + email, CauseType: state.EventOrderPlaced, CauseRef: sku}
		b := AppendPayload(nil, p)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON: %q", b)
		}
		var doc struct {
			ContactID string `json:"contact_id"`
			Contact   struct {
				Email string `json:"email"`
			} `json:"contact"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if validUTF8(name) && doc.ContactID != name {
			t.Fatalf("contact_id %q, want %q", doc.ContactID, name)
		}
		if validUTF8(email) && doc.Contact.Email != email {
			t.Fatalf("email %q, want %q", doc.Contact.Email, email)
		}
	})
}

func validUTF8(s string) bool {
	return json.Valid([]byte(strconv.Quote(s))) && string([]rune(s)) == s
}

// FuzzParseRules: a rule file, however broken, is an error, never a panic,
// and an accepted one builds an engine.
func FuzzParseRules(f *testing.F) {
	f.Add(DefaultRulesYAML())
	f.Add([]byte("version: \"1\"\nrules:\n  - {id: a, journey: welcome, channel: email, kind: marketing, on: {event: signup}, wait: {for: 1h}}\n"))
	f.Add([]byte("version: \"1\"\npolicy: {quiet_hours: {start: \"21:00\", end: \"21:00\"}}\nrules: [{id: b, journey: loyalty, channel: sales, schedule: {trait_date: x, offset: -1d}}]\n"))
	f.Add([]byte("a: &x [*x]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseRules("fuzz.yaml", data)
		if err != nil {
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("error %T %v, want *RuleError", err, err)
			}
			return
		}
		if _, err := NewEngine(rs, DefaultTopics(), nil); err != nil {
			t.Fatalf("accepted rules do not build an engine: %v", err)
		}
	})
}
