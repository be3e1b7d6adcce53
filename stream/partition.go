package stream

// murmur2 is Kafka's default key hash (the Java client's Utils.murmur2,
// seed 0x9747b28c). Contacts are placed on partition murmur2(id) mod n, the
// same place Kafka's default partitioner puts a record keyed by that id, so
// records keyed by the id the producer knows arrive where the contact lives
// and need no extra hop.
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(data))
	n := len(data) &^ 3
	for i := 0; i < n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(data) & 3 {
	case 3:
		h ^= uint32(data[n+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[n+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[n])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// PartitionOf returns the partition, among n, that owns the contact whose
// id value is id. It matches Kafka's default partitioner for a record
// keyed by id.
func PartitionOf(id string, n int32) int32 {
	if n <= 0 {
		return 0
	}
	return int32(murmur2([]byte(id))&0x7fffffff) % n
}

func partitionOfBytes(id []byte, n int32) int32 {
	if n <= 0 {
		return 0
	}
	return int32(murmur2(id)&0x7fffffff) % n
}
