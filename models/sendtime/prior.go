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
// by adding and the fit is the same with one instance or twenty. With
// n_ih a contact's decayed count in hour-of-week h, m_id = Σ_days n_i,(day,d)
// its count at hour of day d, and N_i its total:
//
//	S[h]   = Σ_i n_ih                    the population's hour-of-week histogram
//	Q24[d] = Σ_i m_id² / N_i             dispersion of contacts' hour-of-day profiles
//	Q7[h]  = Σ_i n_ih² / m_i,d(h)        dispersion of their weekday split within an hour
//	T = Σ_i N_i, M = contacts with N_i > 0, Pairs = (contact, hour of day) pairs with m_id > 0
//
// plus opens and deliveries for the population engagement rate. Not safe
// for concurrent use.
type Prior struct {
	S, Q7      [Bins]float64
	Q24        [24]float64
	T          float64
	M          uint64
	Pairs      uint64
	Opens      uint64
	Delivered  uint64
	RateMoment [2]float64 // Σ r_i, Σ r_i² of contacts' open rates (with ≥ 1 delivery)
	RateN      uint64     // contacts in RateMoment
}

// Add adds one contact's histogram and its opens and deliveries (0, 0
// when unknown). Empty histograms count only for the rate.
func (p *Prior) Add(hist *[Bins]float32, opens, delivered uint32) {
	var n float64
	var m [24]float64
	for h, v := range hist {
		if v > 0 {
			n += float64(v)
			m[h%24] += float64(v)
		}
	}
	if n > 0 {
		for h, v := range hist {
			if v > 0 {
				x := float64(v)
				p.S[h] += x
				p.Q7[h] += x * x / m[h%24]
			}
		}
		for d, x := range m {
			if x > 0 {
				p.Q24[d] += x * x / n
				p.Pairs++
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
		p.Q7[h] += o.Q7[h]
	}
	for d := range p.Q24 {
		p.Q24[d] += o.Q24[d]
	}
	p.T += o.T
	p.M += o.M
	p.Pairs += o.Pairs
	p.Opens += o.Opens
	p.Delivered += o.Delivered
	p.RateMoment[0] += o.RateMoment[0]
	p.RateMoment[1] += o.RateMoment[1]
	p.RateN += o.RateN
}

// Fit is a fitted prior: the population's hour-of-week distribution and
// the strengths that shrink a contact's histogram towards it, and the
// population engagement rate with its Beta strength. Immutable.
type Fit struct {
	Mean [Bins]float64 // π: sums to 1
	// Strength β shrinks a contact's hour-of-day profile (24 bins, all
	// days pooled) towards the population's: its own weighs N/(N+β).
	Strength float64
	// DayStrength γ shrinks how the contact's engagement at an hour of
	// day splits over the seven days towards the population's split.
	DayStrength float64
	// Rate is the population's opens per delivery; RateStrength the
	// pseudo-deliveries a contact's own rate is shrunk with.
	Rate, RateStrength float64
	Contacts           uint64 // contacts the fit saw (with engagement)
}

// Defaults when the population is too small to estimate.
const (
	DefaultStrength     = 5
	DefaultDayStrength  = 10
	DefaultRate         = 0.2
	DefaultRateStrength = 20
	minContacts         = 50 // below this, the strengths are the defaults
)

// Uniform is the prior without any data: every hour equally likely.
func Uniform() *Fit {
	f := &Fit{Strength: DefaultStrength, DayStrength: DefaultDayStrength, Rate: DefaultRate, RateStrength: DefaultRateStrength}
	for h := range f.Mean {
		f.Mean[h] = 1.0 / Bins
	}
	return f
}

// daily sums an hour-of-week distribution over the days.
func daily(mean *[Bins]float64) (d [24]float64) {
	for h, m := range mean {
		d[h%24] += m
	}
	return d
}

// Fit estimates the prior by the method of moments.
//
// Mean: π_h = (S_h + ε)/(T + Bins·ε), ε = 0.01, so that no hour has zero
// prior mass.
//
// The model is nested, because people keep hours more than weekdays: a
// contact's hour-of-day profile φ (24 bins) ~ Dirichlet(β·π24), and
// within each hour of day d its split over the days ψ_d (7 bins) ~
// Dirichlet(γ·π_(·,d)/π24_d); θ_(day,d) = φ_d·ψ_d,day. Two opens at 9:00 on
// Tuesday so say something about 9:00 on Wednesday.
//
// Strengths: if counts x_i ~ Dirichlet-multinomial(K_i, s·w) over k bins,
// E[Σ_b (x_ib − K_i w_b)²/(K_i w_b)] = (k−1)·(1 + (K_i−1)·ρ), ρ = 1/(1+s).
// Summed over contacts the left side is Σ_b (Σ_i x_ib²/K_i)/w_b − Σ_i K_i,
// which the sums hold (Q24 with K_i = N_i, k = 24; Q7 with K = m_id over
// the Pairs, k = 7), so ρ̂ = ((left)/(k−1) − units)/(Σ K − units) and
// strength 1/ρ̂ − 1, clamped to [0.5, 10000]. Decayed counts are not
// integers; they are used as counts, which slightly understates how
// little a heavily decayed history says (a documented approximation).
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
	pi24 := daily(&f.Mean)
	if p.M >= minContacts {
		var chi float64
		for d := range p.Q24 {
			chi += p.Q24[d] / pi24[d]
		}
		f.Strength = momStrength(chi-p.T, 24, float64(p.M), p.T)
		chi = 0
		for h := range p.Q7 {
			chi += p.Q7[h] / (f.Mean[h] / pi24[h%24])
		}
		f.DayStrength = momStrength(chi-p.T, 7, float64(p.Pairs), p.T)
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

// momStrength solves the Dirichlet-multinomial moment equation
// chi = (k−1)·(units + ρ·(trials − units)) for ρ and returns 1/ρ − 1.
func momStrength(chi float64, k int, units, trials float64) float64 {
	if trials <= units {
		return 10000 // every unit a single trial: nothing to measure dispersion on
	}
	rho := (chi/float64(k-1) - units) / (trials - units)
	if !(rho > 0) {
		return 10000 // no more dispersion than sampling noise: contacts are alike
	}
	return min(max(1/rho-1, 0.5), 10000)
}

const priorVersion = 1

// PriorBytes is the size of an encoded Prior.
const PriorBytes = 1 + 8*(2*Bins+24) + 8*8

// AppendBinary appends the fixed-size encoding of p.
func (p *Prior) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, priorVersion)
	for h := range p.S {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.S[h]))
	}
	for h := range p.Q7 {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Q7[h]))
	}
	for d := range p.Q24 {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Q24[d]))
	}
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.T))
	b = binary.LittleEndian.AppendUint64(b, p.M)
	b = binary.LittleEndian.AppendUint64(b, p.Pairs)
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
	for h := range out.Q7 {
		out.Q7[h] = f()
	}
	for d := range out.Q24 {
		out.Q24[d] = f()
	}
	out.T, out.M, out.Pairs, out.Opens, out.Delivered = f(), u(), u(), u(), u()
	out.RateMoment[0], out.RateMoment[1], out.RateN = f(), f(), u()
	ok := out.T >= 0 && out.Opens <= out.Delivered && !math.IsInf(out.T, 0)
	for h := range out.S {
		ok = ok && out.S[h] >= 0 && out.Q7[h] >= 0 && !math.IsInf(out.S[h], 0) && !math.IsInf(out.Q7[h], 0)
	}
	for d := range out.Q24 {
		ok = ok && out.Q24[d] >= 0 && !math.IsInf(out.Q24[d], 0)
	}
	if !ok || math.IsNaN(out.RateMoment[0]+out.RateMoment[1]) {
		return fmt.Errorf("%w: negative, infinite or NaN sums", ErrBadPrior)
	}
	*p = out
	return nil
}
