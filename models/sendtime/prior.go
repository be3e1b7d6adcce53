package sendtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/kairos-engine/kairos/state"
)

// Bins is the number of hour-of-week bins (Monday 00:00 local time is
// bin 0), as in state.EmailStats.HourOfWeek.
const Bins = state.HoursPerWeek

// Prior is the mergeable population (or segment) summary the send-time
// prior is fitted from. It holds sums over contacts, so partitions merge
// by adding and the fit is the same with one instance or twenty:
//
//	S[h] = Σ_i n_ih          (engagement per bin, over contacts)
//	Q[h] = Σ_i n_ih² / N_i   (for the dispersion between contacts)
//	T    = Σ_i N_i,  M = number of contacts with N_i > 0
//
// plus opens and deliveries for the population engagement rate. n_ih are
// the contact's decayed counts (state.EmailStats.HourOfWeek) and N_i
// their sum. Not safe for concurrent use.
type Prior struct {
	S, Q       [Bins]float64
	T          float64
	M          uint64
	Opens      uint64
	Delivered  uint64
	RateMoment [2]float64 // Σ r_i, Σ r_i² of contacts' open rates (with ≥ 1 delivery)
	RateN      uint64     // contacts in RateMoment
}

// Add adds one contact's histogram and its opens and deliveries (0, 0
// when unknown). Empty histograms count only for the rate.
func (p *Prior) Add(hist *[Bins]float32, opens, delivered uint32) {
	var n float64
	for _, v := range hist {
		if v > 0 {
			n += float64(v)
		}
	}
	if n > 0 {
		for h, v := range hist {
			if v > 0 {
				x := float64(v)
				p.S[h] += x
				p.Q[h] += x * x / n
			}
		}
		p.T += n
		p.M++
	}
	if delivered > 0 {
		o := min(opens, delivered)
		p.Opens += uint64(o)
		p.Delivered += uint64(delivered)
		r := float64(o) / float64(delivered)
		p.RateMoment[0] += r
		p.RateMoment[1] += r * r
		p.RateN++
	}
}

// Merge adds o into p (commutative and associative up to float rounding).
func (p *Prior) Merge(o *Prior) {
	for h := range p.S {
		p.S[h] += o.S[h]
		p.Q[h] += o.Q[h]
	}
	p.T += o.T
	p.M += o.M
	p.Opens += o.Opens
	p.Delivered += o.Delivered
	p.RateMoment[0] += o.RateMoment[0]
	p.RateMoment[1] += o.RateMoment[1]
	p.RateN += o.RateN
}

// Fit is a fitted prior: the population's hour-of-week distribution, the
// Dirichlet strength that shrinks a contact's histogram towards it, and
// the population engagement rate with its Beta strength. Immutable.
type Fit struct {
	Mean [Bins]float64 // π: sums to 1
	// Strength α: a contact's histogram weighs N/(N+α) against the prior.
	Strength float64
	// Rate is the population's opens per delivery; RateStrength the
	// pseudo-deliveries a contact's own rate is shrunk with.
	Rate, RateStrength float64
	Contacts           uint64 // contacts the fit saw (with engagement)
}

// Defaults when the population is too small to estimate.
const (
	DefaultStrength     = 10
	DefaultRate         = 0.2
	DefaultRateStrength = 20
	minContacts         = 50 // below this, the strengths are the defaults
)

// Uniform is the prior without any data: every hour equally likely.
func Uniform() *Fit {
	f := &Fit{Strength: DefaultStrength, Rate: DefaultRate, RateStrength: DefaultRateStrength}
	for h := range f.Mean {
		f.Mean[h] = 1.0 / Bins
	}
	return f
}

