package stream

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/trigger"
)

// Triggers places the trigger engine (stream/trigger) in the stream: the
// worker evaluates its rules on every folded event and fires its durable
// timers between batches (timers.go).
type Triggers struct {
	// Engine is the rule set in force; nil, or a pointer holding nil,
	// turns triggers off. Its owner swaps in a new Engine on a rule
	// reload; a worker reads it once per batch.
	Engine *atomic.Pointer[trigger.Engine]
	// Lateness and Idle configure each partition's trigger.Watermark:
	// how long timers wait for late events (default 0), and after how
	// much wall time a silent input topic stops holding timers back
	// (default 30s).
	Lateness, Idle time.Duration
	// Tick is how often the poll loop hands an idle partition a tick, so
	// that its timers fire by wall clock (and its retention sweep runs).
	// Default 1s.
	Tick time.Duration
	// FireBatch bounds how many due timers one batch fires. Default 1000.
	FireBatch int
	// Now is the wall clock of watermarks, ticks and sweeps. Default
	// time.Now; tests inject one.
	Now func() time.Time
}

func (t *Triggers) withDefaults() {
	if t.Idle <= 0 {
		t.Idle = 30 * time.Second
	}
	if t.Tick <= 0 {
		t.Tick = time.Second
	}
	if t.FireBatch <= 0 {
		t.FireBatch = 1000
	}
	if t.Now == nil {
		t.Now = time.Now
	}
}

// TriggerTopics returns t with the default name (trigger.DefaultTopics)
// for every channel that has none: the names the engine creates and the
// trigger.Engine must be built with.
func TriggerTopics(t trigger.Topics) trigger.Topics {
	d := trigger.DefaultTopics()
	for _, f := range []struct {
		v *string
		d string
	}{{&t.Email, d.Email}, {&t.SMS, d.SMS}, {&t.Push, d.Push}, {&t.Sales, d.Sales}} {
		if *f.v == "" {
			*f.v = f.d
		}
	}
	return t
}

// triggerTopicList lists the trigger topics EnsureTopics creates.
func triggerTopicList(t trigger.Topics) []string {
	t = TriggerTopics(t)
	return []string{t.Email, t.SMS, t.Push, t.Sales}
}

func (e *Engine) now() time.Time { return e.cfg.Triggers.Now() }

// triggerEngine returns the engine in force, nil when triggers are off.
func (e *Engine) triggerEngine() *trigger.Engine {
	if e.cfg.Triggers.Engine == nil {
		return nil
	}
	return e.cfg.Triggers.Engine.Load()
}

// workerTriggers is a worker's trigger scratch and clock. The worker owns
// it; nothing in it is shared.
type workerTriggers struct {
	eng *trigger.Engine // for the batch in progress
	wm  trigger.Watermark
	// primed: the watermark holds every input topic back until it has
	// been heard from or silent for Idle, so that a restarted worker does
	// not fire timers by wall clock before it has read its backlog.
	primed bool
	// mark is the watermark as of the last turn between batches: the
	// "now" of the evaluations in the next batch. Reading the watermark
	// mid-batch instead would let a topic whose records wait behind the
	// batch count as silent, and the watermark never goes back.
	mark int64

	before  trigger.Snapshot
	pBefore float64
	cs      trigger.ContactState
	acts    []trigger.Action
	due     []state.Timer

	// ends holds the end offset (last stable offset) of each input topic
	// of the partition as the latest fetch saw it; the poll loop writes
	// it, the worker reads it between batches. next is the next offset
	// the worker has folded per topic. A topic with next < end has records
	// waiting, so it holds the watermark back however long it has been
	// since the worker last folded one of its events: a worker busy with
	// a backlog of clicks must not fire timers an order behind them
	// cancels.
	endsMu    sync.Mutex
	ends      map[string]int64
	next      map[string]int64
	endsAsked time.Time // real time of the last askEnds

	// pAliveOf is the engine needsPAlive was computed for.
	pAliveOf    *trigger.Engine
	needsPAlive bool

	lastSweep time.Time
}

// primeTriggers starts the watermark's clock for every input topic.
func (w *worker) primeTriggers(now time.Time) error {
	t := &w.trig
	if t.primed {
		return nil
	}
	t.primed = true
	t.wm.Lateness, t.wm.Idle = w.e.cfg.Triggers.Lateness, w.e.cfg.Triggers.Idle
	for _, topic := range w.e.cfg.Topics.inputs() {
		t.wm.Observe(topic, 0, now)
	}
	next, err := w.pt.Offsets()
	if err != nil {
		return fmt.Errorf("partition %d: stored offsets: %w", w.p, err)
	}
	t.next = next
	return nil
}

