package event

import (
	"time"

	"github.com/kairos-engine/kairos/state"
)

// Event is one decoded, validated input event. Strings are ordinary Go
// strings, safe to keep after the next Decode (they share a chunk of a few
// KiB with other events' strings: clone one to keep it for long); slices
// (Items, Traits, Props) are reused by the next Decode into the same Event
// and must be copied to be kept.
type Event struct {
	ID   string
	Type state.EventType
	// Identity: at least one is set. Email is normalised (state.NormalizeEmail).
	ContactID   string
	Email       string
	AnonymousID string
	// Time is the event's own time (the envelope's timestamp), Unix ms.
	Time int64

	Context Context

	// Properties, by event type. Money is in minor units (cents), parsed
	// from the decimal text so that no float rounding creeps in.
	Category string        // product_view, add_to_cart, remove_from_cart, page_view (optional)
	SKU      string        // product_view, add_to_cart, remove_from_cart
	Quantity int32         // add_to_cart, remove_from_cart (default 1)
	Price    int64         // add_to_cart (optional)
	Query    string        // search
	Form     string        // form_submit
	Content  string        // form_submit: downloaded content (ebook, whitepaper), optional
	List     string        // signup; sent (optional); unsubscribed (empty: all lists)
	Campaign string        // email events (optional)
	OrderID  string        // order events
	Items    []Item        // order_placed
	Total    int64         // order_placed
	Currency string        // order_placed (default "EUR")
	Amount   int64         // order_refunded; -1 when absent (the whole order)
	URL      string        // clicked: the link; page_view: properties.url or context.url
	Bounce   Bounce        // bounced
	Traits   []state.Trait // identify, signup: profile traits (properties.traits or top-level scalar properties)
	Phone    string        // identify, signup: properties.phone or traits.phone (not a trait)
	// DecisionID (32 hex digits) and Action name the next-best-action
	// decision and the shown action an action_click or action_dismiss is about.
	DecisionID string
	Action     string

	// Props holds every scalar top-level property as text, for rule
	// conditions over properties the fixed fields above do not name.
	Props []Prop
}

// Item is one order line.
type Item struct {
	SKU      string
	Category string
	Quantity int32
	Price    int64 // unit price, minor units
}

// Prop is one scalar property rendered as text (numbers as written,
// booleans as "true"/"false").
type Prop struct {
	Name  string
	Value string
}

// Context is the optional request context of an event.
type Context struct {
	IP                                                     string
	UserAgent                                              string
	URL                                                    string
	Referrer                                               string
	TimeZone                                               string // IANA name, validated
	UTMSource, UTMMedium, UTMCampaign, UTMTerm, UTMContent string

	// Location is TimeZone loaded, nil when TimeZone is empty. The decoder
	// caches locations, so the fold gets them for free.
	Location *time.Location
}

// Bounce is the kind of an email bounce.
type Bounce uint8

// Bounce kinds.
const (
	BounceSoft Bounce = iota + 1
	BounceHard
)

// PrimaryKey returns the event's highest-ranked identifier: contact id,
// then email, then anonymous id. Records should be keyed by its value.
func (e *Event) PrimaryKey() state.Key {
	switch {
	case e.ContactID != "":
		return state.MakeKey(state.IDContact, e.ContactID)
	case e.Email != "":
		return state.MakeKey(state.IDEmail, e.Email)
	default:
		return state.MakeKey(state.IDAnonymous, e.AnonymousID)
	}
}

// Keys appends every identifier the event carries, highest rank first.
func (e *Event) Keys(dst []state.Key) []state.Key {
	if e.ContactID != "" {
		dst = append(dst, state.MakeKey(state.IDContact, e.ContactID))
	}
	if e.Email != "" {
		dst = append(dst, state.MakeKey(state.IDEmail, e.Email))
	}
	if e.AnonymousID != "" {
		dst = append(dst, state.MakeKey(state.IDAnonymous, e.AnonymousID))
	}
	return dst
}

// Prop returns the text of a scalar property and whether it was present.
func (e *Event) Prop(name string) (string, bool) {
	for i := range e.Props {
		if e.Props[i].Name == name {
			return e.Props[i].Value, true
		}
	}
	return "", false
}
