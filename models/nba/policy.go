package nba

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/kairos-engine/kairos/state"
)

// stageGroups are the lifecycle stages that split the propensity
// statistics; anything else (unknown, "") is "other".
var stageGroups = [numStageGroups]string{"visitor", "lead", "mql", "sql", "customer", "lapsed", "other"}

const numStageGroups = 7 // len(stageGroups), untyped for the bounds in stats.go

func stageGroup(stage string) int {
	switch stage {
	case "visitor":
		return 0
	case "lead":
		return 1
	case "mql":
		return 2
	case "sql":
		return 3
	case "customer":
		return 4
	case "lapsed":
		return 5
	}
	return 6
}

// Policy decides. It holds a catalogue and, per action and context group,
// the Beta posterior of the conversion probability built from a Stats
// snapshot. It is immutable and safe for concurrent use: publish a new
// one (atomic pointer) when the catalogue is reloaded or a fresher
// snapshot of the statistics is merged, every few seconds.
type Policy struct {
	cat    *Catalogue
	groups []string // placement × stage group names, "homepage/lead"
	post   []Beta   // [action*len(groups) + group]
	// upper is the posterior's 1−1e-6 quantile, same layout: Thompson
	// draws are clamped to it, so upper × weight × value × lever bounds
	// an action's score before it is drawn.
	upper []float64
	// order lists, per group, the action indexes by that bound, highest
	// first: Decide stops as soon as no remaining action can enter the
	// top n, without checking or drawing for it.
	order [][]int32
	// priority lists, per placement, the action indexes by weight ×
	// value × lever, highest first (the priority baseline's order).
	priority [][]int32
	salt     uint64
}

// upperLevel is the posterior quantile a Thompson draw is clamped to; the
// clamp changes one draw in a million, by little.
const upperLevel = 1 - 1e-6

// NewPolicy builds a policy from a catalogue and merged statistics (nil:
// the priors alone). Both arms' counts feed the posteriors: whoever showed
// an action, its outcomes tell how well it converts.
func NewPolicy(cat *Catalogue, s *Stats) *Policy {
	p := &Policy{cat: cat, salt: xxhash.Sum64String("kairos-nba-control")}
	for _, pl := range cat.placements {
		for _, sg := range stageGroups {
			p.groups = append(p.groups, pl+"/"+sg)
		}
	}
	p.post = make([]Beta, len(cat.actions)*len(p.groups))
	p.upper = make([]float64, len(p.post))
	for ai, a := range cat.actions {
		for gi, g := range p.groups {
			b := a.Prior
			if s != nil {
				for _, control := range []bool{false, true} {
					c := s.cells[Key{Action: a.ID, Group: g, Control: control}]
					b.Alpha += float64(c.Conversions)
					b.Beta += float64(c.Impressions - min(c.Conversions, c.Impressions))
				}
			}
			p.post[ai*len(p.groups)+gi] = b
			p.upper[ai*len(p.groups)+gi] = distuv.Beta{Alpha: b.Alpha, Beta: b.Beta}.Quantile(upperLevel)
		}
	}
	staticScore := func(ai, pi int) float64 {
		a := cat.actions[ai]
		return a.Weights[pi] * a.Value * a.Lever
	}
	byScore := func(score func(ai int) float64) []int32 {
		idx := make([]int32, len(cat.actions))
		for i := range idx {
			idx[i] = int32(i)
		}
		slices.SortStableFunc(idx, func(x, y int32) int { return cmp.Compare(score(int(y)), score(int(x))) })
		return idx
	}
	for pi := range cat.placements {
		p.priority = append(p.priority, byScore(func(ai int) float64 { return staticScore(ai, pi) }))
	}
	for gi := range p.groups {
		pi := gi / numStageGroups
		p.order = append(p.order, byScore(func(ai int) float64 { return p.upper[ai*len(p.groups)+gi] * staticScore(ai, pi) }))
	}
	return p
}

// Catalogue returns the policy's catalogue.
func (p *Policy) Catalogue() *Catalogue { return p.cat }

// Groups returns the context group names, "placement/stage". Do not modify.
func (p *Policy) Groups() []string { return p.groups }

// Posterior returns the Beta posterior of an action in a group, or false
// when either is unknown.
func (p *Policy) Posterior(action, group string) (Beta, bool) {
	a := p.cat.byID[action]
	if a == nil {
		return Beta{}, false
	}
	for gi, g := range p.groups {
		if g == group {
			return p.post[a.index*len(p.groups)+gi], true
		}
	}
	return Beta{}, false
}

// InControl reports whether a contact id falls in the control group: a
// hash of the id below the catalogue's share. "" (a new, unknown visitor)
// is never in it.
func (p *Policy) InControl(contactID string) bool {
	if contactID == "" || p.cat.controlShare <= 0 {
		return false
	}
	h := xxhash.Sum64String(contactID) ^ p.salt
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return float64(h>>11)/(1<<53) < p.cat.controlShare
}

