package api

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/sendtime"
)

// published is what NBA.Publish was handed.
type published struct {
	topic              string
	key, target, value string
}

type publishLog struct {
	mu   sync.Mutex
	recs []published
}

func (p *publishLog) publish(topic string, key, target, value []byte, done func(error)) {
	p.mu.Lock()
	p.recs = append(p.recs, published{topic, string(key), string(target), string(value)})
	p.mu.Unlock()
	done(nil)
}

func (p *publishLog) last(t *testing.T) published {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.recs) == 0 {
		t.Fatal("nothing published")
	}
	return p.recs[len(p.recs)-1]
}

type nbaEnv struct {
	base string
	pub  *publishLog
	reg  *prometheus.Registry
	cat  *nba.Catalogue
}

func newNBAEnv(t *testing.T, mod func(*NBA)) *nbaEnv {
	t.Helper()
	return newNBAEnvConfig(t, mod, nil)
}

// newNBAEnvConfig is newNBAEnv with the server's Config adjusted by cfg.
func newNBAEnvConfig(t *testing.T, mod func(*NBA), cfg func(*Config)) *nbaEnv {
	t.Helper()
	cat, err := nba.DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	var pol atomic.Pointer[nba.Policy]
	pol.Store(nba.NewPolicy(cat, nil))
	var fit atomic.Pointer[sendtime.Fit]
	fit.Store(sendtime.Uniform())
	env := &nbaEnv{pub: &publishLog{}, reg: prometheus.NewRegistry(), cat: cat}
	n := NBA{
		Policy:  &pol,
		Publish: env.pub.publish,
		Fit:     &fit,
		Explore: 0.1,
		Report: func(level float64) nba.Report {
			s := nba.NewStats()
			s.Add(nba.Key{Action: "welcome-offer", Group: "homepage/visitor"}, nba.Counts{Impressions: 10, Conversions: 2})
			s.AddDecision(false)
			return nba.NewReport(cat, s, level)
		},
	}
	if mod != nil {
		mod(&n)
	}
	c := Config{
		Store: fixture(t), PartitionOf: testPartitionOf, Registerer: env.reg,
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return time.UnixMilli(t0 + 14*day) },
		NBA:    n,
	}
	if cfg != nil {
		cfg(&c)
	}
	env.base = realServer(t, c)
	return env
}

// decisionDoc is a next-best-action answer.
type decisionDoc struct {
	DecisionID string  `json:"decision_id"`
	Placement  string  `json:"placement"`
	Policy     string  `json:"policy"`
	Fallback   *string `json:"fallback"`
	Actions    []struct {
		ID         string   `json:"id"`
		Rank       int      `json:"rank"`
		Score      *float64 `json:"score"`
		Propensity *float64 `json:"propensity"`
		Reason     string   `json:"reason"`
	} `json:"actions"`
	Explain []nba.Verdict `json:"explain"`
}

func getDecision(t *testing.T, env *nbaEnv, path string) decisionDoc {
	t.Helper()
	r := httpGet(t, env.base, path)
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var d decisionDoc
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, r.body)
	}
	if _, err := nba.ParseDecisionID(d.DecisionID); err != nil {
		t.Fatalf("decision_id %q: %v", d.DecisionID, err)
	}
	// Browsers call this route: nothing of the profile may leak.
	for _, secret := range []string{"ann@example.com", "Amsterdam", "+31600000000", "sku-9", "gold", `"42"`} {
		if strings.Contains(string(r.body), secret) {
			t.Fatalf("answer reveals profile data %q: %s", secret, r.body)
		}
	}
	return d
}

