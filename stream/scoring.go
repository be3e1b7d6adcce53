package stream

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/models/scoring"
)

// scoreMetrics count the score changes the fold records. Labels are the
// bounded sets of lifecycle stages and RFM segments.
type scoreMetrics struct {
	stages   *prometheus.CounterVec
	segments *prometheus.CounterVec
	worse    prometheus.Counter
}

func newScoreMetrics(reg prometheus.Registerer) *scoreMetrics {
	m := &scoreMetrics{
		stages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_stream_stage_transitions_total",
			Help: "Lifecycle stage changes recorded by the fold, by from and to stage.",
		}, []string{"from", "to"}),
		segments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_stream_segment_transitions_total",
			Help: "Daily RFM segment snapshot changes recorded by the fold, by from and to segment.",
		}, []string{"from", "to"}),
		worse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_stream_segment_worsened_total",
			Help: "Segment changes to a worse segment: the churn signal triggers act on.",
		}),
	}
	// Every pair exists from the start, so dashboards and alerts see
	// zeros rather than missing series, and the set is bounded: 7×6
	// stage pairs and 11×10 segment pairs.
	for from := lead.StageUnknown; from <= lead.StageLapsed; from++ {
		for to := lead.StageVisitor; to <= lead.StageLapsed; to++ {
			if from != to {
				m.stages.WithLabelValues(from.String(), to.String())
			}
		}
	}
	for _, from := range rfm.Segments() {
		for _, to := range rfm.Segments() {
			if from != to {
				m.segments.WithLabelValues(from.String(), to.String())
			}
		}
	}
	if reg != nil {
		reg.MustRegister(m.stages, m.segments, m.worse)
	}
	return m
}

// observe counts what one fold changed.
func (m *scoreMetrics) observe(ch *scoring.Change) {
	if ch.Lead.StageChanged {
		m.stages.WithLabelValues(ch.Lead.From.String(), ch.Lead.To.String()).Inc()
	}
	if ch.SegmentChanged {
		m.segments.WithLabelValues(ch.SegmentFrom.String(), ch.SegmentTo.String()).Inc()
		if rfm.Worse(ch.SegmentFrom, ch.SegmentTo) {
			m.worse.Inc()
		}
	}
}
