package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Interval returns the interval a service refreshes at: d, or def when d
// is 0. A negative d is an error naming the component.
func Interval(component string, d, def time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("%s: interval %v must be positive", component, d)
	case d == 0:
		return def, nil
	}
	return d, nil
}

// Loop is the schedule of a background refresh.
type Loop struct {
	// Interval between refreshes. Must be positive.
	Interval time.Duration
	// First is the wait before the first refresh (to let the partitions
	// be assigned); 0 refreshes at once.
	First time.Duration
	// Retry, when First is not 0, reports whether a failed refresh is
	// tried again First later rather than at the next interval: while
	// the service has nothing to serve yet. nil never retries early.
	Retry func(err error) bool
	// Quiet is an expected error (matched with errors.Is), such as no
	// partitions assigned yet, that is not logged.
	Quiet error
	// Log receives failures at warning level, with the message Failed,
	// which says what stays in place.
	Log    *slog.Logger
	Failed string
}

// Run calls refresh on the schedule until ctx ends, then returns nil. A
// failure is logged unless it is Quiet or ctx has ended; the previous
// result stays, so the loop goes on.
func (l *Loop) Run(ctx context.Context, refresh func(context.Context) error) error {
	t := time.NewTicker(l.Interval)
	defer t.Stop()
	var first *time.Timer
	var firstC <-chan time.Time // nil, never ready, without a first delay
	if l.First > 0 {
		first = time.NewTimer(l.First)
		defer first.Stop()
		firstC = first.C
	}
	for now := first == nil; ; now = false {
		if !now {
			select {
			case <-ctx.Done():
				return nil
			case <-firstC:
			case <-t.C:
			}
		}
		err := refresh(ctx)
		if err == nil {
			continue
		}
		if !errors.Is(err, l.Quiet) && ctx.Err() == nil {
			l.Log.Warn(l.Failed, "err", err)
		}
		if first != nil && l.Retry != nil && l.Retry(err) {
			first.Reset(l.First)
		}
	}
}

// Metrics counts a service's refreshes by result (ok, failed) and times
// the successful ones. It is a prometheus.Collector of both.
type Metrics struct {
	results *prometheus.CounterVec
	seconds prometheus.Histogram
}

// NewMetrics returns the metrics with the service's names and help texts;
// the counter gets the label result, with both values present from the
// start.
func NewMetrics(results prometheus.CounterOpts, seconds prometheus.HistogramOpts) *Metrics {
	m := &Metrics{
		results: prometheus.NewCounterVec(results, []string{"result"}),
		seconds: prometheus.NewHistogram(seconds),
	}
	m.results.WithLabelValues("ok")
	m.results.WithLabelValues("failed")
	return m
}

// Time runs one refresh: a success is timed and counted ok, a failure is
// counted failed, and an error that is skip (errors.Is; nil skips none),
// a refresh that did not run, is not counted.
func (m *Metrics) Time(skip error, refresh func() error) error {
	start := time.Now()
	if err := refresh(); err != nil {
		if !errors.Is(err, skip) {
			m.results.WithLabelValues("failed").Inc()
		}
		return err
	}
	m.seconds.Observe(time.Since(start).Seconds())
	m.results.WithLabelValues("ok").Inc()
	return nil
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.results.Describe(ch)
	m.seconds.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.results.Collect(ch)
	m.seconds.Collect(ch)
}
