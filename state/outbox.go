package state

import (
	"encoding/binary"
	"fmt"
)

// Header is one Kafka record header of an outbox record.
type Header struct {
	Key   string
	Value []byte
}

// OutboxRecord is a Kafka record the engine must publish because of a state
// change: a trigger, a dead letter, an event forwarded to the partition that
// owns its contact. It is written in the same batch as the change and
// deleted only after the broker acknowledged it, so a crash in between
// republishes it; its headers carry a deterministic id so that consumers
// drop the duplicate.
type OutboxRecord struct {
	Seq     uint64 // position in the partition's outbox; set by Batch.AddOutbox
	Topic   string
	Key     []byte
	Value   []byte
	Headers []Header
}

const outboxFormatVersion = 1

func (r *OutboxRecord) appendEncoded(dst []byte) []byte {
	dst = append(dst, outboxFormatVersion)
	dst = appendBytes(dst, []byte(r.Topic))
	dst = appendBytes(dst, r.Key)
	dst = appendBytes(dst, r.Value)
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendBytes(dst, []byte(h.Key))
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func decodeOutbox(seq uint64, data []byte) (OutboxRecord, error) {
	r := OutboxRecord{Seq: seq}
	if len(data) == 0 || data[0] != outboxFormatVersion {
		return r, fmt.Errorf("outbox record %d: %w: version", seq, ErrCorrupt)
	}
	d := data[1:]
	next := func() ([]byte, error) {
		n, w := binary.Uvarint(d)
		if w <= 0 || n > uint64(len(d)-w) {
			return nil, fmt.Errorf("outbox record %d: %w: length", seq, ErrCorrupt)
		}
		b := append([]byte(nil), d[w:w+int(n)]...)
		d = d[w+int(n):]
		return b, nil
	}
	topic, err := next()
	if err != nil {
		return r, err
	}
	r.Topic = string(topic)
	if r.Key, err = next(); err != nil {
		return r, err
	}
	if r.Value, err = next(); err != nil {
		return r, err
	}
	nh, w := binary.Uvarint(d)
	if w <= 0 || nh > uint64(len(d)) {
		return r, fmt.Errorf("outbox record %d: %w: header count", seq, ErrCorrupt)
	}
	d = d[w:]
	r.Headers = make([]Header, 0, nh)
	for range nh {
		k, err := next()
		if err != nil {
			return r, err
		}
		v, err := next()
		if err != nil {
			return r, err
		}
		r.Headers = append(r.Headers, Header{Key: string(k), Value: v})
	}
	return r, nil
}
