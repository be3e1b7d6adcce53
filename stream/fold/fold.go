package fold

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/models/sendtime"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
)

// SessionGap is the inactivity after which the next clickstream event
// starts a new session, as web analytics tools count sessions.
const SessionGap = 30 * time.Minute

// Affinity weights per kind of interest signal: a purchase says more than a
// view.
const (
	weightPageView    = 0.5
	weightProductView = 1
	weightAddToCart   = 3
	weightPurchase    = 5
)

// keep copies a string the contact retains. The decoder's strings of one
// event share one allocation; keeping a small one in a long-lived contact
// would pin the whole event's text in memory.
func keep(s string) string { return strings.Clone(s) }

// maxCartQuantity bounds one cart line so that quantity × price stays far
// from overflowing int64 (prices are at most 10^15 minor units).
const maxCartQuantity = 1_000_000

// Folder applies events to contacts.
type Folder struct {
	locs map[string]*time.Location
	// models, when set, scores every folded event (lead score, stage,
	// segment snapshot); the pointer is swapped when a plan is reloaded or
	// a population fit lands.
	models *atomic.Pointer[scoring.Models]
	// historyMaxAge bounds the age of the recent-events ring (retention);
	// 0 keeps every entry the ring has room for.
	historyMaxAge int64
	// Scored is what the last Apply changed in the stored scores (zero
	// without models): the worker counts transitions and triggers act on
	// them.
	Scored scoring.Change
	// openFilter keeps machine opens out of the send-time histogram
	// (sendtime.go); nil: every open counts.
	openFilter *sendtime.Filter
}

// SetHistoryMaxAge sets the retention of the recent-events ring: entries
// older than maxAge before the contact's latest event are dropped on every
// fold (0: keep what the ring holds).
func (f *Folder) SetHistoryMaxAge(maxAge time.Duration) { f.historyMaxAge = maxAge.Milliseconds() }

// TrimHistory drops recent events older than cutoff (Unix ms) and reports
// whether it dropped any. The fold calls it with the contact's own clock;
// retention sweeps call it with the wall clock, for contacts that stopped
// sending events.
func TrimHistory(c *state.Contact, cutoff int64) bool {
	i := 0
	for i < len(c.Recent) && c.Recent[i].At < cutoff {
		i++
	}
	if i == 0 {
		return false
	}
	n := copy(c.Recent, c.Recent[i:])
	clear(c.Recent[n:])
	c.Recent = c.Recent[:n]
	return true
}

// SetModels makes the folder score every event with the models p points
// to (nil p, or a nil snapshot: no scoring).
func (f *Folder) SetModels(p *atomic.Pointer[scoring.Models]) { f.models = p }

// Absorb merges profile src into contact dst (identity resolution): the
// state (state.Contact.Absorb) and, with models, the lead scores, then
// restages dst at its latest event.
func (f *Folder) Absorb(dst, src *state.Contact) lead.Change {
	dst.Absorb(src)
	if m := f.loadModels(); m != nil {
		return m.Merge(dst, src, dst.LastSeen)
	}
	return lead.Change{}
}

func (f *Folder) loadModels() *scoring.Models {
	if f.models == nil {
		return nil
	}
	return f.models.Load()
}

// props gives rule conditions the event's properties, falling back to the
// decoded fields for names that came from elsewhere (page_view's url from
// context.url, bounced's type from bounce_type).
type props struct{ e *event.Event }

func (p props) Prop(name string) (string, bool) {
	if v, ok := p.e.Prop(name); ok {
		return v, true
	}
	switch name {
	case "url":
		return p.e.URL, p.e.URL != ""
	case "type":
		switch p.e.Bounce {
		case event.BounceHard:
			return "hard", true
		case event.BounceSoft:
			return "soft", true
		}
	case "form":
		return p.e.Form, p.e.Form != ""
	case "list":
		return p.e.List, p.e.List != ""
	case "content":
		return p.e.Content, p.e.Content != ""
	case "category":
		return p.e.Category, p.e.Category != ""
	case "campaign":
		return p.e.Campaign, p.e.Campaign != ""
	}
	return "", false
}

// NewFolder returns a Folder.
func NewFolder() *Folder {
	return &Folder{locs: make(map[string]*time.Location)}
}

// Seen reports whether the event id is in the contact's dedupe window.
func Seen(c *state.Contact, id string) bool {
	return slices.Contains(c.SeenIDs, xxhash.Sum64String(id))
}

// MarkSeen records an id in the contact's dedupe window.
func MarkSeen(c *state.Contact, id string) {
	markSeenHash(c, xxhash.Sum64String(id))
}

