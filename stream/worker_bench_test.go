package stream

import (
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/bench/synth"
	"github.com/kairos-engine/kairos/state"
)

// BenchmarkWorkerProcess measures the engine's own cost per event, without
// Kafka: decode, identity routing, dedupe, fold, contact encoding and the
// Pebble batch commit, over a realistic mix on one partition, in batches of
// 2,000 records. Outbox records (forwards) are produced into a relay whose
// client has no brokers, so they stay in the outbox as they would while a
// broker is away.
func BenchmarkWorkerProcess(b *testing.B) {
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
	e, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Store: st, Partitions: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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
		n += batch
	}
	// CPU time covers Pebble's background flushes and the garbage
	// collector, which run beside the worker, and unlike wall-clock time it
	// does not grow when other processes share the machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*batch), "cpu-ns/event")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// cpuTime is the user plus system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
