package trigger

import (
	"encoding/binary"
	"fmt"

	"github.com/kairos-engine/kairos/state"
)

// What a durable timer is waiting for.
const (
	timerWait     uint8 = 1 // a rule's wait: fires after Wait.For unless ...
	timerDeferred uint8 = 2 // a trigger the policy deferred, in its channel's slot
	timerSchedule uint8 = 3 // a scheduled rule's occurrence
)

// timerData is the state.Timer's Data: enough to decide and build the
// trigger at fire time, when the cause event is long gone.
type timerData struct {
	kind      uint8
	rule      string
	src       Source
	cause     int64 // event time of the cause
	base      int64 // when the trigger became due: its expiry counts from here
	id        string
	causeType state.EventType
	ref       string // what the cause event was about: order id, campaign, sku
	reason    string
}

const timerDataVersion = 1

func (d *timerData) appendBinary(dst []byte) []byte {
	dst = append(dst, timerDataVersion, d.kind, byte(d.causeType))
	dst = appendString(dst, d.rule)
	dst = appendString(dst, d.src.Topic)
	dst = binary.AppendVarint(dst, int64(d.src.Partition))
	dst = binary.AppendVarint(dst, d.src.Offset)
	dst = binary.AppendVarint(dst, d.cause)
	dst = binary.AppendVarint(dst, d.base)
	dst = appendString(dst, d.id)
	dst = appendString(dst, d.ref)
	return appendString(dst, d.reason)
}

func (d *timerData) unmarshal(data []byte) error {
	if len(data) < 3 || data[0] != timerDataVersion {
		return fmt.Errorf("trigger timer data: %w: version", ErrCorruptState)
	}
	d.kind, d.causeType = data[1], state.EventType(data[2])
	r := &reader{b: data[3:]}
	d.rule = r.string()
	d.src.Topic = r.string()
	d.src.Partition = int32(r.varint())
	d.src.Offset = r.varint()
	d.cause = r.varint()
	d.base = r.varint()
	d.id = r.string()
	d.ref = r.string()
	d.reason = r.string()
	if r.err != nil || len(r.b) != 0 || d.kind < timerWait || d.kind > timerSchedule {
		return fmt.Errorf("trigger timer data: %w", ErrCorruptState)
	}
	return nil
}

// TimerInfo describes a pending trigger timer for the API
// (`GET /v1/contacts/{id}/timers`).
type TimerInfo struct {
	Name    string
	Rule    string
	Kind    string // "wait", "deferred" or "schedule"
	Due     int64
	CauseAt int64
	Source  Source
	Reason  string
}

// DescribeTimer decodes a trigger timer read with
// state.Partition.ContactTimers.
func DescribeTimer(t *state.Timer) (TimerInfo, error) {
	var d timerData
	if err := d.unmarshal(t.Data); err != nil {
		return TimerInfo{}, err
	}
	kind := [...]string{"", "wait", "deferred", "schedule"}[d.kind]
	return TimerInfo{Name: t.Name, Rule: d.rule, Kind: kind, Due: t.Due, CauseAt: d.cause, Source: d.src, Reason: d.reason}, nil
}
