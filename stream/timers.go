package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/trigger"
)

// Durable trigger timers fire between batches: after every batch a worker
// commits, and on a tick when its partition is idle. The poll loop polls
// with a deadline of one tick (PollRecords would otherwise block while no
// record arrives) and hands every worker a tick, an empty hand-over, at
// most once per Tick of real time. A busy worker fires after each batch
// anyway; a tick that finds its queue full is skipped.

// maxFireRounds bounds how many batches of due timers one turn fires; what
// is left (an enormous backlog, a rule that keeps re-arming into the past)
// fires on the next turn, so that records keep flowing.
const maxFireRounds = 16

// engineTriggers is the engine's share of the trigger wiring.
type engineTriggers struct {
	m        *triggerMetrics
	lastTick time.Time // real time of the last tick; the poll loop's own
}

// triggerMetrics are the stream's side of triggers; the funnel per rule
// is stream/trigger's.
type triggerMetrics struct {
	fired        prometheus.Counter
	timerErrors  prometheus.Counter
	orphaned     prometheus.Counter
	stateErrors  prometheus.Counter
	timerDeletes map[string]prometheus.Counter
}

// Why timers are deleted, the values of kairos_stream_timers_deleted_total's
// reason label.
const (
	timersMerged  = "merge"
	timersErased  = "erase"
	timersExpired = "retention"
)

func newTriggerMetrics(reg prometheus.Registerer) *triggerMetrics {
	deleted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_stream_timers_deleted_total",
		Help: "Pending trigger timers deleted with their contact, by reason: merge (the profile was absorbed into another contact), erase, retention (an inactive contact removed).",
	}, []string{"reason"})
	m := &triggerMetrics{
		fired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_stream_timers_fired_total",
			Help: "Trigger timers that came due at a partition's watermark and were handed to the trigger engine.",
		}),
		timerErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_stream_timer_errors_total",
			Help: "Due trigger timers whose stored data could not be decoded; they are deleted and the partition goes on.",
		}),
		orphaned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_stream_timers_orphaned_total",
			Help: "Due trigger timers of a contact no longer on the partition, deleted without firing.",
		}),
		stateErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_stream_trigger_state_errors_total",
			Help: "Contacts whose stored trigger state did not decode and was reset.",
		}),
		timerDeletes: make(map[string]prometheus.Counter),
	}
	for _, r := range []string{timersMerged, timersErased, timersExpired} {
		m.timerDeletes[r] = deleted.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.fired, m.timerErrors, m.orphaned, m.stateErrors, deleted)
	}
	return m
}

// pollRecords is PollRecords with a deadline of one tick, so that the poll
// loop comes round to hand out ticks while no record arrives.
func (e *Engine) pollRecords(ctx context.Context, cl *kgo.Client) kgo.Fetches {
	pctx, cancel := context.WithTimeout(ctx, e.cfg.Triggers.Tick)
	defer cancel()
	return cl.PollRecords(pctx, e.cfg.MaxPollRecords)
}

// noteEnds passes the end offsets a fetch reported to the partitions'
// workers (workerTriggers.ends).
func (e *Engine) noteEnds(ws map[int32]*worker, ftp *kgo.FetchTopicPartition) {
	if e.cfg.Triggers.Engine == nil {
		return
	}
	if w := ws[ftp.Partition]; w != nil {
		end := ftp.LastStableOffset
		if end < 0 {
			end = ftp.HighWatermark
		}
		w.noteEnd(ftp.Topic, end)
	}
}

// tick hands every worker a tick, at most once per Tick. It runs in the
// poll loop before AllowRebalance, so no worker's queue can be closed
// meanwhile.
func (e *Engine) tick(ws map[int32]*worker) {
	if e.triggerEngine() == nil && !e.cfg.Retention.retentionOn() {
		return
	}
	now := time.Now()
	if now.Sub(e.trig.lastTick) < e.cfg.Triggers.Tick {
		return
	}
	e.trig.lastTick = now
	for _, w := range ws {
		select {
		case w.in <- nil:
		default: // busy: it fires after its batch anyway
		}
	}
}

