package churn

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// ErrInvalidParams is returned (wrapped) by the Validate methods of the
// parameter sets: every parameter must be finite and positive.
var ErrInvalidParams = errors.New("churn: invalid model parameters")

// BGNBD holds the four parameters of the BG/NBD model (Fader, Hardie & Lee
// 2005). While alive, a customer buys as a Poisson process with rate λ;
// λ ~ Gamma(shape R, rate Alpha) across customers, so Alpha is in the model
// time unit (R/Alpha is the mean rate per unit). After each repeat purchase
// the customer drops out for good with probability p; p ~ Beta(A, B).
type BGNBD struct {
	R, Alpha float64
	A, B     float64
}

// Validate reports whether every parameter is finite and positive.
func (p BGNBD) Validate() error {
	for _, v := range [...]struct {
		name string
		v    float64
	}{{"r", p.R}, {"alpha", p.Alpha}, {"a", p.A}, {"b", p.B}} {
		if !(v.v > 0) || math.IsInf(v.v, 0) {
			return fmt.Errorf("%w: BG/NBD %s = %v, want a finite positive number", ErrInvalidParams, v.name, v.v)
		}
	}
	return nil
}

// LogLikelihood returns the BG/NBD log-likelihood of the customers (FHL
// 2005, eq. 6; the sum of eq. 3 integrated over λ and p), with the
// customers' Tx and T in the unit of p.Alpha. Customers must be valid (see
// Customer.Validate); the value is not defined otherwise.
//
// It is computed in log space: log-gamma for the gamma and beta functions
// and a log-sum-exp of the "alive at T" and "dropped out after t_x" terms,
// so it is finite for any valid parameters and customers. A Summary gives
// the same value for many customers at the cost of its distinct entries
// (Summary.BGNBDLogLikelihood).
func (p BGNBD) LogLikelihood(cs []Customer) float64 {
	e := newBGEval(p)
	var ll float64
	for _, c := range cs {
		ll += e.term(c.X, c.Tx, c.T, 1, nil)
	}
	return ll
}

// bgEval evaluates the BG/NBD log-likelihood, and optionally its gradient,
// customer group by customer group. The terms that depend on x only are
// cached, so groups sorted by x cost a few logarithms each.
type bgEval struct {
	p                      BGNBD
	lnAlpha, lnA           float64
	lgR, lgAB, lgB         float64
	psiR, psiAB, psiB      float64
	haveX                  bool
	x                      float64
	base                   float64 // ln Γ(r+x)/Γ(r) + r ln α + ln B(a, b+x)/B(a, b)
	dBaseR, dBaseA, dBaseB float64 // its partial derivatives (α's is r/α)
	needGrad               bool
}

func lgamma(v float64) float64 {
	l, _ := math.Lgamma(v)
	return l
}

func newBGEval(p BGNBD) bgEval {
	return bgEval{
		p:       p,
		lnAlpha: math.Log(p.Alpha),
		lnA:     math.Log(p.A),
		lgR:     lgamma(p.R),
		lgAB:    lgamma(p.A + p.B),
		lgB:     lgamma(p.B),
	}
}

func (e *bgEval) withGrad() {
	e.needGrad = true
	e.psiR = mathext.Digamma(e.p.R)
	e.psiAB = mathext.Digamma(e.p.A + e.p.B)
	e.psiB = mathext.Digamma(e.p.B)
}