// noteEnd records the end of a topic's partition as a fetch reported it.
// The poll loop calls it; end is the last stable offset, or the high
// watermark when the broker gave none.
func (w *worker) noteEnd(topic string, end int64) {
	t := &w.trig
	t.endsMu.Lock()
	if t.ends == nil {
		t.ends = make(map[string]int64)
	}
	t.ends[topic] = end
	t.endsMu.Unlock()
}

// holdLagging keeps every topic with records waiting from counting as
// silent, after the batch whose next offsets are w.offsets. A topic whose
// end is not known holds too: a fetch with no record at all is never
// reported to the poll loop, so the end is asked of the broker (at most
// once per endsQueryEvery), and until it answers the topic may have a
// backlog: a restarted worker must not fire timers by wall clock before
// it read the orders that cancel them.
func (w *worker) holdLagging(now time.Time) {
	t := &w.trig
	for topic, next := range w.offsets {
		t.next[topic] = next
	}
	t.endsMu.Lock()
	var unknown []string
	for _, topic := range w.e.cfg.Topics.inputs() {
		end, known := t.ends[topic]
		if !known {
			unknown = append(unknown, topic)
		}
		if !known || t.next[topic] < end {
			t.wm.Observe(topic, 0, now)
		}
	}
	t.endsMu.Unlock()
	if len(unknown) > 0 && time.Since(t.endsAsked) >= endsQueryEvery {
		t.endsAsked = time.Now()
		w.askEnds(unknown)
	}
}

// endsQueryEvery bounds how often a worker asks the broker for the end
// offsets no fetch reported.
const endsQueryEvery = time.Second

// askEnds asks the broker for the end offsets of topics on this
// partition. A failure only means asking again later.
func (w *worker) askEnds(topics []string) {
	cl := w.e.consumer
	if cl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		w.log.Debug("end offsets for the trigger watermark", "err", err)
		return
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Partition == w.p && o.Err == nil {
			w.noteEnd(o.Topic, o.Offset)
		}
	})
}

// triggersBefore is called before an event is folded into c: it takes the
// snapshot rules compare with the state after, and P(alive) as of the
// contact's previous event. P(alive) falls with time between events, so
// comparing it then and after this event is what sees it cross a
// threshold (a customer browsing again after a long silence); an order
// raises it.
func (w *worker) triggersBefore(c *state.Contact) {
	t := &w.trig
	t.eng = w.e.triggerEngine()
	if t.eng == nil {
		return
	}
	t.before = trigger.Snap(c)
	t.pBefore = math.NaN()
	if w.wantsPAlive(c) {
		t.pBefore = w.pAlive(c, c.LastSeen)
	}
}

// triggersAfter evaluates the rules on the event just folded into c and
// writes their actions (emissions to the outbox, timers armed and
// cancelled) into the open batch, with c's trigger state.
func (w *worker) triggersAfter(r *kgo.Record, c *state.Contact) error {
	t := &w.trig
	if t.eng == nil {
		return nil
	}
	now := w.e.now()
	if err := w.primeTriggers(now); err != nil {
		return err
	}
	t.wm.Observe(r.Topic, w.ev.Time, now)
	in := trigger.Input{
		Before:       &t.before,
		After:        c,
		Event:        &w.ev,
		Now:          t.mark,
		PAliveBefore: t.pBefore,
		PAliveAfter:  math.NaN(),
		State:        &t.cs,
	}
	if !math.IsNaN(t.pBefore) {
		in.PAliveAfter = w.pAlive(c, max(c.LastSeen, w.ev.Time))
	}
	if !t.eng.Wants(&in) {
		return nil
	}
	if err := t.cs.UnmarshalBinary(c.Triggers); err != nil {
		// A state that does not decode is forgotten rather than
		// stopping the partition: at worst a cooldown restarts.
		w.e.trig.m.stateErrors.Inc()
		w.log.Warn("trigger state dropped", "contact", c.Key, "err", err)
		t.cs.Reset()
	}
	in.Source = w.triggerSource(r)
	t.acts = t.eng.Evaluate(&in, t.acts[:0])
	return w.applyTriggers(c)
}

