package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/api"
	"github.com/kairos-engine/kairos/bench/synth"
	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/propensity"
	"github.com/kairos-engine/kairos/models/sendtime"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/bandit"
	"github.com/kairos-engine/kairos/stream/broker"
)

// runHTTP measures next-best-action and send-time through HTTP on
// loopback while the engine ingests. Without url it runs everything in
// this process: the embedded broker, the engine (consuming synthetic
// clickstream, order and email traffic at ingest events/s, and the
// decision log the API writes), the bandit job and an api.Server on
// 127.0.0.1 with a catalogue of `actions` actions and 10,000 stored
// contacts. With url it loads a running `kairos serve` (the caller feeds
// its ingestion). The load is open loop at `rate` requests/s, nine
// next-best-action requests to one send-time request, over `conns`
// keep-alive connections. It prints a Markdown row per route: offered and
// achieved rates, latency percentiles from sending and from the due time,
// inputs the engine committed per second, CPU per request of the server
// and of the client (with split; without it the client's is in the
// server's), and failures.
func runHTTP(url string, split bool, so serverOpts, rate int, d time.Duration, conns int) error {
	actions := so.actions
	if rate <= 0 || d <= 0 || conns <= 0 {
		return errors.New("rate, duration and conns must be positive")
	}
	// probe reads the inputs the engine has committed and the CPU time
	// spent so far by the server and by the load client (0 when they
	// share this process: all of it is the server's then).
	probe := func() (int64, time.Duration, time.Duration) { return 0, 0, cpuNow() }
	switch {
	case url == "" && split:
		child, err := startChild(so)
		if err != nil {
			return err
		}
		defer child.stop()
		url = child.url
		// One P: the client's goroutines mostly wait on sockets and
		// timers, and a second P would spin looking for them, taking
		// CPU from the server.
		runtime.GOMAXPROCS(1)
		probe = func() (int64, time.Duration, time.Duration) {
			committed, cpu, err := child.mark()
			if err != nil {
				fmt.Fprintln(os.Stderr, "nba: server child:", err)
			}
			return committed, cpu, cpuNow()
		}
	case url == "":
		var committed func() int64
		var stop func()
		var err error
		url, committed, stop, err = startInProcess(so)
		if err != nil {
			return err
		}
		defer stop()
		probe = func() (int64, time.Duration, time.Duration) { return committed(), cpuNow(), 0 }
	}
	addr := url
	if len(addr) > 7 && addr[:7] == "http://" {
		addr = addr[7:]
	}
	cs := make([]*loadConn, conns)
	for i := range cs {
		c, err := dialLoad(addr)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		defer c.close()
		cs[i] = c
	}
	// Warm up: connections, pools, caches.
	for i := range 2000 {
		if err := cs[i%len(cs)].get(func(b []byte) []byte { return appendNBAPath(b, i) }); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}

	// Open loop without a dispatcher: connection j sends requests j,
	// j+conns, j+2·conns, ... each at its due time i/rate, or as soon as
	// its previous answer is in when that is later ("due" latency counts
	// that wait: no coordinated omission).
	total := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	type sample struct{ served, due time.Duration }
	var mu sync.Mutex
	var nbaLat, stLat []sample
	var failures atomic.Int64
	var wg sync.WaitGroup
	in0, srv0, cli0 := probe()
	start := time.Now().Add(10 * time.Millisecond)
	for j, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mineN := make([]sample, 0, total/conns+1)
			mineS := make([]sample, 0, total/(10*conns)+1)
			for i := j; i < total; i += conns {
				due := time.Duration(i) * interval
				if wait := due - time.Since(start); wait > 0 {
					time.Sleep(wait)
				}
				sent := time.Since(start)
				path := func(b []byte) []byte { return appendNBAPath(b, i) }
				if i%10 == 9 {
					path = func(b []byte) []byte { return appendSendTimePath(b, i) }
				}
				if err := c.get(path); err != nil {
					if failures.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "nba: first failure:", err)
					}
					continue
				}
				now := time.Since(start)
				s := sample{served: now - sent, due: now - due}
				if i%10 == 9 {
					mineS = append(mineS, s)
				} else {
					mineN = append(mineN, s)
				}
			}
			mu.Lock()
			nbaLat, stLat = append(nbaLat, mineN...), append(stLat, mineS...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	in1, srv1, cli1 := probe()
	ingested := float64(in1-in0) / elapsed.Seconds()
	row := func(name string, ss []sample) {
		if len(ss) == 0 {
			return
		}
		served := make([]time.Duration, len(ss))
		due := make([]time.Duration, len(ss))
		for i, s := range ss {
			served[i], due[i] = s.served, s.due
		}
		slices.Sort(served)
		slices.Sort(due)
		q := func(all []time.Duration, p float64) string {
			return all[min(len(all)-1, int(p*float64(len(all))))].Round(time.Microsecond).String()
		}
		n := float64(len(nbaLat) + len(stLat))
		fmt.Printf("| %s | %d | %d/s | %.0f/s | %s / %s | %s / %s | %s / %s | %.0f/s | %.1f / %.1f µs | %d |\n",
			name, actions, rate, float64(len(ss))/elapsed.Seconds(),
			q(served, 0.5), q(due, 0.5), q(served, 0.99), q(due, 0.99), q(served, 0.999), q(due, 0.999),
			ingested, float64((srv1-srv0).Microseconds())/n, float64((cli1-cli0).Microseconds())/n, failures.Load())
	}
	row("next-best-action", nbaLat)
	row("send-time", stLat)
	return nil
}

