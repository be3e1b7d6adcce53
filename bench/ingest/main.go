// Command ingest measures Kairos's end-to-end ingest throughput: events per
// second from a preloaded topic of realistic mixed events (bench/synth)
// through decode, dedupe, identity routing, fold and the Pebble commit,
// with the embedded Kafka-protocol broker in the same process on loopback.
//
// In the same run it measures a baseline: a plain franz-go consumer
// reading the same records from the same broker and doing nothing with
// them. The ratio tells how much of the machine the engine's own work
// takes, independent of how noisy the machine is today.
//
//	go run ./bench/ingest -events 1000000 -runs 5
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/bench/synth"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/broker"
)

var logOut io.Writer = io.Discard

func main() {
	events := flag.Int("events", 1_000_000, "events to preload and fold per run")
	runs := flag.Int("runs", 5, "measured runs (the median is reported)")
	partitions := flag.Int("partitions", 8, "partitions per topic")
	seed := flag.Uint64("seed", 1, "synthetic traffic seed")
	sync := flag.Bool("sync", false, "fsync every state batch")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the last engine run")
	memprofile := flag.String("memprofile", "", "write an allocation profile of the last engine run")
	verbose := flag.Bool("v", false, "show the engine's log")
	scores := flag.String("scores", "on", "score every event as kairos serve does (on), not at all (off), or both in alternation to measure what scoring costs (both)")
	flag.Parse()
	if *verbose {
		logOut = os.Stderr
	}
	switch *scores {
	case "on", "off", "both":
	default:
		fmt.Fprintln(os.Stderr, "ingest: -scores must be on, off or both")
		os.Exit(2)
	}
	scoreModes = map[string][]bool{"on": {true}, "off": {false}, "both": {false, true}}[*scores]
	if err := run(*events, *runs, int32(*partitions), *seed, *sync, *cpuprofile, *memprofile); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

// scoreModes are the engine variants each run measures: with the scoring
// models (as kairos serve runs) and/or without.
var scoreModes = []bool{true}

func run(n, runs int, partitions int32, seed uint64, syncWrites bool, cpuprofile, memprofile string) error {
	ctx := context.Background()
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: int(partitions)})
	if err != nil {
		return err
	}
	defer b.Close()
	addr := b.Addr()

	fmt.Printf("preloading %d events into %d partitions...\n", n, partitions)
	recs := synth.Mixed(n, seed)
	var bytes int
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(10*time.Millisecond), kgo.MaxBufferedRecords(1<<20))
	if err != nil {
		return err
	}
	if _, err := stream.EnsureTopics(ctx, cl, stream.DefaultTopics(), partitions, -1); err != nil {
		return err
	}
	for i := 0; i < len(recs); i += 50_000 {
		chunk := recs[i:min(i+50_000, len(recs))]
		krs := make([]*kgo.Record, len(chunk))
		for j, r := range chunk {
			krs[j] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
			bytes += len(r.Value)
		}
		if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			return err
		}
	}
	cl.Close()
	recs = nil
	fmt.Printf("preloaded: %d events, mean %.0f bytes\n", n, float64(bytes)/float64(n))

	var base []float64
	eng := map[bool][]float64{}
	cpu := map[bool][]float64{}
	for i := range runs {
		bt, err := baseline(ctx, addr, n)
		if err != nil {
			return err
		}
		prof := ""
		last := i == runs-1
		if last {
			prof = cpuprofile
		}
		if last && memprofile != "" {
			// Only the last run's allocations: the profile is cumulative
			// since the process started, and a collection here makes the
			// counts so far final; the preload and earlier runs are
			// subtracted with pprof -base when needed.
			runtime.GC()
			if err := writeHeapProfile(memprofile + ".base"); err != nil {
				return err
			}
		}
		base = append(base, float64(n)/bt.Seconds())
		for _, scored := range scoreModes {
			cpu0 := cpuTime()
			et, err := engineRun(ctx, addr, n, partitions, syncWrites, i, prof, scored)
			if err != nil {
				return err
			}
			used := cpuTime() - cpu0
			eng[scored] = append(eng[scored], float64(n)/et.Seconds())
			cpu[scored] = append(cpu[scored], float64(used.Microseconds())/float64(n))
			fmt.Printf("run %d: baseline %9.0f records/s   engine (scores %-3v) %9.0f events/s   (%.2fs, CPU %.2fs = %.2f µs/event)\n",
				i+1, base[i], onOff(scored), eng[scored][i], et.Seconds(), used.Seconds(), cpu[scored][i])
		}
		if last && memprofile != "" {
			runtime.GC()
			if err := writeHeapProfile(memprofile); err != nil {
				return err
			}
			fmt.Printf("  allocation profile: go tool pprof -sample_index=alloc_space -base %s.base %s\n", memprofile, memprofile)
		}
	}
	mb := median(base)
	for _, scored := range scoreModes {
		me := median(eng[scored])
		fmt.Printf("\nmedian of %d runs, scores %s: baseline consumer %.0f records/s; engine %.0f events/s; engine/baseline = %.2f; process CPU %.2f µs/event\n",
			runs, onOff(scored), mb, me, me/mb, median(cpu[scored]))
	}
	if len(scoreModes) == 2 {
		fmt.Printf("scores on / off: throughput %.3f, CPU per event %.3f\n",
			median(eng[true])/median(eng[false]), median(cpu[true])/median(cpu[false]))
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// baseline reads every input record with a plain consumer and no work.
func baseline(ctx context.Context, addr string, n int) (time.Duration, error) {
	t := stream.DefaultTopics()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(t.Clickstream, t.Orders, t.Email),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	start := time.Now()
	seen := 0
	for seen < n {
		fs := cl.PollRecords(ctx, 10_000)
		if err := fs.Err0(); err != nil {
			return 0, err
		}
		seen += fs.NumRecords()
	}
	return time.Since(start), nil
}

// engineRun folds all records into a fresh store with a fresh group and
// returns the time from start until every input record is committed.
func engineRun(ctx context.Context, addr string, n int, partitions int32, syncWrites bool, i int, cpuprofile string, scored bool) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "kairos-ingest-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	st, err := state.Open(dir, state.Options{Sync: syncWrites})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	var models *atomic.Pointer[scoring.Models]
	if scored {
		plan, err := lead.Default()
		if err != nil {
			return 0, err
		}
		m, err := scoring.New(plan, scoring.Config{}, scoring.Population{})
		if err != nil {
			return 0, err
		}
		models = new(atomic.Pointer[scoring.Models])
		models.Store(m)
	}
	eng, err := stream.New(stream.Config{
		Models:     models,
		Registerer: reg,
		Brokers:    []string{addr},
		Group:      fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i),
		Partitions: partitions,
		Store:      st,
		Logger:     slog.New(slog.NewTextHandler(logOut, nil)),
	})
	if err != nil {
		return 0, err
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- eng.Run(ctx) }()
	for eng.InputsCommitted() < int64(n) {
		select {
		case err := <-done:
			cancel()
			return 0, fmt.Errorf("engine stopped early: %w", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		return 0, err
	}
	m := st.DB().Metrics()
	tot := m.Total()
	fmt.Printf("  pebble: WAL %.0f B/event; flushed %d MB, compacted %d MB; %d flushes, %d compactions\n",
		float64(m.WAL.BytesIn)/float64(n), tot.TableBytesFlushed>>20, tot.TableBytesCompacted>>20, m.Flush.Count, m.Compact.Count)
	if mfs, err := reg.Gather(); err == nil {
		sum := func(name string) float64 {
			t := 0.0
			for _, mf := range mfs {
				if mf.GetName() != name {
					continue
				}
				for _, m := range mf.GetMetric() {
					t += m.GetCounter().GetValue()
				}
			}
			return t
		}
		for _, mf := range mfs {
			if mf.GetName() == "kairos_stream_batch_records" {
				h := mf.GetMetric()[0].GetHistogram()
				fmt.Printf("  batches %d, mean %.0f records per batch", h.GetSampleCount(), h.GetSampleSum()/float64(h.GetSampleCount()))
			}
		}
		hits, misses := sum("kairos_stream_cache_hits_total"), sum("kairos_stream_cache_misses_total")
		fmt.Printf("; forwarded %.0f; merges %.0f; contact cache hits %.1f%%\n",
			sum("kairos_stream_forwarded_total"), sum("kairos_stream_identity_merges_total"), 100*hits/(hits+misses))
	}
	return elapsed, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpuTime is the user plus system CPU time of this process so far. The
// engine run's share (broker, client and engine together, setup and
// shutdown included) is robust to a busy machine where wall-clock time is
// not: other processes stretch the time, not the CPU used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
