package churn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/optimize"
)

// ErrNotEnoughData is returned (wrapped, with the counts) by Fit and
// FitGammaGamma when the summary cannot identify the model: no customers,
// or no repeat customers (BG/NBD's dropout and rate cannot be told apart
// without one; Gamma-Gamma has nothing to fit). Keep the previous
// parameters and fit again once more data has been folded.
var ErrNotEnoughData = errors.New("churn: not enough data to fit")

// Defaults of FitOptions.
const (
	DefaultFitDuration   = 10 * time.Second
	DefaultFitIterations = 1000
)

// FitOptions bounds a fit. The zero value is the defaults.
type FitOptions struct {
	// MaxDuration bounds the wall time of the fit; 0 means
	// DefaultFitDuration (10 s). When it runs out the fit returns the best
	// parameters so far with FitInfo.Converged false and no error: a warm
	// start from them continues next time.
	MaxDuration time.Duration
	// MaxIterations bounds the optimiser's iterations (BFGS, and Nelder-Mead
	// when BFGS fails, together); 0 means DefaultFitIterations (1000). As
	// MaxDuration, running out is not an error.
	MaxIterations int
}

// Validate reports negative bounds.
func (o FitOptions) Validate() error {
	if o.MaxDuration < 0 || o.MaxIterations < 0 {
		return fmt.Errorf("churn: fit options: MaxDuration %v and MaxIterations %d must be >= 0 (0 for the defaults)", o.MaxDuration, o.MaxIterations)
	}
	return nil
}

func (o FitOptions) withDefaults() FitOptions {
	if o.MaxDuration == 0 {
		o.MaxDuration = DefaultFitDuration
	}
	if o.MaxIterations == 0 {
		o.MaxIterations = DefaultFitIterations
	}
	return o
}

// FitInfo describes a fit.
type FitInfo struct {
	// LogLikelihood is the maximised log-likelihood over all customers.
	LogLikelihood float64
	// Iterations counts the optimiser's major iterations.
	Iterations int
	Duration   time.Duration
	// Customers is the number of customers fitted (for Gamma-Gamma: the
	// repeat buyers with spend), RepeatCustomers those with x > 0.
	Customers, RepeatCustomers int
	// Converged is true when the optimiser met its convergence criterion
	// inside the parameter box; false when a budget ran out or a parameter
	// ran to the edge of the box (e^±18: the data do not identify it).
	Converged bool
}

// Fit returns the maximum-likelihood BG/NBD parameters for the customers
// of data, in their time unit. It maximises the log-likelihood over the
// log-parameters (so every parameter stays positive) with BFGS and the
// analytic gradient, falling back to Nelder-Mead from the best point if
// the line search fails, starting from warm when it is valid (the previous
// fit: it stays in the same optimum, and stops at once when the data have
// not moved it; an invalid warm is ignored) and from a moment-based guess
// otherwise. The parameters are kept within [e^-18, e^18] by a quadratic
// penalty outside, so degenerate data cannot drive them to 0, Inf or NaN.
//
// It returns ErrNotEnoughData when data has no repeat customer, ctx's
// error (wrapped; the parameters are then zero) when ctx ends, and the
// best parameters found with FitInfo.Converged false when
// opts.MaxDuration or opts.MaxIterations runs out. It never returns
// invalid parameters with a nil error. The result depends only on the
// multiset of customers in data (not on how it was merged) and on warm.
func Fit(ctx context.Context, data Summary, warm *BGNBD, opts FitOptions) (BGNBD, FitInfo, error) {
	start := time.Now()
	info := FitInfo{Customers: data.Len(), RepeatCustomers: data.RepeatCustomers()}
	if err := opts.Validate(); err != nil {
		return BGNBD{}, info, err
	}
	if info.Customers == 0 || info.RepeatCustomers == 0 {
		return BGNBD{}, info, fmt.Errorf("%w: BG/NBD needs customers with repeat purchases, have %d customers, %d with repeat purchases",
			ErrNotEnoughData, info.Customers, info.RepeatCustomers)
	}
	gs := data.bgGroups()
	var x0 BGNBD
	if warm != nil && warm.Validate() == nil {
		x0 = *warm
	} else {
		// Rate from Σx/ΣT with r = 1; a = b = 1 (uniform dropout).
		var sx, st float64
		for _, g := range gs {
			sx += g.n * g.x
			st += g.n * g.b
		}
		alpha := 1.0
		if sx > 0 && st > 0 {
			alpha = st / sx
		}
		x0 = BGNBD{R: 1, Alpha: min(max(alpha, 1e-6), 1e6), A: 1, B: 1}
	}
	n := float64(data.customers)
	f := func(theta, grad []float64) float64 {
		p := BGNBD{R: math.Exp(theta[0]), Alpha: math.Exp(theta[1]), A: math.Exp(theta[2]), B: math.Exp(theta[3])}
		if grad == nil {
			return -bgLogLikelihood(p, gs, nil) / n
		}
		var g [4]float64
		ll := bgLogLikelihood(p, gs, &g)
		for i, v := range [4]float64{p.R, p.Alpha, p.A, p.B} {
			grad[i] = -g[i] * v / n // chain rule: ∂/∂ln θ = θ ∂/∂θ
		}
		return -ll / n
	}
	theta := []float64{math.Log(x0.R), math.Log(x0.Alpha), math.Log(x0.A), math.Log(x0.B)}
	res, err := minimizeBoxed(ctx, start, opts.withDefaults(), f, theta)
	info.Iterations, info.Converged = res.iterations, res.converged
	info.Duration = time.Since(start)
	if err != nil {
		return BGNBD{}, info, err
	}
	p := BGNBD{R: math.Exp(res.x[0]), Alpha: math.Exp(res.x[1]), A: math.Exp(res.x[2]), B: math.Exp(res.x[3])}
	info.LogLikelihood = bgLogLikelihood(p, gs, nil)
	if p.Validate() != nil || math.IsNaN(info.LogLikelihood) || math.IsInf(info.LogLikelihood, 0) {
		return BGNBD{}, info, fmt.Errorf("churn: BG/NBD fit ended at invalid parameters %+v (log-likelihood %v): keep the previous parameters", p, info.LogLikelihood)
	}
	return p, info, nil
}

