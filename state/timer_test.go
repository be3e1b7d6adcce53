package state

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func openTemp(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func commit(t *testing.T, pt *Partition, f func(b *Batch) error) {
	t.Helper()
	b := pt.NewBatch()
	if err := f(b); err != nil {
		b.Discard()
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func due(t *testing.T, pt *Partition, upTo int64, max int) []string {
	t.Helper()
	var out []string
	_, err := pt.DueTimers(upTo, max, func(tm *Timer) error {
		out = append(out, fmt.Sprintf("%d %s %s %s", tm.Due, tm.Contact, tm.Name, tm.Data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTimers arms, cancels and scans timers in due order against a real
// Pebble on disk, and checks that they survive a reopen.
func TestTimers(t *testing.T) {
	dir := t.TempDir()
	s := openTemp(t, dir)
	pt, err := s.Partition(2)
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Partition(3)
	if err != nil {
		t.Fatal(err)
	}
	commit(t, pt, func(b *Batch) error {
		for _, tm := range []Timer{
			{Contact: "c:42", Name: "abandoned-cart", Due: 3000, Data: []byte("a")},
			{Contact: "c:7", Name: "welcome-2", Due: 1000, Data: []byte("b")},
			{Contact: "c:42", Name: "review", Due: 1000, Data: []byte("c")},
			{Contact: "c:4", Name: "z", Due: 2000, Data: []byte("d")},
			{Contact: "c:5", Name: "early", Due: -5, Data: []byte("e")},
		} {
			if err := b.ArmTimer(&tm); err != nil {
				return err
			}
		}
		return nil
	})
	commit(t, other, func(b *Batch) error {
		return b.ArmTimer(&Timer{Contact: "c:99", Name: "x", Due: 10})
	})

	want := []string{"-5 c:5 early e", "1000 c:42 review c", "1000 c:7 welcome-2 b", "2000 c:4 z d"}
	if got := due(t, pt, 2000, 0); !slices.Equal(got, want) {
		t.Fatalf("due up to 2000:\n got %q\nwant %q", got, want)
	}
	if got := due(t, pt, 1000, 2); !slices.Equal(got, want[:2]) {
		t.Fatalf("limit 2: got %q", got)
	}
	if got := due(t, pt, -6, 0); len(got) != 0 {
		t.Fatalf("nothing is due before -5: got %q", got)
	}

	// Cancel and re-arm at another time in one batch, as an event that
	// restarts a window does.
	commit(t, pt, func(b *Batch) error {
		if err := b.CancelTimer("c:42", "abandoned-cart", 3000); err != nil {
			return err
		}
		if err := b.ArmTimer(&Timer{Contact: "c:42", Name: "abandoned-cart", Due: 500, Data: []byte("a2")}); err != nil {
			return err
		}
		return b.CancelTimer("c:7", "welcome-2", 1000)
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTemp(t, dir)
	defer s.Close()
	pt, err = s.Partition(2)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"-5 c:5 early e", "500 c:42 abandoned-cart a2", "1000 c:42 review c", "2000 c:4 z d"}
	if got := due(t, pt, 1<<63-1, 0); !slices.Equal(got, want) {
		t.Fatalf("after reopen:\n got %q\nwant %q", got, want)
	}
	next, ok, err := pt.NextTimer()
	if err != nil || !ok || next != -5 {
		t.Fatalf("NextTimer = %d %v %v", next, ok, err)
	}

	ts, err := pt.ContactTimers("c:42")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "abandoned-cart" || ts[0].Due != 500 || string(ts[0].Data) != "a2" ||
		ts[1].Name != "review" || ts[1].Due != 1000 {
		t.Fatalf("ContactTimers(c:42) = %+v", ts)
	}
	// "c:4" is a prefix of "c:42": its listing must not include c:42's.
	if id := ts[0].ID(); id != "abandoned-cart@500" {
		t.Fatalf("ID = %q", id)
	}
	if ts, err := pt.ContactTimers("c:4"); err != nil || len(ts) != 1 || ts[0].Name != "z" {
		t.Fatalf("ContactTimers(c:4) = %+v, %v", ts, err)
	}

	commit(t, pt, func(b *Batch) error { return b.DeleteContactTimers("c:42") })
	if ts, _ := pt.ContactTimers("c:42"); len(ts) != 0 {
		t.Fatalf("after erase: %+v", ts)
	}
	if got := due(t, pt, 1<<63-1, 0); !slices.Equal(got, []string{"-5 c:5 early e", "2000 c:4 z d"}) {
		t.Fatalf("after erase: %q", got)
	}
}

// TestTimersUncommittedInvisible: a discarded batch arms nothing, so a
// crash before commit loses the timer together with its cause.
func TestTimersUncommittedInvisible(t *testing.T) {
	s := openTemp(t, t.TempDir())
	defer s.Close()
	pt, _ := s.Partition(0)
	b := pt.NewBatch()
	if err := b.ArmTimer(&Timer{Contact: "c:1", Name: "n", Due: 1}); err != nil {
		t.Fatal(err)
	}
	b.Discard()
	if got := due(t, pt, 10, 0); len(got) != 0 {
		t.Fatalf("discarded timer visible: %q", got)
	}
}

// TestTimerSameNameTwoDues: a timer is (contact, name, due); cancelling
// one due leaves the other, in both orders.
func TestTimerSameNameTwoDues(t *testing.T) {
	s := openTemp(t, t.TempDir())
	defer s.Close()
	pt, _ := s.Partition(0)
	commit(t, pt, func(b *Batch) error {
		if err := b.ArmTimer(&Timer{Contact: "c:1", Name: "n", Due: 10}); err != nil {
			return err
		}
		return b.ArmTimer(&Timer{Contact: "c:1", Name: "n", Due: 20})
	})
	commit(t, pt, func(b *Batch) error { return b.CancelTimer("c:1", "n", 10) })
	ts, err := pt.ContactTimers("c:1")
	if err != nil || len(ts) != 1 || ts[0].Due != 20 {
		t.Fatalf("ContactTimers = %+v, %v", ts, err)
	}
	if got := due(t, pt, 100, 0); !slices.Equal(got, []string{"20 c:1 n "}) {
		t.Fatalf("due = %q", got)
	}
}

func TestBadTimer(t *testing.T) {
	s := openTemp(t, t.TempDir())
	defer s.Close()
	pt, _ := s.Partition(0)
	b := pt.NewBatch()
	defer b.Discard()
	for _, tm := range []Timer{
		{Contact: "", Name: "n"},
		{Contact: "c:1", Name: ""},
		{Contact: "c:1\x00x", Name: "n"},
		{Contact: "c:1", Name: "a\x00b"},
		{Contact: "c:1", Name: string(make([]byte, MaxTimerName+1))},
		{Contact: "c:1", Name: "n", Data: make([]byte, MaxTimerData+1)},
	} {
		if err := b.ArmTimer(&tm); !errors.Is(err, ErrBadTimer) {
			t.Errorf("ArmTimer(%q, %q) = %v, want ErrBadTimer", tm.Contact, tm.Name, err)
		}
	}
}

// TestTimersDueOrderProperty: whatever order timers are armed in, the scan
// yields them sorted by (due, contact, name), and exactly those due.
func TestTimersDueOrderProperty(t *testing.T) {
	s := openTemp(t, t.TempDir())
	defer s.Close()
	pt, _ := s.Partition(1)
	r := rand.New(rand.NewPCG(1, 2))
	type k struct {
		due           int64
		contact, name string
	}
	var all []k
	commit(t, pt, func(b *Batch) error {
		for i := range 500 {
			x := k{r.Int64N(1000) - 500, fmt.Sprintf("c:%d", r.IntN(50)), fmt.Sprintf("r%d", i%7)}
			all = append(all, x)
			if err := b.ArmTimer(&Timer{Contact: Key(x.contact), Name: x.name, Due: x.due}); err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortFunc(all, func(a, b k) int {
		if a.due != b.due {
			return int(a.due - b.due)
		}
		if a.contact != b.contact {
			if a.contact < b.contact {
				return -1
			}
			return 1
		}
		if a.name < b.name {
			return -1
		} else if a.name > b.name {
			return 1
		}
		return 0
	})
	all = slices.Compact(all)
	var got []k
	if _, err := pt.DueTimers(100, 0, func(tm *Timer) error {
		got = append(got, k{tm.Due, string(tm.Contact), tm.Name})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var want []k
	for _, x := range all {
		if x.due <= 100 {
			want = append(want, x)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %d timers, want %d", len(got), len(want))
	}
}
