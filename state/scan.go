package state

import "fmt"

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
