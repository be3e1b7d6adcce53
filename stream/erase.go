package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/state"
)

// opErase on the re-key topic erases a contact (GDPR erasure). It travels
// through the log so that the partition's owner applies it in order with
// the contact's events, in one batch with everything else: an erase
// cannot race a fold, and it survives crashes and rebalances like any
// other state change.
const opErase = "erase"

// ErrNotRunning is returned by RequestErase before Run has started the
// producer.
var ErrNotRunning = errors.New("stream: engine not running")

// Receipt says what an erasure removed. It is stored as the value of the
// tombstone of every erased id and returned by the API.
type Receipt struct {
	ErasedAt       time.Time `json:"erased_at"`
	Contact        string    `json:"contact"` // the canonical key erased ("c:42")
	ContactDeleted bool      `json:"contact_deleted"`
	// IDs counts the ids tombstoned: the contact's key and its aliases.
	IDs            int `json:"ids"`
	AliasesDeleted int `json:"aliases_deleted"`
	// Forwarded counts ids living on other partitions, erased there by
	// their owners.
	Forwarded     int `json:"forwarded"`
	OutboxDeleted int `json:"outbox_deleted"`
	// TimersDeleted counts the contact's pending trigger timers deleted.
	TimersDeleted int    `json:"timers_deleted"`
	Partition     int32  `json:"partition"`
	Note          string `json:"note"`
}

// receiptNote is what every receipt says about what erasure cannot reach.
const receiptNote = "Kairos removed its own state for these ids and will drop their later or replayed events. " +
	"Records already consumed by downstream systems (triggers sent, decisions logged) are outside Kairos and must be erased there."

// RequestErase asks the owner of key to erase the contact: it publishes an
// erase command on the re-key topic and returns once the broker has it.
// The erasure is applied asynchronously; its tombstone (state.Partition.
// Tombstone) holds the receipt once done.
func (e *Engine) RequestErase(ctx context.Context, key state.Key) error {
	r := e.relay
	if r == nil {
		return ErrNotRunning
	}
	rec := &kgo.Record{
		Topic: e.cfg.Topics.Rekey,
		Key:   []byte(key.Value()),
		Headers: []kgo.RecordHeader{
			{Key: HeaderOp, Value: []byte(opErase)},
			{Key: HeaderTarget, Value: []byte(key)},
		},
	}
	if err := r.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("stream: publish erase of %s: %w", key, err)
	}
	return nil
}

// isErased reports whether k was erased on this partition.
func (w *worker) isErased(k state.Key) bool {
	if len(w.erased) == 0 {
		return false
	}
	_, ok := w.erased[state.HashErased(k)]
	return ok
}

// erase removes the contact k resolves to from this partition: its record,
// its local alias links and pending outbox records, and tombstones every
// id; ids owned by other partitions get an erase command of their own. It
// is idempotent: erasing an erased id only refreshes nothing.
func (w *worker) erase(r *kgo.Record, k state.Key, hops int) error {
	for {
		if hops > maxHops {
			return w.deadLetter(r, reasonIdentityLoop, "erase of "+string(k)+" not resolved after "+strconv.Itoa(maxHops)+" hops")
		}
		if owner := w.e.partitionOf(k.Value()); owner != w.p {
			return w.eraseElsewhere(r, k, hops+1)
		}
		c, alias, err := w.resolve(k)
		if err != nil {
			return err
		}
		rc := Receipt{ErasedAt: time.Now().UTC(), Contact: string(k), Partition: w.p, Note: receiptNote}
		if alias != "" {
			// The id is an alias here: remove the link and erase the
			// contact it points to, wherever that lives.
			if err := w.eraseKey(k, true, &rc); err != nil {
				return err
			}
			rc.Contact = string(alias)
			if err := w.tombstone(k, &rc); err != nil {
				return err
			}
			k, hops = alias, hops+1
			continue
		}
		if c == nil {
			if w.isErased(k) {
				return nil // erased already: keep the first receipt
			}
			// Unknown: tombstone it anyway, so that events arriving
			// later for it are dropped too.
			return w.tombstone(k, &rc)
		}
		keys := append([]state.Key{c.Key}, c.Aliases...)
		rc.IDs = len(keys)
		values := make([][]byte, 0, len(keys))
		for _, id := range keys {
			values = append(values, []byte(id.Value()))
			if id == c.Key {
				continue
			}
			if w.e.partitionOf(id.Value()) != w.p {
				rc.Forwarded++
				if err := w.eraseElsewhere(r, id, hops+1); err != nil {
					return err
				}
				continue
			}
			if err := w.eraseKey(id, true, &rc); err != nil {
				return err
			}
		}
		if err := w.eraseKey(c.Key, false, &rc); err != nil {
			return err
		}
		rc.ContactDeleted = true
		if rc.TimersDeleted, err = w.deleteTimers(c.Key, c, timersErased); err != nil { // triggers.go
			return err
		}
		n, err := w.dropOutbox(values)
		if err != nil {
			return err
		}
		rc.OutboxDeleted = n
		w.e.metrics.erasures.Inc()
		for _, id := range keys {
			if w.e.partitionOf(id.Value()) == w.p {
				if err := w.tombstone(id, &rc); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// eraseKey forgets k on this partition: as an alias, or as a contact.
func (w *worker) eraseKey(k state.Key, alias bool, rc *Receipt) error {
	delete(w.aliases, k)
	w.cache.remove(k)
	delete(w.dirty, k)
	if alias {
		rc.AliasesDeleted++
		return w.batch.DeleteAlias(k)
	}
	w.deleted[k] = true
	return nil
}

func (w *worker) tombstone(k state.Key, rc *Receipt) error {
	b, err := json.Marshal(rc)
	if err != nil {
		return err
	}
	w.erased[state.HashErased(k)] = struct{}{}
	return w.batch.PutTombstone(k, b)
}

// eraseElsewhere sends an erase command for k to its owner.
func (w *worker) eraseElsewhere(r *kgo.Record, k state.Key, hops int) error {
	return w.batch.AddOutbox(state.OutboxRecord{
		Topic: w.e.cfg.Topics.Rekey,
		Key:   []byte(k.Value()),
		Headers: []state.Header{
			{Key: HeaderOp, Value: []byte(opErase)},
			{Key: HeaderTarget, Value: []byte(k)},
			{Key: HeaderHops, Value: strconv.AppendInt(nil, int64(hops), 10)},
			{Key: HeaderID, Value: []byte(internalID(r, hops))},
		},
	})
}

// dropOutbox deletes the stored outbox records keyed by one of the
// contact's id values (its triggers and forwarded events not yet
// published). Records already handed to the relay are on their way.
func (w *worker) dropOutbox(values [][]byte) (int, error) {
	pending, err := w.pt.Outbox()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range pending {
		if rec.Topic == w.e.cfg.Topics.DeadLetter {
			continue // the bad input itself, not the contact's data
		}
		if slices.ContainsFunc(values, func(v []byte) bool { return string(v) == string(rec.Key) }) {
			if err := w.batch.DeleteOutboxRecord(rec.Seq); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// loadErased reads the partition's tombstones.
func loadErased(pt *state.Partition) (map[state.ErasedID]struct{}, error) {
	m := make(map[state.ErasedID]struct{})
	err := pt.Tombstones(func(id state.ErasedID) error {
		m[id] = struct{}{}
		return nil
	})
	return m, err
}
