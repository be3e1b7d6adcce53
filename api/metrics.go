package api

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's own series. A nil *metrics (no Registerer) records
// nothing.
type metrics struct {
	requests *prometheus.CounterVec
	inflight prometheus.Gauge
	// duration is resolved per route up front: a route label is bounded.
	duration [numRoutes]prometheus.Observer
	// counters caches the request counter of the common status codes per
	// route, resolved on first use so that only combinations that happened
	// are exported. Other codes take the WithLabelValues path.
	counters [numRoutes][numCachedCodes]atomic.Pointer[prometheus.Counter]
}

// numCachedCodes is the number of status codes whose counters are cached,
// see codeSlot.
const numCachedCodes = 11

// codeSlot returns the cache slot of a status code, or -1.
func codeSlot(code int) int {
	switch code {
	case 200:
		return 0
	case 400:
		return 1
	case 404:
		return 2
	case 405:
		return 3
	case 413:
		return 4
	case 500:
		return 5
	case 503:
		return 6
	case 204:
		return 7
	case 401:
		return 8
	case 403:
		return 9
	case 429:
		return 10
	}
	return -1
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	requests, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_api_requests_total",
		Help: "HTTP requests answered, by route pattern and status code.",
	}, []string{"route", "code"}))
	if err != nil {
		return nil, err
	}
	duration, err := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kairos_api_request_duration_seconds",
		Help: "Time from routing a request to its response being ready, by route pattern.",
		// 50µs to ~1.6s: profile reads take microseconds, /metrics milliseconds.
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
	}, []string{"route"}))
	if err != nil {
		return nil, err
	}
	inflight, err := register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kairos_api_inflight_requests",
		Help: "HTTP requests being handled.",
	}))
	if err != nil {
		return nil, err
	}
	m := &metrics{requests: requests, inflight: inflight}
	for r := range numRoutes {
		m.duration[r] = duration.WithLabelValues(r.String())
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// the same description (two Servers sharing one registry share series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		var zero C
		return zero, fmt.Errorf("api: register metrics: %w", err)
	}
	return c, nil
}

func (m *metrics) begin() {
	if m != nil {
		m.inflight.Inc()
	}
}

// end records a handled request.
func (m *metrics) end(r route, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.inflight.Dec()
	m.duration[r].Observe(d.Seconds())
	m.count(r, code)
}

// count counts a request; requests rejected before routing (413) are only
// counted.
func (m *metrics) count(r route, code int) {
	if m == nil {
		return
	}
	slot := codeSlot(code)
	if slot < 0 {
		m.requests.WithLabelValues(r.String(), strconv.Itoa(code)).Inc()
		return
	}
	p := &m.counters[r][slot]
	if c := p.Load(); c != nil {
		(*c).Inc()
		return
	}
	c := m.requests.WithLabelValues(r.String(), strconv.Itoa(code))
	p.Store(&c)
	c.Inc()
}
