package state

import "strings"

// IDKind is the kind of identifier a Key carries. Its byte is part of the
// stored key, so the values are persistent.
type IDKind byte

// The identifier kinds, in rank order: when an event carries several, the
// highest-ranked one names the contact (contact id, then email, then
// anonymous id).
const (
	IDContact   IDKind = 'c'
	IDEmail     IDKind = 'e'
	IDAnonymous IDKind = 'a'
)

// Key is a typed contact identifier: the kind byte, ':' and the id value,
// for example "c:42", "e:ann@example.com", "a:7f3c...". A contact's
// canonical Key names its record; its other ids are aliases that resolve to
// it.
type Key string

// MakeKey builds a typed key. Emails are expected already normalised
// (NormalizeEmail).
func MakeKey(kind IDKind, value string) Key {
	return Key(string(kind) + ":" + value)
}

// Kind returns the kind byte, or 0 for a malformed key.
func (k Key) Kind() IDKind {
	if len(k) < 2 || k[1] != ':' {
		return 0
	}
	return IDKind(k[0])
}

// Value returns the id without its kind prefix. The Kafka partition of a
// contact is derived from this value (the producer keys records by the id it
// knows, without a prefix).
func (k Key) Value() string {
	if len(k) < 2 {
		return ""
	}
	return string(k[2:])
}

// NormalizeEmail trims and lower-cases an email address so that the same
// mailbox always maps to the same key and partition.
func NormalizeEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// Channel is a messaging channel with its own consent.
type Channel uint8

// The channels. Values index Consent.Channels and are persistent.
const (
	ChannelEmail Channel = iota
	ChannelSMS
	ChannelPush
	NumChannels
)

var channelNames = [NumChannels]string{"email", "sms", "push"}

// String returns the channel's name.
func (c Channel) String() string {
	if c < NumChannels {
		return channelNames[c]
	}
	return "unknown"
}

// ConsentStatus is the state of one channel's consent. Suppression (hard
// bounce, complaint) is kept apart from opting out because it is lifted
// differently: an opt-out by a new opt-in, a suppression only by a new,
// verified address.
type ConsentStatus uint8

// Consent states; persistent values.
const (
	ConsentUnknown ConsentStatus = iota
	ConsentOptedIn
	ConsentOptedOut
	ConsentSuppressed // hard bounce: the address does not exist
	ConsentComplained // spam complaint: never send marketing again
)

var consentNames = [...]string{"unknown", "opted_in", "opted_out", "suppressed", "complained"}

// String returns the status name used in the API.
func (s ConsentStatus) String() string {
	if int(s) < len(consentNames) {
		return consentNames[s]
	}
	return "unknown"
}

// ChannelConsent is a channel's consent and when it last changed (event
// time, Unix milliseconds).
type ChannelConsent struct {
	Status ConsentStatus
	At     int64
}

// ListConsent is a subscription to one list of the subscription centre.
type ListConsent struct {
	List       string
	Subscribed bool
	At         int64
}

// Consent is the subscription centre of a contact: channel-level consent and
// per-list subscriptions. Leaving one list is not leaving the channel.
type Consent struct {
	Channels [NumChannels]ChannelConsent
	Lists    []ListConsent // sorted by List; at most MaxLists
}

// Trait is one profile attribute (name, job_title, country, ...).
type Trait struct {
	Name  string
	Value string
}

// Sessions counts browsing sessions: a new session starts after
// SessionGap of inactivity (event time).
type Sessions struct {
	Count uint32
	Start int64 // start of the latest session
	Last  int64 // latest event of the latest session
}

// RecentEvent is one entry of the bounded recent-events ring.
type RecentEvent struct {
	Type EventType
	At   int64
	Ref  string // product sku, category, url, order id or campaign: what the event was about
}

// Affinity is a decayed interest score in a category or product, valid at
// Contact.AffinityAt.
type Affinity struct {
	Name  string
	Score float64
}

// CartItem is one line of the open cart.
type CartItem struct {
	SKU      string
	Category string
	Quantity int32
	Price    int64 // minor units (cents)
}

// Cart is the open cart. It is emptied by an order.
type Cart struct {
	Items     []CartItem
	UpdatedAt int64
}

// Order flags. An order id can be seen cancelled or refunded before it is
// seen placed (out-of-order delivery); the flags keep that so the late
// order_placed is folded as already cancelled or refunded.
const (
	OrderPlaced    uint8 = 1 << iota // order_placed seen
	OrderCancelled                   // order_cancelled seen
	OrderShipped                     // order_shipped seen
	OrderRefundAll                   // a refund without amount: the whole order
)

