package stream

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
)

// metrics are the stream package's Prometheus series. Labels are bounded:
// topic (the configured topics), type (the event types), reason (the
// dead-letter reasons).
type metrics struct {
	records            map[string]*[state.NumEventTypes]prometheus.Counter
	deadLetters        *prometheus.CounterVec
	duplicates         prometheus.Counter
	internalDuplicates prometheus.Counter
	forwarded          prometheus.Counter
	merges             prometheus.Counter
	identityConflicts  prometheus.Counter
	batchRecords       prometheus.Histogram
	batchSeconds       prometheus.Histogram
	assigned           prometheus.Gauge
	rebalances         prometheus.Counter
	outboxPending      prometheus.Gauge
	relayErrors        prometheus.Counter
	relayedTotal       *prometheus.CounterVec
	cacheHits          prometheus.Counter
	cacheMisses        prometheus.Counter
	scores             *scoreMetrics
	erasures           prometheus.Counter
	erasedDropped      prometheus.Counter
	retentionTrimmed   prometheus.Counter
	retentionExpired   prometheus.Counter
	freshness          *freshnessMetrics
	relayLatency       prometheus.Histogram
	assignSeconds      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, t Topics) *metrics {
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_stream_records_total",
		Help: "Input events decoded and routed, by topic and event type.",
	}, []string{"topic", "type"})
	m := &metrics{
		records: make(map[string]*[state.NumEventTypes]prometheus.Counter),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_stream_deadletters_total",
			Help: "Records sent to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_stream_duplicates_total",
			Help: "Events dropped because their id was already folded into the contact.",
		}),
		internalDuplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_stream_internal_duplicates_total",
			Help: "Republished internal records (after a crash) dropped by their source watermark.",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_stream_forwarded_total",
			Help: "Events forwarded through the re-key topic to the partition owning their contact.",
		}),
		merges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_stream_identity_merges_total",
			Help: "Profiles merged into another contact by an identity link.",
		}),
		identityConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_stream_identity_conflicts_total",
			Help: "Links refused because the id already belonged to another contact.",
		}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kairos_stream_batch_records",
			Help:    "Records per committed partition batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kairos_stream_batch_duration_seconds",
			Help:    "Time to fold and commit one partition batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		assigned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kairos_stream_assigned_partitions",
			Help: "Partitions currently owned by this instance.",
		}),
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_stream_rebalances_total",
			Help: "Partition assignments received from the group.",
		}),
		outboxPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kairos_stream_outbox_inflight",
			Help: "Outbox records handed to the producer and not yet acknowledged.",
		}),
		relayErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_stream_relay_errors_total",
			Help: "Outbox records the broker refused; they stay in the outbox.",
		}),
		relayedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_stream_relayed_total",
			Help: "Outbox records published and acknowledged, by topic.",
		}, []string{"topic"}),
	}
	m.cacheHits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kairos_stream_cache_hits_total",
		Help: "Contact lookups answered by the hot-contact cache.",
	})
	m.cacheMisses = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kairos_stream_cache_misses_total",
		Help: "Contact lookups the hot-contact cache could not answer.",
	})
	// Resolve every (topic, type) child once: the per-event path then costs
	// an array index instead of a label lookup.
	for _, topic := range []string{t.Clickstream, t.Orders, t.Email, t.Rekey} {
		var arr [state.NumEventTypes]prometheus.Counter
		for ty := state.EventType(1); ty < state.NumEventTypes; ty++ {
			arr[ty] = records.WithLabelValues(topic, ty.String())
		}
		m.records[topic] = &arr
	}
	m.scores = newScoreMetrics(reg)
	m.freshness = newFreshnessMetrics(reg)
	m.relayLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kairos_stream_relay_latency_seconds",
		Help:    "Time from a committed outbox record being handed to the relay to the broker's acknowledgement (WAL sync included).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	m.assignSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kairos_stream_assign_duration_seconds",
		Help:    "Time to take over assigned partitions after a rebalance: open their state, load tombstones and known ids, queue their unacknowledged outbox.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
	if reg != nil {
		reg.MustRegister(m.relayLatency, m.assignSeconds)
	}
	m.erasures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kairos_stream_erasures_total",
		Help: "Contacts erased (GDPR erasure) on this instance's partitions.",
	})
	m.erasedDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kairos_stream_erased_events_dropped_total",
		Help: "Events, links and merges dropped because their id was erased.",
	})
	m.retentionTrimmed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kairos_stream_retention_trimmed_total",
		Help: "Contacts whose event history the retention sweep trimmed.",
	})
	m.retentionExpired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kairos_stream_retention_expired_total",
		Help: "Inactive contacts the retention sweep removed.",
	})
	if reg != nil {
		reg.MustRegister(m.erasures, m.erasedDropped, m.retentionTrimmed, m.retentionExpired)
	}
	for _, r := range event.Reasons() {
		m.deadLetters.WithLabelValues(string(r))
	}
	if reg != nil {
		reg.MustRegister(records, m.deadLetters, m.duplicates, m.internalDuplicates, m.forwarded, m.merges, m.identityConflicts,
			m.batchRecords, m.batchSeconds, m.assigned, m.rebalances, m.outboxPending, m.relayErrors, m.relayedTotal, m.cacheHits, m.cacheMisses)
	}
	return m
}

func (m *metrics) consumed(topic string, t state.EventType) {
	if arr := m.records[topic]; arr != nil && t < state.NumEventTypes && arr[t] != nil {
		arr[t].Inc()
	}
}

func (m *metrics) deadLetter(reason string) { m.deadLetters.WithLabelValues(reason).Inc() }

func (m *metrics) relayed(topic string) { m.relayedTotal.WithLabelValues(topic).Inc() }
