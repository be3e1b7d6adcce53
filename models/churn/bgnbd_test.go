package churn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The references below are written independently of the package: a plain
// power series for 2F1 and double-exponential (tanh-sinh) quadrature of the
// model's defining integrals.

// refHyp2F1 sums the defining series of 2F1(a, b; c; z) for |z| < 1.
func refHyp2F1(a, b, c, z float64) float64 {
	term, sum := 1.0, 1.0
	for k := 0.0; k < 2e6; k++ {
		term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
		sum += term
		if k > math.Abs(a)+math.Abs(b) && math.Abs(term) < 1e-18*math.Abs(sum) {
			break
		}
	}
	return sum
}

// logIntegral01 returns log ∫_0^1 exp(logf(ln u, ln(1-u))) du by the
// tanh-sinh rule with step h: u = (1+tanh(π/2·sinh τ))/2, where ln u and
// ln(1-u) are both accurate to the ends, so integrable singularities there
// cost nothing.
func logIntegral01(logf func(lu, lv float64) float64, h float64) float64 {
	m := math.Inf(-1)
	var terms []float64
	for k := -int(6 / h); k <= int(6/h); k++ {
		tau := float64(k) * h
		s := math.Pi / 2 * math.Sinh(tau)
		lu := -math.Log1p(math.Exp(-2 * s))
		lv := -math.Log1p(math.Exp(2 * s))
		if math.IsInf(lu, -1) || math.IsInf(lv, -1) {
			continue
		}
		// du = π·cosh τ·u·(1-u) dτ
		l := logf(lu, lv) + math.Log(math.Pi*math.Cosh(tau)*h) + lu + lv
		if math.IsNaN(l) {
			panic(fmt.Sprintf("NaN integrand at τ=%v", tau))
		}
		terms = append(terms, l)
		m = max(m, l)
	}
	var sum float64
	for _, l := range terms {
		sum += math.Exp(l - m)
	}
	return m + math.Log(sum)
}

func lbeta(a, b float64) float64 { return lgamma(a) + lgamma(b) - lgamma(a+b) }

// refLogBetaMean returns log E[exp(logf(ln p, ln(1-p)))] for p ~ Beta(a, b).
// It splits (0, 1) at 1/2 and integrates over u = (2p)^a on the left
// (p^(a-1) dp = 2^-a/a du) and v = (2(1-p))^b on the right, which keeps the
// mass that a small a (b) puts at tiny p (1-p), down to e^(-700/a), in reach.
func refLogBetaMean(a, b float64, logf func(lnp, lnq float64) float64) float64 {
	const h = 1.0 / 128
	left := logIntegral01(func(lu, _ float64) float64 {
		lnp := lu/a - math.Ln2
		lnq := math.Log1p(-math.Exp(lnp))
		return logf(lnp, lnq) + (b-1)*lnq
	}, h) - a*math.Ln2 - math.Log(a)
	right := logIntegral01(func(lv, _ float64) float64 {
		lnq := lv/b - math.Ln2
		lnp := math.Log1p(-math.Exp(lnq))
		return logf(lnp, lnq) + (a-1)*lnp
	}, h) - b*math.Ln2 - math.Log(b)
	m := max(left, right)
	return m + math.Log(math.Exp(left-m)+math.Exp(right-m)) - lbeta(a, b)
}

// refPAlive integrates the two parts of the individual likelihood (FHL
// 2005, eq. 3) over λ ~ Gamma(r, α) and p ~ Beta(a, b) numerically:
// P(alive) = L(alive at T) / (L(alive at T) + L(dropped out after t_x)).
func refPAlive(p BGNBD, x, tx, T float64) float64 {
	if x == 0 {
		return 1
	}
	// log ∫ λ^x e^{-λτ} Gamma(λ; r, α) dλ with λ = c·u/(1-u), c the mode.
	logLambda := func(tau float64) float64 {
		c := (x + p.R) / (p.Alpha + tau)
		return logIntegral01(func(lu, lv float64) float64 {
			lnLambda := math.Log(c) + lu - lv
			return (x+p.R-1)*lnLambda - (p.Alpha+tau)*math.Exp(lnLambda) +
				p.R*math.Log(p.Alpha) - lgamma(p.R) + math.Log(c) - 2*lv
		}, 1.0/64)
	}
	alive := logLambda(T) + refLogBetaMean(p.A, p.B, func(lnp, lnq float64) float64 { return x * lnq })
	dead := logLambda(tx) + refLogBetaMean(p.A, p.B, func(lnp, lnq float64) float64 { return lnp + (x-1)*lnq })
	return 1 / (1 + math.Exp(dead-alive))
}

