package lead

import (
	"cmp"
	"slices"

	"github.com/kairos-engine/kairos/state"
)

// Merge adds src's lead scores into dst when identity resolution finds
// that src (typically an anonymous profile) is the same person as dst; it
// goes with state.Contact.Absorb, which leaves Scores alone. src is not
// modified and dst keeps no reference into src's slices.
//
//   - Behavioural rules: an entry only src has is copied. One both have is
//     combined as if one contact had seen both histories: both points
//     decayed to the later At and added, At the later one. Hits: for an
//     uncapped rule they are summed and WindowStart is the earlier first
//     hit. For a capped rule, when both windows overlap (their starts are
//     less than cap.per apart) the hits are summed into the earlier
//     window, which may leave it over max (the cap then holds until that
//     window ends); when they do not overlap, the later window is kept
//     with its hits. An entry of a rule the plan does not have keeps dst's
//     value.
//   - Transitions are merged by time (dst's first on equal times) and the
//     newest state.MaxTransitions kept.
//   - The stage is left as dst's: the next Apply or Refresh recomputes it
//     from the merged points and the merged contact.
//
// s.Lead stays sorted and bounded by state.MaxLeadRules (evicting as
// Apply does).
func (p *Plan) Merge(dst, src *state.Scores) {
	if dst == nil || src == nil || dst == src {
		return
	}
	latest := int64(0)
	for i := range dst.Lead {
		latest = max(latest, dst.Lead[i].At)
	}
	for i := range src.Lead {
		latest = max(latest, src.Lead[i].At)
	}
	for _, e := range src.Lead {
		i, found := searchLead(dst.Lead, e.Rule)
		if !found {
			p.insertLead(dst, i, e, latest)
			continue
		}
		if r := p.rule(e.Rule); r != nil {
			combine(&dst.Lead[i], &e, r)
		}
	}
	if len(src.Transitions) > 0 {
		ts := make([]state.Transition, 0, len(dst.Transitions)+len(src.Transitions))
		ts = append(ts, dst.Transitions...)
		ts = append(ts, src.Transitions...)
		slices.SortStableFunc(ts, func(a, b state.Transition) int { return cmp.Compare(a.At, b.At) })
		if len(ts) > state.MaxTransitions {
			ts = ts[len(ts)-state.MaxTransitions:]
		}
		dst.Transitions = ts
	}
}

// combine merges o into d, entries of the same rule r.
func combine(d, o *state.LeadRule, r *rule) {
	t := max(d.At, o.At)
	d.Points = d.Points*decay(t-d.At, r.rate) + o.Points*decay(t-o.At, r.rate)
	d.At = t
	switch {
	case o.Hits == 0:
	case d.Hits == 0:
		d.Hits, d.WindowStart = o.Hits, o.WindowStart
	case r.capMax == 0 || absDiff(d.WindowStart, o.WindowStart) < r.capPer:
		d.Hits = satAdd(d.Hits, o.Hits)
		d.WindowStart = min(d.WindowStart, o.WindowStart)
	case o.WindowStart > d.WindowStart:
		d.Hits, d.WindowStart = o.Hits, o.WindowStart
	}
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

func satAdd(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint32(0)
}
