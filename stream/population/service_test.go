package population

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
)

// The simulated shop: customers make their first purchase in the first
// 12 weeks after start and are observed until week 39, as in the CDNOW
// calibration period; they buy by the BG/NBD process with trueBG (in
// weeks) and spend by Gamma-Gamma with trueGG (in dollars).
var (
	trueBG = churn.BGNBD{R: 0.24, Alpha: 4.4, A: 0.79, B: 2.4}
	trueGG = churn.GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
	start  = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	// end is the evaluation instant, noon of the last day of week 39.
	end = start.Add(39*7*24*time.Hour - 12*time.Hour)
)

const (
	simCustomers = 6000
	numParts     = 4
)

// simCustomer is one simulated customer's purchase days (UTC day numbers,
// sorted, distinct) with each day's orders and spend in cents.
type simCustomer struct {
	days   []int32
	orders []uint16
	spends []int64
}

var (
	simOnce sync.Once
	simData []simCustomer
)

// simulate draws the customers once per test binary, from a fixed seed.
func simulate() []simCustomer {
	simOnce.Do(func() {
		rng := rand.New(rand.NewPCG(2005, 39))
		src := rand.NewPCG(rng.Uint64(), rng.Uint64())
		lambdas := distuv.Gamma{Alpha: trueBG.R, Beta: trueBG.Alpha, Src: src}
		drops := distuv.Beta{Alpha: trueBG.A, Beta: trueBG.B, Src: src}
		nus := distuv.Gamma{Alpha: trueGG.Q, Beta: trueGG.Gamma, Src: src}
		startDay := float64(start.Unix() / 86400)
		endWeeks := float64(end.Sub(start)) / float64(churn.Week)
		simData = make([]simCustomer, simCustomers)
		for i := range simData {
			lambda, drop := lambdas.Rand(), drops.Rand()
			spend := distuv.Gamma{Alpha: trueGG.P, Beta: nus.Rand(), Src: src}
			s := &simData[i]
			buy := func(weeks float64) {
				d := int32(startDay + math.Floor(weeks*7))
				cents := int64(math.Round(spend.Rand() * 100))
				if n := len(s.days); n > 0 && s.days[n-1] == d {
					s.orders[n-1]++
					s.spends[n-1] += cents
					return
				}
				s.days = append(s.days, d)
				s.orders = append(s.orders, 1)
				s.spends = append(s.spends, cents)
			}
			now := 12 * rng.Float64()
			buy(now)
			for {
				now += rng.ExpFloat64() / lambda
				if now > endWeeks {
					break
				}
				buy(now)
				if rng.Float64() < drop {
					break
				}
			}
		}
	})
	return simData
}

// contact is the stored record of simulated customer i with its purchases
// on or before day last.
func (s *simCustomer) contact(i int, last int32) *state.Contact {
	c := &state.Contact{Key: state.Key(fmt.Sprintf("c:%d", i)), ContactID: fmt.Sprint(i)}
	for k, d := range s.days {
		if d > last {
			break
		}
		c.Purchases = append(c.Purchases, state.PurchaseDay{Day: d, Orders: s.orders[k], Spend: s.spends[k]})
		c.Orders.Count += int32(s.orders[k])
		c.Orders.Revenue += s.spends[k]
	}
	if c.Orders.Count > 0 {
		c.Scores.Stage = uint8(lead.StageCustomer)
	}
	return c
}