// FitGammaGamma returns the maximum-likelihood Gamma-Gamma parameters for
// the repeat buyers of data (x > 0, zbar > 0), in their money unit. It works
// as Fit does (log-parameters, BFGS with the analytic gradient, Nelder-Mead
// fallback, the same bounds, errors and budgets); the default start is
// p = 1, q = 2, γ = mean zbar, the one that matches the mean spend.
func FitGammaGamma(ctx context.Context, data Summary, warm *GammaGamma, opts FitOptions) (GammaGamma, FitInfo, error) {
	start := time.Now()
	info := FitInfo{Customers: data.SpendCustomers(), RepeatCustomers: data.SpendCustomers()}
	if err := opts.Validate(); err != nil {
		return GammaGamma{}, info, err
	}
	if info.Customers == 0 {
		return GammaGamma{}, info, fmt.Errorf("%w: Gamma-Gamma needs repeat buyers with spend > 0, have none (%d customers, %d with repeat purchases)",
			ErrNotEnoughData, data.Len(), data.RepeatCustomers())
	}
	gs := data.ggGroups()
	var x0 GammaGamma
	if warm != nil && warm.Validate() == nil {
		x0 = *warm
	} else {
		var sz, sn float64
		for _, g := range gs {
			sz += g.n * g.a
			sn += g.n
		}
		x0 = GammaGamma{P: 1, Q: 2, Gamma: min(max(sz/sn, 1e-6), 1e6)}
	}
	n := float64(data.spenders)
	f := func(theta, grad []float64) float64 {
		p := GammaGamma{P: math.Exp(theta[0]), Q: math.Exp(theta[1]), Gamma: math.Exp(theta[2])}
		if grad == nil {
			return -ggLogLikelihood(p, gs, nil) / n
		}
		var g [3]float64
		ll := ggLogLikelihood(p, gs, &g)
		for i, v := range [3]float64{p.P, p.Q, p.Gamma} {
			grad[i] = -g[i] * v / n
		}
		return -ll / n
	}
	theta := []float64{math.Log(x0.P), math.Log(x0.Q), math.Log(x0.Gamma)}
	res, err := minimizeBoxed(ctx, start, opts.withDefaults(), f, theta)
	info.Iterations, info.Converged = res.iterations, res.converged
	info.Duration = time.Since(start)
	if err != nil {
		return GammaGamma{}, info, err
	}
	p := GammaGamma{P: math.Exp(res.x[0]), Q: math.Exp(res.x[1]), Gamma: math.Exp(res.x[2])}
	info.LogLikelihood = ggLogLikelihood(p, gs, nil)
	if p.Validate() != nil || math.IsNaN(info.LogLikelihood) || math.IsInf(info.LogLikelihood, 0) {
		return GammaGamma{}, info, fmt.Errorf("churn: Gamma-Gamma fit ended at invalid parameters %+v (log-likelihood %v): keep the previous parameters", p, info.LogLikelihood)
	}
	return p, info, nil
}

// logBound keeps the log-parameters in [-logBound, logBound].
const logBound = 18