func TestNextBestAction(t *testing.T) {
	env := newNBAEnv(t, nil)
	tests := []struct {
		name, path       string
		wantKey, wantTgt string
		wantN            int
	}{
		{"known contact", "/v1/contacts/42/next-best-action?placement=homepage&n=3", "42", "c:42", 3},
		{"by email", "/v1/contacts/ann%40example.com/next-best-action?placement=cart&n=1", "42", "c:42", 1},
		{"by anonymous id", "/v1/contacts/anon-x/next-best-action?placement=product_page", "anon-x", "a:anon-x", 3},
		{"unknown id is a new visitor", "/v1/contacts/never-seen-visitor/next-best-action?placement=homepage&n=2", "never-seen-visitor", "a:never-seen-visitor", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := getDecision(t, env, tc.path)
			if len(d.Actions) == 0 || len(d.Actions) > tc.wantN || d.Fallback != nil {
				t.Fatalf("actions %d (fallback %v), want 1..%d", len(d.Actions), d.Fallback, tc.wantN)
			}
			for i, a := range d.Actions {
				if a.ID == "" || a.Rank != i+1 || a.Score == nil || a.Propensity == nil || *a.Propensity <= 0 || a.Reason == "" {
					t.Errorf("action %d: %+v", i, a)
				}
				if i > 0 && *a.Score > *d.Actions[i-1].Score {
					t.Errorf("not ranked: %v after %v", *a.Score, *d.Actions[i-1].Score)
				}
			}
			p := env.pub.last(t)
			if p.topic != nba.DecisionsTopic || p.key != tc.wantKey || p.target != tc.wantTgt {
				t.Fatalf("published to %s key %q target %q", p.topic, p.key, p.target)
			}
			var rec nba.DecisionRecord
			if err := json.Unmarshal([]byte(p.value), &rec); err != nil {
				t.Fatalf("decision record %s: %v", p.value, err)
			}
			if rec.DecisionID.String() != strings.ToLower(d.DecisionID) || len(rec.Choices) != len(d.Actions) ||
				rec.Choices[0].Action != d.Actions[0].ID || rec.Choices[0].Propensity != *d.Actions[0].Propensity && !close6(rec.Choices[0].Propensity, *d.Actions[0].Propensity) ||
				rec.Placement != d.Placement || !strings.HasPrefix(rec.Group, d.Placement+"/") || rec.Catalogue != env.cat.Version() {
				t.Fatalf("record %+v does not match answer %+v", rec, d)
			}
		})
	}
}

func TestNextBestActionExplain(t *testing.T) {
	env := newNBAEnv(t, nil)
	d := getDecision(t, env, "/v1/contacts/42/next-best-action?placement=homepage&explain=true")
	if len(d.Explain) != len(env.cat.Actions()) {
		t.Fatalf("explain has %d verdicts, catalogue %d actions", len(d.Explain), len(env.cat.Actions()))
	}
	eligible, why := 0, map[string]int{}
	for _, v := range d.Explain {
		if v.Eligible {
			eligible++
			continue
		}
		why[v.Reason]++
		if v.Reason == nba.ReasonCondition && v.Condition == "" {
			t.Errorf("%s: condition failed but not named", v.Action)
		}
	}
	if eligible == 0 || why[nba.ReasonPlacement] == 0 || why[nba.ReasonCondition] == 0 {
		t.Fatalf("eligible %d, reasons %v", eligible, why)
	}
	for _, a := range d.Actions {
		for _, v := range d.Explain {
			if v.Action == a.ID && !v.Eligible {
				t.Errorf("chosen %s is explained ineligible (%s)", a.ID, v.Reason)
			}
		}
	}
}

func TestNextBestActionBadRequests(t *testing.T) {
	env := newNBAEnv(t, nil)
	for _, path := range []string{
		"/v1/contacts/42/next-best-action",
		"/v1/contacts/42/next-best-action?placement=",
		"/v1/contacts/42/next-best-action?placement=footer",
		"/v1/contacts/42/next-best-action?placement=homepage&n=0",
		"/v1/contacts/42/next-best-action?placement=homepage&n=21",
		"/v1/contacts/42/next-best-action?placement=homepage&n=two",
		"/v1/contacts/42/next-best-action?placement=homepage&explain=maybe",
		"/v1/contacts/" + strings.Repeat("x", MaxIDLen+1) + "/next-best-action?placement=homepage",
		"/v1/contacts/42/send-time?channel=sms",
		"/v1/contacts/42/send-time?within=30m",
		"/v1/contacts/42/send-time?within=169h",
		"/v1/contacts/42/send-time?from=yesterday",
		"/v1/models/nba?level=1.5",
	} {
		t.Run(path, func(t *testing.T) {
			checkError(t, httpGet(t, env.base, path), 400, "bad_request")
		})
	}
}

