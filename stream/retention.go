package stream

import (
	"fmt"
	"time"

	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/fold"
)

// Retention sweeps. The fold trims a contact's history whenever the
// contact sends an event; a contact that stopped sending keeps its history
// until a sweep reaches it. The poll loop asks each worker for a sweep
// step every sweepInterval (between batches, so the partition's state is
// all in Pebble); a step walks sweepChunk contacts from where the previous
// one stopped, so a pass over a large partition never holds the partition
// up for long.
const (
	sweepInterval = 10 * time.Second
	sweepChunk    = 20_000
)

// retentionOn reports whether retention needs sweeps at all.
func (r Retention) retentionOn() bool { return r.EventHistory > 0 || r.InactiveContacts > 0 }

// sweep runs one retention step on this partition, in its own batch: it
// trims recent events older than now − EventHistory and removes contacts
// whose latest event is older than now − InactiveContacts (with their
// identity links, through the same path as an erasure, without a
// tombstone: a returning visitor starts afresh).
func (w *worker) sweep(now time.Time) error {
	ret := w.e.cfg.Retention
	if !ret.retentionOn() {
		return nil
	}
	var historyCut, inactiveCut int64
	if ret.EventHistory > 0 {
		historyCut = now.Add(-ret.EventHistory).UnixMilli()
	}
	if ret.InactiveContacts > 0 {
		inactiveCut = now.Add(-ret.InactiveContacts).UnixMilli()
	}
	var trimmed []*state.Contact
	var expired []state.Key
	next, err := w.pt.ContactsAfter(w.sweepCursor, sweepChunk, func(c *state.Contact) error {
		switch {
		case inactiveCut != 0 && c.LastSeen < inactiveCut:
			expired = append(expired, c.Key)
		case historyCut != 0 && len(c.Recent) > 0 && c.Recent[0].At < historyCut:
			cp := new(state.Contact)
			if err := state.DecodeContact(c.AppendEncoded(nil), cp); err != nil {
				return err
			}
			fold.TrimHistory(cp, historyCut)
			trimmed = append(trimmed, cp)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("partition %d: retention sweep: %w", w.p, err)
	}
	w.sweepCursor = next
	if len(trimmed) == 0 && len(expired) == 0 {
		return nil
	}
	w.batch = w.pt.NewBatch()
	defer func() { w.batch = nil }()
	for _, c := range trimmed {
		if err := w.batch.PutContact(c); err != nil {
			w.batch.Discard()
			return err
		}
		// The cached copy is older than the trimmed one.
		w.cache.remove(c.Key)
	}
	for _, k := range expired {
		if err := w.forget(k); err != nil {
			w.batch.Discard()
			return err
		}
	}
	for k := range w.deleted {
		if err := w.batch.DeleteContact(k); err != nil {
			w.batch.Discard()
			return err
		}
	}
	clear(w.deleted)
	if err := w.batch.Commit(); err != nil {
		return err
	}
	if added := w.batch.Added(); len(added) > 0 {
		w.e.relay.enqueue(w.p, added)
	}
	w.e.metrics.retentionTrimmed.Add(float64(len(trimmed)))
	w.e.metrics.retentionExpired.Add(float64(len(expired)))
	return nil
}

// forget removes an inactive contact and its identity links: local links
// here, links on other partitions through the re-key topic as an erase
// without tombstones (opExpire).
func (w *worker) forget(k state.Key) error {
	c, _, err := w.resolve(k)
	if err != nil || c == nil {
		return err
	}
	for _, id := range c.Aliases {
		if w.e.partitionOf(id.Value()) != w.p {
			if err := w.batch.AddOutbox(state.OutboxRecord{
				Topic: w.e.cfg.Topics.Rekey,
				Key:   []byte(id.Value()),
				Headers: []state.Header{
					{Key: HeaderOp, Value: []byte(opExpire)},
					{Key: HeaderTarget, Value: []byte(id)},
					{Key: HeaderAlias, Value: []byte(c.Key)},
				},
			}); err != nil {
				return err
			}
			continue
		}
		delete(w.aliases, id)
		if err := w.batch.DeleteAlias(id); err != nil {
			return err
		}
	}
	if _, err := w.deleteTimers(k, c, timersExpired); err != nil { // triggers.go
		return err
	}
	w.cache.remove(k)
	w.deleted[k] = true
	return nil
}

// opExpire removes an alias link whose contact was removed for
// inactivity, if it still points there.
const opExpire = "expire"

// expireAlias applies opExpire: the alias goes only if it still resolves
// to the removed contact (it may have been linked elsewhere since).
func (w *worker) expireAlias(alias, contact state.Key) error {
	_, t, err := w.resolve(alias)
	if err != nil || t != contact {
		return err
	}
	delete(w.aliases, alias)
	return w.batch.DeleteAlias(alias)
}
