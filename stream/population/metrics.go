package population

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/models/scoring"
)

// metrics export the last refresh. Fit figures are gauges set per
// refresh; the per-stage and per-segment counts and the score
// distributions describe the population as of the last refresh, so they
// are collected from it on scrape (a Prometheus histogram accumulates
// observations forever and could not show a current distribution).
type metrics struct {
	fitSeconds    *prometheus.GaugeVec
	logLikelihood *prometheus.GaugeVec
	fitted        *prometheus.GaugeVec
	customers     prometheus.Gauge
	repeat        prometheus.Gauge
	scanSeconds   prometheus.Gauge
	refreshes     prometheus.Counter
	perPartition  *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, s *Service) *metrics {
	m := &metrics{
		fitSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kairos_population_fit_duration_seconds",
			Help: "Wall time of the last population fit, by model (bgnbd, gamma_gamma).",
		}, []string{"model"}),
		logLikelihood: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kairos_population_fit_log_likelihood",
			Help: "Maximised log-likelihood of the last fit, by model.",
		}, []string{"model"}),
		fitted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kairos_population_fit_converged",
			Help: "1 when the last fit of the model converged, 0 when it ran out of budget or failed.",
		}, []string{"model"}),
		customers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kairos_population_customers",
			Help: "Customers (a purchase on or before the refresh instant) in the last refresh.",
		}),
		repeat: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kairos_population_repeat_customers",
			Help: "Customers with at least one repeat purchase day in the last refresh.",
		}),
		scanSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kairos_population_scan_duration_seconds",
			Help: "Wall time of the last scan of the owned partitions.",
		}),
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_population_refreshes_total",
			Help: "Completed population refreshes.",
		}),
		perPartition: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kairos_population_partition_contacts",
			Help: "Contacts stored per owned partition at the last refresh.",
		}, []string{"partition"}),
	}
	for _, model := range []string{"bgnbd", "gamma_gamma"} {
		m.fitSeconds.WithLabelValues(model)
		m.logLikelihood.WithLabelValues(model)
		m.fitted.WithLabelValues(model)
	}
	if reg != nil {
		reg.MustRegister(m.fitSeconds, m.logLikelihood, m.fitted, m.customers, m.repeat, m.scanSeconds, m.refreshes, m.perPartition,
			&distributions{s: s})
	}
	return m
}

func (m *metrics) record(r *scoring.Report) {
	p := r.Population
	m.refreshes.Inc()
	m.customers.Set(float64(p.Customers))
	m.repeat.Set(float64(r.Summary.Churn.RepeatCustomers()))
	m.scanSeconds.Set(r.Scan.Seconds())
	m.perPartition.Reset() // partitions this instance no longer owns disappear
	for p, n := range r.PartitionContacts {
		m.perPartition.WithLabelValues(strconv.Itoa(int(p))).Set(float64(n))
	}
	set := func(model string, ok bool, dur, ll float64, conv bool) {
		m.fitSeconds.WithLabelValues(model).Set(dur)
		if ok {
			m.logLikelihood.WithLabelValues(model).Set(ll)
		}
		v := 0.0
		if ok && conv {
			v = 1
		}
		m.fitted.WithLabelValues(model).Set(v)
	}
	set("bgnbd", p.BGFitted, p.BGInfo.Duration.Seconds(), p.BGInfo.LogLikelihood, p.BGInfo.Converged)
	set("gamma_gamma", p.GGFitted, p.GGInfo.Duration.Seconds(), p.GGInfo.LogLikelihood, p.GGInfo.Converged)
}

var (
	stageDesc = prometheus.NewDesc("kairos_population_contacts_by_stage",
		"Contacts per lifecycle stage at the last refresh.", []string{"stage"}, nil)
	segmentDesc = prometheus.NewDesc("kairos_population_customers_by_segment",
		"Customers per RFM segment at the last refresh.", []string{"segment"}, nil)
	leadDesc = prometheus.NewDesc("kairos_population_lead_score",
		"Distribution of the lead score of known contacts at the last refresh.", nil, nil)
	pAliveDesc = prometheus.NewDesc("kairos_population_p_alive",
		"Distribution of customers' P(alive) at the last refresh.", nil, nil)
	clvDesc = prometheus.NewDesc("kairos_population_clv",
		"Distribution of customers' CLV (major units) at the last refresh.", nil, nil)
)

// distributions collects the last refresh's counts and distributions.
type distributions struct{ s *Service }

func (d *distributions) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{stageDesc, segmentDesc, leadDesc, pAliveDesc, clvDesc} {
		ch <- desc
	}
}

func (d *distributions) Collect(ch chan<- prometheus.Metric) {
	// Before the first refresh the counts are zero: the series exist from
	// the start.
	sum := scoring.NewSummary(0)
	if r := d.s.Latest(); r != nil {
		sum = r.Summary
	}
	for st := lead.StageVisitor; int(st) < scoring.NumStages; st++ {
		ch <- prometheus.MustNewConstMetric(stageDesc, prometheus.GaugeValue, float64(sum.Stages[st]), st.String())
	}
	for _, seg := range rfm.Segments() {
		ch <- prometheus.MustNewConstMetric(segmentDesc, prometheus.GaugeValue, float64(sum.Segments[seg]), seg.String())
	}
	for _, h := range []struct {
		desc *prometheus.Desc
		h    *scoring.Histogram
	}{{leadDesc, &sum.Lead}, {pAliveDesc, &sum.PAlive}, {clvDesc, &sum.CLV}} {
		buckets := make(map[float64]uint64, len(h.h.Bounds))
		var cum uint64
		for i, b := range h.h.Bounds {
			cum += h.h.Counts[i]
			buckets[b] = cum
		}
		ch <- prometheus.MustNewConstHistogram(h.desc, h.h.N, h.h.Sum, buckets)
	}
}
