package trigger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ContactState is what the trigger engine remembers about one contact,
// stored with the contact's record (AppendBinary, UnmarshalBinary): its
// recent marketing emissions per channel (the pressure history), the timers
// armed for it, and when each rule last emitted (once and cooldown). Every
// part is bounded, so a busy contact cannot grow its record: at most
// MaxSends emissions per channel, one timer per rule plus one deferral
// slot per channel, one entry per rule.
type ContactState struct {
	// Sends holds the event times of marketing emissions per contact
	// channel (email, sms, push), ascending, the newest MaxSends.
	Sends [3][]int64
	// Timers are the armed timers, sorted by Name.
	Timers []Armed
	// Fired holds each rule's latest emission, sorted by Rule.
	Fired []Fired
}

// Armed is one timer the engine armed for the contact; it mirrors the
// state.Timer stored in Pebble (Name, Due), so that the event that cancels
// it knows its key without reading.
type Armed struct {
	Name     string // the timer's name: the rule id, or a deferral slot
	Rule     string // the rule it will evaluate
	Due      int64
	Cause    int64 // event time of the cause; an unless event before it does not cancel
	Priority int32 // of a deferred trigger: a higher one displaces it
}

// Fired is a rule's latest emission for the contact.
type Fired struct {
	Rule string
	At   int64
}

// Bounds of a ContactState.
const (
	MaxSends  = 16
	maxArmed  = MaxRules + 3
	maxFired  = MaxRules
	maxString = 256
)

// ErrCorruptState is wrapped by UnmarshalBinary for data it cannot decode.
var ErrCorruptState = errors.New("trigger: corrupt contact state")

const stateVersion = 1

// Empty reports whether there is nothing to store.
func (s *ContactState) Empty() bool {
	for _, x := range s.Sends {
		if len(x) > 0 {
			return false
		}
	}
	return len(s.Timers) == 0 && len(s.Fired) == 0
}

// Reset empties s, keeping its slices' memory.
func (s *ContactState) Reset() {
	for i := range s.Sends {
		s.Sends[i] = s.Sends[i][:0]
	}
	s.Timers = s.Timers[:0]
	s.Fired = s.Fired[:0]
}

