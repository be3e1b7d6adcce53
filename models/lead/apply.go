package lead

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kairos-engine/kairos/state"
)

// Change reports what Apply, Refresh or MarkLapsed did.
type Change struct {
	Matched int // behavioural rules whose points were added
	Capped  int // rules that matched but were over their cap, so added nothing
	// StageChanged is true when the stored stage moved From → To; a
	// state.Transition was appended. From and To are set either way (equal
	// when nothing changed).
	StageChanged bool
	From, To     Stage
}

// Apply folds one event into a contact's stored lead score. The stream
// worker calls it for every event after the fold has updated c (so a
// placed order is already in c.Orders and identify's traits in c.Traits);
// t is the event's type, at its event time (Unix ms), props its
// properties. c may be nil (no traits, anonymous, no orders).
//
// For each behavioural rule of t whose conditions hold, in plan order:
//
//   - a capped rule counts its hits in a window anchored at the first hit
//     (event time); a hit at or after WindowStart+per opens a new window;
//     a hit beyond cap.max in the window adds nothing (Change.Capped).
//   - the points are added to the rule's state.LeadRule, kept decayed to
//     its At: an event later than At decays the stored points to the event
//     time and adds; an earlier (late) event adds its points decayed from
//     the event time to At. Either way the stored value is Σ points_i ·
//     2^(−(At−t_i)/half_life) over the hits, so arrival order does not
//     change the score (up to float rounding).
//
// Then the stage is recomputed at the contact's latest event time (at, or
// c.LastSeen when a late event arrives), with the precedence and
// hysteresis the package documentation describes; a change sets s.Stage
// and s.StageAt and appends a state.Transition of kind
// state.TransitionStage.
//
// Apply allocates only when a rule is hit for the first time and s.Lead
// has no spare capacity, or when a transition grows s.Transitions; the
// common case (a rule already in s.Lead) allocates nothing.
func (p *Plan) Apply(s *state.Scores, t state.EventType, at int64, props Props, c *state.Contact) Change {
	var ch Change
	var sc scratch
	if t < state.NumEventTypes {
		for _, r := range p.byEvent[t] {
			if !matchProps(r.when, props, &sc) {
				continue
			}
			if p.hit(s, r, at) {
				ch.Matched++
			} else {
				ch.Capped++
			}
		}
	}
	p.restage(s, c, at, &ch, &sc)
	return ch
}

// Refresh recomputes the stored stage at instant at without an event: for
// a timer that re-evaluates decayed scores, or after a plan reload or an
// identity merge. It is Apply without rules.
func (p *Plan) Refresh(s *state.Scores, c *state.Contact, at int64) Change {
	var ch Change
	var sc scratch
	p.restage(s, c, at, &ch, &sc)
	return ch
}

// MarkLapsed is how the churn model moves a customer to lapsed (lapsed
// true: P(alive) fell below its threshold) or back (false). Only a stored
// StageCustomer becomes StageLapsed, and only a stored StageLapsed goes back
// to StageCustomer; for any other stage it does nothing. A lapsed contact
// also leaves lapsed by itself when it places an order later than the
// lapse (event time): the next Apply sees c.Orders.Last > StageAt.
func (p *Plan) MarkLapsed(s *state.Scores, at int64, lapsed bool) Change {
	from := Stage(s.Stage)
	ch := Change{From: from, To: from}
	switch {
	case lapsed && from == StageCustomer:
		ch.To = StageLapsed
	case !lapsed && from == StageLapsed:
		ch.To = StageCustomer
	default:
		return ch
	}
	setStage(s, from, ch.To, at)
	ch.StageChanged = true
	return ch
}

// restage recomputes the stored stage. It is evaluated at the contact's
// latest event time, at or c.LastSeen if later, so that a late event does
// not judge the score as it was in the past.
func (p *Plan) restage(s *state.Scores, c *state.Contact, at int64, ch *Change, sc *scratch) {
	if c != nil && c.LastSeen > at {
		at = c.LastSeen
	}
	from := Stage(s.Stage)
	to := p.stage(s, c, at, 0, false, sc)
	ch.From, ch.To = from, to
	if to != from {
		setStage(s, from, to, at)
		ch.StageChanged = true
	}
}

