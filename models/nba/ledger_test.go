package nba

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/state"
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

// TestLedgerLastDecision: the arm keeps the full id of the decision that
// last showed an action (an order attributed by last touch is logged
// against it), through the encoding, and a ledger written before ids were
// kept still decodes, without them.
func TestLedgerLastDecision(t *testing.T) {
	cat, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	d1 := DecisionID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	d2 := DecisionID{0xff, 1}
	rec := func(id DecisionID, at time.Time, actions ...string) *DecisionRecord {
		r := &DecisionRecord{DecisionID: id, At: at, Group: "homepage/lead"}
		for _, a := range actions {
			r.Choices = append(r.Choices, LoggedChoice{Action: a})
		}
		return r
	}
	welcome, promo, cart := cat.Action("welcome-offer"), cat.Action("promo-shoes"), cat.Action("cart-reminder")
	var l Ledger
	l.RecordDecision(cat, rec(d1, testNow, "welcome-offer", "promo-shoes"), nil)
	l.RecordDecision(cat, rec(d2, testNow.Add(time.Minute), "promo-shoes"), nil)
	// A late record of an older decision does not take the action over.
	l.RecordDecision(cat, rec(DecisionID{7}, testNow.Add(-time.Hour), "welcome-offer"), nil)
	b, err := l.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var back Ledger
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		a    *Action
		want DecisionID
		ok   bool
	}{
		{welcome, d1, true},
		{promo, d2, true},
		{cart, DecisionID{}, false},
	} {
		if got, ok := back.LastDecision(c.a); got != c.want || ok != c.ok {
			t.Errorf("%s: %s %v, want %s %v", c.a.ID, got, ok, c.want, c.ok)
		}
	}
	if res, a := back.RecordOrder(cat, testNow.Add(2*time.Minute).UnixMilli(), nil); res != Attributed || a != promo {
		t.Fatalf("order: %v %v", res, a)
	}
	if id, ok := back.LastDecision(promo); !ok || id != d2 {
		t.Fatalf("the order's decision: %s %v", id, ok)
	}

	// The encoding before ids were kept: flags 0 or 1, no id.
	old := legacyLedger(t, &back)
	var fromOld Ledger
	if err := fromOld.UnmarshalBinary(old); err != nil {
		t.Fatal(err)
	}
	if _, ok := fromOld.LastDecision(welcome); ok {
		t.Error("an old ledger claims a decision id")
	}
	if fromOld.History != back.History {
		t.Error("an old ledger's history changed")
	}
	// An unknown flag is damage, not a new feature to guess at.
	n, k := binary.Uvarint(old)
	bad := append([]byte(nil), old...)
	bad[k+int(n)+1+4] = 0x80 // history, arm count, first arm's action hash
	if err := fromOld.UnmarshalBinary(bad); !errors.Is(err, ErrBadLedger) {
		t.Errorf("unknown arm flags: err %v", err)
	}
	// A truncated decision id.
	if err := fromOld.UnmarshalBinary(b[:len(b)-len("homepage/lead")-3]); !errors.Is(err, ErrBadLedger) {
		t.Errorf("truncated id: err %v", err)
	}
}

// legacyLedger encodes l as ledgers were written before arms kept their
// decision id.
func legacyLedger(t *testing.T, l *Ledger) []byte {
	t.Helper()
	hist, err := l.History.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := binary.AppendUvarint(nil, uint64(len(hist)))
	b = append(append(b, hist...), byte(l.n))
	for _, a := range l.arms[:l.n] {
		ctl := byte(0)
		if a.control {
			ctl = 1
		}
		b = append(binary.LittleEndian.AppendUint32(b, a.action), ctl)
		b = append(binary.AppendUvarint(b, uint64(len(a.group))), a.group...)
	}
	return b
}

// The worst ledger a catalogue allows (MaxHistory actions, each shown in a
// group with the longest placement id, with its decision id) fits
// MaxLedgerBytes, and that fits what a contact record keeps: a larger one
// would be written and then refused when the contact is read back.
func TestLedgerSizeBound(t *testing.T) {
	if MaxLedgerBytes > state.MaxDecisionState {
		t.Fatalf("MaxLedgerBytes %d > state.MaxDecisionState %d", MaxLedgerBytes, state.MaxDecisionState)
	}
	for _, sg := range stageGroups {
		if len(sg) > maxStageGroupLen {
			t.Fatalf("stage group %q longer than maxStageGroupLen %d", sg, maxStageGroupLen)
		}
	}
	placement := strings.Repeat("p", MaxIDLen)
	var b strings.Builder
	b.WriteString("version: v1\nactions:\n")
	for i := range MaxHistory + 5 {
		fmt.Fprintf(&b, "  - {id: action-%02d-%s, placements: [%s], value: 1}\n", i, strings.Repeat("x", MaxIDLen-10), placement)
	}
	cat, err := ParseCatalogue("worst.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	var l Ledger
	for i, a := range cat.Actions() {
		r := &DecisionRecord{DecisionID: DecisionID{byte(i), 0xff}, At: testNow.Add(time.Duration(i) * time.Minute),
			Group: placement + "/customer", Choices: []LoggedChoice{{Action: a.ID, Rank: 1}}}
		l.RecordDecision(cat, r, nil)
		// Outcomes make the History's entries their largest.
		l.RecordOutcome(cat, r.DecisionID, a.ID, OutcomeDismiss, testNow.Add(time.Duration(i)*time.Minute+time.Second).UnixMilli(), nil)
	}
	enc, err := l.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) > MaxLedgerBytes {
		t.Fatalf("worst ledger encodes in %d bytes, MaxLedgerBytes is %d", len(enc), MaxLedgerBytes)
	}
	// And it survives a contact record's round trip.
	c := state.Contact{Key: state.MakeKey(state.IDContact, "c"), Decisions: enc}
	var back state.Contact
	if err := state.DecodeContact(c.AppendEncoded(nil), &back); err != nil || string(back.Decisions) != string(enc) {
		t.Fatalf("contact with a %d-byte ledger: %v", len(enc), err)
	}
	t.Logf("worst ledger %d bytes; bound %d; contact limit %d", len(enc), MaxLedgerBytes, state.MaxDecisionState)
}

