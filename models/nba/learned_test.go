package nba

import (
	"fmt"
	"testing"
)

// A learned estimate for one contact moves that contact's ranking: with
// the group posteriors alone the high-value action wins; a model that is
// sure this contact converts on the low-value one makes it win instead,
// and the choice says which model spoke.
func TestDecideLearned(t *testing.T) {
	p := mustPolicy(t, `version: v1
actions:
  - {id: big, placements: [homepage], value: 10}
  - {id: small, placements: [homepage], value: 2}
`, nil)
	x := baseContext()
	x.ContactID = controlFreeID(t, p)
	firsts := func() map[string]int {
		got := map[string]int{}
		for i := range 1000 {
			d := p.Decide(x, nil, DecisionID{byte(i), byte(i >> 8), 7}, make([]Choice, 1))
			got[d.Choices[0].Action.ID]++
		}
		return got
	}
	if got := firsts(); got["big"] < 700 {
		t.Fatalf("without a model, big first %d of 1000 times; want most", got["big"])
	}
	// Both priors are Beta(1, 1) with mean 0.5: a model saying 0.01 for big
	// and 0.9 for small scales their draws by 0.02 and 1.8.
	x.Learned = []Learned{{P: 0.01, Model: "mlp"}, {P: 0.9, Model: "mlp"}}
	if got := firsts(); got["small"] < 900 {
		t.Fatalf("with the model, small first %d of 1000 times; want nearly always", got["small"])
	}
	d := p.Decide(x, nil, DecisionID{1}, make([]Choice, 2))
	for _, c := range d.Choices {
		want := map[string]float64{"big": 0.01, "small": 0.9}[c.Action.ID]
		if c.Model != "mlp" || c.Propensity != want || c.Sample > 1 {
			t.Fatalf("choice %s: model %q propensity %v sample %v; want mlp, %v, ≤ 1", c.Action.ID, c.Model, c.Propensity, c.Sample, want)
		}
	}
	// An entry without a model name is no estimate.
	x.Learned = []Learned{{P: 0.01}, {P: 0.9}}
	if got := firsts(); got["big"] < 700 {
		t.Fatalf("estimates without a model changed the ranking: %v", got)
	}
}

// The walk stops once no remaining action's group bound can make the top
// n; an action further down with a learned estimate must still be looked
// at, since the estimate rescales its draw past the bound.
func TestDecideLearnedBeatsPruning(t *testing.T) {
	p := benchPolicy(t, 50)
	x := baseContext()
	x.ContactID = controlFreeID(t, p)
	gi := p.cat.Placement("homepage")*numStageGroups + stageGroup(x.Stage)
	var last int32 = -1
	for i := len(p.order[gi]) - 1; i >= 0; i-- {
		ai := p.order[gi][i]
		if p.check(p.cat.actions[ai], 0, x, nil) == "" {
			last = ai
			break
		}
	}
	if last < 0 {
		t.Fatal("no eligible action")
	}
	x.Learned = make([]Learned, len(p.cat.actions))
	x.Learned[last] = Learned{P: 1, Model: "byo"}
	shown := 0
	for i := range 200 {
		d := p.Decide(x, nil, DecisionID{byte(i), 3}, make([]Choice, 3))
		for _, c := range d.Choices {
			if c.Action == p.cat.actions[last] {
				shown++
				if c.Model != "byo" {
					t.Fatalf("choice without its model: %+v", c)
				}
			}
		}
	}
	if shown < 190 {
		t.Fatalf("the last action in the walk, with a learned P=1, was shown %d of 200 times", shown)
	}
}

// Baselines log how likely they were to show what they showed; Thompson
// sampling leaves it unknown (0).
func TestDecideLoggingProbability(t *testing.T) {
	for _, tc := range []struct {
		baseline string
		n        int
		want     float64
	}{
		{"priority", 2, 1},
		{"random", 2, 2.0 / 3},
		{"random", 5, 1},
	} {
		t.Run(fmt.Sprint(tc.baseline, tc.n), func(t *testing.T) {
			p := mustPolicy(t, `version: v1
control: {share: 0.5, baseline: `+tc.baseline+`}
actions:
  - {id: a, placements: [homepage], value: 1}
  - {id: b, placements: [homepage], value: 2}
  - {id: c, placements: [homepage], value: 3}
`, nil)
			x := baseContext()
			for i := 0; !p.InControl(x.ContactID); i++ {
				x.ContactID = fmt.Sprint("contact-", i)
			}
			d := p.Decide(x, nil, DecisionID{4}, make([]Choice, tc.n))
			if !d.Control || len(d.Choices) != min(tc.n, 3) {
				t.Fatalf("decision %+v; want a control decision with %d choices", d, min(tc.n, 3))
			}
			for _, c := range d.Choices {
				if c.LoggingProbability != tc.want {
					t.Fatalf("%s: logging probability %v, want %v", c.Action.ID, c.LoggingProbability, tc.want)
				}
			}
		})
	}
	p := mustPolicy(t, `version: v1
actions:
  - {id: a, placements: [homepage], value: 1}
`, nil)
	x := baseContext()
	x.ContactID = controlFreeID(t, p)
	d := p.Decide(x, nil, DecisionID{5}, make([]Choice, 1))
	if d.Choices[0].LoggingProbability != 0 {
		t.Fatalf("thompson choice logs %v, want 0 (unknown)", d.Choices[0].LoggingProbability)
	}
}

func TestDecideLearnedAllocs(t *testing.T) {
	p := benchPolicy(t, 50)
	x := baseContext()
	x.Learned = make([]Learned, len(p.cat.actions))
	for i := range x.Learned {
		x.Learned[i] = Learned{P: float64(i%7) / 10, Model: "mlp"}
	}
	out := make([]Choice, 3)
	id := DecisionID{1, 2, 3}
	if allocs := testing.AllocsPerRun(200, func() { id[0]++; p.Decide(x, nil, id, out) }); allocs != 0 {
		t.Fatalf("Decide with learned estimates allocates %v times per call", allocs)
	}
}
