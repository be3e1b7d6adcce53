package stream

import (
	"math/bits"

	"github.com/cespare/xxhash/v2"

	"github.com/kairos-engine/kairos/state"
)

// knownIDs is a Bloom filter of the ids a partition holds (contacts and
// aliases). Most ids seen for the first time are new, and asking Pebble
// about them costs two point reads that find nothing (about a microsecond
// each in a large memtable); the filter answers "certainly not here" for
// those in nanoseconds. It is built from the partition's keys when the
// worker starts, every key the worker writes is added, and it is rebuilt
// with twice the room when it fills up. False positives (about 1%) only
// cost the Pebble reads the filter would have saved. Owned by one worker.
type knownIDs struct {
	bits     []uint64
	mask     uint64 // number of bits minus one (a power of two)
	n        int    // keys added
	capacity int    // keys the filter was sized for
}

const (
	knownBitsPerKey = 10 // ~1% false positives with knownProbes probes
	knownProbes     = 7
	knownMinKeys    = 1 << 16
)

func newKnownIDs(capacity int) *knownIDs {
	capacity = max(capacity, knownMinKeys)
	nbits := uint64(1) << bits.Len64(uint64(capacity*knownBitsPerKey-1))
	return &knownIDs{bits: make([]uint64, nbits/64), mask: nbits - 1, capacity: capacity}
}

func (f *knownIDs) hashes(k string) (uint64, uint64) {
	h := xxhash.Sum64String(k)
	return h, h>>32 | h<<32 | 1
}

func (f *knownIDs) add(k state.Key) {
	h1, h2 := f.hashes(string(k))
	for i := range uint64(knownProbes) {
		b := (h1 + i*h2) & f.mask
		f.bits[b/64] |= 1 << (b % 64)
	}
	f.n++
}

// mayContain reports false only when k was never added.
func (f *knownIDs) mayContain(k state.Key) bool {
	h1, h2 := f.hashes(string(k))
	for i := range uint64(knownProbes) {
		b := (h1 + i*h2) & f.mask
		if f.bits[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

func (f *knownIDs) full() bool { return f.n > f.capacity }

// buildKnownIDs scans the partition's committed contact and alias keys.
func buildKnownIDs(pt *state.Partition, capacity int) (*knownIDs, error) {
	var keys []state.Key
	collect := func(k state.Key) error { keys = append(keys, k); return nil }
	if err := pt.ContactKeys(collect); err != nil {
		return nil, err
	}
	if err := pt.AliasKeys(collect); err != nil {
		return nil, err
	}
	f := newKnownIDs(max(capacity, 2*len(keys)))
	for _, k := range keys {
		f.add(k)
	}
	return f, nil
}
