package features

import (
	"math"
	"strconv"

	"github.com/cespare/xxhash/v2"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/state"
)

// Version is the layout of the vector Compute returns (see the package
// documentation). Models record it and are refused under another version.
const Version = 1

// Len is the number of features of Version. It is a literal so that the
// fixture script (models/torch/testdata) can read it; the names table below
// fails to compile if the two disagree.
const Len = 62

// CategorySlots is the number of hashed category-affinity slots.
const CategorySlots = 16

// Positions of the feature groups that span several slots.
const (
	stageFirst    = 36
	stageSlots    = int(lead.StageLapsed) + 1
	categoryFirst = 46
)

// Vector is one contact's features at an instant, in the order of Names.
// float32 because that is what the models compute in.
type Vector [Len]float32

// names holds the feature names in vector order. Its length is checked
// against Len at compile time by the array type.
var names = [Len]string{
	"seen_fresh_7d", "seen_fresh_90d", "tenure_days_log", "sessions_log",
	"page_views_log", "product_views_log", "add_to_cart_log", "searches_log",
	"form_submits_log", "recent_24h_log", "recent_7d_log",
	"has_ordered", "order_fresh_30d", "order_fresh_365d", "orders_log",
	"purchase_days_365_log", "monetary_log", "aov_log", "cancel_rate",
	"refund_share",
	"cart_items_log", "cart_value_log", "cart_fresh_1d",
	"delivered_log", "open_rate", "click_rate", "click_to_open", "bounce_rate",
	"open_fresh_30d", "click_fresh_30d", "sent_fresh_7d",
	"email_opted_in", "email_blocked", "sms_opted_in", "push_opted_in", "known",
	"stage_unknown", "stage_visitor", "stage_lead", "stage_mql", "stage_sql",
	"stage_customer", "stage_lapsed", "stage_age_days_log",
	"category_affinity_log", "product_affinity_log",
	"category_slot_0", "category_slot_1", "category_slot_2", "category_slot_3",
	"category_slot_4", "category_slot_5", "category_slot_6", "category_slot_7",
	"category_slot_8", "category_slot_9", "category_slot_10", "category_slot_11",
	"category_slot_12", "category_slot_13", "category_slot_14", "category_slot_15",
}

// Compile-time checks that the groups sit where the table says.
var (
	_ [categoryFirst + CategorySlots - Len]struct{}
	_ [Len - categoryFirst - CategorySlots]struct{}
	_ [stageFirst + stageSlots + 1 + 2 - categoryFirst]struct{}
	_ [categoryFirst - stageFirst - stageSlots - 1 - 2]struct{}
)

// Names returns the feature names in vector order (a fresh slice).
func Names() []string { return append([]string(nil), names[:]...) }

// Name returns the name of feature i, or "" when i is out of range.
func Name(i int) string {
	if i < 0 || i >= Len {
		return ""
	}
	return names[i]
}

// CategorySlot returns the slot a category name's affinity is added to.
// It is part of Version: changing the hash changes the layout.
func CategorySlot(category string) int {
	return int(xxhash.Sum64String(category) % CategorySlots)
}

const (
	msPerDay    = int64(24 * 60 * 60 * 1000)
	minor       = 100 // minor units per major unit, for the money scales
	daysPerWeek = 7
)

