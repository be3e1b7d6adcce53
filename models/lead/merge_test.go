package lead

import (
	"slices"
	"testing"

	"github.com/kairos-engine/kairos/state"
)

// Merging two profiles scores as if one contact had seen every event.
func TestMergePoints(t *testing.T) {
	p := mustPlan(t, testPlan)
	type ev struct {
		t     state.EventType
		props props
		at    int64
	}
	anon := []ev{
		{state.EventPageView, nil, t0},
		{state.EventPageView, nil, t0 + 3*day},
		{state.EventFormSubmit, props{"form": "request-demo"}, t0 + 4*day},
		{state.EventEmailBounced, props{"type": "hard"}, t0 + day},
	}
	contact := []ev{
		{state.EventPageView, nil, t0 + day},
		{state.EventEmailUnsubscribed, nil, t0 + 2*day},
		{state.EventPageView, nil, t0 + 6*day},
	}
	var src, dst, all state.Scores
	for _, e := range anon {
		p.Apply(&src, e.t, e.at, e.props, nil)
		p.Apply(&all, e.t, e.at, e.props, nil)
	}
	for _, e := range contact {
		p.Apply(&dst, e.t, e.at, e.props, nil)
		p.Apply(&all, e.t, e.at, e.props, nil)
	}
	srcBefore := slices.Clone(src.Lead)
	p.Merge(&dst, &src)
	if !slices.Equal(src.Lead, srcBefore) {
		t.Error("Merge modified src")
	}
	for _, at := range []int64{t0 + 6*day, t0 + 30*day} {
		got, want := p.Score(&dst, nil, at), p.Score(&all, nil, at)
		if !near(got.Behaviour, want.Behaviour) {
			t.Errorf("at %d: merged %v, one contact %v", at, got.Behaviour, want.Behaviour)
		}
	}
	for i := range dst.Lead {
		if d, a := dst.Lead[i], all.Lead[i]; d.Rule != a.Rule || d.At != a.At || d.Hits != a.Hits || d.WindowStart != a.WindowStart || !near(d.Points, a.Points) {
			t.Errorf("entry %d: merged %+v, one contact %+v", i, d, a)
		}
	}
	// dst keeps nothing of src's memory.
	src.Lead[0].Points = 1e9
	if slices.ContainsFunc(dst.Lead, func(e state.LeadRule) bool { return e.Points == 1e9 }) {
		t.Error("dst aliases src")
	}
}

func TestMergeHits(t *testing.T) {
	p := mustPlan(t, testPlan) // click: cap 3 per 7d; visit: uncapped
	tests := []struct {
		name      string
		rule      string
		dst, src  state.LeadRule
		hits      uint32
		windowSrt int64
	}{
		{"capped, overlapping windows: summed into the earlier",
			"click", state.LeadRule{Hits: 2, WindowStart: t0 + day, At: t0 + day}, state.LeadRule{Hits: 2, WindowStart: t0, At: t0}, 4, t0},
		{"capped, disjoint windows: the later kept",
			"click", state.LeadRule{Hits: 1, WindowStart: t0, At: t0}, state.LeadRule{Hits: 2, WindowStart: t0 + 8*day, At: t0 + 8*day}, 2, t0 + 8*day},
		{"capped, disjoint windows, dst later",
			"click", state.LeadRule{Hits: 3, WindowStart: t0 + 8*day, At: t0 + 8*day}, state.LeadRule{Hits: 2, WindowStart: t0, At: t0}, 3, t0 + 8*day},
		{"uncapped: summed, earliest first hit",
			"visit", state.LeadRule{Hits: 5, WindowStart: t0 + 30*day, At: t0 + 40*day}, state.LeadRule{Hits: 7, WindowStart: t0, At: t0}, 12, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.dst.Rule, tt.src.Rule = tt.rule, tt.rule
			tt.dst.Points, tt.src.Points = 1, 1
			dst := state.Scores{Lead: []state.LeadRule{tt.dst}}
			src := state.Scores{Lead: []state.LeadRule{tt.src}}
			p.Merge(&dst, &src)
			if e := dst.Lead[0]; e.Hits != tt.hits || e.WindowStart != tt.windowSrt || e.At != max(tt.dst.At, tt.src.At) {
				t.Errorf("merged %+v, want hits %d window %d", e, tt.hits, tt.windowSrt)
			}
		})
	}
}

func TestMergeTransitionsAndStage(t *testing.T) {
	p := mustPlan(t, testPlan)
	tr := func(at int64) state.Transition {
		return state.Transition{Kind: state.TransitionStage, From: 1, To: 2, At: at}
	}
	var dst, src state.Scores
	for i := range int64(10) {
		dst.Transitions = append(dst.Transitions, tr(t0+2*i))
		src.Transitions = append(src.Transitions, tr(t0+2*i+1))
	}
	dst.Stage, dst.StageAt = uint8(StageLead), t0
	src.Stage = uint8(StageMQL)
	src.Lead = []state.LeadRule{{Rule: "old-rule", Points: 3, At: t0}}
	p.Merge(&dst, &src)
	if len(dst.Transitions) != state.MaxTransitions || dst.Transitions[0].At != t0+4 || dst.Transitions[15].At != t0+19 {
		t.Errorf("transitions %+v", dst.Transitions)
	}
	if !slices.IsSortedFunc(dst.Transitions, func(a, b state.Transition) int { return int(a.At - b.At) }) {
		t.Error("transitions not sorted")
	}
	if Stage(dst.Stage) != StageLead {
		t.Errorf("stage %v: Merge leaves it to the next Apply", Stage(dst.Stage))
	}
	if len(dst.Lead) != 1 || dst.Lead[0].Rule != "old-rule" {
		t.Errorf("an entry only src has is copied, known to the plan or not: %+v", dst.Lead)
	}
	p.Merge(&dst, &dst) // no-op
	p.Merge(&dst, nil)
	if len(dst.Lead) != 1 {
		t.Error("self merge changed dst")
	}
}
