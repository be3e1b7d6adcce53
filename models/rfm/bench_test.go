package rfm

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkPopulationAdd(b *testing.B) {
	cs := randomCustomers(rand.New(rand.NewPCG(1, 1)), 4096)
	p := NewPopulation()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := cs[i&4095]
		p.Add(c.r, c.f, c.m)
	}
}

// BenchmarkScoreSegment is the read path per customer once the cuts are
// known: Score, SegmentOf and Grade. None of them allocates.
func BenchmarkScoreSegment(b *testing.B) {
	cs := randomCustomers(rand.New(rand.NewPCG(2, 2)), 4096)
	for _, bc := range []struct {
		name string
		cuts Cuts
	}{
		{"quintiles", populationOf(cs).Quintiles()},
		{"fallback", DefaultCuts()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink int
			for i := 0; b.Loop(); i++ {
				c := cs[i&4095]
				s := bc.cuts.Score(c.r, c.f, c.m)
				sink += int(SegmentOf(s)) + len(Grade(s))
			}
			_ = sink
		})
	}
}

func BenchmarkRaw(b *testing.B) {
	days, orders, spends := purchaseHistory(500) // 500 days over four years
	at := days[len(days)-1]
	b.ReportAllocs()
	for b.Loop() {
		Raw(days, orders, spends, at, Config{})
	}
}

// BenchmarkMerge merges one partition's population of 100,000 customers
// into an accumulator, as the reader does per partition.
func BenchmarkMerge(b *testing.B) {
	part := populationOf(randomCustomers(rand.New(rand.NewPCG(3, 3)), 100_000))
	acc := NewPopulation()
	b.ReportAllocs()
	for b.Loop() {
		if err := acc.Merge(part); err != nil {
			b.Fatal(err)
		}
		if acc.Len() > MaxCustomers/2 {
			acc = NewPopulation()
		}
	}
}

func BenchmarkQuintiles(b *testing.B) {
	p := populationOf(randomCustomers(rand.New(rand.NewPCG(4, 4)), 100_000))
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Quintiles()
	}
}

func BenchmarkEncoding(b *testing.B) {
	p := populationOf(randomCustomers(rand.New(rand.NewPCG(5, 5)), 100_000))
	enc := p.AppendBinary(nil)
	b.Run("AppendBinary", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, len(enc))
		for b.Loop() {
			buf = p.AppendBinary(buf[:0])
		}
		b.SetBytes(int64(len(enc)))
	})
	b.Run("DecodePopulation", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodePopulation(enc); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(enc)))
	})
}
