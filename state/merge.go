package state

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Half-lives of the decayed scores. A score s valid at t is worth
// s·2^(-Δt/halfLife) at t+Δt. The fold and Absorb use the same constants so
// that a merged profile scores as if one contact had seen all its events.
const (
	// AffinityHalfLife is the half-life of category and product affinities:
	// two weeks, the horizon of a typical shopping intent.
	AffinityHalfLife = 14 * 24 * time.Hour

	// EngagementHalfLife is the half-life of the hour-of-week open and click
	// histogram: a quarter, so the preferred send time follows seasonal and
	// job changes without being dominated by last week.
	EngagementHalfLife = 90 * 24 * time.Hour
)

// DecayFactor returns the factor exp(-ln2·Δt/halfLife) that brings a score
// dtMillis milliseconds forward in time. A non-positive Δt returns 1: scores
// are never inflated by moving them back in time, which late events would
// otherwise do. A non-positive halfLife means "no memory" and returns 0 for
// any positive Δt.
func DecayFactor(dtMillis int64, halfLife time.Duration) float64 {
	if dtMillis <= 0 {
		return 1
	}
	if halfLife <= 0 {
		return 0
	}
	hl := float64(halfLife) / float64(time.Millisecond)
	return math.Exp(-math.Ln2 * float64(dtMillis) / hl)
}

// Absorb merges o into c when identity resolution finds that o (typically an
// anonymous or email-only profile) is the same person as c. c keeps its Key
// and becomes the union of both; o is not modified and nothing of c aliases
// o's memory afterwards, so o can be deleted or reused. Absorbing nil or c
// itself does nothing.
//
// The rules are user-visible: they decide what a merged profile shows and
// which messages it may receive. In short (the reasons are with the
// function applying each rule):
//
//   - identity (absorbIdentity): c keeps its Key; o's Key and Aliases join
//     c's Aliases (deduplicated, sorted, never c's Key); c's ContactID,
//     EmailAddr, Phone, TimeZone and Language win, empty ones filled from o.
//   - traits (absorbTraits): c's values win; o fills the missing names.
//   - consent (absorbConsent): per channel the later change wins, except
//     that Complained, then Suppressed, win over any other state; lists
//     are merged list by list, the later change winning.
//   - activity (absorbActivity): earliest FirstSeen, latest LastSeen, counts
//     added; sessions counted together, the current session from the
//     profile active last.
//   - recent events (absorbRecent): merged by time, newest kept.
//   - affinities (absorbAffinities): decayed to the later AffinityAt with
//     AffinityHalfLife, added by name, highest kept.
//   - cart (absorbCart): the later-updated cart, emptied or not, never a mix.
//   - orders and purchase days (absorbOrders, absorbPurchases): sums added,
//     recent orders joined by ID; an order held by both is counted once.
//   - email engagement (absorbEngagement): counters added, latest times,
//     histograms decayed to the later HistAt with EngagementHalfLife and
//     added.
//   - dedupe window (absorbSeenIDs): o's ids then c's, deduplicated, newest
//     kept.
//
// No list grows past its Max* bound.
func (c *Contact) Absorb(o *Contact) {
	if o == nil || o == c {
		return
	}
	c.absorbIdentity(o)
	c.absorbTraits(o)
	c.absorbConsent(o)
	c.absorbActivity(o)
	c.absorbRecent(o)
	c.absorbAffinities(o)
	c.absorbCart(o)
	fixes := c.absorbOrders(o)
	c.absorbPurchases(o, fixes)
	c.absorbEngagement(o)
	c.absorbSeenIDs(o)
}

// absorbIdentity: c keeps its Key. o's Key and Aliases become aliases of c
// (so events still keyed by them find c), deduplicated, sorted, never c's
// own Key. When there are more than MaxAliases, o's Key is kept first (the
// id the person is using right now), then c's existing aliases, then o's.
// ContactID, EmailAddr, Phone, TimeZone and Language stay c's; the empty
// ones are filled from o.
func (c *Contact) absorbIdentity(o *Contact) {
	if o.Key != "" || len(o.Aliases) > 0 {
		merged := make([]Key, 0, min(MaxAliases, 1+len(c.Aliases)+len(o.Aliases)))
		add := func(k Key) {
			if k != "" && k != c.Key && len(merged) < MaxAliases && !slices.Contains(merged, k) {
				merged = append(merged, k)
			}
		}
		add(o.Key)
		for _, k := range c.Aliases {
			add(k)
		}
		for _, k := range o.Aliases {
			add(k)
		}
		slices.Sort(merged)
		c.Aliases = merged
	}
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&c.ContactID, o.ContactID)
	fill(&c.EmailAddr, o.EmailAddr)
	fill(&c.Phone, o.Phone)
	fill(&c.TimeZone, o.TimeZone)
	fill(&c.Language, o.Language)
}

