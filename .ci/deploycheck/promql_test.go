package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up{job="kairos"} == 0`, []string{"up"}},
		{`sum by (topic) (rate(kairos_stream_records_total{topic!~"kairos.rekey"}[$__rate_interval]))`, []string{"kairos_stream_records_total"}},
		{`histogram_quantile(0.99, sum by (le, route) (rate(kairos_api_request_duration_seconds_bucket{route=~"/v1/.*"}[5m]))) > 0.01`,
			[]string{"kairos_api_request_duration_seconds_bucket"}},
		{`sum(rate(a_total[10m])) / (sum(rate(b_total[10m])) + sum(rate(a_total[10m]))) > 0.01 and sum(rate(a_total[10m])) > 0.1`,
			[]string{"a_total", "b_total"}},
		{`rate(x_total[5m]) / ignoring(code) group_left rate(y_total[5m] offset 1h)`, []string{"x_total", "y_total"}},
		{`sum(rate(hits_total[5m])) / (sum(rate(hits_total[5m])) + sum(rate(misses_total[5m])))`, []string{"hits_total", "misses_total"}},
		{`min_over_time(kairos_stream_outbox_inflight{instance=~"$instance"}[10m]) > 1e3`, []string{"kairos_stream_outbox_inflight"}},
		{`max(deriv(g[15m:1m])) > 0 unless on(job) h`, []string{"g", "h"}},
		{`label_replace(m, "dst", "$1", "src", "(.*)")`, []string{"m"}},
		{`sum without (instance) (z)`, []string{"z"}},
		{`vector(1)`, nil},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			got := metricNames(tc.expr)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseScrape(t *testing.T) {
	e, err := parseScrape(strings.NewReader(`# HELP h_seconds Latency.
# TYPE h_seconds histogram
h_seconds_bucket{le="1"} 1
h_seconds_sum 1
h_seconds_count 1
# HELP c_total Count.
# TYPE c_total counter
c_total{topic="a\"b",type="x"} 3
h_seconds_bucket{route="/v1",le="+Inf"} 1
`))
	if err != nil {
		t.Fatal(err)
	}
	for series, fam := range map[string]string{"h_seconds_bucket": "h_seconds", "h_seconds_count": "h_seconds", "c_total": "c_total", "h_seconds": "h_seconds"} {
		if e.series[series] != fam {
			t.Errorf("series %s -> %q, want %q", series, e.series[series], fam)
		}
	}
	if _, ok := e.series["c_total_bucket"]; ok {
		t.Error("a counter has no _bucket series")
	}
	if got := e.families["c_total"].labelList(); got != "topic, type" {
		t.Errorf("c_total labels %q, want \"topic, type\"", got)
	}
	if got := e.families["h_seconds"].labelList(); got != "route" {
		t.Errorf("h_seconds labels %q, want \"route\" (le is not a label to document)", got)
	}
	if e.families["c_total"].help != "Count." {
		t.Errorf("help %q", e.families["c_total"].help)
	}
}

func TestCheckDoc(t *testing.T) {
	e, err := parseScrape(strings.NewReader("# HELP kairos_a_total A.\n# TYPE kairos_a_total counter\nkairos_a_total 1\n# HELP kairos_b_seconds B.\n# TYPE kairos_b_seconds histogram\nkairos_b_seconds_count 1\n" +
		"# HELP kairos_kafka_consumer_connects_total C.\n# TYPE kairos_kafka_consumer_connects_total counter\nkairos_kafka_consumer_connects_total{node_id=\"0\"} 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, doc, wantErr string
	}{
		{"complete", "| `kairos_a_total` | counter | | A. |\n| `kairos_b_seconds` | histogram | | B. |\n", ""},
		{"missing", "| `kairos_a_total` | counter | | A. |\n", "kairos_b_seconds (histogram) is exported but not in the metrics table"},
		{"wrong type", "| `kairos_a_total` | gauge | | A. |\n| `kairos_b_seconds` | histogram | | B. |\n", "kairos_a_total is a counter, the table says gauge"},
		{"no client row", "| `kairos_a_total` | counter | | A. |\n| `kairos_b_seconds` | histogram | | B. |\n", "lacks the franz-go client row"},
		{"stale", "| `kairos_a_total` | counter | | A. |\n| `kairos_b_seconds` | histogram | | B. |\n| `kairos_gone_total` | counter | | G. |\n", "lists kairos_gone_total, which the engine does not export"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "doc.md")
			doc := tc.doc
			if tc.name != "no client row" {
				doc = clientRow + "\n" + doc
			}
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			err := checkDoc(e, path)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
