package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/kairos-engine/kairos/models/sendtime"
)

// The synthetic population for the send-time evaluation. Each contact has
// a true engagement distribution over its local week: a preferred hour
// (mornings, lunch or evenings, as people read mail), a spread of one to
// two hours around it, weekends more or less active than weekdays, and
// 30% of its engagement spread evenly over the week; a true engagement rate per message;
// and a time zone. A message sent at local hour-of-week h engages with
// probability 1 − (1 − r)^(1 − κ + κ·168·θ_h), κ = 0.5, the structure
// the model assumes, so that the evaluation measures how well the model
// learns θ from a short history, not a mismatch of the link function.

var stZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"}

type stContact struct {
	zone  *time.Location
	theta [sendtime.Bins]float64
	cdf   [sendtime.Bins]float64
	rate  float64
}

func (c *stContact) p(bin int) float64 {
	return 1 - math.Pow(1-c.rate, 0.5+0.5*sendtime.Bins*c.theta[bin])
}

func newPopulation(n int, seed uint64) ([]*stContact, error) {
	r := rand.New(rand.NewPCG(seed, 0x57))
	zones := make([]*time.Location, len(stZones))
	for i, z := range stZones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			return nil, fmt.Errorf("time zone %s: %w", z, err)
		}
		zones[i] = loc
	}
	out := make([]*stContact, n)
	for i := range out {
		c := &stContact{zone: zones[r.IntN(len(zones))]}
		var pref float64
		switch u := r.Float64(); {
		case u < 0.4:
			pref = 6.5 + 2.5*r.Float64() // before work
		case u < 0.6:
			pref = 11.5 + 2*r.Float64() // lunch
		default:
			pref = 18 + 4*r.Float64() // evening
		}
		sigma := 0.7 + 1.3*r.Float64()
		weekend := 0.3
		if r.IntN(3) == 0 {
			weekend = 1.3
		}
		var sum float64
		for h := range c.theta {
			d := math.Abs(float64(h%24) + 0.5 - pref)
			d = math.Min(d, 24-d)
			w := math.Exp(-0.5 * d * d / (sigma * sigma))
			if h/24 >= 5 {
				w *= weekend
			}
			c.theta[h] = w
			sum += w
		}
		for h := range c.theta {
			c.theta[h] = 0.7*c.theta[h]/sum + 0.3/sendtime.Bins
		}
		acc := 0.0
		for h := range c.theta {
			acc += c.theta[h]
			c.cdf[h] = acc
		}
		c.rate = betaDraw(r, 2, 8)
		out[i] = c
	}
	return out, nil
}

func betaDraw(r *rand.Rand, a, b float64) float64 {
	x, y := gammaDraw(r, a), gammaDraw(r, b)
	return x / (x + y)
}

