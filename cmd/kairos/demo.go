package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/api/auth"
	"github.com/kairos-engine/kairos/bench/synth"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "demo [--data-dir DIR] [--http 127.0.0.1:8080] [--rate EVENTS_PER_S] [--contacts N]", stderr)
	dataDir := fs.String("data-dir", "kairos-demo", "directory for the embedded broker's log and the state; a second run resumes from it")
	httpAddr := fs.String("http", "127.0.0.1:8080", "HTTP API listen address")
	rate := fs.Float64("rate", 500, "synthetic events per second")
	contacts := fs.Int("contacts", 10_000, "size of the synthetic audience")
	brokerListen := fs.String("broker-listen", "127.0.0.1:9092", "address of the embedded Kafka-protocol broker")
	history := fs.Duration("history", 14*24*time.Hour, "simulated history replayed (as fast as --rate allows) before traffic reaches the present")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	modelsDir := fs.String("models", "", "directory of bring-your-own TorchScript models (YAML manifests), served as scores.models")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rate <= 0 || *contacts <= 0 {
		fmt.Fprintln(stderr, "--rate and --contacts must be positive")
		return errUsage
	}
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return err
	}
	run, err := nextDemoRun(*dataDir)
	if err != nil {
		return err
	}
	log := newLogger(stderr, "text", *logLevel)
	traffic := &demoTraffic{
		cfg: synth.Config{
			Contacts: *contacts,
			// Every run is a new audience with ids of its own, so a
			// resumed demo never re-sends an event id the state holds.
			Seed:  uint64(run),
			Start: time.Now().Add(-*history).UTC().Truncate(time.Second),
		},
		rate: *rate,
	}
	s := engineSetup{
		brokerListen: *brokerListen,
		dataDir:      *dataDir,
		httpAddr:     *httpAddr,
		log:          log,
		extra:        traffic.run,
		// The demo's population grows by the second: refit often so that
		// segments and churn figures appear while one watches.
		refresh: 30 * time.Second,
		models:  modelsSetup{dir: *modelsDir},
	}
	// Keys for this session only: printed with the examples, never
	// stored.
	secrets, err := auth.GenerateSession()
	if err != nil {
		return err
	}
	keys := make([]auth.Key, 0, len(secrets))
	for _, sec := range secrets {
		keys = append(keys, sec.Key)
	}
	if s.keys, err = auth.NewKeyring(keys); err != nil {
		return err
	}
	traffic.secrets = secrets
	s.started = func(apiAddr, brokerAddr string) {
		log.Info("kairos demo running", "run", run, "api", "http://"+apiAddr, "broker", brokerAddr, "data", *dataDir)
		go traffic.printExamples(ctx, stdout, apiAddr, brokerAddr)
	}
	return runEngine(ctx, s)
}

// nextDemoRun counts demo starts in the data directory.
func nextDemoRun(dir string) (int, error) {
	path := filepath.Join(dir, "demo-runs")
	n := 0
	if b, err := os.ReadFile(path); err == nil {
		n, _ = strconv.Atoi(string(bytes.TrimSpace(b)))
	}
	n++
	if err := os.WriteFile(path, []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
		return 0, fmt.Errorf("demo run counter: %w", err)
	}
	return n, nil
}

// demoTraffic publishes synthetic shop traffic at a fixed rate. The
// simulated clock starts in the past and runs as fast as the rate allows;
// once it reaches the present it waits for the wall clock, so event times
// never lie in the future.
type demoTraffic struct {
	cfg       synth.Config
	rate      float64
	sent      atomic.Int64
	contactID atomic.Value // a contact id that placed an order
	secrets   []auth.Secret
	email     atomic.Value
}

func (d *demoTraffic) run(ctx context.Context, brokerAddr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	g := synth.New(d.cfg)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = cl.Flush(fctx)
			return nil
		case <-tick.C:
		}
		due := int64(time.Since(start).Seconds()*d.rate) - d.sent.Load()
		for ; due > 0; due-- {
			if g.Now().After(time.Now()) {
				break
			}
			r := g.Next()
			cl.Produce(ctx, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}, nil)
			d.sent.Add(1)
			if r.Topic == synth.TopicOrders && d.contactID.Load() == nil {
				d.contactID.Store(string(r.Key))
				var env struct {
					Email string `json:"email"`
				}
				if json.Unmarshal(r.Value, &env) == nil && env.Email != "" {
					d.email.Store(env.Email)
				}
			}
		}
	}
}

func (d *demoTraffic) printExamples(ctx context.Context, w io.Writer, apiAddr, brokerAddr string) {
	for d.contactID.Load() == nil || d.email.Load() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	// Give the engine a moment to fold the first order.
	select {
	case <-ctx.Done():
		return
	case <-time.After(2 * time.Second):
	}
	base := "http://" + apiAddr
	var admin, read, public string
	for _, sec := range d.secrets {
		switch sec.Key.Scope {
		case auth.ScopeAdmin:
			admin = sec.Token()
		case auth.ScopeRead:
			read = sec.Token()
		case auth.ScopePublic:
			public = sec.Token()
		}
	}
	fmt.Fprintf(w, `
Kairos demo is running.
  API:     %s
  Kafka:   %s (embedded broker; any Kafka client can produce to it)
  Traffic: %.0f events/s of a synthetic shop audience

API keys for this session (generated now, never stored):
  admin:  %s
  read:   %s
  public: %s   (browser key: next-best-action, send-time, outcomes)

Try:
  curl -s -H 'Authorization: Bearer %s' %s/v1/contacts/%s
  curl -s -H 'Authorization: Bearer %s' '%s/v1/contacts?email=%s'
  curl -s %s/metrics | grep kairos_stream_records_total

Ctrl-C stops it cleanly; running it again resumes from the same data directory.
`, base, brokerAddr, d.rate, admin, read, public, read, base, d.contactID.Load(), read, base, d.email.Load(), base)
}
