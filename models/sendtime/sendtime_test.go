package sendtime

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// population draws contacts whose hour-of-week counts are
// Dirichlet-multinomial with mean pi and strength alpha.
func population(r *rand.Rand, pi *[Bins]float64, alpha float64, contacts, perContact int) []*[Bins]float32 {
	out := make([]*[Bins]float32, contacts)
	for i := range out {
		var theta [Bins]float64
		var sum float64
		for h := range theta {
			theta[h] = gammaDraw(r, alpha*pi[h])
			sum += theta[h]
		}
		h := new([Bins]float32)
		for range perContact {
			u := r.Float64() * sum
			for b := range theta {
				u -= theta[b]
				if u < 0 || b == Bins-1 {
					h[b]++
					break
				}
			}
		}
		out[i] = h
	}
	return out
}

func gammaDraw(r *rand.Rand, a float64) float64 {
	if a < 1 {
		return gammaDraw(r, a+1) * math.Pow(r.Float64(), 1/a)
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		if u := r.Float64(); math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

func dailyRhythm() *[Bins]float64 {
	var pi [Bins]float64
	var sum float64
	for h := range pi {
		hour := h % 24
		w := 0.2 + math.Exp(-0.5*math.Pow(float64(hour-9)/1.5, 2)) + 0.7*math.Exp(-0.5*math.Pow(float64(hour-20)/2, 2))
		if h/24 >= 5 {
			w *= 0.6
		}
		pi[h] = w
		sum += w
	}
	for h := range pi {
		pi[h] /= sum
	}
	return &pi
}

func TestFitRecoversStrength(t *testing.T) {
	pi := dailyRhythm()
	for _, alpha := range []float64{5, 20, 80} {
		r := rand.New(rand.NewPCG(uint64(alpha), 1))
		var p Prior
		for k := range 40 {
			for _, h := range population(r, pi, alpha, 75, 3+k) {
				p.Add(h, 0, 0)
			}
		}
		fit := p.Fit()
		if rel := math.Abs(fit.Strength-alpha) / alpha; rel > 0.2 {
			t.Errorf("alpha %v: estimated %v", alpha, fit.Strength)
		}
		var l1 float64
		for h := range pi {
			l1 += math.Abs(fit.Mean[h] - pi[h])
		}
		if l1 > 0.1 {
			t.Errorf("alpha %v: prior mean off by L1 %v", alpha, l1)
		}
	}
}

// TestFitRecoversNestedStrengths draws contacts from the nested model
// itself (hour-of-day profile, then the weekday split of each hour) and
// checks that the method of moments finds both strengths.
func TestFitRecoversNestedStrengths(t *testing.T) {
	pi := dailyRhythm()
	var pi24 [24]float64
	for h, m := range pi {
		pi24[h%24] += m
	}
	for _, tc := range []struct{ beta, gamma float64 }{{3, 30}, {15, 5}, {50, 50}} {
		r := rand.New(rand.NewPCG(uint64(tc.beta), uint64(tc.gamma)))
		var p Prior
		for i := range 4000 {
			var phi [24]float64
			var s float64
			for d := range phi {
				phi[d] = gammaDraw(r, tc.beta*pi24[d])
				s += phi[d]
			}
			var theta [Bins]float64
			for d := range phi {
				var psi [7]float64
				var ps float64
				for day := range psi {
					psi[day] = gammaDraw(r, tc.gamma*pi[day*24+d]/pi24[d])
					ps += psi[day]
				}
				for day := range psi {
					theta[day*24+d] = phi[d] / s * psi[day] / ps
				}
			}
			var hist [Bins]float32
			for range 5 + i%60 {
				u := r.Float64()
				for h := range theta {
					u -= theta[h]
					if u < 0 || h == Bins-1 {
						hist[h]++
						break
					}
				}
			}
			p.Add(&hist, 0, 0)
		}
		f := p.Fit()
		if rel := math.Abs(f.Strength-tc.beta) / tc.beta; rel > 0.2 {
			t.Errorf("β %v: estimated %v", tc.beta, f.Strength)
		}
		if rel := math.Abs(f.DayStrength-tc.gamma) / tc.gamma; rel > 0.25 {
			t.Errorf("γ %v: estimated %v", tc.gamma, f.DayStrength)
		}
	}
}

func TestFitRateAndSmallPopulations(t *testing.T) {
	var p Prior
	if f := p.Fit(); f.Strength != DefaultStrength || f.Rate != DefaultRate || math.Abs(f.Mean[0]-1.0/Bins) > 1e-12 {
		t.Fatalf("empty fit %+v", f)
	}
	r := rand.New(rand.NewPCG(9, 9))
	var empty [Bins]float32
	for range 2000 {
		rate := 0.1 + 0.2*r.Float64() // uniform on [0.1, 0.3]: mean 0.2, variance 0.00333
		delivered := uint32(200)
		opens := uint32(0)
		for range delivered {
			if r.Float64() < rate {
				opens++
			}
		}
		p.Add(&empty, opens, delivered)
	}
	f := p.Fit()
	if math.Abs(f.Rate-0.2) > 0.01 {
		t.Errorf("rate %v", f.Rate)
	}
	// m(1−m)/v − 1 with v = 0.00333 + binomial noise 0.0008: about 38.
	if f.RateStrength < 25 || f.RateStrength > 50 {
		t.Errorf("rate strength %v", f.RateStrength)
	}
	if f.Contacts != 0 {
		t.Errorf("contacts with empty histograms counted: %d", f.Contacts)
	}
}

// TestPriorMerge: partitions merged in any order and grouping give the
// fit of the whole population.
func TestPriorMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	hists := population(r, dailyRhythm(), 15, 900, 12)
	var whole Prior
	parts := make([]Prior, 3)
	for i, h := range hists {
		whole.Add(h, uint32(i%7), 10)
		parts[r.IntN(3)].Add(h, uint32(i%7), 10)
	}
	orders := [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}}
	for _, o := range orders {
		var m Prior
		for _, i := range o {
			m.Merge(&parts[i])
		}
		var nested, bc Prior
		bc.Merge(&parts[1])
		bc.Merge(&parts[2])
		nested.Merge(&parts[0])
		nested.Merge(&bc)
		for _, got := range []*Prior{&m, &nested} {
			a, b := got.Fit(), whole.Fit()
			if got.M != whole.M || got.Delivered != whole.Delivered || math.Abs(a.Strength-b.Strength) > 1e-6*b.Strength || math.Abs(a.Mean[9]-b.Mean[9]) > 1e-12 {
				t.Fatalf("order %v: merged fit %v/%v differs from whole %v/%v", o, a.Strength, a.Mean[9], b.Strength, b.Mean[9])
			}
		}
	}
}

func TestPriorEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	var p Prior
	for _, h := range population(r, dailyRhythm(), 10, 100, 5) {
		p.Add(h, 3, 9)
	}
	b, _ := p.AppendBinary(nil)
	if len(b) != PriorBytes {
		t.Fatalf("%d bytes, want %d", len(b), PriorBytes)
	}
	var back Prior
	if err := back.UnmarshalBinary(b); err != nil || back != p {
		t.Fatalf("round trip: %v", err)
	}
	bad := append([]byte(nil), b...)
	bad[1+8*3+7] = 0xff // S[3] negative NaN-ish
	for i, in := range [][]byte{nil, b[:10], append(b, 0), bad} {
		if err := back.UnmarshalBinary(in); !errors.Is(err, ErrBadPrior) {
			t.Errorf("bad input %d: %v", i, err)
		}
	}
}

func FuzzPrior(f *testing.F) {
	var p Prior
	p.Add(&[Bins]float32{3: 2, 40: 1}, 1, 2)
	b, _ := p.AppendBinary(nil)
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		var p Prior
		if err := p.UnmarshalBinary(in); err != nil {
			return
		}
		fit := p.Fit()
		for _, m := range fit.Mean {
			if !(m > 0 && m <= 1) {
				t.Fatalf("fit of a decoded prior has mean %v", m)
			}
		}
		if !(fit.Strength > 0) || math.IsNaN(fit.Rate) {
			t.Fatalf("fit %v %v", fit.Strength, fit.Rate)
		}
	})
}

var tuesday = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC) // a Tuesday

func fitted(t testing.TB) *Fit {
	r := rand.New(rand.NewPCG(5, 5))
	var p Prior
	for _, h := range population(r, dailyRhythm(), 20, 2000, 10) {
		p.Add(h, 20, 100)
	}
	return p.Fit()
}