// term returns the log-likelihood of one customer (x, tx, T); when g is
// not nil it adds n times the gradient with respect to (r, α, a, b).
func (e *bgEval) term(x, tx, T, n float64, g *[4]float64) float64 {
	p := &e.p
	if !e.haveX || x != e.x {
		e.haveX, e.x = true, x
		e.base = lgamma(p.R+x) - e.lgR + p.R*e.lnAlpha +
			e.lgAB + lgamma(p.B+x) - e.lgB - lgamma(p.A+p.B+x)
		if e.needGrad {
			psiABx := mathext.Digamma(p.A + p.B + x)
			e.dBaseR = mathext.Digamma(p.R+x) - e.psiR + e.lnAlpha
			e.dBaseA = e.psiAB - psiABx
			e.dBaseB = e.psiAB + mathext.Digamma(p.B+x) - e.psiB - psiABx
		}
	}
	rx := p.R + x
	lnAT := math.Log(p.Alpha + T)
	l3 := -rx * lnAT // alive at T
	if x == 0 {
		if g != nil {
			g[0] += n * (e.dBaseR - lnAT)
			g[1] += n * (p.R/p.Alpha - rx/(p.Alpha+T))
			g[2] += n * e.dBaseA
			g[3] += n * e.dBaseB
		}
		return e.base + l3
	}
	lnATx := math.Log(p.Alpha + tx)
	bx1 := p.B + x - 1
	l4 := e.lnA - math.Log(bx1) - rx*lnATx // dropped out right after t_x
	d := l4 - l3
	var lse, w4, w3 float64 // log(e^l3 + e^l4), and the weights of l4, l3
	if d > 0 {
		lse = l4 + math.Log1p(math.Exp(-d))
		w3 = 1 / (1 + math.Exp(d))
		w4 = 1 - w3
	} else {
		lse = l3 + math.Log1p(math.Exp(d))
		w4 = 1 / (1 + math.Exp(-d))
		w3 = 1 - w4
	}
	if g != nil {
		g[0] += n * (e.dBaseR - w3*lnAT - w4*lnATx)
		g[1] += n * (p.R/p.Alpha - rx*(w3/(p.Alpha+T)+w4/(p.Alpha+tx)))
		g[2] += n * (e.dBaseA + w4/p.A)
		g[3] += n * (e.dBaseB - w4/bx1)
	}
	return e.base + lse
}

// PAlive returns the probability that a customer with x repeat
// transactions, the last at tx, observed at age T (in the unit of Alpha) is
// still alive (FHL 2005, eq. 13):
//
//	P(alive | x, t_x, T) = 1 / (1 + δ(x>0) · a/(b+x-1) · ((α+T)/(α+t_x))^(r+x))
//
// It is 1 when x == 0: in BG/NBD a customer can only drop out right after a
// repeat purchase. It is computed in log space and does not allocate.
// It returns NaN for x < 0 or NaN inputs.
func (p BGNBD) PAlive(x, tx, T float64) float64 {
	if x == 0 {
		return 1
	}
	if !(x > 0) {
		return math.NaN()
	}
	lt := math.Log(p.A/(p.B+x-1)) + (p.R+x)*math.Log1p((T-tx)/(p.Alpha+tx))
	return 1 / (1 + math.Exp(lt))
}

// ExpectedPurchases returns E[X(T, T+t] | x, t_x, T]: the expected number
// of purchases (purchase days) in the next t units of a customer with x
// repeat transactions, the last at tx, observed at age T (FHL 2005, eq. 10):
//
//	(a+b+x-1)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x-1; z)]
//	  / (1 + δ(x>0) · a/(b+x-1) · ((α+T)/(α+t_x))^(r+x)),   z = t/(α+T+t).
//
// The 2F1 is evaluated after Euler's transformation,
//
//	((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; c; z) = (1-z)^(a-1) · 2F1(a+b-1-r, a-1; c; z),
//
// whose right side stays of order one for every x (the left side's 2F1
// overflows for large x), and the division by a-1 is carried out
// analytically on its series, so a = 1 is no special case. See doc.go for
// the numerical notes. t <= 0 gives 0; t = +Inf gives the expected number
// of purchases before dropping out, P(alive)·(a+b+x-1)/(a-1), infinite for
// a <= 1; NaN inputs and x < 0 give NaN.
func (p BGNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	pa := p.PAlive(x, tx, T)
	switch {
	case math.IsNaN(pa) || math.IsNaN(t):
		return math.NaN()
	case t <= 0:
		return 0
	case math.IsInf(t, 1):
		if p.A <= 1 {
			return math.Inf(1)
		}
		return pa * (p.A + p.B + x - 1) / (p.A - 1)
	}
	return pa * p.aliveExpectation(t, x, T)
}

