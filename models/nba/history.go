package nba

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/cespare/xxhash/v2"
)

// DecisionID identifies one decision. It also seeds the decision's random
// draws, so the same id, context, history and statistics give the same
// ranking again (a decision can be reproduced from its log record).
type DecisionID [16]byte

// NewDecisionID returns a random id (math/rand/v2's runtime source: fast,
// safe for concurrent use, not guessable enough to matter for a key that
// only correlates outcomes).
func NewDecisionID() DecisionID {
	var id DecisionID
	binary.LittleEndian.PutUint64(id[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(id[8:], rand.Uint64())
	return id
}

// Seed is the 64-bit value the decision's draws are seeded with.
func (id DecisionID) Seed() uint64 {
	return binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])
}

// String returns the id as 32 lower-case hex digits.
func (id DecisionID) String() string { return hex.EncodeToString(id[:]) }

// AppendText appends the 32 hex digits to b, without allocating when b has
// room.
func (id DecisionID) AppendText(b []byte) ([]byte, error) { return hex.AppendEncode(b, id[:]), nil }

// MarshalText is String as bytes, for JSON.
func (id DecisionID) MarshalText() ([]byte, error) { return id.AppendText(nil) }

// UnmarshalText parses 32 hex digits.
func (id *DecisionID) UnmarshalText(b []byte) error {
	parsed, err := ParseDecisionID(string(b))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// ErrBadDecisionID is returned for a decision id that is not 32 hex digits.
var ErrBadDecisionID = errors.New("nba: decision_id must be 32 hexadecimal digits")

// ParseDecisionID parses the form String returns.
func ParseDecisionID(s string) (DecisionID, error) {
	var id DecisionID
	if len(s) != 2*len(id) {
		return id, ErrBadDecisionID
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, ErrBadDecisionID
	}
	return id, nil
}

// MaxHistory bounds the actions a History remembers; the least recently
// shown is forgotten first. With it a History encodes in at most
// MaxHistoryBytes.
const MaxHistory = 32

// MaxHistoryBytes bounds History.AppendBinary's output.
const MaxHistoryBytes = 2 + MaxHistory*(4+3*binary.MaxVarintLen64+8+1)

// HistoryEntry is what a contact's History remembers about one action.
type HistoryEntry struct {
	Action      uint32 // hash of the action id (collisions are refused at catalogue load)
	WindowStart int64  // Unix ms: first impression of the current cap window
	Count       uint16 // impressions in the current cap window
	LastShown   int64  // Unix ms
	// LastDecision is the seed of the last decision that showed the action;
	// an outcome for another decision is not attributed (see RecordOutcome).
	LastDecision uint64
	Flags        uint8
}

// HistoryEntry flags.
const (
	FlagConverted     uint8 = 1 << iota // converted at least once
	FlagLastConverted                   // the last decision's impression already converted
	FlagDismissed                       // dismissed in the current cap window
)

// History is a contact's impressions, conversions and dismissals per
// action, for caps and attribution. It is a fixed-size value (no
// allocation to decode or update), stored in the contact record through
// AppendBinary and UnmarshalBinary. One partition worker owns it, like
// the rest of the record.
type History struct {
	n int
	e [MaxHistory]HistoryEntry
}

// Len is the number of actions remembered.
func (h *History) Len() int { return h.n }

// Entry returns the i-th entry, 0 ≤ i < Len.
func (h *History) Entry(i int) HistoryEntry { return h.e[i] }

func (h *History) find(hash uint32) *HistoryEntry {
	for i := 0; i < h.n; i++ {
		if h.e[i].Action == hash {
			return &h.e[i]
		}
	}
	return nil
}

// RecordImpression notes that decision id showed a at time at (Unix ms).
// Late impressions (at before the current window) count in the current
// window, so caps may over-count around late records, never under-count.
func (h *History) RecordImpression(a *Action, id DecisionID, at int64) {
	e := h.find(a.hash)
	if e == nil {
		if h.n < MaxHistory {
			e = &h.e[h.n]
			h.n++
		} else {
			// Forget the least recently shown action.
			e = &h.e[0]
			for i := 1; i < h.n; i++ {
				if h.e[i].LastShown < e.LastShown {
					e = &h.e[i]
				}
			}
		}
		*e = HistoryEntry{Action: a.hash, WindowStart: at}
	}
	if at >= e.WindowStart+capWindow(a) {
		e.WindowStart, e.Count = at, 0
		e.Flags &^= FlagDismissed
	}
	if e.Count < 65535 {
		e.Count++
	}
	if at >= e.LastShown {
		e.LastShown = at
		e.LastDecision = id.Seed()
		e.Flags &^= FlagLastConverted
	}
}

// OutcomeKind is what a contact did with an action it was shown.
type OutcomeKind uint8

// The outcome kinds.
const (
	OutcomeClick OutcomeKind = iota + 1
	OutcomeOrder
	OutcomeDismiss
)

var outcomeNames = [...]string{"", "click", "order", "dismiss"}

func (k OutcomeKind) String() string {
	if int(k) < len(outcomeNames) && k > 0 {
		return outcomeNames[k]
	}
	return "unknown"
}

// ErrUnknownOutcome is returned for an outcome kind other than click, order
// and dismiss.
var ErrUnknownOutcome = errors.New("nba: outcome must be click, order or dismiss")

// ParseOutcomeKind maps "click", "order" and "dismiss" to their kind.
func ParseOutcomeKind(s string) (OutcomeKind, error) {
	for i, n := range outcomeNames {
		if i > 0 && n == s {
			return OutcomeKind(i), nil
		}
	}
	return 0, fmt.Errorf("%w, not %q", ErrUnknownOutcome, s)
}

// Attribution is how an outcome was counted.
type Attribution uint8

// Attribution results.
const (
	// Attributed: the outcome counts (a conversion, or a dismissal).
	Attributed Attribution = iota
	// NotShown: the history has no impression of the action by that
	// decision (an older decision, a forgotten action, a forged id).
	NotShown
	// AlreadyConverted: the decision's impression already converted; a
	// click followed by an order is one conversion.
	AlreadyConverted
	// OutsideWindow: the outcome came after the action's attribution
	// window.
	OutsideWindow
)

var attributionNames = [...]string{"attributed", "not_shown", "already_converted", "outside_window"}

func (a Attribution) String() string {
	if int(a) < len(attributionNames) {
		return attributionNames[a]
	}
	return "unknown"
}

// RecordOutcome attributes an outcome of decision id on action a at time
// at. Only the latest decision that showed an action can be credited, at
// most one conversion per impression, within a.Attribution of it. A click
// or an order marks the action converted (StopAfterConversion then keeps
// it from being offered again); a dismissal suppresses it for the rest of
// its cap window (or one day when it has no cap). The caller adds the
// outcome to the Stats only when the result is Attributed.
func (h *History) RecordOutcome(a *Action, id DecisionID, kind OutcomeKind, at int64) Attribution {
	e := h.find(a.hash)
	if e == nil || e.LastDecision != id.Seed() {
		return NotShown
	}
	if at-e.LastShown > a.Attribution.Milliseconds() {
		return OutsideWindow
	}
	if kind == OutcomeDismiss {
		e.Flags |= FlagDismissed
		return Attributed
	}
	if e.Flags&FlagLastConverted != 0 {
		return AlreadyConverted
	}
	e.Flags |= FlagConverted | FlagLastConverted
	return Attributed
}

// reason codes for ineligibility; stable, shown by Explain.
const (
	ReasonPlacement  = "placement"     // not shown in this placement
	ReasonNotYet     = "not_yet_valid" // before valid_from
	ReasonExpired    = "expired"       // after valid_until
	ReasonConsent    = "no_consent"    // message placement without opt-in
	ReasonPressure   = "pressure"      // marketing-pressure limit reached
	ReasonCap        = "cap"           // cap of impressions in the window reached
	ReasonConverted  = "converted"     // converted before and stop_after_conversion
	ReasonDismissed  = "dismissed"     // dismissed in the current window
	ReasonCondition  = "condition"     // an eligibility condition is false
	ReasonUnknownPlc = "unknown_placement"
)

// blocked returns why the history forbids showing a at now, or "".
func (h *History) blocked(a *Action, now int64) string {
	if h == nil {
		return ""
	}
	e := h.find(a.hash)
	if e == nil {
		return ""
	}
	if a.StopAfterConversion && e.Flags&FlagConverted != 0 {
		return ReasonConverted
	}
	inWindow := now < e.WindowStart+capWindow(a)
	if e.Flags&FlagDismissed != 0 && inWindow {
		return ReasonDismissed
	}
	if a.CapMax > 0 && inWindow && e.Count >= a.CapMax {
		return ReasonCap
	}
	return ""
}

const historyVersion = 1

// AppendBinary appends the compact encoding of h to b (at most
// MaxHistoryBytes).
func (h *History) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, historyVersion, byte(h.n))
	for i := 0; i < h.n; i++ {
		e := &h.e[i]
		b = binary.LittleEndian.AppendUint32(b, e.Action)
		b = binary.AppendVarint(b, e.WindowStart)
		b = binary.AppendUvarint(b, uint64(e.Count))
		b = binary.AppendVarint(b, e.LastShown-e.WindowStart)
		b = binary.LittleEndian.AppendUint64(b, e.LastDecision)
		b = append(b, e.Flags)
	}
	return b, nil
}