// refAliveExpectation integrates E[X(t) | λ, p, alive] = (1 - e^{-λpt})/p
// over the posterior of an alive customer, λ ~ Gamma(r+x, α+T) (done in
// closed form: E_λ[e^{-λpt}] = (1 + pt/(α+T))^{-(r+x)}) and
// p ~ Beta(a, b+x) (numerically).
func refAliveExpectation(p BGNBD, t, x, T float64) float64 {
	s := t / (p.Alpha + T)
	return math.Exp(refLogBetaMean(p.A, p.B+x, func(lnp, lnq float64) float64 {
		if lnp < -690 { // subnormal p: the limit (r+x)·s is exact
			return math.Log((p.R + x) * s)
		}
		return math.Log(-math.Expm1(-(p.R+x)*math.Log1p(math.Exp(lnp)*s))) - lnp
	}))
}

// refLifetimesExpectation is eq. 10 of FHL 2005 as printed (and as the
// lifetimes library computes it), with the plain 2F1 series: fine for
// moderate x and z, a != 1.
func refLifetimesExpectation(p BGNBD, t, x, tx, T float64) float64 {
	z := t / (p.Alpha + T + t)
	num := (p.A + p.B + x - 1) / (p.A - 1) *
		(1 - refHyp2F1(p.R+x, p.B+x, p.A+p.B+x-1, z)*math.Pow((p.Alpha+T)/(p.Alpha+T+t), p.R+x))
	den := 1.0
	if x > 0 {
		den += p.A / (p.B + x - 1) * math.Pow((p.Alpha+T)/(p.Alpha+tx), p.R+x)
	}
	return num / den
}

func relErr(got, want float64) float64 {
	if got == want {
		return 0
	}
	return math.Abs(got-want) / math.Max(math.Abs(want), 1e-300)
}

// hyp2F1 evaluates 2F1(A, ε; c; z) = 1 + ε·S with the package's series
// for c·S (seriesCS), for comparison with closed forms.
func hyp2F1(A, eps, c, z float64) float64 {
	cs, _ := seriesCS(A, eps, c, z)
	return 1 + eps*cs/c
}

func TestHyp2F1KnownValues(t *testing.T) {
	// Closed forms, for the package's series and for the reference series.
	for _, tc := range []struct {
		name       string
		a, b, c, z float64
		want       float64
	}{
		{"log z=0.5", 1, 1, 2, 0.5, -math.Log(0.5) / 0.5},
		{"log z=0.99", 1, 1, 2, 0.99, -math.Log(0.01) / 0.99},
		{"log z=-0.7", 1, 1, 2, -0.7, math.Log(1.7) / 0.7},
		{"binomial", 2.5, 1.3, 1.3, 0.6, math.Pow(0.4, -2.5)},
		{"binomial z=0.95", 0.7, 3.1, 3.1, 0.95, math.Pow(0.05, -0.7)},
		{"binomial b<0", 0.7, -0.45, -0.45, 0.9, math.Pow(0.1, -0.7)},
		{"arctan", 0.5, 1, 1.5, -0.64, math.Atan(0.8) / 0.8},
		{"arcsin", 0.5, 0.5, 1.5, 0.81, math.Asin(0.9) / 0.9},
		{"polynomial", -3, 2, 5, 0.7, 1 - 3*2*0.7/5 + 3*2*3*2*0.49/(5*6*2) - 3*2*1*2*3*4*0.343/(5*6*7*6)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hyp2F1(tc.a, tc.b, tc.c, tc.z); relErr(got, tc.want) > 1e-13 {
				t.Errorf("package series: %.16g, want %.16g", got, tc.want)
			}
			if got := refHyp2F1(tc.a, tc.b, tc.c, tc.z); relErr(got, tc.want) > 1e-13 {
				t.Errorf("reference series: %.16g, want %.16g", got, tc.want)
			}
		})
	}
	// ε = 0: F = 1, and c·S is its derivative in ε, which for A = c is
	// c·Σ z^k/k = -c·ln(1-z).
	if cs, _ := seriesCS(2.5, 0, 2.5, 0.9); relErr(cs, -2.5*math.Log(0.1)) > 1e-14 {
		t.Errorf("c·S at ε=0, A=c: %v, want %v", cs, -2.5*math.Log(0.1))
	}
}

