package state

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestDurableSurvivesCrash pins the contract the outbox relay relies on: a
// batch committed without a sync is lost in a crash, and Durable makes every
// batch committed before it survive one.
func TestDurableSurvivesCrash(t *testing.T) {
	for _, tc := range []struct {
		name    string
		durable bool
		want    bool
	}{
		{"unsynced batch is lost", false, false},
		{"durable batch survives", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			s, err := Open("/db", Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			pt, err := s.Partition(3)
			if err != nil {
				t.Fatal(err)
			}
			k := MakeKey(IDContact, "c-1")
			b := pt.NewBatch()
			if err := b.PutContact(&Contact{Key: k, FirstSeen: 1, LastSeen: 2}); err != nil {
				t.Fatal(err)
			}
			if err := b.SetOffset("kairos.clickstream", 42); err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			if tc.durable {
				if err := s.Durable(); err != nil {
					t.Fatal(err)
				}
			}
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := Open("/db", Options{FS: crashed})
			if err != nil {
				t.Fatalf("reopen after crash: %v", err)
			}
			defer s2.Close()
			pt2, err := s2.Partition(3)
			if err != nil {
				t.Fatal(err)
			}
			var c Contact
			found, err := pt2.Contact(k, &c)
			if err != nil {
				t.Fatal(err)
			}
			offs, err := pt2.Offsets()
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.want || (offs["kairos.clickstream"] == 42) != tc.want {
				t.Fatalf("after crash: contact found=%v offset=%d; want the batch present=%v", found, offs["kairos.clickstream"], tc.want)
			}
		})
	}
}

// TestBatchReuse checks that a partition's reused batch starts empty each
// time: a committed batch's writes stay, a discarded one's never appear, and
// the outbox records and sequence numbers of consecutive batches are right.
func TestBatchReuse(t *testing.T) {
	s, err := Open("/db", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pt, err := s.Partition(1)
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		contact string
		outbox  string // value of one outbox record, "" for none
		discard bool
	}
	steps := []step{
		{contact: "a", outbox: "first"},
		{contact: "b", discard: true, outbox: "dropped"},
		{contact: "c", outbox: "second"},
		{contact: "d"},
	}
	for i, st := range steps {
		b := pt.NewBatch()
		if !b.Empty() {
			t.Fatalf("step %d: new batch is not empty", i)
		}
		if err := b.PutContact(&Contact{Key: MakeKey(IDContact, st.contact), FirstSeen: int64(i + 1), LastSeen: int64(i + 1)}); err != nil {
			t.Fatal(err)
		}
		if err := b.SetOffset("kairos.clickstream", int64(10*(i+1))); err != nil {
			t.Fatal(err)
		}
		if st.outbox != "" {
			if err := b.AddOutbox(OutboxRecord{Topic: "t", Key: []byte("k"), Value: []byte(st.outbox)}); err != nil {
				t.Fatal(err)
			}
		}
		if st.discard {
			b.Discard()
			continue
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := len(b.Added()); (st.outbox != "") != (got == 1) || got > 1 {
			t.Fatalf("step %d: Added() has %d records", i, got)
		}
	}
	for _, tc := range []struct {
		contact string
		want    bool
	}{{"a", true}, {"b", false}, {"c", true}, {"d", true}} {
		var c Contact
		found, err := pt.Contact(MakeKey(IDContact, tc.contact), &c)
		if err != nil {
			t.Fatal(err)
		}
		if found != tc.want {
			t.Errorf("contact %s found=%v, want %v", tc.contact, found, tc.want)
		}
	}
	offs, err := pt.Offsets()
	if err != nil {
		t.Fatal(err)
	}
	if offs["kairos.clickstream"] != 40 {
		t.Errorf("offset %d, want 40", offs["kairos.clickstream"])
	}
	out, err := pt.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || string(out[0].Value) != "first" || string(out[1].Value) != "second" || out[0].Seq != 0 || out[1].Seq != 1 {
		t.Fatalf("outbox = %+v, want first (seq 0) and second (seq 1)", out)
	}
}

func TestSummary(t *testing.T) {
	s, err := Open("/db", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pt, err := s.Partition(3)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := pt.Summary("nba"); ok || err != nil {
		t.Fatalf("empty: ok %v err %v", ok, err)
	}
	b := pt.NewBatch()
	if err := b.PutSummary("nba", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	v, ok, err := pt.Summary("nba")
	if !ok || err != nil || string(v) != "\x01\x02\x03" {
		t.Fatalf("got %x %v %v", v, ok, err)
	}
	other, _ := s.Partition(4)
	if _, ok, _ := other.Summary("nba"); ok {
		t.Fatal("summary leaked to another partition")
	}
}