// decay returns the factor 2^(−dt/half_life) = exp(−rate·dt) that brings
// points dt milliseconds forward, rate being ln 2 / half_life (per ms) as
// rateOf computes it; rate 0 means the points never decay. A non-positive
// dt returns 1: moving points back in time never inflates them (the same
// convention as state.DecayFactor).
func decay(dt int64, rate float64) float64 {
	if dt <= 0 || rate == 0 {
		return 1
	}
	return math.Exp(-rate * float64(dt))
}

// rateOf returns the decay rate of a half-life; 0 (never) gives 0.
func rateOf(halfLife time.Duration) float64 {
	if halfLife <= 0 {
		return 0
	}
	return math.Ln2 / (float64(halfLife) / float64(time.Millisecond))
}

func searchLead(lead []state.LeadRule, id string) (int, bool) {
	return slices.BinarySearchFunc(lead, id, func(e state.LeadRule, id string) int { return strings.Compare(e.Rule, id) })
}

// hit adds one hit of r at instant at; false when the cap refused it.
func (p *Plan) hit(s *state.Scores, r *rule, at int64) bool {
	i, found := searchLead(s.Lead, r.id)
	if !found {
		i = p.insertLead(s, i, state.LeadRule{Rule: r.id, At: at, WindowStart: at}, at)
	}
	e := &s.Lead[i]
	if r.capMax > 0 {
		// A window is anchored at its first hit. A late hit before the
		// window's start counts against the current window: caps may
		// under-count around a late event, never exceed max per window.
		if e.Hits == 0 || at-e.WindowStart >= r.capPer {
			e.WindowStart, e.Hits = at, 0
		}
		if e.Hits >= r.capMax {
			return false
		}
	} else if e.Hits == 0 || at < e.WindowStart {
		e.WindowStart = at // uncapped: the first hit
	}
	if e.Hits < math.MaxUint32 {
		e.Hits++
	}
	switch {
	case !found:
		e.Points, e.At = r.points, at
	case at >= e.At:
		e.Points = e.Points*decay(at-e.At, r.rate) + r.points
		e.At = at
	default:
		e.Points += r.points * decay(e.At-at, r.rate)
	}
	return true
}

// insertLead inserts e at position i of s.Lead (sorted by Rule) and returns
// its index. When s.Lead is full (state.MaxLeadRules), an entry is evicted
// first: one whose rule the plan no longer has, else the one worth least
// (absolute points decayed to at).
func (p *Plan) insertLead(s *state.Scores, i int, e state.LeadRule, at int64) int {
	if len(s.Lead) >= state.MaxLeadRules {
		victim, worth := -1, math.Inf(1)
		for j := range s.Lead {
			r := p.rule(s.Lead[j].Rule)
			if r == nil {
				victim = j
				break
			}
			if v := math.Abs(s.Lead[j].Points * decay(at-s.Lead[j].At, r.rate)); v < worth {
				victim, worth = j, v
			}
		}
		victim = max(victim, 0) // NaN points everywhere: any entry
		s.Lead = slices.Delete(s.Lead, victim, victim+1)
		if victim < i {
			i--
		}
		if len(s.Lead) >= state.MaxLeadRules { // an oversized record: trim it
			s.Lead = s.Lead[:state.MaxLeadRules-1]
			i = min(i, len(s.Lead))
		}
	}
	s.Lead = slices.Insert(s.Lead, i, e)
	return i
}

// known reports whether the contact is identified: it has a contact id or
// an email address (or is keyed by one).
func known(c *state.Contact) bool {
	if c == nil {
		return false
	}
	k := c.Key.Kind()
	return c.ContactID != "" || c.EmailAddr != "" || k == state.IDContact || k == state.IDEmail
}

// accepted reports whether sales accepted the contact: an accepting rule
// was ever hit (it has an entry in s.Lead) or the accepting trait
// conditions hold.
func (p *Plan) accepted(s *state.Scores, c *state.Contact, sc *scratch) bool {
	for _, r := range p.accepting {
		if _, ok := searchLead(s.Lead, r.id); ok {
			return true
		}
	}
	return len(p.acceptTraits) > 0 && c != nil && matchTraits(p.acceptTraits, c, sc)
}

