package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/stream/broker"
)

// TestSystemLearningLoop closes next-best-action's learning loop through
// the real binary: `kairos serve` decides for known contacts and logs
// each decision with its feature vector; outcomes posted to the API come
// back as events, the engine attributes them and writes outcome records
// to kairos.decisions; `kairos train propensity` reads that log and finds
// one example per decision, converted exactly where a click was posted.
func TestSystemLearningLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("system test starts the real binary")
	}
	dir := t.TempDir()
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, api, _ := serveForTest(t, b.Addr(), dir)

	// Known contacts, one page view each: no identity merges, so each id
	// is one contact and its decision the only one that showed its action.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var ids []string
	now := time.Now().UTC()
	for i := range 24 {
		id := fmt.Sprintf("learner-%02d", i)
		ids = append(ids, id)
		ev := fmt.Sprintf(`{"id":"learn-%d","type":"page_view","contact_id":%q,"timestamp":%q,"properties":{"url":"https://shop.example/c/shoes","category":"shoes"}}`,
			i, id, now.Add(-time.Duration(i)*time.Hour).Format(time.RFC3339Nano))
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "kairos.clickstream", Key: []byte(id), Value: []byte(ev)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+api+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testReadKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(rb)
	}
	for _, id := range ids {
		for deadline := time.Now().Add(60 * time.Second); ; {
			if status, _ := call("GET", "/v1/contacts/"+url.PathEscape(id), ""); status == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("contact %s not served within 60s", id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	metric := func(series string) float64 {
		t.Helper()
		_, body := call("GET", "/metrics", "")
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			return 0
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	waitMetric := func(series string, want float64) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); metric(series) < want; {
			if time.Now().After(deadline) {
				_, body := call("GET", "/metrics", "")
				var nba []string
				for _, l := range strings.Split(body, "\n") {
					if strings.HasPrefix(l, "kairos_stream_nba_") {
						nba = append(nba, l)
					}
				}
				t.Fatalf("%s stayed at %v, want %v\n%s", series, metric(series), want, strings.Join(nba, "\n"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// One decision per contact; a click on every other one's action.
	type decision struct{ id, action string }
	var ds []decision
	for _, id := range ids {
		status, body := call("GET", "/v1/contacts/"+url.PathEscape(id)+"/next-best-action?placement=homepage&n=1", "")
		var d struct {
			DecisionID string `json:"decision_id"`
			Actions    []struct {
				ID string `json:"id"`
			} `json:"actions"`
		}
		if status != 200 || json.Unmarshal([]byte(body), &d) != nil || len(d.Actions) != 1 {
			t.Fatalf("next-best-action for %s: %d %s", id, status, body)
		}
		ds = append(ds, decision{d.DecisionID, d.Actions[0].ID})
	}
	waitMetric(`kairos_stream_nba_decisions_total{result="recorded"}`, float64(len(ds)))
	clicks := 0
	for i, d := range ds {
		if i%2 != 0 {
			continue
		}
		body := fmt.Sprintf(`{"action_id":%q,"outcome":"click"}`, d.action)
		if status, rb := call("POST", "/v1/decisions/"+d.id+"/outcome?id="+url.QueryEscape(ids[i]), body); status != 202 && status != 200 {
			t.Fatalf("outcome for %s: %d %s", d.id, status, rb)
		}
		clicks++
	}
	waitMetric(`kairos_stream_nba_outcome_records_total{result="queued"}`, float64(clicks))

	// A later decision moves the log's end past the others' attribution
	// window (2 s here), so their outcomes are final.
	time.Sleep(2500 * time.Millisecond)
	if status, body := call("GET", "/v1/contacts/"+url.PathEscape(ids[0])+"/next-best-action?placement=homepage&n=1", ""); status != 200 {
		t.Fatalf("last decision: %d %s", status, body)
	}
	waitMetric(`kairos_stream_nba_decisions_total{result="recorded"}`, float64(len(ds)+1))

	var stdout, stderr bytes.Buffer
	out := filepath.Join(dir, "propensity.mlp")
	code := run([]string{"train", "propensity", "--brokers", b.Addr(), "--out", out, "--min-examples", "1", "--attribution", "2s"}, nil, &stdout, &stderr)
	want := fmt.Sprintf("%d decisions (0 without features, 0 of another feature version, 0 before --since), %d outcomes (0 unmatched), 0 malformed; %d examples, %d converted, 1 left out",
		len(ds)+1, clicks, len(ds), clicks)
	if !strings.Contains(stdout.String(), want) {
		t.Fatalf("train propensity (exit %d): want %q in\nstdout:\n%s\nstderr:\n%s", code, want, stdout.String(), stderr.String())
	}
	// Whether two dozen examples train a model is not this test's
	// question (TestTrainCommand and stream/decisionlog's tests train);
	// the pure build cannot train at all and must say it failed.
	if !torchBuild() && code != 1 {
		t.Fatalf("pure build: exit %d, want 1; stderr %s", code, stderr.String())
	}
}
