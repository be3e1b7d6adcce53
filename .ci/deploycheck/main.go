package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: deploycheck dashboard|alerts|pending|table|k8s|yaml ...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	scrapePath := fs.String("scrape", "", "a /metrics scrape of the running engine")
	fs.Parse(os.Args[2:])
	var err error
	scrape := func() *exported {
		if *scrapePath == "" {
			fmt.Fprintln(os.Stderr, "-scrape is required")
			os.Exit(2)
		}
		e, err := readScrape(*scrapePath)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return e
	}
	switch os.Args[1] {
	case "dashboard":
		err = checkDashboards(scrape(), fs.Args())
	case "alerts":
		err = checkAlerts(scrape(), fs.Args())
	case "pending":
		err = reportPending(scrape(), os.Stdout)
	case "table":
		writeTable(scrape(), os.Stdout)
	case "doc":
		err = checkDoc(scrape(), fs.Arg(0))
	case "k8s":
		err = checkKubernetes(fs.Arg(0))
	case "yaml":
		err = checkYAML(fs.Args())
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploycheck "+os.Args[1]+":", err)
		os.Exit(1)
	}
}

// checkDashboards parses each Grafana dashboard and checks that every
// metric a panel or a template variable queries is one the engine exports.
func checkDashboards(e *exported, paths []string) error {
	var errs []error
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var d dashboard
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&d); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		if d.Title == "" || d.UID == "" {
			errs = append(errs, fmt.Errorf("%s: a dashboard needs a title and a uid (provisioning and links rely on the uid)", path))
		}
		queries := 0
		var walk func(ps []panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				for _, t := range p.Targets {
					if t.Expr == "" {
						continue
					}
					queries++
					for _, m := range metricNames(t.Expr) {
						if _, ok := e.series[m]; !ok {
							errs = append(errs, fmt.Errorf("%s: panel %q queries %s, which the engine does not export (add planned panels to pending.yaml instead)", path, p.Title, m))
						}
					}
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			for _, m := range templateMetrics(v.Query) {
				if _, ok := e.series[m]; !ok {
					errs = append(errs, fmt.Errorf("%s: variable %q queries %s, which the engine does not export", path, v.Name, m))
				}
			}
		}
		if queries == 0 {
			errs = append(errs, fmt.Errorf("%s: no panel queries anything", path))
		}
		fmt.Printf("%s: %d queries, every metric exported\n", path, queries)
	}
	return errors.Join(errs...)
}

type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)

// templateMetrics reads a query variable: a string or {"query": "..."},
// label_values(expr, label), label_values(label) or query_result(expr).
func templateMetrics(raw json.RawMessage) []string {
	var q string
	if json.Unmarshal(raw, &q) != nil {
		var obj struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		q = obj.Query
	}
	if m := labelValues.FindStringSubmatch(q); m != nil {
		return metricNames(m[1])
	}
	if rest, ok := strings.CutPrefix(strings.TrimSpace(q), "query_result("); ok {
		return metricNames(strings.TrimSuffix(rest, ")"))
	}
	return nil
}

// externalMetrics are series the alerts may use although the engine does
// not export them, with where they come from. A rule using one must name
// that source in its `source` annotation, so an operator knows what to run.
var externalMetrics = map[string]string{
	"up":                      "prometheus",
	"kafka_consumergroup_lag": "kafka-exporter",
	"kube_pod_status_ready":   "kube-state-metrics",
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// checkAlerts checks that every metric a rule uses is exported by the
// engine, or external with its source named, and that every alert has a
// severity, a summary and a description (the runbook lives in the README).
func checkAlerts(e *exported, paths []string) error {
	var errs []error
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var rf ruleFile
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&rf); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		n := 0
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				n++
				name := r.Alert + r.Record
				for _, m := range metricNames(r.Expr) {
					if _, ok := e.series[m]; ok {
						continue
					}
					src, ok := externalMetrics[m]
					switch {
					case !ok:
						errs = append(errs, fmt.Errorf("%s: %s uses %s, which the engine does not export and is not a known external metric", path, name, m))
					case src != "prometheus" && r.Annotations["source"] != src:
						errs = append(errs, fmt.Errorf("%s: %s uses %s from %s: say so in a `source: %s` annotation", path, name, m, src, src))
					}
				}
				if r.Alert != "" && (r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "") {
					errs = append(errs, fmt.Errorf("%s: %s needs labels.severity, annotations.summary and annotations.description", path, name))
				}
			}
		}
		fmt.Printf("%s: %d rules, every metric exported or external\n", path, n)
	}
	return errors.Join(errs...)
}