func TestHyp2F1AgainstReferenceSeries(t *testing.T) {
	for _, A := range []float64{-7.5, -0.3, 0.2, 1.976, 12} {
		for _, eps := range []float64{-0.95, -0.2, 1e-7, 0.5, 4} {
			for _, c := range []float64{0.05, 1.2, 30, 500} {
				for _, z := range []float64{-0.5, 0.1, 0.5, 0.9, 0.99} {
					got, want := hyp2F1(A, eps, c, z), refHyp2F1(A, eps, c, z)
					// Where the terms alternate and cancel, both series
					// lose digits: allow the rounding seriesCS reports (and
					// that makes aliveExpectation integrate instead).
					_, abs := seriesCS(A, eps, c, z)
					if math.Abs(got-want) > 1e-13*max(1, math.Abs(want))+1e-14*math.Abs(eps)*abs/c {
						t.Errorf("2F1(%v, %v; %v; %v) = %.16g, reference series %.16g", A, eps, c, z, got, want)
					}
				}
			}
		}
	}
}

func TestQuadratureSelfCheck(t *testing.T) {
	// Beta(2.5, 0.3) integrates to 1 despite the singularity at 1.
	l := logIntegral01(func(lu, lv float64) float64 { return 1.5*lu - 0.7*lv - lbeta(2.5, 0.3) }, 1.0/64)
	if math.Abs(l) > 1e-13 {
		t.Errorf("log ∫ Beta(2.5, 0.3) = %v, want 0", l)
	}
}

var testParams = []struct {
	name string
	p    BGNBD
}{
	{"CDNOW", BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}},
	{"a=1", BGNBD{R: 0.5, Alpha: 3, A: 1, B: 2}},
	{"a=1-1e-9", BGNBD{R: 0.5, Alpha: 3, A: 1 - 1e-9, B: 2}},
	{"a=1+3e-6", BGNBD{R: 0.5, Alpha: 3, A: 1 + 3e-6, B: 2}},
	{"a+b<1", BGNBD{R: 2, Alpha: 0.5, A: 0.3, B: 0.4}},
	{"large a b", BGNBD{R: 4, Alpha: 20, A: 6, B: 30}},
	{"small r", BGNBD{R: 0.02, Alpha: 0.1, A: 2.5, B: 0.6}},
}

func TestPAlive(t *testing.T) {
	for _, tp := range testParams {
		t.Run(tp.name, func(t *testing.T) {
			// BG/NBD: nobody drops out before a repeat purchase.
			for _, T := range []float64{0, 1, 40, 1e4} {
				if got := tp.p.PAlive(0, 0, T); got != 1 {
					t.Errorf("PAlive(0, 0, %v) = %v, want 1", T, got)
				}
			}
			for _, c := range []struct{ x, tx, T float64 }{
				{1, 1, 1}, {1, 0.5, 30}, {3, 10, 39}, {26, 30.857, 31}, {10, 2, 100}, {200, 150, 160},
			} {
				got := tp.p.PAlive(c.x, c.tx, c.T)
				want := refPAlive(tp.p, c.x, c.tx, c.T)
				if relErr(got, want) > 1e-9 && math.Abs(got-want) > 1e-14 {
					t.Errorf("PAlive(%v, %v, %v) = %.15g, numeric integration %.15g", c.x, c.tx, c.T, got, want)
				}
				if !(got > 0 && got <= 1) {
					t.Errorf("PAlive(%v, %v, %v) = %v, not a probability", c.x, c.tx, c.T, got)
				}
				if later := tp.p.PAlive(c.x, c.tx, c.T+5); later > got {
					t.Errorf("PAlive rose with T: %v then %v", got, later)
				}
			}
		})
	}
	if got := testParams[0].p.PAlive(-1, 0, 1); !math.IsNaN(got) {
		t.Errorf("PAlive(x=-1) = %v, want NaN", got)
	}
}

