package stream

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/state"
)

// relay publishes committed outbox records and deletes each one once the
// broker acknowledged it. A record published but not yet deleted when the
// process dies is published again on restart: consumers of engine output
// deduplicate by the id header (kairos.id, trigger_id), never by offset.
//
// Two rules keep a crash from contradicting what was already published:
//
//   - A record goes out only after the batch that wrote it is durable. A
//     batch committed without a WAL sync can vanish in a crash after its
//     records left the process; the replay, interleaving the partition's
//     topics in another order, may then produce a record with the same id
//     and other content (an anonymous profile merged with or without a page
//     view the first run forwarded separately), and the receiver, which
//     drops an id it has passed, would lose the difference. The relay
//     therefore syncs the WAL once for everything queued before publishing
//     it: a group commit that never blocks the partition workers.
//   - A partition's records go out in outbox order, because receivers keep
//     one watermark per source. If the broker refuses one, the relay stops
//     publishing and fails the engine: publishing later ones would make
//     the refused one look like a duplicate when it is retried on restart.
//
// The relay belongs to the instance, not to a partition: records of a
// partition that was revoked are still delivered by the instance that wrote
// them.
type relay struct {
	cl      *kgo.Client
	store   *state.Store
	log     *slog.Logger
	metrics *metrics
	fail    func(error)

	mu       sync.Mutex
	queue    []queuedRecord
	inflight map[int32]map[uint64]struct{} // queued or being produced
	acked    map[int32][]uint64
	broken   error
	wake     chan struct{}

	// publishMu makes publishing one sequence: the run loop and flush both
	// publish, and records must reach the producer in queue order.
	publishMu sync.Mutex
	pending   sync.WaitGroup
}

type queuedRecord struct {
	p   int32
	rec state.OutboxRecord
	at  time.Time // when the committed record was handed to the relay
}

func newRelay(cl *kgo.Client, store *state.Store, log *slog.Logger, m *metrics, fail func(error)) *relay {
	return &relay{
		cl:       cl,
		store:    store,
		log:      log.With("component", "relay"),
		metrics:  m,
		fail:     fail,
		inflight: make(map[int32]map[uint64]struct{}),
		acked:    make(map[int32][]uint64),
		wake:     make(chan struct{}, 1),
	}
}

// enqueue queues committed records of partition p for publishing. Records
// already queued or in flight (a re-assignment replaying the stored outbox
// while they are being sent) are skipped.
func (r *relay) enqueue(p int32, recs []state.OutboxRecord) {
	r.mu.Lock()
	fl := r.inflight[p]
	if fl == nil {
		fl = make(map[uint64]struct{})
		r.inflight[p] = fl
	}
	n := 0
	now := time.Now()
	for _, rec := range recs {
		if _, ok := fl[rec.Seq]; ok {
			continue
		}
		fl[rec.Seq] = struct{}{}
		r.queue = append(r.queue, queuedRecord{p: p, rec: rec, at: now})
		n++
	}
	r.mu.Unlock()
	r.metrics.outboxPending.Add(float64(n))
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// publish makes the queued records' batches durable and hands the records
// to the producer, in queue order.
func (r *relay) publish() error {
	r.publishMu.Lock()
	defer r.publishMu.Unlock()
	r.mu.Lock()
	todo, broken := r.queue, r.broken
	r.queue = nil
	r.mu.Unlock()
	if broken != nil {
		return broken
	}
	if len(todo) == 0 {
		return nil
	}
	if err := r.store.Durable(); err != nil {
		r.breakDown(fmt.Errorf("relay: %w", err))
		return err
	}
	for _, q := range todo {
		kr := &kgo.Record{Topic: q.rec.Topic, Key: q.rec.Key, Value: q.rec.Value}
		if len(q.rec.Headers) > 0 {
			kr.Headers = make([]kgo.RecordHeader, len(q.rec.Headers))
			for i, h := range q.rec.Headers {
				kr.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
			}
		}
		p, seq, topic, queued := q.p, q.rec.Seq, q.rec.Topic, q.at
		r.pending.Add(1)
		// The producer's context is not the engine's: records handed over
		// are delivered even while the engine shuts down.
		r.cl.Produce(context.Background(), kr, func(_ *kgo.Record, err error) {
			defer r.pending.Done()
			r.metrics.outboxPending.Dec()
			if err != nil {
				r.metrics.relayErrors.Inc()
				r.log.Error("publish failed; the record stays in the outbox for the next start", "topic", topic, "partition", p, "seq", seq, "err", err)
				r.breakDown(fmt.Errorf("relay: publish partition %d outbox record %d to %s: %w", p, seq, topic, err))
				return
			}
			r.mu.Lock()
			delete(r.inflight[p], seq)
			r.acked[p] = append(r.acked[p], seq)
			r.mu.Unlock()
			r.metrics.relayed(topic)
			r.metrics.relayLatency.Observe(time.Since(queued).Seconds())
		})
	}
	return nil
}

// breakDown stops all further publishing and fails the engine, once.
func (r *relay) breakDown(err error) {
	r.mu.Lock()
	first := r.broken == nil
	if first {
		r.broken = err
	}
	r.mu.Unlock()
	if first && r.fail != nil {
		r.fail(err)
	}
}

// run publishes queued records as they come and deletes acknowledged ones
// every few milliseconds, until ctx ends.
func (r *relay) run(ctx context.Context) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = r.publish()
			r.deleteAcked()
			return
		case <-r.wake:
			_ = r.publish()
		case <-t.C:
			r.deleteAcked()
		}
	}
}

func (r *relay) deleteAcked() {
	r.mu.Lock()
	acked := r.acked
	r.acked = make(map[int32][]uint64, len(acked))
	r.mu.Unlock()
	for p, seqs := range acked {
		if err := r.store.DeleteOutbox(p, seqs); err != nil {
			// Not deleting only means publishing again after a restart.
			r.log.Warn("delete acknowledged outbox records", "partition", p, "err", err)
		}
	}
}

// flush publishes what is queued, waits until every record is acknowledged
// (or failed) and deletes the acknowledged ones.
func (r *relay) flush(ctx context.Context) error {
	if err := r.publish(); err != nil {
		return err
	}
	if err := r.cl.Flush(ctx); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { r.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.deleteAcked()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.broken
}
