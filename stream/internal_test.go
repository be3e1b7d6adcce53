package stream

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/state"
)

func TestInternalID(t *testing.T) {
	r := &kgo.Record{Topic: "kairos.rekey", Partition: 3, Offset: 1234}
	src, mark, ok := parseInternalID(internalID(r, 2))
	if !ok || src != "kairos.rekey/3" || mark != (state.Watermark{Offset: 1234, Index: 2}) {
		t.Fatalf("round trip: %q %+v %v", src, mark, ok)
	}
	for _, bad := range []string{"", "x", "a/1", "a/1/2", "/1/2/3", "a/1/-2/0", "a/1/2/x", "a/1/2/99999999999", "a//2/3"} {
		if _, _, ok := parseInternalID(bad); ok {
			t.Errorf("parseInternalID(%q) accepted", bad)
		}
	}
	a, b := state.Watermark{Offset: 5, Index: 1}, state.Watermark{Offset: 5, Index: 2}
	if !a.Less(b) || b.Less(a) || a.Less(a) || !(state.Watermark{Offset: 4, Index: 9}).Less(a) {
		t.Fatal("Watermark.Less order")
	}
}
