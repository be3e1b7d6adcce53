package nba

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DecisionsTopic is the Kafka topic decision records are logged to.
const DecisionsTopic = "kairos.decisions"

// LoggedChoice is one shown action in a decision record.
type LoggedChoice struct {
	Action     string  `json:"action_id"`
	Rank       int     `json:"rank"`
	Score      float64 `json:"score"`
	Propensity float64 `json:"propensity"` // posterior mean P(conversion)
	Sample     float64 `json:"sample"`     // the draw the ranking used
	Weight     float64 `json:"weight"`
	Fallback   bool    `json:"fallback,omitempty"`
	// LoggingProbability is the probability that the policy would have
	// shown this action to this contact in this decision (the Thompson
	// draw's win rate, 1/eligible for a random control): optional, used by
	// `kairos train propensity` for off-policy (IPW) estimates; 0 when
	// not known.
	LoggingProbability float64 `json:"logging_probability,omitempty"`
	// Model names the learned propensity model whose estimate for this
	// contact the ranking used ("" when it used the per-group posterior
	// alone).
	Model string `json:"model,omitempty"`
}

// DecisionRecord is the JSON value logged to kairos.decisions for every
// decision, keyed by the contact key so it lands on the contact's
// partition. The worker that folds it records the impressions in the
// contact's History and the impressions in its Stats; outcomes later
// reference DecisionID.
type DecisionRecord struct {
	DecisionID  DecisionID     `json:"decision_id"`
	At          time.Time      `json:"timestamp"`
	ContactID   string         `json:"contact_id,omitempty"`
	AnonymousID string         `json:"anonymous_id,omitempty"`
	Placement   string         `json:"placement"`
	Group       string         `json:"group"`
	Control     bool           `json:"control"`
	Policy      string         `json:"policy"`
	Catalogue   string         `json:"catalogue_version"`
	Eligible    int            `json:"eligible"`
	Choices     []LoggedChoice `json:"actions"`

	// Training fields (optional, additive): the contact's feature vector
	// at the decision's instant, features.Compute(contact, At), and the
	// features.Version it was computed with. A decision without them is
	// not a training example for the propensity model. Type is "" or
	// RecordDecision; OutcomeRecord values on the same topic carry
	// RecordOutcome.
	Type           string    `json:"type,omitempty"`
	FeatureVersion int       `json:"feature_version,omitempty"`
	Features       []float32 `json:"features,omitempty"`
}

// Record builds the log record of a decision. It allocates (the choices
// slice): build it off the response path, or accept the cost once per
// decision.
func (p *Policy) Record(d Decision, at time.Time, contactID, anonymousID string) DecisionRecord {
	r := DecisionRecord{
		DecisionID: d.ID, At: at.UTC(), ContactID: contactID, AnonymousID: anonymousID,
		Placement: d.Placement, Group: d.Group, Control: d.Control, Policy: d.Policy,
		Catalogue: p.cat.version, Eligible: d.Eligible,
		Choices: make([]LoggedChoice, len(d.Choices)),
	}
	for i, c := range d.Choices {
		r.Choices[i] = LoggedChoice{Action: c.Action.ID, Rank: i + 1, Score: c.Score, Propensity: c.Propensity, Sample: c.Sample, Weight: c.Weight, Fallback: c.Fallback}
	}
	return r
}

// Outcome is what a contact did with an action a decision showed: a click
// on it, an order within the action's attribution window, or a dismissal.
// It arrives as an event on the normal event topics (or through
// POST /v1/decisions/{decision_id}/outcome) and references the decision.
type Outcome struct {
	DecisionID DecisionID  `json:"decision_id"`
	Action     string      `json:"action_id"`
	Kind       OutcomeKind `json:"outcome"`
	At         time.Time   `json:"timestamp"`
	// Value is the order total (major units) for an order outcome.
	Value float64 `json:"value,omitempty"`
}

// MarshalText renders the kind by name.
func (k OutcomeKind) MarshalText() ([]byte, error) {
	if k < OutcomeClick || k > OutcomeDismiss {
		return nil, ErrUnknownOutcome
	}
	return []byte(k.String()), nil
}

// UnmarshalText parses click, order or dismiss.
func (k *OutcomeKind) UnmarshalText(b []byte) error {
	v, err := ParseOutcomeKind(string(b))
	*k = v
	return err
}

// ErrBadOutcome is wrapped by ParseOutcome for anything it rejects.
var ErrBadOutcome = errors.New("nba: bad outcome")

// ParseOutcome decodes and validates an outcome's JSON (the body of POST
// /v1/decisions/{decision_id}/outcome, with decision_id possibly absent
// there and filled from the path by the caller). Unknown fields are
// errors; the action must exist in cat when cat is not nil.
func ParseOutcome(b []byte, cat *Catalogue) (Outcome, error) {
	var o Outcome
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrBadOutcome, err)
	}
	if dec.More() {
		return Outcome{}, fmt.Errorf("%w: trailing data after the JSON object", ErrBadOutcome)
	}
	switch {
	case o.Action == "":
		return Outcome{}, fmt.Errorf("%w: action_id is required", ErrBadOutcome)
	case o.Kind == 0:
		return Outcome{}, fmt.Errorf("%w: outcome is required (click, order or dismiss)", ErrBadOutcome)
	case cat != nil && cat.Action(o.Action) == nil:
		return Outcome{}, fmt.Errorf("%w: unknown action_id %q", ErrBadOutcome, o.Action)
	case o.Value < 0 || o.Value != o.Value:
		return Outcome{}, fmt.Errorf("%w: value must be a non-negative number", ErrBadOutcome)
	}
	return o, nil
}
