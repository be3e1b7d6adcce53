package trigger

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
	"github.com/kairos-engine/kairos/stream/fold"
)

// harness plays the partition worker's part with the real pieces: events
// are decoded by stream/event, folded by stream/fold, scored by the
// default lead plan, evaluated, and their actions written to a real Pebble
// (in memory) in one batch per event; timers fire from
// state.Partition.DueTimers at the Watermark. Contacts and their trigger
// state are kept as a worker keeps them (the state round-trips through its
// binary encoding on every use).
type harness struct {
	t      *testing.T
	eng    *Engine
	dec    *event.Decoder
	folder *fold.Folder
	plan   *lead.Plan
	store  *state.Store
	pt     *state.Partition
	wm     Watermark
	wall   time.Time

	contacts map[state.Key]*state.Contact
	cstates  map[state.Key][]byte
	offset   int64
	emitted  []emission
	all      []emission
}

// emission is one emitted trigger, decoded from its payload.
type emission struct {
	Topic     string
	Raw       string // the payload as published
	Header    string // kairos.trigger_id header
	TriggerID string `json:"trigger_id"`
	ContactID string `json:"contact_id"`
	Journey   string `json:"journey"`
	Step      int    `json:"step"`
	Rule      string `json:"rule"`
	Channel   string `json:"channel"`
	Kind      string `json:"kind"`
	Reason    string `json:"reason"`
	Cause     struct {
		Event string `json:"event"`
		Ref   string `json:"ref"`
		At    string `json:"at"`
	} `json:"cause"`
	EmittedAt string `json:"emitted_at"`
	ExpiresAt string `json:"expires_at"`
	Contact   struct {
		Name     string `json:"name"`
		Email    string `json:"email"`
		Phone    string `json:"phone"`
		Language string `json:"language"`
	} `json:"contact"`
	Cart *struct {
		Items []struct {
			SKU      string  `json:"sku"`
			Quantity int     `json:"quantity"`
			Price    float64 `json:"price"`
		} `json:"items"`
		Total float64 `json:"total"`
	} `json:"cart"`
	Order *struct {
		OrderID    string   `json:"order_id"`
		Status     string   `json:"status"`
		Categories []string `json:"categories"`
	} `json:"order"`
	Viewed *struct {
		Products   []string `json:"products"`
		Categories []string `json:"categories"`
	} `json:"viewed"`
	Scores *struct {
		Stage   string `json:"stage"`
		Segment string `json:"segment"`
	} `json:"scores"`
}

