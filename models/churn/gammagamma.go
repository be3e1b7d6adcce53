package churn

import (
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/mathext"
)

// GammaGamma holds the three parameters of the Gamma-Gamma model of monetary
// value (Fader & Hardie 2013). A customer's transaction values are
// Gamma(shape P, rate ν); ν ~ Gamma(shape Q, rate Gamma) across customers,
// so Gamma is in money (major) units. The model assumes spend independent
// of the purchase process.
type GammaGamma struct {
	P, Q, Gamma float64
}

// Validate reports whether every parameter is finite and positive.
func (g GammaGamma) Validate() error {
	for _, v := range [...]struct {
		name string
		v    float64
	}{{"p", g.P}, {"q", g.Q}, {"gamma", g.Gamma}} {
		if !(v.v > 0) || math.IsInf(v.v, 0) {
			return fmt.Errorf("%w: Gamma-Gamma %s = %v, want a finite positive number", ErrInvalidParams, v.name, v.v)
		}
	}
	return nil
}

// LogLikelihood returns the Gamma-Gamma log-likelihood of the repeat
// buyers among cs (X > 0 and MeanRepeatSpend > 0; the others carry no
// monetary information and are skipped): the sum of the log density of zbar
// given x (Fader & Hardie 2013, eq. 4),
//
//	Γ(px+q)/(Γ(px)Γ(q)) · γ^q · zbar^(px-1) · x^(px) / (γ + x·zbar)^(px+q).
func (g GammaGamma) LogLikelihood(cs []Customer) float64 {
	e := newGGEval(g)
	var ll float64
	for _, c := range cs {
		if c.X > 0 && c.MeanRepeatSpend > 0 {
			ll += e.term(c.X, c.MeanRepeatSpend, 1, nil)
		}
	}
	return ll
}

type ggEval struct {
	g              GammaGamma
	lgQ, lnG, psiQ float64
	needGrad       bool
}

func newGGEval(g GammaGamma) ggEval {
	return ggEval{g: g, lgQ: lgamma(g.Q), lnG: math.Log(g.Gamma)}
}

func (e *ggEval) withGrad() {
	e.needGrad = true
	e.psiQ = mathext.Digamma(e.g.Q)
}

// term returns the log density of zbar given x; when gr is not nil it adds
// n times the gradient with respect to (p, q, γ).
func (e *ggEval) term(x, zbar, n float64, gr *[3]float64) float64 {
	g := &e.g
	px := g.P * x
	lnZ, lnX := math.Log(zbar), math.Log(x)
	lnXZG := math.Log(x*zbar + g.Gamma)
	ll := lgamma(px+g.Q) - lgamma(px) - e.lgQ + g.Q*e.lnG +
		(px-1)*lnZ + px*lnX - (px+g.Q)*lnXZG
	if gr != nil {
		psiPXQ := mathext.Digamma(px + g.Q)
		gr[0] += n * x * (psiPXQ - mathext.Digamma(px) + lnZ + lnX - lnXZG)
		gr[1] += n * (psiPXQ - e.psiQ + e.lnG - lnXZG)
		gr[2] += n * (g.Q/g.Gamma - (px+g.Q)/(x*zbar+g.Gamma))
	}
	return ll
}

// ExpectedAverageValue returns E[Z | x, zbar], the expected spend of a
// customer's future transactions in major units (Fader & Hardie 2013,
// eq. 5): a weighted mean of the population mean pγ/(q-1) and the
// customer's own mean zbar,
//
//	p·(γ + x·zbar) / (p·x + q - 1).
//
// For x <= 0 (no repeat transaction) it is the population mean. It is NaN
// when the mean does not exist (p·x + q <= 1, e.g. q <= 1 at x = 0: heavy
// tail) and for negative or NaN zbar.
func (g GammaGamma) ExpectedAverageValue(x, zbar float64) float64 {
	if !(x > 0) {
		x, zbar = 0, 0
	}
	if !(zbar >= 0) {
		return math.NaN()
	}
	den := g.P*x + g.Q - 1
	if !(den > 0) {
		return math.NaN()
	}
	return g.P * (g.Gamma + x*zbar) / den
}

// MonthDays is the length of the month CLV works in: 365.25/12 days.
const MonthDays = 365.25 / 12

// MaxCLVMonths bounds the horizon of CLV: longer horizons are cut to it.
const MaxCLVMonths = 1200

// CLV returns the customer lifetime value of c over the next months, in
// major units, discounted monthly (the formula of the lifetimes library):
//
//	Σ_{m=1..months} E[Z | x, zbar] · (E[X(m·M) | x,t_x,T] - E[X((m-1)·M) | x,t_x,T]) / (1+d)^m
//
// where E[Z | x, zbar] is gg.ExpectedAverageValue, E[X(t) | ...] is
// bg.ExpectedPurchases, M is a month (MonthDays) in the model unit (unit,
// <= 0 meaning Week, must be the unit bg was fitted in, and c's), and d is
// monthlyDiscount (0.01 for 1% a month; d > -1). Unlike lifetimes, whose
// month is 4.345 weeks or 30 days depending on the unit, a month is always
// 30.4375 days. Spend is treated as margin: multiply by a margin rate for
// profit. months <= 0 gives 0; months above MaxCLVMonths count as
// MaxCLVMonths. It computes P(alive) once and one 2F1 per month, and does
// not allocate.
func CLV(bg BGNBD, gg GammaGamma, c Customer, months int, monthlyDiscount float64, unit time.Duration) float64 {
	if months <= 0 {
		return 0
	}
	months = min(months, MaxCLVMonths)
	if !(monthlyDiscount > -1) {
		return math.NaN()
	}
	value := gg.ExpectedAverageValue(c.X, c.MeanRepeatSpend)
	pa := bg.PAlive(c.X, c.Tx, c.T)
	if math.IsNaN(value) || math.IsNaN(pa) {
		return math.NaN()
	}
	step := MonthDays / unitDays(unit)
	var sum, prev float64
	disc := 1.0
	for m := 1; m <= months; m++ {
		cur := bg.aliveExpectation(float64(m)*step, c.X, c.T)
		disc /= 1 + monthlyDiscount
		sum += (cur - prev) * disc
		prev = cur
	}
	return value * pa * sum
}