// pendingItem is a panel or alert planned for a metric the engine does not
// export yet. When the metric lands, add the panel or rule and delete the
// item.
type pendingItem struct {
	Metric string `yaml:"metric"`
	Type   string `yaml:"type"`
	Labels string `yaml:"labels"`
	Issue  int    `yaml:"issue"`
	Panel  string `yaml:"panel"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
}

func loadPending() ([]pendingItem, error) {
	data, err := os.ReadFile(pendingPath())
	if err != nil {
		return nil, err
	}
	var items []pendingItem
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&items); err != nil {
		return nil, fmt.Errorf("%s: %w", pendingPath(), err)
	}
	return items, nil
}

// pendingPath is pending.yaml beside the sources (go run sets no useful
// executable path, so the working directory or DEPLOYCHECK_PENDING says).
func pendingPath() string {
	if p := os.Getenv("DEPLOYCHECK_PENDING"); p != "" {
		return p
	}
	return "pending.yaml"
}

// reportPending lists planned panels and alerts whose metric the engine now
// exports. It does not fail: the metric may have landed under another
// name, which only a person can tell.
func reportPending(e *exported, w io.Writer) error {
	items, err := loadPending()
	if err != nil {
		return err
	}
	waiting := 0
	for _, it := range items {
		what := "panel " + it.Panel
		if it.Alert != "" {
			what = "alert " + it.Alert
		}
		if _, ok := e.series[it.Metric]; ok {
			fmt.Fprintf(w, "NOW EXPORTED: %s: add %s (expr: %s) and remove it from pending.yaml\n", it.Metric, what, it.Expr)
			continue
		}
		waiting++
	}
	fmt.Fprintf(w, "%d planned panels and alerts wait for metrics the engine does not export yet\n", waiting)
	return nil
}

// writeTable prints the metrics table of "Operating Kairos": the engine's
// own families (kairos_*), name, type and help, from a scrape.
func writeTable(e *exported, w io.Writer) {
	fmt.Fprintln(w, "| metric | type | labels | help |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	fmt.Fprintln(w, clientRow)
	for _, f := range e.sortedFamilies() {
		if !strings.HasPrefix(f.name, "kairos_") || strings.HasPrefix(f.name, clientPrefix) {
			continue
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", f.name, f.typ, f.labelList(), strings.ReplaceAll(f.help, "|", `\|`))
	}
}

// clientPrefix marks franz-go's own client metrics (plugin/kprom): which
// of them exist depends on what the clients have done so far (a per-broker
// series appears with the first request to that broker), so the table
// documents them as one group row instead of series by series.
const clientPrefix = "kairos_kafka_"

// clientRow is the group row of the metrics table.
const clientRow = "| `kairos_kafka_consumer_*`, `kairos_kafka_producer_*` | counter, histogram, gauge | node_id, topic | franz-go's client metrics (plugin/kprom), one set per client: connections, requests, bytes and records written and read, buffered records, latencies. |"

// tableRow matches a row of the metrics table: | `name` | type | help |
var tableRow = regexp.MustCompile("^\\| `(kairos_[a-z0-9_]+)` \\| ([a-z]+) \\|")

// checkDoc checks that the metrics table in a Markdown file lists every
// kairos_* family of the scrape with its type, and nothing the engine no
// longer exports.
func checkDoc(e *exported, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), clientRow) {
		return fmt.Errorf("%s: the metrics table lacks the franz-go client row:\n%s", path, clientRow)
	}
	documented := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if m := tableRow.FindStringSubmatch(line); m != nil {
			documented[m[1]] = m[2]
		}
	}
	var errs []error
	for _, f := range e.sortedFamilies() {
		if !strings.HasPrefix(f.name, "kairos_") || strings.HasPrefix(f.name, clientPrefix) {
			continue
		}
		switch typ, ok := documented[f.name]; {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: %s (%s) is exported but not in the metrics table; regenerate it with `deploycheck table`", path, f.name, f.typ))
		case typ != f.typ:
			errs = append(errs, fmt.Errorf("%s: %s is a %s, the table says %s", path, f.name, f.typ, typ))
		}
	}
	for name := range documented {
		if _, ok := e.families[name]; !ok {
			errs = append(errs, fmt.Errorf("%s: the metrics table lists %s, which the engine does not export", path, name))
		}
	}
	if len(errs) == 0 {
		fmt.Printf("%s: %d metrics documented, as exported\n", path, len(documented))
	}
	return errors.Join(errs...)
}

// checkYAML parses each file strictly: syntax errors and duplicate keys
// fail (yaml.v3 refuses duplicate mapping keys), every document must be a
// mapping.
func checkYAML(paths []string) error {
	var errs []error
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		docs := 0
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
				break
			}
			docs++
			if len(n.Content) == 0 || (n.Content[0].Kind != yaml.MappingNode && n.Content[0].Kind != yaml.SequenceNode) {
				errs = append(errs, fmt.Errorf("%s: document %d is not a mapping or list", path, docs))
			}
		}
	}
	if len(errs) == 0 {
		fmt.Printf("%d YAML files parse strictly\n", len(paths))
	}
	return errors.Join(errs...)
}
