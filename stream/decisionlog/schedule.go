package decisionlog

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-engine/kairos/models/propensity"
)

// Schedule runs Train every Every in the background of kairos serve.
type Schedule struct {
	Config Config
	// Every is the interval between the end of one run and the start of
	// the next. Required (> 0).
	Every time.Duration
	// Timeout bounds one run. Default Every.
	Timeout time.Duration
	// Promoted is called with the new model after a promotion (for
	// serving to pick it up); may be nil.
	Promoted   func(*propensity.MLP)
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Run trains every s.Every until ctx ends. A failed run is logged and
// counted; the next one runs on schedule. It returns nil when ctx ends.
func (s *Schedule) Run(ctx context.Context) error {
	if s.Every <= 0 {
		return errors.New("decisionlog: schedule interval must be positive")
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	m := newMetrics(s.Registerer)
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = s.Every
	}
	t := time.NewTimer(s.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		res, err := Train(rctx, s.Config)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		m.duration.Observe(res.Duration.Seconds())
		m.examples.Set(float64(res.Stats.Examples))
		switch {
		case errors.Is(err, propensity.ErrTooFewExamples):
			m.runs.WithLabelValues("too_few").Inc()
			log.Info("propensity training skipped", "reason", err.Error(), "log", res.Stats.String())
		case err != nil:
			m.runs.WithLabelValues("error").Inc()
			log.Error("propensity training failed", "err", err.Error(), "log", res.Stats.String())
		case res.Written:
			m.runs.WithLabelValues("promoted").Inc()
			log.Info("propensity model promoted", "out", s.Config.Out, "report", res.Report.String(), "duration", res.Duration.String())
			if s.Promoted != nil {
				if mlp, err := ReadModel(s.Config.Out); err == nil && mlp != nil {
					s.Promoted(mlp)
				}
			}
		default:
			m.runs.WithLabelValues("kept").Inc()
			log.Info("propensity model kept", "report", res.Report.String(), "duration", res.Duration.String())
		}
		t.Reset(s.Every)
	}
}

type metrics struct {
	runs     *prometheus.CounterVec
	duration prometheus.Histogram
	examples prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_decisionlog_train_runs_total",
			Help: "Scheduled propensity training runs, by result: promoted (model written), kept (not better), too_few (examples), error.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kairos_decisionlog_train_duration_seconds",
			Help:    "Duration of a scheduled propensity training run: reading the decision log, training, evaluating, writing.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 12),
		}),
		examples: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kairos_decisionlog_examples",
			Help: "Training examples the last scheduled propensity training run built from the decision log.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.duration, m.examples)
	}
	return m
}