func TestNextBestActionFallbackOnBudget(t *testing.T) {
	env := newNBAEnv(t, func(n *NBA) { n.Budget = time.Nanosecond })
	d := getDecision(t, env, "/v1/contacts/42/next-best-action?placement=homepage&n=3")
	want := env.cat.Fallback("homepage")
	if d.Fallback == nil || *d.Fallback != "budget" || len(d.Actions) != 1 || d.Actions[0].ID != want.ID {
		t.Fatalf("fallback %v actions %+v, want the budget fallback %s", d.Fallback, d.Actions, want.ID)
	}
	c, err := env.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range c {
		if mf.GetName() != "kairos_api_nba_fallbacks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == "budget" && m.GetCounter().GetValue() == 1 {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("kairos_api_nba_fallbacks_total{reason=budget} is not 1")
	}
	// The fallback is logged like a decision: its impression counts.
	var rec nba.DecisionRecord
	if err := json.Unmarshal([]byte(env.pub.last(t).value), &rec); err != nil || !rec.Choices[0].Fallback {
		t.Fatalf("fallback record %+v, %v", rec, err)
	}
}

func TestSendTime(t *testing.T) {
	env := newNBAEnv(t, nil)
	for _, tc := range []struct{ path, source string }{
		{"/v1/contacts/42/send-time?channel=email&from=2025-03-17T08:00:00Z&within=24h", "prior"},
		{"/v1/contacts/somebody-new/send-time?within=6h", "prior"},
	} {
		r := httpGet(t, env.base, tc.path)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", tc.path, r.status, r.body)
		}
		var doc struct {
			SendAt     time.Time `json:"send_at"`
			P          float64   `json:"probability"`
			Source     string    `json:"source"`
			Explore    float64   `json:"exploration_share"`
			Explored   *bool     `json:"explored"`
			WithinHour float64   `json:"within_hours"`
			From       time.Time `json:"from"`
			Hours      []struct {
				Start time.Time `json:"start"`
				P, SD float64
			} `json:"hours"`
		}
		if err := json.Unmarshal(r.body, &doc); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		if doc.Source != tc.source || doc.Explore != 0.1 || doc.Explored == nil || doc.P <= 0 || doc.P > 1 {
			t.Fatalf("%s: %+v", tc.path, doc)
		}
		if n := len(doc.Hours); n < int(doc.WithinHour) || n > int(doc.WithinHour)+1 {
			t.Fatalf("%d hours for a %vh window", n, doc.WithinHour)
		}
		if doc.SendAt.Before(doc.From) || !doc.SendAt.Before(doc.From.Add(time.Duration(doc.WithinHour)*time.Hour)) {
			t.Fatalf("send_at %v outside the window from %v", doc.SendAt, doc.From)
		}
	}
}

func postJSON(t *testing.T, base, path, body string) response {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(base + path)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetBodyString(body)
	if err := httpClient.Do(req, resp); err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	r := response{status: resp.StatusCode(), body: append([]byte(nil), resp.Body()...), header: new(fasthttp.ResponseHeader)}
	resp.Header.CopyTo(r.header)
	return r
}

