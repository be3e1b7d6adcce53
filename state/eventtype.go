package state

// EventType identifies what happened. It is part of the stored record (counts
// per type, the recent-events ring), so the numeric values are persistent:
// append new types at the end, never renumber.
type EventType uint8

// The event types of the three input topics. Their wire names are in
// eventTypeNames.
const (
	EventUnknown EventType = iota

	// kairos.clickstream
	EventPageView
	EventProductView
	EventAddToCart
	EventRemoveFromCart
	EventSearch
	EventFormSubmit
	EventSignup
	EventIdentify

	// kairos.orders
	EventOrderPlaced
	EventOrderCancelled
	EventOrderRefunded
	EventOrderShipped

	// kairos.email
	EventEmailSent
	EventEmailDelivered
	EventEmailOpened
	EventEmailClicked
	EventEmailBounced
	EventEmailUnsubscribed
	EventEmailComplained

	// kairos.clickstream, next-best-action outcomes (added later): a click
	// on a shown action and its dismissal, naming decision_id and action_id.
	EventActionClick
	EventActionDismiss

	// NumEventTypes bounds arrays indexed by EventType.
	NumEventTypes
)

// Stream names the input stream an event type belongs to.
type Stream uint8

// The three input streams.
const (
	StreamClickstream Stream = iota + 1
	StreamOrders
	StreamEmail
)

var eventTypeNames = [NumEventTypes]string{
	EventUnknown:           "unknown",
	EventPageView:          "page_view",
	EventProductView:       "product_view",
	EventAddToCart:         "add_to_cart",
	EventRemoveFromCart:    "remove_from_cart",
	EventSearch:            "search",
	EventFormSubmit:        "form_submit",
	EventSignup:            "signup",
	EventIdentify:          "identify",
	EventOrderPlaced:       "order_placed",
	EventOrderCancelled:    "order_cancelled",
	EventOrderRefunded:     "order_refunded",
	EventOrderShipped:      "order_shipped",
	EventEmailSent:         "sent",
	EventEmailDelivered:    "delivered",
	EventEmailOpened:       "opened",
	EventEmailClicked:      "clicked",
	EventEmailBounced:      "bounced",
	EventEmailUnsubscribed: "unsubscribed",
	EventEmailComplained:   "complained",
	EventActionClick:       "action_click",
	EventActionDismiss:     "action_dismiss",
}

// String returns the wire name of the type ("page_view", "opened", ...).
func (t EventType) String() string {
	if t < NumEventTypes {
		return eventTypeNames[t]
	}
	return "unknown"
}

// Stream returns the input stream the type belongs to, or 0 for unknown.
func (t EventType) Stream() Stream {
	switch {
	case t >= EventPageView && t <= EventIdentify:
		return StreamClickstream
	case t >= EventOrderPlaced && t <= EventOrderShipped:
		return StreamOrders
	case t >= EventEmailSent && t <= EventEmailComplained:
		return StreamEmail
	case t == EventActionClick || t == EventActionDismiss:
		return StreamClickstream
	}
	return 0
}

// ParseEventType maps a wire name to its type. Email event names are short
// ("opened"), so the stream disambiguates nothing today, but callers pass it
// so a future name clash between streams stays resolvable.
func ParseEventType(name []byte) EventType {
	// A switch on string(name) compiles to comparisons without allocating.
	switch string(name) {
	case "page_view":
		return EventPageView
	case "product_view":
		return EventProductView
	case "add_to_cart":
		return EventAddToCart
	case "remove_from_cart":
		return EventRemoveFromCart
	case "search":
		return EventSearch
	case "form_submit":
		return EventFormSubmit
	case "signup":
		return EventSignup
	case "identify":
		return EventIdentify
	case "order_placed":
		return EventOrderPlaced
	case "order_cancelled":
		return EventOrderCancelled
	case "order_refunded":
		return EventOrderRefunded
	case "order_shipped":
		return EventOrderShipped
	case "sent":
		return EventEmailSent
	case "delivered":
		return EventEmailDelivered
	case "opened":
		return EventEmailOpened
	case "clicked":
		return EventEmailClicked
	case "bounced":
		return EventEmailBounced
	case "unsubscribed":
		return EventEmailUnsubscribed
	case "complained":
		return EventEmailComplained
	case "action_click":
		return EventActionClick
	case "action_dismiss":
		return EventActionDismiss
	}
	return EventUnknown
}
