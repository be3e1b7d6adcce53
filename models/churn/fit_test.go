package churn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// simulateBGNBD draws n customers from BG/NBD with parameters p, each
// observed for T ~ U(minT, maxT) units after its first purchase: λ ~
// Gamma(r, α), p ~ Beta(a, b); while alive, purchases follow a Poisson
// process with rate λ and after each repeat purchase the customer drops
// out with probability p.
func simulateBGNBD(rng *rand.Rand, p BGNBD, n int, minT, maxT float64) []Customer {
	src := rand.NewPCG(rng.Uint64(), rng.Uint64())
	lambdas := distuv.Gamma{Alpha: p.R, Beta: p.Alpha, Src: src}
	drops := distuv.Beta{Alpha: p.A, Beta: p.B, Src: src}
	cs := make([]Customer, n)
	for i := range cs {
		T := minT + (maxT-minT)*rng.Float64()
		lambda, drop := lambdas.Rand(), drops.Rand()
		c := Customer{T: T}
		for now := 0.0; ; {
			now += rng.ExpFloat64() / lambda
			if now > T {
				break
			}
			c.X++
			c.Tx = now
			if rng.Float64() < drop {
				break
			}
		}
		cs[i] = c
	}
	return cs
}

// simulateGammaGamma draws n repeat buyers with x ~ 1 + Poisson-ish
// counts and zbar the mean of x Gamma(p, ν) values, ν ~ Gamma(q, γ).
func simulateGammaGamma(rng *rand.Rand, g GammaGamma, n int) []Customer {
	src := rand.NewPCG(rng.Uint64(), rng.Uint64())
	nus := distuv.Gamma{Alpha: g.Q, Beta: g.Gamma, Src: src}
	cs := make([]Customer, n)
	for i := range cs {
		x := 1 + rng.IntN(8)
		spend := distuv.Gamma{Alpha: g.P, Beta: nus.Rand(), Src: src}
		var sum float64
		for range x {
			sum += spend.Rand()
		}
		cs[i] = Customer{X: float64(x), Tx: 1, T: 2, MeanRepeatSpend: sum / float64(x)}
	}
	return cs
}

// logParamSE returns the standard errors of the log-parameters at the
// maximum, from the observed information (a finite-difference Hessian of
// the log-likelihood in the log-parameters).
func logParamSE(ll func(theta []float64) float64, theta []float64) []float64 {
	n := len(theta)
	h := 1e-4
	H := make([][]float64, n)
	at := func(i, j int, di, dj float64) float64 {
		x := append([]float64(nil), theta...)
		x[i] += di
		x[j] += dj
		return ll(x)
	}
	for i := range n {
		H[i] = make([]float64, n)
		for j := range n {
			H[i][j] = -(at(i, j, h, h) - at(i, j, h, -h) - at(i, j, -h, h) + at(i, j, -h, -h)) / (4 * h * h)
		}
	}
	inv := invert(H)
	se := make([]float64, n)
	for i := range se {
		se[i] = math.Sqrt(inv[i][i])
	}
	return se
}

// invert inverts a small symmetric positive-definite matrix by
// Gauss-Jordan elimination.
func invert(m [][]float64) [][]float64 {
	n := len(m)
	a := make([][]float64, n)
	for i := range a {
		a[i] = make([]float64, 2*n)
		copy(a[i], m[i])
		a[i][n+i] = 1
	}
	for c := range n {
		piv := a[c][c]
		for j := range a[c] {
			a[c][j] /= piv
		}
		for r := range n {
			if r != c {
				f := a[r][c]
				for j := range a[r] {
					a[r][j] -= f * a[c][j]
				}
			}
		}
	}
	out := make([][]float64, n)
	for i := range out {
		out[i] = a[i][n:]
	}
	return out
}

