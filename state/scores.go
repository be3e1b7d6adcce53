package state

// LeadRule is the stored state of one behavioural lead-scoring rule for a
// contact: its points decayed to At, and the hits counted in its current
// cap window. The score at any later instant is the points decayed from At
// by the rule group's half-life, so reading a score needs no write.
type LeadRule struct {
	Rule        string  // rule id in the scoring plan
	Points      float64 // points valid at At
	At          int64   // event time the points are valid at
	Hits        uint32  // hits inside the window that started at WindowStart
	WindowStart int64
}

// Transition records a change of lifecycle stage or of RFM segment, for
// triggers and for the audit trail the API shows.
type Transition struct {
	Kind uint8 // TransitionStage or TransitionSegment
	From uint8
	To   uint8
	At   int64
}

// Transition kinds; persistent values.
const (
	TransitionStage   uint8 = 1
	TransitionSegment uint8 = 2
)

// Scores is the stored part of a contact's scores. Everything that depends
// on "now" (decay, recency, P(alive)) is computed at read time from this and
// from the rest of the record (orders, purchase days).
type Scores struct {
	Lead    []LeadRule // sorted by Rule, at most MaxLeadRules
	Stage   uint8      // lifecycle stage (models/lead defines the values)
	StageAt int64
	// Segment is the RFM segment of the last daily snapshot, taken on
	// SegmentDay (days since 1970-01-01, event time).
	Segment    uint8
	SegmentDay int32
	// Transitions are the most recent stage and segment changes, oldest
	// first, at most MaxTransitions.
	Transitions []Transition
}

// Bounds of the scores section.
const (
	MaxLeadRules   = 64
	MaxTransitions = 16
)
