package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Durable timers. A timer belongs to one contact and has a name that is
// the owner chooses (a trigger rule id, or a name it derives). A timer is
// identified by (contact, name, due): arming a name again at another due
// time adds a second timer, and replacing one is the owner's business (it
// cancels the old one in the same batch). Every timer is stored
// twice under the partition's prefix:
//
//   - in due order ('t' <due> <contact> 0x00 <name>), so that firing the
//     timers up to a watermark is one forward scan that stops at the first
//     timer not yet due;
//   - by contact ('u' <contact> 0x00 <name> 0x00 <due>), so that
//     the API can list a contact's timers and an erase can find them
//     without scanning the whole partition.
//
// Both entries are written and deleted in the caller's Batch, with the
// state that armed or completed the timer: a crash never leaves a timer
// without the state that explains it, nor a cancelled timer alive.

// Timer is one pending durable timer.
type Timer struct {
	Contact Key
	// Name identifies the timer among the contact's timers: at most
	// MaxTimerName bytes, no 0x00.
	Name string
	// Due is the event time (Unix ms) at which it fires.
	Due int64
	// Data is what the owner needs at fire time (why it was armed); state
	// stores it and does not look inside. At most MaxTimerData bytes.
	Data []byte
}

// ID names the timer deterministically among its contact's timers, for
// the API: "<name>@<due, Unix ms>".
func (t *Timer) ID() string { return t.Name + "@" + strconv.FormatInt(t.Due, 10) }

// Bounds of a timer.
const (
	MaxTimerName = 128
	MaxTimerData = 4 << 10
)

// ErrBadTimer is returned by ArmTimer and CancelTimer for a timer that
// cannot be stored: empty or oversized name, a name or contact key with a
// 0x00 byte (the separator of the key layout), oversized data.
var ErrBadTimer = errors.New("state: bad timer")

func checkTimer(contact Key, name string, data []byte) error {
	switch {
	case contact == "" || strings.IndexByte(string(contact), 0) >= 0:
		return fmt.Errorf("%w: contact key %q", ErrBadTimer, contact)
	case name == "" || len(name) > MaxTimerName || strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: name %q (1 to %d bytes, no NUL)", ErrBadTimer, name, MaxTimerName)
	case len(data) > MaxTimerData:
		return fmt.Errorf("%w: %d bytes of data, at most %d", ErrBadTimer, len(data), MaxTimerData)
	}
	return nil
}

// dueBits maps an int64 time to a uint64 whose big-endian bytes sort like
// the times, negative ones included.
func dueBits(due int64) uint64 { return uint64(due) ^ (1 << 63) }

func timerKey(dst []byte, p int32, due int64, contact Key, name string) []byte {
	dst = appendPartitionPrefix(dst, p)
	dst = append(dst, kindTimer)
	dst = binary.BigEndian.AppendUint64(dst, dueBits(due))
	dst = append(dst, contact...)
	dst = append(dst, 0)
	return append(dst, name...)
}

