package nba

import (
	"errors"
	"testing"
	"time"
)

func TestLedger(t *testing.T) {
	cat, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	t0 := testNow
	d1, d2 := DecisionID{1}, DecisionID{2}
	rec := func(id DecisionID, at time.Time, group string, control bool, actions ...string) *DecisionRecord {
		r := &DecisionRecord{DecisionID: id, At: at, Group: group, Control: control}
		for i, a := range actions {
			r.Choices = append(r.Choices, LoggedChoice{Action: a, Rank: i + 1})
		}
		return r
	}
	s := NewStats()
	var l Ledger
	if n := l.RecordDecision(cat, rec(d1, t0, "homepage/lead", false, "welcome-offer", "newsletter-signup", "gone-action"), s); n != 2 {
		t.Fatalf("impressions %d, want 2 (unknown action skipped)", n)
	}
	l.RecordDecision(cat, rec(d2, t0.Add(time.Minute), "homepage/customer", true, "promo-shoes"), s)

	// Round trip through the record's bytes.
	b, err := l.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var back Ledger
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	var h History
	if err := LedgerHistory(b, &h); err != nil || h.Len() != 3 {
		t.Fatalf("LedgerHistory: len %d err %v", h.Len(), err)
	}

	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	if got := back.RecordOutcome(cat, d1, "welcome-offer", OutcomeClick, ms(time.Hour), s); got != Attributed {
		t.Fatalf("click: %v", got)
	}
	if got := back.RecordOutcome(cat, d2, "welcome-offer", OutcomeClick, ms(time.Hour), s); got != NotShown {
		t.Fatalf("click of another decision: %v", got)
	}
	if got := back.RecordOutcome(cat, d1, "nope", OutcomeClick, ms(time.Hour), s); got != NotShown {
		t.Fatalf("unknown action: %v", got)
	}
	// Last touch: the order goes to promo-shoes (shown last), in the
	// control arm's cell of its decision.
	if got, a := back.RecordOrder(cat, ms(2*time.Hour), s); got != Attributed || a == nil || a.ID != "promo-shoes" {
		t.Fatalf("order: %v %v", got, a)
	}
	if got, _ := back.RecordOrder(cat, ms(3*time.Hour), s); got != AlreadyConverted {
		t.Fatalf("second order: %v", got)
	}
	checks := []struct {
		k    Key
		want Counts
	}{
		{Key{"welcome-offer", "homepage/lead", false}, Counts{Impressions: 1, Conversions: 1}},
		{Key{"newsletter-signup", "homepage/lead", false}, Counts{Impressions: 1}},
		{Key{"promo-shoes", "homepage/customer", true}, Counts{Impressions: 1, Conversions: 1}},
	}
	for _, c := range checks {
		if got := s.Get(c.k); got != c.want {
			t.Errorf("%+v: %+v, want %+v", c.k, got, c.want)
		}
	}
	if s.Decisions(false) != 1 || s.Decisions(true) != 1 {
		t.Errorf("decisions %d/%d", s.Decisions(false), s.Decisions(true))
	}

	for _, bad := range [][]byte{{5}, append(b[:len(b):len(b)], 0), b[:len(b)-1]} {
		if err := back.UnmarshalBinary(bad); !errors.Is(err, ErrBadLedger) {
			t.Errorf("%x: err %v", bad, err)
		}
	}
	var empty Ledger
	if b, _ := empty.AppendBinary(nil); len(b) != 0 {
		t.Errorf("empty ledger encodes as %x", b)
	}
}

func FuzzLedger(f *testing.F) {
	cat, _ := DefaultCatalogue()
	var l Ledger
	l.RecordDecision(cat, &DecisionRecord{DecisionID: DecisionID{3}, At: testNow, Group: "cart/visitor",
		Choices: []LoggedChoice{{Action: "cart-reminder"}}}, nil)
	b, _ := l.AppendBinary(nil)
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l Ledger
		if err := l.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := l.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var again Ledger
		if err := again.UnmarshalBinary(out); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
