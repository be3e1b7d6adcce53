package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/population"
)

// scoresNow is the server's clock in the scores tests: 14 days after t0.
var scoresNow = t0 + 14*day

var (
	testBG = churn.BGNBD{R: 0.2426, Alpha: 4.4136, A: 0.7929, B: 2.4259}
	testGG = churn.GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
	// pastBG is what the fake population "fitted" at past instants:
	// different enough that a response shows which fit it used.
	pastBG = churn.BGNBD{R: 0.5, Alpha: 8, A: 0.5, B: 4}
)

// fakePopulation is a Population with fixed reports: latest, and for
// any past instant the report past with its instant set.
type fakePopulation struct {
	mu     sync.Mutex
	latest *scoring.Report
	past   scoring.Population
	err    error
	asked  []int64
}

func (f *fakePopulation) Latest() *scoring.Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latest
}

func (f *fakePopulation) At(_ context.Context, at int64) (*scoring.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, at)
	if f.err != nil {
		return nil, f.err
	}
	p := f.past
	p.At = time.UnixMilli(at)
	sum := scoring.NewSummary(at)
	sum.Contacts = 7
	return &scoring.Report{Summary: sum, Population: p}, nil
}

func (f *fakePopulation) calls() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.asked...)
}

// latestReport is a refresh at scoresNow with counts per stage and
// segment and both models fitted.
func latestReport() *scoring.Report {
	sum := scoring.NewSummary(scoresNow)
	sum.Partitions, sum.Contacts = 6, 120
	sum.Stages[lead.StageVisitor], sum.Stages[lead.StageLead], sum.Stages[lead.StageCustomer], sum.Stages[lead.StageLapsed] = 60, 30, 25, 5
	sum.Segments[rfm.Champions], sum.Segments[rfm.Lost], sum.Segments[rfm.AtRisk] = 4, 20, 6
	return &scoring.Report{
		Summary: sum,
		Population: scoring.Population{
			At: time.UnixMilli(scoresNow), Customers: 30, BG: testBG, BGFitted: true, GG: testGG, GGFitted: true,
			BGInfo:     churn.FitInfo{LogLikelihood: -9582.429, Iterations: 31, Duration: 12 * time.Millisecond, Converged: true},
			GGInfo:     churn.FitInfo{LogLikelihood: -4000.5, Iterations: 12, Duration: 3 * time.Millisecond, Converged: true},
			Partitions: 6, PartitionsTotal: 8, FittedAt: time.UnixMilli(scoresNow + 1500), FitDuration: 15 * time.Millisecond,
		},
		Scan: 40 * time.Millisecond,
	}
}

func scoringModels(t testing.TB, pop scoring.Population) *atomic.Pointer[scoring.Models] {
	t.Helper()
	plan, err := lead.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.New(plan, scoring.Config{}, pop)
	if err != nil {
		t.Fatal(err)
	}
	var p atomic.Pointer[scoring.Models]
	p.Store(m)
	return &p
}