// Choice is one ranked action of a decision.
type Choice struct {
	Action *Action
	// Score is what the ranking sorted on: Sample × Weight × Value × Lever.
	Score float64
	// Propensity is the posterior mean probability that the contact
	// converts on the action in this context group.
	Propensity float64
	// Sample is the probability the ranking used: a Thompson draw from
	// the posterior (learning arm), the propensity (priority baseline) or
	// a uniform draw (random baseline).
	Sample float64
	Weight float64 // the placement's context weight
	// Fallback: no action was eligible and this is the catalogue's
	// fallback for the placement.
	Fallback bool
	// Model names the learned model whose estimate is Propensity, ""
	// when Propensity is the per-group posterior mean.
	Model string
	// LoggingProbability is the probability that this decision's policy
	// shows the action, given what was eligible: 1 for the priority
	// baseline and a fallback, n/eligible for the random baseline, 0 (not
	// known) for Thompson sampling, whose draw would have to be repeated
	// to tell. Off-policy estimates weigh logged outcomes by its inverse.
	LoggingProbability float64
}

// Decision is the result of Decide. Choices aliases the caller's buffer.
type Decision struct {
	ID      DecisionID
	Control bool
	// Policy is "thompson", or "priority" or "random" for the control
	// group's baseline.
	Policy    string
	Group     string // context group, "placement/stage"
	Placement string
	// Eligible counts the eligible actions the ranking looked at; it
	// stops early once no remaining action can make the top n, so this
	// is a lower bound on the eligible actions (exact for the random
	// baseline).
	Eligible int
	Choices  []Choice
}

// Decide ranks the actions eligible for x in x.Placement and returns the
// best len(out) of them in out, best first. id seeds the random draws:
// the same id, context, history and policy give the same decision. h may
// be nil (no impressions yet). When nothing is eligible and the catalogue
// has a fallback for the placement, the fallback is the one choice; an
// unknown placement gives no choices. Decide writes derived fields into x
// and allocates nothing.
func (p *Policy) Decide(x *Context, h *History, id DecisionID, out []Choice) Decision {
	x.derive()
	d := Decision{ID: id, Placement: x.Placement, Policy: "thompson"}
	pi := p.cat.Placement(x.Placement)
	if pi < 0 || len(out) == 0 {
		return d
	}
	gi := pi*numStageGroups + stageGroup(x.Stage)
	d.Group = p.groups[gi]
	d.Control = p.InControl(x.ContactID)
	if d.Control {
		d.Policy = p.cat.baseline.String()
	}
	r := rng{s: id.Seed()}
	n := 0
	ng := len(p.groups)
	// The learning arm walks the actions by their score bound and the
	// priority baseline by its fixed score, so both stop early; the
	// random baseline needs every eligible action.
	order := p.order[gi]
	if d.Control {
		order = p.priority[pi]
	}
	anyLearned := hasLearned(x.Learned)
	for _, ai := range order {
		a := p.cat.actions[ai]
		cell := int(ai)*ng + gi
		static := a.Weights[pi] * a.Value * a.Lever
		var learned Learned
		if int(ai) < len(x.Learned) {
			learned = x.Learned[ai]
		}
		if n == len(out) {
			switch {
			// A learned estimate rescales the draw, so the group's bound
			// no longer bounds it: such an action is always looked at.
			case !d.Control && learned.Model == "" && p.upper[cell]*static <= out[n-1].Score:
				if !anyLearned {
					goto done
				}
				continue
			case d.Control && p.cat.baseline == BaselinePriority:
				goto done
			}
		}
		if p.check(a, pi, x, h) != "" {
			continue
		}
		d.Eligible++
		post := p.post[cell]
		c := Choice{Action: a, Propensity: post.Mean(), Weight: a.Weights[pi]}
		// ratio places this contact against its context group: the
		// group's posterior says how uncertain the action's rate is, the
		// model says where this contact sits relative to the group's mean.
		ratio := 1.0
		if learned.Model != "" && c.Propensity > 0 {
			ratio = learned.P / c.Propensity
			c.Propensity, c.Model = learned.P, learned.Model
		}
		switch {
		case !d.Control:
			c.Sample = min(1, min(r.beta(post.Alpha, post.Beta), p.upper[cell])*ratio)
			c.Score = c.Sample * static
		case p.cat.baseline == BaselineRandom:
			c.Sample = r.float()
			c.Score = c.Sample
		default:
			c.Sample = c.Propensity
			c.Score = static
		}
		// Insertion into the top len(out); ties keep the walk's order.
		if n == len(out) && c.Score <= out[n-1].Score {
			continue
		}
		j := n
		if n < len(out) {
			n++
		} else {
			j = n - 1
		}
		for j > 0 && out[j-1].Score < c.Score {
			out[j] = out[j-1]
			j--
		}
		out[j] = c
	}
done:
	if n == 0 {
		if fb := p.cat.fallback[pi]; fb != nil {
			post := p.post[fb.index*len(p.groups)+gi]
			out[0] = Choice{Action: fb, Propensity: post.Mean(), Sample: post.Mean(), Weight: fb.Weights[pi], Fallback: true, LoggingProbability: 1}
			out[0].Score = out[0].Sample * out[0].Weight * fb.Value * fb.Lever
			n = 1
		}
	}
	d.Choices = out[:n]
	if d.Control && n > 0 && !d.Choices[0].Fallback {
		lp := 1.0
		if p.cat.baseline == BaselineRandom {
			lp = min(1, float64(len(out))/float64(d.Eligible))
		}
		for i := range d.Choices {
			d.Choices[i].LoggingProbability = lp
		}
	}
	return d
}