func TestFitRecoversSimulatedBGNBD(t *testing.T) {
	// 5,000 customers observed 1 to 2 years, weekly unit. With a fixed
	// seed the test is deterministic; the tolerances are statistical all
	// the same: each parameter within its band (15% where the data
	// identify it well) and within 4 standard errors of the truth, and the
	// likelihood-ratio statistic at the truth below the 99.9% quantile of
	// χ²(4) (18.47).
	// Dropout (a, b) is identified only through the customers who stop
	// buying: with CDNOW-like parameters half the customers never repeat
	// and b's standard error is ~13%, so its band is wider there.
	cases := []struct {
		want BGNBD
		tol  [4]float64 // relative, on r, α, a, b
	}{
		{BGNBD{R: 1.2, Alpha: 8, A: 0.8, B: 2.8}, [4]float64{0.15, 0.15, 0.15, 0.15}},
		{BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.4}, [4]float64{0.15, 0.15, 0.35, 0.35}},
	}
	if testing.Short() {
		cases = cases[:1]
	}
	for i, tc := range cases {
		want := tc.want
		t.Run(paramName(want), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i)+1, 2005))
			cs := simulateBGNBD(rng, want, 5000, 52, 104)
			s := summaryOf(t, cs)
			got, info, err := Fit(t.Context(), s, nil, FitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !info.Converged {
				t.Errorf("not converged: %+v", info)
			}
			gs := s.bgGroups()
			llTheta := func(th []float64) float64 {
				return bgLogLikelihood(BGNBD{R: math.Exp(th[0]), Alpha: math.Exp(th[1]), A: math.Exp(th[2]), B: math.Exp(th[3])}, gs, nil)
			}
			se := logParamSE(llTheta, []float64{math.Log(got.R), math.Log(got.Alpha), math.Log(got.A), math.Log(got.B)})
			t.Logf("truth %+v; fit %+v (LL %.2f, %d repeat of %d, %d iterations, %v); SE of ln θ: %.3f",
				want, got, info.LogLikelihood, info.RepeatCustomers, info.Customers, info.Iterations, info.Duration, se)
			for j, v := range [][2]float64{{got.R, want.R}, {got.Alpha, want.Alpha}, {got.A, want.A}, {got.B, want.B}} {
				name := [...]string{"r", "alpha", "a", "b"}[j]
				checkRel(t, name, v[0], v[1], tc.tol[j])
				if d := math.Abs(math.Log(v[0] / v[1])); d > 4*se[j] {
					t.Errorf("%s: ln(fit/truth) = %.3f, beyond 4 standard errors (%.3f)", name, d, 4*se[j])
				}
			}
			lr := 2 * (info.LogLikelihood - s.BGNBDLogLikelihood(want))
			if lr < -1e-6 || lr > 18.47 {
				t.Errorf("likelihood-ratio statistic at the truth = %.3f, want within [0, 18.47]", lr)
			}
		})
	}
}

func paramName(p BGNBD) string {
	return fmt.Sprintf("r=%g,alpha=%g,a=%g,b=%g", p.R, p.Alpha, p.A, p.B)
}