func TestExpectedPurchasesAgainstIntegral(t *testing.T) {
	cases := []struct{ t, x, tx, T float64 }{
		{1, 0, 0, 0}, {10, 0, 0, 0}, {52, 0, 0, 0}, {1e3, 0, 0, 0}, {1e5, 0, 0, 0},
		{39, 0, 0, 30}, {39, 2, 30.43, 38.86}, {10, 26, 30.857, 31}, {52, 5, 20, 70},
		{1e-6, 3, 2, 5}, {1e4, 4, 3, 8}, {104, 1000, 990, 1000}, {520, 3000, 2900, 3000},
		// z = 0.95, x = 500: at "large a b" c-a-b of the transformed 2F1 is
		// the integer 499, where Cephes' hyp2f1 never returns.
		{11780, 500, 590, 600},
	}
	for _, tp := range testParams {
		t.Run(tp.name, func(t *testing.T) {
			for _, c := range cases {
				got := tp.p.ExpectedPurchases(c.t, c.x, c.tx, c.T)
				want := refPAlive(tp.p, c.x, c.tx, c.T) * refAliveExpectation(tp.p, c.t, c.x, c.T)
				z := c.t / (tp.p.Alpha + c.T + c.t)
				if relErr(got, want) > 1e-9 || math.IsNaN(got) {
					t.Errorf("E[X(%v) | x=%v, t_x=%v, T=%v] (z=%.6f) = %.15g, numeric integration %.15g (rel. err. %.1e)",
						c.t, c.x, c.tx, c.T, z, got, want, relErr(got, want))
				}
			}
		})
	}
}

func TestAliveExpectationRandomParameters(t *testing.T) {
	// Both evaluation paths (the series, the quadrature near z = 1 or
	// when the series cancels) against the reference integral, over
	// parameters far wider than fits produce.
	rng := rand.New(rand.NewPCG(7, 11))
	logU := func(lo, hi float64) float64 { return lo * math.Pow(hi/lo, rng.Float64()) }
	n := 400
	if testing.Short() {
		n = 60
	}
	for i := range n {
		p := BGNBD{R: logU(0.01, 50), Alpha: logU(0.01, 100), A: logU(0.02, 200), B: logU(0.02, 500)}
		if i%5 == 0 {
			p.A = 1 + (rng.Float64()-0.5)*1e-6
		}
		x := float64(rng.IntN(4))
		if i%3 == 0 {
			x = float64(rng.IntN(600))
		}
		z := 0.01 + 0.98*rng.Float64()
		if i%4 == 0 {
			z = 1 - logU(1e-7, 0.01)
		}
		T := logU(0.01, 500)
		tt := z / (1 - z) * (p.Alpha + T)
		got := p.aliveExpectation(tt, x, T)
		want := refAliveExpectation(p, tt, x, T)
		if relErr(got, want) > 1e-10 || math.IsNaN(got) {
			t.Errorf("%+v x=%v T=%v z=%v: E[X(t) | alive] = %.15g, integral %.15g", p, x, T, z, got, want)
		}
		if z > seriesMaxZ {
			continue
		}
		q := quadAliveExpectation(p.A, p.B+x, p.R+x, tt/(p.Alpha+T))
		if relErr(q, want) > 1e-12 {
			t.Errorf("%+v x=%v T=%v z=%v: quadrature %.15g, integral %.15g", p, x, T, z, q, want)
		}
	}
}