func putContact(t testing.TB, st *state.Store, c *state.Contact) {
	t.Helper()
	pt, err := st.Partition(testPartitionOf(c.Key.Value()))
	if err != nil {
		t.Fatal(err)
	}
	b := pt.NewBatch()
	if err := b.PutContact(c); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

type propMap map[string]string

func (p propMap) Prop(name string) (string, bool) {
	v, ok := p[name]
	return v, ok
}

// buyerContact is a customer in Chicago with three purchase days, some
// behaviour, a stage transition and a segment transition.
func buyerContact(m *scoring.Models) *state.Contact {
	d := int32(t0 / day)
	c := &state.Contact{Key: "c:buyer", ContactID: "buyer", TimeZone: "America/Chicago", FirstSeen: t0 - 200*day, LastSeen: t0,
		Orders: state.Orders{Count: 4, Placed: 4, Revenue: 15500, First: t0 - 200*day, Last: t0 - 30*day},
		Purchases: []state.PurchaseDay{
			{Day: d - 200, Orders: 1, Spend: 4000}, {Day: d - 120, Orders: 2, Spend: 9000}, {Day: d - 30, Orders: 1, Spend: 2500}},
	}
	m.Lead.Apply(&c.Scores, state.EventPageView, t0-2*day, propMap{"url": "/pricing"}, c)
	m.Lead.Apply(&c.Scores, state.EventFormSubmit, t0-day, propMap{"form": "whitepaper-download"}, c)
	c.Scores.Segment, c.Scores.SegmentDay = uint8(rfm.PotentialLoyalists), d
	c.Scores.Transitions = append(c.Scores.Transitions, state.Transition{Kind: state.TransitionSegment, From: uint8(rfm.NewCustomers), To: uint8(rfm.PotentialLoyalists), At: t0})
	return c
}

// realServer serves cfg on a real loopback port and returns its base URL.
func realServer(t *testing.T, cfg Config) string {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-srv.Listening():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return "http://" + srv.Addr()
}

var httpClient = &fasthttp.Client{ReadTimeout: time.Minute, WriteTimeout: 10 * time.Second}

func httpGet(t *testing.T, base, path string) response {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(base + path)
	if err := httpClient.Do(req, resp); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	r := response{status: resp.StatusCode(), body: append([]byte(nil), resp.Body()...), header: new(fasthttp.ResponseHeader)}
	resp.Header.CopyTo(r.header)
	return r
}

// scoresDoc is the scores object of a profile.
type scoresDoc struct {
	At   string `json:"at"`
	Lead struct {
		Score       float64 `json:"score"`
		Behaviour   float64 `json:"behaviour"`
		Fit         float64 `json:"fit"`
		Stage       string  `json:"stage"`
		StageSince  *string `json:"stage_since"`
		PlanVersion string  `json:"plan_version"`
		Why         []struct {
			Rule, Group, Kind string
			Points            float64
			Description       *string
		} `json:"why"`
	} `json:"lead"`
	RFM *struct {
		RecencyDays  float64 `json:"recency_days"`
		Frequency    float64 `json:"frequency"`
		Monetary     float64 `json:"monetary"`
		R, F, M      int
		Segment      string  `json:"segment"`
		Grade        string  `json:"grade"`
		DailySegment *string `json:"daily_segment"`
	} `json:"rfm"`
	Churn *struct {
		PAlive        float64  `json:"p_alive"`
		Expected30    float64  `json:"expected_purchases_30d"`
		Expected90    float64  `json:"expected_purchases_90d"`
		OrderValue    *float64 `json:"expected_order_value"`
		CLV           *float64 `json:"clv"`
		CLVMonths     int      `json:"clv_months"`
		Risk          string   `json:"risk"`
		RepeatPurchas float64  `json:"repeat_purchases"`
	} `json:"churn"`
	Transitions []struct {
		Kind, From, To, At string
	} `json:"transitions"`
}

// profileScores fetches a profile and returns its scores object, checking
// that every field is present (null included).
func profileScores(t *testing.T, base, path string) scoresDoc {
	t.Helper()
	r := httpGet(t, base, path)
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var raw struct {
		Scores map[string]json.RawMessage `json:"scores"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, r.body)
	}
	for _, k := range []string{"at", "lead", "rfm", "churn", "transitions"} {
		if _, ok := raw.Scores[k]; !ok {
			t.Errorf("GET %s: scores has no %q: %s", path, k, r.body)
		}
	}
	var doc struct {
		Scores *scoresDoc `json:"scores"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil || doc.Scores == nil {
		t.Fatalf("GET %s: scores %v: %s", path, err, r.body)
	}
	return *doc.Scores
}

func close6(got, want float64) bool {
	return math.Abs(got-want) <= 1e-5*math.Max(1e-3, math.Abs(want))
}

func isoMillis(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }

func scoresServer(t *testing.T, pop Population) (string, *atomic.Pointer[scoring.Models], *state.Contact) {
	t.Helper()
	st := fixture(t)
	models := scoringModels(t, latestReport().Population)
	buyer := buyerContact(models.Load())
	putContact(t, st, buyer)
	lc := &state.Contact{Key: "c:lead", ContactID: "lead", LastSeen: t0}
	models.Load().Lead.Apply(&lc.Scores, state.EventFormSubmit, t0, propMap{"form": "request-demo"}, lc)
	putContact(t, st, lc)
	base := realServer(t, Config{Store: st, PartitionOf: testPartitionOf, Models: models, Population: pop,
		Now: func() time.Time { return time.UnixMilli(scoresNow) }})
	return base, models, buyer
}

// TestScoresObject: a customer's profile carries lead, RFM, churn and
// transitions, equal to what the models compute at the server's now.
func TestScoresObject(t *testing.T) {
	base, models, buyer := scoresServer(t, &fakePopulation{latest: latestReport()})
	m := models.Load()
	want := m.Evaluate(buyer, scoresNow, nil)
	if !want.HasChurn {
		t.Fatal("premise: the buyer has churn figures")
	}
	for _, path := range []string{"/v1/contacts/buyer", "/v1/contacts/buyer?at=" + url.QueryEscape(isoMillis(scoresNow))} {
		sc := profileScores(t, base, path)
		if sc.At != isoMillis(scoresNow) {
			t.Errorf("%s: at %s", path, sc.At)
		}
		l := sc.Lead
		if !close6(l.Score, want.Lead.Total) || !close6(l.Behaviour, want.Lead.Behaviour) || l.Fit != want.Lead.Fit ||
			l.Stage != "customer" || l.PlanVersion != m.Lead.Version() || l.StageSince == nil || *l.StageSince != isoMillis(buyer.Scores.StageAt) {
			t.Errorf("%s: lead %+v, want %+v", path, l, want.Lead)
		}
		if len(l.Why) != len(want.Lead.Top) || len(l.Why) != 2 || l.Why[0].Rule != want.Lead.Top[0].Rule || l.Why[0].Kind != "behaviour" ||
			!close6(l.Why[0].Points, want.Lead.Top[0].Points) || l.Why[0].Description == nil {
			t.Errorf("%s: why %+v, want %+v", path, l.Why, want.Lead.Top)
		}
		r := sc.RFM
		if r == nil {
			t.Fatalf("%s: rfm null for a customer", path)
		}
		wr := want.RFM
		if r.RecencyDays != wr.RecencyDays || r.Frequency != wr.Frequency || !close6(r.Monetary, wr.Monetary) ||
			r.R != wr.Score.R || r.F != wr.Score.F || r.M != wr.Score.M || r.Segment != wr.Segment.String() || r.Grade != wr.Grade ||
			r.DailySegment == nil || *r.DailySegment != rfm.PotentialLoyalists.String() {
			t.Errorf("%s: rfm %+v, want %+v", path, *r, wr)
		}
		// 14 days after t0: 44 days after the last purchase, 4 orders, 155.00.
		if r.RecencyDays != 44 || r.Frequency != 4 || r.Monetary != 155 {
			t.Errorf("%s: raw rfm %v/%v/%v, want 44/4/155", path, r.RecencyDays, r.Frequency, r.Monetary)
		}
		ch, wc := sc.Churn, want.Churn
		if ch == nil {
			t.Fatalf("%s: churn null for a customer", path)
		}
		if !close6(ch.PAlive, wc.PAlive) || !close6(ch.Expected30, wc.Expected30) || !close6(ch.Expected90, wc.Expected90) ||
			ch.OrderValue == nil || !close6(*ch.OrderValue, wc.ExpectedValue) || ch.CLV == nil || !close6(*ch.CLV, wc.CLV) ||
			ch.CLVMonths != 12 || ch.Risk != wc.Band.String() || ch.RepeatPurchas != 2 {
			t.Errorf("%s: churn %+v, want %+v", path, *ch, wc)
		}
		var kinds []string
		for _, tr := range sc.Transitions {
			kinds = append(kinds, tr.Kind+":"+tr.From+"→"+tr.To)
		}
		if got := strings.Join(kinds, ","); got != "stage:unknown→customer,segment:New customers→Potential loyalists" {
			t.Errorf("%s: transitions %s", path, got)
		}
	}
}

// TestScoresNonBuyer: a lead has a lead score and null rfm and churn.
func TestScoresNonBuyer(t *testing.T) {
	base, _, _ := scoresServer(t, &fakePopulation{latest: latestReport()})
	sc := profileScores(t, base, "/v1/contacts/lead")
	if sc.RFM != nil || sc.Churn != nil {
		t.Errorf("rfm %+v churn %+v for a non-buyer, want null", sc.RFM, sc.Churn)
	}
	// 30 demo points 14 days ago, half-life 30 days.
	if want := 30 * math.Pow(2, -14.0/30); !close6(sc.Lead.Score, want) || sc.Lead.Stage != "lead" {
		t.Errorf("lead %v %s, want %v lead", sc.Lead.Score, sc.Lead.Stage, want)
	}
	if len(sc.Transitions) != 1 || sc.Transitions[0].To != "lead" {
		t.Errorf("transitions %+v", sc.Transitions)
	}
	// A customer before its first purchase is no buyer either.
	if sc := profileScores(t, base, "/v1/contacts/buyer?at="+url.QueryEscape(isoMillis(t0-300*day))); sc.RFM != nil || sc.Churn != nil {
		t.Errorf("before the first purchase: rfm %+v churn %+v", sc.RFM, sc.Churn)
	}
}

// TestScoresAt: ?at= moves recency and P(alive); an instant before the
// last refresh is scored with the population fitted at that instant.
func TestScoresAt(t *testing.T) {
	fake := &fakePopulation{latest: latestReport(), past: scoring.Population{BG: pastBG, BGFitted: true, Customers: 3}}
	base, models, buyer := scoresServer(t, fake)
	later := scoresNow + 60*day
	sNow := profileScores(t, base, "/v1/contacts/buyer")
	sLater := profileScores(t, base, "/v1/contacts/buyer?at="+url.QueryEscape(time.UnixMilli(later).UTC().Format(time.RFC3339)))
	if sLater.RFM == nil || sNow.RFM == nil || sLater.RFM.RecencyDays != sNow.RFM.RecencyDays+60 {
		t.Fatalf("recency now %+v, 60 days later %+v", sNow.RFM, sLater.RFM)
	}
	if !(sLater.Churn.PAlive < sNow.Churn.PAlive) {
		t.Errorf("P(alive) now %v, 60 days later %v: want lower", sNow.Churn.PAlive, sLater.Churn.PAlive)
	}
	if want := models.Load().Evaluate(buyer, later, nil); !close6(sLater.Churn.PAlive, want.Churn.PAlive) {
		t.Errorf("P(alive) later %v, want %v", sLater.Churn.PAlive, want.Churn.PAlive)
	}
	if n := len(fake.calls()); n != 0 {
		t.Errorf("instants at or after the last refresh asked the population %d times", n)
	}
	// Before the refresh: the past fit, whose Gamma-Gamma is missing.
	earlier := scoresNow - 5*day
	sPast := profileScores(t, base, "/v1/contacts/buyer?at="+url.QueryEscape(time.UnixMilli(earlier).In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano)))
	if calls := fake.calls(); len(calls) != 1 || calls[0] != earlier {
		t.Fatalf("population asked for %v, want [%d]", calls, earlier)
	}
	want := models.Load().WithPopulation(scoring.Population{BG: pastBG, BGFitted: true, Customers: 3}).Evaluate(buyer, earlier, nil)
	if sPast.Churn == nil || !close6(sPast.Churn.PAlive, want.Churn.PAlive) || sPast.Churn.OrderValue != nil || sPast.Churn.CLV != nil {
		t.Errorf("past churn %+v, want P(alive) %v with the past fit and no spend figures", sPast.Churn, want.Churn.PAlive)
	}
	if sPast.RFM == nil || sPast.RFM.RecencyDays != sNow.RFM.RecencyDays-5 {
		t.Errorf("past recency %+v", sPast.RFM)
	}
	// The models in use are not changed by a past read.
	if models.Load().Pop.BG != testBG {
		t.Error("a past read swapped the models")
	}
}

// TestScoresBadAt: a bad ?at= is a 400 JSON error on every route that
// takes it, and a failed past fit a 503.
func TestScoresBadAt(t *testing.T) {
	fake := &fakePopulation{latest: latestReport()}
	base, _, _ := scoresServer(t, fake)
	for _, route := range []string{"/v1/contacts/buyer", "/v1/contacts?email=ann@example.com", "/v1/segments", "/v1/models/churn"} {
		sep := "?"
		if strings.Contains(route, "?") {
			sep = "&"
		}
		for _, at := range []string{"", "yesterday", "1740821400", "2025-03-01", "2025-03-01T09:30:00", "1989-12-31T23:59:59Z", "2200-01-01T00:00:01Z", "2025-13-01T00:00:00Z"} {
			r := httpGet(t, base, route+sep+"at="+url.QueryEscape(at))
			t.Run(route+" at="+at, func(t *testing.T) {
				e := checkError(t, r, 400, "bad_request")
				if !strings.Contains(e.Error.Message, "at") {
					t.Errorf("message %q does not name at", e.Error.Message)
				}
			})
		}
	}
	fake.mu.Lock()
	fake.err = errors.New("scan partition 3: disk on fire")
	fake.mu.Unlock()
	for _, route := range []string{"/v1/contacts/buyer", "/v1/segments", "/v1/models/churn"} {
		r := httpGet(t, base, route+"?at="+url.QueryEscape(isoMillis(scoresNow-day)))
		e := checkError(t, r, 503, "model_unavailable")
		if !strings.Contains(e.Error.Message, "disk on fire") {
			t.Errorf("%s: message %q", route, e.Error.Message)
		}
	}
}

// TestSegments checks the document's shape and counts.
func TestSegments(t *testing.T) {
	fake := &fakePopulation{latest: latestReport()}
	base, _, _ := scoresServer(t, fake)
	r := httpGet(t, base, "/v1/segments")
	if r.status != 200 || string(r.header.ContentType()) != "application/json" {
		t.Fatalf("%d %s: %s", r.status, r.header.ContentType(), r.body)
	}
	var doc struct {
		At              string            `json:"at"`
		Contacts        uint64            `json:"contacts"`
		Customers       uint64            `json:"customers"`
		Segments        map[string]uint64 `json:"segments"`
		Stages          map[string]uint64 `json:"stages"`
		Partitions      int               `json:"partitions"`
		PartitionsTotal int               `json:"partitions_total"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.At != isoMillis(scoresNow) || doc.Contacts != 120 || doc.Customers != 30 || doc.Partitions != 6 || doc.PartitionsTotal != 8 {
		t.Errorf("header fields %+v", doc)
	}
	if len(doc.Segments) != len(rfm.Segments()) || doc.Segments["Champions"] != 4 || doc.Segments["Lost"] != 20 || doc.Segments["At risk"] != 6 || doc.Segments["Loyal"] != 0 {
		t.Errorf("segments %v", doc.Segments)
	}
	wantStages := map[string]uint64{"visitor": 60, "lead": 30, "mql": 0, "sql": 0, "customer": 25, "lapsed": 5}
	if fmt.Sprint(doc.Stages) != fmt.Sprint(wantStages) {
		t.Errorf("stages %v, want %v", doc.Stages, wantStages)
	}
	// A past instant: the population's report for it.
	r = httpGet(t, base, "/v1/segments?at=2025-03-02T00:00:00Z")
	if err := json.Unmarshal(r.body, &doc); err != nil || r.status != 200 || doc.At != "2025-03-02T00:00:00.000Z" || doc.Contacts != 7 {
		t.Errorf("past segments %d %+v %v", r.status, doc, err)
	}
}

func TestChurnModelDocument(t *testing.T) {
	fake := &fakePopulation{latest: latestReport()}
	base, _, _ := scoresServer(t, fake)
	r := httpGet(t, base, "/v1/models/churn")
	if r.status != 200 {
		t.Fatalf("%d: %s", r.status, r.body)
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"at": isoMillis(scoresNow), "time_unit": "week", "time_unit_days": 7.0, "customers": 0.0, "repeat_customers": 0.0,
		"partitions": 6.0, "partitions_total": 8.0, "fitted_at": isoMillis(scoresNow + 1500), "scan_seconds": 0.04,
	} {
		if doc[k] != want {
			t.Errorf("%s = %v, want %v", k, doc[k], want)
		}
	}
	models, _ := doc["models"].([]any)
	if len(models) != 2 {
		t.Fatalf("models %v", doc["models"])
	}
	bg, gg := models[0].(map[string]any), models[1].(map[string]any)
	if bg["name"] != "bgnbd" || bg["fitted"] != true || bg["converged"] != true || bg["log_likelihood"] != -9582.429 || bg["iterations"] != 31.0 || bg["fit_seconds"] != 0.012 {
		t.Errorf("bgnbd %v", bg)
	}
	if p := bg["parameters"].(map[string]any); p["r"] != testBG.R || p["alpha"] != testBG.Alpha || p["a"] != testBG.A || p["b"] != testBG.B {
		t.Errorf("bgnbd parameters %v", p)
	}
	if p := gg["parameters"].(map[string]any); gg["name"] != "gamma_gamma" || p["p"] != testGG.P || p["q"] != testGG.Q || p["gamma"] != testGG.Gamma {
		t.Errorf("gamma_gamma %v", gg)
	}

	// Not fitted: the reason instead of parameters.
	rep := latestReport()
	rep.Population.BGFitted, rep.Population.GGFitted = false, false
	rep.BGErr = fmt.Errorf("%w: BG/NBD needs customers with repeat purchases", churn.ErrNotEnoughData)
	fake.mu.Lock()
	fake.latest = rep
	fake.mu.Unlock()
	r = httpGet(t, base, "/v1/models/churn")
	var nf struct {
		Models []map[string]any `json:"models"`
	}
	if err := json.Unmarshal(r.body, &nf); err != nil || len(nf.Models) != 2 {
		t.Fatalf("%v %s", err, r.body)
	}
	if m := nf.Models[0]; m["fitted"] != false || m["parameters"] != nil || !strings.HasPrefix(fmt.Sprint(m["reason"]), "not enough data") {
		t.Errorf("unfitted bgnbd %v", m)
	}
	if m := nf.Models[1]; m["fitted"] != false {
		t.Errorf("unfitted gamma_gamma %v", m)
	}
}

// TestPopulationUnavailable: without a population the population routes
// answer 503 (and profiles still render); before the first refresh they
// answer 503 with Retry-After.
func TestPopulationUnavailable(t *testing.T) {
	base, _, _ := scoresServer(t, nil)
	for _, route := range []string{"/v1/segments", "/v1/models/churn"} {
		checkError(t, httpGet(t, base, route), 503, "model_unavailable")
	}
	if sc := profileScores(t, base, "/v1/contacts/buyer"); sc.Churn == nil {
		t.Error("profile without a population service lost its churn figures")
	}
	base, _, _ = scoresServer(t, &fakePopulation{})
	for _, route := range []string{"/v1/segments", "/v1/models/churn"} {
		r := httpGet(t, base, route)
		checkError(t, r, 503, "model_unavailable")
		if string(r.header.Peek(fasthttp.HeaderRetryAfter)) == "" {
			t.Errorf("%s: no Retry-After before the first refresh", route)
		}
	}
	// Without models there is no scores object at all.
	st := fixture(t)
	plain := realServer(t, Config{Store: st, PartitionOf: testPartitionOf})
	r := httpGet(t, plain, "/v1/contacts/42")
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &doc); err != nil || r.status != 200 {
		t.Fatalf("%d %v", r.status, err)
	}
	if _, ok := doc["scores"]; ok {
		t.Error("scores rendered without models")
	}
}

// TestRealPopulation serves a real stream/population Service over a
// store of 400 customers and checks that the routes show its refresh.
func TestRealPopulation(t *testing.T) {
	st := fixture(t)
	rng := rand.New(rand.NewPCG(7, 11))
	d := int32(scoresNow / day)
	for i := range 400 {
		c := &state.Contact{Key: state.Key(fmt.Sprintf("c:pop-%d", i)), ContactID: fmt.Sprintf("pop-%d", i)}
		first := d - 300 + rng.Int32N(100)
		for k := range 1 + rng.IntN(5) {
			pd := first + int32(k)*rng.Int32N(60)
			if n := len(c.Purchases); n > 0 && c.Purchases[n-1].Day >= pd {
				continue
			}
			c.Purchases = append(c.Purchases, state.PurchaseDay{Day: pd, Orders: 1, Spend: 1000 + rng.Int64N(9000)})
			c.Orders.Count++
		}
		putContact(t, st, c)
	}
	models := scoringModels(t, scoring.Population{})
	parts := make([]int32, testPartitions)
	for i := range parts {
		parts[i] = int32(i)
	}
	svc, err := population.New(population.Config{Store: st, Models: models, Partitions: func() []int32 { return parts },
		Total: func() int32 { return testPartitions }, Now: func() time.Time { return time.UnixMilli(scoresNow) },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := svc.Refresh(t.Context())
	if err != nil || !rep.Population.BGFitted {
		t.Fatalf("refresh: %v %v", err, rep.BGErr)
	}
	base := realServer(t, Config{Store: st, PartitionOf: testPartitionOf, Models: models, Population: svc,
		Now: func() time.Time { return time.UnixMilli(scoresNow) }})

	var churnDoc struct {
		Customers       int `json:"customers"`
		RepeatCustomers int `json:"repeat_customers"`
		Models          []struct {
			Name       string             `json:"name"`
			Fitted     bool               `json:"fitted"`
			Parameters map[string]float64 `json:"parameters"`
			LL         float64            `json:"log_likelihood"`
		} `json:"models"`
	}
	r := httpGet(t, base, "/v1/models/churn")
	if err := json.Unmarshal(r.body, &churnDoc); err != nil || r.status != 200 {
		t.Fatalf("%d %v %s", r.status, err, r.body)
	}
	bg := rep.Population.BG
	if churnDoc.Customers != 400 || churnDoc.RepeatCustomers != rep.Summary.Churn.RepeatCustomers() || !churnDoc.Models[0].Fitted ||
		!close6(churnDoc.Models[0].Parameters["r"], bg.R) || !close6(churnDoc.Models[0].Parameters["alpha"], bg.Alpha) ||
		!close6(churnDoc.Models[0].Parameters["a"], bg.A) || !close6(churnDoc.Models[0].Parameters["b"], bg.B) ||
		!close6(churnDoc.Models[0].LL, rep.Population.BGInfo.LogLikelihood) {
		t.Errorf("churn document %+v, refresh %+v", churnDoc, rep.Population)
	}
	var segDoc struct {
		Contacts  uint64            `json:"contacts"`
		Customers uint64            `json:"customers"`
		Segments  map[string]uint64 `json:"segments"`
		Stages    map[string]uint64 `json:"stages"`
	}
	r = httpGet(t, base, "/v1/segments")
	if err := json.Unmarshal(r.body, &segDoc); err != nil || r.status != 200 {
		t.Fatalf("%d %v %s", r.status, err, r.body)
	}
	var segs uint64
	for _, n := range segDoc.Segments {
		segs += n
	}
	if segDoc.Contacts != rep.Summary.Contacts || segDoc.Customers != 400 || segs != 400 || segDoc.Stages["customer"] < 400 {
		t.Errorf("segments document %+v", segDoc)
	}
	// A profile read at a past instant goes through Service.At.
	past := scoresNow - 30*day
	sc := profileScores(t, base, "/v1/contacts/pop-0?at="+url.QueryEscape(isoMillis(past)))
	pr, err := svc.At(t.Context(), past)
	if err != nil {
		t.Fatal(err)
	}
	var c state.Contact
	pt, _ := st.Partition(testPartitionOf("pop-0"))
	if ok, err := pt.Contact("c:pop-0", &c); !ok || err != nil {
		t.Fatalf("contact: %v %v", ok, err)
	}
	want := models.Load().WithPopulation(pr.Population).Evaluate(&c, past, nil)
	if (sc.Churn == nil) != !want.HasChurn || sc.Churn != nil && !close6(sc.Churn.PAlive, want.Churn.PAlive) {
		t.Errorf("past profile churn %+v, want %+v", sc.Churn, want.Churn)
	}
}
