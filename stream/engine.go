package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/models/sendtime"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
	"github.com/kairos-engine/kairos/stream/trigger"
)

// Topics names the topics the engine reads and writes.
type Topics struct {
	Clickstream string // default "kairos.clickstream"
	Orders      string // default "kairos.orders"
	Email       string // default "kairos.email"
	// Rekey carries events and identity commands to the partition that
	// owns their contact. Internal; co-partitioned with the inputs.
	Rekey      string // default "kairos.rekey"
	DeadLetter string // default "kairos.deadletter"
	// Decisions carries the API's next-best-action decision records
	// (nba.DecisionsTopic); an input, co-partitioned with the others.
	Decisions string // default "kairos.decisions"
	// Triggers names the trigger topics (kairos.triggers.<channel>);
	// empty names take trigger.DefaultTopics.
	Triggers trigger.Topics
}

// DefaultTopics returns the default topic names.
func DefaultTopics() Topics {
	return Topics{
		Clickstream: "kairos.clickstream",
		Orders:      "kairos.orders",
		Email:       "kairos.email",
		Rekey:       "kairos.rekey",
		DeadLetter:  "kairos.deadletter",
		Decisions:   nba.DecisionsTopic,
		Triggers:    trigger.DefaultTopics(),
	}
}

func (t Topics) inputs() []string {
	return []string{t.Clickstream, t.Orders, t.Email, t.Rekey, t.Decisions}
}

func (t *Topics) withDefaults() {
	d := DefaultTopics()
	for _, f := range []struct {
		v *string
		d string
	}{
		{&t.Clickstream, d.Clickstream}, {&t.Orders, d.Orders}, {&t.Email, d.Email},
		{&t.Rekey, d.Rekey}, {&t.DeadLetter, d.DeadLetter}, {&t.Decisions, d.Decisions},
	} {
		if *f.v == "" {
			*f.v = f.d
		}
	}
	t.Triggers = TriggerTopics(t.Triggers)
}

// Config configures the Engine.
type Config struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// Group is the consumer group. Default "kairos".
	Group string
	// InstanceID makes this engine a static member of the group (KIP-345):
	// a restarted instance with the same id takes its partitions back at
	// once instead of waiting for the group to expire the crashed member,
	// which is what an instance with its own state volume wants. Empty
	// means a dynamic member.
	InstanceID string
	// SessionTimeout is how long the group waits for a silent member
	// before reassigning its partitions. Default 45s (Kafka's default).
	SessionTimeout time.Duration
	// Topics names the topics; empty names take their defaults.
	Topics Topics
	// Partitions is the partition count used when the engine creates
	// missing topics. Default 8. Existing topics keep theirs; all inputs
	// must have the same count.
	Partitions int32
	// ReplicationFactor for created topics; -1 (default) lets the broker
	// decide.
	ReplicationFactor int16
	// ClientOpts are extra franz-go options (TLS, SASL) for every client.
	ClientOpts []kgo.Opt
	// Store holds the state. Required.
	Store *state.Store
	// Decoder configures event validation.
	Decoder event.Config
	// MaxPollRecords bounds one poll, and so one batch. Default 10,000.
	MaxPollRecords int
	// CacheContacts bounds the decoded contacts kept per partition.
	// Default 20,000.
	CacheContacts int
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer receives the engine's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Models, when set, scores every folded event (models/scoring); its
	// owner swaps the snapshot when a plan is reloaded or a fit lands.
	Models *atomic.Pointer[scoring.Models]
	// Retention limits how long per-contact history is kept; the zero
	// value keeps it without limit.
	Retention Retention
	// Triggers wires the trigger engine in (triggers.go); its zero value
	// has triggers off.
	Triggers Triggers

	// Next-best-action and send time (stream/decisions.go, stream/sendtime.go).
	NBA        *atomic.Pointer[nba.Policy] // decisions and outcomes are learned with its catalogue; nil: not learned
	OpenFilter *sendtime.Filter            // machine opens skip the send-time histogram; nil: every open counts
	// ClientOptsFor adds options to one of the engine's Kafka clients by
	// role ("consumer", "producer"): per-client hooks such as franz-go's
	// Prometheus plugin, which serves exactly one client. nil: none.
	ClientOptsFor func(role string) []kgo.Opt
}

// clientOpts returns the shared client options plus the role's own.
func (e *Engine) clientOpts(role string) []kgo.Opt {
	opts := e.cfg.ClientOpts
	if e.cfg.ClientOptsFor != nil {
		opts = append(append([]kgo.Opt(nil), opts...), e.cfg.ClientOptsFor(role)...)
	}
	return opts
}

