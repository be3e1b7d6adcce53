package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/kairos-engine/kairos/state"
)

// FuzzDecode checks that no input panics the decoder, that every rejection
// is an *Error with a known Reason, that every accepted event keeps the
// contract's invariants, and that decoding is deterministic and never
// aliases a previous event.
func FuzzDecode(f *testing.F) {
	for _, c := range contractExamples {
		f.Add([]byte(c.JSON), uint8(c.Type.Stream()))
		f.Add([]byte(c.JSON), uint8(0))
	}
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"a":1} x`, `{"type":"page_view"`,
		`{"type":"order_placed","id":"e","contact_id":"c","timestamp":"2026-11-24T06:00:00Z","properties":{"order_id":"o","items":[{"sku":"a","price":1e400}],"total":-0}}`,
		`{"type":"identify","id":"e","email":" A@B ","anonymous_id":"a","timestamp":"2026-02-29T06:00:00Z","properties":{"traits":{"phone":null,"x":1.5e-7}}}`,
		`{"type":"page_view","id":"\ud800","anonymous_id":"\u0000","timestamp":"2026-11-24T06:00:00.999999999-23:59"}`,
		`{"type":"page_view","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","context":{"timezone":"Local","utm":{"source":null}}}`,
		`{"type":"bounced","id":"e","email":"a@b","timestamp":"2026-11-24T06:00:00Z","properties":{"type":"soft","bounce_type":"hard"}}`,
		`{"t\u0079pe":"opened","id":"e","email":"a@b","timestamp":"2026-11-24T06:00:00Z","type":"sent"}`,
		`{"type":"page_view","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"a":NaN,"b":-Inf}}`,
		`{"type":"action_click","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"decision_id":"8f14e45fceea167a5a36dedd4bea254","action_id":"x"}}`,
		`{"type":"action_dismiss","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"decision_id":"8F14E45FCEEA167A5A36DEDD4BEA254g","action_id":"x"}}`,
		`{"type":"action_click","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{"decision_id":"8f14e45fceea167a5a36dedd4bea2543"}}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	now := testNow
	minMS := NewDecoder(Config{}).minMS
	maxMS := now.Add(DefaultMaxFuture).UnixMilli()
	d := testDecoder()
	var other Event
	f.Fuzz(func(t *testing.T, data []byte, streamByte uint8) {
		stream := state.Stream(streamByte % 4)
		input := slices.Clone(data)
		var e Event
		err := d.Decode(data, stream, &e)
		if !slices.Equal(data, input) {
			t.Fatal("Decode modified its input")
		}
		// A fresh decoder must agree: nothing leaks from one record to the next.
		var fresh Event
		err2 := testDecoder().Decode(data, stream, &fresh)
		if fmt.Sprint(err) != fmt.Sprint(err2) || fmt.Sprintf("%+v", e) != fmt.Sprintf("%+v", fresh) {
			t.Fatalf("decoder state leaks between records:\n%v %+v\n%v %+v", err, e, err2, fresh)
		}
		// The decoder has its own scanner; it must agree with real JSON
		// validators on what is valid JSON. fastjson's misses a raw control
		// character in a string before an escape ("\x00\\n"), which the
		// decoder refuses, as RFC 8259 does: valid means valid for both
		// fastjson and encoding/json.
		strictOK := utf8.Valid(data) && fastjson.ValidateBytes(data) == nil && json.Valid(data)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error is %T, not *Error: %v", err, err)
			}
			if de.Reason == ReasonInvalidJSON && strictOK && len(data) <= DefaultMaxSize &&
				de.Detail != "duplicate key" && de.Detail != "an event must be a JSON object" &&
				!strings.Contains(de.Detail, detailTooDeep) {
				t.Fatalf("valid JSON refused as invalid_json: %v", err)
			}
			if !slices.Contains(Reasons(), de.Reason) {
				t.Fatalf("unknown reason %q", de.Reason)
			}
			if !reflect.DeepEqual(e, Event{Items: e.Items, Traits: e.Traits, Props: e.Props}) ||
				len(e.Items)+len(e.Traits)+len(e.Props) != 0 {
				t.Fatalf("event not reset after %v: %+v", err, e)
			}
			if len(err.Error()) > 1024 {
				t.Fatalf("error message of %d bytes", len(err.Error()))
			}
			return
		}
		if !strictOK {
			t.Fatalf("invalid JSON accepted: %q", data)
		}
		checkInvariants(t, &e, stream, minMS, maxMS)
		before := fmt.Sprintf("%+v", e)
		_ = d.Decode([]byte(example(state.EventOrderPlaced)), 0, &other)
		if after := fmt.Sprintf("%+v", e); after != before {
			t.Fatalf("event changed when the decoder was reused:\n%s\n%s", before, after)
		}
	})
}

func checkInvariants(t *testing.T, e *Event, stream state.Stream, minMS, maxMS int64) {
	t.Helper()
	switch {
	case e.Type == state.EventUnknown || e.Type >= state.NumEventTypes:
		t.Fatalf("type %d accepted", e.Type)
	case stream != 0 && e.Type.Stream() != stream:
		t.Fatalf("%s accepted on stream %d", e.Type, stream)
	case e.ID == "" || len(e.ID) > MaxIDLen:
		t.Fatalf("id %q accepted", e.ID)
	case e.ContactID == "" && e.Email == "" && e.AnonymousID == "":
		t.Fatal("event without identifier accepted")
	case e.Time < minMS || e.Time > maxMS:
		t.Fatalf("time %d outside [%d, %d]", e.Time, minMS, maxMS)
	case len(e.Items) > MaxItems || len(e.Props) > MaxProps || len(e.Traits) > state.MaxTraits:
		t.Fatalf("bounds exceeded: %d items, %d props, %d traits", len(e.Items), len(e.Props), len(e.Traits))
	case e.Price < 0 || e.Total < 0 || e.Amount < -1 || e.Price > MaxMoney || e.Total > MaxMoney || e.Amount > MaxMoney:
		t.Fatalf("money out of range: %d %d %d", e.Price, e.Total, e.Amount)
	case e.Email != "" && e.Email != state.NormalizeEmail(e.Email):
		t.Fatalf("email %q not normalised", e.Email)
	case (e.Context.TimeZone == "") != (e.Context.Location == nil):
		t.Fatalf("time zone %q with location %v", e.Context.TimeZone, e.Context.Location)
	}
	switch e.Type {
	case state.EventAddToCart, state.EventRemoveFromCart:
		if e.SKU == "" || e.Quantity < 1 || e.Quantity > MaxQuantity {
			t.Fatalf("cart event with sku %q quantity %d", e.SKU, e.Quantity)
		}
	case state.EventOrderPlaced:
		if e.OrderID == "" || len(e.Items) == 0 || len(e.Currency) != 3 {
			t.Fatalf("order %q with %d items, currency %q", e.OrderID, len(e.Items), e.Currency)
		}
		for _, it := range e.Items {
			if it.SKU == "" || it.Quantity < 1 || it.Price < 0 || it.Price > MaxMoney {
				t.Fatalf("bad item %+v", it)
			}
		}
	case state.EventEmailBounced:
		if e.Bounce != BounceHard && e.Bounce != BounceSoft {
			t.Fatalf("bounce %d", e.Bounce)
		}
	case state.EventActionClick, state.EventActionDismiss:
		if len(e.DecisionID) != 32 || e.Action == "" || hasControl(e.Action) {
			t.Fatalf("outcome with decision %q action %q", e.DecisionID, e.Action)
		}
	}
	for _, id := range []string{e.ID, e.ContactID, e.Email, e.AnonymousID} {
		if hasControl(id) {
			t.Fatalf("identifier %q with a control character", id)
		}
	}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			if !utf8.ValidString(v.String()) {
				t.Fatalf("invalid UTF-8 in %q", v.String())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		}
	}
	walk(reflect.ValueOf(e).Elem())
}
