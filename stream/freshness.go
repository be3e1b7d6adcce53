package stream

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// freshnessMetrics measure how long after an event its effect is readable
// through the API: the delay from the event's own timestamp and from the
// record's broker timestamp to the commit of the batch that folded it.
// Together with the API's read path (a Pebble read, no cache between the
// commit and the reader) this is the event-to-score freshness of the
// objective in the README (p99 under 1 s at the demo's load).
type freshnessMetrics struct {
	event  prometheus.Observer
	append prometheus.Observer
	lag    *prometheus.GaugeVec
}

// freshnessBuckets span a millisecond to a day: replays of history show
// up in the top buckets, live traffic in the bottom ones.
var freshnessBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400}

func newFreshnessMetrics(reg prometheus.Registerer) *freshnessMetrics {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kairos_stream_freshness_seconds",
		Help:    "Delay from an event's timestamp (source=event) or its record's broker timestamp (source=append) to the commit that makes its effect readable through the API.",
		Buckets: freshnessBuckets,
	}, []string{"source"})
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kairos_stream_consumer_lag_records",
		Help: "Records between the last fetched offset and the partition's high watermark, per consumed topic and partition, as of the last fetch.",
	}, []string{"topic", "partition"})
	if reg != nil {
		reg.MustRegister(h, lag)
	}
	return &freshnessMetrics{event: h.WithLabelValues("event"), append: h.WithLabelValues("append"), lag: lag}
}

// observeFreshness records the delays of the batch just committed: event
// times were collected by the fold (w.evTimes), broker times come from the
// input records.
func (w *worker) observeFreshness(recs []*kgo.Record, now time.Time) {
	m := w.e.metrics.freshness
	nowMs := now.UnixMilli()
	for _, t := range w.evTimes {
		m.event.Observe(float64(nowMs-t) / 1000)
	}
	w.evTimes = w.evTimes[:0]
	for _, r := range recs {
		if r.Topic == w.e.cfg.Topics.Rekey || r.Timestamp.IsZero() {
			continue
		}
		m.append.Observe(now.Sub(r.Timestamp).Seconds())
	}
}

// setLag records a partition's lag as of a fetch.
func (m *freshnessMetrics) setLag(topic string, partition int32, lag int64) {
	m.lag.WithLabelValues(topic, strconv.Itoa(int(partition))).Set(float64(max(lag, 0)))
}
