package stream

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/bench/synth"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/trigger"
)

// BenchmarkWorkerProcessTriggers is BenchmarkWorkerProcess with the
// shipped trigger rules on: the difference between the two is what
// triggers cost per event (snapshot, Wants, evaluation, timers armed and
// cancelled, trigger payloads in the outbox, timers fired between
// batches at the watermark the events move).
func BenchmarkWorkerProcessTriggers(b *testing.B) {
	recs := synth.Mixed(200_000, 3)
	krs := make([]*kgo.Record, len(recs))
	offsets := map[string]int64{}
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Offset: offsets[r.Topic]}
		offsets[r.Topic]++
	}
	st, err := state.Open(b.TempDir(), state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rs, err := trigger.DefaultRules()
	if err != nil {
		b.Fatal(err)
	}
	te, err := trigger.NewEngine(rs, trigger.DefaultTopics(), nil)
	if err != nil {
		b.Fatal(err)
	}
	p := new(atomic.Pointer[trigger.Engine])
	p.Store(te)
	e, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Store: st, Partitions: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Triggers: Triggers{Engine: p}})
	if err != nil {
		b.Fatal(err)
	}
	e.partitions.Store(1)
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	e.relay = newRelay(cl, st, e.log, e.metrics, nil)
	w, err := newWorker(e, 0)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 2000
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		if n+batch > len(krs) {
			n = 0
		}
		if err := w.process(krs[n : n+batch]); err != nil {
			b.Fatal(err)
		}
		if err := w.between(); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*batch), "cpu-ns/event")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}
