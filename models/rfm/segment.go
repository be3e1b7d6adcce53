package rfm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Segment is a named RFM segment. The numeric values are persisted
// (state.Scores.Segment, segment transitions, trigger payloads) and never
// change: a new segment gets the next free value, a retired one keeps its
// value unused. 0 is NoSegment: not a customer.
type Segment uint8

// The segments; persisted values, never renumbered.
const (
	NoSegment          Segment = 0
	Champions          Segment = 1
	Loyal              Segment = 2
	PotentialLoyalists Segment = 3
	NewCustomers       Segment = 4
	Promising          Segment = 5
	NeedAttention      Segment = 6
	AboutToSleep       Segment = 7
	AtRisk             Segment = 8
	CantLoseThem       Segment = 9
	Hibernating        Segment = 10
	Lost               Segment = 11

	numSegments = 12 // one past the highest value
)

// ErrUnknownSegment is wrapped by ParseSegment and UnmarshalText.
var ErrUnknownSegment = errors.New("rfm: unknown segment")

var segmentNames = [numSegments]string{
	NoSegment:          "None",
	Champions:          "Champions",
	Loyal:              "Loyal",
	PotentialLoyalists: "Potential loyalists",
	NewCustomers:       "New customers",
	Promising:          "Promising",
	NeedAttention:      "Need attention",
	AboutToSleep:       "About to sleep",
	AtRisk:             "At risk",
	CantLoseThem:       "Can't lose them",
	Hibernating:        "Hibernating",
	Lost:               "Lost",
}

// segmentRanks orders the segments from best (1) to worst (11). It is a
// policy, separate from the persisted values, even where they coincide.
var segmentRanks = [numSegments]int{
	Champions:          1,
	Loyal:              2,
	PotentialLoyalists: 3,
	NewCustomers:       4,
	Promising:          5,
	NeedAttention:      6,
	AboutToSleep:       7,
	AtRisk:             8,
	CantLoseThem:       9,
	Hibernating:        10,
	Lost:               11,
}

// segmentGrid is the segment of each (R, FM) cell, indexed [R-1][FM-1]
// with FM = ceil((F+M)/2). doc.go shows it and says how it follows from
// the published grid.
var segmentGrid = [5][5]Segment{
	/* R=1 */ {Lost, Lost, AtRisk, AtRisk, CantLoseThem},
	/* R=2 */ {Lost, Hibernating, AtRisk, AtRisk, AtRisk},
	/* R=3 */ {AboutToSleep, AboutToSleep, NeedAttention, Loyal, Loyal},
	/* R=4 */ {Promising, PotentialLoyalists, PotentialLoyalists, Loyal, Loyal},
	/* R=5 */ {NewCustomers, PotentialLoyalists, PotentialLoyalists, Loyal, Champions},
}

// Segments returns the eleven segments in value order, NoSegment
// excluded: the label values of a metric by segment.
func Segments() []Segment {
	s := make([]Segment, 0, numSegments-1)
	for v := Champions; v < numSegments; v++ {
		s = append(s, v)
	}
	return s
}

// SegmentOf returns the segment of a score: the cell (R, FM) of the grid
// in the package documentation, FM = ceil((F+M)/2). An invalid score (a dimension outside
// 1..5) is NoSegment. It does not allocate.
func SegmentOf(s Score) Segment {
	if !s.Valid() {
		return NoSegment
	}
	fm := (s.F + s.M + 1) / 2
	return segmentGrid[s.R-1][fm-1]
}

// String returns the segment's display name ("Can't lose them"), "None"
// for NoSegment and "Segment(N)" for an unknown value.
func (s Segment) String() string {
	if s < numSegments {
		return segmentNames[s]
	}
	return "Segment(" + strconv.Itoa(int(s)) + ")"
}

// Rank orders segments from best (Champions, 1) to worst (Lost, 11), so
// that Rank(after) > Rank(before) means the customer moved to a worse
// segment. NoSegment and unknown values rank 0: not comparable (see
// Worse).
//
// With F and M fixed, a lower R never gives a better rank, so losing
// recency as days pass always reads as getting worse. The order has one
// exception the other way: at R 1, FM 5 → 4 (Can't lose them → At risk)
// ranks better, because Can't lose them is ranked below At risk, which it
// follows as recency decays (R 2 → 1 at FM 5).
func Rank(s Segment) int {
	if s < numSegments {
		return segmentRanks[s]
	}
	return 0
}

// Worse reports whether moving from segment from to segment to is a move
// to a worse segment. It is false when either is NoSegment or unknown.
func Worse(from, to Segment) bool {
	rf, rt := Rank(from), Rank(to)
	return rf != 0 && rt != 0 && rt > rf
}

// ParseSegment parses a segment name: the display name (String) or its
// snake_case form ("cant_lose_them"), case-insensitively; "-" and " "
// count as "_" and apostrophes are ignored. "none" is NoSegment. Anything
// else wraps ErrUnknownSegment.
func ParseSegment(name string) (Segment, error) {
	key := segmentKey(name)
	for s := range Segment(numSegments) {
		if segmentKey(segmentNames[s]) == key {
			return s, nil
		}
	}
	return NoSegment, fmt.Errorf("%w: %q; use one of %s", ErrUnknownSegment, name, segmentList())
}

// segmentKey folds a name to its snake_case form.
func segmentKey(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, c := range strings.TrimSpace(name) {
		switch {
		case c == '\'' || c == '’':
		case c == ' ' || c == '-' || c == '_':
			b.WriteByte('_')
		case c >= 'A' && c <= 'Z':
			b.WriteRune(c + ('a' - 'A'))
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func segmentList() string {
	names := make([]string, 0, numSegments-1)
	for _, s := range Segments() {
		names = append(names, segmentKey(s.String()))
	}
	return strings.Join(names, ", ")
}

// MarshalText returns the display name, so a Segment reads as "At risk"
// in JSON and YAML. An unknown value is an error.
func (s Segment) MarshalText() ([]byte, error) {
	if s >= numSegments {
		return nil, fmt.Errorf("%w: value %d", ErrUnknownSegment, uint8(s))
	}
	return []byte(segmentNames[s]), nil
}

// UnmarshalText parses what ParseSegment accepts.
func (s *Segment) UnmarshalText(text []byte) error {
	v, err := ParseSegment(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
