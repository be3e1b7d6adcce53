package sendprior

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-engine/kairos/models/sendtime"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/refresh"
)

// DefaultInterval is how often the prior is refitted by default: the
// population's habits move over weeks, a scan costs about a microsecond
// per contact.
const DefaultInterval = 5 * time.Minute

// Config configures a Service.
type Config struct {
	// Store holds the partitions. Required.
	Store *state.Store
	// Fit receives each new fit; New stores sendtime.Uniform() in it when
	// it is empty. Required.
	Fit *atomic.Pointer[sendtime.Fit]
	// Partitions lists the partitions this instance owns now. Required.
	Partitions func() []int32
	// Interval between refreshes; 0 means DefaultInterval.
	Interval time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Service refits the send-time prior. It is safe for concurrent use.
type Service struct {
	cfg      Config
	log      *slog.Logger
	metrics  *refresh.Metrics
	contacts prometheus.Gauge
}

// ErrNoPartitions is returned by a refresh while the instance owns none:
// the current fit stays.
var ErrNoPartitions = errors.New("sendprior: no partitions assigned yet")

// New returns a service; call Run to refresh on a schedule.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("sendprior: Config.Store is required")
	case cfg.Fit == nil:
		return nil, errors.New("sendprior: Config.Fit is required")
	case cfg.Partitions == nil:
		return nil, errors.New("sendprior: Config.Partitions is required")
	}
	var err error
	if cfg.Interval, err = refresh.Interval("sendprior", cfg.Interval, DefaultInterval); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Fit.CompareAndSwap(nil, sendtime.Uniform())
	s := &Service{
		cfg: cfg,
		log: cfg.Logger.With("component", "sendprior"),
		metrics: refresh.NewMetrics(prometheus.CounterOpts{
			Name: "kairos_sendprior_refreshes_total",
			Help: "Refits of the send-time population prior, by result (ok, failed).",
		}, prometheus.HistogramOpts{
			Name:    "kairos_sendprior_refresh_seconds",
			Help:    "Time to scan the owned partitions' contacts and refit the send-time prior.",
			Buckets: prometheus.ExponentialBuckets(1e-3, 4, 10),
		}),
		contacts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kairos_sendprior_contacts",
			Help: "Contacts with email engagement the current send-time prior was fitted on.",
		}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.metrics, s.contacts)
	}
	return s, nil
}

// Run refreshes shortly after start (once partitions are assigned) and
// then every Interval until ctx ends. A failed refresh is logged; the
// previous fit stays.
func (s *Service) Run(ctx context.Context) error {
	loop := refresh.Loop{
		Interval: s.cfg.Interval,
		First:    2 * time.Second,
		Retry:    func(err error) bool { return errors.Is(err, ErrNoPartitions) },
		Quiet:    ErrNoPartitions,
		Log:      s.log,
		Failed:   "send-time prior refresh failed; the previous prior stays",
	}
	return loop.Run(ctx, func(ctx context.Context) error {
		_, err := s.Refresh(ctx)
		return err
	})
}

// Refresh scans the owned partitions now, fits and swaps the prior.
func (s *Service) Refresh(ctx context.Context) (*sendtime.Fit, error) {
	var fit *sendtime.Fit
	err := s.metrics.Time(ErrNoPartitions, func() error {
		var err error
		fit, err = s.refit(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.Debug("send-time prior refitted", "contacts", fit.Contacts, "strength", fit.Strength, "rate", fit.Rate)
	return fit, nil
}

func (s *Service) refit(ctx context.Context) (*sendtime.Fit, error) {
	parts := s.cfg.Partitions()
	if len(parts) == 0 {
		return nil, ErrNoPartitions
	}
	var all sendtime.Prior
	for _, p := range parts {
		pt, err := s.cfg.Store.Partition(p)
		if err != nil {
			return nil, err
		}
		var prior sendtime.Prior
		err = pt.Contacts(func(c *state.Contact) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			e := &c.Engagement
			prior.Add(&e.HourOfWeek, e.Opened, e.Delivered)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("sendprior: partition %d: %w", p, err)
		}
		all.Merge(&prior)
	}
	fit := all.Fit()
	s.cfg.Fit.Store(fit)
	s.contacts.Set(float64(fit.Contacts))
	return fit, nil
}