// AppendBinary appends the encoding of s: a version byte, then varints.
// An empty state encodes to nothing at all.
func (s *ContactState) AppendBinary(dst []byte) []byte {
	if s.Empty() {
		return dst
	}
	dst = append(dst, stateVersion)
	for _, sends := range s.Sends {
		dst = binary.AppendUvarint(dst, uint64(len(sends)))
		prev := int64(0)
		for _, at := range sends {
			dst = binary.AppendVarint(dst, at-prev)
			prev = at
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.Timers)))
	for _, a := range s.Timers {
		dst = appendString(dst, a.Name)
		rule := a.Rule
		if rule == a.Name {
			rule = "" // the common case: a rule's own timer
		}
		dst = appendString(dst, rule)
		dst = binary.AppendVarint(dst, a.Due)
		dst = binary.AppendVarint(dst, a.Due-a.Cause)
		dst = binary.AppendVarint(dst, int64(a.Priority))
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.Fired)))
	for _, f := range s.Fired {
		dst = appendString(dst, f.Rule)
		dst = binary.AppendVarint(dst, f.At)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > limit {
		r.err = ErrCorruptState
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = ErrCorruptState
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint(maxString)
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = ErrCorruptState
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// UnmarshalBinary decodes data written by AppendBinary into s, reusing its
// memory; empty data is the empty state. It copies what it keeps.
func (s *ContactState) UnmarshalBinary(data []byte) error {
	s.Reset()
	if len(data) == 0 {
		return nil
	}
	if data[0] != stateVersion {
		return fmt.Errorf("%w: version %d", ErrCorruptState, data[0])
	}
	r := &reader{b: data[1:]}
	for ch := range s.Sends {
		n := r.uvarint(MaxSends)
		prev := int64(0)
		for range n {
			prev += r.varint()
			s.Sends[ch] = append(s.Sends[ch], prev)
		}
	}
	n := r.uvarint(maxArmed)
	for range n {
		a := Armed{Name: r.string(), Rule: r.string()}
		if a.Rule == "" {
			a.Rule = a.Name
		}
		a.Due = r.varint()
		a.Cause = a.Due - r.varint()
		a.Priority = int32(r.varint())
		s.Timers = append(s.Timers, a)
	}
	n = r.uvarint(maxFired)
	for range n {
		s.Fired = append(s.Fired, Fired{Rule: r.string(), At: r.varint()})
	}
	switch {
	case r.err != nil:
		return fmt.Errorf("contact trigger state: %w", r.err)
	case len(r.b) != 0:
		return fmt.Errorf("contact trigger state: %w: %d trailing bytes", ErrCorruptState, len(r.b))
	}
	for _, sends := range s.Sends {
		if !slices.IsSorted(sends) {
			return fmt.Errorf("contact trigger state: %w: sends out of order", ErrCorruptState)
		}
	}
	if !slices.IsSortedFunc(s.Timers, func(a, b Armed) int { return strings.Compare(a.Name, b.Name) }) ||
		!slices.IsSortedFunc(s.Fired, func(a, b Fired) int { return strings.Compare(a.Rule, b.Rule) }) {
		return fmt.Errorf("contact trigger state: %w: entries out of order", ErrCorruptState)
	}
	return nil
}

// timer returns the index of the armed timer name, or -1.
func (s *ContactState) timer(name string) int {
	i, ok := slices.BinarySearchFunc(s.Timers, name, func(a Armed, n string) int { return strings.Compare(a.Name, n) })
	if !ok {
		return -1
	}
	return i
}

func (s *ContactState) setTimer(a Armed) {
	i, ok := slices.BinarySearchFunc(s.Timers, a.Name, func(x Armed, n string) int { return strings.Compare(x.Name, n) })
	if ok {
		s.Timers[i] = a
		return
	}
	s.Timers = slices.Insert(s.Timers, i, a)
}

func (s *ContactState) removeTimer(i int) { s.Timers = slices.Delete(s.Timers, i, i+1) }

// lastFired returns when rule last emitted, and false if never.
func (s *ContactState) lastFired(rule string) (int64, bool) {
	i, ok := slices.BinarySearchFunc(s.Fired, rule, func(f Fired, r string) int { return strings.Compare(f.Rule, r) })
	if !ok {
		return 0, false
	}
	return s.Fired[i].At, true
}

// fired records an emission of rule at at. When the list is full (rules
// were renamed over time), the entry of a rule the current set does not
// have is dropped first, else the oldest.
func (s *ContactState) fired(rule string, at int64, known func(string) bool) {
	i, ok := slices.BinarySearchFunc(s.Fired, rule, func(f Fired, r string) int { return strings.Compare(f.Rule, r) })
	if ok {
		s.Fired[i].At = max(s.Fired[i].At, at)
		return
	}
	if len(s.Fired) >= maxFired {
		victim := -1
		for j := range s.Fired {
			if !known(s.Fired[j].Rule) {
				victim = j
				break
			}
			if victim < 0 || s.Fired[j].At < s.Fired[victim].At {
				victim = j
			}
		}
		s.Fired = slices.Delete(s.Fired, victim, victim+1)
		if victim < i {
			i--
		}
	}
	s.Fired = slices.Insert(s.Fired, i, Fired{Rule: rule, At: at})
}

// sent records a marketing emission on a contact channel, keeping the
// newest MaxSends in time order (a late emission is inserted in place).
func (s *ContactState) sent(ch int, at int64) {
	xs := s.Sends[ch]
	i := len(xs)
	for i > 0 && xs[i-1] > at {
		i--
	}
	xs = slices.Insert(xs, i, at)
	if len(xs) > MaxSends {
		xs = xs[len(xs)-MaxSends:]
	}
	s.Sends[ch] = xs
}
