package rfm

import (
	"errors"
	"math"
	"testing"
)

func TestScore(t *testing.T) {
	def := DefaultCuts()
	// with returns the default cuts with one dimension replaced.
	with := func(dim byte, cuts ...float64) Cuts {
		c := DefaultCuts()
		a := [4]float64(cuts)
		switch dim {
		case 'R':
			c.R = a
		case 'F':
			c.F = a
		case 'M':
			c.M = a
		}
		return c
	}
	tests := []struct {
		name    string
		cuts    Cuts
		r, f, m float64
		want    Score
	}{
		{"best", def, 0, 20, 5000, Score{5, 5, 5}},
		{"worst", def, 1000, 0, 0, Score{1, 1, 1}},
		{"recency on a cut scores the better bucket", def, 30, 1, 0, Score{5, 1, 1}},
		{"recency past a cut", def, 31, 1, 0, Score{4, 1, 1}},
		{"recency on the worst cut", def, 365, 1, 0, Score{2, 1, 1}},
		{"recency past the worst cut", def, 366, 1, 0, Score{1, 1, 1}},
		{"frequency on a cut scores the higher bucket", def, 0, 2, 0, Score{5, 2, 1}},
		{"frequency between cuts", def, 0, 4, 0, Score{5, 3, 1}},
		{"frequency on the top cut", def, 0, 8, 0, Score{5, 5, 1}},
		{"monetary just below a cut", def, 0, 1, 149.99, Score{5, 1, 2}},
		{"monetary on a cut", def, 0, 1, 150, Score{5, 1, 3}},
		{"NaN scores 1", def, math.NaN(), math.NaN(), math.NaN(), Score{1, 1, 1}},
		{"infinities", def, math.Inf(1), math.Inf(1), math.Inf(1), Score{1, 5, 5}},
		// Coinciding cuts: the middle of the buckets the run spans.
		{"two equal cuts", with('F', 1, 2, 2, 5), 0, 2, 0, Score{5, 3, 1}},
		{"three equal cuts, better middle", with('F', 1, 1, 1, 2), 0, 1, 0, Score{5, 3, 1}},
		{"above a run of three", with('F', 1, 1, 1, 2), 0, 2, 0, Score{5, 5, 1}},
		{"below a run", with('F', 1, 1, 1, 2), 0, 0, 0, Score{5, 1, 1}},
		{"two runs of two (one order)", with('F', 1, 1, 2, 2), 0, 1, 0, Score{5, 2, 1}},
		{"two runs of two (two orders)", with('F', 1, 1, 2, 2), 0, 2, 0, Score{5, 4, 1}},
		{"two runs of two (three orders)", with('F', 1, 1, 2, 2), 0, 3, 0, Score{5, 5, 1}},
		{"four equal cuts", with('M', 7, 7, 7, 7), 0, 0, 7, Score{5, 1, 3}},
		{"recency run of two", with('R', 9, 9, 3, 3), 9, 0, 0, Score{2, 1, 1}},
		{"recency run of two, better one", with('R', 9, 9, 3, 3), 3, 0, 0, Score{4, 1, 1}},
		{"recency below every cut", with('R', 9, 9, 3, 3), 2, 0, 0, Score{5, 1, 1}},
		{"all zero cuts", Cuts{}, 0, 0, 0, Score{3, 3, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cuts.Score(tt.r, tt.f, tt.m); got != tt.want {
				t.Errorf("Score(%v, %v, %v) = %+v, want %+v", tt.r, tt.f, tt.m, got, tt.want)
			}
		})
	}
}

// TestScoreSpreadsTies checks the tie rule on discrete data against ranks:
// if ties were broken by rank, the customers sharing a value would get
// scores lo..hi; the tie rule must give them one of those, the middle up
// to half a bucket (the cuts alone cannot tell whether the first of them
// sits exactly on a quintile boundary).
func TestScoreSpreadsTies(t *testing.T) {
	tests := []struct {
		name   string
		counts map[int]int // orders → customers
	}{
		{"most customers order once", map[int]int{1: 600, 2: 250, 3: 100, 7: 50}},
		{"one dominant value", map[int]int{0: 50, 1: 900, 4: 50}},
		{"even spread", map[int]int{1: 200, 2: 200, 3: 200, 4: 200, 5: 200}},
		{"geometric", map[int]int{1: 512, 2: 256, 3: 128, 4: 64, 5: 32, 6: 16, 7: 8, 8: 4, 9: 3}},
		{"few customers", map[int]int{1: 4, 2: 2, 3: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPopulation()
			n := 0
			for v := range 10 {
				for range tt.counts[v] {
					p.Add(0, float64(v), 0)
					n++
				}
			}
			cuts := p.Quintiles()
			pos := 0
			for v := range 10 {
				c := tt.counts[v]
				if c == 0 {
					continue
				}
				lo, hi := 1+5*pos/n, 1+5*(pos+c-1)/n
				pos += c
				got := cuts.Score(0, float64(v), 0).F
				if got < lo || got > hi || math.Abs(float64(got)-float64(lo+hi)/2) > 0.5 {
					t.Errorf("F(%d orders) = %d; by rank its customers score %d..%d (cuts %v)", v, got, lo, hi, cuts.F)
				}
			}
		})
	}
}

