package nba

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Ledger is the next-best-action part of a contact record
// (state.Contact.Decisions): the History that caps and attribution read,
// and, per remembered action, the context group and arm of the decision
// that last showed it. An outcome event names only the decision and the
// action; the group and arm say which Stats cell its conversion belongs
// to, and they must be those of the decision, not of the contact's state
// when the outcome arrives (its stage may have moved on). The arm also
// keeps the full id of that decision (the History keeps only its seed),
// so that an order attributed by last touch can be logged against the
// decision it converts (LastDecision).
//
// One partition worker owns a contact's Ledger; the API reads only the
// History (LedgerHistory), without allocating.
type Ledger struct {
	History History
	n       int
	arms    [MaxHistory]ledgerArm
}

type ledgerArm struct {
	action   uint32
	control  bool
	group    string
	decision DecisionID // zero when not known (a ledger written before ids were kept)
}

// ErrBadLedger is wrapped by UnmarshalBinary and LedgerHistory for a
// damaged encoding.
var ErrBadLedger = errors.New("nba: bad decision ledger encoding")

// maxGroupLen bounds a stored group name: a placement id and a stage.
const maxGroupLen = 2*MaxIDLen + 1

// The encoding is uvarint(len(history)) history, then a count byte and per
// arm: action hash (4 bytes LE), flags byte (armControl, armDecision),
// the decision id (16 bytes) when armDecision is set, uvarint(len(group))
// group. Ledgers written before decision ids were kept have flags 0 or 1
// and decode unchanged.
const (
	armControl  = 1 << 0
	armDecision = 1 << 1
)

// LedgerHistory decodes only the History of an encoded Ledger into h (an
// empty input is an empty history). It allocates nothing: the API calls
// it on every next-best-action request.
func LedgerHistory(b []byte, h *History) error {
	hist, _, err := splitLedger(b)
	if err != nil {
		*h = History{}
		return err
	}
	if err := h.UnmarshalBinary(hist); err != nil {
		return fmt.Errorf("%w: %w", ErrBadLedger, err)
	}
	return nil
}

