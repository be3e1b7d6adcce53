package stream

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPartitionOfMatchesKafka checks the placement against franz-go's
// Kafka-compatible partitioner: producers keyed by the id the engine uses
// must land on the partition that owns the contact.
func TestPartitionOfMatchesKafka(t *testing.T) {
	hasher := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, n := range []int32{1, 3, 8, 12, 64} {
		for i := range 2000 {
			id := "contact-" + strconv.Itoa(i*7919)
			if i%3 == 0 {
				id = "user" + strconv.Itoa(i) + "@example.com"
			}
			want := int32(hasher.Partition(&kgo.Record{Key: []byte(id)}, int(n)))
			if got := PartitionOf(id, n); got != want {
				t.Fatalf("PartitionOf(%q, %d) = %d, kafka partitioner says %d", id, n, got, want)
			}
		}
	}
}
