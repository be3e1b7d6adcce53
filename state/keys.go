package state

import (
	"encoding/binary"
	"fmt"
)

// Key layout. Everything a partition owns sits under one prefix, so a
// partition can be exported, dropped or restored with one range:
//
//	'p' <partition uint32 BE> 'c' <contact key>   contact record (codec.go)
//	'p' <partition uint32 BE> 'a' <alias key>     canonical key the alias resolves to
//	'p' <partition uint32 BE> 'o' <topic>         next offset to consume, uvarint
//	'p' <partition uint32 BE> 'x' <seq uint64 BE> outbox record (outbox.go)
//	'p' <partition uint32 BE> 'w' <source>        watermark of internal records applied from source
//	'p' <partition uint32 BE> 'z' <sha256 of key> tombstone of an erased id: its erasure receipt (erase.go)
//	'p' <partition uint32 BE> 't' <due uint64 BE> <contact key> 0x00 <name>
//	                                              durable timer, in due order (timer.go)
//	'p' <partition uint32 BE> 'u' <contact key> 0x00 <name> 0x00 <due uint64 BE>
//	                                              the same timer indexed by contact
//	'g' <name>                                    instance-wide metadata
//
// Contact keys and timer names never contain 0x00 (the decoder rejects
// control characters in ids; ArmTimer checks), so 0x00 separates them.
//
// Contact and alias keys are typed (Key): "c:42", "e:ann@example.com".
// Partition numbers are the input topics' partitions: all input topics are
// co-partitioned, so partition p of every topic feeds the same state.
const (
	tagPartition = 'p'
	tagGlobal    = 'g'

	kindContact = 'c'
	kindAlias   = 'a'
	kindOffset  = 'o'
	kindOutbox  = 'x'
	kindInbox   = 'w'
	kindTimer   = 't' // timers in due order
	kindTimerBy = 'u' // timers by contact
)

const partitionPrefixLen = 5

func appendPartitionPrefix(dst []byte, p int32) []byte {
	dst = append(dst, tagPartition)
	return binary.BigEndian.AppendUint32(dst, uint32(p))
}

func appendPartitionKey(dst []byte, p int32, kind byte, rest string) []byte {
	dst = appendPartitionPrefix(dst, p)
	dst = append(dst, kind)
	return append(dst, rest...)
}

// partitionBounds returns the [lower, upper) range holding all of p's keys,
// or only those of one kind when kind != 0.
func partitionBounds(p int32, kind byte) (lower, upper []byte) {
	lower = appendPartitionPrefix(make([]byte, 0, partitionPrefixLen+1), p)
	if kind == 0 {
		upper = appendPartitionPrefix(nil, p+1)
		if p == -1 || uint32(p) == ^uint32(0) {
			upper = []byte{tagPartition + 1}
		}
		return lower, upper
	}
	lower = append(lower, kind)
	upper = append(append([]byte(nil), lower[:partitionPrefixLen]...), kind+1)
	return lower, upper
}

func outboxKey(p int32, seq uint64) []byte {
	k := appendPartitionPrefix(make([]byte, 0, partitionPrefixLen+9), p)
	k = append(k, kindOutbox)
	return binary.BigEndian.AppendUint64(k, seq)
}

func globalKey(name string) []byte {
	return append([]byte{tagGlobal}, name...)
}

// parsePartitionKey splits a partition key into its partition, kind and rest.
func parsePartitionKey(k []byte) (p int32, kind byte, rest []byte, err error) {
	if len(k) < partitionPrefixLen+1 || k[0] != tagPartition {
		return 0, 0, nil, fmt.Errorf("key %q: %w: not a partition key", k, ErrCorrupt)
	}
	return int32(binary.BigEndian.Uint32(k[1:5])), k[5], k[6:], nil
}
