package stream

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-engine/kairos/models/sendtime"
)

// registerOpenFilter exports the machine-open filter's verdict counts as
// kairos_sendtime_opens_total{verdict}, every verdict from the start (the
// filter counts them itself, atomically, across all partition workers).
// Nothing is registered without a registry or a filter.
func registerOpenFilter(reg prometheus.Registerer, f *sendtime.Filter) {
	if reg == nil || f == nil {
		return
	}
	reg.MustRegister(openFilterCollector{f: f, desc: prometheus.NewDesc(
		"kairos_sendtime_opens_total",
		"Email opens checked by the send-time filter before they enter the hour-of-week histogram, by verdict: human (learned), or the rule that called it a machine's (too_fast: within seconds of the send; user_agent: a known privacy proxy or scanner; network: a listed address range).",
		[]string{"verdict"}, nil)})
}

type openFilterCollector struct {
	f    *sendtime.Filter
	desc *prometheus.Desc
}

func (c openFilterCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c openFilterCollector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range sendtime.Verdicts() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.f.Count(v)), v.String())
	}
}
