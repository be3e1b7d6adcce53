package bandit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/refresh"
)

// DefaultInterval is how often the policy is rebuilt by default: outcomes
// take effect within seconds, and a rebuild costs about 10 µs per action
// and context group.
const DefaultInterval = 5 * time.Second

// Config configures a Service.
type Config struct {
	// Store holds the partitions. Required.
	Store *state.Store
	// Policy is swapped after every refresh; its catalogue is the one the
	// new policy keeps (a reloaded catalogue is picked up by storing a
	// policy built from it). Required, and must hold a policy.
	Policy *atomic.Pointer[nba.Policy]
	// Partitions lists the partitions this instance owns now. Required.
	Partitions func() []int32
	// Interval between refreshes; 0 means DefaultInterval.
	Interval time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Service merges the partitions' statistics and rebuilds the policy. It is
// safe for concurrent use.
type Service struct {
	cfg     Config
	log     *slog.Logger
	stats   atomic.Pointer[nba.Stats] // the last merge; never modified after the swap
	metrics *refresh.Metrics
}

// New returns a service; call Run to refresh on a schedule.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("bandit: Config.Store is required")
	case cfg.Policy == nil || cfg.Policy.Load() == nil:
		return nil, errors.New("bandit: Config.Policy must hold a policy (nba.NewPolicy(catalogue, nil))")
	case cfg.Partitions == nil:
		return nil, errors.New("bandit: Config.Partitions is required")
	}
	var err error
	if cfg.Interval, err = refresh.Interval("bandit", cfg.Interval, DefaultInterval); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{
		cfg: cfg,
		log: cfg.Logger.With("component", "bandit"),
		metrics: refresh.NewMetrics(prometheus.CounterOpts{
			Name: "kairos_bandit_refreshes_total",
			Help: "Rebuilds of the next-best-action policy from the partitions' merged statistics, by result (ok, failed).",
		}, prometheus.HistogramOpts{
			Name:    "kairos_bandit_refresh_seconds",
			Help:    "Time to merge the partitions' next-best-action statistics and rebuild the policy.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 4, 10),
		}),
	}
	s.stats.Store(nba.NewStats())
	if reg := cfg.Registerer; reg != nil {
		arm := func(name, help string, get func(*nba.Stats) uint64) prometheus.Collector {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
				func() float64 { return float64(get(s.stats.Load())) })
		}
		reg.MustRegister(s.metrics,
			arm("kairos_bandit_decisions", "Next-best-action decisions in the merged statistics of the owned partitions, both arms.",
				func(st *nba.Stats) uint64 { return st.Decisions(false) + st.Decisions(true) }))
	}
	return s, nil
}

// Run refreshes at once and then every Interval until ctx ends. A failed
// refresh is logged; the previous policy stays.
func (s *Service) Run(ctx context.Context) error {
	loop := refresh.Loop{Interval: s.cfg.Interval, Log: s.log,
		Failed: "next-best-action policy refresh failed; the previous policy stays"}
	return loop.Run(ctx, func(context.Context) error { return s.Refresh() })
}

// Stats returns the last merged statistics. Do not modify them.
func (s *Service) Stats() *nba.Stats { return s.stats.Load() }

// Report summarises the last merged statistics for the current catalogue
// (GET /v1/models/nba), with credible intervals at level.
func (s *Service) Report(level float64) nba.Report {
	return nba.NewReport(s.cfg.Policy.Load().Catalogue(), s.stats.Load(), level)
}

// Refresh merges the owned partitions' statistics now and swaps in a
// policy built from them.
func (s *Service) Refresh() error { return s.metrics.Time(nil, s.rebuild) }

func (s *Service) rebuild() error {
	merged := nba.NewStats()
	part := nba.NewStats()
	for _, p := range s.cfg.Partitions() {
		pt, err := s.cfg.Store.Partition(p)
		if err != nil {
			return err
		}
		b, ok, err := pt.Summary(stream.NBASummary)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := part.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		merged.Merge(part)
	}
	// Build on the catalogue current now, and swap only if nobody stored
	// a policy meanwhile (a catalogue reload wins; the next tick builds
	// on it).
	old := s.cfg.Policy.Load()
	pol := nba.NewPolicy(old.Catalogue(), merged)
	s.stats.Store(merged)
	s.cfg.Policy.CompareAndSwap(old, pol)
	return nil
}