func TestExpectedPurchasesAgainstSeries(t *testing.T) {
	// Eq. 10 as printed, with the plain series, where that is accurate.
	for _, tp := range testParams {
		if math.Abs(tp.p.A-1) < 1e-3 {
			continue // eq. 10 divides by a-1
		}
		t.Run(tp.name, func(t *testing.T) {
			for _, c := range []struct{ t, x, tx, T float64 }{
				{1, 0, 0, 0}, {5, 0, 0, 10}, {39, 2, 30.43, 38.86}, {10, 26, 30.857, 31}, {20, 7, 8, 30}, {100, 12, 80, 90},
			} {
				got := tp.p.ExpectedPurchases(c.t, c.x, c.tx, c.T)
				want := refLifetimesExpectation(tp.p, c.t, c.x, c.tx, c.T)
				if relErr(got, want) > 1e-9 {
					t.Errorf("E[X(%v) | %v, %v, %v] = %.15g, eq. 10 with the series %.15g", c.t, c.x, c.tx, c.T, got, want)
				}
			}
		})
	}
}

func TestExpectedPurchasesProperties(t *testing.T) {
	for _, tp := range testParams {
		t.Run(tp.name, func(t *testing.T) {
			p := tp.p
			if got := p.ExpectedPurchases(0, 3, 2, 5); got != 0 {
				t.Errorf("E[X(0)] = %v, want 0", got)
			}
			// Across the switch from the series to the integral, and
			// increasing in t everywhere.
			T := 5.0
			tAt := func(z float64) float64 { return z * (p.Alpha + T) / (1 - z) }
			prev := 0.0
			for _, z := range []float64{0.1, 0.5, 0.9, 0.98, seriesMaxZ - 1e-9, seriesMaxZ + 1e-9, 0.995, 0.9999, 1 - 1e-12} {
				got := p.ExpectedPurchases(tAt(z), 3, 4, T)
				if !(got > prev) {
					t.Errorf("E[X(t)] at z=%v = %v, not above %v at the previous z", z, got, prev)
				}
				prev = got
			}
			// The limit: the purchases expected before dropping out (the
			// approach is as t^(1-a): check it where that is fast).
			inf := p.ExpectedPurchases(math.Inf(1), 3, 4, T)
			if p.A <= 1 && !math.IsInf(inf, 1) || p.A > 1 && !(inf > prev) ||
				p.A > 1.5 && relErr(inf, p.ExpectedPurchases(1e15, 3, 4, T)) > 1e-3 {
				t.Errorf("E[X(∞)] = %v (at t = 1e15: %v)", inf, p.ExpectedPurchases(1e15, 3, 4, T))
			}
			lo := p.ExpectedPurchases(tAt(seriesMaxZ-1e-12), 0, 0, T)
			hi := p.ExpectedPurchases(tAt(seriesMaxZ+1e-12), 0, 0, T)
			if relErr(lo, hi) > 1e-9 {
				t.Errorf("discontinuity at z=%v: %v below, %v above", seriesMaxZ, lo, hi)
			}
			// A new customer is a customer at x = t_x = T = 0.
			if a, b := p.ExpectedPurchasesNew(13), p.ExpectedPurchases(13, 0, 0, 0); a != b {
				t.Errorf("ExpectedPurchasesNew(13) = %v, ExpectedPurchases(13, 0, 0, 0) = %v", a, b)
			}
			// With x == 0 the only change with T is the rate's posterior.
			if a, b := p.ExpectedPurchases(10, 0, 0, 1), p.ExpectedPurchases(10, 0, 0, 50); !(b < a) {
				t.Errorf("E[X(10) | x=0] rose with T: %v then %v", a, b)
			}
		})
	}
	if got := testParams[0].p.ExpectedPurchases(1, -1, 0, 1); !math.IsNaN(got) {
		t.Errorf("x=-1: %v, want NaN", got)
	}
}