func gammaDraw(r *rand.Rand, a float64) float64 {
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		if u := r.Float64(); math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// history draws n engagement events from the contact's true θ and the
// deliveries that produced them.
func (c *stContact) history(r *rand.Rand, n int) (h [sendtime.Bins]float32, opens, delivered uint32) {
	for range n {
		u := r.Float64() * c.cdf[sendtime.Bins-1]
		b, _ := slices.BinarySearch(c.cdf[:], u)
		h[min(b, sendtime.Bins-1)]++
	}
	opens = uint32(n)
	delivered = uint32(math.Round(float64(n) / c.rate))
	return h, opens, delivered
}

// stRow is one line of the evaluation table: mean true engagement
// probability of the hour each policy picks, per history length.
type stRow struct {
	events                                 int
	random, global, ownOnly, model, oracle float64
	fromContact                            float64 // share of answers whose source is the contact
}

// sendTimeTable evaluates the model on a population of n contacts: the
// prior is fitted on a separate population whose history lengths vary
// (geometric, mean 15 events), as a real population's do; then for each
// history length every contact gets a history of that many events and a
// 24-hour window starting at a random moment of the week.
func sendTimeTable(n int, seed uint64, lengths []int) ([]stRow, *sendtime.Fit, error) {
	pop, err := newPopulation(n, seed)
	if err != nil {
		return nil, nil, err
	}
	r := rand.New(rand.NewPCG(seed, 1))
	var prior sendtime.Prior
	for _, c := range pop {
		k := int(math.Floor(math.Log(1-r.Float64()) / math.Log(1-1.0/15)))
		h, o, d := c.history(r, k)
		prior.Add(&h, o, d)
	}
	fit := prior.Fit()
	// The best single global hour: the local hour of the week with the
	// highest mean true engagement over the population.
	var global [sendtime.Bins]float64
	for _, c := range pop {
		for b := range global {
			global[b] += c.p(b) / float64(len(pop))
		}
	}
	base := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) // a Monday
	buf := make([]sendtime.Hour, 32)
	var rows []stRow
	for _, L := range lengths {
		row := stRow{events: L}
		rr := rand.New(rand.NewPCG(seed, uint64(L)+100))
		for i, c := range pop {
			h, o, d := c.history(rr, L)
			from := base.Add(time.Duration(rr.Int64N(int64(7 * 24 * time.Hour))))
			res, err := sendtime.Predict(sendtime.Input{Hist: &h, Opens: o, Delivered: d, Zone: c.zone}, fit, from, 24*time.Hour, sendtime.Options{Seed: uint64(i)}, buf)
			if err != nil {
				return nil, nil, err
			}
			bins := make([]int, len(res.Hours))
			for k, s := range res.Hours {
				bins[k] = sendtime.BinOf(s.Start, c.zone)
			}
			row.model += c.p(bins[res.Index])
			row.random += c.p(bins[rr.IntN(len(bins))])
			gi, oi, wi := 0, 0, 0
			for k, b := range bins {
				if global[b] > global[bins[gi]] {
					gi = k
				}
				if c.p(b) > c.p(bins[oi]) {
					oi = k
				}
				// Own history alone: the most engaged hour, ties broken
				// by the global hour.
				if h[b] > h[bins[wi]] || h[b] == h[bins[wi]] && global[b] > global[bins[wi]] {
					wi = k
				}
			}
			row.global += c.p(bins[gi])
			row.oracle += c.p(bins[oi])
			row.ownOnly += c.p(bins[wi])
			if res.Source == sendtime.SourceContact {
				row.fromContact++
			}
		}
		k := float64(len(pop))
		row.model /= k
		row.random /= k
		row.global /= k
		row.oracle /= k
		row.ownOnly /= k
		row.fromContact /= k
		rows = append(rows, row)
	}
	return rows, fit, nil
}

func runSendTime(contacts int, seed uint64) error {
	lengths := []int{0, 1, 2, 5, 10, 20, 50, 100, 200}
	rows, fit, err := sendTimeTable(contacts, seed, lengths)
	if err != nil {
		return err
	}
	fmt.Printf("%d synthetic contacts in 4 time zones; 24-hour windows starting at random moments; prior fitted on a population with geometric history lengths (mean 15): hour-of-day strength β = %.1f, weekday strength γ = %.1f, rate %.3f (strength %.1f).\n\n", contacts, fit.Strength, fit.DayStrength, fit.Rate, fit.RateStrength)
	fmt.Println("Expected engagements per 1,000 messages, by the number of engagement events in the contact's history:")
	fmt.Println()
	fmt.Println("| history events | random hour | best global hour | own history only | model | oracle | model vs global | gap to oracle closed | answers from own history |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		fmt.Printf("| %d | %.1f | %.1f | %.1f | **%.1f** | %.1f | %+.1f%% | %.0f%% | %.0f%% |\n",
			r.events, 1000*r.random, 1000*r.global, 1000*r.ownOnly, 1000*r.model, 1000*r.oracle,
			100*(r.model/r.global-1), 100*(r.model-r.global)/(r.oracle-r.global), 100*r.fromContact)
	}
	return nil
}
