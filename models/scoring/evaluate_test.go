package scoring_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
)

// The published CDNOW estimates (Fader, Hardie & Lee 2005; Fader & Hardie
// 2013), in weeks and dollars: realistic parameters for hand-made figures.
var (
	cdnowBG = churn.BGNBD{R: 0.2426, Alpha: 4.4136, A: 0.7929, B: 2.4259}
	cdnowGG = churn.GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
)

func fitted() scoring.Population {
	return scoring.Population{BG: cdnowBG, BGFitted: true, GG: cdnowGG, GGFitted: true}
}

func defaultPlan(t testing.TB) *lead.Plan {
	t.Helper()
	p, err := lead.Default()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newModels(t testing.TB, cfg scoring.Config, pop scoring.Population) *scoring.Models {
	t.Helper()
	m, err := scoring.New(defaultPlan(t), cfg, pop)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// epochDay is the day number of a calendar date (days since 1970-01-01).
func epochDay(date string) int32 {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		panic(err)
	}
	return int32(d.Unix() / 86400)
}

func instant(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s not available: %v", name, err)
	}
	return l
}

// localDays is the instant's fractional local day number: the local
// calendar date's day number plus the elapsed fraction of that local day,
// worked out from the wall clock rather than from UTC offsets.
func localDays(at time.Time, loc *time.Location) float64 {
	lt := at.In(loc)
	y, m, d := lt.Date()
	base := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
	secs := float64(lt.Hour()*3600+lt.Minute()*60+lt.Second()) + float64(lt.Nanosecond())/1e9
	return float64(base) + secs/86400
}

// hyp2f1 sums the Gauss series of 2F1(a, b; c; z) for |z| < 1.
func hyp2f1(a, b, c, z float64) float64 {
	sum, term := 1.0, 1.0
	for k := 0.0; k < 100000; k++ {
		term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
		sum += term
		if math.Abs(term) < 1e-17*math.Abs(sum) {
			break
		}
	}
	return sum
}

// pAlive is FHL 2005, eq. 13.
func pAlive(p churn.BGNBD, x, tx, T float64) float64 {
	if x == 0 {
		return 1
	}
	return 1 / (1 + p.A/(p.B+x-1)*math.Pow((p.Alpha+T)/(p.Alpha+tx), p.R+x))
}

// expected is FHL 2005, eq. 10, with the plain series of the 2F1.
func expected(p churn.BGNBD, t, x, tx, T float64) float64 {
	z := t / (p.Alpha + T + t)
	f := hyp2f1(p.R+x, p.B+x, p.A+p.B+x-1, z)
	num := (p.A + p.B + x - 1) / (p.A - 1) * (1 - math.Pow((p.Alpha+T)/(p.Alpha+T+t), p.R+x)*f)
	return num * pAlive(p, x, tx, T)
}

// meanValue is Fader & Hardie 2013, eq. 5.
func meanValue(g churn.GammaGamma, x, zbar float64) float64 {
	return g.P * (g.Gamma + x*zbar) / (g.P*x + g.Q - 1)
}

// clv sums the discounted expected spend of each month of 365.25/12 days.
func clv(bg churn.BGNBD, gg churn.GammaGamma, x, tx, T, zbar float64, months int, disc float64) float64 {
	month := 365.25 / 12 / 7
	var sum float64
	for m := 1; m <= months; m++ {
		inc := expected(bg, float64(m)*month, x, tx, T) - expected(bg, float64(m-1)*month, x, tx, T)
		sum += inc / math.Pow(1+disc, float64(m))
	}
	return meanValue(gg, x, zbar) * sum
}

func near(got, want, rel float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return math.Abs(got-want) <= rel*math.Max(1, math.Abs(want))
}

// purchase is one stored purchase day, by local calendar date.
type purchase struct {
	date   string
	orders uint16
	spend  int64 // cents
}

