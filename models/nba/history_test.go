package nba

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func testAction(id string, capMax uint16, per time.Duration, stop bool) *Action {
	a := &Action{ID: id, CapMax: capMax, CapPer: per, StopAfterConversion: stop, Attribution: 7 * 24 * time.Hour}
	a.hash = hashID(id)
	return a
}

func TestHistoryCaps(t *testing.T) {
	const hour = int64(3600_000)
	a := testAction("a", 2, 24*time.Hour, true)
	var h History
	t0 := testNow.UnixMilli()
	steps := []struct {
		name    string
		show    bool
		at      int64
		blocked string
	}{
		{"fresh", false, t0, ""},
		{"one shown", true, t0, ""},
		{"two shown: capped", true, t0 + hour, ReasonCap},
		{"still in window", false, t0 + 23*hour, ReasonCap},
		{"window over", false, t0 + 24*hour, ""},
		{"new window", true, t0 + 25*hour, ""},
		{"late impression counts in current window", true, t0 - hour, ReasonCap},
	}
	for _, s := range steps {
		if s.show {
			h.RecordImpression(a, DecisionID{byte(s.at)}, s.at)
		}
		if got := h.blocked(a, s.at); got != s.blocked {
			t.Fatalf("%s: blocked %q, want %q (entry %+v)", s.name, got, s.blocked, h.e[0])
		}
	}
}

func TestHistoryOutcomes(t *testing.T) {
	t0 := testNow.UnixMilli()
	stop := testAction("stop", 0, 0, true)
	again := testAction("again", 0, 0, false)
	capped := testAction("capped", 5, 7*24*time.Hour, false)
	var h History
	d1, d2 := DecisionID{1}, DecisionID{2}
	h.RecordImpression(stop, d1, t0)
	h.RecordImpression(again, d1, t0)
	h.RecordImpression(capped, d1, t0)
	tests := []struct {
		name string
		a    *Action
		id   DecisionID
		kind OutcomeKind
		at   int64
		want Attribution
	}{
		{"other decision", stop, d2, OutcomeClick, t0 + 1, NotShown},
		{"unknown action", testAction("x", 0, 0, true), d1, OutcomeClick, t0 + 1, NotShown},
		{"click", stop, d1, OutcomeClick, t0 + 1000, Attributed},
		{"order after click is the same conversion", stop, d1, OutcomeOrder, t0 + 2000, AlreadyConverted},
		{"order too late", again, d1, OutcomeOrder, t0 + 8*msPerDay, OutsideWindow},
		{"order in window", again, d1, OutcomeOrder, t0 + 6*msPerDay, Attributed},
		{"dismiss", capped, d1, OutcomeDismiss, t0 + 5000, Attributed},
	}
	for _, tt := range tests {
		if got := h.RecordOutcome(tt.a, tt.id, tt.kind, tt.at); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if r := h.blocked(stop, t0+10*msPerDay); r != ReasonConverted {
		t.Errorf("stop after conversion: %q", r)
	}
	if r := h.blocked(again, t0+10*msPerDay); r != "" {
		t.Errorf("converted action without stop: %q", r)
	}
	if r := h.blocked(capped, t0+msPerDay); r != ReasonDismissed {
		t.Errorf("dismissed: %q", r)
	}
	if r := h.blocked(capped, t0+8*msPerDay); r != "" {
		t.Errorf("dismissal outlives the window: %q", r)
	}
	// An uncapped action's dismissal lasts a day from the impression's
	// window, even long after its first impression.
	h.RecordImpression(stop, d2, t0+20*msPerDay)
	h.RecordImpression(again, d2, t0+20*msPerDay)
	if r := h.RecordOutcome(again, d2, OutcomeDismiss, t0+20*msPerDay+1); r != Attributed {
		t.Fatalf("dismiss uncapped: %v", r)
	}
	if r := h.blocked(again, t0+20*msPerDay+3600_000); r != ReasonDismissed {
		t.Errorf("uncapped dismissal an hour later: %q", r)
	}
	if r := h.blocked(again, t0+22*msPerDay); r != "" {
		t.Errorf("uncapped dismissal two days later: %q", r)
	}
	// A new impression by another decision can convert again.
	d3 := DecisionID{3}
	h.RecordImpression(again, d3, t0+30*msPerDay)
	if got := h.RecordOutcome(again, d3, OutcomeClick, t0+30*msPerDay+1); got != Attributed {
		t.Errorf("second decision's click: %v", got)
	}
}

func TestHistoryBoundedAndEncoding(t *testing.T) {
	var h History
	t0 := testNow.UnixMilli()
	for i := range MaxHistory + 10 {
		a := testAction("action-"+string(rune('a'+i%26))+string(rune('a'+i/26)), 3, time.Hour, true)
		h.RecordImpression(a, DecisionID{byte(i)}, t0+int64(i)*1000)
		if i%3 == 0 {
			h.RecordOutcome(a, DecisionID{byte(i)}, OutcomeClick, t0+int64(i)*1000+5)
		}
	}
	if h.Len() != MaxHistory {
		t.Fatalf("len %d", h.Len())
	}
	// The oldest were forgotten.
	for i := 0; i < h.Len(); i++ {
		if h.Entry(i).LastShown < t0+10*1000 {
			t.Fatalf("entry %d (%+v) should have been evicted", i, h.Entry(i))
		}
	}
	b, _ := h.AppendBinary(nil)
	if len(b) > MaxHistoryBytes {
		t.Fatalf("encoding %d bytes > %d", len(b), MaxHistoryBytes)
	}
	var back History
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if back != h {
		t.Fatal("round trip changed the history")
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = back.UnmarshalBinary(b) }); allocs != 0 {
		t.Fatalf("UnmarshalBinary allocates %v", allocs)
	}
	var empty History
	if err := empty.UnmarshalBinary(nil); err != nil || empty.Len() != 0 {
		t.Fatal("empty input")
	}
	bad := [][]byte{{2, 0}, {1, 200}, {1, 1, 0, 0}, append(bytes.Clone(b), 0), b[:len(b)-1]}
	for i, in := range bad {
		var x History
		if err := x.UnmarshalBinary(in); !errors.Is(err, ErrBadHistory) || x.Len() != 0 {
			t.Errorf("bad input %d: err %v, len %d", i, err, x.Len())
		}
	}
}

