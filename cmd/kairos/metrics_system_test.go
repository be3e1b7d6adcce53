package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/bench/synth"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/broker"
)

// TestSystemMetrics starts the real `kairos serve` (the test binary
// re-executed through TestMain), publishes events with some malformed ones
// among them, reads a contact through the API, and checks on /metrics that
// the series the dashboard and the alerts rely on exist, carry help text and
// move: records folded, dead letters by reason, batches, relay, API requests
// and latency, Pebble's own metrics, and the Go runtime and process series.
func TestSystemMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("system test starts the real binary")
	}
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: crashPartitions})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := startServe(t, b.Addr(), t.TempDir())
	defer func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.exited:
			if err != nil {
				t.Errorf("clean shutdown exited with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("no clean shutdown within 60s")
			p.kill(t)
		}
	}()
	api := p.waitAPI(t)
	waitReady(t, api)
	before := scrape(t, api)

	for _, name := range []string{
		"kairos_stream_records_total", "kairos_stream_deadletters_total", "kairos_stream_batch_records",
		"kairos_stream_batch_duration_seconds", "kairos_stream_assigned_partitions", "kairos_stream_outbox_inflight",
		"kairos_api_request_duration_seconds", "kairos_api_inflight_requests",
		"kairos_state_pebble_compactions_total", "kairos_state_pebble_read_amplification", "kairos_state_pebble_l0_files",
		"kairos_state_pebble_block_cache_hits_total", "kairos_state_pebble_disk_usage_bytes",
		"go_goroutines", "process_cpu_seconds_total",
	} {
		if before.help[name] == "" {
			t.Errorf("%s: not exported, or without help text", name)
		}
	}
	if got := before.value("kairos_stream_assigned_partitions"); got != crashPartitions {
		t.Errorf("kairos_stream_assigned_partitions = %v, want %d", got, crashPartitions)
	}

	gen := synth.New(synth.Config{Contacts: 200, Seed: 11, BadRate: 0.05})
	recs := gen.Batch(3000)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	krs := make([]*kgo.Record, len(recs))
	good, bad := 0, 0
	var contact string
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
		if r.Bad {
			bad++
			continue
		}
		good++
		if r.Topic == synth.TopicOrders && contact == "" {
			contact = string(r.Key)
		}
	}
	if bad == 0 || contact == "" {
		t.Fatalf("synthetic batch has %d bad records and contact %q; the test needs both", bad, contact)
	}
	if err := cl.ProduceSync(t.Context(), krs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Folding is asynchronous: wait until every good record was counted and
	// every bad one relayed to the dead-letter topic.
	var after metricsScrape
	deadline := time.Now().Add(60 * time.Second)
	for {
		after = scrape(t, api)
		folded := after.sum("kairos_stream_records_total", "topic", stream.DefaultTopics().Rekey) - before.sum("kairos_stream_records_total", "topic", stream.DefaultTopics().Rekey)
		dead := after.sum("kairos_stream_relayed_total", "topic", "kairos.deadletter") - before.sum("kairos_stream_relayed_total", "topic", "kairos.deadletter")
		if folded >= float64(good) && dead >= float64(bad) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 60s: %v of %d good records counted, %v of %d dead letters relayed", folded, good, dead, bad)
		}
		time.Sleep(100 * time.Millisecond)
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+api+"/v1/contacts/"+url.PathEscape(contact), nil)
	req.Header.Set("Authorization", "Bearer "+testReadKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET contact %s: %d", contact, resp.StatusCode)
	}
	after = scrape(t, api)

	for _, tc := range []struct {
		series string
		min    float64 // the least growth expected between the two scrapes
	}{
		{"kairos_stream_records_total", float64(good)},
		{"kairos_stream_deadletters_total", float64(bad)},
		{"kairos_stream_relayed_total", float64(bad)},
		{"kairos_stream_batch_records_count", 1},
		{"kairos_stream_batch_records_sum", float64(good)},
		{"kairos_stream_batch_duration_seconds_count", 1},
		{"kairos_api_requests_total", 1},
		{"kairos_api_request_duration_seconds_count", 1},
		{"kairos_state_pebble_wal_written_bytes_total", 1},
		{"kairos_state_pebble_disk_usage_bytes", 1},
		{"process_cpu_seconds_total", 0.001},
	} {
		if d := after.sum(tc.series, "", "") - before.sum(tc.series, "", ""); d < tc.min {
			t.Errorf("%s grew by %v, want at least %v", tc.series, d, tc.min)
		}
	}
	// Every dead letter carries one of the documented reasons as its label.
	for _, s := range after.samples["kairos_stream_deadletters_total"] {
		if s.labels["reason"] == "" {
			t.Errorf("dead-letter sample without reason: %v", s.labels)
		}
	}
}

// metricsScrape is one parsed /metrics page in the text exposition format.
type metricsScrape struct {
	help    map[string]string // family name -> help text
	samples map[string][]sample
}

type sample struct {
	labels map[string]string
	value  float64
}

// sum adds the samples of a series name, those whose label equals value
// excluded when label is set (to leave out the re-key topic, whose records
// are counted a second time when they arrive at their owner).
func (s metricsScrape) sum(name, label, exclude string) float64 {
	var v float64
	for _, x := range s.samples[name] {
		if label != "" && x.labels[label] == exclude {
			continue
		}
		v += x.value
	}
	return v
}

func (s metricsScrape) value(name string) float64 { return s.sum(name, "", "") }

func scrape(t *testing.T, api string) metricsScrape {
	t.Helper()
	resp, err := http.Get("http://" + api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	s, err := parseExposition(resp.Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	return s
}

// parseExposition reads the Prometheus text format: HELP lines and samples
// `name{a="x",b="y"} value`. Timestamps and exemplars are not used by the
// engine and are refused, so a change there is noticed.
func parseExposition(r io.Reader) (metricsScrape, error) {
	s := metricsScrape{help: map[string]string{}, samples: map[string][]sample{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			s.help[name] = help
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, labels := line, map[string]string{}
		var valueText string
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return s, fmt.Errorf("line %d: unbalanced braces: %q", n, line)
			}
			name = line[:i]
			if err := parseLabels(line[i+1:j], labels); err != nil {
				return s, fmt.Errorf("line %d: %w", n, err)
			}
			valueText = strings.TrimSpace(line[j+1:])
		} else {
			var ok bool
			if name, valueText, ok = strings.Cut(line, " "); !ok {
				return s, fmt.Errorf("line %d: no value: %q", n, line)
			}
		}
		v, err := strconv.ParseFloat(valueText, 64)
		if err != nil {
			return s, fmt.Errorf("line %d: value of %s: %w", n, name, err)
		}
		s.samples[name] = append(s.samples[name], sample{labels: labels, value: v})
	}
	return s, sc.Err()
}

func parseLabels(text string, into map[string]string) error {
	for text != "" {
		name, rest, ok := strings.Cut(text, "=")
		if !ok {
			return fmt.Errorf("label without value in %q", text)
		}
		// The value is a Go-style quoted string; find its end.
		end := 1
		for ; end < len(rest); end++ {
			if rest[end] == '\\' {
				end++
				continue
			}
			if rest[end] == '"' {
				break
			}
		}
		if end >= len(rest) {
			return fmt.Errorf("unterminated label value in %q", text)
		}
		v, err := strconv.Unquote(rest[:end+1])
		if err != nil {
			return fmt.Errorf("label %s: %w", name, err)
		}
		into[name] = v
		text = strings.TrimPrefix(rest[end+1:], ",")
	}
	return nil
}