// markSeenHash appends to the dedupe window. The in-memory window may hold
// up to twice SeenIDsCap ids and is cut back to the newest SeenIDsCap in
// one copy when it reaches that, instead of shifting on every event; the
// stored record keeps the newest SeenIDsCap, so the window is never
// smaller than SeenIDsCap.
func markSeenHash(c *state.Contact, h uint64) {
	if len(c.SeenIDs) >= 2*state.SeenIDsCap {
		n := copy(c.SeenIDs, c.SeenIDs[len(c.SeenIDs)-state.SeenIDsCap:])
		c.SeenIDs = c.SeenIDs[:n]
	}
	c.SeenIDs = append(c.SeenIDs, h)
}

// Apply folds e into c and reports whether it changed anything: false when
// the event id is in the contact's dedupe window.
func (f *Folder) Apply(c *state.Contact, e *event.Event) bool {
	h := xxhash.Sum64String(e.ID)
	if slices.Contains(c.SeenIDs, h) {
		return false
	}
	markSeenHash(c, h)

	f.identity(c, e)
	if c.FirstSeen == 0 || e.Time < c.FirstSeen {
		c.FirstSeen = e.Time
	}
	if e.Time > c.LastSeen {
		c.LastSeen = e.Time
	}
	c.Counts[e.Type]++
	if e.Type.Stream() == state.StreamClickstream {
		session(c, e.Time)
	}
	addRecent(c, state.RecentEvent{Type: e.Type, At: e.Time, Ref: keep(recentRef(e))})
	if f.historyMaxAge > 0 {
		TrimHistory(c, c.LastSeen-f.historyMaxAge)
	}

	switch e.Type {
	case state.EventPageView:
		if e.Category != "" {
			c.Categories = bump(c.Categories, c, e.Category, weightPageView, e.Time)
		}
	case state.EventProductView:
		bumpItem(c, e.Category, e.SKU, weightProductView, e.Time)
	case state.EventAddToCart:
		bumpItem(c, e.Category, e.SKU, weightAddToCart, e.Time)
		cartAdd(c, e)
	case state.EventRemoveFromCart:
		cartRemove(c, e)
	case state.EventSignup:
		setChannel(c, state.ChannelEmail, state.ConsentOptedIn, e.Time)
		setList(c, e.List, true, e.Time)
	case state.EventOrderPlaced:
		f.orderPlaced(c, e)
	case state.EventOrderCancelled:
		f.orderCancelled(c, e)
	case state.EventOrderRefunded:
		f.orderRefunded(c, e)
	case state.EventOrderShipped:
		o := findOrder(c, e.OrderID)
		if o == nil {
			o = addOrder(c, state.Order{ID: keep(e.OrderID), At: e.Time})
		}
		o.Flags |= state.OrderShipped
	case state.EventEmailSent:
		c.Engagement.Sent++
		c.Engagement.LastSent = max(c.Engagement.LastSent, e.Time)
	case state.EventEmailDelivered:
		c.Engagement.Delivered++
	case state.EventEmailOpened:
		c.Engagement.Opened++
		c.Engagement.LastOpen = max(c.Engagement.LastOpen, e.Time)
		if f.humanOpen(c, e) { // sendtime.go
			f.engage(c, e.Time)
		}
	case state.EventEmailClicked:
		c.Engagement.Clicked++
		c.Engagement.LastClick = max(c.Engagement.LastClick, e.Time)
		f.engage(c, e.Time)
	case state.EventEmailBounced:
		c.Engagement.Bounced++
		if e.Bounce == event.BounceHard {
			setChannel(c, state.ChannelEmail, state.ConsentSuppressed, e.Time)
		}
	case state.EventEmailUnsubscribed:
		if e.List == "" {
			setChannel(c, state.ChannelEmail, state.ConsentOptedOut, e.Time)
			for i := range c.Consent.Lists {
				c.Consent.Lists[i].Subscribed = false
				c.Consent.Lists[i].At = max(c.Consent.Lists[i].At, e.Time)
			}
		} else {
			setList(c, e.List, false, e.Time)
		}
	case state.EventEmailComplained:
		setChannel(c, state.ChannelEmail, state.ConsentComplained, e.Time)
	}
	if m := f.loadModels(); m != nil {
		f.Scored = m.Fold(c, e.Type, e.Time, props{e})
	} else {
		f.Scored = scoring.Change{}
	}
	return true
}

