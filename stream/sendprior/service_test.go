package sendprior

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/kairos-engine/kairos/models/sendtime"
	"github.com/kairos-engine/kairos/state"
)

func TestRefresh(t *testing.T) {
	st, err := state.Open("/db", state.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// 40 contacts over two partitions who all open on Tuesdays at 9:00,
	// and one without engagement.
	for i := range 41 {
		pt, err := st.Partition(int32(i % 2))
		if err != nil {
			t.Fatal(err)
		}
		c := &state.Contact{Key: state.MakeKey(state.IDContact, string(rune('a'+i))), FirstSeen: 1, LastSeen: 2}
		if i < 40 {
			c.Engagement.HourOfWeek[24+9] = 3
			c.Engagement.Opened, c.Engagement.Delivered = 3, 10
		}
		b := pt.NewBatch()
		if err := b.PutContact(c); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	var fit atomic.Pointer[sendtime.Fit]
	parts := []int32{}
	s, err := New(Config{Store: st, Fit: &fit, Partitions: func() []int32 { return parts }})
	if err != nil {
		t.Fatal(err)
	}
	if fit.Load() == nil {
		t.Fatal("New must publish the uniform prior")
	}
	if _, err := s.Refresh(t.Context()); !errors.Is(err, ErrNoPartitions) {
		t.Fatalf("without partitions: %v", err)
	}
	parts = []int32{0, 1}
	f, err := s.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if fit.Load() != f || f.Contacts != 40 {
		t.Fatalf("fit %+v not published or wrong contacts", f)
	}
	best := 0
	for h := range f.Mean {
		if f.Mean[h] > f.Mean[best] {
			best = h
		}
	}
	if best != 33 || f.Rate < 0.25 || f.Rate > 0.35 {
		t.Fatalf("prior peaks at bin %d with rate %v; want Tuesday 9:00 (33) and about 0.3", best, f.Rate)
	}
}