type minResult struct {
	x          []float64
	iterations int
	converged  bool
}

// minimizeBoxed minimises f (value, and gradient into grad when it is not
// nil) from x0 with BFGS, then Nelder-Mead if BFGS fails, within the budget
// of opts counted from start and until ctx ends. Outside the box
// [-logBound, logBound]^n, f is evaluated at the nearest point of the box
// plus a quadratic penalty, which keeps every evaluation finite.
//
// f is the mean negative log-likelihood, so the criteria do not depend on
// the population size: converged when the gradient's largest component
// (in log-parameters) is below 1e-8, or the value stops improving by 1e-14
// relative for 5 iterations. BFGS uses a backtracking (Armijo) line
// search: on these likelihoods it converges in ~25 iterations where gonum's
// Wolfe line searches sometimes crawl for 70; should the direction stop
// being one of descent, the line search fails and Nelder-Mead takes over.
func minimizeBoxed(ctx context.Context, start time.Time, opts FitOptions, f func(x, grad []float64) float64, x0 []float64) (minResult, error) {
	dim := len(x0)
	xc := make([]float64, dim)
	gc := make([]float64, dim)
	// The optimiser asks for the value and then the gradient at the same
	// point: compute both at once and serve the second from the cache.
	var (
		lastX    = make([]float64, dim)
		lastF    float64
		lastG    = make([]float64, dim)
		haveLast bool
	)
	eval := func(x []float64) {
		if haveLast && equalSlices(x, lastX) {
			return
		}
		var pen float64
		for i, v := range x {
			c := min(max(v, -logBound), logBound)
			xc[i] = c
			pen += (v - c) * (v - c)
		}
		fv := f(xc, gc)
		for i, v := range x {
			lastG[i] = gc[i]
			if xc[i] != v {
				lastG[i] = 2 * (v - xc[i])
			}
		}
		if math.IsNaN(fv) {
			fv = math.Inf(1)
		}
		lastF = fv + pen
		copy(lastX, x)
		haveLast = true
	}
	prob := optimize.Problem{
		Func: func(x []float64) float64 { eval(x); return lastF },
		Grad: func(grad, x []float64) { eval(x); copy(grad, lastG) },
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			if time.Since(start) >= opts.MaxDuration {
				return optimize.RuntimeLimit, nil
			}
			return optimize.NotTerminated, nil
		},
	}
	if err := ctx.Err(); err != nil {
		return minResult{}, fmt.Errorf("churn: fit cancelled: %w", err)
	}

	res := minResult{x: append([]float64(nil), x0...)}
	settings := &optimize.Settings{
		GradientThreshold: 1e-8,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-14, Relative: 1e-14, Iterations: 5},
		MajorIterations:   opts.MaxIterations,
	}
	r, err := optimize.Minimize(prob, x0, settings, &optimize.BFGS{Linesearcher: &optimize.Backtracking{}})
	status := optimize.Failure
	if r != nil {
		res.iterations += r.MajorIterations
		status = r.Status
		if !math.IsInf(r.F, 0) && !math.IsNaN(r.F) {
			copy(res.x, r.X)
		}
	}
	if cerr := ctx.Err(); cerr != nil {
		return res, fmt.Errorf("churn: fit cancelled: %w", cerr)
	}
	if err != nil || status == optimize.Failure {
		// The line search failed (a kink, a flat region): Nelder-Mead from
		// the best point needs no gradient.
		left := opts.MaxIterations - res.iterations
		if left > 0 && time.Since(start) < opts.MaxDuration {
			settings := &optimize.Settings{
				Converger:       &optimize.FunctionConverge{Absolute: 1e-14, Relative: 1e-14, Iterations: 50},
				MajorIterations: left,
			}
			from := append([]float64(nil), res.x...)
			r, err = optimize.Minimize(optimize.Problem{Func: prob.Func, Status: prob.Status}, from, settings, &optimize.NelderMead{})
			status = optimize.Failure
			if r != nil {
				res.iterations += r.MajorIterations
				status = r.Status
				if err == nil && !math.IsInf(r.F, 0) && !math.IsNaN(r.F) {
					copy(res.x, r.X)
				}
			}
			if cerr := ctx.Err(); cerr != nil {
				return res, fmt.Errorf("churn: fit cancelled: %w", cerr)
			}
		}
	}
	switch status {
	case optimize.GradientThreshold, optimize.FunctionConvergence, optimize.MethodConverge, optimize.Success:
		res.converged = true
	}
	for i, v := range res.x {
		res.x[i] = min(max(v, -logBound), logBound)
		if math.Abs(v) >= logBound-1e-3 {
			res.converged = false
		}
	}
	return res, nil
}

func equalSlices(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