// buildStore writes the simulated customers (purchases up to day last)
// into a Pebble store, customer i on partition i % parts, through state
// batches of 500 contacts.
func buildStore(t testing.TB, parts int, last int32) *state.Store {
	t.Helper()
	st, err := state.Open(t.TempDir(), state.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	sim := simulate()
	batches := make([]*state.Batch, parts)
	pending := make([]int, parts)
	for i := range sim {
		p := i % parts
		if batches[p] == nil {
			pt, err := st.Partition(int32(p))
			if err != nil {
				t.Fatal(err)
			}
			batches[p] = pt.NewBatch()
		}
		if err := batches[p].PutContact(sim[i].contact(i, last)); err != nil {
			t.Fatal(err)
		}
		if pending[p]++; pending[p] == 500 {
			if err := batches[p].Commit(); err != nil {
				t.Fatal(err)
			}
			batches[p], pending[p] = nil, 0
		}
	}
	for _, b := range batches {
		if b != nil {
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return st
}

func lastDay(at time.Time) int32 { return int32(at.Unix() / 86400) }

func partitions(n int) func() []int32 {
	return func() []int32 {
		ps := make([]int32, n)
		for i := range ps {
			ps[n-1-i] = int32(i) // out of order: the service sorts
		}
		return ps
	}
}

func newModelsPointer(t testing.TB) *atomic.Pointer[scoring.Models] {
	t.Helper()
	plan, err := lead.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.New(plan, scoring.Config{}, scoring.Population{})
	if err != nil {
		t.Fatal(err)
	}
	var p atomic.Pointer[scoring.Models]
	p.Store(m)
	return &p
}

func newService(t testing.TB, st *state.Store, parts int, now time.Time, reg prometheus.Registerer) (*Service, *atomic.Pointer[scoring.Models]) {
	t.Helper()
	models := newModelsPointer(t)
	s, err := New(Config{
		Store: st, Models: models, Partitions: partitions(parts), Total: func() int32 { return numParts },
		Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler), Registerer: reg,
		Fit: churn.FitOptions{MaxDuration: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, models
}

// directSummary builds the churn summary of the simulated customers at
// instant at straight from their purchase days, without the store.
func directSummary(t testing.TB, at time.Time) (sum churn.Summary, customers int) {
	t.Helper()
	atDay := float64(at.UnixMilli()) / 86400e3
	for _, s := range simulate() {
		cu, ok := churn.FromPurchaseDays(s.days, s.spends, atDay, churn.Week)
		if !ok {
			continue
		}
		customers++
		if err := sum.Add(cu); err != nil {
			t.Fatal(err)
		}
	}
	return sum, customers
}

// logSE returns the standard errors of the log-parameters at theta, from
// the observed information: the inverse of the negated finite-difference
// Hessian of ll in the log-parameters.
func logSE(t *testing.T, ll func(theta []float64) float64, theta []float64) []float64 {
	t.Helper()
	n, h := len(theta), 1e-4
	at := func(i, j int, di, dj float64) float64 {
		x := append([]float64(nil), theta...)
		x[i] += di
		x[j] += dj
		return ll(x)
	}
	info := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			info.SetSym(i, j, -(at(i, j, h, h)-at(i, j, h, -h)-at(i, j, -h, h)+at(i, j, -h, -h))/(4*h*h))
		}
	}
	var cov mat.Dense
	if err := cov.Inverse(info); err != nil {
		t.Fatalf("information matrix not invertible: %v", err)
	}
	se := make([]float64, n)
	for i := range se {
		se[i] = math.Sqrt(cov.At(i, i))
	}
	return se
}

// checkRecovered requires every fitted parameter within 3 standard errors
// of the true one (on the log scale), and the standard errors to be small
// enough that this says something: maxSE bounds each relative error.
func checkRecovered(t *testing.T, model string, names []string, got, want, se, maxSE []float64) {
	t.Helper()
	for i := range got {
		d := math.Log(got[i] / want[i])
		t.Logf("%s %s = %.4g (true %.4g, SE %.1f%%, off by %.1f SE)", model, names[i], got[i], want[i], 100*se[i], math.Abs(d)/se[i])
		if se[i] > maxSE[i] {
			t.Errorf("%s %s: relative SE %.3f above %.3f: too little data for the check", model, names[i], se[i], maxSE[i])
		}
		if math.Abs(d) > 3*se[i] {
			t.Errorf("%s %s = %v, true %v: off by %.1f standard errors (SE %.3f), want at most 3", model, names[i], got[i], want[i], math.Abs(d)/se[i], se[i])
		}
	}
}

func relNear(a, b, rel float64) bool { return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b)) }

// TestRefreshRecoversParameters: customers simulated from known BG/NBD
// and Gamma-Gamma parameters, written to a four-partition Pebble store;
// Refresh fits parameters within 3 standard errors of the true ones,
// equal to a fit on the same customers built without the store, and
// swaps them into the models.
func TestRefreshRecoversParameters(t *testing.T) {
	st := buildStore(t, numParts, lastDay(end))
	s, models := newService(t, st, numParts, end, nil)
	before := models.Load()
	rep, err := s.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Population
	if rep.BGErr != nil || rep.GGErr != nil || !p.BGFitted || !p.GGFitted || !p.BGInfo.Converged || !p.GGInfo.Converged {
		t.Fatalf("fit failed: %v %v %+v %+v", rep.BGErr, rep.GGErr, p.BGInfo, p.GGInfo)
	}
	t.Logf("scan %v, fit %v (BG/NBD %v in %d iterations, Gamma-Gamma %v)", rep.Scan, p.FitDuration, p.BGInfo.Duration, p.BGInfo.Iterations, p.GGInfo.Duration)

	direct, customers := directSummary(t, end)
	if customers != simCustomers || rep.Summary.Contacts != simCustomers || p.Customers != simCustomers || rep.Summary.Churn.Len() != simCustomers {
		t.Errorf("customers: simulated %d, direct %d, scanned %d, RFM %d, churn %d", simCustomers, customers, rep.Summary.Contacts, p.Customers, rep.Summary.Churn.Len())
	}
	if rep.Summary.Churn.RepeatCustomers() != direct.RepeatCustomers() || rep.Summary.Churn.SpendCustomers() != direct.SpendCustomers() {
		t.Errorf("repeat customers %d, spenders %d; direct %d, %d", rep.Summary.Churn.RepeatCustomers(), rep.Summary.Churn.SpendCustomers(),
			direct.RepeatCustomers(), direct.SpendCustomers())
	}
	if a, b := rep.Summary.Churn.BGNBDLogLikelihood(trueBG), direct.BGNBDLogLikelihood(trueBG); !relNear(a, b, 1e-12) {
		t.Errorf("the store's summary differs from the direct one: log-likelihood %v vs %v", a, b)
	}
	bg, _, err := churn.Fit(t.Context(), direct, nil, churn.FitOptions{MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if bg != p.BG {
		t.Errorf("fit through the store %+v, direct fit %+v", p.BG, bg)
	}

	bgSE := logSE(t, func(th []float64) float64 {
		return direct.BGNBDLogLikelihood(churn.BGNBD{R: math.Exp(th[0]), Alpha: math.Exp(th[1]), A: math.Exp(th[2]), B: math.Exp(th[3])})
	}, []float64{math.Log(p.BG.R), math.Log(p.BG.Alpha), math.Log(p.BG.A), math.Log(p.BG.B)})
	checkRecovered(t, "BG/NBD", []string{"r", "alpha", "a", "b"},
		[]float64{p.BG.R, p.BG.Alpha, p.BG.A, p.BG.B}, []float64{trueBG.R, trueBG.Alpha, trueBG.A, trueBG.B},
		bgSE, []float64{0.06, 0.08, 0.25, 0.3})
	ggSE := logSE(t, func(th []float64) float64 {
		return direct.GammaGammaLogLikelihood(churn.GammaGamma{P: math.Exp(th[0]), Q: math.Exp(th[1]), Gamma: math.Exp(th[2])})
	}, []float64{math.Log(p.GG.P), math.Log(p.GG.Q), math.Log(p.GG.Gamma)})
	checkRecovered(t, "Gamma-Gamma", []string{"p", "q", "gamma"},
		[]float64{p.GG.P, p.GG.Q, p.GG.Gamma}, []float64{trueGG.P, trueGG.Q, trueGG.Gamma},
		ggSE, []float64{0.15, 0.1, 0.25})

	// The swapped snapshot holds the population; the plan is kept.
	now := models.Load()
	if now == before || now.Pop.BG != p.BG || now.Pop.GG != p.GG || now.Pop.Customers != simCustomers || now.Lead != before.Lead {
		t.Errorf("models not swapped: %+v", now.Pop)
	}
	if now.Cuts().Fallback || now.Cuts().N != simCustomers || now.Cuts() != p.Cuts {
		t.Errorf("cuts %+v, want the population's quintiles", now.Cuts())
	}
	if p.At != time.UnixMilli(end.UnixMilli()) || p.FittedAt != end || p.Partitions != numParts || p.PartitionsTotal != numParts {
		t.Errorf("population at %v fitted %v partitions %d/%d", p.At, p.FittedAt, p.Partitions, p.PartitionsTotal)
	}
	if s.Latest() != rep {
		t.Error("Latest is not the refresh")
	}
	// The counts and distributions of the first refresh already use the
	// population it fitted: every customer's segment under the new cuts,
	// and a P(alive) for every customer.
	var segs [scoring.NumSegments]uint64
	for i, sc := range simulate() {
		segs[now.Evaluate(sc.contact(i, lastDay(end)), end.UnixMilli(), nil).RFM.Segment]++
	}
	if rep.Summary.Segments != segs || rep.Summary.Stages[lead.StageCustomer] != simCustomers {
		t.Errorf("segments %v stages %v; the fitted models give segments %v", rep.Summary.Segments, rep.Summary.Stages, segs)
	}
	if rep.Summary.PAlive.N != simCustomers || rep.Summary.CLV.N != simCustomers {
		t.Errorf("P(alive) of %d and CLV of %d customers, want %d", rep.Summary.PAlive.N, rep.Summary.CLV.N, simCustomers)
	}
	// A second refresh warm-starts from the first and lands on the same fit.
	rep2, err := s.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range [][2]float64{{rep2.Population.BG.R, p.BG.R}, {rep2.Population.BG.Alpha, p.BG.Alpha}, {rep2.Population.BG.A, p.BG.A}, {rep2.Population.BG.B, p.BG.B}} {
		if !relNear(pr[0], pr[1], 1e-4) {
			t.Errorf("warm refit moved: %+v vs %+v", rep2.Population.BG, p.BG)
			break
		}
	}
}

// TestPartitionsMerge: the same customers in one partition or spread
// over four give the same summary and the same fit.
func TestPartitionsMerge(t *testing.T) {
	one, _ := newService(t, buildStore(t, 1, lastDay(end)), 1, end, nil)
	four, _ := newService(t, buildStore(t, numParts, lastDay(end)), numParts, end, nil)
	a, err := one.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, err := four.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sa, sb := a.Summary, b.Summary
	if sa.Partitions != 1 || sb.Partitions != numParts {
		t.Errorf("partitions %d and %d", sa.Partitions, sb.Partitions)
	}
	if sa.Contacts != sb.Contacts || sa.Stages != sb.Stages || sa.Segments != sb.Segments || sa.RFM.Len() != sb.RFM.Len() ||
		sa.Churn.Len() != sb.Churn.Len() || sa.Churn.RepeatCustomers() != sb.Churn.RepeatCustomers() {
		t.Errorf("summaries differ: %d %v %v vs %d %v %v", sa.Contacts, sa.Stages, sa.Segments, sb.Contacts, sb.Stages, sb.Segments)
	}
	if a.Population.Cuts != b.Population.Cuts {
		t.Errorf("RFM cuts %+v vs %+v", a.Population.Cuts, b.Population.Cuts)
	}
	if a.Population.BG != b.Population.BG || a.Population.GG != b.Population.GG {
		t.Errorf("fits differ: %+v %+v vs %+v %+v", a.Population.BG, a.Population.GG, b.Population.BG, b.Population.GG)
	}
	if !relNear(a.Population.BGInfo.LogLikelihood, b.Population.BGInfo.LogLikelihood, 1e-12) {
		t.Errorf("log-likelihood %v vs %v", a.Population.BGInfo.LogLikelihood, b.Population.BGInfo.LogLikelihood)
	}
}

// TestAtPastInstant: At for an instant before the last refresh uses only
// the purchases up to it: the same summary and fit as a store that only
// ever saw those purchases. It is cached, does not swap the models, and
// later instants get the latest refresh.
func TestAtPastInstant(t *testing.T) {
	cut := start.Add(26*7*24*time.Hour + 12*time.Hour) // noon, on a minute
	full, models := newService(t, buildStore(t, numParts, lastDay(end)), numParts, end, nil)
	latest, err := full.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	swapped := models.Load()
	past, err := full.At(t.Context(), cut.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	if models.Load() != swapped {
		t.Error("At swapped the models")
	}
	if full.Latest() != latest {
		t.Error("At replaced the latest refresh")
	}
	trunc, _ := newService(t, buildStore(t, numParts, lastDay(cut)), numParts, cut, nil)
	want, err := trunc.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ps, ws := past.Summary, want.Summary
	if ps.At != cut.UnixMilli() || past.Population.At.UnixMilli() != cut.UnixMilli() {
		t.Errorf("past report at %d / %v, want %v", ps.At, past.Population.At, cut)
	}
	if ps.RFM.Len() != ws.RFM.Len() || ps.Churn.Len() != ws.Churn.Len() || ps.Churn.RepeatCustomers() != ws.Churn.RepeatCustomers() || ps.Segments != ws.Segments {
		t.Errorf("customers at the cut %d/%d/%d %v, store of those purchases %d/%d/%d %v", ps.RFM.Len(), ps.Churn.Len(), ps.Churn.RepeatCustomers(), ps.Segments,
			ws.RFM.Len(), ws.Churn.Len(), ws.Churn.RepeatCustomers(), ws.Segments)
	}
	if r, f := ps.Churn.RepeatCustomers(), latest.Summary.Churn.RepeatCustomers(); r >= f || r < f/2 {
		t.Errorf("%d repeat customers by week 26, %d by week 39: the cut does not cut", r, f)
	}
	if a, b := ps.Churn.BGNBDLogLikelihood(trueBG), ws.Churn.BGNBDLogLikelihood(trueBG); !relNear(a, b, 1e-12) {
		t.Errorf("summaries at the cut differ: log-likelihood %v vs %v", a, b)
	}
	if past.Population.Cuts != want.Population.Cuts {
		t.Errorf("RFM cuts %+v vs %+v", past.Population.Cuts, want.Population.Cuts)
	}
	// The past fit was warm-started from the full one, the other cold:
	// both converge to the same maximum.
	pb, wb := past.Population.BG, want.Population.BG
	for _, pr := range [][2]float64{{pb.R, wb.R}, {pb.Alpha, wb.Alpha}, {pb.A, wb.A}, {pb.B, wb.B},
		{past.Population.GG.P, want.Population.GG.P}, {past.Population.GG.Q, want.Population.GG.Q}, {past.Population.GG.Gamma, want.Population.GG.Gamma}} {
		if !relNear(pr[0], pr[1], 2e-3) {
			t.Errorf("fit at the cut %+v %+v, on the truncated store %+v %+v", pb, past.Population.GG, wb, want.Population.GG)
			break
		}
	}
	if pb == latest.Population.BG {
		t.Error("the past fit is the latest one")
	}
	// Cached by the minute; the latest for instants at or after it.
	again, err := full.At(t.Context(), cut.UnixMilli()+30_000)
	if err != nil || again != past {
		t.Errorf("At within the same minute: %p %v, want the cached %p", again, err, past)
	}
	for _, at := range []time.Time{end, end.Add(time.Hour)} {
		if r, err := full.At(t.Context(), at.UnixMilli()); err != nil || r != latest {
			t.Errorf("At(%v) = %p %v, want the latest %p", at, r, err, latest)
		}
	}
}

// TestHistoryCacheBounded: At keeps at most historyCache past fits,
// dropping the oldest first.
func TestHistoryCacheBounded(t *testing.T) {
	s, _ := newService(t, buildStore(t, 1, lastDay(end)), 1, end, nil)
	if _, err := s.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := start.Add(20 * 7 * 24 * time.Hour)
	var reps []*scoring.Report
	for i := range historyCache + 1 {
		r, err := s.At(t.Context(), first.Add(time.Duration(i)*24*time.Hour).UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, r)
	}
	s.histMu.Lock()
	n := len(s.history)
	_, oldest := s.history[first.UnixMilli()]
	s.histMu.Unlock()
	if n != historyCache || oldest {
		t.Errorf("%d cached (oldest kept: %v), want %d without the oldest", n, oldest, historyCache)
	}
	if r, err := s.At(t.Context(), first.Add(time.Duration(historyCache)*24*time.Hour).UnixMilli()); err != nil || r != reps[historyCache] {
		t.Error("the newest past fit is not cached")
	}
}

func TestErrNoPartitions(t *testing.T) {
	st := buildStore(t, 1, 0)
	s, models := newService(t, st, 0, end, nil)
	before := models.Load()
	if _, err := s.Refresh(t.Context()); !errors.Is(err, ErrNoPartitions) {
		t.Errorf("Refresh: %v, want ErrNoPartitions", err)
	}
	if _, err := s.At(t.Context(), start.UnixMilli()); !errors.Is(err, ErrNoPartitions) {
		t.Errorf("At: %v, want ErrNoPartitions", err)
	}
	if s.Latest() != nil || models.Load() != before {
		t.Error("a failed refresh left a report or swapped the models")
	}
}

// TestRefreshCancelled: a cancelled context stops the refresh and keeps
// the models.
func TestRefreshCancelled(t *testing.T) {
	s, models := newService(t, buildStore(t, 2, lastDay(end)), 2, end, nil)
	before := models.Load()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Refresh(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Refresh: %v, want context.Canceled", err)
	}
	if models.Load() != before || s.Latest() != nil {
		t.Error("a cancelled refresh changed the models")
	}
}

// TestNoRepeatCustomers: a population without repeat purchases has RFM
// cuts but no churn fit, and says why.
func TestNoRepeatCustomers(t *testing.T) {
	st, err := state.Open(t.TempDir(), state.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pt, err := st.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	b := pt.NewBatch()
	for i := range 10 {
		c := &state.Contact{Key: state.Key(fmt.Sprintf("c:%d", i)), ContactID: fmt.Sprint(i), Orders: state.Orders{Count: 1},
			Purchases: []state.PurchaseDay{{Day: lastDay(end) - int32(i*10), Orders: 1, Spend: int64(1000 * (i + 1))}}}
		if err := b.PutContact(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	s, models := newService(t, st, 1, end, nil)
	rep, err := s.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Population.BGFitted || !errors.Is(rep.BGErr, churn.ErrNotEnoughData) || rep.Population.GGFitted || !errors.Is(rep.GGErr, churn.ErrNotEnoughData) {
		t.Errorf("fitted without repeat customers: %+v %v %v", rep.Population, rep.BGErr, rep.GGErr)
	}
	if rep.Population.Customers != 10 || rep.Population.Cuts.Fallback || models.Load().Cuts() != rep.Population.Cuts {
		t.Errorf("cuts %+v for %d customers", rep.Population.Cuts, rep.Population.Customers)
	}
}

func TestNewValidates(t *testing.T) {
	st := buildStore(t, 1, 0)
	models := newModelsPointer(t)
	var empty atomic.Pointer[scoring.Models]
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no store", func(c *Config) { c.Store = nil }},
		{"no models", func(c *Config) { c.Models = nil }},
		{"empty models", func(c *Config) { c.Models = &empty }},
		{"no partitions", func(c *Config) { c.Partitions = nil }},
		{"negative interval", func(c *Config) { c.Interval = -time.Second }},
		{"negative fit budget", func(c *Config) { c.Fit.MaxDuration = -time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Store: st, Models: models, Partitions: partitions(1)}
			tc.mod(&cfg)
			if _, err := New(cfg); err == nil {
				t.Error("New accepted the config")
			}
		})
	}
	s, err := New(Config{Store: st, Models: models, Partitions: partitions(1)})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.Interval != DefaultInterval || s.cfg.Fit.MaxDuration != DefaultFitDuration || s.cfg.Now == nil {
		t.Errorf("defaults %+v", s.cfg)
	}
}

// gathered indexes the gathered metrics by name and label values.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func metricWith(mf *dto.MetricFamily, label, value string) *dto.Metric {
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		if label == "" && len(m.GetLabel()) == 0 {
			return m
		}
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				return m
			}
		}
	}
	return nil
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, _ := newService(t, buildStore(t, numParts, lastDay(end)), numParts, end, reg)
	// Before the first refresh the series exist, at zero: dashboards and
	// the metrics-table check see a stable set of series.
	if mfs := gathered(t, reg); mfs["kairos_population_contacts_by_stage"] == nil || mfs["kairos_population_p_alive"] == nil {
		t.Error("population counts missing before the first refresh")
	} else if v := metricWith(mfs["kairos_population_contacts_by_stage"], "stage", "customer").GetGauge().GetValue(); v != 0 {
		t.Errorf("customers before the first refresh: %v, want 0", v)
	}
	rep, err := s.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	mfs := gathered(t, reg)
	p := rep.Population
	gauge := func(name, label, value string) float64 {
		t.Helper()
		m := metricWith(mfs[name], label, value)
		if m == nil {
			t.Fatalf("no %s{%s=%q}", name, label, value)
		}
		if m.Gauge != nil {
			return m.GetGauge().GetValue()
		}
		return m.GetCounter().GetValue()
	}
	for _, tc := range []struct {
		name, label, value string
		want               float64
	}{
		{"kairos_population_customers", "", "", simCustomers},
		{"kairos_population_repeat_customers", "", "", float64(rep.Summary.Churn.RepeatCustomers())},
		{"kairos_population_refreshes_total", "", "", 1},
		{"kairos_population_scan_duration_seconds", "", "", rep.Scan.Seconds()},
		{"kairos_population_fit_log_likelihood", "model", "bgnbd", p.BGInfo.LogLikelihood},
		{"kairos_population_fit_log_likelihood", "model", "gamma_gamma", p.GGInfo.LogLikelihood},
		{"kairos_population_fit_duration_seconds", "model", "bgnbd", p.BGInfo.Duration.Seconds()},
		{"kairos_population_fit_duration_seconds", "model", "gamma_gamma", p.GGInfo.Duration.Seconds()},
		{"kairos_population_fit_converged", "model", "bgnbd", 1},
		{"kairos_population_fit_converged", "model", "gamma_gamma", 1},
		{"kairos_population_contacts_by_stage", "stage", "customer", simCustomers},
		{"kairos_population_contacts_by_stage", "stage", "visitor", 0},
		{"kairos_population_customers_by_segment", "segment", rfm.Champions.String(), float64(rep.Summary.Segments[rfm.Champions])},
		{"kairos_population_customers_by_segment", "segment", rfm.Lost.String(), float64(rep.Summary.Segments[rfm.Lost])},
	} {
		if got := gauge(tc.name, tc.label, tc.value); got != tc.want {
			t.Errorf("%s{%s=%q} = %v, want %v", tc.name, tc.label, tc.value, got, tc.want)
		}
	}
	if n := len(mfs["kairos_population_customers_by_segment"].GetMetric()); n != len(rfm.Segments()) {
		t.Errorf("%d segment series, want %d", n, len(rfm.Segments()))
	}
	if n := len(mfs["kairos_population_contacts_by_stage"].GetMetric()); n != scoring.NumStages-1 {
		t.Errorf("%d stage series, want %d", n, scoring.NumStages-1)
	}
	for _, h := range []struct {
		name string
		sum  scoring.Histogram
	}{{"kairos_population_p_alive", rep.Summary.PAlive}, {"kairos_population_clv", rep.Summary.CLV}, {"kairos_population_lead_score", rep.Summary.Lead}} {
		m := metricWith(mfs[h.name], "", "")
		if m == nil || m.Histogram == nil {
			t.Fatalf("no histogram %s", h.name)
		}
		hg := m.GetHistogram()
		if hg.GetSampleCount() != h.sum.N || hg.GetSampleSum() != h.sum.Sum || len(hg.GetBucket()) != len(h.sum.Bounds) {
			t.Errorf("%s: count %d sum %v buckets %d, want %d %v %d", h.name, hg.GetSampleCount(), hg.GetSampleSum(), len(hg.GetBucket()), h.sum.N, h.sum.Sum, len(h.sum.Bounds))
		}
		var cum uint64
		for i, b := range hg.GetBucket() {
			cum += h.sum.Counts[i]
			if b.GetUpperBound() != h.sum.Bounds[i] || b.GetCumulativeCount() != cum {
				t.Errorf("%s bucket %d: le %v count %d, want %v %d", h.name, i, b.GetUpperBound(), b.GetCumulativeCount(), h.sum.Bounds[i], cum)
			}
		}
	}
	if got := metricWith(mfs["kairos_population_p_alive"], "", "").GetHistogram().GetSampleCount(); got != simCustomers {
		t.Errorf("P(alive) of %d customers, want %d", got, simCustomers)
	}
	for _, mf := range mfs {
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help", mf.GetName())
		}
	}
}

// TestRun: Run refreshes once the partitions had time to be assigned and
// returns when its context ends.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the first refresh (2 s)")
	}
	s, models := newService(t, buildStore(t, 1, lastDay(end)), 1, end, nil)
	before := models.Load()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(time.Minute)
	for s.Latest() == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if s.Latest() == nil || models.Load() == before {
		t.Error("Run did not refresh")
	}
}