// Retention configures data retention (GDPR storage limitation).
type Retention struct {
	// EventHistory is the maximum age of the recent-events ring: entries
	// older than this before the contact's latest event are dropped on
	// every fold, and the periodic sweep drops those older than this
	// before now. 0: no limit but the ring's size.
	EventHistory time.Duration
	// InactiveContacts removes a contact entirely (with its identity
	// links, like an erasure but without a tombstone) when its latest
	// event is older than this. 0: off, the default.
	InactiveContacts time.Duration
	// SweepEvery is how often each partition is swept; 0 means an hour.
	SweepEvery time.Duration
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("stream: no brokers configured")
	}
	if c.Store == nil {
		return errors.New("stream: no state store")
	}
	if c.Group == "" {
		c.Group = "kairos"
	}
	c.Topics.withDefaults()
	if c.Partitions <= 0 {
		c.Partitions = 8
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 45 * time.Second
	}
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 10_000
	}
	if c.CacheContacts <= 0 {
		c.CacheContacts = 20_000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Triggers.withDefaults()
	return nil
}

// Engine consumes the input topics as a member of a consumer group and
// folds every event into the state of the partition it belongs to.
type Engine struct {
	cfg     Config
	store   *state.Store
	log     *slog.Logger
	metrics *metrics
	relay   *relay
	trig    engineTriggers // triggers.go, timers.go

	nbaMetrics *nbaMetrics // stream/decisions.go

	partitions atomic.Int32
	streams    map[string]state.Stream
	inputs     atomic.Int64 // input records committed, for benchmarks and tests

	mu       sync.Mutex
	workers  map[int32]*worker
	consumer *kgo.Client
	stopPoll context.CancelFunc
	failMu   sync.Mutex
	failErr  error
	ready    atomic.Bool
	readyMu  sync.Mutex
	why      string
}

// New builds an engine; Run starts it.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:     cfg,
		store:   cfg.Store,
		log:     cfg.Logger.With("component", "stream"),
		metrics: newMetrics(cfg.Registerer, cfg.Topics),
		trig:    engineTriggers{m: newTriggerMetrics(cfg.Registerer)},
		workers: make(map[int32]*worker),
		streams: map[string]state.Stream{
			cfg.Topics.Clickstream: state.StreamClickstream,
			cfg.Topics.Orders:      state.StreamOrders,
			cfg.Topics.Email:       state.StreamEmail,
		},
		why: "starting",
	}
	e.nbaMetrics = newNBAMetrics(cfg.Registerer)       // stream/decisions.go
	registerOpenFilter(cfg.Registerer, cfg.OpenFilter) // stream/sendtime.go
	return e, nil
}

// InputsCommitted returns how many input-topic records (not counting the
// internal re-key topic) this engine has folded and committed since Run.
func (e *Engine) InputsCommitted() int64 { return e.inputs.Load() }

// Assigned returns the partitions this instance owns now, in no order.
func (e *Engine) Assigned() []int32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	ps := make([]int32, 0, len(e.workers))
	for p := range e.workers {
		ps = append(ps, p)
	}
	return ps
}

// Store returns the engine's state store.
func (e *Engine) Store() *state.Store { return e.store }

// Partitions returns the number of input partitions, 0 before Run has
// checked the topics.
func (e *Engine) Partitions() int32 { return e.partitions.Load() }

// PartitionOf returns the partition owning a contact id value.
func (e *Engine) PartitionOf(id string) int32 { return PartitionOf(id, e.partitions.Load()) }

func (e *Engine) partitionOf(id string) int32 { return PartitionOf(id, e.partitions.Load()) }

func (e *Engine) streamOf(topic string) state.Stream { return e.streams[topic] }

// Ready returns nil when every assigned partition has loaded its state and
// is consuming, or an error saying what the engine waits for.
func (e *Engine) Ready() error {
	if e.ready.Load() {
		return nil
	}
	e.readyMu.Lock()
	defer e.readyMu.Unlock()
	return errors.New(e.why)
}

func (e *Engine) setReady(ok bool, why string) {
	e.readyMu.Lock()
	e.why = why
	e.readyMu.Unlock()
	e.ready.Store(ok)
}