func TestFitRecoversSimulatedGammaGamma(t *testing.T) {
	want := GammaGamma{P: 6, Q: 4, Gamma: 15}
	rng := rand.New(rand.NewPCG(13, 2013))
	cs := simulateGammaGamma(rng, want, 5000)
	s := summaryOf(t, cs)
	got, info, err := FitGammaGamma(t.Context(), s, nil, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gs := s.ggGroups()
	llTheta := func(th []float64) float64 {
		return ggLogLikelihood(GammaGamma{P: math.Exp(th[0]), Q: math.Exp(th[1]), Gamma: math.Exp(th[2])}, gs, nil)
	}
	se := logParamSE(llTheta, []float64{math.Log(got.P), math.Log(got.Q), math.Log(got.Gamma)})
	t.Logf("truth %+v; fit %+v (LL %.2f, %d buyers, %d iterations, %v); SE of ln θ: %.3f",
		want, got, info.LogLikelihood, info.Customers, info.Iterations, info.Duration, se)
	for j, v := range [][2]float64{{got.P, want.P}, {got.Q, want.Q}, {got.Gamma, want.Gamma}} {
		name := [...]string{"p", "q", "gamma"}[j]
		checkRel(t, name, v[0], v[1], 0.15)
		if d := math.Abs(math.Log(v[0] / v[1])); d > 4*se[j] {
			t.Errorf("%s: ln(fit/truth) = %.3f, beyond 4 standard errors (%.3f)", name, d, 4*se[j])
		}
	}
	lr := 2 * (info.LogLikelihood - s.GammaGammaLogLikelihood(want))
	if lr < -1e-6 || lr > 16.27 { // χ²(3), 99.9%
		t.Errorf("likelihood-ratio statistic at the truth = %.3f, want within [0, 16.27]", lr)
	}
	if !info.Converged {
		t.Errorf("not converged: %+v", info)
	}
}

func TestFitDegenerateData(t *testing.T) {
	one := func(cs ...Customer) Summary { return summaryOf(t, cs) }
	many := func(c Customer, n int) Summary {
		var s Summary
		for range n {
			if err := s.Add(c); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	for _, tc := range []struct {
		name         string
		s            Summary
		bgErr, ggErr error
	}{
		{"empty", Summary{}, ErrNotEnoughData, ErrNotEnoughData},
		{"nobody repeats", many(Customer{T: 20}, 100), ErrNotEnoughData, ErrNotEnoughData},
		{"repeaters without spend", many(Customer{X: 2, Tx: 3, T: 20}, 10), nil, ErrNotEnoughData},
		{"one repeat customer", one(Customer{X: 1, Tx: 1, T: 2, MeanRepeatSpend: 10}), nil, nil},
		{"all identical", many(Customer{X: 3, Tx: 10, T: 12, MeanRepeatSpend: 7}, 500), nil, nil},
		{"everyone buys at the end", many(Customer{X: 5, Tx: 30, T: 30, MeanRepeatSpend: 1}, 50), nil, nil},
		{"new customers only and one repeat", merged(many(Customer{}, 1000), one(Customer{X: 1, Tx: 0.1, T: 0.1, MeanRepeatSpend: 1e6})), nil, nil},
		{"extreme spread", one(Customer{X: 1, Tx: 1e-9, T: 1e9, MeanRepeatSpend: 1e-9}, Customer{X: 4000, Tx: 1e6, T: 1e6, MeanRepeatSpend: 1e12}, Customer{T: 1e9}), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, info, err := Fit(t.Context(), tc.s, nil, FitOptions{MaxDuration: 5 * time.Second})
			if !errors.Is(err, tc.bgErr) || (tc.bgErr == nil && err != nil) {
				t.Fatalf("Fit error %v, want %v", err, tc.bgErr)
			}
			if err == nil {
				if verr := p.Validate(); verr != nil || math.IsNaN(info.LogLikelihood) || math.IsInf(info.LogLikelihood, 0) {
					t.Errorf("Fit returned %+v, LL %v: %v", p, info.LogLikelihood, verr)
				}
				if pa := p.PAlive(1, 1, 2); math.IsNaN(pa) {
					t.Errorf("P(alive) NaN at fitted %+v", p)
				}
			}
			g, info, err := FitGammaGamma(t.Context(), tc.s, nil, FitOptions{MaxDuration: 5 * time.Second})
			if !errors.Is(err, tc.ggErr) || (tc.ggErr == nil && err != nil) {
				t.Fatalf("FitGammaGamma error %v, want %v", err, tc.ggErr)
			}
			if err == nil {
				if verr := g.Validate(); verr != nil || math.IsNaN(info.LogLikelihood) || math.IsInf(info.LogLikelihood, 0) {
					t.Errorf("FitGammaGamma returned %+v, LL %v: %v", g, info.LogLikelihood, verr)
				}
			}
		})
	}
}

func TestFitBudgetsAndCancellation(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	s := summaryOf(t, simulateBGNBD(rng, BGNBD{R: 0.5, Alpha: 5, A: 0.9, B: 3}, 2000, 20, 60))
	s.Merge(summaryOf(t, simulateGammaGamma(rng, GammaGamma{P: 3, Q: 5, Gamma: 40}, 500)))

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, _, err := Fit(ctx, s, nil, FitOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("Fit: %v, want context.Canceled", err)
		}
		if _, _, err := FitGammaGamma(ctx, s, nil, FitOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("FitGammaGamma: %v, want context.Canceled", err)
		}
	})
	t.Run("cancelled during the fit", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		// Cancel from inside the optimisation: the first iterations run.
		go func() { time.Sleep(time.Millisecond); cancel() }()
		for {
			_, _, err := Fit(ctx, s, nil, FitOptions{})
			calls++
			if errors.Is(err, context.Canceled) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if calls > 10000 {
				t.Fatal("cancellation never observed")
			}
		}
	})
	t.Run("iteration budget", func(t *testing.T) {
		p, info, err := Fit(t.Context(), s, nil, FitOptions{MaxIterations: 2})
		if err != nil || p.Validate() != nil {
			t.Fatalf("Fit: %+v, %v", p, err)
		}
		if info.Converged || info.Iterations > 2 {
			t.Errorf("info %+v: want not converged after at most 2 iterations", info)
		}
	})
	t.Run("time budget", func(t *testing.T) {
		p, info, err := Fit(t.Context(), s, nil, FitOptions{MaxDuration: time.Nanosecond})
		if err != nil || p.Validate() != nil {
			t.Fatalf("Fit: %+v, %v", p, err)
		}
		if info.Converged {
			t.Errorf("converged in a nanosecond: %+v", info)
		}
	})
	t.Run("warm start", func(t *testing.T) {
		cold, coldInfo, err := Fit(t.Context(), s, nil, FitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		warm, warmInfo, err := Fit(t.Context(), s, &cold, FitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if relErr(warm.R, cold.R) > 1e-5 || math.Abs(warmInfo.LogLikelihood-coldInfo.LogLikelihood) > 1e-6 || warmInfo.Iterations >= coldInfo.Iterations {
			t.Errorf("warm start from the optimum: %+v in %d iterations, cold %+v in %d", warm, warmInfo.Iterations, cold, coldInfo.Iterations)
		}
		bad := BGNBD{R: math.NaN(), Alpha: 1, A: 1, B: 1}
		if p, _, err := Fit(t.Context(), s, &bad, FitOptions{}); err != nil || relErr(p.R, cold.R) > 1e-4 {
			t.Errorf("an invalid warm start is not ignored: %+v, %v", p, err)
		}
	})
	t.Run("invalid options", func(t *testing.T) {
		if _, _, err := Fit(t.Context(), s, nil, FitOptions{MaxDuration: -1}); err == nil {
			t.Error("negative MaxDuration accepted")
		}
		if _, _, err := FitGammaGamma(t.Context(), s, nil, FitOptions{MaxIterations: -1}); err == nil {
			t.Error("negative MaxIterations accepted")
		}
	})
}