// Compute returns the features of c at the instant at (event time, Unix
// ms). A nil contact is an unknown visitor: every feature of an empty
// record, which is what a new visitor's first request is scored on.
func Compute(c *state.Contact, at int64) Vector {
	var v Vector
	if c == nil {
		c = &empty
	}
	// Activity.
	v[0] = fresh(c.LastSeen, at, 7)
	v[1] = fresh(c.LastSeen, at, 90)
	if c.FirstSeen != 0 {
		v[2] = log1p(days(at - c.FirstSeen))
	}
	v[3] = log1p(float64(c.Sessions.Count))
	v[4] = log1p(float64(c.Counts[state.EventPageView]))
	v[5] = log1p(float64(c.Counts[state.EventProductView]))
	v[6] = log1p(float64(c.Counts[state.EventAddToCart]))
	v[7] = log1p(float64(c.Counts[state.EventSearch]))
	v[8] = log1p(float64(c.Counts[state.EventFormSubmit]))
	var last24h, last7d int
	for i := range c.Recent {
		t := c.Recent[i].At
		if t > at {
			t = at // a stored event after at counts as just now
		}
		age := at - t
		if age < msPerDay {
			last24h++
		}
		if age < daysPerWeek*msPerDay {
			last7d++
		}
	}
	v[9] = log1p(float64(last24h))
	v[10] = log1p(float64(last7d))

	// Orders.
	o := &c.Orders
	if o.Count > 0 {
		v[11] = 1
	}
	v[12] = fresh(o.Last, at, 30)
	v[13] = fresh(o.Last, at, 365)
	v[14] = log1p(float64(max(o.Count, 0)))
	atDay := floorDiv(at, msPerDay)
	var days365 int
	for i := len(c.Purchases) - 1; i >= 0; i-- {
		d := int64(c.Purchases[i].Day)
		if d > atDay {
			continue
		}
		if d <= atDay-365 {
			break // sorted by Day
		}
		days365++
	}
	v[15] = log1p(float64(days365))
	revenue := float64(max(o.Revenue, 0)) / minor
	v[16] = log1p(revenue)
	if o.Count > 0 {
		v[17] = log1p(revenue / float64(o.Count))
	}
	if o.Placed > 0 {
		v[18] = float32(min(float64(o.Cancelled)/float64(o.Placed), 1))
	}
	if r := float64(max(o.Revenue, 0)) + float64(max(o.Refunded, 0)); r > 0 {
		v[19] = float32(float64(max(o.Refunded, 0)) / r)
	}

	// Cart.
	var qty, value float64
	for i := range c.Cart.Items {
		it := &c.Cart.Items[i]
		q := float64(max(it.Quantity, 0))
		qty += q
		value += q * float64(max(it.Price, 0)) / minor
	}
	v[20] = log1p(qty)
	v[21] = log1p(value)
	if qty > 0 {
		v[22] = fresh(c.Cart.UpdatedAt, at, 1)
	}

	// Email engagement.
	e := &c.Engagement
	v[23] = log1p(float64(e.Delivered))
	v[24] = rate(float64(e.Opened)+1, float64(e.Delivered)+4)
	v[25] = rate(float64(e.Clicked)+0.2, float64(e.Delivered)+4)
	v[26] = rate(float64(e.Clicked)+0.4, float64(e.Opened)+2)
	v[27] = rate(float64(e.Bounced), float64(e.Sent)+1)
	v[28] = fresh(e.LastOpen, at, 30)
	v[29] = fresh(e.LastClick, at, 30)
	v[30] = fresh(e.LastSent, at, 7)

	// Consent and identity.
	switch c.Consent.Channels[state.ChannelEmail].Status {
	case state.ConsentOptedIn:
		v[31] = 1
	case state.ConsentOptedOut, state.ConsentSuppressed, state.ConsentComplained:
		v[32] = 1
	}
	if c.Consent.Channels[state.ChannelSMS].Status == state.ConsentOptedIn {
		v[33] = 1
	}
	if c.Consent.Channels[state.ChannelPush].Status == state.ConsentOptedIn {
		v[34] = 1
	}
	if c.ContactID != "" || c.EmailAddr != "" {
		v[35] = 1
	}

	// Lifecycle stage: an unknown stored value (a newer engine's stage)
	// reads as unknown rather than leaving the one-hot empty.
	stage := int(c.Scores.Stage)
	if stage >= stageSlots {
		stage = int(lead.StageUnknown)
	}
	v[stageFirst+stage] = 1
	if c.Scores.StageAt != 0 {
		v[stageFirst+stageSlots] = log1p(days(at - c.Scores.StageAt))
	}

	// Affinities, decayed to at.
	decay := state.DecayFactor(at-c.AffinityAt, state.AffinityHalfLife)
	var slots [CategorySlots]float64
	var catTotal float64
	for i := range c.Categories {
		s := max(c.Categories[i].Score, 0) * decay
		slots[CategorySlot(c.Categories[i].Name)] += s
		catTotal += s
	}
	var prodTotal float64
	for i := range c.Products {
		prodTotal += max(c.Products[i].Score, 0) * decay
	}
	v[categoryFirst-2] = log1p(catTotal)
	v[categoryFirst-1] = log1p(prodTotal)
	if catTotal > 0 {
		for k, s := range slots {
			v[categoryFirst+k] = float32(s / catTotal)
		}
	}
	return v
}

// empty is read-only: Compute never writes to the contact.
var empty state.Contact

// fresh returns 2^(−(at−t)/h days), 0 for t == 0 and 1 for t ≥ at.
func fresh(t, at int64, halfLifeDays float64) float32 {
	if t == 0 {
		return 0
	}
	if t >= at {
		return 1
	}
	return float32(math.Exp2(-days(at-t) / halfLifeDays))
}

// days converts a non-negative duration in ms to days; negative is 0.
func days(ms int64) float64 {
	if ms <= 0 {
		return 0
	}
	return float64(ms) / float64(msPerDay)
}

// rate is a ratio capped at 1: counters from different streams can
// disagree (clicks without a tracked open, when an image proxy blocks the
// pixel), and a rate above 1 means nothing to a model.
func rate(num, den float64) float32 {
	return float32(min(num/den, 1))
}

func log1p(x float64) float32 {
	if x <= 0 || math.IsNaN(x) {
		return 0
	}
	return float32(math.Log1p(x))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// String renders the vector as "name=value" pairs, for logs and test
// failures.
func (v *Vector) String() string {
	b := make([]byte, 0, Len*24)
	for i := range v {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, names[i]...)
		b = append(b, '=')
		b = strconv.AppendFloat(b, float64(v[i]), 'g', 4, 32)
	}
	return string(b)
}
