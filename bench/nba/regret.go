package main

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/kairos-engine/kairos/models/nba"
)

// The simulated environment: a catalogue of simActions actions for the
// homepage, contacts in simStages lifecycle stages, and a true conversion
// probability per (action, stage) that the policies do not know. Each step
// a contact of a random stage arrives, a policy picks one action, the
// contact converts with the true probability, and the learning policy's
// statistics get the outcome (its Policy is rebuilt from the statistics
// every refresh steps, as the engine does every few seconds). Regret is
// measured in expected value: the oracle's p×value minus the chosen
// action's, summed over steps (pseudo-regret, free of the Bernoulli
// noise).

var simStages = []string{"visitor", "lead", "mql", "customer", "lapsed"}

const simActions = 12

type simEnv struct {
	cat   *nba.Catalogue
	value []float64   // per action, in catalogue order
	p     [][]float64 // [action][stage] true conversion probability
	best  []float64   // [stage] oracle expected value
}

// newSimEnv draws the true rates from seed: a base rate of 1–6% for every
// pair, and per stage two actions that convert 2–4 times better there, so
// that the best action differs by stage and is not the most valuable one
// on paper.
func newSimEnv(seed uint64) (*simEnv, error) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var b strings.Builder
	b.WriteString("version: sim\ncontrol: {share: 0}\ndefaults: {prior: {alpha: 1, beta: 19}, stop_after_conversion: false}\nactions:\n")
	e := &simEnv{value: make([]float64, simActions), p: make([][]float64, simActions), best: make([]float64, len(simStages))}
	for a := range simActions {
		e.value[a] = float64(2 + r.IntN(9))
		fmt.Fprintf(&b, "  - {id: action-%02d, placements: [homepage], value: %g}\n", a, e.value[a])
		e.p[a] = make([]float64, len(simStages))
		for s := range simStages {
			e.p[a][s] = 0.01 + 0.05*r.Float64()
		}
	}
	for s := range simStages {
		for range 2 {
			a := r.IntN(simActions)
			e.p[a][s] = min(0.5, e.p[a][s]*(2+2*r.Float64()))
		}
	}
	cat, err := nba.ParseCatalogue("sim.yaml", []byte(b.String()))
	if err != nil {
		return nil, err
	}
	e.cat = cat
	for s := range simStages {
		for a := range simActions {
			e.best[s] = max(e.best[s], e.p[a][s]*e.value[a])
		}
	}
	return e, nil
}

type simPolicy int

const (
	policyLearning simPolicy = iota
	policyRandom
	policyOracle
)

func (p simPolicy) String() string { return [...]string{"thompson", "random", "oracle"}[p] }

// simRun returns the cumulative regret after each of the checkpoints
// (step counts, increasing) and the conversions counted.
func simRun(e *simEnv, pol simPolicy, steps []int, refresh int, seed uint64) (regret []float64, conversions int) {
	r := rand.New(rand.NewPCG(seed, 99))
	stats := nba.NewStats()
	policy := nba.NewPolicy(e.cat, stats)
	index := map[string]int{}
	for i, a := range e.cat.Actions() {
		index[a.ID] = i
	}
	x := &nba.Context{Placement: "homepage", ContactID: "sim"}
	out := make([]nba.Choice, 1)
	total := 0.0
	next := 0
	for t := 1; t <= steps[len(steps)-1]; t++ {
		s := r.IntN(len(simStages))
		var a int
		switch pol {
		case policyRandom:
			a = r.IntN(simActions)
		case policyOracle:
			for i := range simActions {
				if e.p[i][s]*e.value[i] == e.best[s] {
					a = i
				}
			}
		default:
			x.Stage = simStages[s]
			var id nba.DecisionID
			id[0], id[1], id[2], id[3] = byte(t), byte(t>>8), byte(t>>16), byte(seed)
			d := policy.Decide(x, nil, id, out)
			a = index[d.Choices[0].Action.ID]
		}
		converted := r.Float64() < e.p[a][s]
		if converted {
			conversions++
		}
		if pol == policyLearning {
			c := nba.Counts{Impressions: 1}
			if converted {
				c.Conversions = 1
			}
			stats.Add(nba.Key{Action: e.cat.Actions()[a].ID, Group: "homepage/" + simStages[s]}, c)
			if t%refresh == 0 {
				policy = nba.NewPolicy(e.cat, stats)
			}
		}
		total += e.best[s] - e.p[a][s]*e.value[a]
		if t == steps[next] {
			regret = append(regret, total)
			next++
		}
	}
	return regret, conversions
}

// regretTable runs every policy on seeds environments and returns the
// mean cumulative regret per checkpoint, and mean conversions.
func regretTable(seeds int, steps []int, refresh int) (map[simPolicy][]float64, map[simPolicy]float64, error) {
	mean := map[simPolicy][]float64{}
	conv := map[simPolicy]float64{}
	for seed := range uint64(seeds) {
		e, err := newSimEnv(seed + 1)
		if err != nil {
			return nil, nil, err
		}
		for _, pol := range []simPolicy{policyLearning, policyRandom, policyOracle} {
			reg, c := simRun(e, pol, steps, refresh, seed+1)
			if mean[pol] == nil {
				mean[pol] = make([]float64, len(steps))
			}
			for i := range reg {
				mean[pol][i] += reg[i] / float64(seeds)
			}
			conv[pol] += float64(c) / float64(seeds)
		}
	}
	return mean, conv, nil
}

func runRegret(seeds, steps, refresh int) error {
	var checkpoints []int
	for _, c := range []int{1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000} {
		if c <= steps {
			checkpoints = append(checkpoints, c)
		}
	}
	if len(checkpoints) == 0 || checkpoints[len(checkpoints)-1] != steps {
		checkpoints = append(checkpoints, steps)
	}
	mean, conv, err := regretTable(seeds, checkpoints, refresh)
	if err != nil {
		return err
	}
	fmt.Printf("Simulated environment: %d actions, %d lifecycle stages, base conversion rates 1–6%% with two actions per stage boosted 2–4×, mean of %d environments, policy refreshed every %d decisions.\n\n", simActions, len(simStages), seeds, refresh)
	fmt.Println("| decisions | cumulative regret, Thompson | cumulative regret, uniform random | Thompson / random | regret per decision, last stretch (Thompson) |")
	fmt.Println("| --- | --- | --- | --- | --- |")
	prevT, prevN := 0.0, 0
	for i, c := range checkpoints {
		l, r := mean[policyLearning][i], mean[policyRandom][i]
		fmt.Printf("| %d | %.1f | %.1f | %.3f | %.4f |\n", c, l, r, l/r, (l-prevT)/float64(c-prevN))
		prevT, prevN = l, c
	}
	fmt.Printf("\nConversions over %d decisions (mean): oracle %.0f, Thompson %.0f, random %.0f.\n", steps, conv[policyOracle], conv[policyLearning], conv[policyRandom])
	return nil
}
