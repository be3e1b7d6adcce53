package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/kairos-engine/kairos/api"
	"github.com/kairos-engine/kairos/api/auth"
	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/broker"
	"github.com/kairos-engine/kairos/stream/event"
	"github.com/kairos-engine/kairos/stream/population"
)

// engineSetup is everything runEngine needs, gathered from flags and the
// configuration file.
type engineSetup struct {
	brokers      []string
	brokerListen string
	group        string
	instanceID   string
	dataDir      string
	httpAddr     string
	topics       stream.Topics
	partitions   int32
	replication  int16
	clientOpts   []kgo.Opt
	sync         bool
	cacheMB      int
	hotContacts  int
	decoder      event.Config
	log          *slog.Logger
	// leadPlan scores leads; nil means the shipped default plan.
	leadPlan *lead.Plan
	scoring  scoring.Config
	// refresh is the population fit interval, fitTimeout bounds one fit;
	// 0 means the defaults.
	refresh, fitTimeout time.Duration
	// keys are the API keys; nil loads them from keysFile and the
	// KAIROS_*_KEYS environment, and generates an admin key when there
	// are none (printed once on stdout, only its hash kept).
	keys      *auth.Keyring
	keysFile  string
	stdout    io.Writer
	retention stream.Retention
	// started is called once the broker and API listen (the demo prints
	// its instructions there).
	started func(apiAddr, brokerAddr string)
	// extra runs beside the engine (the demo's traffic generator).
	extra func(ctx context.Context, brokerAddr string) error
	nba   nbaFileConfig // next-best-action and send time (nba.go)
	// triggers configures the trigger engine; the zero value runs the
	// shipped default rules (triggers.go).
	triggers triggerSetup
	// models: bring-your-own models and propensity training (models.go).
	models modelsSetup
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [--brokers HOST:PORT[,...]] [--group kairos] [--data-dir DIR] [--http ADDR] [--config FILE]", stderr)
	brokers := fs.String("brokers", "", "comma-separated Kafka seed brokers; empty runs the embedded broker")
	brokerListen := fs.String("broker-listen", "127.0.0.1:9092", "address of the embedded broker when --brokers is empty")
	group := fs.String("group", "", "consumer group (default kairos)")
	instanceID := fs.String("instance-id", "", "static group member id; default: one generated once and kept in the data directory")
	dataDir := fs.String("data-dir", "", "directory for state (and the embedded broker's log) (default ./kairos-data)")
	httpAddr := fs.String("http", "", "HTTP API listen address (default 127.0.0.1:8080)")
	configPath := fs.String("config", "", "YAML configuration file")
	partitions := fs.Int("partitions", 0, "partitions per topic when the engine creates missing topics (default 8)")
	syncWrites := fs.Bool("sync", false, "fsync every state batch (survives power loss, not only process crashes)")
	tlsOn := fs.Bool("tls", false, "connect to the brokers with TLS")
	tlsCA := fs.String("tls-ca", "", "PEM file of the CA that signed the brokers' certificates")
	tlsCert := fs.String("tls-cert", "", "PEM client certificate for mutual TLS")
	tlsKey := fs.String("tls-key", "", "PEM client key for mutual TLS")
	tlsSkip := fs.Bool("tls-insecure-skip-verify", false, "do not verify broker certificates (testing only)")
	saslMech := fs.String("sasl-mechanism", "", "SASL mechanism: plain, scram-sha-256 or scram-sha-512")
	saslUser := fs.String("sasl-user", "", "SASL user name")
	saslPass := fs.String("sasl-password", "", "SASL password (or set KAIROS_SASL_PASSWORD)")
	logFormat := fs.String("log-format", "", "log format: json or text (default json)")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error (default info)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fc := &fileConfig{}
	var err error
	if *configPath != "" {
		if fc, err = loadConfig(*configPath); err != nil {
			return err
		}
	}
	set := func(flagName string) bool {
		found := false
		fs.Visit(func(f *flag.Flag) { found = found || f.Name == flagName })
		return found
	}
	s := engineSetup{
		brokerListen: *brokerListen,
		group:        first(*group, fc.Kafka.Group),
		instanceID:   first(*instanceID, fc.Kafka.InstanceID),
		dataDir:      first(*dataDir, fc.State.DataDir, "kairos-data"),
		httpAddr:     first(*httpAddr, fc.HTTP.Addr, "127.0.0.1:8080"),
		partitions:   fc.Kafka.Partitions,
		replication:  fc.Kafka.ReplicationFactor,
		sync:         *syncWrites || fc.State.Sync,
		cacheMB:      fc.State.CacheMB,
		hotContacts:  fc.State.HotContacts,
		decoder:      event.Config{MaxSize: fc.Events.MaxSize, MaxFuture: time.Duration(fc.Events.MaxFuture)},
		log:          newLogger(stderr, first(*logFormat, fc.Log.Format, "json"), first(*logLevel, fc.Log.Level, "info")),
	}
	if *partitions > 0 {
		s.partitions = int32(*partitions)
	}
	if fc.Scores.LeadPlan != "" {
		if s.leadPlan, err = lead.LoadPlan(fc.Scores.LeadPlan); err != nil {
			return err
		}
	}
	s.scoring = fc.scoringConfig()
	if s.triggers, err = fc.triggerSetup(); err != nil { // triggers.go
		return err
	}
	s.refresh, s.fitTimeout = time.Duration(fc.Scores.Refresh), time.Duration(fc.Scores.FitTimeout)
	s.keysFile, s.stdout = fc.HTTP.KeysFile, stdout
	s.models = fc.modelsSetup() // models.go
	s.retention = stream.Retention{EventHistory: time.Duration(fc.Retention.EventHistory), InactiveContacts: time.Duration(fc.Retention.InactiveContacts)}
	s.nba = fc.NBA
	t := fc.Kafka.Topics
	s.topics = stream.Topics{Clickstream: t.Clickstream, Orders: t.Orders, Email: t.Email, Rekey: t.Rekey, DeadLetter: t.DeadLetter, Decisions: t.Decisions,
		Triggers: fc.triggerTopics()}
	if *brokers != "" {
		s.brokers = strings.Split(*brokers, ",")
	} else if !set("broker-listen") {
		s.brokers = fc.Kafka.Brokers
	}
	tc := fc.Kafka.TLS
	opts, err := clientSecurity(*tlsOn || tc.Enabled, first(*tlsCA, tc.CAFile), first(*tlsCert, tc.CertFile), first(*tlsKey, tc.KeyFile), *tlsSkip || tc.InsecureSkipVerify,
		first(*saslMech, fc.Kafka.SASL.Mechanism), first(*saslUser, fc.Kafka.SASL.Username), first(*saslPass, os.Getenv("KAIROS_SASL_PASSWORD"), fc.Kafka.SASL.Password))
	if err != nil {
		return err
	}
	s.clientOpts = opts
	s.started = func(apiAddr, brokerAddr string) {
		s.log.Info("kairos serving", "api", "http://"+apiAddr, "brokers", brokerAddr, "version", version)
	}
	return runEngine(ctx, s)
}

