package nba

import "math"

// rng is splitmix64: tiny, fast, allocation-free and seedable, so a
// decision's draws are a pure function of its id. Statistical quality is
// ample for Thompson sampling and random baselines.
type rng struct {
	s     uint64
	spare float64 // the polar method's second normal, kept for the next call
	has   bool
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// open returns a uniform value in (0, 1).
func (r *rng) open() float64 { return (float64(r.next()>>12) + 0.5) / (1 << 52) }

// norm returns a standard normal draw (Marsaglia's polar method, both
// draws of a pair used: the logarithm is most of a Beta draw's cost).
func (r *rng) norm() float64 {
	if r.has {
		r.has = false
		return r.spare
	}
	for {
		u := 2*r.float() - 1
		v := 2*r.float() - 1
		s := u*u + v*v
		if s > 0 && s < 1 {
			f := math.Sqrt(-2 * math.Log(s) / s)
			r.spare, r.has = v*f, true
			return u * f
		}
	}
}

// gamma returns a Gamma(a, 1) draw, a > 0 (Marsaglia and Tsang 2000; for
// a < 1 the boost Gamma(a) = Gamma(a+1)·U^(1/a)).
func (r *rng) gamma(a float64) float64 {
	boost := 1.0
	if a < 1 {
		boost = math.Pow(r.open(), 1/a)
		a++
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.norm()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.open()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v * boost
		}
	}
}

// beta returns a Beta(a, b) draw.
func (r *rng) beta(a, b float64) float64 {
	x := r.gamma(a)
	y := r.gamma(b)
	return x / (x + y)
}
