package stream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/bandit"
	"github.com/kairos-engine/kairos/stream/decisionlog"
)

// outcomeRig is an engine with next-best-action enabled on a kfake broker,
// with a client to feed it and a reader of what lands on kairos.decisions.
type outcomeRig struct {
	addr string
	cat  *nba.Catalogue
	pol  atomic.Pointer[nba.Policy]
	cl   *kgo.Client
	log  *decisionLogReader
}

func newOutcomeRig(t *testing.T) *outcomeRig {
	t.Helper()
	cat, err := nba.DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	rig := &outcomeRig{addr: startBroker(t), cat: cat}
	rig.pol.Store(nba.NewPolicy(cat, nil))
	rig.cl, err = kgo.NewClient(kgo.SeedBrokers(rig.addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rig.cl.Close)
	if _, err := stream.EnsureTopics(t.Context(), rig.cl, stream.DefaultTopics(), testPartitions, -1); err != nil {
		t.Fatal(err)
	}
	rig.log = readDecisionLog(t, rig.addr)
	return rig
}

// start runs an engine on st; the returned function stops it.
func (rig *outcomeRig) start(t *testing.T, st *state.Store, reg prometheus.Registerer) (*stream.Engine, func()) {
	t.Helper()
	eng, err := stream.New(stream.Config{
		Brokers: []string{rig.addr}, Group: "kairos-outcomes", Partitions: testPartitions, Store: st,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Registerer: reg, NBA: &rig.pol,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Error(err)
				}
			case <-time.After(30 * time.Second):
				t.Error("engine did not stop within 30s")
			}
		})
	}
	t.Cleanup(stop)
	return eng, stop
}

