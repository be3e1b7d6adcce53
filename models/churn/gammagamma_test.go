package churn

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestGammaGammaLogLikelihoodAgainstDirect(t *testing.T) {
	// Fader & Hardie (2013), eq. 4, evaluated directly for small values.
	g := GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
	cs := []Customer{
		{X: 2, Tx: 30.43, T: 38.86, MeanRepeatSpend: 22.35},
		{X: 1, Tx: 1.71, T: 38.86, MeanRepeatSpend: 11.77},
		{X: 0, T: 38.86},                           // skipped: no repeat
		{X: 3, Tx: 2, T: 5, MeanRepeatSpend: 0},    // skipped: no spend
		{X: 7, Tx: 20, T: 30, MeanRepeatSpend: 48}, //
	}
	var want float64
	for _, c := range cs {
		if c.X == 0 || c.MeanRepeatSpend == 0 {
			continue
		}
		px := g.P * c.X
		d := math.Gamma(px+g.Q) / (math.Gamma(px) * math.Gamma(g.Q)) * math.Pow(g.Gamma, g.Q) *
			math.Pow(c.MeanRepeatSpend, px-1) * math.Pow(c.X, px) / math.Pow(g.Gamma+c.X*c.MeanRepeatSpend, px+g.Q)
		want += math.Log(d)
	}
	if got := g.LogLikelihood(cs); relErr(got, want) > 1e-12 {
		t.Errorf("LogLikelihood = %.15g, direct %.15g", got, want)
	}
}

func TestExpectedAverageValue(t *testing.T) {
	g := GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
	popMean := g.P * g.Gamma / (g.Q - 1)
	for _, tc := range []struct {
		name    string
		x, zbar float64
		want    float64
	}{
		{"no repeat: population mean", 0, 0, popMean},
		{"x ignored spend", 0, 100, popMean},
		{"weighted mean", 2, 22.35, g.P * (g.Gamma + 2*22.35) / (2*g.P + g.Q - 1)},
		{"many transactions: own mean", 1e6, 50, 50},
		{"negative zbar", 2, -1, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := g.ExpectedAverageValue(tc.x, tc.zbar)
			if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && relErr(got, tc.want) > 1e-5) {
				t.Errorf("E[Z | %v, %v] = %v, want %v", tc.x, tc.zbar, got, tc.want)
			}
		})
	}
	// It is a credibility-weighted mean: between the population's and the
	// customer's.
	if v := g.ExpectedAverageValue(3, 100); !(v > popMean && v < 100) {
		t.Errorf("E[Z | 3, 100] = %v, not between %v and 100", v, popMean)
	}
	if v := (GammaGamma{P: 1, Q: 0.8, Gamma: 1}).ExpectedAverageValue(0, 0); !math.IsNaN(v) {
		t.Errorf("q <= 1 (no mean): %v, want NaN", v)
	}
}

func TestCLV(t *testing.T) {
	bg := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	gg := GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
	month := MonthDays / 7 // weeks
	for _, c := range []Customer{
		{X: 0, T: 0},
		{X: 0, T: 30},
		{X: 2, Tx: 30.43, T: 38.86, MeanRepeatSpend: 22.35},
		{X: 26, Tx: 30.857, T: 31, MeanRepeatSpend: 40},
		{X: 5, Tx: 3, T: 38, MeanRepeatSpend: 30},
	} {
		value := gg.ExpectedAverageValue(c.X, c.MeanRepeatSpend)
		// Without discount the increments telescope: value × E[X(12 months)].
		got := CLV(bg, gg, c, 12, 0, Week)
		want := value * bg.ExpectedPurchases(12*month, c.X, c.Tx, c.T)
		if relErr(got, want) > 1e-12 {
			t.Errorf("%+v: undiscounted CLV %v, want %v", c, got, want)
		}
		// Discounted: the formula written out.
		var sum float64
		for m := 1; m <= 24; m++ {
			inc := bg.ExpectedPurchases(float64(m)*month, c.X, c.Tx, c.T) - bg.ExpectedPurchases(float64(m-1)*month, c.X, c.Tx, c.T)
			sum += value * inc / math.Pow(1.01, float64(m))
		}
		if got := CLV(bg, gg, c, 24, 0.01, Week); relErr(got, sum) > 1e-12 {
			t.Errorf("%+v: CLV(24 months, 1%%) = %v, want %v", c, got, sum)
		}
		// The unit only rescales time: the same customer in days, with α
		// in days, has the same CLV.
		bgDays := bg
		bgDays.Alpha *= 7
		cDays := Customer{X: c.X, Tx: c.Tx * 7, T: c.T * 7, MeanRepeatSpend: c.MeanRepeatSpend}
		if got, want := CLV(bgDays, gg, cDays, 24, 0.01, 24*time.Hour), sum; relErr(got, want) > 1e-9 {
			t.Errorf("%+v: CLV in days %v, in weeks %v", c, got, want)
		}
	}
	c := Customer{X: 2, Tx: 30.43, T: 38.86, MeanRepeatSpend: 22.35}
	if got := CLV(bg, gg, c, 0, 0.01, Week); got != 0 {
		t.Errorf("CLV over 0 months = %v", got)
	}
	if a, b := CLV(bg, gg, c, MaxCLVMonths, 0.01, Week), CLV(bg, gg, c, 1<<30, 0.01, Week); a != b {
		t.Errorf("horizon not capped: %v vs %v", a, b)
	}
	if got := CLV(bg, gg, c, 12, -1, Week); !math.IsNaN(got) {
		t.Errorf("discount -100%%: %v, want NaN", got)
	}
	if n := testing.AllocsPerRun(50, func() { CLV(bg, gg, c, 12, 0.01, Week) }); n != 0 {
		t.Errorf("CLV allocates %v times", n)
	}
}

func TestParamsValidate(t *testing.T) {
	for _, p := range []BGNBD{{}, {R: -1, Alpha: 1, A: 1, B: 1}, {R: 1, Alpha: math.Inf(1), A: 1, B: 1}, {R: 1, Alpha: 1, A: math.NaN(), B: 1}} {
		if err := p.Validate(); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%+v: %v, want ErrInvalidParams", p, err)
		}
	}
	for _, g := range []GammaGamma{{}, {P: 1, Q: 1, Gamma: 0}, {P: math.NaN(), Q: 1, Gamma: 1}} {
		if err := g.Validate(); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%+v: %v, want ErrInvalidParams", g, err)
		}
	}
	if err := (BGNBD{R: 1, Alpha: 1, A: 1, B: 1}).Validate(); err != nil {
		t.Error(err)
	}
}
