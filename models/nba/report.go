package nba

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Arm is the outcome of one arm (learning or control) for an action, or
// for the whole policy: counts, conversion rate and its equal-tailed
// credible interval under a uniform Beta(1, 1) prior.
type Arm struct {
	Impressions uint64  `json:"impressions"`
	Conversions uint64  `json:"conversions"`
	Dismissals  uint64  `json:"dismissals"`
	Rate        float64 `json:"conversion_rate"`
	Lower       float64 `json:"ci_lower"`
	Upper       float64 `json:"ci_upper"`
}

// ActionReport compares the arms for one action. Uplift is
// learning rate / control rate − 1; it is null (NaN is not JSON) when the
// control arm has no conversions.
type ActionReport struct {
	Action   string   `json:"action"`
	Learning Arm      `json:"learning"`
	Control  Arm      `json:"control"`
	Uplift   *float64 `json:"uplift"`
}

// Report is what GET /v1/models/nba shows.
type Report struct {
	Catalogue    string  `json:"catalogue_version"`
	ControlShare float64 `json:"control_share"`
	Baseline     string  `json:"baseline"`
	Level        float64 `json:"credible_level"`
	// Learning and Control are per decision: Impressions counts
	// decisions and Conversions the outcomes they led to.
	Learning Arm            `json:"learning"`
	Control  Arm            `json:"control"`
	Uplift   *float64       `json:"uplift"`
	Actions  []ActionReport `json:"actions"`
}

// NewReport summarises merged statistics for a catalogue's actions, with
// credible intervals at level (0.95 when out of (0, 1)).
func NewReport(cat *Catalogue, s *Stats, level float64) Report {
	if !(level > 0 && level < 1) {
		level = 0.95
	}
	r := Report{Catalogue: cat.version, ControlShare: cat.controlShare, Baseline: cat.baseline.String(), Level: level}
	var totals [2]Counts
	for _, a := range cat.actions {
		var arms [2]Counts
		for k, c := range s.cells {
			if k.Action == a.ID {
				arms[arm(k.Control)].add(c)
			}
		}
		totals[0].add(arms[0])
		totals[1].add(arms[1])
		ar := ActionReport{Action: a.ID, Learning: newArm(arms[0], level), Control: newArm(arms[1], level)}
		ar.Uplift = uplift(ar.Learning, ar.Control)
		r.Actions = append(r.Actions, ar)
	}
	for i := range totals {
		totals[i].Impressions = s.decisions[i]
		totals[i].Conversions = min(totals[i].Conversions, totals[i].Impressions)
	}
	r.Learning, r.Control = newArm(totals[0], level), newArm(totals[1], level)
	r.Uplift = uplift(r.Learning, r.Control)
	return r
}

func newArm(c Counts, level float64) Arm {
	a := Arm{Impressions: c.Impressions, Conversions: c.Conversions, Dismissals: c.Dismissals}
	succ := float64(min(c.Conversions, c.Impressions))
	fail := float64(c.Impressions) - succ
	if c.Impressions > 0 {
		a.Rate = succ / float64(c.Impressions)
	}
	b := distuv.Beta{Alpha: 1 + succ, Beta: 1 + fail}
	a.Lower = b.Quantile((1 - level) / 2)
	a.Upper = b.Quantile(1 - (1-level)/2)
	return a
}

func uplift(learning, control Arm) *float64 {
	if control.Rate == 0 || learning.Impressions == 0 {
		return nil
	}
	u := learning.Rate/control.Rate - 1
	if math.IsNaN(u) || math.IsInf(u, 0) {
		return nil
	}
	return &u
}