func TestPredictShrinkage(t *testing.T) {
	fit := fitted(t)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	out := make([]Hour, 200)
	few := &[Bins]float32{24 + 15: 2} // two opens on a Tuesday at 15:00
	many := &[Bins]float32{24 + 15: 150, 48 + 15: 50}
	tests := []struct {
		name     string
		in       Input
		wantHour int // local hour of the best slot
		source   Source
	}{
		{"no history: the population's morning peak", Input{}, 9, SourcePrior},
		{"two opens: their hour leads, but the source is the prior", Input{Hist: few}, 15, SourcePrior},
		{"two opens on another day: the population's peak still wins", Input{Hist: &[Bins]float32{15: 2}}, 9, SourcePrior},
		{"two hundred opens: the contact's own hour", Input{Hist: many}, 15, SourceContact},
		{"own hour in the contact's zone", Input{Hist: many, Zone: ny}, 15, SourceContact},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := tuesday.Add(30 * time.Minute) // Tuesday 00:30 UTC
			res, err := Predict(tt.in, fit, from, 24*time.Hour, Options{}, out)
			if err != nil {
				t.Fatal(err)
			}
			loc := tt.in.Zone
			if loc == nil {
				loc = time.UTC
			}
			if h := res.Best.In(loc).Hour(); h != tt.wantHour || res.Source != tt.source {
				t.Fatalf("best %v (local hour %d), source %v, weight %.2f; want hour %d, %v", res.Best, h, res.Source, res.Weight, tt.wantHour, tt.source)
			}
			if len(res.Hours) != 25 || res.Hours[0].Start != from || res.Hours[1].Start != tuesday.Add(time.Hour) {
				t.Fatalf("slots %d, first %v, second %v", len(res.Hours), res.Hours[0].Start, res.Hours[1].Start)
			}
			for _, h := range res.Hours {
				if !(h.P > 0 && h.P < 1 && h.SD > 0 && h.SD < h.P+0.5) || h.P > res.P {
					t.Fatalf("slot %+v (best %v)", h, res.P)
				}
			}
		})
	}
	// In a population whose members keep their hours on every weekday
	// (a large day strength γ), Monday's opens carry over to Tuesday.
	steady := &Fit{Mean: *dailyRhythm(), Strength: 5, DayStrength: 50, Rate: 0.2, RateStrength: 20}
	mondays := Input{Hist: &[Bins]float32{15: 30}}
	if res, _ := Predict(mondays, steady, tuesday, 24*time.Hour, Options{}, out); res.Best.Hour() != 15 {
		t.Errorf("γ=50: Monday 15:00 habit gives Tuesday %v", res.Best)
	}
	fickle := &Fit{Mean: *dailyRhythm(), Strength: 5, DayStrength: 0.5, Rate: 0.2, RateStrength: 20}
	if res, _ := Predict(mondays, fickle, tuesday, 24*time.Hour, Options{}, out); res.Best.Hour() != 9 {
		t.Errorf("γ=0.5: Monday habit should not carry over, got Tuesday %v", res.Best)
	}
	// Uncertainty falls with history.
	a, _ := Predict(Input{Hist: few}, fit, tuesday, 24*time.Hour, Options{}, out)
	sdFew := a.Hours[15].SD
	b, _ := Predict(Input{Hist: many}, fit, tuesday, 24*time.Hour, Options{}, out)
	if b.Hours[15].SD >= sdFew {
		t.Errorf("sd with 200 opens %v not below sd with 2: %v", b.Hours[15].SD, sdFew)
	}
	// The contact's own rate, shrunk.
	hi, _ := Predict(Input{Hist: many, Opens: 90, Delivered: 100}, fit, tuesday, 24*time.Hour, Options{}, out)
	lo, _ := Predict(Input{Hist: many, Opens: 1, Delivered: 100}, fit, tuesday, 24*time.Hour, Options{}, out)
	if !(hi.Rate > fit.Rate && lo.Rate < fit.Rate && hi.P > lo.P) {
		t.Errorf("rates %v %v (population %v), p %v %v", hi.Rate, lo.Rate, fit.Rate, hi.P, lo.P)
	}
}

func TestPredictErrorsAndSlots(t *testing.T) {
	out := make([]Hour, 10)
	for _, w := range []time.Duration{0, time.Minute, MaxWindow + time.Hour} {
		if _, err := Predict(Input{}, nil, tuesday, w, Options{}, out); !errors.Is(err, ErrBadWindow) {
			t.Errorf("window %v: %v", w, err)
		}
	}
	if _, err := Predict(Input{}, nil, tuesday, 24*time.Hour, Options{}, out); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("short buffer: %v", err)
	}
	tests := []struct {
		from   time.Time
		within time.Duration
		want   int
	}{
		{tuesday, time.Hour, 1}, {tuesday, 24 * time.Hour, 24}, {tuesday.Add(30 * time.Minute), 24 * time.Hour, 25},
		{tuesday.Add(30 * time.Minute), time.Hour, 2}, {tuesday, MaxWindow, 168},
	}
	for _, tt := range tests {
		if got := Slots(tt.from, tt.within); got != tt.want {
			t.Errorf("Slots(%v, %v) = %d, want %d", tt.from, tt.within, got, tt.want)
		}
	}
	res, err := Predict(Input{}, nil, tuesday, 3*time.Hour, Options{}, out)
	if err != nil || len(res.Hours) != 3 || res.Source != SourcePrior {
		t.Fatalf("uniform prior: %+v %v", res, err)
	}
}