// EnsureTopics creates missing topics and checks that all inputs have the
// same partition count, which the engine needs: partition p of every input
// feeds the same state.
func EnsureTopics(ctx context.Context, cl *kgo.Client, t Topics, partitions int32, rf int16, extra ...string) (int32, error) {
	adm := kadm.NewClient(cl)
	all := append(append(append(t.inputs(), t.DeadLetter), triggerTopicList(t.Triggers)...), extra...)
	details, err := adm.ListTopics(ctx, all...)
	if err != nil {
		return 0, fmt.Errorf("list topics: %w", err)
	}
	n := int32(-1)
	for _, name := range t.inputs() {
		if d, ok := details[name]; ok && d.Err == nil {
			if n >= 0 && int32(len(d.Partitions)) != n {
				return 0, fmt.Errorf("input topics are not co-partitioned: %s has %d partitions, others %d; "+
					"every input topic (and %s) needs the same count", name, len(d.Partitions), n, t.Rekey)
			}
			n = int32(len(d.Partitions))
		}
	}
	if n < 0 {
		n = partitions
	}
	var missing []string
	for _, name := range all {
		if d, ok := details[name]; !ok || d.Err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		resp, err := adm.CreateTopics(ctx, n, rf, nil, missing...)
		if err != nil {
			return 0, fmt.Errorf("create topics %v: %w", missing, err)
		}
		for _, r := range resp.Sorted() {
			if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
				return 0, fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
			}
		}
	}
	return n, nil
}

// Run consumes until ctx is cancelled, then shuts down in order: stop
// polling, let the partition in flight finish its batch, flush the relay,
// commit the group offsets, leave the group. The store stays open; the
// caller closes it after Run returns.
func (e *Engine) Run(ctx context.Context) error {
	setup, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.cfg.Brokers...)}, e.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("stream: client: %w", err)
	}
	n, err := EnsureTopics(ctx, setup, e.cfg.Topics, e.cfg.Partitions, e.cfg.ReplicationFactor)
	setup.Close()
	if err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	if err := e.store.CheckPartitions(n); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	e.partitions.Store(n)

	producer, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(e.cfg.Brokers...),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}, e.clientOpts("producer")...)...)
	if err != nil {
		return fmt.Errorf("stream: producer: %w", err)
	}
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	e.relay = newRelay(producer, e.store, e.log, e.metrics, e.fail)
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); e.relay.run(relayCtx) }()
	defer func() {
		stopRelay()
		<-relayDone
		producer.Close()
	}()

	copts := []kgo.Opt{
		kgo.SeedBrokers(e.cfg.Brokers...),
		kgo.ConsumerGroup(e.cfg.Group),
		kgo.SessionTimeout(e.cfg.SessionTimeout),
		kgo.ConsumeTopics(e.cfg.Topics.inputs()...),
		// The range balancer gives one member partition p of every topic:
		// the co-partitioning the per-partition state relies on.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.AutoCommitMarks(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Moderate per-partition fetch sizes spread each poll over many
		// partitions, so that all workers have work at once.
		kgo.FetchMaxBytes(32 << 20),
		kgo.FetchMaxPartitionBytes(1 << 20),
		kgo.AdjustFetchOffsetsFn(e.onAssigned),
		kgo.OnPartitionsRevoked(e.onRevoked),
		kgo.OnPartitionsLost(e.onLost),
	}
	if e.cfg.InstanceID != "" {
		copts = append(copts, kgo.InstanceID(e.cfg.InstanceID))
	}
	consumer, err := kgo.NewClient(append(copts, e.clientOpts("consumer")...)...)
	if err != nil {
		return fmt.Errorf("stream: consumer: %w", err)
	}
	e.setReady(false, "waiting for partition assignment")

	e.consumer = consumer
	pollCtx, stopPoll := context.WithCancel(ctx)
	e.stopPoll = stopPoll
	runErr := e.poll(pollCtx, consumer)
	stopPoll()

	e.setReady(false, "shutting down")
	e.log.Info("stopped polling; draining partition workers")
	e.mu.Lock()
	ws := make([]*worker, 0, len(e.workers))
	for _, w := range e.workers {
		ws = append(ws, w)
	}
	clear(e.workers)
	e.mu.Unlock()
	for _, w := range ws {
		w.stop(false)
	}
	runErr = errors.Join(runErr, e.failure())
	e.log.Info("flushing relay")
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := e.relay.flush(flushCtx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("stream: flush relay: %w", err))
	}
	if runErr == nil {
		e.log.Info("committing group offsets")
		if err := consumer.CommitMarkedOffsets(flushCtx); err != nil {
			e.log.Warn("group offset commit failed; the stored offsets stay authoritative", "err", err)
		}
	}
	consumer.Close()
	e.log.Info("consumer closed")
	return runErr
}

// fail records the first fatal worker error and stops polling: a partition
// whose batch could not be written must not go on, and an instance with a
// broken store should restart rather than serve stale state.
func (e *Engine) fail(err error) {
	e.failMu.Lock()
	if e.failErr == nil {
		e.failErr = err
	}
	e.failMu.Unlock()
	if e.stopPoll != nil {
		e.stopPoll()
	}
}

func (e *Engine) failure() error {
	e.failMu.Lock()
	defer e.failMu.Unlock()
	return e.failErr
}

