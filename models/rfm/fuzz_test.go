package rfm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzDecodePopulation: DecodePopulation never panics, fails only with
// its sentinels, and whatever it accepts re-encodes canonically, decodes
// again to the same population and yields usable cuts.
func FuzzDecodePopulation(f *testing.F) {
	rng := rand.New(rand.NewPCG(11, 11))
	for _, n := range []int{0, 1, 5, 40} {
		f.Add(populationOf(randomCustomers(rng, n)).AppendBinary(nil))
	}
	f.Add([]byte{})
	f.Add([]byte{2})
	f.Add(append(binary.AppendUvarint([]byte{populationFormat}, 3), 3, 0, 3, 0, 3, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePopulation(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if p != nil {
				t.Fatal("population returned with an error")
			}
			return
		}
		enc := p.AppendBinary(nil)
		if len(enc) > len(data) || len(enc) > MaxEncodedLen {
			t.Fatalf("canonical encoding %d bytes, input %d", len(enc), len(data))
		}
		q, err := DecodePopulation(enc)
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !bytes.Equal(q.AppendBinary(nil), enc) || q.Len() != p.Len() {
			t.Fatal("re-encoding is not stable")
		}
		cuts := p.Quintiles()
		if err := cuts.Validate(); err != nil {
			t.Fatalf("cuts of a decoded population: %v", err)
		}
		if s := cuts.Score(10, 2, 50); !s.Valid() {
			t.Fatalf("score %+v", s)
		}
		if err := q.Merge(p); err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("merge: %v", err)
		}
	})
}
