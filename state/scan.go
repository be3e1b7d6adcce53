package state

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Contacts calls fn for every contact of the partition, in key order,
// decoding each into the same Contact: fn must copy what it keeps. The
// scan reads a consistent view as of its start (a Pebble iterator) and
// never blocks the partition's writer, so background jobs (the population
// fit) can run it while the partition folds.
func (pt *Partition) Contacts(fn func(*Contact) error) error {
	var c Contact
	return pt.scan(kindContact, func(rest, v []byte) error {
		if err := DecodeContact(v, &c); err != nil {
			return fmt.Errorf("partition %d: contact %q: %w", pt.p, rest, err)
		}
		return fn(&c)
	})
}

// ContactsAfter calls fn for at most limit contacts with keys after
// `after` ("" starts at the first), in key order, and returns the last key
// visited ("" when the scan reached the end of the partition). Retention
// sweeps walk a partition in such chunks between batches.
func (pt *Partition) ContactsAfter(after Key, limit int, fn func(*Contact) error) (Key, error) {
	var c Contact
	var last Key
	n := 0
	lo, hi := partitionBounds(pt.p, kindContact)
	if after != "" {
		// The smallest key after `after`: after + 0x00.
		lo = append(appendPartitionKey(nil, pt.p, kindContact, string(after)), 0)
	}
	it, err := pt.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return "", err
	}
	for ok := it.First(); ok && n < limit; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return "", err
		}
		k := it.Key()[partitionPrefixLen+1:]
		if err := DecodeContact(v, &c); err != nil {
			it.Close()
			return "", fmt.Errorf("partition %d: contact %q: %w", pt.p, k, err)
		}
		if err := fn(&c); err != nil {
			it.Close()
			return "", err
		}
		last = Key(k)
		n++
	}
	more := it.Valid()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return "", err
	}
	if !more {
		return "", nil
	}
	return last, nil
}