// identity copies what the event tells about who the contact is.
func (f *Folder) identity(c *state.Contact, e *event.Event) {
	if c.ContactID == "" && e.ContactID != "" {
		c.ContactID = keep(e.ContactID)
	}
	if e.Email != "" && c.EmailAddr == "" {
		c.EmailAddr = keep(e.Email)
	}
	if e.Phone != "" && c.Phone != e.Phone {
		c.Phone = keep(e.Phone)
	}
	if tz := e.Context.TimeZone; tz != "" && c.TimeZone != tz {
		c.TimeZone = keep(tz)
	}
	for _, t := range e.Traits {
		setTrait(c, t)
		switch t.Name {
		case "language":
			c.Language = keep(t.Value)
		case "timezone":
			if _, err := f.location(t.Value); err == nil {
				c.TimeZone = keep(t.Value)
			}
		}
	}
}

func setTrait(c *state.Contact, t state.Trait) {
	if len(t.Value) > state.MaxTraitLen {
		t.Value = t.Value[:state.MaxTraitLen]
	}
	i, found := slices.BinarySearchFunc(c.Traits, t.Name, func(a state.Trait, name string) int {
		switch {
		case a.Name < name:
			return -1
		case a.Name > name:
			return 1
		}
		return 0
	})
	if found {
		if c.Traits[i].Value != t.Value {
			c.Traits[i].Value = keep(t.Value)
		}
		return
	}
	if len(c.Traits) >= state.MaxTraits {
		return
	}
	c.Traits = slices.Insert(c.Traits, i, state.Trait{Name: keep(t.Name), Value: keep(t.Value)})
}

func session(c *state.Contact, at int64) {
	s := &c.Sessions
	switch {
	case s.Count == 0 || at > s.Last+SessionGap.Milliseconds():
		s.Count++
		s.Start, s.Last = at, at
	case at > s.Last:
		s.Last = at
	case at < s.Start && at >= s.Start-SessionGap.Milliseconds():
		// A late event just before the session began extends it backwards.
		s.Start = at
	}
}

func recentRef(e *event.Event) string {
	switch e.Type {
	case state.EventProductView, state.EventAddToCart, state.EventRemoveFromCart:
		return e.SKU
	case state.EventPageView, state.EventEmailClicked:
		if e.URL != "" {
			return e.URL
		}
		return e.Category
	case state.EventSearch:
		return e.Query
	case state.EventFormSubmit:
		if e.Content != "" {
			return e.Content
		}
		return e.Form
	case state.EventSignup:
		return e.List
	case state.EventOrderPlaced, state.EventOrderCancelled, state.EventOrderRefunded, state.EventOrderShipped:
		return e.OrderID
	case state.EventEmailSent, state.EventEmailOpened, state.EventEmailDelivered:
		return e.Campaign
	}
	return ""
}

// addRecent inserts into the time-ordered ring, dropping the oldest.
func addRecent(c *state.Contact, r state.RecentEvent) {
	i := len(c.Recent)
	for i > 0 && c.Recent[i-1].At > r.At {
		i--
	}
	if len(c.Recent) >= state.RecentEventsCap {
		if i == 0 {
			return // older than everything kept
		}
		copy(c.Recent, c.Recent[1:i])
		c.Recent[i-1] = r
		return
	}
	c.Recent = slices.Insert(c.Recent, i, r)
}

func bumpItem(c *state.Contact, category, sku string, w float64, at int64) {
	if category != "" {
		c.Categories = bump(c.Categories, c, category, w, at)
	}
	if sku != "" {
		c.Products = bump(c.Products, c, sku, w, at)
	}
}

// bump adds a decayed weight to one affinity. Scores are valid at
// c.AffinityAt; a newer event moves that instant forward (decaying both
// lists), an older one adds its weight already decayed to it.
func bump(list []state.Affinity, c *state.Contact, name string, w float64, at int64) []state.Affinity {
	if at > c.AffinityAt {
		if c.AffinityAt != 0 {
			d := state.DecayFactor(at-c.AffinityAt, state.AffinityHalfLife)
			for i := range c.Categories {
				c.Categories[i].Score *= d
			}
			for i := range c.Products {
				c.Products[i].Score *= d
			}
		}
		c.AffinityAt = at
	} else {
		w *= state.DecayFactor(c.AffinityAt-at, state.AffinityHalfLife)
	}
	for i := range list {
		if list[i].Name == name {
			list[i].Score += w
			for i > 0 && list[i].Score > list[i-1].Score {
				list[i], list[i-1] = list[i-1], list[i]
				i--
			}
			return list
		}
	}
	if len(list) >= state.MaxAffinities {
		// Evict the weakest, but only for a stronger newcomer.
		if list[len(list)-1].Score >= w {
			return list
		}
		list = list[:len(list)-1]
	}
	i := len(list)
	for i > 0 && list[i-1].Score < w {
		i--
	}
	return slices.Insert(list, i, state.Affinity{Name: keep(name), Score: w})
}

