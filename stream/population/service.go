package population

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/refresh"
)

// Defaults of Config.
const (
	DefaultInterval    = 5 * time.Minute
	DefaultFitDuration = 20 * time.Second
	// historyCache bounds the fits kept for past instants.
	historyCache = 8
)

// Config configures a Service.
type Config struct {
	// Store holds the partitions. Required.
	Store *state.Store
	// Models is the snapshot the fold and the API read; the service swaps
	// in a new one after each refresh. Required, and must hold a snapshot.
	Models *atomic.Pointer[scoring.Models]
	// Partitions lists the partitions this instance owns now. Required.
	Partitions func() []int32
	// Total is the number of partitions in all (for reporting); optional.
	Total func() int32
	// Interval between scheduled refreshes; 0 means DefaultInterval.
	Interval time.Duration
	// Fit bounds each fit; MaxDuration 0 means DefaultFitDuration.
	Fit churn.FitOptions
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Service refreshes the population models. It is safe for concurrent use.
type Service struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	fitMu   sync.Mutex // one fit at a time; never held by readers of Latest
	latest  atomic.Pointer[scoring.Report]
	histMu  sync.Mutex
	history map[int64]*scoring.Report // fits at past instants, by instant
	order   []int64
}

// ErrNoPartitions is returned by a refresh while the instance owns none.
var ErrNoPartitions = errors.New("population: no partitions assigned yet")

// New returns a service; call Run to refresh on a schedule.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("population: Config.Store is required")
	case cfg.Models == nil || cfg.Models.Load() == nil:
		return nil, errors.New("population: Config.Models must hold a scoring snapshot")
	case cfg.Partitions == nil:
		return nil, errors.New("population: Config.Partitions is required")
	}
	var err error
	if cfg.Interval, err = refresh.Interval("population", cfg.Interval, DefaultInterval); err != nil {
		return nil, err
	}
	if err := cfg.Fit.Validate(); err != nil {
		return nil, err
	}
	if cfg.Fit.MaxDuration == 0 {
		cfg.Fit.MaxDuration = DefaultFitDuration
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("component", "population"), history: make(map[int64]*scoring.Report)}
	s.metrics = newMetrics(cfg.Registerer, s)
	return s, nil
}

// Run refreshes at once and then every Interval until ctx ends. A failed
// refresh is logged and retried at the next tick: the previous models stay.
func (s *Service) Run(ctx context.Context) error {
	loop := refresh.Loop{
		Interval: s.cfg.Interval,
		First:    2 * time.Second, // let the partitions be assigned
		// No models yet (partitions not assigned, or a failure): try
		// again soon rather than a whole interval later.
		Retry:  func(error) bool { return s.Latest() == nil },
		Quiet:  ErrNoPartitions,
		Log:    s.log,
		Failed: "population refresh failed; the previous models stay",
	}
	return loop.Run(ctx, func(ctx context.Context) error {
		_, err := s.Refresh(ctx)
		return err
	})
}

// Latest returns the last refresh, or nil before the first.
func (s *Service) Latest() *scoring.Report { return s.latest.Load() }

// Refresh scans the owned partitions now, fits, and swaps the models.
func (s *Service) Refresh(ctx context.Context) (*scoring.Report, error) {
	s.fitMu.Lock()
	defer s.fitMu.Unlock()
	cur := s.cfg.Models.Load()
	res, err := s.build(ctx, s.cfg.Now().UnixMilli(), cur)
	if err != nil {
		return nil, err
	}
	// Swap on the snapshot current now: a plan reloaded during the fit
	// stays.
	for {
		old := s.cfg.Models.Load()
		if s.cfg.Models.CompareAndSwap(old, old.WithPopulation(res.Population)) {
			break
		}
	}
	s.latest.Store(res)
	s.metrics.record(res)
	s.log.Info("population models refreshed", "contacts", res.Summary.Contacts, "customers", res.Population.Customers,
		"repeat_customers", res.Summary.Churn.RepeatCustomers(), "bgnbd_fitted", res.Population.BGFitted,
		"fit", res.Population.FitDuration.Round(time.Millisecond), "scan", res.Scan.Round(time.Millisecond))
	return res, nil
}

