package state

import (
	"fmt"
	"unsafe"
)

// LookupScratch is the reusable memory of LookupBytes: one per goroutine
// (a request's pooled scratch), never shared.
type LookupScratch struct {
	k, v, canon []byte
}

// LookupBytes is Lookup for hot read paths: the typed key is given as
// bytes and every buffer comes from sc, so that once sc has grown a lookup
// allocates nothing (the contact's own slices are reused by DecodeContact
// as always). The canonical key it returns aliases sc and is valid until
// sc's next use. partitionOf must not keep the string it is given.
func (s *Store) LookupBytes(key []byte, partitionOf func(string) int32, c *Contact, sc *LookupScratch) ([]byte, error) {
	sc.canon = append(sc.canon[:0], key...)
	for range maxAliasHops {
		if len(sc.canon) < 2 {
			return nil, ErrNotFound
		}
		value := sc.canon[2:]
		p := partitionOf(unsafe.String(unsafe.SliceData(value), len(value)))
		var ok bool
		var err error
		sc.k = appendPartitionKey(sc.k[:0], p, kindContact, "")
		sc.k = append(sc.k, sc.canon...)
		if sc.v, ok, err = s.get(sc.k, sc.v); err != nil {
			return nil, fmt.Errorf("lookup %s: %w", sc.canon, err)
		}
		if ok {
			if err := DecodeContact(sc.v, c); err != nil {
				return nil, fmt.Errorf("lookup %s: %w", sc.canon, err)
			}
			return sc.canon, nil
		}
		sc.k = appendPartitionKey(sc.k[:0], p, kindAlias, "")
		sc.k = append(sc.k, sc.canon...)
		if sc.v, ok, err = s.get(sc.k, sc.v); err != nil {
			return nil, fmt.Errorf("lookup %s: %w", sc.canon, err)
		}
		if !ok {
			return nil, ErrNotFound
		}
		sc.canon = append(sc.canon[:0], sc.v...)
	}
	return nil, fmt.Errorf("lookup %s: %w", sc.canon, ErrAliasLoop)
}