// TestEvaluate checks every read-time figure of hand-built customers
// against values worked out here: x, t_x and T from the local calendar,
// P(alive), expected purchases and CLV from the closed forms, RFM from
// the definitions and DefaultCuts (a population too small for quintiles).
func TestEvaluate(t *testing.T) {
	type want struct {
		buyer bool
		churn bool
		// Hand-derived statistics; T is worked out from the instant.
		x, recency, freq, monetary, zbar float64
		first, last                      string
		score                            rfm.Score
		segment                          rfm.Segment
		gg                               bool
	}
	cases := []struct {
		name string
		zone string
		pop  scoring.Population
		ps   []purchase
		at   string
		want want
	}{
		{
			name: "repeat buyer in Los Angeles, evening local time",
			zone: "America/Los_Angeles", pop: fitted(),
			ps: []purchase{{"2026-01-05", 1, 2500}, {"2026-02-14", 2, 6000}, {"2026-03-20", 1, 1800}},
			// 05:30 UTC on 10 April is 22:30 on 9 April in Los Angeles.
			at: "2026-04-10T05:30:00Z",
			want: want{buyer: true, churn: true, gg: true, x: 2, first: "2026-01-05", last: "2026-03-20",
				recency: 20, freq: 4, monetary: 103, zbar: (60 + 18) / 2.0,
				// R 20 ≤ 30: 5; F 4 in 3..4: 3; M 103 in (50, 150): 2; FM 3.
				score: rfm.Score{R: 5, F: 3, M: 2}, segment: rfm.PotentialLoyalists},
		},
		{
			name: "a day whose orders were all cancelled is no purchase",
			zone: "Asia/Tokyo", pop: fitted(),
			ps: []purchase{{"2025-11-02", 1, 5000}, {"2025-12-24", 0, 0}, {"2026-01-15", 1, 3000}},
			// 16:00 UTC on 31 January is 01:00 on 1 February in Tokyo.
			at: "2026-01-31T16:00:00Z",
			want: want{buyer: true, churn: true, gg: true, x: 1, first: "2025-11-02", last: "2026-01-15",
				recency: 17, freq: 2, monetary: 80, zbar: 30,
				// R 17: 5; F 2: 2; M 80: 2; FM 2.
				score: rfm.Score{R: 5, F: 2, M: 2}, segment: rfm.PotentialLoyalists},
		},
		{
			name: "refunds lower the day's spend; a fully refunded order still counts as a purchase",
			zone: "Europe/Berlin", pop: fitted(),
			ps: []purchase{{"2025-06-01", 1, 4000}, {"2025-09-10", 1, 1500}, {"2025-12-01", 1, 0}},
			at: "2026-03-01T12:00:00Z",
			want: want{buyer: true, churn: true, gg: true, x: 2, first: "2025-06-01", last: "2025-12-01",
				recency: 90, freq: 3, monetary: 55, zbar: (15 + 0) / 2.0,
				// R 90: 4 (a value on a cut scores the better bucket); F 3: 3; M 55: 2; FM 3.
				score: rfm.Score{R: 4, F: 3, M: 2}, segment: rfm.PotentialLoyalists},
		},
		{
			name: "frequency and monetary count the 365-day window only, x counts every day",
			zone: "Australia/Sydney", pop: fitted(),
			ps: []purchase{{"2024-01-10", 3, 90000}, {"2024-07-01", 1, 20000}, {"2025-08-01", 1, 4500}},
			at: "2026-02-01T00:00:00Z",
			want: want{buyer: true, churn: true, gg: true, x: 2, first: "2024-01-10", last: "2025-08-01",
				recency: 184, freq: 1, monetary: 45, zbar: (200 + 45) / 2.0,
				// 00:00 UTC is 11:00 on 1 February in Sydney: 184 days after 1 August.
				// R 184 in (180, 365): 2; F 1: 1; M 45: 1; FM 1.
				score: rfm.Score{R: 2, F: 1, M: 1}, segment: rfm.Lost},
		},
		{
			name: "one purchase day: no repeat, P(alive) 1, population mean order value",
			zone: "", pop: fitted(),
			ps: []purchase{{"2026-01-01", 2, 12000}},
			at: "2026-01-29T18:00:00Z",
			want: want{buyer: true, churn: true, gg: true, x: 0, first: "2026-01-01", last: "2026-01-01",
				recency: 28, freq: 2, monetary: 120, zbar: 0,
				score: rfm.Score{R: 5, F: 2, M: 2}, segment: rfm.PotentialLoyalists},
		},
		{
			name: "an instant before the first purchase: not a buyer",
			zone: "America/New_York", pop: fitted(),
			ps: []purchase{{"2026-01-05", 1, 2500}, {"2026-02-14", 1, 6000}},
			// 03:00 UTC on 5 January is 22:00 on 4 January in New York.
			at:   "2026-01-05T03:00:00Z",
			want: want{buyer: false},
		},
		{
			name: "no BG/NBD fit yet: RFM only",
			zone: "Europe/London", pop: scoring.Population{},
			ps: []purchase{{"2026-01-05", 1, 2500}, {"2026-02-14", 1, 6000}},
			at: "2026-02-20T10:00:00Z",
			want: want{buyer: true, churn: false, x: 1, first: "2026-01-05", last: "2026-02-14",
				recency: 6, freq: 2, monetary: 85,
				score: rfm.Score{R: 5, F: 2, M: 2}, segment: rfm.PotentialLoyalists},
		},
		{
			name: "BG/NBD without a spend fit: no order value and no CLV",
			zone: "Europe/Paris", pop: scoring.Population{BG: cdnowBG, BGFitted: true},
			ps: []purchase{{"2025-10-05", 1, 2500}, {"2026-01-14", 1, 6000}},
			at: "2026-02-20T10:00:00Z",
			want: want{buyer: true, churn: true, gg: false, x: 1, first: "2025-10-05", last: "2026-01-14",
				recency: 37, freq: 2, monetary: 85, zbar: 60,
				score: rfm.Score{R: 4, F: 2, M: 2}, segment: rfm.PotentialLoyalists},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			loc := time.UTC
			if tc.zone != "" {
				loc = mustZone(t, tc.zone)
			}
			c := &state.Contact{Key: "c:1", ContactID: "1", TimeZone: tc.zone}
			for _, p := range tc.ps {
				c.Purchases = append(c.Purchases, state.PurchaseDay{Day: epochDay(p.date), Orders: p.orders, Spend: p.spend})
				c.Orders.Count += int32(p.orders)
			}
			m := newModels(t, scoring.Config{}, tc.pop)
			at := instant(tc.at)
			sc := m.Evaluate(c, at.UnixMilli(), nil)
			w := tc.want
			if sc.At != at.UnixMilli() {
				t.Errorf("At = %d, want %d", sc.At, at.UnixMilli())
			}
			if lr := m.Lead.Score(&c.Scores, c, at.UnixMilli()); sc.Lead.Total != lr.Total || sc.Lead.Stage != lr.Stage {
				t.Errorf("lead %v/%v, want the plan's %v/%v", sc.Lead.Total, sc.Lead.Stage, lr.Total, lr.Stage)
			}
			if sc.IsBuyer != w.buyer || sc.HasChurn != w.churn {
				t.Fatalf("IsBuyer %v HasChurn %v, want %v %v", sc.IsBuyer, sc.HasChurn, w.buyer, w.churn)
			}
			if !w.buyer {
				if sc.RFM != (scoring.RFM{}) || sc.Churn.Customer != (churn.Customer{}) {
					t.Errorf("a non-buyer has figures: %+v %+v", sc.RFM, sc.Churn)
				}
				return
			}
			r := sc.RFM
			if r.RecencyDays != w.recency || r.Frequency != w.freq || !near(r.Monetary, w.monetary, 1e-12) {
				t.Errorf("raw RFM %v/%v/%v, want %v/%v/%v", r.RecencyDays, r.Frequency, r.Monetary, w.recency, w.freq, w.monetary)
			}
			if r.Score != w.score || r.Segment != w.segment || r.Grade != rfm.Grade(w.score) {
				t.Errorf("RFM %+v %v %q, want %+v %v %q", r.Score, r.Segment, r.Grade, w.score, w.segment, rfm.Grade(w.score))
			}
			if !w.churn {
				return
			}
			atDay := localDays(at, loc)
			x, tx, T := w.x, float64(epochDay(w.last)-epochDay(w.first))/7, (atDay-float64(epochDay(w.first)))/7
			cu := sc.Churn.Customer
			if cu.X != x || !near(cu.Tx, tx, 1e-12) || !near(cu.T, T, 1e-9) || !near(cu.MeanRepeatSpend, w.zbar, 1e-12) {
				t.Fatalf("customer %+v, want x=%v t_x=%v T=%v zbar=%v", cu, x, tx, T, w.zbar)
			}
			bg := tc.pop.BG
			pa := pAlive(bg, x, tx, T)
			ch := sc.Churn
			if !near(ch.PAlive, pa, 1e-12) {
				t.Errorf("P(alive) %v, want %v", ch.PAlive, pa)
			}
			if e := expected(bg, 30.0/7, x, tx, T); !near(ch.Expected30, e, 1e-9) {
				t.Errorf("expected purchases 30d %v, want %v", ch.Expected30, e)
			}
			if e := expected(bg, 90.0/7, x, tx, T); !near(ch.Expected90, e, 1e-9) {
				t.Errorf("expected purchases 90d %v, want %v", ch.Expected90, e)
			}
			if want := m.Band(pa); ch.Band != want {
				t.Errorf("band %v, want %v", ch.Band, want)
			}
			if !w.gg {
				if !math.IsNaN(ch.ExpectedValue) || !math.IsNaN(ch.CLV) {
					t.Errorf("order value %v and CLV %v without a spend fit, want NaN", ch.ExpectedValue, ch.CLV)
				}
				return
			}
			if v := meanValue(tc.pop.GG, x, w.zbar); !near(ch.ExpectedValue, v, 1e-12) {
				t.Errorf("expected order value %v, want %v", ch.ExpectedValue, v)
			}
			if v := clv(bg, tc.pop.GG, x, tx, T, w.zbar, scoring.DefaultCLVMonths, scoring.DefaultMonthlyDiscount); !near(ch.CLV, v, 1e-8) {
				t.Errorf("CLV %v, want %v", ch.CLV, v)
			}
		})
	}
}