// poll fetches records and hands each partition's share to that
// partition's worker without waiting for it: fetching, and the partitions'
// folding, overlap. A worker's queue is short, so a slow partition holds
// the poll loop back instead of buffering without bound.
func (e *Engine) poll(ctx context.Context, cl *kgo.Client) error {
	for {
		fetches := e.pollRecords(ctx, cl) // returns after a tick when idle (timers.go)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				e.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		// Workers only change in rebalance callbacks, which cannot run
		// between PollRecords and AllowRebalance (BlockRebalanceOnPoll).
		e.mu.Lock()
		ws := e.workers
		e.mu.Unlock()
		fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
			e.noteEnds(ws, &ftp) // what waits, for the trigger watermark (timers.go)
			if len(ftp.Records) == 0 {
				return
			}
			e.metrics.freshness.setLag(ftp.Topic, ftp.Partition, ftp.HighWatermark-ftp.Records[len(ftp.Records)-1].Offset-1)
			if w := ws[ftp.Partition]; w != nil {
				select {
				case w.in <- ftp.Records:
				case <-ctx.Done():
				}
			}
		})
		e.tick(ws) // timers of idle partitions (timers.go)
		cl.AllowRebalance()
	}
}

// onAssigned opens a worker per assigned partition and replaces the group's
// committed offsets with the ones stored in Pebble beside the state: those
// are the offsets the state corresponds to. A partition with no stored
// offset has no state here, so it is rebuilt from the earliest retained
// record.
func (e *Engine) onAssigned(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	assignStart := time.Now()
	parts := make(map[int32]bool)
	for _, ps := range offsets {
		for p := range ps {
			parts[p] = true
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	workers := maps.Clone(e.workers)
	defer func() { e.workers = workers }()
	out := make(map[string]map[int32]kgo.Offset, len(offsets))
	for p := range parts {
		if old := workers[p]; old != nil {
			old.stop(false)
		}
		w, err := newWorker(e, p)
		if err != nil {
			e.setReady(false, fmt.Sprintf("partition %d: %v", p, err))
			return nil, err
		}
		stored, err := w.pt.Offsets()
		if err != nil {
			e.setReady(false, fmt.Sprintf("partition %d: %v", p, err))
			return nil, err
		}
		for topic, ps := range offsets {
			if _, ok := ps[p]; !ok {
				continue
			}
			if out[topic] == nil {
				out[topic] = make(map[int32]kgo.Offset)
			}
			if next, ok := stored[topic]; ok {
				out[topic][p] = kgo.NewOffset().At(next).WithEpoch(-1)
			} else {
				out[topic][p] = kgo.NewOffset().AtStart()
			}
		}
		pending, err := w.pt.Outbox()
		if err != nil {
			return nil, err
		}
		if len(pending) > 0 {
			e.log.Info("republishing unacknowledged outbox records", "partition", p, "records", len(pending))
			e.relay.enqueue(p, pending)
		}
		w.start()
		workers[p] = w
	}
	e.metrics.assigned.Set(float64(len(workers)))
	e.metrics.rebalances.Inc()
	e.metrics.assignSeconds.Observe(time.Since(assignStart).Seconds())
	e.log.Info("partitions assigned", "partitions", len(parts))
	e.setReady(true, "")
	return out, nil
}

func (e *Engine) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	// Revoked: finish what was handed to the workers, then commit. The
	// state is already in Pebble; the group commit keeps lag visible to
	// Kafka tooling.
	e.dropWorkers(revoked, false)
	// Internal records of a partition must reach their targets in source
	// order; before the new owner produces more of them, deliver ours.
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.relay.flush(fctx); err != nil {
		e.log.Warn("relay flush on revoke", "err", err)
	}
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		e.log.Warn("group offset commit on revoke failed", "err", err)
	}
}

func (e *Engine) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	// Lost: another member may already own the partitions; drop queued
	// work and commit nothing.
	e.dropWorkers(lost, true)
}

func (e *Engine) dropWorkers(m map[string][]int32, lost bool) {
	e.mu.Lock()
	var stopping []*worker
	ws := maps.Clone(e.workers)
	for _, ps := range m {
		for _, p := range ps {
			if w := ws[p]; w != nil {
				stopping = append(stopping, w)
				delete(ws, p)
			}
		}
	}
	// The poll loop reads the map without the lock between polls, so it
	// is replaced, never changed in place.
	e.workers = ws
	n := len(ws)
	e.mu.Unlock()
	for _, w := range stopping {
		w.stop(lost)
		// A partition that moved is another instance's to report.
		e.metrics.freshness.lag.DeletePartialMatch(prometheus.Labels{"partition": strconv.Itoa(int(w.p))})
	}
	e.metrics.assigned.Set(float64(n))
	if n == 0 {
		e.setReady(false, "waiting for partition assignment")
	}
}
