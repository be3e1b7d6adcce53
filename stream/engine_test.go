package stream_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/bench/synth"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/broker"
)

const testPartitions = 4

func startBroker(t *testing.T) string {
	t.Helper()
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: testPartitions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addr()
}

func openStore(t *testing.T, dir string) *state.Store {
	t.Helper()
	st, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// runEngine starts an engine and returns a function that stops it and
// returns Run's error.
func runEngine(t *testing.T, addr string, st *state.Store) (*stream.Engine, func() error) {
	t.Helper()
	eng, err := stream.New(stream.Config{
		Brokers:    []string{addr},
		Group:      "kairos-test",
		Partitions: testPartitions,
		Store:      st,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("engine did not stop within 30s")
		}
	}
	return eng, stop
}

func produce(t *testing.T, addr string, recs []synth.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := stream.EnsureTopics(t.Context(), cl, stream.DefaultTopics(), testPartitions, -1); err != nil {
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

// totalsOf reads the aggregates the tests compare from a stored contact.
func totalsOf(c *state.Contact) synth.Totals {
	return synth.Totals{
		Orders:        int(c.Orders.Count),
		RevenueCents:  c.Orders.Revenue,
		PageViews:     int(c.Counts[state.EventPageView]),
		EmailsSent:    int(c.Engagement.Sent),
		EmailsOpened:  int(c.Engagement.Opened),
		EmailsClicked: int(c.Engagement.Clicked),
	}
}

// compare returns the first difference between the expected totals and the
// store, or nil.
func compare(st *state.Store, eng *stream.Engine, want map[string]synth.Totals) error {
	var c state.Contact
	for k, w := range want {
		key, err := st.Lookup(state.Key(k), eng.PartitionOf, &c)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if string(key) != k {
			return fmt.Errorf("%s resolves to %s", k, key)
		}
		if got := totalsOf(&c); got != w {
			return fmt.Errorf("%s: got %+v, want %+v", k, got, w)
		}
	}
	return nil
}

func countContacts(t *testing.T, st *state.Store) int {
	t.Helper()
	n := 0
	for p := range int32(testPartitions) {
		pt, err := st.Partition(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := pt.ContactKeys(func(state.Key) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func eventually(t *testing.T, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("not reached within %v: %v", within, err)
}

func values(recs []synth.Record) [][]byte {
	out := make([][]byte, 0, len(recs))
	for _, r := range recs {
		if !r.Bad {
			out = append(out, r.Value)
		}
	}
	return out
}

// TestEngineFoldsTraffic produces realistic traffic (with malformed records
// mixed in), lets the engine fold it, and compares every contact with an
// independent fold; then restarts the engine on the same state and checks
// that nothing is folded twice.
func TestEngineFoldsTraffic(t *testing.T) {
	addr := startBroker(t)
	gen := synth.New(synth.Config{Contacts: 300, Seed: 11, BadRate: 0.01})
	recs := gen.Batch(15_000)
	produce(t, addr, recs)
	want := synth.Expect(values(recs))

	dir := t.TempDir()
	st := openStore(t, dir)
	eng, stop := runEngine(t, addr, st)
	eventually(t, 60*time.Second, func() error { return compare(st, eng, want) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := countContacts(t, st); got != len(want) {
		t.Errorf("store holds %d contact records, want %d (one per person)", got, len(want))
	}

	// Dead letters: every bad record, with its reason and origin.
	bad := map[string]int{}
	for _, r := range recs {
		if r.Bad {
			bad[r.Reason]++
		}
	}
	got := readDeadLetters(t, addr, len(recs)-len(values(recs)))
	for reason, n := range bad {
		if got[reason] != n {
			t.Errorf("dead letters with reason %s: got %d, want %d (all: %v)", reason, got[reason], n, got)
		}
	}

	// A restart resumes from the stored offsets: same totals.
	eng, stop = runEngine(t, addr, st)
	eventually(t, 30*time.Second, eng.Ready)
	time.Sleep(time.Second)
	if err := compare(st, eng, want); err != nil {
		t.Errorf("after restart: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st.Close()
}

func readDeadLetters(t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(stream.DefaultTopics().DeadLetter), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[string]int{}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	seen := 0
	for seen < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d dead letters", seen, n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			h := map[string]string{}
			for _, kv := range r.Headers {
				h[kv.Key] = string(kv.Value)
			}
			out[h[stream.HeaderReason]]++
			if h[stream.HeaderSrcTopic] == "" || h[stream.HeaderSrcPart] == "" || h[stream.HeaderSrcOffset] == "" || h[stream.HeaderDetail] == "" {
				t.Errorf("dead letter without origin headers: %v", h)
			}
		})
	}
	return out
}

// idsOnDifferentPartitions returns an anonymous id and a contact id that
// the engine places on different partitions.
func idsOnDifferentPartitions(prefix string) (anon, contact string) {
	for i := 0; ; i++ {
		anon = prefix + "-anon-" + strconv.Itoa(i)
		contact = prefix + "-c-" + strconv.Itoa(i)
		if stream.PartitionOf(anon, testPartitions) != stream.PartitionOf(contact, testPartitions) {
			return anon, contact
		}
	}
}

func ev(id, typ, ids, ts, props string) []byte {
	return []byte(`{"id":"` + id + `","type":"` + typ + `",` + ids + `,"timestamp":"` + ts + `","properties":{` + props + `}}`)
}

// TestIdentityMergeAcrossPartitions: an anonymous visitor browses, then
// identifies; the anonymous id and the contact id live on different
// partitions. The history is merged without double counting, the
// anonymous id resolves to the contact, and later anonymous events land on
// the contact.
func TestIdentityMergeAcrossPartitions(t *testing.T) {
	addr := startBroker(t)
	anon, contact := idsOnDifferentPartitions("merge")
	anonIDs := `"anonymous_id":"` + anon + `"`
	all := `"anonymous_id":"` + anon + `","contact_id":"` + contact + `","email":"Ann@Example.com"`
	cs := stream.DefaultTopics().Clickstream
	recs := []synth.Record{
		{Topic: cs, Key: []byte(anon), Value: ev("e1", "page_view", anonIDs, "2026-03-01T10:00:00Z", `"url":"/"`)},
		{Topic: cs, Key: []byte(anon), Value: ev("e2", "page_view", anonIDs, "2026-03-01T10:01:00Z", `"url":"/shoes"`)},
		{Topic: cs, Key: []byte(anon), Value: ev("e3", "product_view", anonIDs, "2026-03-01T10:02:00Z", `"sku":"S1","category":"shoes"`)},
		{Topic: cs, Key: []byte(anon), Value: ev("e4", "identify", all, "2026-03-01T10:03:00Z", `"traits":{"first_name":"Ann"}`)},
		{Topic: cs, Key: []byte(anon), Value: ev("e5", "page_view", anonIDs, "2026-03-01T10:04:00Z", `"url":"/cart"`)},
		{Topic: cs, Key: []byte(anon), Value: ev("e2", "page_view", anonIDs, "2026-03-01T10:01:00Z", `"url":"/shoes"`)}, // duplicate id
	}
	produce(t, addr, recs[:4])
	st := openStore(t, t.TempDir())
	defer st.Close()
	eng, stop := runEngine(t, addr, st)
	defer stop()

	var c state.Contact
	ck := state.MakeKey(state.IDContact, contact)
	eventually(t, 30*time.Second, func() error {
		k, err := st.Lookup(state.MakeKey(state.IDAnonymous, anon), eng.PartitionOf, &c)
		if err != nil {
			return err
		}
		if k != ck || c.Counts[state.EventPageView] != 2 {
			return fmt.Errorf("anonymous id resolves to %s with %d page views", k, c.Counts[state.EventPageView])
		}
		return nil
	})
	produce(t, addr, recs[4:])
	eventually(t, 30*time.Second, func() error {
		if _, err := st.Lookup(ck, eng.PartitionOf, &c); err != nil {
			return err
		}
		if c.Counts[state.EventPageView] != 3 {
			return fmt.Errorf("%d page views, want 3", c.Counts[state.EventPageView])
		}
		return nil
	})
	if _, err := st.Lookup(state.MakeKey(state.IDEmail, "ann@example.com"), eng.PartitionOf, &c); err != nil {
		t.Errorf("lookup by email: %v", err)
	}
	if v, _ := c.Trait("first_name"); v != "Ann" || c.Counts[state.EventProductView] != 1 || c.Counts[state.EventIdentify] != 1 {
		t.Errorf("merged contact: first_name %q, counts %v", v, c.Counts)
	}
	if len(c.Products) != 1 || c.Products[0].Name != "S1" {
		t.Errorf("product affinity not merged: %+v", c.Products)
	}
	if got := countContacts(t, st); got != 1 {
		t.Errorf("%d contact records, want 1: the anonymous profile must be merged away", got)
	}
}

// TestDeadLetterReasons sends one record per rejection reason among valid
// ones: each bad record reaches the dead-letter topic with its reason, the
// original bytes and its origin; the valid records around them are folded.
func TestDeadLetterReasons(t *testing.T) {
	addr := startBroker(t)
	tp := stream.DefaultTopics()
	ok := func(id string) []byte {
		return ev(id, "page_view", `"contact_id":"dl-1"`, "2026-03-01T10:00:00Z", `"url":"/"`)
	}
	huge := []byte(`{"id":"big","type":"page_view","contact_id":"dl-1","timestamp":"2026-03-01T10:00:00Z","properties":{"url":"` +
		strings.Repeat("x", 700<<10) + `"}}`)
	cases := []struct {
		reason string
		topic  string
		value  []byte
	}{
		{"invalid_json", tp.Clickstream, []byte(`{"id":"x","type":`)},
		{"unknown_type", tp.Clickstream, ev("u1", "teleport", `"contact_id":"dl-1"`, "2026-03-01T10:00:00Z", ``)},
		{"wrong_topic", tp.Clickstream, ev("w1", "order_placed", `"contact_id":"dl-1"`, "2026-03-01T10:00:00Z", `"order_id":"o1","items":[{"sku":"a","price":1}],"total":1`)},
		{"missing_field", tp.Orders, ev("m1", "order_cancelled", `"contact_id":"dl-1"`, "2026-03-01T10:00:00Z", ``)},
		{"invalid_field", tp.Orders, ev("i1", "order_placed", `"contact_id":"dl-1"`, "2026-03-01T10:00:00Z", `"order_id":"o1","items":[{"sku":"a","price":1}],"total":-5`)},
		{"bad_timestamp", tp.Email, ev("b1", "opened", `"contact_id":"dl-1"`, "yesterday", ``)},
		{"bad_timestamp", tp.Email, ev("b2", "opened", `"contact_id":"dl-1"`, "1970-01-01T00:00:00Z", ``)},
		{"too_large", tp.Clickstream, huge},
	}
	var recs []synth.Record
	for i, c := range cases {
		recs = append(recs, synth.Record{Topic: tp.Clickstream, Key: []byte("dl-1"), Value: ok("ok" + strconv.Itoa(i))})
		recs = append(recs, synth.Record{Topic: c.topic, Key: []byte("dl-1"), Value: c.value})
	}
	produce(t, addr, recs)
	st := openStore(t, t.TempDir())
	defer st.Close()
	eng, stop := runEngine(t, addr, st)
	defer stop()
	var c state.Contact
	eventually(t, 30*time.Second, func() error {
		if _, err := st.Lookup(state.MakeKey(state.IDContact, "dl-1"), eng.PartitionOf, &c); err != nil {
			return err
		}
		if n := c.Counts[state.EventPageView]; n != uint32(len(cases)) {
			return fmt.Errorf("%d page views folded, want %d", n, len(cases))
		}
		return nil
	})

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(tp.DeadLetter), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for len(got) < len(cases) && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	if len(got) != len(cases) {
		t.Fatalf("%d dead letters, want %d", len(got), len(cases))
	}
	byValue := map[string]*kgo.Record{}
	for _, r := range got {
		byValue[string(r.Value)] = r
	}
	for _, c := range cases {
		h := map[string]string{}
		want := c.value
		if len(want) > 512<<10 {
			want = want[:512<<10]
		}
		r := byValue[string(want)]
		if r == nil {
			t.Errorf("%s: no dead letter with the original bytes", c.reason)
			continue
		}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		if h[stream.HeaderReason] != c.reason || h[stream.HeaderSrcTopic] != c.topic || h[stream.HeaderDetail] == "" {
			t.Errorf("%s: headers %v", c.reason, h)
		}
		if c.reason == "too_large" && h[stream.HeaderTruncated] != strconv.Itoa(len(c.value)) {
			t.Errorf("too_large: truncated header %q, want %d", h[stream.HeaderTruncated], len(c.value))
		}
	}
}

// TestRepublishedInternalRecordAppliedOnce: a forwarded event republished
// long after the original (as the outbox does after a crash), with more
// than the contact's dedupe window of other events in between, is still
// applied once: internal records are deduplicated by their source
// watermark, not by the bounded id window.
func TestRepublishedInternalRecordAppliedOnce(t *testing.T) {
	addr := startBroker(t)
	tp := stream.DefaultTopics()
	contact := "wm-1"
	fwd := func() synth.Record {
		return synth.Record{Topic: tp.Rekey, Key: []byte(contact),
			Value: ev("fwd-1", "page_view", `"contact_id":"`+contact+`"`, "2026-03-01T09:00:00Z", `"url":"/"`)}
	}
	var recs []synth.Record
	recs = append(recs, fwd())
	for i := range 300 {
		recs = append(recs, synth.Record{Topic: tp.Clickstream, Key: []byte(contact),
			Value: ev("pv-"+strconv.Itoa(i), "page_view", `"contact_id":"`+contact+`"`, "2026-03-01T10:00:00Z", `"url":"/a"`)})
	}
	recs = append(recs, fwd())
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := stream.EnsureTopics(t.Context(), cl, tp, testPartitions, -1); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		kr := &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
		if r.Topic == tp.Rekey {
			kr.Headers = []kgo.RecordHeader{
				{Key: stream.HeaderOp, Value: []byte("forward")},
				{Key: stream.HeaderTarget, Value: []byte("c:" + contact)},
				{Key: stream.HeaderHops, Value: []byte("1")},
				{Key: stream.HeaderID, Value: []byte("kairos.clickstream/0/17/0")},
			}
		}
		if err := cl.ProduceSync(t.Context(), kr).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	st := openStore(t, t.TempDir())
	defer st.Close()
	eng, stop := runEngine(t, addr, st)
	defer stop()
	var c state.Contact
	eventually(t, 30*time.Second, func() error {
		if _, err := st.Lookup(state.MakeKey(state.IDContact, contact), eng.PartitionOf, &c); err != nil {
			return err
		}
		if got := c.Counts[state.EventPageView]; got != 301 {
			return fmt.Errorf("%d page views, want 301 (300 direct + the forwarded one once)", got)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	if _, err := st.Lookup(state.MakeKey(state.IDContact, contact), eng.PartitionOf, &c); err != nil || c.Counts[state.EventPageView] != 301 {
		t.Fatalf("after settling: %d page views, err %v", c.Counts[state.EventPageView], err)
	}
}