// A visitor's ledger merged into the contact they log in as keeps caps
// and attribution: the later impression of an action keeps its decision,
// overlapping cap windows add up, converted stays converted.
func TestLedgerAbsorb(t *testing.T) {
	cat := mustPolicy(t, `version: v1
actions:
  - {id: welcome, placements: [homepage], value: 1, cap: {max: 3, per: 1d}}
  - {id: cart, placements: [homepage], value: 1}
  - {id: promo, placements: [homepage], value: 1}
`, nil).Catalogue()
	t0 := testNow
	show := func(l *Ledger, id DecisionID, at time.Time, group string, actions ...string) {
		r := &DecisionRecord{DecisionID: id, At: at, Group: group}
		for i, a := range actions {
			r.Choices = append(r.Choices, LoggedChoice{Action: a, Rank: i + 1})
		}
		l.RecordDecision(cat, r, nil)
	}
	var known, visitor Ledger
	show(&known, DecisionID{1}, t0, "homepage/lead", "welcome", "promo")
	known.RecordOutcome(cat, DecisionID{1}, "promo", OutcomeClick, t0.Add(time.Minute).UnixMilli(), nil)
	show(&visitor, DecisionID{2}, t0.Add(time.Hour), "homepage/visitor", "welcome", "cart")
	show(&visitor, DecisionID{3}, t0.Add(2*time.Hour), "homepage/visitor", "welcome")

	known.Absorb(cat, &visitor)
	// Round trip: the merged ledger is what gets stored.
	b, err := known.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var l Ledger
	if err := l.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if l.History.Len() != 3 {
		t.Fatalf("%d actions remembered, want 3", l.History.Len())
	}
	welcome := l.History.find(cat.Action("welcome").hash)
	if welcome.Count != 3 || welcome.WindowStart != t0.UnixMilli() {
		t.Fatalf("welcome: %d impressions from %d; want 3 in the window from the first", welcome.Count, welcome.WindowStart)
	}
	if r := l.History.blocked(cat.Action("welcome"), t0.Add(3*time.Hour).UnixMilli()); r != ReasonCap {
		t.Fatalf("welcome after three impressions across both profiles: %q, want the cap", r)
	}
	// The visitor's latest decision is the one a click is credited to,
	// in its own group.
	s := NewStats()
	if res := l.RecordOutcome(cat, DecisionID{3}, "welcome", OutcomeClick, t0.Add(3*time.Hour).UnixMilli(), s); res != Attributed {
		t.Fatalf("click on the visitor's last decision: %v", res)
	}
	if c := s.cells[Key{Action: "welcome", Group: "homepage/visitor"}]; c.Conversions != 1 {
		t.Fatalf("conversion not in the visitor decision's cell: %+v", s.cells)
	}
	if id, ok := l.LastDecision(cat.Action("cart")); !ok || id != (DecisionID{2}) {
		t.Fatalf("cart's last decision %v %v, want the visitor's", id, ok)
	}
	if res := l.RecordOutcome(cat, DecisionID{1}, "promo", OutcomeClick, t0.Add(2*time.Minute).UnixMilli(), nil); res != AlreadyConverted {
		t.Fatalf("the known contact's converted promo: %v, want already converted", res)
	}

	// More than MaxHistory actions together: the most recent stay.
	var a, o Ledger
	var ids []string
	var yaml strings.Builder
	yaml.WriteString("version: v1\nactions:\n")
	for i := range MaxHistory + 8 {
		ids = append(ids, fmt.Sprintf("a%02d", i))
		fmt.Fprintf(&yaml, "  - {id: a%02d, placements: [homepage], value: 1}\n", i)
	}
	big, err := ParseCatalogue("big.yaml", []byte(yaml.String()))
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		l := &a
		if i%2 == 1 {
			l = &o
		}
		l.RecordDecision(big, &DecisionRecord{DecisionID: DecisionID{byte(i)}, At: t0.Add(time.Duration(i) * time.Minute), Group: "homepage/lead",
			Choices: []LoggedChoice{{Action: id, Rank: 1}}}, nil)
	}
	a.Absorb(big, &o)
	if a.History.Len() != MaxHistory {
		t.Fatalf("%d remembered, want %d", a.History.Len(), MaxHistory)
	}
	for _, id := range ids[:8] {
		if a.History.find(big.Action(id).hash) != nil {
			t.Fatalf("%s, among the least recently shown, was kept", id)
		}
	}
}
