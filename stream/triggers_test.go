package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/bench/synth"
	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/broker"
	"github.com/kairos-engine/kairos/stream/event"
	"github.com/kairos-engine/kairos/stream/trigger"
)

// fakeClock is the injected wall clock of watermarks, ticks and the
// decoder: tests move it by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time       { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Set(t time.Time)      { c.ns.Store(t.UnixNano()) }
func newFakeClock(t time.Time) *fakeClock { c := new(fakeClock); c.Set(t); return c }

// emitted is one trigger read from a trigger topic.
type emitted struct {
	Topic     string
	Header    string // kairos.trigger_id
	TriggerID string `json:"trigger_id"`
	ContactID string `json:"contact_id"`
	Rule      string `json:"rule"`
	Journey   string `json:"journey"`
}

// triggerReader is a real consumer of the trigger topics.
type triggerReader struct {
	mu   sync.Mutex
	got  []emitted
	seen int // how many take has returned
}

func readTriggers(t *testing.T, addr string, topics trigger.Topics) *triggerReader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topics.Email, topics.SMS, topics.Push, topics.Sales),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	r := &triggerReader{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			fs.EachRecord(func(rec *kgo.Record) {
				var e emitted
				if err := json.Unmarshal(rec.Value, &e); err != nil {
					t.Errorf("trigger payload %s: %v", rec.Value, err)
					return
				}
				e.Topic = rec.Topic
				for _, h := range rec.Headers {
					if h.Key == trigger.HeaderTriggerID {
						e.Header = string(h.Value)
					}
				}
				if e.Header != e.TriggerID || e.TriggerID == "" {
					t.Errorf("trigger id header %q, payload %q", e.Header, e.TriggerID)
				}
				r.mu.Lock()
				r.got = append(r.got, e)
				r.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return r
}

// take returns what arrived since the last take, as "contact:rule"
// sorted.
func (r *triggerReader) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.got[r.seen:] {
		out = append(out, e.ContactID+":"+e.Rule)
	}
	r.seen = len(r.got)
	slices.Sort(out)
	return out
}

// expect waits until exactly want (contact:rule, any order) has arrived
// since the last take, then waits settle more for anything extra.
func (r *triggerReader) expect(t *testing.T, why string, settle time.Duration, want ...string) {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		n := len(r.got) - r.seen
		r.mu.Unlock()
		if n >= len(want) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(settle)
	if got := r.take(); !slices.Equal(got, want) {
		t.Fatalf("%s: emitted %v, want %v", why, got, want)
	}
}

// triggerEngine runs an engine with the default rules on one partition,
// its wall clock injected.
func triggerEngine(t *testing.T, addr string, st *state.Store, clock *fakeClock, idle time.Duration, models ...*atomic.Pointer[scoring.Models]) (*stream.Engine, func() error) {
	t.Helper()
	rs, err := trigger.DefaultRules()
	if err != nil {
		t.Fatal(err)
	}
	te, err := trigger.NewEngine(rs, trigger.DefaultTopics(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := new(atomic.Pointer[trigger.Engine])
	p.Store(te)
	var m *atomic.Pointer[scoring.Models]
	if len(models) > 0 {
		m = models[0]
	}
	eng, err := stream.New(stream.Config{
		Models:     m,
		Brokers:    []string{addr},
		Group:      "kairos-trigger-test",
		Partitions: 1,
		Store:      st,
		Decoder:    event.Config{Now: clock.Now},
		Logger:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Triggers:   stream.Triggers{Engine: p, Idle: idle, Tick: 20 * time.Millisecond, Now: clock.Now},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	return eng, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("engine did not stop within 30s")
		}
	}
}

// jev builds an input record of contact id (keyed by it) at event time at.
func jev(id, typ, contact string, at time.Time, props string) synth.Record {
	topic := "kairos.clickstream"
	switch {
	case strings.HasPrefix(typ, "order_"):
		topic = "kairos.orders"
	case typ == "sent" || typ == "opened" || typ == "clicked":
		topic = "kairos.email"
	}
	v := fmt.Sprintf(`{"id":%q,"type":%q,"contact_id":%q,"email":"%s@example.com","timestamp":%q,"properties":{%s}}`,
		id, typ, contact, contact, at.Format(time.RFC3339Nano), props)
	return synth.Record{Topic: topic, Key: []byte(contact), Value: []byte(v)}
}

const (
	cartProps  = `"sku":"SKU-1","quantity":1,"price":19.99`
	orderProps = `"order_id":"%s","total":19.99,"currency":"EUR","items":[{"sku":"SKU-1","quantity":1,"price":19.99,"category":"shoes"}]`
)

// TestTriggerJourneys runs the default journeys through the whole engine,
// against kfake, with a real consumer of the trigger topics and an
// injected wall clock: each fires exactly when it should. Timers fire by
// the event-time watermark while events flow (held back by a lagging
// topic, so that a late order still cancels its cart), and by wall clock
// once the partition is idle.
func TestTriggerJourneys(t *testing.T) {
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	addr := b.Addr()
	t0 := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC) // a Monday morning, outside quiet hours
	clock := newFakeClock(t0)
	st := openStore(t, t.TempDir())
	defer st.Close()
	produced := 0
	send := func(recs ...synth.Record) {
		t.Helper()
		produceN(t, addr, 1, recs)
		produced += len(recs)
	}
	send() // creates the topics before the reader subscribes
	tr := readTriggers(t, addr, trigger.DefaultTopics())
	eng, stop := triggerEngine(t, addr, st, clock, 10*time.Minute)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	eventually(t, 30*time.Second, eng.Ready)
	folded := func() {
		t.Helper()
		eventually(t, 20*time.Second, func() error {
			if n := eng.InputsCommitted(); n < int64(produced) {
				return fmt.Errorf("%d of %d folded", n, produced)
			}
			return nil
		})
		time.Sleep(100 * time.Millisecond) // the timers after the batch
	}
	const settle = 300 * time.Millisecond

	// 09:00: carts, emails sent, an order shipped, a sign-up.
	send(
		jev("a1", "add_to_cart", "cart-fires", t0, cartProps),
		jev("b1", "add_to_cart", "cart-ordered", t0, cartProps),
		jev("c1", "add_to_cart", "cart-late-order", t0, cartProps),
		jev("d1", "sent", "no-open", t0, `"campaign":"spring"`),
		jev("e1", "sent", "opened", t0, `"campaign":"spring"`),
		jev("f1", "order_placed", "buyer", t0, fmt.Sprintf(orderProps, "F-1")),
		jev("f2", "order_shipped", "buyer", t0.Add(time.Minute), `"order_id":"F-1"`),
		jev("g1", "identify", "new-lead", t0, `"traits":{"name":"Gia"}`),
	)
	folded()
	tr.expect(t, "09:00", settle, "buyer:order-thank-you", "buyer:order-shipped", "new-lead:welcome")
	if got := timerNames(t, st, "cart-fires"); got != "abandoned-cart@10:00" {
		t.Errorf("timers of cart-fires: %s", got)
	}

	// 09:59:59: an order a second before the cart's deadline, an open.
	clock.Set(t0.Add(time.Hour - time.Second))
	send(
		jev("b2", "order_placed", "cart-ordered", t0.Add(time.Hour-time.Second), fmt.Sprintf(orderProps, "B-1")),
		jev("e2", "opened", "opened", t0.Add(time.Hour-time.Second), `"campaign":"spring"`),
	)
	folded()
	tr.expect(t, "09:59:59", settle, "cart-ordered:order-thank-you")
	if got := timerNames(t, st, "cart-ordered"); strings.Contains(got, "abandoned-cart") {
		t.Errorf("the order did not cancel the cart timer: %s", got)
	}

	// 10:05: browsing moves the clickstream past the carts' deadline, but
	// the orders topic (last heard at 09:59:59, within the idle time)
	// holds the watermark back; an order of 09:30 arrives late, out of
	// order, and still cancels its cart.
	clock.Set(t0.Add(65 * time.Minute))
	send(jev("z1", "page_view", "browser", t0.Add(65*time.Minute), `"url":"https://shop.example/"`))
	folded()
	tr.expect(t, "10:05 before the late order", settle)
	send(jev("c2", "order_placed", "cart-late-order", t0.Add(30*time.Minute), fmt.Sprintf(orderProps, "C-1")))
	folded()
	tr.expect(t, "10:05 late order", settle, "cart-late-order:order-thank-you")

	// 10:20: both topics move past 10:00: the watermark fires the one
	// cart nobody ordered.
	clock.Set(t0.Add(80 * time.Minute))
	send(
		jev("z2", "page_view", "browser", t0.Add(80*time.Minute), `"url":"https://shop.example/a"`),
		jev("y1", "order_placed", "other-buyer", t0.Add(80*time.Minute), fmt.Sprintf(orderProps, "Y-1")),
	)
	folded()
	tr.expect(t, "10:20", settle, "cart-fires:abandoned-cart", "other-buyer:order-thank-you")

	// Two days later, no events: the idle partition's wall clock fires
	// the no-open follow-up (the opened email's was cancelled).
	clock.Set(t0.Add(49 * time.Hour))
	tr.expect(t, "49h idle", settle, "no-open:no-open-follow-up")

	// Three days after the sign-up, the welcome's second step; a week
	// after shipping, the review invitation.
	clock.Set(t0.Add(3*24*time.Hour + time.Hour))
	tr.expect(t, "3d idle", settle, "new-lead:welcome-product-groups")
	clock.Set(t0.Add(7*24*time.Hour + 2*time.Hour))
	tr.expect(t, "7d idle", settle, "buyer:review-invitation")

	// Duplicates and ids: every id once, header equal to payload.
	tr.mu.Lock()
	ids := map[string]bool{}
	for _, e := range tr.got {
		if ids[e.TriggerID] {
			t.Errorf("trigger id %s emitted twice", e.TriggerID)
		}
		ids[e.TriggerID] = true
		if e.Topic != "kairos.triggers.email" && e.Topic != "kairos.triggers.sales" {
			t.Errorf("%s on %s", e.Rule, e.Topic)
		}
	}
	tr.mu.Unlock()
}

// timerNames lists a contact's pending timers as "name@HH:MM" (UTC).
func timerNames(t *testing.T, st *state.Store, contact string) string {
	t.Helper()
	pt, err := st.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := pt.ContactTimers(state.MakeKey(state.IDContact, contact))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range ts {
		out = append(out, ts[i].Name+"@"+time.UnixMilli(ts[i].Due).UTC().Format("15:04"))
	}
	return strings.Join(out, ",")
}

// produceN is produce for a broker with n partitions.
func produceN(t *testing.T, addr string, n int32, recs []synth.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := stream.EnsureTopics(t.Context(), cl, stream.DefaultTopics(), n, -1); err != nil {
		t.Fatal(err)
	}
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
	}
	if err := cl.ProduceSync(t.Context(), krs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestTriggerTimersMergeAndErase: an anonymous visitor's cart timer goes
// with its profile when the profile is absorbed by a known contact, and an
// erasure deletes the contact's timers and counts them in the receipt.
func TestTriggerTimersMergeAndErase(t *testing.T) {
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	addr := b.Addr()
	t0 := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := newFakeClock(t0)
	st := openStore(t, t.TempDir())
	defer st.Close()
	anon := func(id, typ string, at time.Time, props string) synth.Record {
		v := fmt.Sprintf(`{"id":%q,"type":%q,"anonymous_id":"visitor-1","timestamp":%q,"properties":{%s}}`, id, typ, at.Format(time.RFC3339), props)
		return synth.Record{Topic: "kairos.clickstream", Key: []byte("visitor-1"), Value: []byte(v)}
	}
	recs := []synth.Record{
		anon("v1", "add_to_cart", t0, cartProps),
		jev("x1", "add_to_cart", "to-erase", t0, cartProps),
	}
	produceN(t, addr, 1, recs)
	tr := readTriggers(t, addr, trigger.DefaultTopics())
	eng, stop := triggerEngine(t, addr, st, clock, time.Minute)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	pt, err := st.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	visitor, erased := state.MakeKey(state.IDAnonymous, "visitor-1"), state.MakeKey(state.IDContact, "to-erase")
	eventually(t, 20*time.Second, func() error {
		for _, k := range []state.Key{visitor, erased} {
			if ts, err := pt.ContactTimers(k); err != nil || len(ts) != 1 {
				return fmt.Errorf("%s: %d timers (%v)", k, len(ts), err)
			}
		}
		return nil
	})

	// The visitor logs in: its profile (and cart) is absorbed, its timer
	// deleted with it.
	v := fmt.Sprintf(`{"id":"v2","type":"identify","anonymous_id":"visitor-1","contact_id":"known-1","email":"k@example.com","timestamp":%q,"properties":{}}`,
		t0.Add(time.Minute).Format(time.RFC3339))
	produceN(t, addr, 1, []synth.Record{{Topic: "kairos.clickstream", Key: []byte("known-1"), Value: []byte(v)}})
	eventually(t, 20*time.Second, func() error {
		if ts, err := pt.ContactTimers(visitor); err != nil || len(ts) != 0 {
			return fmt.Errorf("absorbed visitor still has %d timers (%v)", len(ts), err)
		}
		return nil
	})

	if err := eng.RequestErase(t.Context(), erased); err != nil {
		t.Fatal(err)
	}
	var receipt stream.Receipt
	eventually(t, 20*time.Second, func() error {
		b, ok, err := pt.Tombstone(erased)
		if err != nil || !ok {
			return errors.Join(err, errors.New("no tombstone yet"))
		}
		return json.Unmarshal(b, &receipt)
	})
	if receipt.TimersDeleted != 1 {
		t.Errorf("receipt %+v: timers_deleted %d, want 1", receipt, receipt.TimersDeleted)
	}
	if ts, err := pt.ContactTimers(erased); err != nil || len(ts) != 0 {
		t.Errorf("erased contact keeps %d timers (%v)", len(ts), err)
	}
	// Past every deadline, nothing fires for either: only the known
	// contact's welcome went out.
	clock.Set(t0.Add(3 * time.Hour))
	tr.expect(t, "after merge and erase", 500*time.Millisecond, "known-1:welcome")
}

// TestTriggerPAliveLow: with a fitted churn model, a repeat customer who
// comes back after a long silence has a P(alive) that fell below the
// win-back threshold since their previous event: the worker computes it
// before and after the event and the p-alive-low rule fires; a customer
// still buying regularly does not trigger it.
func TestTriggerPAliveLow(t *testing.T) {
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	addr := b.Addr()
	t0 := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := newFakeClock(t0.Add(400 * 24 * time.Hour))
	st := openStore(t, t.TempDir())
	defer st.Close()
	plan, err := lead.Default()
	if err != nil {
		t.Fatal(err)
	}
	// Frequent buyers who drop out readily: silence soon means gone.
	m, err := scoring.New(plan, scoring.Config{}, scoring.Population{BG: churn.BGNBD{R: 2, Alpha: 2, A: 1, B: 1}, BGFitted: true})
	if err != nil {
		t.Fatal(err)
	}
	models := new(atomic.Pointer[scoring.Models])
	models.Store(m)
	order := func(id, contact string, at time.Time) synth.Record {
		return jev(id, "order_placed", contact, at, fmt.Sprintf(orderProps, id))
	}
	day := 24 * time.Hour
	recs := []synth.Record{
		order("l1", "lapsing", t0), order("l2", "lapsing", t0.Add(7*day)), order("l3", "lapsing", t0.Add(14*day)),
		order("r1", "regular", t0), order("r2", "regular", t0.Add(7*day)), order("r3", "regular", t0.Add(14*day)),
		order("r4", "regular", t0.Add(21*day)),
	}
	produceN(t, addr, 1, recs)
	tr := readTriggers(t, addr, trigger.DefaultTopics())
	eng, stop := triggerEngine(t, addr, st, clock, time.Hour, models)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	eventually(t, 20*time.Second, func() error {
		if n := eng.InputsCommitted(); n < int64(len(recs)) {
			return fmt.Errorf("%d folded", n)
		}
		return nil
	})
	// Months later the lapsing customer browses again; the regular one
	// orders again on schedule.
	produceN(t, addr, 1, []synth.Record{
		jev("l4", "page_view", "lapsing", t0.Add(300*day), `"url":"https://shop.example/"`),
		order("r5", "regular", t0.Add(28*day)),
	})
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Contains(tr.peek(), "lapsing:p-alive-low") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	var alive []string
	for _, e := range tr.take() {
		if strings.HasSuffix(e, ":p-alive-low") {
			alive = append(alive, e)
		}
	}
	if !slices.Equal(alive, []string{"lapsing:p-alive-low"}) {
		t.Fatalf("p-alive-low emitted for %v, want the lapsing customer only", alive)
	}
}

// peek returns what take would, without consuming it.
func (r *triggerReader) peek() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.got[r.seen:] {
		out = append(out, e.ContactID+":"+e.Rule)
	}
	return out
}
