package lead

import (
	"math"
	"strings"

	"github.com/kairos-engine/kairos/state"
)

// Kind says whether a contribution comes from behaviour or fit.
type Kind uint8

// The kinds of contribution.
const (
	KindBehaviour Kind = iota + 1 // an event rule, decayed
	KindFit                       // a trait rule, not decayed
)

// String returns "behaviour" or "fit".
func (k Kind) String() string {
	switch k {
	case KindBehaviour:
		return "behaviour"
	case KindFit:
		return "fit"
	}
	return "unknown"
}

// MarshalText renders the kind by name, for JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Contribution is one rule's share of a score: the marketer's "why".
// Rule, Group and Description are the plan's strings (shared, not copied).
type Contribution struct {
	Rule        string
	Group       string
	Description string
	Points      float64 // decayed to the instant the score was read at
	Kind        Kind
}

// Result is a contact's lead score at one instant.
type Result struct {
	Total     float64 // Behaviour + Fit
	Behaviour float64 // behavioural points, decayed
	Fit       float64 // fit points from the traits
	// Stage is the stage at the instant read: the stored stage moved by the
	// decayed score with the same precedence and hysteresis as Apply, but
	// not written. It can be ahead of s.Stage (which moves, and records its
	// transition, on the next Apply or Refresh).
	Stage Stage
	// Top holds the largest contributions by absolute points, largest
	// first (ties by rule id), at most Plan.Top(); rules worth exactly 0
	// are left out.
	Top []Contribution
}

// Score computes a contact's lead score at instant at (Unix ms) from its
// stored state and its traits, without writing anything (DESIGN.md,
// principle 6). c may be nil. It allocates Result.Top; ScoreInto does not.
func (p *Plan) Score(s *state.Scores, c *state.Contact, at int64) Result {
	return p.ScoreInto(make([]Contribution, 0, p.top), s, c, at)
}

// ScoreInto is Score appending Result.Top into buf[:0]: with cap(buf) ≥
// Plan.Top() it allocates nothing. Result.Top aliases buf.
//
// The behavioural points of each rule are its stored points decayed from
// their At to at: points · 2^(−(at−At)/half_life), exactly (no stepwise
// decay). An instant before At does not inflate them (factor 1). Stored
// entries of rules the plan does not have (after a plan change) count
// nothing. Fit rules hold or not on c's traits now.
func (p *Plan) ScoreInto(buf []Contribution, s *state.Scores, c *state.Contact, at int64) Result {
	r := Result{Top: buf[:0]}
	var sc scratch
	var top ranking
	top.n, top.p = p.top, p
	for i, j := 0, 0; i < len(s.Lead) && j < len(p.rules); {
		switch cmp := strings.Compare(s.Lead[i].Rule, p.rules[j].id); {
		case cmp < 0:
			i++
		case cmp > 0:
			j++
		default:
			pts := s.Lead[i].Points * decay(at-s.Lead[i].At, p.rules[j].rate)
			r.Behaviour += pts
			top.push(pts, int32(j), false)
			i++
			j++
		}
	}
	for k, f := range p.fit {
		if matchTraits(f.traits, c, &sc) {
			r.Fit += f.points
			top.push(f.points, int32(k), true)
		}
	}
	for _, cd := range top.c[:top.len] {
		if cd.fit {
			f := p.fit[cd.i]
			r.Top = append(r.Top, Contribution{Rule: f.id, Group: f.group, Description: f.description, Points: cd.pts, Kind: KindFit})
		} else {
			rl := p.rules[cd.i]
			r.Top = append(r.Top, Contribution{Rule: rl.id, Group: rl.group, Description: rl.description, Points: cd.pts, Kind: KindBehaviour})
		}
	}
	r.Total = r.Behaviour + r.Fit
	r.Stage = p.stage(s, c, at, r.Total, true, &sc)
	return r
}

// ranking keeps the n largest contributions by absolute points (ties by
// rule id), largest first, in a small fixed array, so that ScoreInto
// builds only the Contributions it reports.
type ranking struct {
	c   [MaxTop]candidate
	len int
	n   int
	p   *Plan
}

type candidate struct {
	pts float64
	i   int32 // index in Plan.rules, or in Plan.fit when fit
	fit bool
}

func (r *ranking) id(c *candidate) string {
	if c.fit {
		return r.p.fit[c.i].id
	}
	return r.p.rules[c.i].id
}

// before orders candidates: larger absolute points first, then rule id.
func (r *ranking) before(a, b *candidate) bool {
	x, y := math.Abs(a.pts), math.Abs(b.pts)
	if x != y {
		return x > y
	}
	return r.id(a) < r.id(b)
}

// push offers one contribution; rules worth exactly 0 are left out.
func (r *ranking) push(pts float64, i int32, fit bool) {
	if pts == 0 {
		return
	}
	cd := candidate{pts: pts, i: i, fit: fit}
	if r.len == r.n {
		if !r.before(&cd, &r.c[r.len-1]) {
			return
		}
		r.len--
	}
	k := r.len
	for k > 0 && r.before(&cd, &r.c[k-1]) {
		r.c[k] = r.c[k-1]
		k--
	}
	r.c[k] = cd
	r.len++
}
