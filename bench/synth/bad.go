package synth

import (
	"bytes"
	"strconv"
)

// makeBad derives a malformed record from the good record r. It draws only
// from g.bad and numbers bad records apart ("s<seed>-b<n>"), so the good
// records around it are exactly those of a run without bad ones.
func (g *Generator) makeBad(r Record) Record {
	g.badSeq++
	key := bytes.Clone(r.Key)
	v := r.Value
	// Every value starts with {"id":"<id>"; give the bad record its own id.
	const idStart = len(`{"id":"`)
	idEnd := idStart + bytes.IndexByte(v[idStart:], '"')
	b := make([]byte, 0, len(v)+32)
	b = append(b, v[:idStart]...)
	b = append(b, g.evPrefix...)
	b = append(b, 'b')
	b = strconv.AppendUint(b, g.badSeq, 10)
	b = append(b, v[idEnd:]...)

	bad := Record{Topic: r.Topic, Key: key, Bad: true}
	switch g.bad.intn(4) {
	case 0:
		bad.Reason = ReasonInvalidJSON
		if g.bad.chance(0.5) {
			// Cut off mid-event, as a crashed producer leaves it.
			b = b[:1+g.bad.intn(len(b)-2)]
		} else {
			b = append(b[:len(b)-1], ",}"...) // trailing comma
		}
	case 1:
		bad.Reason = ReasonUnknownType
		b = replaceString(b, `"type":"`, unknownTypes[g.bad.intn(len(unknownTypes))])
	case 2:
		bad.Reason = ReasonBadTimestamp
		b = replaceString(b, `"timestamp":"`, badTimestamps[g.bad.intn(len(badTimestamps))])
	default:
		bad.Reason = ReasonMissingField
		bad.Topic = TopicOrders
		b = g.orderWithoutID(b[:0], key, stringValue(v, `"timestamp":"`))
	}
	bad.Value = b
	return bad
}

// orderWithoutID renders an order follow-up that lacks its order_id, for
// the contact the key names.
func (g *Generator) orderWithoutID(b, key, ts []byte) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, g.evPrefix...)
	b = append(b, 'b')
	b = strconv.AppendUint(b, g.badSeq, 10)
	var field string
	switch {
	case bytes.IndexByte(key, '@') >= 0:
		field = "email"
	case bytes.HasPrefix(key, []byte(g.contactPrefix)):
		field = "contact_id"
	default:
		field = "anonymous_id"
	}
	switch g.bad.intn(3) {
	case 0:
		b = append(b, `","type":"order_shipped","`...)
	case 1:
		b = append(b, `","type":"order_cancelled","`...)
	default:
		b = append(b, `","type":"order_refunded","`...)
	}
	b = append(b, field...)
	b = append(b, `":"`...)
	b = append(b, key...)
	b = append(b, `","timestamp":"`...)
	b = append(b, ts...)
	b = append(b, `","properties":{"carrier":"`...)
	b = append(b, carriers[g.bad.intn(len(carriers))]...)
	return append(b, `"}}`...)
}

// stringValue returns the string value following prefix in v.
func stringValue(v []byte, prefix string) []byte {
	i := bytes.Index(v, []byte(prefix))
	if i < 0 {
		return nil
	}
	i += len(prefix)
	return v[i : i+bytes.IndexByte(v[i:], '"')]
}

// replaceString replaces the string value following prefix in b.
func replaceString(b []byte, prefix, with string) []byte {
	i := bytes.Index(b, []byte(prefix))
	if i < 0 {
		return b
	}
	i += len(prefix)
	j := i + bytes.IndexByte(b[i:], '"')
	out := make([]byte, 0, len(b)+len(with))
	out = append(out, b[:i]...)
	out = append(out, with...)
	return append(out, b[j:]...)
}
