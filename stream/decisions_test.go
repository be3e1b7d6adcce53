package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/bandit"
)

// TestDecisionsLearningLoop drives the learning loop through Kafka:
// decisions on kairos.decisions become impressions in the contact's
// history and the partition's statistics; action_click and action_dismiss
// events on the clickstream, and an order, become attributed outcomes; the
// bandit job merges the stored statistics into the policy and the report.
func TestDecisionsLearningLoop(t *testing.T) {
	addr := startBroker(t)
	cat, err := nba.DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	var pol atomic.Pointer[nba.Policy]
	pol.Store(nba.NewPolicy(cat, nil))
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	eng, err := stream.New(stream.Config{
		Brokers: []string{addr}, Group: "kairos-nba", Partitions: testPartitions, Store: st,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Registerer: reg, NBA: &pol,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := stream.EnsureTopics(t.Context(), cl, stream.DefaultTopics(), testPartitions, -1); err != nil {
		t.Fatal(err)
	}
	send := func(topic, key string, target state.Key, value []byte) {
		t.Helper()
		r := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
		if target != "" {
			r.Headers = []kgo.RecordHeader{{Key: stream.HeaderTarget, Value: []byte(target)}}
		}
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	event := func(id, typ string, at time.Time, props string) []byte {
		return fmt.Appendf(nil, `{"id":%q,"type":%q,"contact_id":"42","timestamp":%q,"properties":%s}`, id, typ, at.Format(time.RFC3339), props)
	}
	send("kairos.clickstream", "42", "", event("pv-1", "page_view", base, `{"url":"/"}`))

	contact := func() (*state.Contact, error) {
		var c state.Contact
		if _, err := st.Lookup("c:42", eng.PartitionOf, &c); err != nil {
			return nil, err
		}
		return &c, nil
	}
	eventually(t, 30*time.Second, func() error { _, err := contact(); return err })

	d1, d2 := nba.NewDecisionID(), nba.NewDecisionID()
	record := func(id nba.DecisionID, at time.Time, contactID, anon, group string, actions ...string) []byte {
		rec := nba.DecisionRecord{DecisionID: id, At: at, ContactID: contactID, AnonymousID: anon, Placement: "homepage",
			Group: group, Policy: "thompson", Catalogue: cat.Version()}
		for i, a := range actions {
			rec.Choices = append(rec.Choices, nba.LoggedChoice{Action: a, Rank: i + 1, Propensity: 0.05})
		}
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	send(nba.DecisionsTopic, "42", "c:42", record(d1, base.Add(time.Minute), "42", "", "homepage/lead", "welcome-offer", "newsletter-signup"))
	// A visitor the engine has not seen: statistics only.
	send(nba.DecisionsTopic, "stranger", "a:stranger", record(d2, base.Add(time.Minute), "", "stranger", "homepage/visitor", "welcome-offer"))
	send(nba.DecisionsTopic, "42", "", []byte(`{"decision_id":"nope"}`)) // dead-lettered

	eventually(t, 30*time.Second, func() error {
		c, err := contact()
		if err != nil {
			return err
		}
		var h nba.History
		if err := nba.LedgerHistory(c.Decisions, &h); err != nil {
			return err
		}
		if h.Len() != 2 {
			return fmt.Errorf("history has %d actions, want 2", h.Len())
		}
		return nil
	})

	send("kairos.clickstream", "42", "", event("click-1", "action_click", base.Add(2*time.Minute),
		fmt.Sprintf(`{"decision_id":%q,"action_id":"welcome-offer"}`, d1)))
	send("kairos.clickstream", "42", "", event("dismiss-1", "action_dismiss", base.Add(3*time.Minute),
		fmt.Sprintf(`{"decision_id":%q,"action_id":"newsletter-signup"}`, d1)))
	// The same click again (another event id): the impression already
	// converted, so it is not a second conversion.
	send("kairos.clickstream", "42", "", event("click-2", "action_click", base.Add(4*time.Minute),
		fmt.Sprintf(`{"decision_id":%q,"action_id":"welcome-offer"}`, d1)))

	svc, err := bandit.New(bandit.Config{Store: st, Policy: &pol, Partitions: eng.Assigned, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	lead := nba.Key{Action: "welcome-offer", Group: "homepage/lead"}
	eventually(t, 30*time.Second, func() error {
		if err := svc.Refresh(); err != nil {
			return err
		}
		s := svc.Stats()
		if got := s.Get(lead); got != (nba.Counts{Impressions: 1, Conversions: 1}) {
			return fmt.Errorf("welcome-offer/lead %+v", got)
		}
		if got := s.Get(nba.Key{Action: "newsletter-signup", Group: "homepage/lead"}); got != (nba.Counts{Impressions: 1, Dismissals: 1}) {
			return fmt.Errorf("newsletter-signup/lead %+v", got)
		}
		if got := s.Get(nba.Key{Action: "welcome-offer", Group: "homepage/visitor"}); got.Impressions != 1 {
			return fmt.Errorf("stranger's impression %+v", got)
		}
		if s.Decisions(false) != 2 {
			return fmt.Errorf("decisions %d", s.Decisions(false))
		}
		return nil
	})
	// The policy learned: the posterior moved off the prior.
	post, ok := pol.Load().Posterior("welcome-offer", "homepage/lead")
	if prior := cat.Action("welcome-offer").Prior; !ok || post.Alpha != prior.Alpha+1 {
		t.Fatalf("posterior %+v (ok %v), prior %+v", post, ok, prior)
	}
	rep := svc.Report(0.95)
	for _, a := range rep.Actions {
		if a.Action == "welcome-offer" && (a.Learning.Impressions != 2 || a.Learning.Conversions != 1) {
			t.Fatalf("report for welcome-offer: %+v", a)
		}
	}
	if rep.Learning.Impressions != 2 {
		t.Fatalf("report: %+v", rep.Learning)
	}
	for _, c := range []struct {
		labels string
		want   float64
	}{
		{"recorded", 1}, {"no_contact", 1}, {"bad", 1},
	} {
		got := testutil.ToFloat64(counterVec(t, reg, "kairos_stream_nba_decisions_total", "result", c.labels))
		if got != c.want {
			t.Errorf("decisions{%s} = %v, want %v", c.labels, got, c.want)
		}
	}
	eventually(t, 30*time.Second, func() error {
		if got := testutil.ToFloat64(counterVec(t, reg, "kairos_stream_nba_outcomes_total", "outcome", "click", "attribution", "already_converted")); got != 1 {
			return fmt.Errorf("repeated click counted %v times as already_converted", got)
		}
		return nil
	})
	if err := svc.Refresh(); err != nil {
		t.Fatal(err)
	}
	if s := svc.Stats(); s.Get(lead).Conversions != 1 {
		t.Errorf("the repeated click converted again: %+v", s.Get(lead))
	}
}

// counterVec finds one series of a gathered counter by its label values.
func counterVec(t *testing.T, reg *prometheus.Registry, name string, kv ...string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i < len(kv); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == kv[i] && l.GetValue() == kv[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})
			c.Add(m.GetCounter().GetValue())
			return c
		}
	}
	t.Fatal(errors.New(name + " series not found"))
	return nil
}
