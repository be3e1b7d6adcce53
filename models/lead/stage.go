package lead

// Stage is a contact's lifecycle stage. Its value is stored in
// state.Scores.Stage and in state.Transition.From/To, so the numbers are
// persistent: append new stages at the end, never renumber.
type Stage uint8

// The lifecycle stages, in funnel order except StageLapsed, which comes
// after StageCustomer because it was added to the funnel's end: a lapsed
// contact is a former customer.
const (
	StageUnknown  Stage = iota // never classified (no Apply yet)
	StageVisitor               // anonymous: no contact id and no email
	StageLead                  // known: has a contact id or an email address
	StageMQL                   // marketing-qualified: score reached lifecycle.mql
	StageSQL                   // sales-qualified: score reached lifecycle.sql, or sales accepted
	StageCustomer              // at least one net order (Orders.Count > 0)
	StageLapsed                // a customer the churn model marked lapsed (MarkLapsed)
	numStages
)

var stageNames = [numStages]string{"unknown", "visitor", "lead", "mql", "sql", "customer", "lapsed"}

// String returns the stage's name as the API shows it ("mql", "customer").
func (s Stage) String() string {
	if s < numStages {
		return stageNames[s]
	}
	return "unknown"
}

// MarshalText renders the stage by name, for JSON.
func (s Stage) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseStage maps a name returned by String back to its Stage; ok is false
// for anything else.
func ParseStage(name string) (Stage, bool) {
	for i, n := range stageNames {
		if n == name {
			return Stage(i), true
		}
	}
	return StageUnknown, false
}

// rank orders the stages along the funnel for hysteresis: a contact holds
// a qualified stage with the lower bar while it is at that stage or above.
// Lapsed ranks with customer.
func (s Stage) rank() int {
	if s == StageLapsed {
		return int(StageCustomer)
	}
	if s >= numStages {
		return 0
	}
	return int(s)
}
