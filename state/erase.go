package state

import (
	"crypto/sha256"
	"fmt"
)

// kindErased holds tombstones of erased identities (GDPR erasure):
//
//	'p' <partition uint32 BE> 'z' <sha256 of the typed key>   erasure receipt
//
// The key is hashed so that the tombstone, which must outlive the data,
// keeps no personal data in readable form: it can only answer "was this
// id erased?" for someone who already knows the id.
const kindErased = 'z'

// ErasedID is the hashed form of an erased typed key.
type ErasedID [sha256.Size]byte

// HashErased hashes a typed key for the tombstone index.
func HashErased(k Key) ErasedID {
	h := sha256.New()
	h.Write([]byte("kairos-erased\x00"))
	h.Write([]byte(k))
	var id ErasedID
	h.Sum(id[:0])
	return id
}

// PutTombstone records that key was erased, with the receipt to return
// when asked about it again.
func (b *Batch) PutTombstone(key Key, receipt []byte) error {
	id := HashErased(key)
	if err := b.b.Set(appendPartitionKey(nil, b.pt.p, kindErased, string(id[:])), receipt, nil); err != nil {
		return fmt.Errorf("put tombstone: %w", err)
	}
	return nil
}

// DeleteAlias removes an alias link.
func (b *Batch) DeleteAlias(alias Key) error {
	if err := b.b.Delete(appendPartitionKey(nil, b.pt.p, kindAlias, string(alias)), nil); err != nil {
		return fmt.Errorf("delete alias %s: %w", alias, err)
	}
	return nil
}

// DeleteOutboxRecord removes a pending outbox record in this batch (an
// erased contact's triggers not yet handed to the relay).
func (b *Batch) DeleteOutboxRecord(seq uint64) error {
	if err := b.b.Delete(outboxKey(b.pt.p, seq), nil); err != nil {
		return fmt.Errorf("delete outbox %d: %w", seq, err)
	}
	return nil
}

// Tombstone returns the erasure receipt of key, if it was erased here.
func (pt *Partition) Tombstone(key Key) ([]byte, bool, error) {
	id := HashErased(key)
	v, ok, err := pt.s.get(appendPartitionKey(nil, pt.p, kindErased, string(id[:])), nil)
	if err != nil {
		return nil, false, fmt.Errorf("partition %d: tombstone: %w", pt.p, err)
	}
	return v, ok, nil
}

// Tombstones calls fn for every erased id of the partition.
func (pt *Partition) Tombstones(fn func(ErasedID) error) error {
	return pt.scan(kindErased, func(rest, _ []byte) error {
		var id ErasedID
		if len(rest) != len(id) {
			return fmt.Errorf("partition %d: tombstone key of %d bytes: %w", pt.p, len(rest), ErrCorrupt)
		}
		copy(id[:], rest)
		return fn(id)
	})
}
