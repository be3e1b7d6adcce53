package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/api"
	"github.com/kairos-engine/kairos/bench/synth"
	"github.com/kairos-engine/kairos/models/nba"
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
// keep-alive connections. It prints a Markdown row per route.
func runHTTP(url string, rate int, d time.Duration, actions, ingest, conns int) error {
	if rate <= 0 || d <= 0 || conns <= 0 {
		return errors.New("rate, duration and conns must be positive")
	}
	var committed func() int64
	if url == "" {
		var stop func()
		var err error
		url, committed, stop, err = startInProcess(actions, ingest)
		if err != nil {
			return err
		}
		defer stop()
	}
	addr := url
	if len(addr) > 7 && addr[:7] == "http://" {
		addr = addr[7:]
	}
	client := &fasthttp.HostClient{Addr: addr, MaxConns: conns, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}

	// Warm up: connections, pools, caches.
	for i := range 2000 {
		if err := get(client, addr, nbaPath(i)); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}

	total := int(float64(rate) * d.Seconds())
	type job struct {
		i   int
		due time.Duration
	}
	jobs := make(chan job, 65536)
	type sample struct{ served, due time.Duration }
	var mu sync.Mutex
	var nbaLat, stLat []sample
	var failures atomic.Int64
	var wg sync.WaitGroup
	start := time.Now().Add(10 * time.Millisecond)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mineN, mineS []sample
			for j := range jobs {
				sent := time.Since(start)
				path := nbaPath(j.i)
				if j.i%10 == 9 {
					path = sendTimePath(j.i)
				}
				if err := get(client, addr, path); err != nil {
					failures.Add(1)
					continue
				}
				now := time.Since(start)
				s := sample{served: now - sent, due: now - j.due}
				if j.i%10 == 9 {
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
	var in0 int64
	if committed != nil {
		in0 = committed()
	}
	cpu0 := cpuNow()
	interval := time.Second / time.Duration(rate)
	for sent := 0; sent < total; {
		now := time.Since(start)
		for sent < total && time.Duration(sent)*interval <= now {
			jobs <- job{i: sent, due: time.Duration(sent) * interval}
			sent++
		}
		time.Sleep(200 * time.Microsecond)
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuNow() - cpu0
	ingested := 0.0
	if committed != nil {
		ingested = float64(committed()-in0) / elapsed.Seconds()
	}
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
		fmt.Printf("| %s | %d | %d/s | %.0f/s | %s / %s | %s / %s | %s / %s | %.0f/s | %.1f µs | %d |\n",
			name, actions, rate, float64(len(ss))/elapsed.Seconds(),
			q(served, 0.5), q(due, 0.5), q(served, 0.99), q(due, 0.99), q(served, 0.999), q(due, 0.999),
			ingested, float64(cpu.Microseconds())/float64(len(nbaLat)+len(stLat)), failures.Load())
	}
	row("next-best-action", nbaLat)
	row("send-time", stLat)
	return nil
}

func nbaPath(i int) string {
	return "/v1/contacts/" + benchID(i) + "/next-best-action?placement=homepage&n=3&page_category=shoes"
}

func sendTimePath(i int) string {
	return "/v1/contacts/" + benchID(i) + "/send-time?channel=email&within=24h"
}

// benchID names the fixture's contacts (a quarter anonymous) and, every
// 20th request, someone unknown.
func benchID(i int) string {
	n := (i * 7919) % 10000
	switch {
	case i%20 == 0:
		return "visitor-" + strconv.Itoa(i)
	case n%4 == 0:
		return "anon-" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func get(c *fasthttp.HostClient, host, path string) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetHost(host)
	req.SetRequestURI(path)
	if err := c.Do(req, resp); err != nil {
		return err
	}
	if resp.StatusCode() != 200 {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode(), resp.Body())
	}
	return nil
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startInProcess runs broker, engine, bandit job and API, stores the
// fixture contacts, and feeds synthetic traffic at ingest events/s.
func startInProcess(actions, ingest int) (string, func() int64, func(), error) {
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
	srv, err := api.New(api.Config{Addr: "127.0.0.1:0", Store: st, PartitionOf: eng.PartitionOf, Ready: eng.Ready,
		Logger: quiet, Registerer: prometheus.NewRegistry(),
		NBA: api.NBA{Policy: &pol, Publish: publish, Report: job.Report, Fit: &fit, Explore: 0.05}})
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