func appendNBAPath(b []byte, i int) []byte {
	b = append(b, "/v1/contacts/"...)
	b = appendBenchID(b, i)
	return append(b, "/next-best-action?placement=homepage&n=3&page_category=shoes"...)
}

func appendSendTimePath(b []byte, i int) []byte {
	b = append(b, "/v1/contacts/"...)
	b = appendBenchID(b, i)
	return append(b, "/send-time?channel=email&within=24h"...)
}

// appendBenchID names the fixture's contacts (a quarter anonymous) and,
// every 20th request, someone unknown.
func appendBenchID(b []byte, i int) []byte {
	n := (i * 7919) % 10000
	switch {
	case i%20 == 0:
		return strconv.AppendInt(append(b, "visitor-"...), int64(i), 10)
	case n%4 == 0:
		return strconv.AppendInt(append(b, "anon-"...), int64(n), 10)
	}
	return strconv.AppendInt(b, int64(n), 10)
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverOpts shape the server side of the http benchmark.
type serverOpts struct {
	actions int // in the catalogue
	ingest  int // events per second fed to the engine meanwhile
	// learned serves a propensity MLP of the trainer's default shape
	// (62 → 32 → one logit per action, random weights) in arbitration and
	// logs the feature vector in every decision record.
	learned bool
	floor   bool // a fixed-answer server instead (startFloor)
}

// startInProcess runs broker, engine, bandit job and API, stores the
// fixture contacts, and feeds synthetic traffic at ingest events/s.
func startInProcess(so serverOpts) (string, func() int64, func(), error) {
	actions, ingest := so.actions, so.ingest
	const partitions = 8
	quiet := slog.New(slog.DiscardHandler)
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: partitions})
	if err != nil {
		return "", nil, nil, err
	}
	dir, err := os.MkdirTemp("", "nbabench")
	if err != nil {
		return "", nil, nil, err
	}
	st, err := state.Open(dir, state.Options{Logger: quiet})
	if err != nil {
		return "", nil, nil, err
	}
	policy, contacts, _, err := loadFixture(actions, 10000)
	if err != nil {
		return "", nil, nil, err
	}
	for _, c := range contacts {
		pt, err := st.Partition(stream.PartitionOf(c.Key.Value(), partitions))
		if err != nil {
			return "", nil, nil, err
		}
		bt := pt.NewBatch()
		if err := bt.PutContact(c); err != nil {
			return "", nil, nil, err
		}
		if err := bt.Commit(); err != nil {
			return "", nil, nil, err
		}
	}
	// A store that has run for a while holds its contacts in tables and
	// one full-size memtable. A fresh one grows its memtables from 256 KiB
	// and only flushes once the queued ones add up to half the configured
	// size; until then (seven memtables after the fixture load and a few
	// seconds of traffic here) every point read walks each of them, about
	// 25 µs a read in the CPU profile: that is start-up, not the API.
	if err := st.DB().Flush(); err != nil {
		return "", nil, nil, err
	}
	var pol atomic.Pointer[nba.Policy]
	pol.Store(policy)
	var fit atomic.Pointer[sendtime.Fit]
	fit.Store(sendtime.Uniform())
	eng, err := stream.New(stream.Config{Brokers: []string{b.Addr()}, Partitions: partitions, Store: st, Logger: quiet, NBA: &pol})
	if err != nil {
		return "", nil, nil, err
	}
	job, err := bandit.New(bandit.Config{Store: st, Policy: &pol, Partitions: eng.Assigned, Logger: quiet})
	if err != nil {
		return "", nil, nil, err
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return "", nil, nil, err
	}
	publish := func(topic string, key, target, value []byte, done func(error)) {
		r := &kgo.Record{Topic: topic, Key: key, Value: value}
		if target != nil {
			r.Headers = []kgo.RecordHeader{{Key: stream.HeaderTarget, Value: target}}
		}
		prod.TryProduce(context.Background(), r, func(_ *kgo.Record, err error) { done(err) })
	}
	reg := prometheus.NewRegistry()
	srv, err := api.New(api.Config{Addr: "127.0.0.1:0", Store: st, PartitionOf: eng.PartitionOf, Ready: eng.Ready,
		Logger: quiet, Registerer: reg, Gatherer: reg,
		NBA: api.NBA{Policy: &pol, Publish: publish, Report: job.Report, Fit: &fit, Explore: 0.05,
			Propensity: learnedSource(so.learned, policy.Catalogue()), LogFeatures: so.learned}})
	if err != nil {
		return "", nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{eng.Run, srv.Run, job.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	<-srv.Listening()
	for eng.Ready() != nil {
		time.Sleep(50 * time.Millisecond)
	}
	if ingest > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); feed(ctx, b.Addr(), ingest) }()
	}
	stop := func() {
		cancel()
		wg.Wait()
		prod.Close()
		_ = st.Close()
		b.Close()
		_ = os.RemoveAll(dir)
	}
	return "http://" + srv.Addr(), eng.InputsCommitted, stop, nil
}

