package state

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// kindSummary keys a partition's population summaries: per-partition
// sufficient statistics that a background job merges across partitions
// (the next-best-action bandit's Stats, for one). They live under the
// partition's prefix, so they move, export and restore with it, and are
// written in the same batch as the state and offsets they summarise.
//
//	'p' <partition uint32 BE> 's' <name>   opaque summary bytes
const kindSummary = 's'

// MaxSummaryBytes bounds one stored summary.
const MaxSummaryBytes = 16 << 20

// Summary returns a copy of the partition's summary called name, and
// whether there is one. It reads through its own Pebble lookup and is safe
// to call from a background job while the partition's worker writes.
func (pt *Partition) Summary(name string) ([]byte, bool, error) {
	k := appendPartitionKey(nil, pt.p, kindSummary, name)
	v, closer, err := pt.s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("partition %d: summary %s: %w", pt.p, name, err)
	}
	out := append([]byte(nil), v...)
	if err := closer.Close(); err != nil {
		return nil, false, fmt.Errorf("partition %d: summary %s: %w", pt.p, name, err)
	}
	return out, true, nil
}

// PutSummary stores the partition's summary called name in the batch. The
// batch copies v.
func (b *Batch) PutSummary(name string, v []byte) error {
	if len(v) > MaxSummaryBytes {
		return fmt.Errorf("partition %d: summary %s is %d bytes, more than %d", b.pt.p, name, len(v), MaxSummaryBytes)
	}
	if err := b.b.Set(b.partitionKey(kindSummary, name), v, nil); err != nil {
		return fmt.Errorf("partition %d: put summary %s: %w", b.pt.p, name, err)
	}
	return nil
}