// ExpectedPurchasesNew returns E[X(t)], the expected number of repeat
// purchases in the first t units of a customer just acquired (FHL 2005,
// eq. 9): the conditional expectation at x = t_x = T = 0.
func (p BGNBD) ExpectedPurchasesNew(t float64) float64 {
	return p.ExpectedPurchases(t, 0, 0, 0)
}

// seriesMaxZ is the largest z for which aliveExpectation sums the 2F1
// series: at most about 4,000 terms (z^k reaches 1e-17 at k ≈ 3,900).
// Above it the series converges too slowly and the defining integral is
// computed instead (quadAliveExpectation). Cephes' hyp2f1 (gonum's
// mathext.Hypergeo) is not used: its expansion for z > 0.9 with c-a-b a
// large integer never terminates.
const seriesMaxZ = 0.99

// aliveExpectation returns E[X(T, T+t] | alive at T, x] =
// (a+b+x-1)/(a-1) · [1 - (1-z)^ε · F], ε = a-1,
// F = 2F1(a+b-1-r, ε; c; z), c = a+b+x-1, z = t/(α+T+t).
//
// With F = 1 + ε·S, S = Σ_{k≥1} (A)_k (ε+1)_{k-1} z^k / ((c)_k k!),
// A = a+b-1-r:
//
//	c·[1 - (1-z)^ε F]/ε = c·(-expm1(ε·ln(1-z))/ε) - (1-z)^ε · c·S
//
// where c·S = Σ u_k, u_1 = A·z, u_{k+1} = u_k·(A+k)(ε+k)z/((c+k)(k+1)):
// finite at ε = 0 and at c = 0 (x = 0, a+b = 1).
func (p BGNBD) aliveExpectation(t, x, T float64) float64 {
	s := t / (p.Alpha + T) // z/(1-z)
	z := t / (p.Alpha + T + t)
	if z > seriesMaxZ {
		return quadAliveExpectation(p.A, p.B+x, p.R+x, s)
	}
	lnOneMinusZ := -math.Log1p(s) // accurate for z near 1
	eps := p.A - 1
	A := p.A + p.B - 1 - p.R
	c := p.A + p.B + x - 1
	var term1 float64 // -expm1(ε ln(1-z))/ε
	if eps == 0 {
		term1 = -lnOneMinusZ
	} else {
		term1 = -math.Expm1(eps*lnOneMinusZ) / eps
	}
	pow := math.Exp(eps * lnOneMinusZ)
	cs, abs := seriesCS(A, eps, c, z)
	g := c*term1 - pow*cs
	// With A large and negative (r >> a+b) the terms alternate and
	// cancel, and the two parts may cancel too: if that costs more than
	// ~3 of the 16 digits, integrate instead.
	if 2.3e-16*(math.Abs(c*term1)+pow*abs) <= 1e-13*math.Abs(g) {
		return g
	}
	return quadAliveExpectation(p.A, p.B+x, p.R+x, s)
}

// seriesCS returns c·S (see aliveExpectation) by summing the series until
// the tail, bounded geometrically, is below 1e-17 of the sum, and the sum of
// the terms' magnitudes (which bounds the rounding error).
func seriesCS(A, eps, c, z float64) (sum, abs float64) {
	const maxTerms = 1 << 16
	u := A * z
	sum, abs = u, math.Abs(u)
	for k := 1.0; k < maxTerms; k++ {
		if u == 0 {
			break
		}
		ratio := (A + k) * (eps + k) * z / ((c + k) * (k + 1))
		u *= ratio
		sum += u
		abs += math.Abs(u)
		// Once the terms shrink monotonically the tail after u is at most
		// u·q/(1-q), q = max(ratio, z): the ratios tend to z, from above
		// or from below.
		q := max(math.Abs(ratio), z)
		if k > math.Abs(A) && q < 1 && math.Abs(u)*q <= 1e-17*(1-q)*math.Abs(sum) {
			break
		}
	}
	return sum, abs
}

