package trigger

import (
	"time"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/state"
)

// Journey is the marketing journey a rule belongs to. The names are a
// contract with senders (the payload's "journey").
type Journey uint8

// The journeys.
const (
	JourneyWelcome Journey = iota
	JourneyLeadNurture
	JourneyMQLReached
	JourneySQLReached
	JourneyPostPurchase
	JourneyLoyalty
	JourneyWinBack
	JourneyAbandonedCart
	JourneyBrowseAbandonment
	JourneyNoOpenFollowUp
	JourneyService
	numJourneys
)

var journeyNames = [numJourneys]string{
	"welcome", "lead_nurture", "mql_reached", "sql_reached", "post_purchase", "loyalty",
	"win_back", "abandoned_cart", "browse_abandonment", "no_open_follow_up", "service",
}

// String returns the journey's name ("abandoned_cart").
func (j Journey) String() string {
	if j < numJourneys {
		return journeyNames[j]
	}
	return "unknown"
}

// Channel is where a trigger goes: one topic per channel.
type Channel uint8

// The channels. Email, SMS and push are messages to the contact and obey
// the contact policy; sales is a notice to the sales team (a CRM), not a
// message to the contact, so no consent, pressure or quiet hours apply.
const (
	ChannelEmail Channel = iota
	ChannelSMS
	ChannelPush
	ChannelSales
	NumChannels
)

var channelNames = [NumChannels]string{"email", "sms", "push", "sales"}

// String returns the channel's name.
func (c Channel) String() string {
	if c < NumChannels {
		return channelNames[c]
	}
	return "unknown"
}

// contact returns the contact channel whose consent governs c, and false
// for sales.
func (c Channel) contact() (state.Channel, bool) {
	switch c {
	case ChannelEmail:
		return state.ChannelEmail, true
	case ChannelSMS:
		return state.ChannelSMS, true
	case ChannelPush:
		return state.ChannelPush, true
	}
	return 0, false
}

// Kind says whether a trigger is marketing or a service (transactional)
// message. Service messages are exempt from consent opt-outs, marketing
// pressure and quiet hours, not from hard-bounce suppression.
type Kind uint8

// The kinds.
const (
	Marketing Kind = iota
	Service
)

// String returns "marketing" or "service".
func (k Kind) String() string {
	if k == Service {
		return "service"
	}
	return "marketing"
}

// OnBlock is what happens to a trigger the contact policy blocks.
type OnBlock uint8

// The choices.
const (
	// Defer holds the trigger until the next allowed moment (a durable
	// timer), within its expiry.
	Defer OnBlock = iota
	// Drop suppresses it, recording the reason.
	Drop
)

// Field is one personalisation field a rule includes in its payload.
type Field uint16

// The fields, as a bit set.
const (
	FieldName     Field = 1 << iota // first and last name traits
	FieldEmail                      // email address
	FieldPhone                      // phone number
	FieldLanguage                   // language and time zone
	FieldViewed                     // last viewed products and categories
	FieldCart                       // open cart items
	FieldOrder                      // order summary: the order of the cause, or the latest
	FieldScores                     // lifecycle stage and RFM segment
)

var fieldNames = []struct {
	name string
	f    Field
}{
	{"name", FieldName}, {"email", FieldEmail}, {"phone", FieldPhone}, {"language", FieldLanguage},
	{"viewed", FieldViewed}, {"cart", FieldCart}, {"order", FieldOrder}, {"scores", FieldScores},
}

// causeKind is what a cause clause compares.
type causeKind uint8

const (
	// Clauses on (before, after, event); several may be set in one clause
	// and all must hold.
	hasEvent causeKind = 1 << iota
	hasBecameKnown
	hasStage
	hasSegment
	hasOrderCount
	hasPAlive
)

// schedule is a cause that computes a due time from the contact's state
// rather than reacting to one event.
type schedule uint8

const (
	scheduleNone        schedule = iota
	scheduleAnniversary          // yearly from the first order
	scheduleTraitDate            // a date in a profile trait, plus an offset
	scheduleOverdue              // no order within factor × typical gap after the last
)

// Cause is one clause of a rule's "on": every part it sets must hold.
type Cause struct {
	kinds causeKind
	Event state.EventType
	Where []PropCond
	// Stage: the contact entered this stage (before ≠, after =).
	Stage lead.Stage
	// SegmentTo: the RFM segment got worse (rfm.Worse), into one of these
	// segments (any when empty).
	SegmentTo []rfm.Segment
	// OrderCount: net orders crossed from below N to N or more.
	OrderCount int32
	// PAliveBelow: P(alive) crossed from at or above to below this.
	PAliveBelow float64
}

// PropCond is a condition on a property of the cause event.
type PropCond struct {
	Prop   string
	Op     PropOp
	Values []string
}

// PropOp is a comparison of a PropCond; strings compare ASCII
// case-insensitively.
type PropOp uint8

// The comparisons.
const (
	OpEquals PropOp = iota
	OpIn
	OpPrefix
	OpContains
	OpPresent
)

// IntRange is an inclusive range; a nil bound is open.
type IntRange struct {
	Min, Max *int64
}

func (r *IntRange) holds(v int64) bool {
	return r == nil || (r.Min == nil || v >= *r.Min) && (r.Max == nil || v <= *r.Max)
}

// Conditions are checked on the contact's state after the event, and
// again when a timer fires: a change in between (the cart emptied, the
// contact became a customer) cancels the trigger.
type Conditions struct {
	CartItems *IntRange
	Orders    *IntRange
	Stages    []lead.Stage
	Known     *bool
	// ProductViews requires at least Min product views within the Within
	// window before the evaluation instant (from the recent-events ring).
	ProductViews *ViewCond
}

// ViewCond counts recent product views.
type ViewCond struct {
	Min    int
	Within time.Duration
}

// Wait makes a rule fire later: after For, unless an event of one of the
// Unless types happens in between (event time). Restart makes another
// cause re-arm it from the new cause; otherwise a pending wait is kept.
type Wait struct {
	For     time.Duration
	Unless  []state.EventType
	Restart bool
}

// Schedule is a rule's due time computed from state.
type Schedule struct {
	kind schedule
	// Trait holds a date (2027-03-01 or RFC 3339) for scheduleTraitDate.
	Trait string
	// Offset shifts the date (negative: before it).
	Offset time.Duration
	// Factor × the contact's typical gap between purchase days is the
	// delay after the last order for scheduleOverdue; MinOrders distinct
	// purchase days are needed to know a typical gap.
	Factor    float64
	MinOrders int
}

// Rule is one trigger rule. Rules are immutable once parsed.
type Rule struct {
	ID          string
	Description string
	Journey     Journey
	Step        int
	Channel     Channel
	Priority    int // 0..1000, higher wins a deferral slot
	Kind        Kind
	// List, when set, requires the contact's subscription to that list of
	// the subscription centre (marketing only).
	List    string
	Fields  Field
	OnBlock OnBlock
	// Expires bounds how late the trigger may still be emitted after its
	// cause (late events, deferral) and is the payload's expires_at.
	Expires time.Duration
	// Once: at most one emission per contact, ever. Cooldown: at most one
	// per Cooldown.
	Once     bool
	Cooldown time.Duration

	On       []Cause // any one clause
	Schedule *Schedule
	When     Conditions
	Wait     *Wait

	index int // position in the rule set
	line  int // line in the rule file
	kinds causeKind
}