// hasLearned reports whether any action has a learned estimate: the walk
// cannot stop at the first bound that fails then, only skip.
func hasLearned(l []Learned) bool {
	for i := range l {
		if l[i].Model != "" {
			return true
		}
	}
	return false
}

// check returns why a is not eligible for x in placement pi, or "" when
// it is. A failed condition is ReasonCondition (Explain finds which).
func (p *Policy) check(a *Action, pi int, x *Context, h *History) string {
	if a.Weights[pi] == 0 {
		return ReasonPlacement
	}
	if a.ValidFrom != 0 && x.nowMS < a.ValidFrom {
		return ReasonNotYet
	}
	if a.ValidUntil != 0 && x.nowMS >= a.ValidUntil {
		return ReasonExpired
	}
	if ch, ok := MessageChannel(x.Placement); ok {
		if x.Consent[ch] != state.ConsentOptedIn {
			return ReasonConsent
		}
		if x.Pressure[ch] {
			return ReasonPressure
		}
	}
	if r := h.blocked(a, x.nowMS); r != "" {
		return r
	}
	for i := range a.conds {
		if !a.conds[i].eval(x) {
			return ReasonCondition
		}
	}
	return ""
}

// MessageChannel says which contact channel a placement sends through
// (email, sms, push), or false for a placement on a page. Consent and the
// marketing pressure triggers share apply to actions in such placements.
func MessageChannel(placement string) (state.Channel, bool) {
	switch placement {
	case "email":
		return state.ChannelEmail, true
	case "sms":
		return state.ChannelSMS, true
	case "push":
		return state.ChannelPush, true
	}
	return 0, false
}

// Verdict is Explain's answer for one action.
type Verdict struct {
	Action   string `json:"action"`
	Eligible bool   `json:"eligible"`
	// Reason is one of the Reason* codes when not eligible.
	Reason string `json:"reason,omitempty"`
	// Condition is the source of the first false top-level condition of
	// the eligibility expression (split at "and"), for ReasonCondition.
	Condition string `json:"condition,omitempty"`
}

// Explain says, for every action of the catalogue in file order, whether
// it is eligible for x and, if not, why: the first failing check, and for
// an expression the first false top-level condition. It allocates the
// result; it is for ?explain=true, not the hot path.
func (p *Policy) Explain(x *Context, h *History) []Verdict {
	x.derive()
	out := make([]Verdict, 0, len(p.cat.actions))
	pi := p.cat.Placement(x.Placement)
	for _, a := range p.cat.actions {
		v := Verdict{Action: a.ID}
		if pi < 0 {
			v.Reason = ReasonUnknownPlc
			out = append(out, v)
			continue
		}
		v.Reason = p.check(a, pi, x, h)
		if v.Reason == ReasonCondition {
			for i := range a.conds {
				if !a.conds[i].eval(x) {
					v.Condition = a.conds[i].text
					break
				}
			}
		}
		v.Eligible = v.Reason == ""
		out = append(out, v)
	}
	return out
}

// AppendReason appends a short human-readable reason for a choice to b,
// for the API's "reason": what made the action eligible and how it
// scored. It allocates nothing when b has room.
func (c *Choice) AppendReason(b []byte, policy string) []byte {
	if c.Fallback {
		return append(b, "fallback: no action was eligible"...)
	}
	if c.Action.Eligible != "" {
		b = append(b, "eligible ("...)
		b = append(b, c.Action.Eligible...)
		b = append(b, "); "...)
	}
	b = append(b, policy...)
	b = append(b, ": p="...)
	b = strconv.AppendFloat(b, c.Sample, 'g', 3, 64)
	b = append(b, " × weight "...)
	b = strconv.AppendFloat(b, c.Weight, 'g', 3, 64)
	b = append(b, " × value "...)
	b = strconv.AppendFloat(b, c.Action.Value, 'g', 4, 64)
	b = append(b, " × lever "...)
	b = strconv.AppendFloat(b, c.Action.Lever, 'g', 3, 64)
	if c.Model != "" {
		b = append(b, "; propensity for this contact from model "...)
		b = append(b, c.Model...)
	}
	return b
}