// TestEvaluateAtChangesFigures: the same contact read at a later instant
// has a longer recency, a larger T and (with repeat purchases) a lower
// P(alive); its lead points decay.
func TestEvaluateAtChangesFigures(t *testing.T) {
	m := newModels(t, scoring.Config{}, fitted())
	c := &state.Contact{Key: "c:1", ContactID: "1", TimeZone: "Europe/Amsterdam", Orders: state.Orders{Count: 3},
		Purchases: []state.PurchaseDay{{Day: epochDay("2026-01-01"), Orders: 1, Spend: 1000}, {Day: epochDay("2026-01-20"), Orders: 2, Spend: 5000}}}
	pricing := instant("2026-01-20T10:00:00Z").UnixMilli()
	lr := m.Lead.Apply(&c.Scores, state.EventPageView, pricing, propMap{"url": "/pricing"}, c)
	if lr.Matched != 1 {
		t.Fatalf("pricing page view matched %d rules", lr.Matched)
	}
	early := m.Evaluate(c, instant("2026-02-01T12:00:00Z").UnixMilli(), nil)
	late := m.Evaluate(c, instant("2026-06-01T12:00:00Z").UnixMilli(), nil)
	if !(late.RFM.RecencyDays > early.RFM.RecencyDays && late.Churn.Customer.T > early.Churn.Customer.T) {
		t.Errorf("recency %v → %v, T %v → %v", early.RFM.RecencyDays, late.RFM.RecencyDays, early.Churn.Customer.T, late.Churn.Customer.T)
	}
	if !(late.Churn.PAlive < early.Churn.PAlive) {
		t.Errorf("P(alive) %v → %v, want lower later", early.Churn.PAlive, late.Churn.PAlive)
	}
	// The pricing page's 10 points halve every 30 days.
	days := float64(instant("2026-02-01T12:00:00Z").UnixMilli()-pricing) / 86400e3
	if want := 10 * math.Pow(2, -days/30); !near(early.Lead.Behaviour, want, 1e-9) {
		t.Errorf("behaviour %v, want %v", early.Lead.Behaviour, want)
	}
}