// feed produces synthetic traffic at rate events/s until ctx ends.
func feed(ctx context.Context, addr string, rate int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(200_000))
	if err != nil {
		return
	}
	defer cl.Close()
	gen := synth.New(synth.Config{Contacts: 20000, Seed: 7})
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	per := max(1, rate/100)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, r := range gen.Batch(per) {
			cl.TryProduce(ctx, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}, nil)
		}
	}
}

// learnedSource is the propensity source of serverOpts.learned: nil when
// it is off.
func learnedSource(on bool, cat *nba.Catalogue) *propensity.Source {
	if !on {
		return nil
	}
	rng := rand.New(rand.NewPCG(3, 4))
	dense := func(in, out int) propensity.Layer {
		l := propensity.Layer{In: in, Out: out, W: make([]float32, in*out), B: make([]float32, out)}
		for i := range l.W {
			l.W[i] = float32(rng.NormFloat64() / 8)
		}
		return l
	}
	var ids []string
	for _, a := range cat.Actions() {
		ids = append(ids, a.ID)
	}
	mean, inv := make([]float32, features.Len), make([]float32, features.Len)
	for i := range inv {
		inv[i] = 1
	}
	m, err := propensity.NewMLP(features.Version, ids, mean, inv,
		[]propensity.Layer{dense(features.Len, 32), dense(32, len(ids))})
	if err != nil {
		panic(err) // the shapes above are right by construction
	}
	var p atomic.Pointer[propensity.MLP]
	p.Store(m)
	return propensity.NewSource(&p, nil)
}