// applyTriggers writes t.acts into the batch and stores t.cs in c.
func (w *worker) applyTriggers(c *state.Contact) error {
	t := &w.trig
	if len(t.acts) == 0 {
		return nil
	}
	if err := trigger.Apply(w.batch, t.acts); err != nil {
		return err
	}
	c.Triggers = t.cs.AppendBinary(c.Triggers[:0])
	w.dirty[c.Key] = c
	return nil
}

// triggerSource names the record that caused an evaluation, from which
// trigger ids derive. An event forwarded through the re-key topic is named
// by the input record it came from (its kairos.id header), not by its
// re-key offset: the re-key topic interleaves the forwards of all
// partitions in an order no replay reproduces, while the input record is
// the same in every run.
func (w *worker) triggerSource(r *kgo.Record) trigger.Source {
	if r.Topic == w.e.cfg.Topics.Rekey {
		for _, h := range r.Headers {
			if h.Key != HeaderID {
				continue
			}
			if src, ok := parseSource(string(h.Value)); ok {
				return src
			}
		}
	}
	return trigger.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
}

// parseSource reads "topic/partition/offset/index" (internalID).
func parseSource(id string) (trigger.Source, bool) {
	src, mark, ok := parseInternalID(id)
	if !ok {
		return trigger.Source{}, false
	}
	i := strings.LastIndexByte(src, '/')
	p, err := strconv.ParseInt(src[i+1:], 10, 32)
	if err != nil {
		return trigger.Source{}, false
	}
	return trigger.Source{Topic: src[:i], Partition: int32(p), Offset: mark.Offset}, true
}

// wantsPAlive reports whether P(alive) is worth computing for c: the rule
// set has a p_alive_below clause, a churn fit exists, and c is a customer.
func (w *worker) wantsPAlive(c *state.Contact) bool {
	t := &w.trig
	if t.pAliveOf != t.eng {
		t.pAliveOf, t.needsPAlive = t.eng, false
		for _, r := range t.eng.Rules().Rules {
			for i := range r.On {
				if r.On[i].PAliveBelow > 0 {
					t.needsPAlive = true
				}
			}
		}
	}
	if !t.needsPAlive || c.Orders.Count <= 0 || w.e.cfg.Models == nil {
		return false
	}
	m := w.e.cfg.Models.Load()
	return m != nil && m.Pop.BGFitted
}

// pAlive is c's P(alive) at instant at, NaN when the churn model has no
// figure for it.
func (w *worker) pAlive(c *state.Contact, at int64) float64 {
	m := w.e.cfg.Models.Load()
	if m == nil {
		return math.NaN()
	}
	var top [0]lead.Contribution
	s := m.Evaluate(c, at, top[:])
	if !s.HasChurn {
		return math.NaN()
	}
	return s.Churn.PAlive
}

// dropTriggers forgets the trigger state of a profile absorbed into
// another contact: its timers (committed, and any armed earlier in this
// batch, which its state lists) are deleted and its state is not carried
// into the merge. The surviving contact's own state and timers go on.
func (w *worker) dropTriggers(k state.Key, prof *state.Contact) error {
	if len(prof.Triggers) == 0 {
		// Every timer armed for a contact is listed in its state: no
		// state, no timers, and no Pebble read on this frequent path (a
		// stray timer would only be deleted when it comes due).
		return nil
	}
	if _, err := w.deleteTimers(k, prof, timersMerged); err != nil {
		return err
	}
	prof.Triggers = nil
	return nil
}

// deleteTimers deletes every timer of contact k (c its record, or nil) in
// the open batch and returns how many there were; reason labels the count.
func (w *worker) deleteTimers(k state.Key, c *state.Contact, reason string) (n int, err error) {
	defer func() { w.e.trig.m.timerDeletes[reason].Add(float64(n)) }()
	committed, err := w.pt.ContactTimers(k)
	if err != nil {
		return 0, err
	}
	n = len(committed)
	if n > 0 {
		if err := w.batch.DeleteContactTimers(k); err != nil {
			return 0, err
		}
	}
	if c == nil || len(c.Triggers) == 0 {
		return n, nil
	}
	var cs trigger.ContactState
	if cs.UnmarshalBinary(c.Triggers) != nil {
		return n, nil
	}
	for _, a := range cs.Timers {
		if !containsTimer(committed, a.Name, a.Due) {
			n++
		}
		if err := w.batch.CancelTimer(k, a.Name, a.Due); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func containsTimer(ts []state.Timer, name string, due int64) bool {
	for i := range ts {
		if ts[i].Name == name && ts[i].Due == due {
			return true
		}
	}
	return false
}