// quadAliveExpectation returns E[X(t) | alive] for z near 1 from its
// definition: while alive, E[X(t) | λ, p] = (1 - e^{-λpt})/p; the posterior
// of an alive customer is λ ~ Gamma(m = r+x, α+T), p ~ Beta(a, β = b+x), and
// the expectation over λ is closed, so
//
//	G = ∫_0^1 (1 - (1+p·s)^-m)/p · Beta(p; a, β) dp,   s = t/(α+T).
//
// The integral is taken in the log-odds y = ln(p/(1-p)), where both ends
// of (0, 1) become exponentially decaying tails and the integrand is
// analytic in the strip |Im y| < π, through y = yc + w·sinh(τ) (a
// double-exponential rule) centred on the integrand's peak with its width
// there, by the trapezoid rule with step halving (h = 1/2 ... 1/256) until
// two steps agree to 1e-10: the finer one is then good to about 1e-13 (the
// rule's digits roughly double with each halving; the tests check 1e-12
// over random parameters against an independent quadrature).
func quadAliveExpectation(a, beta, m, s float64) float64 {
	lnB := lgamma(a) + lgamma(beta) - lgamma(a+beta)
	yc, w := quadCentre(a, beta, s)
	f := func(tau float64) float64 {
		e := math.Exp(tau)
		y := yc + w*(e-1/e)/2
		var lnP, lnQ, p float64 // ln p, ln(1-p), p
		if y < 0 {
			ey := math.Exp(y)
			l := math.Log1p(ey)
			lnP, lnQ, p = y-l, -l, ey/(1+ey)
		} else {
			emy := math.Exp(-y)
			l := math.Log1p(emy)
			lnP, lnQ, p = -l, -y-l, 1/(1+emy)
		}
		d := math.Exp(a*lnP + beta*lnQ - lnB) // Beta(p)·dp/dy
		if d == 0 {
			return 0
		}
		g := m * s // the limit at p = 0, exact to 1e-290 relative below
		if lnP > -666 {
			g = -math.Expm1(-m*math.Log1p(p*s)) / p
		}
		return g * d * w * (e + 1/e) / 2
	}
	// walk sums f at τ = off + k·step for k = 0, ±1, ±2, ... until the
	// terms are negligible on both sides (past the peak, at τ = 0, the
	// integrand only decreases).
	walk := func(off, step float64) float64 {
		var sum float64
		for _, dir := range [2]float64{1, -1} {
			k0 := 0.0
			if off == 0 && dir < 0 {
				k0 = 1 // τ = 0 is counted once
			}
			for k := k0; ; k++ {
				tau := dir * (off + k*step)
				if math.Abs(tau) > 8 {
					break
				}
				v := f(tau)
				sum += v
				if v <= 1e-18*sum {
					break
				}
			}
		}
		return sum
	}
	h := 0.5
	sum := walk(0, h)
	est := sum * h
	for level := 1; level <= 8; level++ {
		sum += walk(h/2, h) // the midpoints
		h /= 2
		prev := est
		est = sum * h
		if level >= 2 && math.Abs(est-prev) <= 1e-10*est {
			break
		}
	}
	return est
}

// quadCentre returns the peak yc of the log-odds integrand of
// quadAliveExpectation and its width w there, from the approximation
//
//	ln integrand ≈ a·y - (a+β)·ln(1+e^y) - ln(1+e^(y-yg)) + const,
//
// yg = -ln s being where g turns from m·s to 1/p: concave, so Newton's
// method on the derivative, kept inside a shrinking bracket, converges.
func quadCentre(a, beta, s float64) (yc, w float64) {
	yg := -math.Log(s)
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	// L'(y) = a - (a+β)σ(y) - σ(y-yg) decreases from a to -β-1.
	lo, hi := min(math.Log(a/(a+beta)), yg)-50, math.Log(a/beta)+50
	y := math.Log(a / beta)
	var curv float64
	for range 60 {
		s1, s2 := sig(y), sig(y-yg)
		d := a - (a+beta)*s1 - s2
		curv = (a+beta)*s1*(1-s1) + s2*(1-s2) // -L''
		if d > 0 {
			lo = y
		} else {
			hi = y
		}
		next := y + d/curv
		if !(next > lo && next < hi) {
			next = (lo + hi) / 2
		}
		if math.Abs(next-y) < 1e-6 {
			y = next
			break
		}
		y = next
	}
	return y, min(max(1/math.Sqrt(curv), 0.05), 8)
}