// At returns the population fitted on purchases up to instant at (Unix
// ms): for the last refresh's instant or later, the latest fit; for an
// earlier instant, a fit made on demand and cached.
func (s *Service) At(ctx context.Context, at int64) (*scoring.Report, error) {
	if l := s.latest.Load(); l != nil && at >= l.Summary.At {
		return l, nil
	}
	// Instants are cached at minute granularity: ?at= values differing by
	// seconds share a fit.
	key := at - at%60_000
	s.histMu.Lock()
	if r := s.history[key]; r != nil {
		s.histMu.Unlock()
		return r, nil
	}
	s.histMu.Unlock()
	s.fitMu.Lock()
	defer s.fitMu.Unlock()
	s.histMu.Lock()
	if r := s.history[key]; r != nil {
		s.histMu.Unlock()
		return r, nil
	}
	s.histMu.Unlock()
	res, err := s.build(ctx, key, s.cfg.Models.Load())
	if err != nil {
		return nil, err
	}
	s.histMu.Lock()
	s.history[key] = res
	s.order = append(s.order, key)
	if len(s.order) > historyCache {
		delete(s.history, s.order[0])
		s.order = s.order[1:]
	}
	s.histMu.Unlock()
	return res, nil
}

// build scans and fits at instant at. The warm start is the current fit.
//
// It scans twice: first the population statistics the fit needs, then,
// with the models just fitted, the counts per stage and segment and the
// score distributions. One pass with the current models would count
// segments with the previous refresh's cuts (the fallback cuts on the
// first refresh), leave the P(alive) and CLV distributions empty until a
// second refresh, and describe a past instant (?at=) with today's fit.
func (s *Service) build(ctx context.Context, at int64, m *scoring.Models) (*scoring.Report, error) {
	parts := s.cfg.Partitions()
	if len(parts) == 0 {
		return nil, ErrNoPartitions
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	start := time.Now()
	total := scoring.NewSummary(at)
	perPartition := make(map[int32]uint64, len(parts))
	pts := make([]*state.Partition, len(parts))
	for i, p := range parts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pt, err := s.cfg.Store.Partition(p)
		if err != nil {
			return nil, err
		}
		pts[i] = pt
		sum, err := scanPopulation(pt, at, m.Config)
		if err != nil {
			return nil, fmt.Errorf("population: scan partition %d: %w", p, err)
		}
		perPartition[p] = sum.Contacts
		if err := total.Merge(sum); err != nil {
			return nil, fmt.Errorf("population: merge partition %d: %w", p, err)
		}
	}
	res := &scoring.Report{Summary: total, Scan: time.Since(start), PartitionContacts: perPartition}
	fitStart := time.Now()
	pop := scoring.Population{
		At:         time.UnixMilli(at),
		Customers:  total.RFM.Len(),
		Cuts:       m.Config.RFM.Cuts(total.RFM),
		Partitions: len(parts),
	}
	if s.cfg.Total != nil {
		pop.PartitionsTotal = int(s.cfg.Total())
	}
	var warmBG *churn.BGNBD
	var warmGG *churn.GammaGamma
	if m.Pop.BGFitted {
		warmBG = &m.Pop.BG
	}
	if m.Pop.GGFitted {
		warmGG = &m.Pop.GG
	}
	bg, info, err := churn.Fit(ctx, total.Churn, warmBG, s.cfg.Fit)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		res.BGErr = err
	} else {
		pop.BG, pop.BGInfo, pop.BGFitted = bg, info, true
	}
	gg, ginfo, err := churn.FitGammaGamma(ctx, total.Churn, warmGG, s.cfg.Fit)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		res.GGErr = err
	} else {
		pop.GG, pop.GGInfo, pop.GGFitted = gg, ginfo, true
	}
	pop.FitDuration = time.Since(fitStart)
	pop.FittedAt = s.cfg.Now()
	res.Population = pop

	countStart := time.Now()
	fitted := m.WithPopulation(pop)
	for i, pt := range pts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := scanScores(pt, fitted, total); err != nil {
			return nil, fmt.Errorf("population: score partition %d: %w", parts[i], err)
		}
	}
	res.Scan += time.Since(countStart)
	return res, nil
}
