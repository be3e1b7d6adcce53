package propensity

import (
	"math"
	"math/rand/v2"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/state"
)

// The simulated next-best-action environment: contacts of a web shop in a
// handful of situations, the default catalogue's kind of actions, true
// conversion rates that depend on the situation (a cart reminder works on
// an open cart, a win-back coupon on a lapsed customer, ...), and a
// uniformly random logging policy. Features are computed from synthetic
// state.Contact records with features.Compute, exactly as in serving.

var simActions = []string{
	"welcome_offer", "newsletter_signup", "promo_shoes", "cart_reminder",
	"cross_sell", "loyalty_reward", "win_back_coupon", "talk_to_sales",
}

const (
	simDay   = int64(24 * 60 * 60 * 1000)
	simStart = int64(1_767_225_600_000) // 2026-01-01
)

type simContext struct {
	cart, lapsed, loyal, recentBuyer, known, optedIn, mql, shoes, newVisitor bool
}

// simTrueRates returns the true conversion rate of every action.
func simTrueRates(c simContext) []float64 {
	logit := []float64{-4.2, -4.5, -4.4, -4.6, -4.5, -4.8, -4.9, -5.2}
	b := func(on bool, a int, d float64) {
		if on {
			logit[a] += d
		}
	}
	b(c.newVisitor, 0, 1.6)
	b(!c.newVisitor, 0, -0.8)
	b(c.known && !c.optedIn, 1, 1.4)
	b(c.optedIn, 1, -1.5)
	b(c.shoes, 2, 1.8)
	b(c.cart, 3, 2.4)
	b(c.recentBuyer, 4, 1.5)
	b(c.loyal, 5, 1.9)
	b(c.lapsed, 6, 2.2)
	b(c.mql, 7, 2.6)
	b(c.cart && c.shoes, 2, 0.6)
	p := make([]float64, len(logit))
	for i, l := range logit {
		p[i] = 1 / (1 + math.Exp(-l))
	}
	return p
}

// simContact builds a contact in a random situation at instant at.
func simContact(rng *rand.Rand, at int64) (state.Contact, simContext) {
	var c state.Contact
	var x simContext
	c.FirstSeen = at - rng.Int64N(400*simDay) - simDay
	c.LastSeen = at - rng.Int64N(20*simDay)
	c.Sessions.Count = 1 + rng.Uint32N(40)
	c.Counts[state.EventPageView] = c.Sessions.Count * (1 + rng.Uint32N(8))
	c.Counts[state.EventProductView] = rng.Uint32N(60)
	c.Scores.Stage = uint8(lead.StageVisitor)
	if rng.Float64() < 0.25 {
		x.newVisitor = true
		c.FirstSeen = at - rng.Int64N(simDay)
		c.Sessions.Count = 1
	}
	if !x.newVisitor && rng.Float64() < 0.6 {
		x.known = true
		c.ContactID = "c"
		c.Scores.Stage = uint8(lead.StageLead)
		if rng.Float64() < 0.5 {
			x.optedIn = true
			c.Consent.Channels[state.ChannelEmail].Status = state.ConsentOptedIn
			c.Engagement.Delivered = 5 + rng.Uint32N(50)
			c.Engagement.Opened = rng.Uint32N(c.Engagement.Delivered/2 + 1)
			c.Engagement.LastOpen = at - rng.Int64N(60*simDay)
		}
		if rng.Float64() < 0.15 {
			x.mql = true
			c.Scores.Stage = uint8(lead.StageMQL)
			c.Scores.StageAt = at - rng.Int64N(30*simDay)
			c.Counts[state.EventFormSubmit] = 1 + rng.Uint32N(3)
		}
		if rng.Float64() < 0.45 {
			orders := 1 + rng.Int32N(12)
			c.Orders = state.Orders{Count: orders, Placed: uint32(orders), Revenue: int64(orders) * (2000 + rng.Int64N(20000))}
			c.Orders.First = c.FirstSeen
			c.Scores.Stage = uint8(lead.StageCustomer)
			switch r := rng.Float64(); {
			case r < 0.3:
				x.lapsed = true
				c.Orders.Last = at - (150+rng.Int64N(200))*simDay
				c.Scores.Stage = uint8(lead.StageLapsed)
			case r < 0.6:
				x.recentBuyer = true
				c.Orders.Last = at - rng.Int64N(14*simDay)
			default:
				c.Orders.Last = at - (14+rng.Int64N(130))*simDay
			}
			x.loyal = orders >= 6 && !x.lapsed
			for d := range orders {
				c.Purchases = append(c.Purchases, state.PurchaseDay{Day: int32(c.Orders.Last/simDay) - (orders-1-d)*20, Orders: 1})
			}
		}
	}
	if rng.Float64() < 0.3 {
		x.shoes = true
		c.AffinityAt = at - rng.Int64N(3*simDay)
		c.Categories = append(c.Categories, state.Affinity{Name: "shoes", Score: 2 + rng.Float64()*5})
	}
	c.Categories = append(c.Categories, state.Affinity{Name: "bags", Score: rng.Float64() * 3})
	if c.AffinityAt == 0 {
		c.AffinityAt = at - rng.Int64N(10*simDay)
	}
	if rng.Float64() < 0.2 {
		x.cart = true
		c.Cart = state.Cart{UpdatedAt: at - rng.Int64N(2*simDay), Items: []state.CartItem{{SKU: "s", Quantity: 1 + rng.Int32N(3), Price: 1000 + rng.Int64N(9000)}}}
		c.Counts[state.EventAddToCart] = 1 + rng.Uint32N(5)
	}
	return c, x
}

// simulate logs n decisions of a uniformly random policy, one per
// contact, in time order over 60 days. truth[i] holds the true rate of
// every action for example i.
func simulate(n int, seed uint64) (ex []Example, truth [][]float64) {
	rng := rand.New(rand.NewPCG(seed, seed*31+7))
	for i := range n {
		at := simStart + int64(i)*(60*simDay/int64(n))
		c, x := simContact(rng, at)
		p := simTrueRates(x)
		a := rng.IntN(len(simActions))
		ex = append(ex, Example{
			Features:   features.Compute(&c, at),
			Action:     simActions[a],
			Outcome:    rng.Float64() < p[a],
			At:         at,
			Propensity: 1 / float64(len(simActions)),
		})
		truth = append(truth, p)
	}
	return ex, truth
}