// ErrBadHistory is wrapped by UnmarshalBinary for a damaged encoding.
var ErrBadHistory = errors.New("nba: bad history encoding")

// UnmarshalBinary decodes what AppendBinary wrote, replacing h. An empty
// input is an empty history. It does not allocate and does not keep b.
func (h *History) UnmarshalBinary(b []byte) error {
	if err := h.decode(b); err != nil {
		*h = History{}
		return err
	}
	return nil
}

func (h *History) decode(b []byte) error {
	*h = History{}
	if len(b) == 0 {
		return nil
	}
	if len(b) < 2 || b[0] != historyVersion {
		return fmt.Errorf("%w: unknown version", ErrBadHistory)
	}
	n := int(b[1])
	if n > MaxHistory {
		return fmt.Errorf("%w: %d entries, at most %d", ErrBadHistory, n, MaxHistory)
	}
	b = b[2:]
	for i := range n {
		var e HistoryEntry
		if len(b) < 4 {
			return fmt.Errorf("%w: entry %d truncated", ErrBadHistory, i)
		}
		e.Action = binary.LittleEndian.Uint32(b)
		b = b[4:]
		ws, k := binary.Varint(b)
		if k <= 0 {
			return fmt.Errorf("%w: entry %d: window start", ErrBadHistory, i)
		}
		b = b[k:]
		c, k := binary.Uvarint(b)
		if k <= 0 || c > 65535 {
			return fmt.Errorf("%w: entry %d: count", ErrBadHistory, i)
		}
		b = b[k:]
		ls, k := binary.Varint(b)
		if k <= 0 {
			return fmt.Errorf("%w: entry %d: last shown", ErrBadHistory, i)
		}
		b = b[k:]
		if len(b) < 9 {
			return fmt.Errorf("%w: entry %d truncated", ErrBadHistory, i)
		}
		e.WindowStart, e.Count, e.LastShown = ws, uint16(c), ws+ls
		e.LastDecision = binary.LittleEndian.Uint64(b)
		e.Flags = b[8]
		b = b[9:]
		if e.Flags&^(FlagConverted|FlagLastConverted|FlagDismissed) != 0 {
			return fmt.Errorf("%w: entry %d: unknown flags %#x", ErrBadHistory, i, e.Flags)
		}
		for j := 0; j < i; j++ {
			if h.e[j].Action == e.Action {
				return fmt.Errorf("%w: entry %d repeats an action", ErrBadHistory, i)
			}
		}
		h.e[i] = e
		h.n = i + 1
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadHistory, len(b))
	}
	return nil
}

// capWindow is the window impressions are counted in (and a dismissal
// lasts): the action's cap period, or a day when it has no cap.
func capWindow(a *Action) int64 {
	if a.CapPer > 0 {
		return a.CapPer.Milliseconds()
	}
	return msPerDay
}

// hashID is an action's key in a History. Catalogue loading refuses two
// ids with the same hash.
func hashID(id string) uint32 { return uint32(xxhash.Sum64String(id)) }

// ActionByHash returns the catalogue action whose id hashes to h, as
// History entries name actions, or nil (an action since removed from the
// catalogue). Exports and audits use it; it scans the catalogue.
func (c *Catalogue) ActionByHash(h uint32) *Action {
	for _, a := range c.actions {
		if hashID(a.ID) == h {
			return a
		}
	}
	return nil
}