func cartAdd(c *state.Contact, e *event.Event) {
	c.Cart.UpdatedAt = max(c.Cart.UpdatedAt, e.Time)
	for i := range c.Cart.Items {
		if c.Cart.Items[i].SKU == e.SKU {
			c.Cart.Items[i].Quantity = min(c.Cart.Items[i].Quantity+e.Quantity, maxCartQuantity)
			if e.Price > 0 {
				c.Cart.Items[i].Price = e.Price
			}
			return
		}
	}
	if len(c.Cart.Items) >= state.MaxCartItems {
		return
	}
	c.Cart.Items = append(c.Cart.Items, state.CartItem{SKU: keep(e.SKU), Category: keep(e.Category), Quantity: min(e.Quantity, maxCartQuantity), Price: e.Price})
}

func cartRemove(c *state.Contact, e *event.Event) {
	c.Cart.UpdatedAt = max(c.Cart.UpdatedAt, e.Time)
	for i := range c.Cart.Items {
		if c.Cart.Items[i].SKU == e.SKU {
			c.Cart.Items[i].Quantity -= e.Quantity
			if c.Cart.Items[i].Quantity <= 0 {
				c.Cart.Items = slices.Delete(c.Cart.Items, i, i+1)
			}
			return
		}
	}
}

func setChannel(c *state.Contact, ch state.Channel, s state.ConsentStatus, at int64) {
	cc := &c.Consent.Channels[ch]
	if at < cc.At {
		return // an older change does not override a newer one
	}
	// A complaint is final for marketing and a hard bounce stays until a new
	// address is verified; a later opt-in does not lift them.
	if (cc.Status == state.ConsentComplained || cc.Status == state.ConsentSuppressed) && s == state.ConsentOptedIn {
		return
	}
	if cc.Status == state.ConsentComplained && s != state.ConsentComplained {
		return
	}
	cc.Status, cc.At = s, at
}

func setList(c *state.Contact, list string, subscribed bool, at int64) {
	if list == "" {
		return
	}
	ls := c.Consent.Lists
	i, found := slices.BinarySearchFunc(ls, list, func(a state.ListConsent, name string) int {
		switch {
		case a.List < name:
			return -1
		case a.List > name:
			return 1
		}
		return 0
	})
	if found {
		if at >= ls[i].At {
			ls[i].Subscribed, ls[i].At = subscribed, at
		}
		return
	}
	if len(ls) >= state.MaxLists {
		return
	}
	c.Consent.Lists = slices.Insert(ls, i, state.ListConsent{List: keep(list), Subscribed: subscribed, At: at})
}

// engage adds an open or click to the decayed hour-of-week histogram, in
// the contact's own time zone, so that send time is learned as the person
// experiences the week.
func (f *Folder) engage(c *state.Contact, at int64) {
	bin := f.hourOfWeek(c, at)
	e := &c.Engagement
	w := float32(1)
	if at > e.HistAt {
		if e.HistAt != 0 {
			d := float32(state.DecayFactor(at-e.HistAt, state.EngagementHalfLife))
			for i := range e.HourOfWeek {
				e.HourOfWeek[i] *= d
			}
		}
		e.HistAt = at
	} else {
		w = float32(state.DecayFactor(e.HistAt-at, state.EngagementHalfLife))
	}
	e.HourOfWeek[bin] += w
}

func (f *Folder) location(name string) (*time.Location, error) {
	if loc, ok := f.locs[name]; ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	f.locs[name] = loc
	return loc, nil
}

// localSeconds returns the Unix time shifted by the contact's UTC offset at
// that instant: the local wall-clock time counted from 1970-01-01 00:00.
func (f *Folder) localSeconds(c *state.Contact, at int64) int64 {
	sec := floorDiv(at, 1000)
	if c.TimeZone == "" {
		return sec
	}
	loc, err := f.location(c.TimeZone)
	if err != nil {
		return sec
	}
	_, off := time.Unix(sec, 0).In(loc).Zone()
	return sec + int64(off)
}

// LocalDay returns the day number (days since 1970-01-01) of an instant in
// the contact's time zone: the unit the churn model counts purchases in.
func (f *Folder) LocalDay(c *state.Contact, at int64) int32 {
	return int32(floorDiv(f.localSeconds(c, at), 86400))
}

func (f *Folder) hourOfWeek(c *state.Contact, at int64) int {
	local := f.localSeconds(c, at)
	days := floorDiv(local, 86400)
	hour := (local - days*86400) / 3600
	// 1970-01-01 was a Thursday: three days after Monday.
	weekday := (days%7 + 7 + 3) % 7
	return int(weekday*24 + hour)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
