package trigger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// Source is the input record that caused a trigger: its topic, partition
// and offset. A re-evaluation without an input record (a P(alive) or
// segment refresh) passes a Source that is just as deterministic, for
// example the refresh topic's name and the day number as offset.
type Source struct {
	Topic     string
	Partition int32
	Offset    int64
}

// String renders "topic/partition/offset".
func (s Source) String() string {
	return s.Topic + "/" + strconv.Itoa(int(s.Partition)) + "/" + strconv.FormatInt(s.Offset, 10)
}

// TriggerID derives a trigger's id from its cause: the source record, the
// rule, and the occurrence (0, or the due time of a scheduled rule's
// occurrence, which repeats from one cause). A replay of the same records
// produces the same ids, so a sender drops a republished trigger by id.
// The id is 32 hex digits (128 bits of SHA-256): collisions are not a
// concern at any realistic volume.
func TriggerID(src Source, rule string, occurrence int64) string {
	var buf [256]byte
	b := append(buf[:0], src.Topic...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(src.Partition))
	b = binary.BigEndian.AppendUint64(b, uint64(src.Offset))
	b = append(b, rule...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(occurrence))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
