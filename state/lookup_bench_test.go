package state

import (
	"strconv"
	"testing"
)

// BenchmarkLookupBytes measures the API's point read of a contact on a
// store shaped like one that has run for a while: 10,000 contacts in
// tables, then 20,000 rewrites of them in the memtable. "hit" finds the
// contact by its key, "miss" looks up an id nobody has (contact and
// alias reads), "fresh" is the same hit on a store whose memtables are
// still ramping up (nothing flushed yet).
func BenchmarkLookupBytes(b *testing.B) {
	const contacts = 10000
	open := func(b *testing.B, flush bool) *Store {
		s, err := Open(b.TempDir(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		c := typicalContact()
		put := func(i int) {
			c.Key = MakeKey(IDContact, strconv.Itoa(i))
			pt, err := s.Partition(int32(i % 8))
			if err != nil {
				b.Fatal(err)
			}
			bt := pt.NewBatch()
			if err := bt.PutContact(c); err != nil {
				b.Fatal(err)
			}
			if err := bt.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		for i := range contacts {
			put(i)
		}
		if flush {
			if err := s.DB().Flush(); err != nil {
				b.Fatal(err)
			}
		}
		for i := range 2 * contacts {
			put(i * 7 % contacts)
		}
		return s
	}
	partitionOf := func(v string) int32 { n, _ := strconv.Atoi(v); return int32(n % 8) }
	run := func(b *testing.B, s *Store, prefix string) {
		var c Contact
		var sc LookupScratch
		keys := make([][]byte, 1000)
		for i := range keys {
			keys[i] = []byte("c:" + prefix + strconv.Itoa(i*13%contacts))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, err := s.LookupBytes(keys[i%len(keys)], partitionOf, &c, &sc)
			if err != nil && err != ErrNotFound {
				b.Fatal(err)
			}
			i++
		}
	}
	steady := open(b, true)
	b.Run("hit", func(b *testing.B) { run(b, steady, "") })
	b.Run("miss", func(b *testing.B) { run(b, steady, "x") })
	b.Run("fresh", func(b *testing.B) { run(b, open(b, false), "") })
}