// Fit estimates the prior by the method of moments.
//
// Mean: π_h = (S_h + ε)/(T + Bins·ε), ε = 0.01 so that no hour has zero
// prior mass.
//
// Strength: if a contact's counts are Dirichlet-multinomial, n_i ~
// DM(N_i, α·π), then E[Σ_h (n_ih − N_i π_h)²/(N_i π_h)] =
// (Bins−1)·(1 + (N_i−1)·ρ) with ρ = 1/(1+α), the intra-contact
// correlation. Summing over contacts, the left side is Σ_h Q_h/π_h − T,
// so ρ̂ = ((Σ_h Q_h/π_h − T)/(Bins−1) − M)/(T − M) and α̂ = 1/ρ̂ − 1,
// clamped to [0.5, 10000]. Decayed counts are not integers; they are
// used as counts, which slightly understates how little a heavily decayed
// history says (a documented approximation).
//
// Rate: opens/deliveries pooled; its Beta strength by the method of
// moments on contacts' rates: κ = m(1−m)/v − 1, with v the between-
// contact variance of their rates (binomial noise not removed: a
// conservative, weaker prior), clamped to [2, 1000].
func (p *Prior) Fit() *Fit {
	f := Uniform()
	const eps = 0.01
	for h := range f.Mean {
		f.Mean[h] = (p.S[h] + eps) / (p.T + Bins*eps)
	}
	f.Contacts = p.M
	if p.M >= minContacts && p.T > float64(p.M) {
		var chi float64
		for h := range p.Q {
			chi += p.Q[h] / f.Mean[h]
		}
		chi -= p.T
		rho := (chi/(Bins-1) - float64(p.M)) / (p.T - float64(p.M))
		if rho > 0 && !math.IsNaN(rho) {
			f.Strength = min(max(1/rho-1, 0.5), 10000)
		} else {
			f.Strength = 10000 // no more dispersion than sampling noise: contacts are alike
		}
	}
	if p.Delivered > 0 {
		f.Rate = float64(p.Opens) / float64(p.Delivered)
	}
	if p.RateN >= minContacts {
		m := p.RateMoment[0] / float64(p.RateN)
		v := p.RateMoment[1]/float64(p.RateN) - m*m
		if v > 0 && m > 0 && m < 1 {
			f.RateStrength = min(max(m*(1-m)/v-1, 2), 1000)
		}
	}
	return f
}

const priorVersion = 1

// PriorBytes is the size of an encoded Prior.
const PriorBytes = 1 + 8*2*Bins + 8*7

// AppendBinary appends the fixed-size encoding of p.
func (p *Prior) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, priorVersion)
	for h := range p.S {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.S[h]))
	}
	for h := range p.Q {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Q[h]))
	}
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.T))
	b = binary.LittleEndian.AppendUint64(b, p.M)
	b = binary.LittleEndian.AppendUint64(b, p.Opens)
	b = binary.LittleEndian.AppendUint64(b, p.Delivered)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.RateMoment[0]))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.RateMoment[1]))
	b = binary.LittleEndian.AppendUint64(b, p.RateN)
	return b, nil
}

// ErrBadPrior is wrapped by UnmarshalBinary.
var ErrBadPrior = errors.New("sendtime: bad prior encoding")

// UnmarshalBinary decodes what AppendBinary wrote.
func (p *Prior) UnmarshalBinary(b []byte) error {
	if len(b) != PriorBytes || b[0] != priorVersion {
		return fmt.Errorf("%w: want %d bytes of version %d", ErrBadPrior, PriorBytes, priorVersion)
	}
	var out Prior
	b = b[1:]
	f := func() float64 {
		v := math.Float64frombits(binary.LittleEndian.Uint64(b))
		b = b[8:]
		return v
	}
	u := func() uint64 {
		v := binary.LittleEndian.Uint64(b)
		b = b[8:]
		return v
	}
	for h := range out.S {
		out.S[h] = f()
	}
	for h := range out.Q {
		out.Q[h] = f()
	}
	out.T, out.M, out.Opens, out.Delivered = f(), u(), u(), u()
	out.RateMoment[0], out.RateMoment[1], out.RateN = f(), f(), u()
	ok := out.T >= 0 && out.Opens <= out.Delivered && !math.IsInf(out.T, 0)
	for h := range out.S {
		ok = ok && out.S[h] >= 0 && out.Q[h] >= 0 && !math.IsInf(out.S[h], 0) && !math.IsInf(out.Q[h], 0)
	}
	if !ok || math.IsNaN(out.RateMoment[0]+out.RateMoment[1]) {
		return fmt.Errorf("%w: negative, infinite or NaN sums", ErrBadPrior)
	}
	*p = out
	return nil
}