func timerByKey(dst []byte, p int32, contact Key, name string, due int64) []byte {
	dst = timerByPrefix(dst, p, contact)
	dst = append(dst, name...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint64(dst, dueBits(due))
}

func timerByPrefix(dst []byte, p int32, contact Key) []byte {
	dst = appendPartitionPrefix(dst, p)
	dst = append(dst, kindTimerBy)
	dst = append(dst, contact...)
	return append(dst, 0)
}

// ArmTimer stores t, to fire when the partition's watermark reaches t.Due.
// Arming the same (contact, name, due) again overwrites it; a timer of the
// same name at another due is another timer, which the caller cancels
// (CancelTimer) in the same batch if it replaces it.
func (b *Batch) ArmTimer(t *Timer) error {
	if err := checkTimer(t.Contact, t.Name, t.Data); err != nil {
		return err
	}
	k := timerKey(nil, b.pt.p, t.Due, t.Contact, t.Name)
	if err := b.b.Set(k, t.Data, nil); err != nil {
		return fmt.Errorf("arm timer %s/%s: %w", t.Contact, t.Name, err)
	}
	if err := b.b.Set(timerByKey(nil, b.pt.p, t.Contact, t.Name, t.Due), t.Data, nil); err != nil {
		return fmt.Errorf("arm timer %s/%s: %w", t.Contact, t.Name, err)
	}
	return nil
}

// CancelTimer deletes the timer (contact, name) armed at due, atomically
// with the rest of the batch. Cancelling a timer that does not exist is
// not an error (a replay cancels again).
func (b *Batch) CancelTimer(contact Key, name string, due int64) error {
	if err := checkTimer(contact, name, nil); err != nil {
		return err
	}
	if err := b.b.Delete(timerKey(nil, b.pt.p, due, contact, name), nil); err != nil {
		return fmt.Errorf("cancel timer %s/%s: %w", contact, name, err)
	}
	if err := b.b.Delete(timerByKey(nil, b.pt.p, contact, name, due), nil); err != nil {
		return fmt.Errorf("cancel timer %s/%s: %w", contact, name, err)
	}
	return nil
}

// DeleteContactTimers deletes every committed timer of a contact, for an
// erase or after the contact was merged into another. It reads what is
// committed: a timer armed earlier in this same batch is not seen, so call
// it in a batch that does not arm timers for the contact.
func (b *Batch) DeleteContactTimers(contact Key) error {
	ts, err := b.pt.ContactTimers(contact)
	if err != nil {
		return err
	}
	for i := range ts {
		if err := b.CancelTimer(contact, ts[i].Name, ts[i].Due); err != nil {
			return err
		}
	}
	return nil
}

// DueTimers calls fn, in due order (then contact, then name), for at most
// max timers of the partition due at or before upTo; max <= 0 means no
// limit. It returns how many it passed to fn. It reads committed state and
// deletes nothing: firing a timer is the caller's change, written with
// CancelTimer in the batch that records its effect. A Timer passed to fn
// is the caller's, except Data, which is valid only during the call.
// An error from fn stops the scan and is returned.
func (pt *Partition) DueTimers(upTo int64, max int, fn func(*Timer) error) (int, error) {
	lo := appendPartitionPrefix(make([]byte, 0, partitionPrefixLen+9), pt.p)
	lo = append(lo, kindTimer)
	var hi []byte
	if upTo == 1<<63-1 {
		hi = append(append([]byte(nil), lo[:partitionPrefixLen]...), kindTimer+1)
	} else {
		hi = binary.BigEndian.AppendUint64(append([]byte(nil), lo...), dueBits(upTo+1))
	}
	it, err := pt.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, fmt.Errorf("partition %d: due timers: %w", pt.p, err)
	}
	n := 0
	var t Timer
	for ok := it.First(); ok && (max <= 0 || n < max); ok = it.Next() {
		rest := it.Key()[partitionPrefixLen+1:]
		if len(rest) < 8 {
			it.Close()
			return n, fmt.Errorf("partition %d: timer key %q: %w", pt.p, it.Key(), ErrCorrupt)
		}
		due := int64(binary.BigEndian.Uint64(rest) ^ (1 << 63))
		i := bytes.IndexByte(rest[8:], 0)
		if i < 0 {
			it.Close()
			return n, fmt.Errorf("partition %d: timer key %q: %w", pt.p, it.Key(), ErrCorrupt)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return n, fmt.Errorf("partition %d: due timers: %w", pt.p, err)
		}
		t = Timer{Contact: Key(rest[8 : 8+i]), Name: string(rest[8+i+1:]), Due: due, Data: v}
		n++
		if err := fn(&t); err != nil {
			it.Close()
			return n, err
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return n, fmt.Errorf("partition %d: due timers: %w", pt.p, err)
	}
	return n, nil
}

// NextTimer returns the due time of the partition's earliest timer, and
// false when it has none: how long an idle partition may sleep.
func (pt *Partition) NextTimer() (int64, bool, error) {
	var due int64
	n, err := pt.DueTimers(1<<63-1, 1, func(t *Timer) error { due = t.Due; return nil })
	return due, n > 0, err
}

// ContactTimers returns the committed timers of one contact, sorted by
// name then due, with their data copied: what `GET /v1/contacts/{id}/timers`
// lists.
func (pt *Partition) ContactTimers(contact Key) ([]Timer, error) {
	lo := timerByPrefix(nil, pt.p, contact)
	hi := append(lo[:len(lo)-1:len(lo)-1], 1)
	it, err := pt.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("partition %d: timers of %s: %w", pt.p, contact, err)
	}
	var out []Timer
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("partition %d: timers of %s: %w", pt.p, contact, err)
		}
		rest := it.Key()[len(lo):]
		if len(rest) < 10 || rest[len(rest)-9] != 0 {
			it.Close()
			return nil, fmt.Errorf("partition %d: timer key %q: %w", pt.p, it.Key(), ErrCorrupt)
		}
		out = append(out, Timer{
			Contact: contact,
			Name:    string(rest[:len(rest)-9]),
			Due:     int64(binary.BigEndian.Uint64(rest[len(rest)-8:]) ^ (1 << 63)),
			Data:    append([]byte(nil), v...),
		})
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("partition %d: timers of %s: %w", pt.p, contact, err)
	}
	return out, nil
}
