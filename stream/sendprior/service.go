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
	refresh  *prometheus.CounterVec
	seconds  prometheus.Histogram
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
	case cfg.Interval < 0:
		return nil, fmt.Errorf("sendprior: interval %v must be positive", cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Fit.CompareAndSwap(nil, sendtime.Uniform())
	s := &Service{
		cfg: cfg,
		log: cfg.Logger.With("component", "sendprior"),
		refresh: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_sendprior_refreshes_total",
			Help: "Refits of the send-time population prior, by result (ok, failed).",
		}, []string{"result"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kairos_sendprior_refresh_seconds",
			Help:    "Time to scan the owned partitions' contacts and refit the send-time prior.",
			Buckets: prometheus.ExponentialBuckets(1e-3, 4, 10),
		}),
		contacts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kairos_sendprior_contacts",
			Help: "Contacts with email engagement the current send-time prior was fitted on.",
		}),
	}
	s.refresh.WithLabelValues("ok")
	s.refresh.WithLabelValues("failed")
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.refresh, s.seconds, s.contacts)
	}
	return s, nil
}

// Run refreshes shortly after start (once partitions are assigned) and
// then every Interval until ctx ends. A failed refresh is logged; the
// previous fit stays.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	first := time.NewTimer(2 * time.Second)
	defer first.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-first.C:
		case <-t.C:
		}
		if _, err := s.Refresh(ctx); err != nil {
			if errors.Is(err, ErrNoPartitions) {
				first.Reset(2 * time.Second)
			} else if ctx.Err() == nil {
				s.log.Warn("send-time prior refresh failed; the previous prior stays", "err", err)
			}
		}
	}
}

// Refresh scans the owned partitions now, fits and swaps the prior.
func (s *Service) Refresh(ctx context.Context) (*sendtime.Fit, error) {
	start := time.Now()
	parts := s.cfg.Partitions()
	if len(parts) == 0 {
		return nil, ErrNoPartitions
	}
	var all sendtime.Prior
	for _, p := range parts {
		pt, err := s.cfg.Store.Partition(p)
		if err != nil {
			s.refresh.WithLabelValues("failed").Inc()
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
			s.refresh.WithLabelValues("failed").Inc()
			return nil, fmt.Errorf("sendprior: partition %d: %w", p, err)
		}
		all.Merge(&prior)
	}
	fit := all.Fit()
	s.cfg.Fit.Store(fit)
	s.contacts.Set(float64(fit.Contacts))
	s.seconds.Observe(time.Since(start).Seconds())
	s.refresh.WithLabelValues("ok").Inc()
	s.log.Debug("send-time prior refitted", "contacts", fit.Contacts, "strength", fit.Strength, "rate", fit.Rate)
	return fit, nil
}