func TestPredictExplores(t *testing.T) {
	fit := fitted(t)
	out := make([]Hour, 30)
	hist := &[Bins]float32{24 + 20: 30, 24 + 9: 20}
	const n = 20000
	explored := 0
	for seed := range uint64(n) {
		res, err := Predict(Input{Hist: hist}, fit, tuesday, 24*time.Hour, Options{Explore: 0.1, Seed: seed}, out)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Explored {
			if res.Best.Hour() != 20 {
				t.Fatalf("best hour %v", res.Best)
			}
			continue
		}
		explored++
		best := 0.0
		for _, h := range res.Hours {
			best = max(best, h.P)
		}
		if res.P == best || res.P < best/2 {
			t.Fatalf("explored slot p=%v, best %v: not a plausible non-best hour", res.P, best)
		}
	}
	if share := float64(explored) / n; math.Abs(share-0.1) > 0.01 {
		t.Fatalf("explored %.3f of answers, want 0.1", share)
	}
	a, _ := Predict(Input{Hist: hist}, fit, tuesday, 24*time.Hour, Options{Explore: 0.1, Seed: 77}, out)
	b, _ := Predict(Input{Hist: hist}, fit, tuesday, 24*time.Hour, Options{Explore: 0.1, Seed: 77}, out)
	if a.Best != b.Best {
		t.Fatal("same seed, different answer")
	}
}

func TestPredictAllocs(t *testing.T) {
	fit := fitted(t)
	ny, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	out := make([]Hour, 30)
	hist := &[Bins]float32{33: 4}
	seed := uint64(0)
	allocs := testing.AllocsPerRun(200, func() {
		seed++
		_, _ = Predict(Input{Hist: hist, Zone: ny, Opens: 3, Delivered: 10}, fit, tuesday, 24*time.Hour, Options{Explore: 0.05, Seed: seed}, out)
	})
	if allocs != 0 {
		t.Fatalf("Predict allocates %v", allocs)
	}
}

func BenchmarkPredict(b *testing.B) {
	fit := fitted(b)
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Skip(err)
	}
	out := make([]Hour, 30)
	hist := &[Bins]float32{33: 4, 57: 2, 100: 1}
	seed := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		seed++
		_, _ = Predict(Input{Hist: hist, Zone: loc, Opens: 3, Delivered: 10}, fit, tuesday, 24*time.Hour, Options{Explore: 0.05, Seed: seed}, out)
	}
}

func TestFilter(t *testing.T) {
	f, err := NewFilter(FilterConfig{Networks: []string{"17.0.0.0/8", "2a01:b740::/32"}})
	if err != nil {
		t.Fatal(err)
	}
	const d = int64(1_700_000_000_000)
	tests := []struct {
		name          string
		delivered, at int64
		ua, ip        string
		want          Verdict
	}{
		{"a person, later", d, d + 3600_000, "Mozilla/5.0 (iPhone)", "203.0.113.9", Human},
		{"within seconds of delivery", d, d + 2000, "Mozilla/5.0", "", MachineFast},
		{"delivery unknown", 0, d, "", "", Human},
		{"open before delivery record (clock skew)", d, d - 5000, "", "", Human},
		{"Gmail image proxy", d, d + 3600_000, "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", "", MachineUserAgent},
		{"case-insensitive agent", d, d + 3600_000, "yahoomailproxy; https://help.yahoo.com", "", MachineUserAgent},
		{"proxy network v4", d, d + 3600_000, "Mozilla/5.0", "17.58.1.2", MachineNetwork},
		{"proxy network v6", d, d + 3600_000, "", "2a01:b740:a42::1", MachineNetwork},
		{"v4-mapped v6", d, d + 3600_000, "", "::ffff:17.1.2.3", MachineNetwork},
		{"garbage ip", d, d + 3600_000, "", "not-an-ip", Human},
	}
	for _, tt := range tests {
		if got := f.Check(tt.delivered, tt.at, tt.ua, tt.ip); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if f.Count(Human) != 4 || f.Count(MachineFast) != 1 || f.Count(MachineUserAgent) != 2 || f.Count(MachineNetwork) != 3 {
		t.Errorf("counts %d %d %d %d", f.Count(Human), f.Count(MachineFast), f.Count(MachineUserAgent), f.Count(MachineNetwork))
	}
	if allocs := testing.AllocsPerRun(100, func() { f.Check(d, d+5000000, "Mozilla/5.0 (Macintosh) AppleWebKit", "17.1.1.1") }); allocs != 0 {
		t.Errorf("Check allocates %v", allocs)
	}
	off, _ := NewFilter(FilterConfig{MinDelay: -1, UserAgents: []string{}})
	if v := off.Check(d, d+1, "GoogleImageProxy", ""); v != Human {
		t.Errorf("disabled rules: %v", v)
	}
	for _, cfg := range []FilterConfig{{Networks: []string{"17.0.0.0"}}, {UserAgents: []string{" "}}} {
		if _, err := NewFilter(cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}
