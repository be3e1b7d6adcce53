package sendtime

import (
	"errors"
	"math"
	"time"
)

// Input is what Predict knows about one contact.
type Input struct {
	// Hist is the contact's decayed hour-of-week histogram of opens and
	// clicks in its own time zone (state.EmailStats.HourOfWeek); nil for
	// none.
	Hist *[Bins]float32
	// Opens and Delivered are the contact's counts, for its own
	// engagement rate (state.EmailStats.Opened, .Delivered).
	Opens, Delivered uint32
	// Zone is the contact's time zone; nil is UTC.
	Zone *time.Location
}

// Options tune a prediction.
type Options struct {
	// Explore is the share of answers (0..0.5) that pick a plausible
	// non-best hour instead of the best, so that the model keeps seeing
	// engagement at other hours.
	Explore float64
	// Seed makes the exploration draw deterministic (use a hash of the
	// contact id and the request, or the trigger id).
	Seed uint64
	// Sensitivity κ (0..1] is the share of engagement that depends on
	// when a message arrives; the rest happens whenever the contact looks.
	// 0 means DefaultSensitivity. It scales the predicted probabilities,
	// never the order of the hours.
	Sensitivity float64
}

// DefaultSensitivity is Options.Sensitivity's default: half of engagement
// is timing-dependent, so the best hour of a contact who engages at one
// hour only does about 2× better than the average hour, not 168×.
const DefaultSensitivity = 0.5

// Hour is the prediction for one hour slot of the window.
type Hour struct {
	Start time.Time
	// P is the expected probability that the contact engages with a
	// message sent at Start; SD its posterior standard deviation.
	P, SD float64
}

// Source says where a prediction's shape came from.
type Source uint8

// Sources.
const (
	// SourcePrior: the contact's own history weighs less than the prior
	// (N < α), or there is none.
	SourcePrior Source = iota
	// SourceContact: the contact's own history weighs at least as much as
	// the prior.
	SourceContact
)

func (s Source) String() string {
	if s == SourceContact {
		return "contact"
	}
	return "prior"
}

// MarshalText renders the source by name, for JSON.
func (s Source) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Result is a prediction. Hours aliases the caller's buffer.
type Result struct {
	Best     time.Time // when to send
	Index    int       // Best's slot in Hours
	P, SD    float64   // of the chosen slot
	Explored bool      // the chosen slot is an exploration, not the best
	Source   Source
	// Weight is the contact's own share N/(N+α) of the hour-of-week shape.
	Weight float64
	// Rate is the contact's shrunk engagement rate per message.
	Rate  float64
	Hours []Hour
}

// MaxWindow is the longest window Predict answers for: a week of hours.
const MaxWindow = 7 * 24 * time.Hour

// ErrBadWindow is returned for a window that is not positive or longer
// than MaxWindow.
var ErrBadWindow = errors.New("sendtime: within must be between 1h and 168h")

// ErrShortBuffer is returned when out cannot hold an hour per slot.
var ErrShortBuffer = errors.New("sendtime: result buffer shorter than the window's hour slots")

// Slots returns how many hour slots a window has (the length Predict
// needs out to be): the partial hour from `from` to the next full hour,
// then whole hours, up to from+within.
func Slots(from time.Time, within time.Duration) int {
	if within <= 0 {
		return 0
	}
	rest := from.Add(within).Sub(from.Truncate(time.Hour).Add(time.Hour))
	if rest <= 0 {
		return 1
	}
	return 1 + int((rest+time.Hour-1)/time.Hour)
}

