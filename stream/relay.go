package stream

import (
	"context"
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
// The relay belongs to the instance, not to a partition: records of a
// partition that was revoked are still delivered by the instance that wrote
// them.
type relay struct {
	cl      *kgo.Client
	store   *state.Store
	log     *slog.Logger
	metrics *metrics

	mu       sync.Mutex
	inflight map[int32]map[uint64]struct{}
	acked    map[int32][]uint64
	ctx      context.Context
	pending  sync.WaitGroup
}

func newRelay(cl *kgo.Client, store *state.Store, log *slog.Logger, m *metrics) *relay {
	return &relay{
		cl:       cl,
		store:    store,
		log:      log.With("component", "relay"),
		metrics:  m,
		inflight: make(map[int32]map[uint64]struct{}),
		acked:    make(map[int32][]uint64),
		ctx:      context.Background(),
	}
}

// enqueue publishes records of partition p. Records already in flight (a
// re-assignment replaying the stored outbox while they are being sent) are
// skipped.
func (r *relay) enqueue(p int32, recs []state.OutboxRecord) {
	r.mu.Lock()
	fl := r.inflight[p]
	if fl == nil {
		fl = make(map[uint64]struct{})
		r.inflight[p] = fl
	}
	todo := recs[:0:0]
	for _, rec := range recs {
		if _, ok := fl[rec.Seq]; ok {
			continue
		}
		fl[rec.Seq] = struct{}{}
		todo = append(todo, rec)
	}
	ctx := r.ctx
	r.mu.Unlock()
	r.metrics.outboxPending.Add(float64(len(todo)))
	for _, rec := range todo {
		kr := &kgo.Record{Topic: rec.Topic, Key: rec.Key, Value: rec.Value}
		if len(rec.Headers) > 0 {
			kr.Headers = make([]kgo.RecordHeader, len(rec.Headers))
			for i, h := range rec.Headers {
				kr.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
			}
		}
		seq := rec.Seq
		topic := rec.Topic
		r.pending.Add(1)
		r.cl.Produce(ctx, kr, func(_ *kgo.Record, err error) {
			defer r.pending.Done()
			r.metrics.outboxPending.Dec()
			r.mu.Lock()
			delete(r.inflight[p], seq)
			if err == nil {
				r.acked[p] = append(r.acked[p], seq)
			}
			r.mu.Unlock()
			if err != nil {
				// The record stays in the outbox and is published again
				// when the partition is next assigned or the engine
				// restarts.
				r.metrics.relayErrors.Inc()
				r.log.Error("publish failed; kept in the outbox for the next start", "topic", topic, "partition", p, "seq", seq, "err", err)
				return
			}
			r.metrics.relayed(topic)
		})
	}
}

// run deletes acknowledged records every few milliseconds until ctx ends.
func (r *relay) run(ctx context.Context) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.deleteAcked()
			return
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

// flush waits until every enqueued record is acknowledged (or failed) and
// deletes the acknowledged ones.
func (r *relay) flush(ctx context.Context) error {
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
	return nil
}