func TestPostOutcome(t *testing.T) {
	env := newNBAEnv(t, nil)
	d := getDecision(t, env, "/v1/contacts/42/next-best-action?placement=homepage")
	path := "/v1/decisions/" + d.DecisionID + "/outcome?id=ann%40example.com"
	r := postJSON(t, env.base, path, `{"action_id":"`+d.Actions[0].ID+`","outcome":"click","timestamp":"2025-03-15T10:00:00Z"}`)
	if r.status != 202 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	p := env.pub.last(t)
	var ev struct {
		ID, Type, ContactID, Timestamp string
		Properties                     map[string]string
	}
	if err := json.Unmarshal([]byte(p.value), &ev); err != nil {
		t.Fatal(err)
	}
	var idField struct {
		ContactID string `json:"contact_id"`
	}
	_ = json.Unmarshal([]byte(p.value), &idField)
	if p.topic != "kairos.clickstream" || p.key != "42" || ev.Type != "action_click" || idField.ContactID != "42" ||
		ev.Properties["decision_id"] != d.DecisionID || ev.Properties["action_id"] != d.Actions[0].ID || ev.Timestamp != "2025-03-15T10:00:00Z" {
		t.Fatalf("published %+v: %+v", p, ev)
	}
	// A retry publishes the same event id: the fold drops the duplicate.
	postJSON(t, env.base, path, `{"action_id":"`+d.Actions[0].ID+`","outcome":"click","timestamp":"2025-03-15T10:00:00Z"}`)
	var again struct{ ID string }
	_ = json.Unmarshal([]byte(env.pub.last(t).value), &again)
	if again.ID != ev.ID {
		t.Fatalf("retry event id %q, first %q", again.ID, ev.ID)
	}

	for _, tc := range []struct{ path, body string }{
		{"/v1/decisions/xyz/outcome?id=42", `{"action_id":"welcome-offer","outcome":"click"}`},
		{"/v1/decisions/" + d.DecisionID + "/outcome?id=42", `{"action_id":"no-such-action","outcome":"click"}`},
		{"/v1/decisions/" + d.DecisionID + "/outcome?id=42", `{"action_id":"welcome-offer","outcome":"bought"}`},
		{"/v1/decisions/" + d.DecisionID + "/outcome?id=42", `{"action_id":"welcome-offer","outcome":"order","value":3}`},
		{"/v1/decisions/" + d.DecisionID + "/outcome?id=42", `{"action_id":"welcome-offer","outcome":"click","extra":1}`},
		{"/v1/decisions/" + d.DecisionID + "/outcome", `{"action_id":"welcome-offer","outcome":"click"}`},
		{"/v1/decisions/" + d.DecisionID + "/outcome?id=42", `{"decision_id":"ffffffffffffffffffffffffffffffff","action_id":"welcome-offer","outcome":"click"}`},
	} {
		checkError(t, postJSON(t, env.base, tc.path, tc.body), 400, "bad_request")
	}
	r = httpGet(t, env.base, "/v1/decisions/"+d.DecisionID+"/outcome")
	checkError(t, r, 405, "method_not_allowed")
	if got := string(r.header.Peek("Allow")); got != "POST" {
		t.Fatalf("Allow %q", got)
	}
}

func TestNBAModel(t *testing.T) {
	env := newNBAEnv(t, nil)
	r := httpGet(t, env.base, "/v1/models/nba?level=0.9")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var rep nba.Report
	if err := json.Unmarshal(r.body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Level != 0.9 || len(rep.Actions) != len(env.cat.Actions()) {
		t.Fatalf("report %+v", rep)
	}
	for _, a := range rep.Actions {
		if a.Action == "welcome-offer" && (a.Learning.Impressions != 10 || a.Learning.Conversions != 2 || a.Learning.Lower >= a.Learning.Upper) {
			t.Fatalf("welcome-offer %+v", a)
		}
	}
}

func TestNBADisabled(t *testing.T) {
	base := realServer(t, Config{Store: fixture(t), PartitionOf: testPartitionOf})
	for _, path := range []string{"/v1/contacts/42/next-best-action?placement=homepage", "/v1/contacts/42/send-time", "/v1/models/nba"} {
		checkError(t, httpGet(t, base, path), 503, "model_unavailable")
	}
}

// TestNBAMetricsAtStartup: the fallback counters exist before any
// fallback, so dashboards and alerts see zeros, not absent series.
func TestNBAMetricsAtStartup(t *testing.T) {
	env := newNBAEnv(t, nil)
	if n, err := testutil.GatherAndCount(env.reg, "kairos_api_nba_fallbacks_total"); err != nil || n != 3 {
		t.Fatalf("fallback series %d, %v", n, err)
	}
}
