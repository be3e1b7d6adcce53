package trigger

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
	"github.com/kairos-engine/kairos/stream/fold"
)

// BenchmarkEvaluate measures what the worker adds per event: Snap, Wants
// and, when wanted, Evaluate with the contact's trigger state decoded and
// re-encoded, on a mix dominated by page and product views.
func BenchmarkEvaluate(b *testing.B) { benchEvaluate(b, true) }

// BenchmarkEvaluateBaseline is the same loop without the trigger engine:
// the fold alone, to read BenchmarkEvaluate against.
func BenchmarkEvaluateBaseline(b *testing.B) { benchEvaluate(b, false) }

func benchEvaluate(b *testing.B, triggers bool) {
	rs, err := DefaultRules()
	if err != nil {
		b.Fatal(err)
	}
	eng, err := NewEngine(rs, DefaultTopics(), nil)
	if err != nil {
		b.Fatal(err)
	}
	f := fold.NewFolder()
	c := &state.Contact{Key: "c:42", ContactID: "42", EmailAddr: "ann@example.com"}
	base := ms("2026-03-10T10:00:00Z")
	mix := []event.Event{
		{Type: state.EventPageView, URL: "/shoes", Category: "shoes"},
		{Type: state.EventPageView, URL: "/bags", Category: "bags"},
		{Type: state.EventProductView, SKU: "S1", Category: "shoes"},
		{Type: state.EventPageView, URL: "/", Category: ""},
		{Type: state.EventProductView, SKU: "S2", Category: "bags"},
		{Type: state.EventSearch, Query: "boots"},
		{Type: state.EventAddToCart, SKU: "S1", Category: "shoes", Quantity: 1, Price: 1999},
		{Type: state.EventEmailOpened, Campaign: "weekly"},
	}
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = "ev-" + strconv.Itoa(i)
	}
	var cs ContactState
	var enc []byte
	acts := make([]Action, 0, 8)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e := &mix[i%len(mix)]
		e.ID = ids[i%len(ids)]
		e.Time = base + int64(i)*int64(time.Second/time.Millisecond)
		before := Snap(c)
		f.Apply(c, e)
		if !triggers {
			continue
		}
		in := Input{Before: &before, After: c, Event: e, Source: Source{Topic: "kairos.clickstream", Offset: int64(i)},
			Now: e.Time, PAliveBefore: math.NaN(), PAliveAfter: math.NaN(), State: &cs}
		if !eng.Wants(&in) {
			continue
		}
		if err := cs.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
		acts = eng.Evaluate(&in, acts[:0])
		if len(acts) > 0 {
			enc = cs.AppendBinary(enc[:0])
		}
	}
}