func TestScoreDoesNotAllocate(t *testing.T) {
	cuts := DefaultCuts()
	var s Score
	allocs := testing.AllocsPerRun(1000, func() {
		s = cuts.Score(12, 3, 250)
		_ = SegmentOf(s)
		_ = Grade(s)
	})
	if allocs != 0 {
		t.Errorf("Score+SegmentOf+Grade allocate %v times", allocs)
	}
}

func TestCutsValidate(t *testing.T) {
	tests := []struct {
		name string
		cuts Cuts
		ok   bool
	}{
		{"default", DefaultCuts(), true},
		{"zero", Cuts{}, true},
		{"equal cuts", Cuts{R: [4]float64{5, 5, 5, 5}, F: [4]float64{1, 1, 1, 1}}, true},
		{"recency ascending", Cuts{R: [4]float64{30, 90, 180, 365}}, false},
		{"frequency descending", Cuts{F: [4]float64{3, 2, 2, 2}}, false},
		{"negative", Cuts{M: [4]float64{-1, 0, 0, 0}}, false},
		{"NaN", Cuts{M: [4]float64{0, 0, math.NaN(), 1}}, false},
		{"infinite", Cuts{F: [4]float64{0, 0, 0, math.Inf(1)}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cuts.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidCuts) {
				t.Errorf("error %v does not wrap ErrInvalidCuts", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"explicit", Config{WindowDays: 90, MinorPerMajor: 1, MinPopulation: 100, Fallback: DefaultCuts()}, true},
		{"max window", Config{WindowDays: MaxWindowDays}, true},
		{"negative window", Config{WindowDays: -1}, false},
		{"window too long", Config{WindowDays: MaxWindowDays + 1}, false},
		{"negative minor units", Config{MinorPerMajor: -100}, false},
		{"population below five", Config{MinPopulation: 4}, false},
		{"bad fallback", Config{Fallback: Cuts{F: [4]float64{2, 1, 0, 0}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

func TestFallbackCuts(t *testing.T) {
	custom := Cuts{R: [4]float64{100, 50, 20, 10}, F: [4]float64{1, 2, 3, 4}, M: [4]float64{1, 2, 3, 4}}
	small := NewPopulation()
	for i := range 4 {
		small.Add(float64(i), 1, 10)
	}
	big := NewPopulation()
	for i := range 10 {
		big.Add(float64(i), float64(i), float64(i))
	}
	tests := []struct {
		name     string
		cfg      Config
		pop      *Population
		fallback bool
		want     Cuts
	}{
		{"nil population", Config{}, nil, true, DefaultCuts()},
		{"empty", Config{}, NewPopulation(), true, DefaultCuts()},
		{"zero value", Config{}, &Population{}, true, DefaultCuts()},
		{"four customers", Config{}, small, true, DefaultCuts()},
		{"configured fallback", Config{Fallback: custom}, small, true, custom},
		{"ten customers", Config{}, big, false, Cuts{}},
		{"ten below a higher minimum", Config{MinPopulation: 11, Fallback: custom}, big, true, custom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cfg.Cuts(tt.pop)
			if got.Fallback != tt.fallback {
				t.Fatalf("Fallback = %v, want %v (cuts %+v)", got.Fallback, tt.fallback, got)
			}
			var n uint64
			if tt.pop != nil {
				n = tt.pop.Len()
			}
			if got.N != n {
				t.Errorf("N = %d, want %d", got.N, n)
			}
			if tt.fallback && (got.R != tt.want.R || got.F != tt.want.F || got.M != tt.want.M) {
				t.Errorf("cuts = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got, want := small.Quintiles(), (Config{}).Cuts(small); got != want {
		t.Errorf("Quintiles() = %+v, want the default config's %+v", got, want)
	}
}

// TestFiveCustomers checks the cut definition on the smallest population:
// five distinct customers get the five scores, also on M where the cuts
// are sketch estimates a little off the customers' values.
func TestFiveCustomers(t *testing.T) {
	p := NewPopulation()
	for i := range 5 {
		p.Add(float64(10*i), float64(i+1), float64(100*(i+1)))
	}
	cuts := p.Quintiles()
	if cuts.Fallback {
		t.Fatal("five customers fell back")
	}
	for i := range 5 {
		got := cuts.Score(float64(10*i), float64(i+1), float64(100*(i+1)))
		if want := (Score{R: 5 - i, F: i + 1, M: i + 1}); got != want {
			t.Errorf("customer %d: score %+v, want %+v (cuts %+v)", i, got, want, cuts)
		}
	}
}

// TestMonetaryTies: customers who share a price point are tied although
// the sketch's cut is not exactly their value.
func TestMonetaryTies(t *testing.T) {
	p := NewPopulation()
	counts := []struct {
		m float64
		n int
	}{{9.99, 100}, {29.99, 400}, {59.98, 250}, {89.97, 150}, {250, 100}}
	n := 0
	for _, c := range counts {
		for range c.n {
			p.Add(10, 1, c.m)
		}
		n += c.n
	}
	cuts := p.Quintiles()
	pos := 0
	for _, c := range counts {
		lo, hi := 1+5*pos/n, 1+5*(pos+c.n-1)/n
		pos += c.n
		got := cuts.Score(10, 1, c.m).M
		if got < lo || got > hi || math.Abs(float64(got)-float64(lo+hi)/2) > 0.5 {
			t.Errorf("M(%v) = %d; by rank its customers score %d..%d (cuts %v)", c.m, got, lo, hi, cuts.M)
		}
	}
	if cuts.M[1] == 29.99 {
		t.Logf("the sketch happens to estimate 29.99 exactly; the test shows less")
	}
}
