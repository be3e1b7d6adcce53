package nba

// Record types on DecisionsTopic. A value without a "type" field is a
// decision (the format before outcomes were logged there).
const (
	RecordDecision = "decision"
	RecordOutcome  = "outcome"
)

// OutcomeRecord is the JSON value the engine logs to kairos.decisions
// when the stream attributes an outcome of a decision (an action_click or
// action_dismiss event, which POST /v1/decisions/{decision_id}/outcome
// also publishes, or an order credited by last touch), keyed by the
// contact key like the decision it answers, once per attributed outcome
// (stream/decisions.go, logOutcome); the timestamp is the outcome event's
// time and value, for an order, its total in major units:
//
//	{"type":"outcome","decision_id":"<32 hex>","action_id":"cart-reminder",
//	 "outcome":"click","timestamp":"2026-11-24T10:00:00Z"}
//
// The propensity trainer joins it to its decision by (decision_id,
// action_id): click and order count as a conversion when they fall within
// the attribution window after the decision, dismiss as none. A consumer
// of kairos.decisions that only wants decisions skips values whose type
// is RecordOutcome.
type OutcomeRecord struct {
	Type string `json:"type"` // RecordOutcome
	Outcome
}

// OutcomeLog builds the log record of an outcome.
func OutcomeLog(o Outcome) OutcomeRecord { return OutcomeRecord{Type: RecordOutcome, Outcome: o} }
