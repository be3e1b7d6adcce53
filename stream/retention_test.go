package stream

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/state"
)

// TestRetentionSweep folds contacts with old history through a worker, then
// sweeps: old ring entries are trimmed by the wall clock, inactive contacts
// removed with their aliases, and a contact active inside both limits is
// left as it was. Sweeps walk the partition in chunks across calls.
func TestRetentionSweep(t *testing.T) {
	st, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := New(Config{
		Brokers: []string{"127.0.0.1:1"}, Store: st, Partitions: 1,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Retention: Retention{EventHistory: 30 * 24 * time.Hour, InactiveContacts: 365 * 24 * time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.partitions.Store(1)
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	e.relay = newRelay(cl, st, e.log, e.metrics, nil)
	w, err := newWorker(e, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	var recs []*kgo.Record
	add := func(id, contact, anon string, at time.Time) {
		ids := fmt.Sprintf(`"contact_id":%q`, contact)
		if anon != "" {
			ids += fmt.Sprintf(`,"anonymous_id":%q`, anon)
		}
		v := fmt.Sprintf(`{"id":%q,"type":"page_view",%s,"timestamp":%q,"properties":{"url":"https://shop.example/p"}}`, id, ids, at.Format(time.RFC3339))
		recs = append(recs, &kgo.Record{Topic: "kairos.clickstream", Value: []byte(v), Offset: int64(len(recs))})
	}
	// active: events 45 and 20 days ago, within 30 days of each other, so
	// the fold keeps both; by the wall clock the older one is past 30 days.
	add("a1", "active", "", now.Add(-45*day))
	add("a2", "active", "", now.Add(-20*day))
	// gone: last seen two years ago, with an anonymous alias: removed.
	add("g1", "gone", "anon-gone", now.Add(-730*day))
	// fresh: everything recent: untouched.
	add("f1", "fresh", "", now.Add(-2*day))
	if err := w.process(recs); err != nil {
		t.Fatal(err)
	}
	pt, _ := st.Partition(0)
	var c state.Contact
	if ok, _ := pt.Contact("c:active", &c); !ok || len(c.Recent) != 2 {
		t.Fatalf("before the sweep: active has %d recent events, want 2", len(c.Recent))
	}
	// One step covers the three contacts; then the cursor wraps.
	if err := w.sweep(now); err != nil {
		t.Fatal(err)
	}
	if ok, _ := pt.Contact("c:active", &c); !ok || len(c.Recent) != 1 || c.Recent[0].At != now.Add(-20*day).UnixMilli() {
		t.Errorf("active after the sweep: found %v, recent %+v; want only the event of 20 days ago", ok, c.Recent)
	}
	if ok, _ := pt.Contact("c:gone", &c); ok {
		t.Error("a contact inactive for two years survived the sweep")
	}
	if _, ok, _ := pt.Alias("a:anon-gone"); ok {
		t.Error("the removed contact's alias survived")
	}
	if ok, _ := pt.Contact("c:fresh", &c); !ok || len(c.Recent) != 1 {
		t.Errorf("fresh after the sweep: found %v, %d recent events; want untouched", ok, len(c.Recent))
	}
	if w.sweepCursor != "" {
		t.Errorf("cursor %q after a full pass, want it back at the start", w.sweepCursor)
	}
	// The cached copy was dropped: the next event folds onto the trimmed
	// record, not onto the stale cached one.
	recs = recs[:0]
	add("a3", "active", "", now)
	recs[0].Offset = 10
	if err := w.process(recs); err != nil {
		t.Fatal(err)
	}
	if ok, _ := pt.Contact("c:active", &c); !ok || len(c.Recent) != 2 {
		t.Errorf("active after a new event: %d recent events, want 2 (20 days ago, now)", len(c.Recent))
	}
}