// first returns the first non-empty string.
func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// clientSecurity turns the TLS and SASL settings into franz-go options.
func clientSecurity(tlsOn bool, caFile, certFile, keyFile string, skipVerify bool, mech, user, pass string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if tlsOn || caFile != "" || certFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skipVerify} //nolint:gosec // opt-in flag for test clusters
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return nil, fmt.Errorf("tls ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls ca %s: no PEM certificate in it", caFile)
			}
			tc.RootCAs = pool
		}
		if certFile != "" || keyFile != "" {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("tls client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch strings.ToLower(mech) {
	case "":
	case "plain":
		opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
	case "scram-sha-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
	case "scram-sha-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("--sasl-mechanism %q: use plain, scram-sha-256 or scram-sha-512", mech)
	}
	if mech != "" && user == "" {
		return nil, errors.New("--sasl-user is required with --sasl-mechanism")
	}
	return opts, nil
}

// runEngine composes broker (when embedded), store, engine and API, runs
// them until ctx ends or one fails, and shuts down in order: the API and
// engine stop (not ready, stop polling, finish the batch in flight, flush
// the relay, commit), then the store closes, then the embedded broker.
func runEngine(ctx context.Context, s engineSetup) (err error) {
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	var b *broker.Broker
	if len(s.brokers) == 0 {
		b, err = broker.Start(broker.Config{Listen: s.brokerListen, DataDir: filepath.Join(s.dataDir, "broker"), Partitions: int(s.partitions)})
		if err != nil {
			return err
		}
		defer func() {
			b.Close()
			s.log.Info("embedded broker closed")
		}()
		s.brokers = []string{b.Addr()}
	}
	if s.instanceID == "" {
		if s.instanceID, err = stableInstanceID(s.dataDir); err != nil {
			return err
		}
	}
	store, err := state.Open(filepath.Join(s.dataDir, "state"), state.Options{Sync: s.sync, CacheBytes: int64(s.cacheMB) << 20, Logger: s.log})
	if err != nil {
		return err
	}
	defer func() {
		err = errors.Join(err, store.Close())
		s.log.Info("state closed")
	}()

	if s.keys == nil {
		if s.keys, err = serveKeys(s); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), state.NewPebbleCollector(store))
	if s.leadPlan == nil {
		if s.leadPlan, err = lead.Default(); err != nil {
			return fmt.Errorf("shipped lead plan: %w", err)
		}
	}
	initial, err := scoring.New(s.leadPlan, s.scoring, scoring.Population{})
	if err != nil {
		return err
	}
	models := new(atomic.Pointer[scoring.Models])
	models.Store(initial)
	learn, err := newLearning(s.nba, &s) // nba.go
	if err != nil {
		return err
	}
	defer learn.close()
	streamTriggers, apiTriggers, err := buildTriggers(s.triggers, s.topics.Triggers, reg) // triggers.go
	if err != nil {
		return err
	}
	if streamTriggers.Engine != nil {
		// Email triggers carry send_at from the send-time model.
		streamTriggers.Engine.Load().SetSendTime(learn.triggerSendTime)
	}
	eng, err := stream.New(stream.Config{
		NBA:               learn.policy,
		OpenFilter:        learn.filter,
		Brokers:           s.brokers,
		Group:             s.group,
		InstanceID:        s.instanceID,
		Topics:            s.topics,
		Partitions:        s.partitions,
		ReplicationFactor: s.replication,
		ClientOpts:        s.clientOpts,
		Store:             store,
		Decoder:           s.decoder,
		CacheContacts:     s.hotContacts,
		Logger:            s.log,
		Registerer:        reg,
		Models:            models,
		Retention:         s.retention,
		// franz-go's client metrics, one plugin per client: a plugin
		// registers its collectors for the one client it serves.
		ClientOptsFor: func(role string) []kgo.Opt {
			return []kgo.Opt{kgo.WithHooks(kprom.NewMetrics("kairos", kprom.Subsystem("kafka_"+role), kprom.Registerer(reg)))}
		},
		Triggers: streamTriggers,
	})
	if err != nil {
		return err
	}
	pop, err := population.New(population.Config{
		Store:      store,
		Models:     models,
		Partitions: eng.Assigned,
		Total:      eng.Partitions,
		Interval:   s.refresh,
		Fit:        churn.FitOptions{MaxDuration: s.fitTimeout},
		Logger:     s.log,
		Registerer: reg,
	})
	if err != nil {
		return err
	}
	if err := learn.services(store, eng, reg); err != nil { // nba.go
		return err
	}
	learned, err := openLearned(s, reg) // models.go
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, learned.close()) }()
	nbaAPI := learn.apiConfig()
	if learn.useLearned() {
		nbaAPI.Propensity = learned.propensitySource()
	}
	srv, err := api.New(api.Config{
		NBA:         nbaAPI,
		Addr:        s.httpAddr,
		Store:       store,
		PartitionOf: eng.PartitionOf,
		Ready:       eng.Ready,
		Gatherer:    reg,
		Registerer:  reg,
		Logger:      s.log,
		Models:      models,
		Population:  pop,
		Erase:       eng.RequestErase,
		Keys:        s.keys,
		Triggers:    apiTriggers,
		Learned:     learned.apiModels(),
		Reload:      learned.reloadFunc(),
	})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	launch := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
			}
			// Whatever stops first, everything stops.
			cancel()
		}()
	}
	launch("engine", eng.Run)
	launch("api", srv.Run)
	launch("population", pop.Run)
	launch("bandit", learn.bandit.Run)   // nba.go
	launch("sendprior", learn.prior.Run) // nba.go
	launch("models", learned.run)
	select {
	case <-srv.Listening():
		if s.started != nil {
			s.started(srv.Addr(), strings.Join(s.brokers, ","))
		}
	case <-ctx.Done():
	}
	if s.extra != nil {
		launch("traffic", func(ctx context.Context) error { return s.extra(ctx, s.brokers[0]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// serveKeys loads the API keys of `kairos serve`: the keys file and the
// environment, or, when neither names a key, the admin key generated on
// the first start (its token printed once; only its hash is kept).
func serveKeys(s engineSetup) (*auth.Keyring, error) {
	ring, err := auth.LoadKeyring(s.keysFile, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if ring.Len() > 0 {
		return ring, nil
	}
	key, token, err := auth.LoadOrCreateAdminKey(s.dataDir)
	if err != nil {
		return nil, err
	}
	if token != "" && s.stdout != nil {
		fmt.Fprintf(s.stdout, "No API keys configured: generated an admin key. It is shown once; only its hash is kept in %s.\n  Authorization: Bearer %s\n",
			filepath.Join(s.dataDir, auth.AdminKeyFile), token)
	}
	return auth.NewKeyring([]auth.Key{key})
}

// stableInstanceID returns the static group member id kept in the data
// directory, creating it on first start. The id belongs to the state: an
// instance restarted on the same data directory reclaims its partitions
// at once.
func stableInstanceID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "instance-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	host, _ := os.Hostname()
	id := "kairos-" + host + "-" + hex.EncodeToString(rnd[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	return id, nil
}