func TestBand(t *testing.T) {
	m := newModels(t, scoring.Config{LowRiskAt: 0.8, HighRiskBelow: 0.2}, scoring.Population{})
	d := newModels(t, scoring.Config{}, scoring.Population{})
	for _, tc := range []struct {
		m    *scoring.Models
		p    float64
		want scoring.Band
	}{
		{m, 1, scoring.BandLow},
		{m, 0.8, scoring.BandLow},
		{m, math.Nextafter(0.8, 0), scoring.BandMedium},
		{m, 0.2, scoring.BandMedium},
		{m, math.Nextafter(0.2, 0), scoring.BandHigh},
		{m, 0, scoring.BandHigh},
		{m, math.NaN(), scoring.BandNone},
		{d, scoring.DefaultLowRiskAt, scoring.BandLow},
		{d, 0.5, scoring.BandMedium},
		{d, 0.29, scoring.BandHigh},
	} {
		if got := tc.m.Band(tc.p); got != tc.want {
			t.Errorf("Band(%v) with cut-offs %v/%v = %v, want %v", tc.p, tc.m.Config.LowRiskAt, tc.m.Config.HighRiskBelow, got, tc.want)
		}
	}
	for b, name := range map[scoring.Band]string{scoring.BandNone: "none", scoring.BandLow: "low", scoring.BandMedium: "medium", scoring.BandHigh: "high", 9: "none"} {
		if b.String() != name {
			t.Errorf("Band(%d).String() = %q, want %q", b, b.String(), name)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   scoring.Config
		field string // in the message; "" means valid
	}{
		{"zero is the default", scoring.Config{}, ""},
		{"explicit valid", scoring.Config{Unit: 24 * time.Hour, CLVMonths: 24, MonthlyDiscount: 0.02, LowRiskAt: 0.9, HighRiskBelow: 0.1, LapsedBelow: 0.05}, ""},
		{"negative unit", scoring.Config{Unit: -time.Hour}, "churn unit"},
		{"negative clv months", scoring.Config{CLVMonths: -1}, "clv months"},
		{"too many clv months", scoring.Config{CLVMonths: churn.MaxCLVMonths + 1}, "clv months"},
		{"discount -100%", scoring.Config{MonthlyDiscount: -1}, "monthly discount"},
		{"discount above 100%", scoring.Config{MonthlyDiscount: 1.5}, "monthly discount"},
		{"discount NaN", scoring.Config{MonthlyDiscount: math.NaN()}, "monthly discount"},
		{"high risk above low risk", scoring.Config{LowRiskAt: 0.4, HighRiskBelow: 0.5}, "high_risk_below"},
		{"high risk equal to low risk", scoring.Config{LowRiskAt: 0.5, HighRiskBelow: 0.5}, "high_risk_below"},
		{"low risk above 1", scoring.Config{LowRiskAt: 1.2}, "low_risk_at"},
		{"negative high risk", scoring.Config{HighRiskBelow: -0.1}, "high_risk_below"},
		{"default low risk below a set high risk", scoring.Config{HighRiskBelow: 0.8}, "high_risk_below"},
		{"lapsed above 1", scoring.Config{LapsedBelow: 1.5}, "lapsed_below"},
		{"negative lapsed", scoring.Config{LapsedBelow: -0.1}, "lapsed_below"},
		{"bad rfm window", scoring.Config{RFM: rfm.Config{WindowDays: -1}}, "WindowDays"},
		{"bad rfm fallback", scoring.Config{RFM: rfm.Config{Fallback: rfm.Cuts{R: [4]float64{1, 2, 3, 4}}}}, "Fallback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tc.cfg)
			}
			if !errors.Is(err, scoring.ErrInvalidConfig) {
				t.Errorf("error %q does not wrap scoring.ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %q", err, tc.field)
			}
			if _, nerr := scoring.New(defaultPlan(t), tc.cfg, scoring.Population{}); nerr == nil {
				t.Error("New accepted the config")
			}
		})
	}
	if _, err := scoring.New(nil, scoring.Config{}, scoring.Population{}); !errors.Is(err, scoring.ErrInvalidConfig) {
		t.Errorf("New without a plan: %v", err)
	}
}