// between runs after every batch and on every tick: it fires the trigger
// timers due at the partition's watermark and, when retention is on, takes
// a sweep step every sweepInterval.
func (w *worker) between() error {
	now := w.e.now()
	if eng := w.e.triggerEngine(); eng != nil {
		if err := w.primeTriggers(now); err != nil {
			return err
		}
		w.holdLagging(now)
		w.trig.mark = w.trig.wm.At(now)
		if err := w.fireTimers(eng, w.trig.mark); err != nil {
			return err
		}
	}
	if w.e.cfg.Retention.retentionOn() && now.Sub(w.trig.lastSweep) >= sweepInterval {
		w.trig.lastSweep = now
		if err := w.sweep(now); err != nil {
			return err
		}
	}
	return nil
}

// fireTimers fires, in due order, the timers due at watermark wm, one batch
// of at most FireBatch timers at a time, until none is due.
func (w *worker) fireTimers(eng *trigger.Engine, wm int64) error {
	t := &w.trig
	for range maxFireRounds {
		t.due = t.due[:0]
		if _, err := w.pt.DueTimers(wm, w.e.cfg.Triggers.FireBatch, func(tm *state.Timer) error {
			cp := *tm
			cp.Data = append([]byte(nil), tm.Data...) // valid only during the call
			t.due = append(t.due, cp)
			return nil
		}); err != nil {
			return fmt.Errorf("partition %d: due timers: %w", w.p, err)
		}
		if len(t.due) == 0 {
			return nil
		}
		if err := w.fireBatch(eng, wm); err != nil {
			return err
		}
	}
	return nil
}

// fireBatch fires t.due in one Pebble batch: each timer's deletion, the
// triggers it emits (outbox), the timers it arms, and the contacts' new
// trigger state are written together.
func (w *worker) fireBatch(eng *trigger.Engine, wm int64) error {
	w.batch = w.pt.NewBatch()
	err := w.fireInto(eng, wm)
	if err == nil {
		for _, c := range w.dirty {
			if err = w.batch.PutContact(c); err != nil {
				break
			}
		}
	}
	if err != nil {
		w.batch.Discard()
		w.reset()
		return fmt.Errorf("partition %d: fire timers: %w", w.p, err)
	}
	if err := w.batch.Commit(); err != nil {
		w.reset()
		return fmt.Errorf("partition %d: fire timers: %w", w.p, err)
	}
	if added := w.batch.Added(); len(added) > 0 {
		w.e.relay.enqueue(w.p, added)
	}
	clear(w.dirty)
	w.batch = nil
	return nil
}

func (w *worker) fireInto(eng *trigger.Engine, wm int64) error {
	t := &w.trig
	m := w.e.trig.m
	for i := range t.due {
		tm := &t.due[i]
		c, _, err := w.resolve(tm.Contact)
		if err != nil {
			return err
		}
		if c == nil {
			// Merged away, erased or expired while its deletion was not
			// yet committed: the timer only goes.
			m.orphaned.Inc()
			if err := w.batch.CancelTimer(tm.Contact, tm.Name, tm.Due); err != nil {
				return err
			}
			continue
		}
		if err := t.cs.UnmarshalBinary(c.Triggers); err != nil {
			m.stateErrors.Inc()
			w.log.Warn("trigger state reset", "contact", c.Key, "err", err)
			t.cs.Reset()
		}
		m.fired.Inc()
		t.acts, err = eng.Fire(tm, c, &t.cs, wm, t.acts[:0])
		if err != nil {
			// The actions still delete the timer.
			m.timerErrors.Inc()
			w.log.Warn("trigger timer dropped", "contact", c.Key, "timer", tm.Name, "err", err)
		}
		if err := w.applyTriggers(c); err != nil {
			return err
		}
	}
	return nil
}
