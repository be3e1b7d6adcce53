package decisionlog

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/stream/broker"
)

// startBroker runs the embedded broker in memory on a free port.
func startBroker(t *testing.T) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// produce writes values to the decision log, keyed as the engine keys
// them (by contact), and waits for the acknowledgements.
func produce(t *testing.T, addr string, recs []logged) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), 3, 1, nil, nba.DecisionsTopic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatal(err)
	}
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: nba.DecisionsTopic, Key: []byte(r.key), Value: r.value}
	}
	if err := cl.ProduceSync(t.Context(), krs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

type logged struct {
	key   string
	value []byte
}

func jsonOf(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var t0 = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

func decisionID(i int) nba.DecisionID {
	var id nba.DecisionID
	id[0], id[1], id[2] = byte(i>>16), byte(i>>8), byte(i)
	id[15] = 1
	return id
}

// synthActions are the actions of the synthetic log; synthRate their true
// conversion rate given the contact's "open cart" feature (index 20,
// cart_items_log) and its engagement (index 24, open_rate).
var synthActions = []string{"cart-reminder", "newsletter", "promo-shoes", "win-back"}

func synthRate(a int, v *features.Vector) float64 {
	cart := v[20] > 0
	switch a {
	case 0:
		if cart {
			return 0.35
		}
		return 0.01
	case 1:
		return 0.02 + 0.1*float64(v[24])
	case 2:
		return 0.05
	default:
		if cart {
			return 0.005
		}
		return 0.04
	}
}

// synthLog is n decisions of a uniformly random policy, one action shown,
// one every 10 minutes, and the outcomes that followed (a click within an
// hour).
func synthLog(t testing.TB, n int, seed uint64) []logged {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []logged
	for i := range n {
		var v features.Vector
		if rng.IntN(3) == 0 {
			v[20] = 1 + rng.Float32()
		}
		v[24] = rng.Float32()
		v[3] = rng.Float32() * 3
		a := rng.IntN(len(synthActions))
		at := t0.Add(time.Duration(i) * 10 * time.Minute)
		key := "c" + string(rune('a'+i%26))
		out = append(out, logged{key, jsonOf(t, nba.DecisionRecord{
			DecisionID: decisionID(i), At: at, ContactID: key, Placement: "homepage", Policy: "thompson",
			Catalogue: "test", Eligible: len(synthActions), FeatureVersion: features.Version, Features: v[:],
			Choices: []nba.LoggedChoice{{Action: synthActions[a], Rank: 1, LoggingProbability: 1 / float64(len(synthActions))}},
		})})
		if rng.Float64() < synthRate(a, &v) {
			out = append(out, logged{key, jsonOf(t, nba.OutcomeLog(nba.Outcome{
				DecisionID: decisionID(i), Action: synthActions[a], Kind: nba.OutcomeClick, At: at.Add(time.Hour),
			}))})
		}
	}
	return out
}

// TestBuilderJoins feeds a hand-made log through the embedded broker and
// checks every rule of the join.
func TestBuilderJoins(t *testing.T) {
	b := startBroker(t)
	var v features.Vector
	v[0] = 0.5
	dec := func(i int, at time.Time, fv []float32, version int, choices ...nba.LoggedChoice) logged {
		return logged{"k", jsonOf(t, nba.DecisionRecord{DecisionID: decisionID(i), At: at, FeatureVersion: version, Features: fv, Choices: choices})}
	}
	out := func(i int, action string, kind nba.OutcomeKind, at time.Time) logged {
		return logged{"k", jsonOf(t, nba.OutcomeLog(nba.Outcome{DecisionID: decisionID(i), Action: action, Kind: kind, At: at}))}
	}
	ch := func(a string, p float64) nba.LoggedChoice { return nba.LoggedChoice{Action: a, LoggingProbability: p} }
	day := 24 * time.Hour
	recs := []logged{
		// 1: two choices, a clicked within the window, b not.
		dec(1, t0, v[:], features.Version, ch("a", 0.5), ch("b", 0.25)),
		out(1, "a", nba.OutcomeClick, t0.Add(time.Hour)),
		// 2: outcome arrives before its decision in the log; an order
		// after 8 days is outside the 7-day window: negative.
		out(2, "a", nba.OutcomeOrder, t0.Add(8*day)),
		dec(2, t0.Add(time.Minute), v[:], features.Version, ch("a", 0)),
		// 3: dismissed: negative; the fallback choice is no example.
		dec(3, t0.Add(2*time.Minute), v[:], features.Version, ch("b", 2), nba.LoggedChoice{Action: "c", Fallback: true}),
		out(3, "b", nba.OutcomeDismiss, t0.Add(3*time.Minute)),
		// 4, 5: no features; another feature version.
		dec(4, t0.Add(3*time.Minute), nil, 0, ch("a", 0.5)),
		dec(5, t0.Add(4*time.Minute), v[:10], 99, ch("a", 0.5)),
		// Outcome of a decision not in the log; garbage; unknown type.
		out(77, "a", nba.OutcomeClick, t0.Add(time.Hour)),
		{"k", []byte("{not json")},
		{"k", []byte(`{"type":"impression"}`)},
		// 6: window still open at the log's end (t0+10d): left out...
		dec(6, t0.Add(9*day), v[:], features.Version, ch("a", 0.5), ch("b", 0.5)),
		// ...unless already converted.
		out(6, "b", nba.OutcomeClick, t0.Add(10*day)),
	}
	produce(t, b.Addr(), recs)

	bl := NewBuilder(ExampleConfig{})
	n, err := Read(t.Context(), ReadConfig{Brokers: []string{b.Addr()}}, bl.Add)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(recs) {
		t.Fatalf("read %d records, produced %d", n, len(recs))
	}
	ex, st := bl.Examples()
	want := Stats{Records: 13, Decisions: 6, Outcomes: 5, Malformed: 2, NoFeatures: 1, WrongVersion: 1,
		Pending: 1, Examples: 5, Positives: 2, Unmatched: 1, LogEnd: t0.Add(10 * day).UnixMilli()}
	if st != want {
		t.Fatalf("stats\n got %+v\nwant %+v", st, want)
	}
	type got struct {
		id      int64
		action  string
		outcome bool
		prop    float64
	}
	var g []got
	for _, e := range ex {
		g = append(g, got{(e.At - t0.UnixMilli()) / 60000, e.Action, e.Outcome, e.Propensity})
		if e.Features != v {
			t.Fatalf("features not carried: %v", e.Features[:3])
		}
	}
	wantEx := []got{{0, "a", true, 0.5}, {0, "b", false, 0.25}, {1, "a", false, 0}, {2, "b", false, 0}, {9 * 24 * 60, "b", true, 0.5}}
	if len(g) != len(wantEx) {
		t.Fatalf("examples %+v", g)
	}
	for i := range g {
		if g[i] != wantEx[i] {
			t.Fatalf("example %d: %+v, want %+v (all %+v)", i, g[i], wantEx[i], g)
		}
	}

	// Since drops older decisions.
	bl = NewBuilder(ExampleConfig{Since: t0.Add(day)})
	if _, err := Read(t.Context(), ReadConfig{Brokers: []string{b.Addr()}}, bl.Add); err != nil {
		t.Fatal(err)
	}
	if ex, st := bl.Examples(); len(ex) != 1 || st.Old != 3 {
		t.Fatalf("since: %d examples, %+v", len(ex), st)
	}
}

func TestReadErrors(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err := Read(ctx, ReadConfig{Brokers: []string{b.Addr()}, Topic: "no.such.topic"}, func([]byte) error { return nil })
	if !errors.Is(err, ErrNoTopic) {
		t.Fatalf("missing topic: %v", err)
	}
	if _, err := Read(ctx, ReadConfig{}, nil); err == nil {
		t.Fatal("no brokers: no error")
	}
}

func FuzzBuilderAdd(f *testing.F) {
	f.Add([]byte(`{"decision_id":"00000000000000000000000000000001","timestamp":"2026-10-01T00:00:00Z","actions":[{"action_id":"a"}],"feature_version":1,"features":[1]}`))
	f.Add([]byte(`{"type":"outcome","decision_id":"00000000000000000000000000000001","action_id":"a","outcome":"click","timestamp":"2026-10-01T00:00:00Z"}`))
	f.Add([]byte(`{"type":"outcome","outcome":"bogus"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		bl := NewBuilder(ExampleConfig{})
		err := bl.Add(b)
		ex, st := bl.Examples()
		if (err != nil) != (st.Malformed == 1) || st.Records != 1 {
			t.Fatalf("err %v, stats %+v", err, st)
		}
		for _, e := range ex {
			if e.Action == "" || e.Propensity < 0 || e.Propensity > 1 {
				t.Fatalf("bad example %+v", e)
			}
		}
	})
}
