package stream

import (
	"strconv"
	"testing"

	"github.com/kairos-engine/kairos/state"
)

func TestKnownIDs(t *testing.T) {
	f := newKnownIDs(100_000)
	for i := range 100_000 {
		f.add(state.MakeKey(state.IDAnonymous, "a-"+strconv.Itoa(i)))
	}
	for i := range 100_000 {
		if !f.mayContain(state.MakeKey(state.IDAnonymous, "a-"+strconv.Itoa(i))) {
			t.Fatalf("added key %d reported absent", i)
		}
	}
	fp := 0
	for i := range 100_000 {
		if f.mayContain(state.MakeKey(state.IDAnonymous, "b-"+strconv.Itoa(i))) {
			fp++
		}
	}
	if rate := float64(fp) / 100_000; rate > 0.02 {
		t.Errorf("false-positive rate %.4f, want about 0.01", rate)
	}
	if f.full() {
		t.Error("filter full at its capacity")
	}
	f.add("c:one-more")
	if !f.full() {
		t.Error("filter not full past its capacity")
	}
}

func BenchmarkKnownIDs(b *testing.B) {
	f := newKnownIDs(1 << 20)
	k := state.MakeKey(state.IDAnonymous, "a1-1dcde0ea6ce068c7")
	b.ReportAllocs()
	for b.Loop() {
		f.mayContain(k)
	}
}