// TestCutsFallbackAndPopulation: a population below the minimum scores
// with the fallback cuts, a large enough one with its own quintiles.
func TestCutsFallbackAndPopulation(t *testing.T) {
	small := newModels(t, scoring.Config{}, scoring.Population{Customers: 4, Cuts: rfm.Cuts{R: [4]float64{9, 8, 7, 6}, N: 4}})
	if small.Cuts() != rfm.DefaultCuts() {
		t.Errorf("4 customers: cuts %+v, want the default fallback", small.Cuts())
	}
	own := rfm.Cuts{R: [4]float64{300, 200, 100, 10}, F: [4]float64{1, 2, 3, 4}, M: [4]float64{10, 20, 30, 40}, N: 500}
	big := newModels(t, scoring.Config{}, scoring.Population{Customers: 500, Cuts: own})
	if big.Cuts() != own {
		t.Errorf("500 customers: cuts %+v, want the population's", big.Cuts())
	}
	fb := rfm.Cuts{R: [4]float64{100, 50, 20, 5}, F: [4]float64{1, 2, 3, 4}, M: [4]float64{1, 2, 3, 4}}
	cfg := newModels(t, scoring.Config{RFM: rfm.Config{Fallback: fb}}, scoring.Population{})
	if cfg.Cuts() != fb {
		t.Errorf("configured fallback: cuts %+v", cfg.Cuts())
	}
	// WithPopulation keeps the plan and config and takes the new cuts.
	if w := cfg.WithPopulation(scoring.Population{Customers: 500, Cuts: own}); w.Cuts() != own || w.Lead != cfg.Lead || w.Config != cfg.Config {
		t.Errorf("WithPopulation: %+v", w.Cuts())
	}
}

// propMap is lead.Props over a map.
type propMap map[string]string

func (p propMap) Prop(name string) (string, bool) {
	v, ok := p[name]
	return v, ok
}