func FuzzHistory(f *testing.F) {
	var h History
	a := testAction("a", 2, time.Hour, true)
	h.RecordImpression(a, DecisionID{1}, 1e12)
	h.RecordOutcome(a, DecisionID{1}, OutcomeClick, 1e12+1)
	b, _ := h.AppendBinary(nil)
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{1, 1, 1, 2, 3, 4, 0x80})
	f.Fuzz(func(t *testing.T, in []byte) {
		var h History
		if err := h.UnmarshalBinary(in); err != nil {
			return
		}
		out, _ := h.AppendBinary(nil)
		var back History
		if err := back.UnmarshalBinary(out); err != nil || back != h {
			t.Fatalf("re-encoding a decoded history failed: %v", err)
		}
	})
}

func TestDecisionID(t *testing.T) {
	id := NewDecisionID()
	s := id.String()
	back, err := ParseDecisionID(s)
	if err != nil || back != id || len(s) != 32 {
		t.Fatalf("%q → %v %v", s, back, err)
	}
	for _, bad := range []string{"", "xyz", s[:31], s + "0", "zz" + s[2:]} {
		if _, err := ParseDecisionID(bad); !errors.Is(err, ErrBadDecisionID) {
			t.Errorf("ParseDecisionID(%q) = %v", bad, err)
		}
	}
	if NewDecisionID() == id {
		t.Fatal("two equal random ids")
	}
}
