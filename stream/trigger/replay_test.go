package trigger

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/kairos-engine/kairos/state"
)

// scenario is a mixed day of one shop's contacts.
var scenario = []string{
	ev("s1", "signup", `"email":"ann@example.com"`, "2026-03-10T09:00:00Z", `{"list":"newsletter"}`),
	ev("a1", "add_to_cart", c42, "2026-03-10T09:30:00Z", `{"sku":"SHOE-42","category":"shoes","price":59.90}`),
	ev("v1", "product_view", `"contact_id":"7","email":"bob@example.com"`, "2026-03-10T09:40:00Z", `{"sku":"A"}`),
	ev("v2", "product_view", `"contact_id":"7","email":"bob@example.com"`, "2026-03-10T09:41:00Z", `{"sku":"B"}`),
	ev("v3", "product_view", `"contact_id":"7","email":"bob@example.com"`, "2026-03-10T09:42:00Z", `{"sku":"C"}`),
	ev("m1", "sent", `"email":"cy@example.com"`, "2026-03-10T10:00:00Z", `{"campaign":"spring"}`),
	ev("o1", "order_placed", `"contact_id":"9","email":"dee@example.com"`, "2026-03-10T11:00:00Z", order9001),
	ev("o2", "order_shipped", `"contact_id":"9","email":"dee@example.com"`, "2026-03-11T11:00:00Z", `{"order_id":"9001"}`),
	ev("p1", "page_view", c42, "2026-03-11T12:00:00Z", `{"url":"/"}`),
	ev("p2", "page_view", c42, "2026-03-12T10:30:00Z", `{"url":"/"}`),
	ev("p4", "page_view", c42, "2026-03-13T12:00:00Z", `{"url":"/"}`),
	ev("p5", "page_view", c42, "2026-03-18T11:30:00Z", `{"url":"/"}`),
	ev("p6", "page_view", c42, "2026-03-24T11:30:00Z", `{"url":"/"}`),
	ev("p3", "page_view", c42, "2026-04-01T12:00:00Z", `{"url":"/"}`),
}

func run(t *testing.T, events []string) []string {
	h := newHarness(t, "")
	for _, e := range events {
		h.send(e)
	}
	var out []string
	for _, e := range h.all {
		out = append(out, fmt.Sprintf("%s %s %s %s", e.Rule, e.ContactID, e.TriggerID, e.EmittedAt))
	}
	return out
}

// TestReplayProducesSameIDs: a replay emits the same trigger ids, and a
// run cut short (a crash) emits a subset of the clean run's ids, so the
// union of a crashed run and its replay is the clean set.
func TestReplayProducesSameIDs(t *testing.T) {
	clean := run(t, scenario)
	if len(clean) < 6 {
		t.Fatalf("scenario emits too little to mean anything: %q", clean)
	}
	if again := run(t, scenario); !slices.Equal(clean, again) {
		t.Fatalf("replay differs:\n%q\n%q", clean, again)
	}
	ids := map[string]bool{}
	for _, e := range clean {
		ids[e] = true
	}
	for k := range scenario {
		for _, e := range run(t, scenario[:k]) {
			if !ids[e] {
				t.Fatalf("a run cut after %d events emitted %q, which the clean run did not", k, e)
			}
		}
	}
}

// TestTimersSurviveRestart: a wait armed before the store is closed fires
// after it is reopened, with the id a run without restart gives.
func TestTimersSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	st, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, "", st)
	h.send(ev("a1", "add_to_cart", c42, "2026-03-10T10:00:00Z", `{"sku":"SHOE-42","price":59.90}`))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h2 := newHarnessOn(t, "", st)
	// The worker keeps contacts and their trigger state in their records;
	// carry them over as the reopened store would give them back.
	h2.contacts, h2.cstates = h.contacts, h.cstates
	h2.idle("2026-03-10T11:00:00Z")
	got := h2.expect("abandoned-cart", "after the restart")

	ref := newHarness(t, "")
	ref.send(ev("a1", "add_to_cart", c42, "2026-03-10T10:00:00Z", `{"sku":"SHOE-42","price":59.90}`))
	ref.idle("2026-03-10T11:00:00Z")
	want := ref.expect("abandoned-cart", "without restart")
	if got[0].TriggerID != want[0].TriggerID {
		t.Fatalf("trigger id %s after restart, %s without", got[0].TriggerID, want[0].TriggerID)
	}
}

func TestTriggerID(t *testing.T) {
	src := Source{Topic: "kairos.clickstream", Partition: 3, Offset: 42}
	a := TriggerID(src, "abandoned-cart", 0)
	if a != TriggerID(src, "abandoned-cart", 0) || len(a) != 32 {
		t.Fatalf("id %q not deterministic or not 32 hex digits", a)
	}
	for _, other := range []string{
		TriggerID(Source{Topic: "kairos.clickstream", Partition: 3, Offset: 43}, "abandoned-cart", 0),
		TriggerID(Source{Topic: "kairos.clickstream", Partition: 4, Offset: 42}, "abandoned-cart", 0),
		TriggerID(Source{Topic: "kairos.orders", Partition: 3, Offset: 42}, "abandoned-cart", 0),
		TriggerID(src, "welcome", 0),
		TriggerID(src, "abandoned-cart", 1),
	} {
		if other == a {
			t.Fatal("different causes share an id")
		}
	}
}

// TestFireStaleTimer: a timer the contact's state no longer lists (an
// order cancelled it in the batch being built, which DueTimers cannot see
// yet) is only deleted; a timer with corrupt data is deleted and reported.
func TestFireStaleTimer(t *testing.T) {
	h := newHarness(t, "")
	h.send(ev("a1", "add_to_cart", c42, "2026-03-10T10:00:00Z", `{"sku":"S","price":1}`))
	ts, err := h.pt.ContactTimers("c:42")
	if err != nil || len(ts) != 1 {
		t.Fatalf("timers %+v %v", ts, err)
	}
	c, cs := h.contact("c:42")
	cs.Reset() // as if an order had cancelled it in the open batch
	acts, err := h.eng.Fire(&ts[0], c, cs, ms("2026-03-10T12:00:00Z"), nil)
	if err != nil || len(acts) != 1 || acts[0].Op != OpCancel || acts[0].Timer.Due != ts[0].Due {
		t.Fatalf("stale fire: %+v %v", acts, err)
	}
	_, cs = h.contact("c:42")
	bad := ts[0]
	bad.Data = []byte{9}
	acts, err = h.eng.Fire(&bad, c, cs, ms("2026-03-10T12:00:00Z"), nil)
	if !errors.Is(err, ErrCorruptState) || len(acts) != 1 || acts[0].Op != OpCancel {
		t.Fatalf("corrupt fire: %+v %v", acts, err)
	}
}