func (rig *outcomeRig) send(t *testing.T, topic, key string, target state.Key, value []byte) {
	t.Helper()
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
	if target != "" {
		r.Headers = []kgo.RecordHeader{{Key: stream.HeaderTarget, Value: []byte(target)}}
	}
	if err := rig.cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// decision is a decision record as the API logs it, with the feature
// vector the trainer needs.
func (rig *outcomeRig) decision(t *testing.T, id nba.DecisionID, at time.Time, contact string, actions ...string) []byte {
	t.Helper()
	rec := nba.DecisionRecord{DecisionID: id, At: at, ContactID: contact, Placement: "homepage",
		Group: "homepage/lead", Policy: "thompson", Catalogue: rig.cat.Version(), Eligible: len(actions),
		FeatureVersion: features.Version, Features: make([]float32, features.Len)}
	for i := range rec.Features {
		rec.Features[i] = float32(i) / features.Len
	}
	for i, a := range actions {
		rec.Choices = append(rec.Choices, nba.LoggedChoice{Action: a, Rank: i + 1, Propensity: 0.05, LoggingProbability: 0.5})
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func outcomeEvent(id, typ, contact string, at time.Time, props string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":%q,"contact_id":%q,"timestamp":%q,"properties":%s}`, id, typ, contact, at.Format(time.RFC3339), props)
}

func actionProps(d nba.DecisionID, action string) string {
	return fmt.Sprintf(`{"decision_id":%q,"action_id":%q}`, d, action)
}

// decisionLogReader collects every record of kairos.decisions from the
// start, in the background.
type decisionLogReader struct {
	mu   sync.Mutex
	recs []*kgo.Record
}

func readDecisionLog(t *testing.T, addr string) *decisionLogReader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(nba.DecisionsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	r := &decisionLogReader{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			r.mu.Lock()
			fs.EachRecord(func(rec *kgo.Record) { r.recs = append(r.recs, rec) })
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return r
}

// outcomes returns the outcome records read so far.
func (r *decisionLogReader) outcomes() []*kgo.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*kgo.Record
	for _, rec := range r.recs {
		if bytes.Contains(rec.Value, []byte(`"type":"outcome"`)) {
			out = append(out, rec)
		}
	}
	return out
}

func (r *decisionLogReader) values() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]byte, len(r.recs))
	for i, rec := range r.recs {
		out[i] = rec.Value
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestOutcomeRecords: attributed outcomes (a click, a dismissal, an order
// credited by last touch) become exactly one outcome record each on
// kairos.decisions, keyed and partitioned like the contact's decisions;
// an outcome the ledger cannot attribute writes nothing; the engine skips
// its own records when it reads them back; and the propensity trainer's
// Builder joins them to their decisions into positive and negative
// examples.
func TestOutcomeRecords(t *testing.T) {
	rig := newOutcomeRig(t)
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	eng, _ := rig.start(t, st, reg)

	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for _, c := range []string{"42", "43"} {
		rig.send(t, "kairos.clickstream", c, "", outcomeEvent("pv-"+c, "page_view", c, base, `{"url":"/"}`))
	}
	d1, d2 := nba.NewDecisionID(), nba.NewDecisionID()
	rig.send(t, nba.DecisionsTopic, "42", "c:42", rig.decision(t, d1, base.Add(time.Minute), "42", "welcome-offer", "newsletter-signup"))
	rig.send(t, nba.DecisionsTopic, "43", "c:43", rig.decision(t, d2, base.Add(90*time.Minute), "43", "promo-shoes"))
	eventually(t, 30*time.Second, func() error {
		if got := testutil.ToFloat64(counterVec(t, reg, "kairos_stream_nba_decisions_total", "result", "recorded")); got != 2 {
			return fmt.Errorf("%v decisions recorded, want 2", got)
		}
		return nil
	})

	clickAt, dismissAt, orderAt := base.Add(2*time.Minute), base.Add(3*time.Minute), base.Add(2*time.Hour)
	rig.send(t, "kairos.clickstream", "42", "", outcomeEvent("click-1", "action_click", "42", clickAt, actionProps(d1, "welcome-offer")))
	rig.send(t, "kairos.clickstream", "42", "", outcomeEvent("dismiss-1", "action_dismiss", "42", dismissAt, actionProps(d1, "newsletter-signup")))
	// Not attributed: a decision the contact's ledger never saw, and the
	// same click again (the impression converted already).
	rig.send(t, "kairos.clickstream", "42", "", outcomeEvent("click-x", "action_click", "42", clickAt, actionProps(nba.NewDecisionID(), "welcome-offer")))
	rig.send(t, "kairos.clickstream", "42", "", outcomeEvent("click-2", "action_click", "42", clickAt.Add(time.Second), actionProps(d1, "welcome-offer")))
	rig.send(t, "kairos.orders", "43", "", outcomeEvent("order-1", "order_placed", "43", orderAt,
		`{"order_id":"o-1","items":[{"sku":"trail-1","price":129.90}],"total":129.90}`))

	want := map[string]nba.Outcome{
		"42/welcome-offer":     {DecisionID: d1, Action: "welcome-offer", Kind: nba.OutcomeClick, At: clickAt},
		"42/newsletter-signup": {DecisionID: d1, Action: "newsletter-signup", Kind: nba.OutcomeDismiss, At: dismissAt},
		"43/promo-shoes":       {DecisionID: d2, Action: "promo-shoes", Kind: nba.OutcomeOrder, At: orderAt, Value: 129.90},
	}
	eventually(t, 30*time.Second, func() error {
		if n := len(rig.log.outcomes()); n < len(want) {
			return fmt.Errorf("%d outcome records, want %d", n, len(want))
		}
		// Every outcome event was folded, the unattributed ones too.
		for _, c := range [][2]string{{"click", "not_shown"}, {"click", "already_converted"}} {
			if got := testutil.ToFloat64(counterVec(t, reg, "kairos_stream_nba_outcomes_total", "outcome", c[0], "attribution", c[1])); got != 1 {
				return fmt.Errorf("outcomes{%s,%s} = %v, want 1", c[0], c[1], got)
			}
		}
		// The engine read its records back and skipped them.
		if got := testutil.ToFloat64(counterVec(t, reg, "kairos_stream_nba_decisions_total", "result", "outcome")); got != float64(len(want)) {
			return fmt.Errorf("%v outcome records skipped, want %d", got, len(want))
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // room for a stray record to show up
	got := rig.log.outcomes()
	if len(got) != len(want) {
		t.Fatalf("%d outcome records, want %d", len(got), len(want))
	}
	for _, r := range got {
		var o nba.OutcomeRecord
		dec := json.NewDecoder(bytes.NewReader(r.Value))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			t.Fatalf("%s: %v", r.Value, err)
		}
		name := string(r.Key) + "/" + o.Action
		w, ok := want[name]
		if !ok {
			t.Errorf("unexpected outcome record %s", r.Value)
			continue
		}
		delete(want, name)
		if o.Type != nba.RecordOutcome || o.Outcome.DecisionID != w.DecisionID || o.Kind != w.Kind ||
			!o.At.Equal(w.At) || o.Value != w.Value {
			t.Errorf("%s: %+v, want %+v", name, o, w)
		}
		if p := eng.PartitionOf(string(r.Key)); r.Partition != p {
			t.Errorf("%s on partition %d, the contact's is %d", name, r.Partition, p)
		}
		if tgt := header(r, stream.HeaderTarget); tgt != "c:"+string(r.Key) {
			t.Errorf("%s: %s %q", name, stream.HeaderTarget, tgt)
		}
		if id := header(r, stream.HeaderID); id == "" {
			t.Errorf("%s: no %s", name, stream.HeaderID)
		}
	}
	if got := testutil.ToFloat64(counterVec(t, reg, "kairos_stream_nba_outcome_records_total", "result", "queued")); got != 3 {
		t.Errorf("outcome records queued: %v, want 3", got)
	}

	// The statistics counted each outcome once: reading the records back
	// added nothing.
	svc, err := bandit.New(bandit.Config{Store: st, Policy: &rig.pol, Partitions: eng.Assigned, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Refresh(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		action string
		want   nba.Counts
	}{
		{"welcome-offer", nba.Counts{Impressions: 1, Conversions: 1}},
		{"newsletter-signup", nba.Counts{Impressions: 1, Dismissals: 1}},
		{"promo-shoes", nba.Counts{Impressions: 1, Conversions: 1}},
	} {
		if got := svc.Stats().Get(nba.Key{Action: c.action, Group: "homepage/lead"}); got != c.want {
			t.Errorf("stats of %s: %+v, want %+v", c.action, got, c.want)
		}
	}

	// The trainer's join: a window of an hour closes d1's (the log runs
	// to the order, two hours in); d2's converted.
	b := decisionlog.NewBuilder(decisionlog.ExampleConfig{Attribution: time.Hour})
	for _, v := range rig.log.values() {
		if err := b.Add(v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
	}
	ex, stats := b.Examples()
	if stats.Decisions != 2 || stats.Outcomes != 3 || stats.Unmatched != 0 || stats.Pending != 0 || stats.Examples != 3 || stats.Positives != 2 {
		t.Fatalf("builder: %s", stats)
	}
	outcome := map[string]bool{}
	for _, e := range ex {
		outcome[e.Action] = e.Outcome
	}
	if !outcome["welcome-offer"] || outcome["newsletter-signup"] || !outcome["promo-shoes"] || len(outcome) != 3 {
		t.Errorf("examples: %v, want welcome-offer and promo-shoes converted, newsletter-signup not", outcome)
	}
}

// TestOutcomeRecordsReplay: an outcome record is written once per
// attributed outcome across restarts. A restart on the same state resumes
// after the outcome's event and writes nothing. A replay from lost state
// (a fresh store rebuilds the partition from the earliest offsets) writes
// nothing different: at most the same record again, which the trainer's
// join by (decision_id, action_id) absorbs. That the record's bytes are a
// function of the input alone is shown by playing the same input on a
// second broker: same key, value and headers.
func TestOutcomeRecordsReplay(t *testing.T) {
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	d := nba.NewDecisionID()
	// play feeds a decision and a click on it to an engine on dir and
	// returns the outcome record it wrote.
	play := func(rig *outcomeRig, dir string) *kgo.Record {
		t.Helper()
		st := openStore(t, dir)
		eng, stop := rig.start(t, st, nil)
		rig.send(t, "kairos.clickstream", "7", "", outcomeEvent("pv-7", "page_view", "7", base, `{"url":"/"}`))
		rig.send(t, nba.DecisionsTopic, "7", "c:7", rig.decision(t, d, base.Add(time.Minute), "7", "welcome-offer"))
		eventually(t, 30*time.Second, func() error {
			var c state.Contact
			if _, err := st.Lookup("c:7", eng.PartitionOf, &c); err != nil {
				return err
			}
			if len(c.Decisions) == 0 {
				return errors.New("decision not recorded yet")
			}
			return nil
		})
		rig.send(t, "kairos.clickstream", "7", "", outcomeEvent("click-7", "action_click", "7", base.Add(2*time.Minute), actionProps(d, "welcome-offer")))
		eventually(t, 30*time.Second, func() error {
			if n := len(rig.log.outcomes()); n != 1 {
				return fmt.Errorf("%d outcome records, want 1", n)
			}
			return nil
		})
		stop()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		return rig.log.outcomes()[0]
	}
	same := func(a, b *kgo.Record) bool {
		return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) && a.Partition == b.Partition &&
			header(a, stream.HeaderID) == header(b, stream.HeaderID) && header(a, stream.HeaderTarget) == header(b, stream.HeaderTarget)
	}
	rig := newOutcomeRig(t)
	dir := t.TempDir()
	first := play(rig, dir)
	if twin := play(newOutcomeRig(t), t.TempDir()); !same(first, twin) {
		t.Errorf("the same input wrote another record:\n%s %s %v\n%s %s %v", first.Key, first.Value, first.Headers, twin.Key, twin.Value, twin.Headers)
	}

	// Restart on the same state: the stored offsets are past the click. A
	// page view after it shows when the restarted engine has caught up.
	st := openStore(t, dir)
	t.Cleanup(func() { st.Close() })
	eng, stop := rig.start(t, st, nil)
	rig.send(t, "kairos.clickstream", "7", "", outcomeEvent("pv-7b", "page_view", "7", base.Add(time.Hour), `{"url":"/b"}`))
	eventually(t, 30*time.Second, func() error {
		var c state.Contact
		if _, err := st.Lookup("c:7", eng.PartitionOf, &c); err != nil {
			return err
		}
		if n := c.Counts[state.EventPageView]; n != 2 {
			return fmt.Errorf("%d page views, want 2", n)
		}
		return nil
	})
	stop()
	time.Sleep(300 * time.Millisecond) // the reader polls every 100 ms
	if n := len(rig.log.outcomes()); n != 1 {
		t.Fatalf("after a restart: %d outcome records, want 1", n)
	}

	// Lost state: a fresh store replays the partition from the start. The
	// click may now be folded before the decision (they are on two
	// topics), and then it is not attributed: no record rather than
	// another one.
	fresh := openStore(t, t.TempDir())
	t.Cleanup(func() { fresh.Close() })
	reg := prometheus.NewRegistry()
	_, stop = rig.start(t, fresh, reg)
	eventually(t, 30*time.Second, func() error {
		got := testutil.ToFloat64(counterVec(t, reg, "kairos_stream_nba_outcomes_total", "outcome", "click", "attribution", "attributed")) +
			testutil.ToFloat64(counterVec(t, reg, "kairos_stream_nba_outcomes_total", "outcome", "click", "attribution", "not_shown"))
		if got != 1 {
			return fmt.Errorf("replayed clicks folded: %v, want 1", got)
		}
		return nil
	})
	stop()
	time.Sleep(300 * time.Millisecond)
	recs := rig.log.outcomes()
	if len(recs) > 2 {
		t.Fatalf("after a replay: %d outcome records, want at most 2", len(recs))
	}
	for _, r := range recs[1:] {
		if !same(first, r) {
			t.Errorf("the replay wrote another record:\n%s %s %v\nfirst:\n%s %s %v", r.Key, r.Value, r.Headers, first.Key, first.Value, first.Headers)
		}
	}
	t.Logf("replay from lost state wrote %d identical record(s)", len(recs)-1)
}

// TestOutcomeAfterIdentityMerge: a visitor is shown an action, then logs
// in (identify: their anonymous profile is merged into the known
// contact), then clicks it. The merged contact keeps the visitor's
// ledger, so the click is attributed to the decision and logged.
func TestOutcomeAfterIdentityMerge(t *testing.T) {
	rig := newOutcomeRig(t)
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	eng, _ := rig.start(t, st, reg)

	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	anon := fmt.Appendf(nil, `{"id":"pv-a","type":"page_view","anonymous_id":"a-visitor","timestamp":%q,"properties":{"url":"/"}}`, base.Format(time.RFC3339))
	known := outcomeEvent("pv-k", "page_view", "77", base, `{"url":"/"}`)
	rig.send(t, "kairos.clickstream", "a-visitor", "", anon)
	rig.send(t, "kairos.clickstream", "77", "", known)
	d := nba.NewDecisionID()
	rec := rig.decision(t, d, base.Add(time.Minute), "", "welcome-offer")
	rig.send(t, nba.DecisionsTopic, "a-visitor", "a:a-visitor", rec)
	eventually(t, 30*time.Second, func() error {
		if got := testutil.ToFloat64(counterVec(t, reg, "kairos_stream_nba_decisions_total", "result", "recorded")); got != 1 {
			return fmt.Errorf("%v decisions recorded, want 1", got)
		}
		return nil
	})
	identify := fmt.Appendf(nil, `{"id":"id-1","type":"identify","contact_id":"77","anonymous_id":"a-visitor","timestamp":%q,"properties":{}}`,
		base.Add(2*time.Minute).Format(time.RFC3339))
	rig.send(t, "kairos.clickstream", "77", "", identify)
	// The merge travels through the re-key topic when the two profiles
	// live on different partitions: wait for it, as a person clicking
	// seconds later would.
	eventually(t, 30*time.Second, func() error {
		var c state.Contact
		k, err := st.Lookup(state.MakeKey(state.IDAnonymous, "a-visitor"), eng.PartitionOf, &c)
		if err != nil || k != state.MakeKey(state.IDContact, "77") || len(c.Aliases) == 0 {
			return fmt.Errorf("visitor resolves to %q (%v), aliases %v", k, err, c.Aliases)
		}
		return nil
	})
	// The click names the known contact: the visitor is logged in now.
	rig.send(t, "kairos.clickstream", "77", "", outcomeEvent("click-m", "action_click", "77", base.Add(3*time.Minute), actionProps(d, "welcome-offer")))
	eventually(t, 30*time.Second, func() error {
		if n := len(rig.log.outcomes()); n != 1 {
			return fmt.Errorf("%d outcome records, want 1 (outcomes not shown: %v)", n,
				testutil.ToFloat64(counterVec(t, reg, "kairos_stream_nba_outcomes_total", "outcome", "click", "attribution", "not_shown")))
		}
		return nil
	})
	var o nba.OutcomeRecord
	if err := json.Unmarshal(rig.log.outcomes()[0].Value, &o); err != nil || o.DecisionID != d || o.Action != "welcome-offer" {
		t.Fatalf("outcome record %s: %v", rig.log.outcomes()[0].Value, err)
	}
}
