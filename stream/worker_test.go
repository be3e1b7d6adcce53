package stream

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPacker checks that the parts of an outbox record packed into one
// buffer hold their values and stay apart: appending to one part, as a
// careless reader might, must not change the next.
func TestPacker(t *testing.T) {
	r := &kgo.Record{Topic: "kairos.clickstream", Partition: 3, Offset: 12345}
	for _, size := range []int{0, 8, 256} { // too small, small, enough
		p := packer{b: make([]byte, 0, size)}
		parts := [][]byte{p.str("c:42"), p.bytes([]byte(`{"a":1}`)), p.int(-7), p.internalID(r, 2), p.str("")}
		want := []string{"c:42", `{"a":1}`, "-7", "kairos.clickstream/3/12345/2", ""}
		for i := range parts {
			_ = append(parts[i], "XXXXXXXX"...)
		}
		for i, w := range want {
			if string(parts[i]) != w {
				t.Errorf("cap %d: part %d = %q, want %q", size, i, parts[i], w)
			}
		}
		if got := internalID(r, 2); got != want[3] {
			t.Errorf("internalID = %q, want %q", got, want[3])
		}
	}
}