// absorbTraits: c's values win; traits only o has are added, in o's order,
// while there is room under MaxTraits. The result is sorted by Name.
func (c *Contact) absorbTraits(o *Contact) {
	added := false
	for _, t := range o.Traits {
		if len(c.Traits) >= MaxTraits {
			break
		}
		if _, ok := c.Trait(t.Name); ok {
			continue
		}
		c.Traits = append(c.Traits, t)
		added = true
	}
	if added {
		slices.SortStableFunc(c.Traits, func(a, b Trait) int { return cmp.Compare(a.Name, b.Name) })
	}
}

// absorbConsent: per channel, the more recent change wins, because it is
// the person's latest decision; on a tie c's wins. Suppressed and
// Complained are the exception: they win over any other state whatever the
// times, because they are facts about the address (it bounces, its owner
// reports spam), not preferences a later opt-in on another profile can
// undo. Complained wins over Suppressed: a complaint is never lifted.
// Per-list subscriptions are merged list by list, the more recent change
// winning (c on a tie); lists only o has are added while there is room
// under MaxLists, and the result is sorted by List.
func (c *Contact) absorbConsent(o *Contact) {
	for ch := range c.Consent.Channels {
		c.Consent.Channels[ch] = mergeChannelConsent(c.Consent.Channels[ch], o.Consent.Channels[ch])
	}
	added := false
	for _, ol := range o.Consent.Lists {
		i := slices.IndexFunc(c.Consent.Lists, func(l ListConsent) bool { return l.List == ol.List })
		switch {
		case i >= 0:
			if ol.At > c.Consent.Lists[i].At {
				c.Consent.Lists[i] = ol
			}
		case len(c.Consent.Lists) < MaxLists:
			c.Consent.Lists = append(c.Consent.Lists, ol)
			added = true
		}
	}
	if added {
		slices.SortStableFunc(c.Consent.Lists, func(a, b ListConsent) int { return cmp.Compare(a.List, b.List) })
	}
}

// consentRank orders statuses for merging: a higher rank wins regardless of
// time; equal ranks are decided by time.
func consentRank(s ConsentStatus) int {
	switch s {
	case ConsentComplained:
		return 2
	case ConsentSuppressed:
		return 1
	}
	return 0
}

func mergeChannelConsent(c, o ChannelConsent) ChannelConsent {
	rc, ro := consentRank(c.Status), consentRank(o.Status)
	switch {
	case ro > rc:
		return o
	case ro < rc:
		return c
	case o.At > c.At:
		return o
	}
	return c
}

// absorbActivity: FirstSeen is the earlier non-zero one, LastSeen the later
// one, per-type counts are added (saturating rather than wrapping). The
// session count is added; the current session (Start, Last) is the one of
// the profile that was active last, since that is the session a new event
// may continue.
func (c *Contact) absorbActivity(o *Contact) {
	c.FirstSeen = minNonZeroTime(c.FirstSeen, o.FirstSeen)
	c.LastSeen = max(c.LastSeen, o.LastSeen)
	for i := range c.Counts {
		c.Counts[i] = addSatU32(c.Counts[i], o.Counts[i])
	}
	count := addSatU32(c.Sessions.Count, o.Sessions.Count)
	if o.Sessions.Last > c.Sessions.Last {
		c.Sessions = o.Sessions
	}
	c.Sessions.Count = count
}

// absorbRecent: both rings are merged by event time (o's event first on
// equal times) and the newest RecentEventsCap are kept.
func (c *Contact) absorbRecent(o *Contact) {
	if len(o.Recent) == 0 {
		return
	}
	merged := make([]RecentEvent, 0, len(o.Recent)+len(c.Recent))
	merged = append(merged, o.Recent...)
	merged = append(merged, c.Recent...)
	slices.SortStableFunc(merged, func(a, b RecentEvent) int { return cmp.Compare(a.At, b.At) })
	c.Recent = keepNewest(merged, RecentEventsCap)
}

