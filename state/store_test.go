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