func TestExpectedPurchasesNewAgainstPrior(t *testing.T) {
	// E[X(t)] for a new customer integrates (1 - e^{-λpt})/p over the
	// prior (FHL 2005, eq. 7 to 9).
	for _, tp := range testParams {
		t.Run(tp.name, func(t *testing.T) {
			for _, tt := range []float64{0.5, 4, 39, 78, 1000} {
				got := tp.p.ExpectedPurchasesNew(tt)
				want := refAliveExpectation(tp.p, tt, 0, 0)
				if relErr(got, want) > 1e-9 {
					t.Errorf("E[X(%v)] = %.15g, integral %.15g", tt, got, want)
				}
			}
		})
	}
}

func TestBGNBDLogLikelihoodAgainstDirect(t *testing.T) {
	// Eq. 6 of FHL 2005 computed directly in floating point (fine for
	// small x) against the log-space version.
	p := testParams[0].p
	cs := []Customer{{X: 0, Tx: 0, T: 38.86}, {X: 2, Tx: 30.43, T: 38.86}, {X: 1, Tx: 1.71, T: 38.86}, {X: 5, Tx: 20, T: 20}}
	var want float64
	for _, c := range cs {
		beta := func(a, b float64) float64 { return math.Exp(lbeta(a, b)) }
		common := math.Gamma(p.R+c.X) * math.Pow(p.Alpha, p.R) / math.Gamma(p.R)
		l := beta(p.A, p.B+c.X) / beta(p.A, p.B) * common / math.Pow(p.Alpha+c.T, p.R+c.X)
		if c.X > 0 {
			l += beta(p.A+1, p.B+c.X-1) / beta(p.A, p.B) * common / math.Pow(p.Alpha+c.Tx, p.R+c.X)
		}
		want += math.Log(l)
	}
	if got := p.LogLikelihood(cs); relErr(got, want) > 1e-12 {
		t.Errorf("LogLikelihood = %.15g, direct %.15g", got, want)
	}
	var s Summary
	for _, c := range cs {
		if err := s.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.BGNBDLogLikelihood(p); relErr(got, want) > 1e-12 {
		t.Errorf("Summary.BGNBDLogLikelihood = %.15g, direct %.15g", got, want)
	}
}

func TestGradients(t *testing.T) {
	// The analytic gradients the fits use, against central differences.
	cs := []group{{0, 0, 38.86, 1000}, {2, 30.43, 38.86, 40}, {1, 1.71, 30, 100}, {7, 25, 39, 3}, {40, 30, 31, 1}}
	p := BGNBD{R: 0.3, Alpha: 5, A: 0.8, B: 2.2}
	var g [4]float64
	bgLogLikelihood(p, cs, &g)
	for i := range 4 {
		h := 1e-6
		at := func(d float64) float64 {
			q := p
			v := [4]*float64{&q.R, &q.Alpha, &q.A, &q.B}
			*v[i] *= 1 + d
			return bgLogLikelihood(q, cs, nil)
		}
		num := (at(h) - at(-h)) / (2 * h * [4]float64{p.R, p.Alpha, p.A, p.B}[i])
		if relErr(g[i], num) > 1e-6 {
			t.Errorf("BG/NBD ∂LL/∂θ%d = %v, numeric %v", i, g[i], num)
		}
	}
	gs := []group{{1, 10, 0, 3}, {2, 25.5, 0, 2}, {7, 80, 0, 1}}
	gg := GammaGamma{P: 6, Q: 3.7, Gamma: 15}
	var gr [3]float64
	ggLogLikelihood(gg, gs, &gr)
	for i := range 3 {
		h := 1e-6
		at := func(d float64) float64 {
			q := gg
			v := [3]*float64{&q.P, &q.Q, &q.Gamma}
			*v[i] *= 1 + d
			return ggLogLikelihood(q, gs, nil)
		}
		num := (at(h) - at(-h)) / (2 * h * [3]float64{gg.P, gg.Q, gg.Gamma}[i])
		if relErr(gr[i], num) > 1e-6 {
			t.Errorf("Gamma-Gamma ∂LL/∂θ%d = %v, numeric %v", i, gr[i], num)
		}
	}
}