func splitLedger(b []byte) (hist, rest []byte, err error) {
	if len(b) == 0 {
		return nil, nil, nil
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) || n > MaxHistoryBytes {
		return nil, nil, fmt.Errorf("%w: history length", ErrBadLedger)
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

// UnmarshalBinary decodes what AppendBinary wrote, replacing l. An empty
// input is an empty ledger.
func (l *Ledger) UnmarshalBinary(b []byte) error {
	*l = Ledger{}
	hist, rest, err := splitLedger(b)
	if err != nil {
		return err
	}
	if err := l.History.UnmarshalBinary(hist); err != nil {
		return fmt.Errorf("%w: %w", ErrBadLedger, err)
	}
	if len(b) == 0 {
		return nil
	}
	if len(rest) < 1 || int(rest[0]) > MaxHistory {
		*l = Ledger{}
		return fmt.Errorf("%w: arm count", ErrBadLedger)
	}
	n := int(rest[0])
	rest = rest[1:]
	for i := range n {
		if len(rest) < 5 {
			*l = Ledger{}
			return fmt.Errorf("%w: arm %d truncated", ErrBadLedger, i)
		}
		flags := rest[4]
		if flags&^(armControl|armDecision) != 0 {
			*l = Ledger{}
			return fmt.Errorf("%w: arm %d: unknown flags %#x", ErrBadLedger, i, flags)
		}
		a := ledgerArm{action: binary.LittleEndian.Uint32(rest), control: flags&armControl != 0}
		rest = rest[5:]
		if flags&armDecision != 0 {
			if len(rest) < len(a.decision) {
				*l = Ledger{}
				return fmt.Errorf("%w: arm %d decision id truncated", ErrBadLedger, i)
			}
			a.decision = DecisionID(rest[:len(a.decision)])
			rest = rest[len(a.decision):]
		}
		gl, k := binary.Uvarint(rest)
		if k <= 0 || gl > maxGroupLen || gl > uint64(len(rest)-k) {
			*l = Ledger{}
			return fmt.Errorf("%w: arm %d group", ErrBadLedger, i)
		}
		a.group = string(rest[k : k+int(gl)])
		rest = rest[k+int(gl):]
		l.arms[i] = a
	}
	l.n = n
	if len(rest) != 0 {
		*l = Ledger{}
		return fmt.Errorf("%w: %d trailing bytes", ErrBadLedger, len(rest))
	}
	return nil
}

// AppendBinary appends the encoding of l to b. Arms of actions the
// History has forgotten are dropped; an empty ledger encodes as nothing.
//
// Its output is at most MaxLedgerBytes: every remembered arm belongs to an
// action of the History (at most MaxHistory), and a group name is a
// placement id (at most MaxIDLen) and a stage group.
func (l *Ledger) AppendBinary(b []byte) ([]byte, error) {
	if l.History.Len() == 0 {
		return b, nil
	}
	var tmp [MaxHistoryBytes]byte
	hist, err := l.History.AppendBinary(tmp[:0])
	if err != nil {
		return b, err
	}
	b = binary.AppendUvarint(b, uint64(len(hist)))
	b = append(b, hist...)
	countAt := len(b)
	b = append(b, 0)
	n := 0
	for i := 0; i < l.n; i++ {
		a := &l.arms[i]
		if l.History.find(a.action) == nil {
			continue
		}
		b = binary.LittleEndian.AppendUint32(b, a.action)
		flags := byte(0)
		if a.control {
			flags |= armControl
		}
		if a.decision != (DecisionID{}) {
			flags |= armDecision
		}
		b = append(b, flags)
		if flags&armDecision != 0 {
			b = append(b, a.decision[:]...)
		}
		b = binary.AppendUvarint(b, uint64(len(a.group)))
		b = append(b, a.group...)
		n++
	}
	b[countAt] = byte(n)
	return b, nil
}

// MaxLedgerBytes bounds Ledger.AppendBinary's output: the History, then
// per arm its action hash, flags, decision id and group name.
const MaxLedgerBytes = binary.MaxVarintLen64 + MaxHistoryBytes + 1 +
	MaxHistory*(4+1+len(DecisionID{})+binary.MaxVarintLen64+MaxIDLen+1+maxStageGroupLen)

// maxStageGroupLen is the longest stage group name ("customer").
const maxStageGroupLen = 8

// arm returns the remembered arm of an action hash, or nil.
func (l *Ledger) arm(hash uint32) *ledgerArm {
	for i := 0; i < l.n; i++ {
		if l.arms[i].action == hash {
			return &l.arms[i]
		}
	}
	return nil
}

func (l *Ledger) setArm(hash uint32, group string, control bool, id DecisionID) {
	if a := l.arm(hash); a != nil {
		a.group, a.control = group, control
		if e := l.History.find(hash); e != nil && e.LastDecision == id.Seed() {
			a.decision = id
		}
		return
	}
	if l.n == MaxHistory {
		// Make room: drop the arm of an action the History forgot.
		j := 0
		for i := 0; i < l.n; i++ {
			if l.History.find(l.arms[i].action) != nil {
				l.arms[j] = l.arms[i]
				j++
			}
		}
		l.n = j
		if l.n == MaxHistory {
			return
		}
	}
	a := ledgerArm{action: hash, group: group, control: control}
	if e := l.History.find(hash); e != nil && e.LastDecision == id.Seed() {
		a.decision = id
	}
	l.arms[l.n] = a
	l.n++
}

// LastDecision returns the id of the latest decision that showed action,
// the one an outcome of the action is attributed to (History keeps only
// its seed); ok is false when the ledger does not know it (the action was
// not shown, or the ledger predates the ids).
func (l *Ledger) LastDecision(action *Action) (id DecisionID, ok bool) {
	e := l.History.find(action.hash)
	a := l.arm(action.hash)
	if e == nil || a == nil || a.decision == (DecisionID{}) || a.decision.Seed() != e.LastDecision {
		return DecisionID{}, false
	}
	return a.decision, true
}

// RecordDecision applies a logged decision: an impression in the History
// and an impression in s (when not nil) for every shown action the
// catalogue knows, and one decision of the record's arm. It returns the
// impressions recorded. Actions of an older catalogue that are gone are
// skipped: nothing can be decided about them any more.
func (l *Ledger) RecordDecision(cat *Catalogue, rec *DecisionRecord, s *Stats) int {
	at := rec.At.UnixMilli()
	n := 0
	for i := range rec.Choices {
		a := cat.Action(rec.Choices[i].Action)
		if a == nil {
			continue
		}
		l.History.RecordImpression(a, rec.DecisionID, at)
		l.setArm(a.hash, rec.Group, rec.Control, rec.DecisionID)
		if s != nil {
			s.Add(Key{Action: a.ID, Group: rec.Group, Control: rec.Control}, Counts{Impressions: 1})
		}
		n++
	}
	if s != nil {
		s.AddDecision(rec.Control)
	}
	return n
}

// RecordOutcome attributes an outcome (History.RecordOutcome) and, when
// it is Attributed, adds it to s in the cell of the decision that showed
// the action: a conversion for a click or an order, a dismissal for a
// dismissal. An action the catalogue does not know is NotShown.
func (l *Ledger) RecordOutcome(cat *Catalogue, id DecisionID, action string, kind OutcomeKind, at int64, s *Stats) Attribution {
	a := cat.Action(action)
	if a == nil {
		return NotShown
	}
	res := l.History.RecordOutcome(a, id, kind, at)
	if res != Attributed || s == nil {
		return res
	}
	arm := l.arm(a.hash)
	if arm == nil {
		// An impression recorded before arms were kept: its cell is
		// unknown, the History still learns the outcome.
		return res
	}
	c := Counts{Conversions: 1}
	if kind == OutcomeDismiss {
		c = Counts{Dismissals: 1}
	}
	s.Add(Key{Action: a.ID, Group: arm.group, Control: arm.control}, c)
	return res
}

// RecordOrder attributes an order placed at `at` that names no decision:
// last touch, to the most recently shown action still within its
// attribution window. If that impression already converted (the contact
// clicked it, then ordered), the order is the same conversion and nothing
// is added. It returns the attribution and the action credited (nil when
// none).
func (l *Ledger) RecordOrder(cat *Catalogue, at int64, s *Stats) (Attribution, *Action) {
	var (
		best  *Action
		entry HistoryEntry
	)
	for _, a := range cat.actions {
		e := l.History.find(a.hash)
		if e == nil || at < e.LastShown || at-e.LastShown > a.Attribution.Milliseconds() {
			continue
		}
		if best == nil || e.LastShown > entry.LastShown {
			best, entry = a, *e
		}
	}
	if best == nil {
		return NotShown, nil
	}
	var id DecisionID
	binary.LittleEndian.PutUint64(id[:8], entry.LastDecision) // Seed() of id is LastDecision
	return l.RecordOutcome(cat, id, best.ID, OutcomeOrder, at, s), best
}

// Absorb merges o, the ledger of a profile merged into this ledger's
// contact (a visitor who signed up or logged in), so that what the visitor
// was shown still counts towards caps and their later outcomes are still
// attributed. Per action:
//   - the side with the later impression keeps attribution: its last
//     decision, whether that impression converted, and its arm;
//   - impressions whose cap windows overlap add up in the earlier window
//     (caps may over-count after a merge, never under-count); otherwise
//     the later window is the current one;
//   - converted stays converted, and a dismissal in the current window
//     stays.
//
// When the two remember more than MaxHistory actions together, the least
// recently shown are forgotten. cat gives the cap windows; an action it no
// longer has uses the one-day window of actions without a cap.
func (l *Ledger) Absorb(cat *Catalogue, o *Ledger) {
	type merged struct {
		e   HistoryEntry
		arm *ledgerArm
	}
	all := make([]merged, 0, l.History.n+o.History.n)
	for i := 0; i < l.History.n; i++ {
		all = append(all, merged{l.History.e[i], l.arm(l.History.e[i].Action)})
	}
	for i := 0; i < o.History.n; i++ {
		y := o.History.e[i]
		yarm := o.arm(y.Action)
		j := slices.IndexFunc(all, func(m merged) bool { return m.e.Action == y.Action })
		if j < 0 {
			all = append(all, merged{y, yarm})
			continue
		}
		x := &all[j]
		window := int64(msPerDay)
		if a := cat.ActionByHash(y.Action); a != nil {
			window = capWindow(a)
		}
		later, earlier := x.e, y
		if y.LastShown > x.e.LastShown {
			later, earlier = y, x.e
			x.arm = yarm
		}
		m := later
		m.Flags = later.Flags&(FlagLastConverted|FlagDismissed) | (later.Flags|earlier.Flags)&FlagConverted
		lo, hi := min(x.e.WindowStart, y.WindowStart), max(x.e.WindowStart, y.WindowStart)
		if hi < lo+window {
			m.WindowStart = lo
			m.Count = uint16(min(65535, int(x.e.Count)+int(y.Count)))
			m.Flags |= (x.e.Flags | y.Flags) & FlagDismissed
		} else if y.WindowStart > x.e.WindowStart {
			m.WindowStart, m.Count = y.WindowStart, y.Count
			m.Flags = m.Flags&^FlagDismissed | y.Flags&FlagDismissed
		} else {
			m.WindowStart, m.Count = x.e.WindowStart, x.e.Count
			m.Flags = m.Flags&^FlagDismissed | x.e.Flags&FlagDismissed
		}
		x.e = m
	}
	// Keep the MaxHistory most recently shown.
	slices.SortStableFunc(all, func(a, b merged) int { return cmp.Compare(b.e.LastShown, a.e.LastShown) })
	all = all[:min(len(all), MaxHistory)]
	var out Ledger
	for _, m := range all {
		out.History.e[out.History.n] = m.e
		out.History.n++
		if m.arm != nil {
			out.arms[out.n] = *m.arm
			out.n++
		}
	}
	*l = out
}