// Order is one entry of the bounded list of recent orders.
type Order struct {
	ID         string
	At         int64
	Day        int32 // purchase day in the contact's time zone (days since 1970-01-01)
	Total      int64 // minor units
	Refunded   int64 // minor units refunded so far (or pending, before placed)
	Flags      uint8
	Currency   string
	Categories []string // distinct item categories, at most MaxOrderCategories
}

// Orders aggregates a contact's orders. Count and Revenue are net: a
// cancelled order leaves both, a refund lowers Revenue.
type Orders struct {
	Count     int32 // placed minus cancelled
	Placed    uint32
	Cancelled uint32
	Revenue   int64 // minor units, net of cancellations and refunds
	Refunded  int64 // minor units refunded on live orders
	Currency  string
	First     int64   // first placed order (event time), 0 if none
	Last      int64   // latest placed order
	Recent    []Order // sorted by At, at most MaxRecentOrders
}

// PurchaseDay is one distinct purchase day: the churn model counts repeat
// transactions as distinct purchase days, as the BG/NBD literature does.
type PurchaseDay struct {
	Day    int32 // days since 1970-01-01 in the contact's time zone
	Orders uint16
	Spend  int64 // minor units, net of refunds
}

// HoursPerWeek is the number of hour-of-week bins.
const HoursPerWeek = 168

// EmailStats is a contact's email engagement.
type EmailStats struct {
	Sent, Delivered, Opened, Clicked, Bounced uint32
	LastSent, LastOpen, LastClick             int64
	// HourOfWeek holds decayed opens and clicks per hour of the week
	// (Monday 00:00 is bin 0) in the contact's time zone, valid at HistAt.
	HourOfWeek [HoursPerWeek]float32
	HistAt     int64
}

// Bounds on the variable parts of a contact, so that one noisy contact
// cannot grow its record without limit.
const (
	MaxAliases         = 64
	MaxTraits          = 64
	MaxTraitLen        = 256
	MaxLists           = 64
	RecentEventsCap    = 32
	MaxAffinities      = 32
	MaxCartItems       = 100
	MaxRecentOrders    = 64
	MaxOrderCategories = 8
	MaxPurchaseDays    = 4096
	SeenIDsCap         = 64
	MaxTriggerState    = 16 << 10
	MaxDecisionState   = 8 << 10
)

// Contact is everything Kairos keeps about one person. One partition worker
// owns it; the API reads committed copies. Times are event-time Unix
// milliseconds; money is in minor units of the order's currency.
type Contact struct {
	Key       Key // canonical key; the record is stored under it
	ContactID string
	EmailAddr string // normalised email address, if known
	Phone     string
	Aliases   []Key   // other keys that resolve to this contact, sorted
	Traits    []Trait // sorted by Name
	TimeZone  string  // IANA name, "" for UTC
	Language  string
	Consent   Consent

	FirstSeen int64
	LastSeen  int64
	Counts    [NumEventTypes]uint32
	Sessions  Sessions
	Recent    []RecentEvent // sorted by At, at most RecentEventsCap

	Categories []Affinity // highest first after decay, at most MaxAffinities
	Products   []Affinity
	AffinityAt int64 // instant the affinity scores are valid at

	Cart       Cart
	Orders     Orders
	Purchases  []PurchaseDay // sorted by Day
	Engagement EmailStats

	Scores Scores

	// Triggers is the trigger engine's per-contact state (pressure
	// history, armed timers, last emission per rule), Decisions the
	// next-best-action impression and outcome history: both encoded by
	// their owners (stream/trigger.ContactState, models/nba.History) and
	// stored here as opaque bytes, at most MaxTriggerState and
	// MaxDecisionState.
	Triggers  []byte
	Decisions []byte

	// SeenIDs is the dedupe window: hashes of the last SeenIDsCap event ids
	// folded into this contact, oldest first. A duplicate older than the
	// window is folded again; producers retrying within minutes are covered.
	SeenIDs []uint64
}

// Trait returns a trait's value and whether it is set.
func (c *Contact) Trait(name string) (string, bool) {
	for i := range c.Traits {
		if c.Traits[i].Name == name {
			return c.Traits[i].Value, true
		}
	}
	return "", false
}
