package api

import (
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/valyala/fastjson"
)

// MaxOutcomeBody bounds the body of POST /v1/decisions/{decision_id}/outcome:
// an outcome is three short fields, so anything larger is not one.
const MaxOutcomeBody = 4 << 10

// ErrBadOutcome is wrapped by every *OutcomeError.
var ErrBadOutcome = errors.New("api: bad outcome")

// OutcomeError says what is wrong with an outcome request. Its Error is
// the message for the client (answer it 400 bad_request).
type OutcomeError struct {
	// Field is the JSON field or "decision_id"; "" for the body as a whole.
	Field string
	Msg   string
}

func (e *OutcomeError) Error() string { return e.Msg }

// Unwrap returns ErrBadOutcome.
func (e *OutcomeError) Unwrap() error { return ErrBadOutcome }

// OutcomeKind is what the contact did with a decision's action.
type OutcomeKind uint8

const (
	OutcomeClick OutcomeKind = iota + 1
	OutcomeOrder
	OutcomeDismiss
)

// String returns the kind as written in requests: click, order, dismiss.
func (k OutcomeKind) String() string {
	switch k {
	case OutcomeClick:
		return "click"
	case OutcomeOrder:
		return "order"
	case OutcomeDismiss:
		return "dismiss"
	}
	return "OutcomeKind(" + strconv.Itoa(int(k)) + ")"
}

// Outcome is a decoded POST /v1/decisions/{decision_id}/outcome.
type Outcome struct {
	DecisionID string
	Kind       OutcomeKind
	// Value is the outcome's value (an order's amount in major units),
	// when HasValue.
	Value    float64
	HasValue bool
	// At is when it happened; zero when the body has no timestamp, and
	// the caller takes its own clock.
	At time.Time
}

// DecodeOutcome decodes an outcome request: rawDecisionID is the raw
// (percent-encoded) {decision_id} path segment, body the request body:
//
//	{"outcome":"click|order|dismiss","value":12.5,"timestamp":"2025-03-01T09:30:00Z"}
//
// outcome is required; value (a finite number >= 0) and timestamp (RFC
// 3339) are optional, and null means absent. Unknown and repeated fields
// are refused, so a typo is an error, not a silently ignored field. The
// decision id follows the rules of contact ids (see checkID). Every
// refusal is an *OutcomeError. The Outcome holds no reference to body.
func DecodeOutcome(rawDecisionID, body []byte) (Outcome, error) {
	var o Outcome
	id, ok := percentDecode(nil, rawDecisionID)
	if !ok {
		return o, &OutcomeError{"decision_id", "decision id has a malformed percent-encoding: '%' must be followed by two hex digits"}
	}
	if msg := checkID("decision id", id); msg != "" {
		return o, &OutcomeError{"decision_id", msg}
	}
	o.DecisionID = string(id)

	switch {
	case len(body) == 0:
		return o, &OutcomeError{"", `the body is empty; send a JSON object such as {"outcome":"click"}`}
	case len(body) > MaxOutcomeBody:
		return o, &OutcomeError{"", "the body is " + strconv.Itoa(len(body)) + " bytes; an outcome is at most " + strconv.Itoa(MaxOutcomeBody)}
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return o, &OutcomeError{"", "the body is not valid JSON: " + err.Error()}
	}
	obj, err := v.Object()
	if err != nil {
		return o, &OutcomeError{"", `the body must be a JSON object such as {"outcome":"click"}`}
	}
	var (
		seenOutcome, seenValue, seenTime bool
		fail                             *OutcomeError
	)
	obj.Visit(func(key []byte, fv *fastjson.Value) {
		if fail != nil {
			return
		}
		repeated := func(seen *bool) bool {
			if *seen {
				fail = &OutcomeError{string(key), "the field " + string(key) + " is repeated; give it once"}
				return true
			}
			*seen = true
			return false
		}
		switch string(key) {
		case "outcome":
			if repeated(&seenOutcome) {
				return
			}
			s, err := fv.StringBytes()
			if err != nil {
				fail = &OutcomeError{"outcome", "outcome must be a string: click, order or dismiss"}
				return
			}
			switch string(s) {
			case "click":
				o.Kind = OutcomeClick
			case "order":
				o.Kind = OutcomeOrder
			case "dismiss":
				o.Kind = OutcomeDismiss
			default:
				fail = &OutcomeError{"outcome", "outcome " + quoteShort(s) + " is not one of click, order or dismiss"}
			}
		case "value":
			if repeated(&seenValue) || fv.Type() == fastjson.TypeNull {
				return
			}
			f, err := fv.Float64()
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
				fail = &OutcomeError{"value", "value must be a finite number >= 0"}
				return
			}
			o.Value, o.HasValue = f, true
		case "timestamp":
			if repeated(&seenTime) || fv.Type() == fastjson.TypeNull {
				return
			}
			s, err := fv.StringBytes()
			if err != nil {
				fail = &OutcomeError{"timestamp", `timestamp must be an RFC 3339 string such as "2025-03-01T09:30:00Z"`}
				return
			}
			t, err := time.Parse(time.RFC3339Nano, string(s))
			if err != nil {
				fail = &OutcomeError{"timestamp", "timestamp " + quoteShort(s) + ` is not RFC 3339, such as "2025-03-01T09:30:00Z"`}
				return
			}
			o.At = t
		default:
			fail = &OutcomeError{"", "unknown field " + quoteShort(key) + "; an outcome has outcome, value and timestamp"}
		}
	})
	if fail != nil {
		return Outcome{}, fail
	}
	if o.Kind == 0 {
		return Outcome{}, &OutcomeError{"outcome", "outcome is missing; give click, order or dismiss"}
	}
	return o, nil
}

// quoteShort quotes client input for an error message, cut to 64 bytes.
func quoteShort(b []byte) string {
	if len(b) > 64 {
		return strconv.Quote(string(b[:64])) + "..."
	}
	return strconv.Quote(string(b))
}
