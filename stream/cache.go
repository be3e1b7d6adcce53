package stream

import "github.com/kairos-engine/kairos/state"

// contactCache keeps decoded hot contacts of one partition so that a
// contact active in many events costs one decode, not one per event. It is
// bounded by count and evicts with the CLOCK algorithm (an approximation of
// least-recently-used that needs no list manipulation on a hit). Owned by
// one worker; not locked.
type contactCache struct {
	max     int
	entries map[state.Key]*cacheEntry
	ring    []*cacheEntry
	hand    int
	// hits and misses since the last batch; the worker adds them to the
	// kairos_stream_cache_* counters after each commit.
	hits   uint64
	misses uint64
}

type cacheEntry struct {
	c   *state.Contact
	ref bool
	pos int
}

func newContactCache(max int) *contactCache {
	if max < 1 {
		max = 1
	}
	return &contactCache{max: max, entries: make(map[state.Key]*cacheEntry)}
}

func (cc *contactCache) get(k state.Key) *state.Contact {
	e, ok := cc.entries[k]
	return cc.found(e, ok)
}

// getBytes is get with the key in a byte slice: the map lookup converts it
// without allocating.
func (cc *contactCache) getBytes(k []byte) *state.Contact {
	e, ok := cc.entries[state.Key(k)]
	return cc.found(e, ok)
}

// found counts a lookup and marks a hit as recently used.
func (cc *contactCache) found(e *cacheEntry, ok bool) *state.Contact {
	if !ok {
		cc.misses++
		return nil
	}
	cc.hits++
	e.ref = true
	return e.c
}

func (cc *contactCache) put(c *state.Contact) {
	if e, ok := cc.entries[c.Key]; ok {
		e.c, e.ref = c, true
		return
	}
	e := &cacheEntry{c: c, ref: true}
	if len(cc.ring) < cc.max {
		e.pos = len(cc.ring)
		cc.ring = append(cc.ring, e)
		cc.entries[c.Key] = e
		return
	}
	for {
		v := cc.ring[cc.hand]
		if v.ref {
			v.ref = false
			cc.hand = (cc.hand + 1) % len(cc.ring)
			continue
		}
		delete(cc.entries, v.c.Key)
		e.pos = cc.hand
		cc.ring[cc.hand] = e
		cc.entries[c.Key] = e
		cc.hand = (cc.hand + 1) % len(cc.ring)
		return
	}
}

func (cc *contactCache) remove(k state.Key) {
	e, ok := cc.entries[k]
	if !ok {
		return
	}
	delete(cc.entries, k)
	last := len(cc.ring) - 1
	moved := cc.ring[last]
	cc.ring[e.pos] = moved
	moved.pos = e.pos
	cc.ring[last] = nil
	cc.ring = cc.ring[:last]
	if cc.hand >= len(cc.ring) {
		cc.hand = 0
	}
}

func (cc *contactCache) clear() {
	clear(cc.entries)
	clear(cc.ring)
	cc.ring = cc.ring[:0]
	cc.hand = 0
}