// stage decides the stage at instant at from the stored stage, the
// contact and the score; total is computed here unless haveTotal.
// Precedence, first that applies:
//
//  1. lapsed, while stored lapsed and no order was placed after StageAt;
//  2. customer, when c.Orders.Count > 0;
//  3. visitor, when the contact is anonymous;
//  4. SQL, when sales accepted, or the score reaches lifecycle.sql, or the
//     stored stage ranks SQL or above and the score is at least
//     sql − hysteresis;
//  5. MQL, likewise with lifecycle.mql;
//  6. lead.
func (p *Plan) stage(s *state.Scores, c *state.Contact, at int64, total float64, haveTotal bool, sc *scratch) Stage {
	stored := Stage(s.Stage)
	if c != nil {
		if stored == StageLapsed && c.Orders.Last <= s.StageAt {
			return StageLapsed
		}
		if c.Orders.Count > 0 {
			return StageCustomer
		}
	} else if stored == StageLapsed {
		return StageLapsed
	}
	if !known(c) {
		return StageVisitor
	}
	if p.accepted(s, c, sc) {
		return StageSQL
	}
	held := stored.rank()
	if haveTotal {
		return p.byScore(total, held)
	}
	// The stage is monotone in the score, so when the fit points cannot
	// change it (the smallest and the largest fit the plan can give lead
	// to the same stage), the traits are not read: most events of
	// low-scoring leads decide here.
	b := p.behaviour(s, at)
	if lo := p.byScore(b+p.fitMin, held); lo == p.byScore(b+p.fitMax, held) {
		return lo
	}
	return p.byScore(b+p.fitPoints(c, sc), held)
}

// byScore is the stage of a known, unaccepted, non-customer contact with
// the given total score, held being the rank of its stored stage.
func (p *Plan) byScore(total float64, held int) Stage {
	l := &p.life
	switch {
	case l.HasSQL && (total >= l.SQL || held >= int(StageSQL) && total >= l.SQL-l.Hysteresis):
		return StageSQL
	case total >= l.MQL || held >= int(StageMQL) && total >= l.MQL-l.Hysteresis:
		return StageMQL
	}
	return StageLead
}

// behaviour sums the stored points of the plan's rules decayed to at:
// a merge join of two lists sorted by rule id. Entries of rules the plan
// does not have are ignored.
func (p *Plan) behaviour(s *state.Scores, at int64) float64 {
	sum := 0.0
	for i, j := 0, 0; i < len(s.Lead) && j < len(p.rules); {
		switch c := strings.Compare(s.Lead[i].Rule, p.rules[j].id); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			sum += s.Lead[i].Points * decay(at-s.Lead[i].At, p.rules[j].rate)
			i++
			j++
		}
	}
	return sum
}

// fitPoints sums the fit rules that hold for c's traits.
func (p *Plan) fitPoints(c *state.Contact, sc *scratch) float64 {
	sum := 0.0
	for _, f := range p.fit {
		if matchTraits(f.traits, c, sc) {
			sum += f.points
		}
	}
	return sum
}

// setStage stores a stage change and records its transition. The change's
// time never goes back before the previous one (a late event cannot date
// a change before the stage it leaves).
func setStage(s *state.Scores, from, to Stage, at int64) {
	at = max(at, s.StageAt)
	s.Stage, s.StageAt = uint8(to), at
	addTransition(s, state.Transition{Kind: state.TransitionStage, From: uint8(from), To: uint8(to), At: at})
}

// addTransition inserts tr into s.Transitions by time (after equal times),
// keeping the newest state.MaxTransitions.
func addTransition(s *state.Scores, tr state.Transition) {
	ts := s.Transitions
	if len(ts) > state.MaxTransitions {
		ts = ts[len(ts)-state.MaxTransitions:]
	}
	if len(ts) == state.MaxTransitions {
		if tr.At < ts[0].At {
			s.Transitions = ts // older than everything kept: it would be dropped
			return
		}
		copy(ts, ts[1:])
		ts = ts[:len(ts)-1]
	}
	i := len(ts)
	for i > 0 && ts[i-1].At > tr.At {
		i--
	}
	s.Transitions = slices.Insert(ts, i, tr)
}
