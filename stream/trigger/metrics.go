package trigger

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is the trigger funnel per rule. One Metrics serves every Engine
// built over time (a rule reload builds a new Engine with the same
// Metrics), so it is registered once.
type Metrics struct {
	evaluated  *prometheus.CounterVec
	matched    *prometheus.CounterVec
	suppressed *prometheus.CounterVec
	deferred   *prometheus.CounterVec
	emitted    *prometheus.CounterVec
	cancelled  *prometheus.CounterVec
	delay      *prometheus.HistogramVec
}

// NewMetrics builds the funnel metrics and registers them with reg; nil
// reg leaves them unregistered (tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		evaluated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_trigger_evaluated_total",
			Help: "Evaluations of a rule: inputs whose event type or state change the rule's causes could match, and its timers fired.",
		}, []string{"rule"}),
		matched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_trigger_matched_total",
			Help: "Evaluations whose cause and conditions held (before the contact policy).",
		}, []string{"rule"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_trigger_suppressed_total",
			Help: "Triggers not emitted, by reason (consent, pressure, quiet_hours with on_block drop, displaced, expired, cooldown, ...).",
		}, []string{"rule", "reason"}),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_trigger_deferred_total",
			Help: "Triggers the contact policy deferred to the next allowed moment (a durable timer).",
		}, []string{"rule"}),
		emitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_trigger_emitted_total",
			Help: "Triggers written to the outbox for the channel's topic.",
		}, []string{"rule"}),
		cancelled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_trigger_cancelled_total",
			Help: "Pending triggers cancelled by the event that completed them or by a changed condition at fire time.",
		}, []string{"rule"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kairos_trigger_delay_seconds",
			Help: "Event time from a trigger's cause to its emission: the wait, deferral and watermark lag.",
			Buckets: []float64{0, 1, 10, 60, 600, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400,
				7 * 86400, 30 * 86400, 365 * 86400},
		}, []string{"rule"}),
	}
	if reg != nil {
		reg.MustRegister(m.evaluated, m.matched, m.suppressed, m.deferred, m.emitted, m.cancelled, m.delay)
	}
	return m
}

// ruleMetrics are one rule's children, resolved once so that the hot path
// does no label lookups.
type ruleMetrics struct {
	evaluated, matched, deferred, emitted, cancelled prometheus.Counter
	suppressed                                       map[Reason]prometheus.Counter
	delay                                            prometheus.Observer
}

func (m *Metrics) forRule(id string) *ruleMetrics {
	rm := &ruleMetrics{
		evaluated:  m.evaluated.WithLabelValues(id),
		matched:    m.matched.WithLabelValues(id),
		deferred:   m.deferred.WithLabelValues(id),
		emitted:    m.emitted.WithLabelValues(id),
		cancelled:  m.cancelled.WithLabelValues(id),
		delay:      m.delay.WithLabelValues(id),
		suppressed: make(map[Reason]prometheus.Counter, len(allReasons)),
	}
	for _, r := range allReasons {
		rm.suppressed[r] = m.suppressed.WithLabelValues(id, string(r))
	}
	return rm
}