var testNow = time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, rules string) *harness {
	t.Helper()
	st, err := state.Open("/db", state.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newHarnessOn(t, rules, st)
}

func newHarnessOn(t *testing.T, rules string, st *state.Store) *harness {
	t.Helper()
	var rs *RuleSet
	var err error
	if rules == "" {
		rs, err = DefaultRules()
	} else {
		rs, err = ParseRules("test.yaml", []byte(rules))
	}
	if err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(rs, DefaultTopics(), nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := lead.Default()
	if err != nil {
		t.Fatal(err)
	}
	pt, err := st.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{
		t: t, eng: eng, plan: plan, store: st, pt: pt,
		dec:      event.NewDecoder(event.Config{Now: func() time.Time { return testNow }}),
		folder:   fold.NewFolder(),
		contacts: make(map[state.Key]*state.Contact),
		cstates:  make(map[state.Key][]byte),
		wall:     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func (h *harness) contact(k state.Key) (*state.Contact, *ContactState) {
	c := h.contacts[k]
	if c == nil {
		c = &state.Contact{Key: k}
		h.contacts[k] = c
	}
	cs := new(ContactState)
	if err := cs.UnmarshalBinary(h.cstates[k]); err != nil {
		h.t.Fatalf("contact %s: %v", k, err)
	}
	return c, cs
}

func (h *harness) commit(k state.Key, cs *ContactState, acts []Action) {
	h.t.Helper()
	if len(acts) == 0 {
		return
	}
	b := h.pt.NewBatch()
	if err := Apply(b, acts); err != nil {
		b.Discard()
		h.t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		h.t.Fatal(err)
	}
	h.cstates[k] = cs.AppendBinary(nil)
	for _, a := range acts {
		if a.Op != OpEmit {
			continue
		}
		var e emission
		if !json.Valid(a.Record.Value) {
			h.t.Fatalf("invalid JSON payload: %s", a.Record.Value)
		}
		if err := json.Unmarshal(a.Record.Value, &e); err != nil {
			h.t.Fatalf("payload %s: %v", a.Record.Value, err)
		}
		e.Topic = a.Record.Topic
		e.Raw = string(a.Record.Value)
		for _, hd := range a.Record.Headers {
			if hd.Key == HeaderTriggerID {
				e.Header = string(hd.Value)
			}
		}
		if e.Header != e.TriggerID || e.TriggerID != a.TriggerID {
			h.t.Fatalf("trigger id header %q, payload %q, action %q", e.Header, e.TriggerID, a.TriggerID)
		}
		h.emitted = append(h.emitted, e)
		h.all = append(h.all, e)
	}
}

// send processes one event (JSON as a producer writes it) as the worker
// would, then fires what its watermark makes due. Each event advances the
// wall clock by a second.
func (h *harness) send(js string) {
	h.sendP(js, math.NaN(), math.NaN())
}

func (h *harness) sendP(js string, pBefore, pAfter float64) {
	h.t.Helper()
	var ev event.Event
	if err := h.dec.Decode([]byte(js), 0, &ev); err != nil {
		h.t.Fatalf("decode %s: %v", js, err)
	}
	k := ev.PrimaryKey()
	c, cs := h.contact(k)
	before := Snap(c)
	if !h.folder.Apply(c, &ev) {
		return
	}
	h.plan.Apply(&c.Scores, ev.Type, ev.Time, &ev, c)
	topic := "kairos." + map[state.Stream]string{state.StreamClickstream: "clickstream", state.StreamOrders: "orders", state.StreamEmail: "email"}[ev.Type.Stream()]
	h.wall = h.wall.Add(time.Second)
	// One clock for all input topics: the tests deliver events in the
	// order they list them (Watermark's per-topic rule has its own test).
	h.wm.Observe("input", ev.Time, h.wall)
	in := Input{Before: &before, After: c, Event: &ev, Source: Source{Topic: topic, Partition: 0, Offset: h.offset},
		Now: h.wm.At(h.wall), PAliveBefore: pBefore, PAliveAfter: pAfter, State: cs}
	h.offset++
	if h.eng.Wants(&in) {
		h.commit(k, cs, h.eng.Evaluate(&in, nil))
	} else if acts := h.eng.Evaluate(&in, nil); len(acts) > 0 {
		h.t.Fatalf("Wants said no, Evaluate did %d actions for %s", len(acts), js)
	}
	h.fire(h.wm.At(h.wall))
}

// refresh re-evaluates a contact without an event, as a score refresh does.
func (h *harness) refresh(k state.Key, at string, mutate func(c *state.Contact), pBefore, pAfter float64) {
	h.t.Helper()
	c, cs := h.contact(k)
	before := Snap(c)
	mutate(c)
	in := Input{Before: &before, After: c, Source: Source{Topic: "kairos.refresh", Offset: h.offset},
		Now: ms(at), PAliveBefore: pBefore, PAliveAfter: pAfter, State: cs}
	h.offset++
	h.commit(k, cs, h.eng.Evaluate(&in, nil))
}

// fire fires every timer due at or before wm, in due order, until none is.
func (h *harness) fire(wm int64) {
	h.t.Helper()
	for range 1000 {
		var due []state.Timer
		if _, err := h.pt.DueTimers(wm, 0, func(t *state.Timer) error {
			tt := *t
			tt.Data = append([]byte(nil), t.Data...)
			due = append(due, tt)
			return nil
		}); err != nil {
			h.t.Fatal(err)
		}
		if len(due) == 0 {
			return
		}
		for i := range due {
			c, cs := h.contact(due[i].Contact)
			acts, err := h.eng.Fire(&due[i], c, cs, wm, nil)
			if err != nil {
				h.t.Fatal(err)
			}
			h.commit(due[i].Contact, cs, acts)
		}
	}
	h.t.Fatal("timers keep firing")
}

// idle advances the wall clock to event time at with no events, as an idle
// partition's tick does, and fires what is due.
func (h *harness) idle(at string) {
	h.t.Helper()
	h.wall = time.UnixMilli(ms(at)).UTC()
	h.wall = h.wall.Add(time.Hour) // far past the idle threshold of any topic
	h.fire(ms(at))
}

// tick idles hour by hour from one event time to another.
func (h *harness) tick(from, to string) {
	for t := ms(from); t <= ms(to); t += 3600 * 1000 {
		h.idle(time.UnixMilli(t).UTC().Format(time.RFC3339))
	}
}

// take returns the emissions since the last take.
func (h *harness) take() []emission {
	out := h.emitted
	h.emitted = nil
	return out
}

func rulesOf(es []emission) string {
	var b []string
	for _, e := range es {
		b = append(b, e.Rule)
	}
	return strings.Join(b, ",")
}

func (h *harness) expect(want string, why string) []emission {
	h.t.Helper()
	got := h.take()
	if rulesOf(got) != want {
		h.t.Fatalf("%s: emitted [%s], want [%s]", why, rulesOf(got), want)
	}
	return got
}

func (h *harness) timers(k state.Key) string {
	ts, err := h.pt.ContactTimers(k)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for i := range ts {
		ti, err := DescribeTimer(&ts[i])
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s@%s", ti.Name, time.UnixMilli(ts[i].Due).UTC().Format(time.RFC3339)))
	}
	return strings.Join(out, ",")
}

// ev builds an event line.
func ev(id, typ, who, at string, props string) string {
	if props == "" {
		props = "{}"
	}
	return fmt.Sprintf(`{"id":%q,"type":%q,%s,"timestamp":%q,"properties":%s}`, id, typ, who, at, props)
}

const c42 = `"contact_id":"42","email":"ann@example.com"`