// Predict returns the best moment to send in [from, from+within), with
// the expected engagement probability and its uncertainty for every hour
// slot of the window.
//
// The contact's engagement-time distribution θ over the 168 hours of its
// week is the nested posterior of Prior.Fit's model given its decayed
// counts n (m_d the counts at hour of day d, all days, N the total):
// E[θ_(day,d)] = (m_d + β·π24_d)/(N + β) · (n_(day,d) + γ·π_(day,d)/π24_d)/(m_d + γ),
// the contact's own hour-of-day profile shrunk towards the population's,
// times its own weekday split at that hour shrunk towards the
// population's. A message sent at the
// start of hour h engages with probability p_h = 1 − (1 − r)^L_h with
// the lift L_h = 1 − κ + κ·168·θ_h (κ = Options.Sensitivity) and r the
// contact's engagement rate shrunk towards the population's: p_h is
// about r when θ is flat and grows, bounded by 1, where the contact's
// engagement concentrates. SD is the delta-method standard deviation
// from θ_h's Beta marginal. It allocates nothing.
func Predict(in Input, fit *Fit, from time.Time, within time.Duration, opt Options, out []Hour) (Result, error) {
	if within < time.Hour || within > MaxWindow {
		return Result{}, ErrBadWindow
	}
	n := Slots(from, within)
	if len(out) < n {
		return Result{}, ErrShortBuffer
	}
	if fit == nil {
		fit = uniform
	}
	loc := in.Zone
	if loc == nil {
		loc = time.UTC
	}
	var total float64
	var m [24]float64
	if in.Hist != nil {
		for h, v := range in.Hist {
			if v > 0 {
				total += float64(v)
				m[h%24] += float64(v)
			}
		}
	}
	pi24 := daily(&fit.Mean)
	beta, gamma := fit.Strength, fit.DayStrength
	if !(beta > 0) {
		beta = DefaultStrength
	}
	if !(gamma > 0) {
		gamma = DefaultDayStrength
	}
	A := total + beta
	res := Result{Weight: total / A}
	if res.Weight >= 0.5 {
		res.Source = SourceContact
	}
	o := min(in.Opens, in.Delivered)
	rateStrength := max(fit.RateStrength, 0)
	r := (float64(o) + fit.Rate*rateStrength) / (float64(in.Delivered) + rateStrength)
	if math.IsNaN(r) {
		r = DefaultRate
	}
	r = min(max(r, 1e-6), 1-1e-6)
	res.Rate = r
	lnq := math.Log1p(-r) // ln(1−r) < 0
	kappa := opt.Sensitivity
	if !(kappa > 0 && kappa <= 1) {
		kappa = DefaultSensitivity
	}
	start := from
	hour0 := from.Truncate(time.Hour)
	best := -1.0
	for i := range n {
		if i > 0 {
			start = hour0.Add(time.Duration(i) * time.Hour)
		}
		bin := binOf(start, loc)
		d := bin % 24
		var c float64
		if in.Hist != nil && in.Hist[bin] > 0 {
			c = float64(in.Hist[bin])
		}
		// Hour of day: φ_d ~ Beta(a, A−a).
		a := m[d] + beta*pi24[d]
		phi := a / A
		varPhi := a * (A - a) / (A * A * (A + 1))
		// The day, given the hour: ψ ~ Beta(b, B−b).
		w := 1.0 / 7
		if pi24[d] > 0 {
			w = fit.Mean[bin] / pi24[d]
		}
		b := c + gamma*w
		B := m[d] + gamma
		psi := b / B
		varPsi := b * (B - b) / (B * B * (B + 1))
		theta := phi * psi
		sdTheta := math.Sqrt(max((varPhi+phi*phi)*(varPsi+psi*psi)-theta*theta, 0))
		e := math.Exp((1 - kappa + kappa*Bins*theta) * lnq)
		p := 1 - e
		sd := -kappa * Bins * lnq * e * sdTheta
		out[i] = Hour{Start: start, P: p, SD: min(sd, 0.5)}
		if p > best {
			best, res.Index = p, i
		}
	}
	res.Hours = out[:n]
	if opt.Explore > 0 && n > 1 {
		rnd := splitmix(opt.Seed)
		if unit(rnd) < min(opt.Explore, 0.5) {
			res.Index, res.Explored = explore(res.Hours, res.Index, splitmix(rnd))
		}
	}
	h := res.Hours[res.Index]
	res.Best, res.P, res.SD = h.Start, h.P, h.SD
	return res, nil
}

var uniform = Uniform()

// explore picks a plausible non-best slot: among the others whose
// probability is at least half the best, in proportion to it (all
// others when none is that close).
func explore(hours []Hour, best int, rnd uint64) (int, bool) {
	floor := hours[best].P / 2
	var sum float64
	for i, h := range hours {
		if i != best && h.P >= floor {
			sum += h.P
		}
	}
	if sum == 0 {
		floor = 0
		for i, h := range hours {
			if i != best {
				sum += h.P
			}
		}
	}
	if sum == 0 {
		return best, false
	}
	target := unit(rnd) * sum
	last := best
	for i, h := range hours {
		if i == best || h.P < floor {
			continue
		}
		last = i
		target -= h.P
		if target < 0 {
			return i, true
		}
	}
	return last, last != best
}

// binOf is the hour-of-week bin of t in loc: Monday 00:00 is 0.
func binOf(t time.Time, loc *time.Location) int {
	l := t.In(loc)
	return ((int(l.Weekday())+6)%7)*24 + l.Hour()
}

// BinOf is the hour-of-week bin (0 = Monday 00:00) of t in loc (nil: UTC).
func BinOf(t time.Time, loc *time.Location) int {
	if loc == nil {
		loc = time.UTC
	}
	return binOf(t, loc)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func unit(x uint64) float64 { return float64(x>>11) / (1 << 53) }