// absorbAffinities: both sets are brought to the later of the two
// AffinityAt instants (the older set's scores are multiplied by
// DecayFactor(Δt, AffinityHalfLife)), scores of the same Name are added,
// and the MaxAffinities highest are kept, highest first (ties by name, so
// the result does not depend on input order). If o has no affinities, c's
// are left exactly as they are.
func (c *Contact) absorbAffinities(o *Contact) {
	if len(o.Categories) == 0 && len(o.Products) == 0 {
		return
	}
	if len(c.Categories) == 0 && len(c.Products) == 0 {
		c.Categories = slices.Clone(o.Categories)
		c.Products = slices.Clone(o.Products)
		c.AffinityAt = o.AffinityAt
		return
	}
	at := max(c.AffinityAt, o.AffinityAt)
	fc := DecayFactor(at-c.AffinityAt, AffinityHalfLife)
	fo := DecayFactor(at-o.AffinityAt, AffinityHalfLife)
	c.Categories = mergeAffinities(c.Categories, o.Categories, fc, fo)
	c.Products = mergeAffinities(c.Products, o.Products, fc, fo)
	c.AffinityAt = at
}

func mergeAffinities(cs, os []Affinity, fc, fo float64) []Affinity {
	if len(cs)+len(os) == 0 {
		return cs
	}
	out := make([]Affinity, 0, len(cs)+len(os))
	for _, a := range cs {
		out = append(out, Affinity{Name: a.Name, Score: a.Score * fc})
	}
	for _, a := range os {
		if i := slices.IndexFunc(out, func(b Affinity) bool { return b.Name == a.Name }); i >= 0 {
			out[i].Score += a.Score * fo
		} else {
			out = append(out, Affinity{Name: a.Name, Score: a.Score * fo})
		}
	}
	slices.SortFunc(out, func(a, b Affinity) int {
		if r := cmp.Compare(b.Score, a.Score); r != 0 {
			return r
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return firstN(out, MaxAffinities)
}

// absorbCart: the cart updated later wins (c's on a tie), empty or not.
// An emptied cart is news too: the person ordered or cleared it, and
// bringing back an older basket would trigger an abandoned-cart reminder
// for something already bought. Carts are not mixed: a cart is one shopping
// intent, and mixing two would remind the person of a basket they never
// had.
func (c *Contact) absorbCart(o *Contact) {
	if o.Cart.UpdatedAt > c.Cart.UpdatedAt {
		c.Cart = Cart{Items: slices.Clone(o.Cart.Items), UpdatedAt: o.Cart.UpdatedAt}
	}
}

// orderEffect is what one order contributes to the aggregates, under the
// fold's accounting: an order counts once order_placed was seen; a
// cancelled one counts as placed and cancelled and adds no revenue; a live
// one adds 1 to Count, Total minus its refunds to Revenue and to its
// purchase day, and its refunds to Refunded. An order not yet seen placed
// contributes nothing (its cancel or refund is only pending in Flags and
// Refunded).
type orderEffect struct {
	count             int32
	placed, cancelled uint32
	revenue, refunded int64
	dayOrders         int32 // contribution to the purchase day Day
	day               int32
}

func effectOf(od *Order) orderEffect {
	if od.Flags&OrderPlaced == 0 {
		return orderEffect{}
	}
	if od.Flags&OrderCancelled != 0 {
		return orderEffect{placed: 1, cancelled: 1}
	}
	refunded := od.Refunded
	if od.Flags&OrderRefundAll != 0 {
		refunded = od.Total
	}
	return orderEffect{
		count: 1, placed: 1,
		revenue: od.Total - refunded, refunded: refunded,
		dayOrders: 1, day: od.Day,
	}
}

// dayFix is a correction to one purchase day, from a duplicate order.
type dayFix struct {
	day    int32
	orders int32
	spend  int64
}

// absorbOrders: the aggregates (Count, Placed, Cancelled, Revenue,
// Refunded) are added, First is the earlier non-zero, Last the later, and
// c's Currency is kept (o's if c has none). The recent orders are the union
// by order ID, sorted by time, the newest MaxRecentOrders kept.
//
// Two profiles of one person should never hold the same order, but a
// replayed or mis-keyed event can make it happen. An order ID present in
// both Recent lists is merged into one entry (flags ORed, the larger
// Refunded, c's fields where set, else o's, preferring the copy that saw
// order_placed) and counted once: the contributions of both copies are
// taken out of the sums and the merged entry's contribution put back, so
// for two identical copies this is simply "o's copy is not counted". The
// returned purchase-day corrections do the same for Purchases. Duplicates
// older than both Recent windows cannot be seen and are counted twice.
// Orders without an ID are never treated as duplicates.
func (c *Contact) absorbOrders(o *Contact) []dayFix {
	co, oo := &c.Orders, &o.Orders
	count := int64(co.Count) + int64(oo.Count)
	placed := int64(co.Placed) + int64(oo.Placed)
	cancelled := int64(co.Cancelled) + int64(oo.Cancelled)
	co.Revenue += oo.Revenue
	co.Refunded += oo.Refunded
	co.First = minNonZeroTime(co.First, oo.First)
	co.Last = max(co.Last, oo.Last)
	if co.Currency == "" {
		co.Currency = oo.Currency
	}
	if len(oo.Recent) == 0 {
		co.Count, co.Placed, co.Cancelled = clampToInt32(count), clampToUint32(placed), clampToUint32(cancelled)
		return nil
	}

	var fixes []dayFix
	fix := func(e orderEffect, sign int64) {
		count += sign * int64(e.count)
		placed += sign * int64(e.placed)
		cancelled += sign * int64(e.cancelled)
		co.Revenue += sign * e.revenue
		co.Refunded += sign * e.refunded
		if e.dayOrders != 0 {
			fixes = append(fixes, dayFix{day: e.day, orders: int32(sign) * e.dayOrders, spend: sign * e.revenue})
		}
	}
	merged := make([]Order, 0, len(co.Recent)+len(oo.Recent))
	merged = append(merged, co.Recent...)
	for i := range oo.Recent {
		od := &oo.Recent[i]
		j := -1
		if od.ID != "" {
			j = slices.IndexFunc(merged[:len(co.Recent)], func(x Order) bool { return x.ID == od.ID })
		}
		if j < 0 {
			cp := *od
			cp.Categories = slices.Clone(od.Categories)
			merged = append(merged, cp)
			continue
		}
		m := mergeOrder(&merged[j], od)
		fix(effectOf(&merged[j]), -1)
		fix(effectOf(od), -1)
		fix(effectOf(&m), +1)
		merged[j] = m
	}
	co.Count, co.Placed, co.Cancelled = clampToInt32(count), clampToUint32(placed), clampToUint32(cancelled)
	slices.SortStableFunc(merged, func(a, b Order) int { return cmp.Compare(a.At, b.At) })
	co.Recent = keepNewest(merged, MaxRecentOrders)
	return fixes
}

// mergeOrder merges two copies of one order: flags ORed, the larger
// Refunded, and the other fields from the copy that saw order_placed (the
// event that carries them), c's when both or neither did, zero ones filled
// from the other copy.
func mergeOrder(c, o *Order) Order {
	base, other := c, o
	if c.Flags&OrderPlaced == 0 && o.Flags&OrderPlaced != 0 {
		base, other = o, c
	}
	m := *base
	m.Categories = slices.Clone(base.Categories)
	if m.At == 0 {
		m.At, m.Day = other.At, other.Day
	}
	if m.Total == 0 {
		m.Total = other.Total
	}
	if m.Currency == "" {
		m.Currency = other.Currency
	}
	if len(m.Categories) == 0 {
		m.Categories = slices.Clone(other.Categories)
	}
	m.Flags = c.Flags | o.Flags
	m.Refunded = max(c.Refunded, o.Refunded)
	return m
}

// absorbPurchases: purchase days are merged by Day, adding Orders
// (saturating) and Spend, kept sorted, and the newest MaxPurchaseDays are
// kept. The corrections from duplicate orders (see absorbOrders) are then
// applied; a corrected day left without orders is removed.
func (c *Contact) absorbPurchases(o *Contact, fixes []dayFix) {
	if len(o.Purchases) == 0 && len(fixes) == 0 {
		return
	}
	merged := make([]PurchaseDay, 0, len(c.Purchases)+len(o.Purchases))
	merged = append(merged, c.Purchases...)
	merged = append(merged, o.Purchases...)
	slices.SortStableFunc(merged, func(a, b PurchaseDay) int { return cmp.Compare(a.Day, b.Day) })
	out := merged[:0]
	for _, d := range merged {
		if n := len(out); n > 0 && out[n-1].Day == d.Day {
			out[n-1].Orders = addSatU16(out[n-1].Orders, d.Orders)
			out[n-1].Spend += d.Spend
			continue
		}
		out = append(out, d)
	}
	// Net the corrections per day first, so that taking a duplicate out of
	// a day and putting the merged order back in does not remove the day
	// in between.
	slices.SortStableFunc(fixes, func(a, b dayFix) int { return cmp.Compare(a.day, b.day) })
	for k := 0; k < len(fixes); {
		f := fixes[k]
		for k++; k < len(fixes) && fixes[k].day == f.day; k++ {
			f.orders += fixes[k].orders
			f.spend += fixes[k].spend
		}
		if f.orders == 0 && f.spend == 0 {
			continue
		}
		i, found := slices.BinarySearchFunc(out, f.day, func(d PurchaseDay, day int32) int { return cmp.Compare(d.Day, day) })
		if !found {
			if f.orders <= 0 {
				continue // nothing to take away from
			}
			out = slices.Insert(out, i, PurchaseDay{Day: f.day})
		}
		d := &out[i]
		d.Orders = uint16(min(max(int32(d.Orders)+f.orders, 0), math.MaxUint16))
		d.Spend += f.spend
		if d.Orders == 0 {
			out = slices.Delete(out, i, i+1)
		}
	}
	if len(out) == 0 {
		c.Purchases = c.Purchases[:0]
		return
	}
	c.Purchases = keepNewest(out, MaxPurchaseDays)
}

// absorbEngagement: counters are added (saturating), the Last* times are
// the later of the two, and the hour-of-week histograms are added after
// bringing the older one to the later HistAt with EngagementHalfLife. If o
// has no histogram, c's is left exactly as it is.
func (c *Contact) absorbEngagement(o *Contact) {
	ce, oe := &c.Engagement, &o.Engagement
	ce.Sent = addSatU32(ce.Sent, oe.Sent)
	ce.Delivered = addSatU32(ce.Delivered, oe.Delivered)
	ce.Opened = addSatU32(ce.Opened, oe.Opened)
	ce.Clicked = addSatU32(ce.Clicked, oe.Clicked)
	ce.Bounced = addSatU32(ce.Bounced, oe.Bounced)
	ce.LastSent = max(ce.LastSent, oe.LastSent)
	ce.LastOpen = max(ce.LastOpen, oe.LastOpen)
	ce.LastClick = max(ce.LastClick, oe.LastClick)

	if oe.HourOfWeek == [HoursPerWeek]float32{} {
		return
	}
	if ce.HourOfWeek == [HoursPerWeek]float32{} {
		ce.HourOfWeek, ce.HistAt = oe.HourOfWeek, oe.HistAt
		return
	}
	at := max(ce.HistAt, oe.HistAt)
	fc := DecayFactor(at-ce.HistAt, EngagementHalfLife)
	fo := DecayFactor(at-oe.HistAt, EngagementHalfLife)
	for i := range ce.HourOfWeek {
		ce.HourOfWeek[i] = float32(float64(ce.HourOfWeek[i])*fc + float64(oe.HourOfWeek[i])*fo)
	}
	ce.HistAt = at
}

// absorbSeenIDs: the dedupe windows are joined, o's ids first then c's
// (c's are the ones folded most recently on the surviving contact), an id
// in both kept at its later position, and the newest SeenIDsCap kept, so a
// producer retry of an event folded into either profile is still dropped.
func (c *Contact) absorbSeenIDs(o *Contact) {
	if len(o.SeenIDs) == 0 {
		return
	}
	all := make([]uint64, 0, len(o.SeenIDs)+len(c.SeenIDs))
	all = append(all, o.SeenIDs...)
	all = append(all, c.SeenIDs...)
	// Walk from the newest end, keeping the first occurrence met (the
	// latest position), until the window is full.
	seen := make(map[uint64]struct{}, len(all))
	out := make([]uint64, 0, min(len(all), SeenIDsCap))
	for i := len(all) - 1; i >= 0 && len(out) < SeenIDsCap; i-- {
		if _, dup := seen[all[i]]; dup {
			continue
		}
		seen[all[i]] = struct{}{}
		out = append(out, all[i])
	}
	slices.Reverse(out)
	c.SeenIDs = out
}

// keepNewest keeps the last n elements of s (sorted oldest first), moved to
// the front so the dropped ones do not stay reachable.
func keepNewest[T any](s []T, n int) []T {
	if len(s) <= n {
		return s
	}
	k := copy(s, s[len(s)-n:])
	clear(s[k:])
	return s[:k]
}

func minNonZeroTime(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

func addSatU32(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint32
}

func addSatU16(a, b uint16) uint16 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint16
}

func clampToUint32(v int64) uint32 {
	return uint32(min(max(v, 0), math.MaxUint32))
}

func clampToInt32(v int64) int32 {
	return int32(min(max(v, math.MinInt32), math.MaxInt32))
}
