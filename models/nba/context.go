package nba

import (
	"time"

	"github.com/kairos-engine/kairos/state"
)

// Context is everything a decision looks at: the contact's state and scores
// and the request. The caller fills it (SetContact copies the raw parts of
// a state.Contact; scores come from wherever they are computed), so this
// package does not depend on how scores are made. Decide writes the
// derived fields (hour, ages) into it, so give each goroutine its own
// Context and reuse it: that keeps deciding free of allocations.
type Context struct {
	// ContactID keys the control group (a hash of it). For a visitor not
	// yet known use the anonymous id; "" is a new, unknown visitor.
	ContactID string
	// Known: the contact has a contact id or an email address.
	Known bool

	// The request.
	Placement    string
	PageURL      string
	PageCategory string
	Now          time.Time      // decision time; zero means time.Now()
	Zone         *time.Location // the contact's time zone; nil is UTC

	// Scores, filled by the caller.
	Stage     string  // lifecycle stage name: visitor, lead, mql, sql, customer, lapsed
	Segment   string  // RFM segment name as rfm.Segment.String() gives it; "" none
	LeadScore float64 // lead score at Now
	PAlive    float64 // churn model P(alive), 0..1
	CLV       float64 // expected customer lifetime value, major currency units

	// Raw state (SetContact fills these).
	FirstSeen   int64 // Unix ms
	Orders      int
	Revenue     float64 // major units
	LastOrder   int64   // Unix ms, 0 if none
	Consent     [state.NumChannels]state.ConsentStatus
	Lists       []state.ListConsent
	CartItems   int
	CartValue   float64 // major units
	CartUpdated int64
	Sessions    int
	PageViews   int
	EmailOpens  int
	EmailClicks int
	Recent      []state.RecentEvent
	Categories  []state.Affinity
	Language    string

	// Pressure: the contact policy's marketing-pressure limit is reached
	// on the channel (triggers and message actions share it). A message
	// action in that channel is not eligible.
	Pressure [state.NumChannels]bool

	// Learned holds, per catalogue action (Catalogue.Actions order), a
	// learned model's propensity for this very contact. An entry with
	// Model "" (or a nil or short slice) leaves the action to the
	// per-group posterior alone. See Decide for how the two combine.
	Learned []Learned

	// Derived by Decide and Explain from the fields above.
	nowMS    int64
	hour     float64
	weekday  float64
	topCat   string
	ageDays  float64
	orderAge float64
	cartAge  float64
}

// Learned is one learned model's estimate for one action and contact.
type Learned struct {
	P     float64 // P(conversion), in [0, 1]
	Model string  // the model's name, for the decision record; "" none
}

// SetContact fills the raw-state fields from a contact record. Slices are
// shared with c, not copied: keep c unchanged while the Context is in use.
// Scores (Stage, Segment, LeadScore, PAlive, CLV) are left to the caller.
func (x *Context) SetContact(c *state.Contact) {
	x.ContactID = c.ContactID
	if x.ContactID == "" {
		x.ContactID = c.Key.Value()
	}
	x.Known = c.ContactID != "" || c.EmailAddr != ""
	x.FirstSeen = c.FirstSeen
	x.Orders = int(c.Orders.Count)
	x.Revenue = float64(c.Orders.Revenue) / 100
	x.LastOrder = c.Orders.Last
	for i := range x.Consent {
		x.Consent[i] = c.Consent.Channels[i].Status
	}
	x.Lists = c.Consent.Lists
	x.CartItems = 0
	x.CartValue = 0
	for _, it := range c.Cart.Items {
		x.CartItems += int(it.Quantity)
		x.CartValue += float64(it.Price) * float64(it.Quantity) / 100
	}
	x.CartUpdated = c.Cart.UpdatedAt
	x.Sessions = int(c.Sessions.Count)
	x.PageViews = int(c.Counts[state.EventPageView] + c.Counts[state.EventProductView])
	x.EmailOpens = int(c.Engagement.Opened)
	x.EmailClicks = int(c.Engagement.Clicked)
	x.Recent = c.Recent
	x.Categories = c.Categories
	x.Language = c.Language
}

const msPerDay = 24 * 3600 * 1000

// derive computes the fields expressions read that depend on now.
func (x *Context) derive() {
	now := x.Now
	if now.IsZero() {
		now = time.Now()
	}
	x.nowMS = now.UnixMilli()
	loc := x.Zone
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	x.hour = float64(local.Hour())
	x.weekday = float64((int(local.Weekday()) + 6) % 7) // Monday 0, as the hour-of-week histogram
	x.topCat = ""
	best := 0.0
	for _, a := range x.Categories {
		if a.Score > best {
			best, x.topCat = a.Score, a.Name
		}
	}
	x.ageDays = -1
	if x.FirstSeen > 0 {
		x.ageDays = float64(x.nowMS-x.FirstSeen) / msPerDay
	}
	x.orderAge = -1
	if x.LastOrder > 0 {
		x.orderAge = float64(x.nowMS-x.LastOrder) / msPerDay
	}
	x.cartAge = -1
	if x.CartItems > 0 && x.CartUpdated > 0 {
		x.cartAge = float64(x.nowMS-x.CartUpdated) / 60000
	}
}

func (x *Context) affinity(name string) float64 {
	for _, a := range x.Categories {
		if a.Name == name {
			return a.Score
		}
	}
	return 0
}

func (x *Context) recent(t state.EventType, within int64) float64 {
	n := 0
	for i := range x.Recent {
		if x.Recent[i].Type == t && x.nowMS-x.Recent[i].At <= within {
			n++
		}
	}
	return float64(n)
}

func (x *Context) subscribed(list string) bool {
	for _, l := range x.Lists {
		if l.List == list {
			return l.Subscribed
		}
	}
	return false
}
