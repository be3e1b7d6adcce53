package churn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomCustomers draws customers from a small grid of purchase histories,
// so that many share their (x, t_x, T) and (x, zbar) entries.
func randomCustomers(rng *rand.Rand, n int) []Customer {
	cs := make([]Customer, 0, n)
	for range n {
		first := int32(rng.IntN(60))
		k := rng.IntN(5)
		days := []int32{first}
		spends := []int64{int64(500 + rng.IntN(3)*250)}
		for range k {
			days = append(days, first+int32(1+rng.IntN(80)))
			spends = append(spends, int64(250*(1+rng.IntN(4))))
		}
		c, ok := FromPurchaseDays(days, spends, 90, Week)
		if ok {
			cs = append(cs, c)
		}
	}
	return cs
}

func summaryOf(tb testing.TB, cs []Customer) Summary {
	tb.Helper()
	var s Summary
	for _, c := range cs {
		if err := s.Add(c); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

func encode(tb testing.TB, s Summary) []byte {
	tb.Helper()
	b, err := s.AppendBinary(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func merged(parts ...Summary) Summary {
	var s Summary
	for _, p := range parts {
		s.Merge(p)
	}
	return s
}

func TestSummaryMergeProperties(t *testing.T) {
	fits := 0
	for seed := range uint64(25) {
		rng := rand.New(rand.NewPCG(seed, 42))
		cs := randomCustomers(rng, 50+rng.IntN(400))
		// Split into three parts at random (some possibly empty).
		var parts [3][]Customer
		for _, c := range cs {
			i := rng.IntN(3)
			parts[i] = append(parts[i], c)
		}
		a, b, c := summaryOf(t, parts[0]), summaryOf(t, parts[1]), summaryOf(t, parts[2])
		all := summaryOf(t, cs)

		bc := b.Clone()
		bc.Merge(c)
		left := a.Clone()
		left.Merge(bc) // merge(a, merge(b, c))
		ab := a.Clone()
		ab.Merge(b)
		right := ab.Clone()
		right.Merge(c) // merge(merge(a, b), c)
		commuted := merged(c, a, b)

		want := encode(t, all)
		for name, s := range map[string]Summary{"a+(b+c)": left, "(a+b)+c": right, "c+a+b": commuted} {
			if got := encode(t, s); !bytes.Equal(got, want) {
				t.Fatalf("seed %d: %s encodes differently from the summary of all customers", seed, name)
			}
			if s.Len() != len(cs) || s.RepeatCustomers() != all.RepeatCustomers() || s.SpendCustomers() != all.SpendCustomers() {
				t.Fatalf("seed %d: %s counts %d/%d/%d, want %d/%d/%d", seed, name,
					s.Len(), s.RepeatCustomers(), s.SpendCustomers(), len(cs), all.RepeatCustomers(), all.SpendCustomers())
			}
		}
		// Inputs are untouched by merging into clones.
		if a.Len() != len(parts[0]) || b.Len() != len(parts[1]) || c.Len() != len(parts[2]) {
			t.Fatalf("seed %d: merging changed an operand", seed)
		}
		// The log-likelihoods agree bit for bit, with each other and (to
		// rounding) with the sum over the customers.
		p := BGNBD{R: 0.4, Alpha: 5, A: 0.9, B: 2.5}
		g := GammaGamma{P: 6, Q: 3.7, Gamma: 15}
		llAll := all.BGNBDLogLikelihood(p)
		for _, s := range []Summary{left, right, commuted} {
			if ll := s.BGNBDLogLikelihood(p); ll != llAll {
				t.Fatalf("seed %d: BG/NBD LL %v != %v", seed, ll, llAll)
			}
			if ll := s.GammaGammaLogLikelihood(g); ll != all.GammaGammaLogLikelihood(g) {
				t.Fatalf("seed %d: Gamma-Gamma LL differs", seed)
			}
		}
		if direct := p.LogLikelihood(cs); relErr(direct, llAll) > 1e-12 {
			t.Fatalf("seed %d: summary LL %v, over customers %v", seed, llAll, direct)
		}
		if direct := g.LogLikelihood(cs); relErr(direct, all.GammaGammaLogLikelihood(g)) > 1e-12 {
			t.Fatalf("seed %d: Gamma-Gamma summary LL differs from the one over customers", seed)
		}
		// And so do the fits (a few seeds: each fit takes milliseconds).
		if seed%5 == 0 && all.RepeatCustomers() > 0 {
			fits++
			var first FitInfo
			var firstP BGNBD
			for i, s := range []Summary{all, left, right, commuted} {
				q, info, err := Fit(t.Context(), s, nil, FitOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first, firstP = info, q
				} else if q != firstP || info.LogLikelihood != first.LogLikelihood {
					t.Fatalf("seed %d: fit of a merge order gave %+v (LL %v), of all customers %+v (LL %v)",
						seed, q, info.LogLikelihood, firstP, first.LogLikelihood)
				}
			}
		}
	}
	if fits == 0 {
		t.Fatal("no fit compared")
	}
}

func TestSummaryMergeSelfAndZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cs := randomCustomers(rng, 200)
	s := summaryOf(t, cs)
	twice := summaryOf(t, append(slices.Clone(cs), cs...))
	s.Merge(s)
	if !bytes.Equal(encode(t, s), encode(t, twice)) {
		t.Error("s.Merge(s) is not the summary of every customer twice")
	}
	var zero Summary
	before := encode(t, s)
	s.Merge(zero)
	zero.Merge(Summary{})
	if !bytes.Equal(encode(t, s), before) || zero.Len() != 0 || zero.Entries() != 0 {
		t.Error("merging empty summaries changed something")
	}
}

func TestSummaryRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 10, 1000} {
		s := summaryOf(t, randomCustomers(rng, n))
		b := encode(t, s)
		d, err := DecodeSummary(b)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(encode(t, d), b) || d.Len() != s.Len() || d.RepeatCustomers() != s.RepeatCustomers() ||
			d.SpendCustomers() != s.SpendCustomers() || d.Entries() != s.Entries() {
			t.Fatalf("n=%d: round trip changed the summary", n)
		}
		// Appending keeps dst.
		prefixed, _ := s.AppendBinary([]byte("xyz"))
		if !bytes.Equal(prefixed[:3], []byte("xyz")) || !bytes.Equal(prefixed[3:], b) {
			t.Fatalf("n=%d: AppendBinary does not append", n)
		}
	}
}

func TestDecodeSummaryRejects(t *testing.T) {
	head := []byte("kch\x01")
	f64 := func(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	bgEntry := func(x uint64, tx, T float64, n uint64) []byte { return cat(uv(x), f64(tx), f64(T), uv(n)) }
	ggEntry := func(x uint64, z float64, n uint64) []byte { return cat(uv(x), f64(z), uv(n)) }
	valid := cat(head, uv(2), bgEntry(0, 0, 5, 3), bgEntry(2, 1, 5, 1), uv(1), ggEntry(2, 10, 1))
	if _, err := DecodeSummary(valid); err != nil {
		t.Fatalf("the valid base case fails: %v", err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"bad magic", []byte("xyz\x01\x00\x00")},
		{"future version", []byte("kch\x02\x00\x00")},
		{"no counts", head},
		{"truncated entry", valid[:len(valid)-3]},
		{"trailing bytes", cat(valid, []byte{0})},
		{"count claims too many entries", cat(head, uv(1<<40))},
		{"overlong varint", cat(head, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})},
		{"zero count", cat(head, uv(1), bgEntry(0, 0, 5, 0), uv(0))},
		{"not increasing", cat(head, uv(2), bgEntry(1, 1, 5, 1), bgEntry(0, 0, 5, 1), uv(0))},
		{"duplicate", cat(head, uv(2), bgEntry(1, 1, 5, 1), bgEntry(1, 1, 5, 1), uv(0))},
		{"NaN", cat(head, uv(1), bgEntry(1, math.NaN(), 5, 1), uv(0))},
		{"negative zero", cat(head, uv(1), bgEntry(0, math.Copysign(0, -1), 5, 1), uv(0))},
		{"t_x above T", cat(head, uv(1), bgEntry(1, 6, 5, 1), uv(0))},
		{"t_x without repeat", cat(head, uv(1), bgEntry(0, 1, 5, 1), uv(0))},
		{"x too large", cat(head, uv(1), bgEntry(MaxRepeat+1, 1, 5, 1), uv(0))},
		{"too many customers", cat(head, uv(2), bgEntry(0, 0, 5, MaxSummaryCustomers), bgEntry(0, 0, 6, 1), uv(0))},
		{"Gamma-Gamma x = 0", cat(head, uv(1), bgEntry(1, 1, 5, 1), uv(1), ggEntry(0, 10, 1))},
		{"Gamma-Gamma zbar = 0", cat(head, uv(1), bgEntry(1, 1, 5, 1), uv(1), ggEntry(1, 0, 1))},
		{"Gamma-Gamma zbar infinite", cat(head, uv(1), bgEntry(1, 1, 5, 1), uv(1), ggEntry(1, math.Inf(1), 1))},
		{"Gamma-Gamma not increasing", cat(head, uv(1), bgEntry(1, 1, 5, 2), uv(2), ggEntry(1, 10, 1), ggEntry(1, 9, 1))},
		{"more spenders than repeat customers", cat(head, uv(1), bgEntry(1, 1, 5, 1), uv(1), ggEntry(1, 10, 2))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := DecodeSummary(tc.b)
			if !errors.Is(err, ErrBadSummary) {
				t.Fatalf("DecodeSummary = %v, want an error wrapping ErrBadSummary", err)
			}
			if s.Len() != 0 || s.Entries() != 0 {
				t.Errorf("a failed decode returned a non-empty summary")
			}
		})
	}
}

func FuzzDecodeSummary(f *testing.F) {
	rng := rand.New(rand.NewPCG(8, 9))
	for _, n := range []int{0, 1, 3, 40} {
		s := summaryOf(f, randomCustomers(rng, n))
		b, _ := s.AppendBinary(nil)
		f.Add(b)
	}
	f.Add([]byte("kch\x01\x01"))
	f.Add([]byte("kch\x01\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSummary(b)
		if err != nil {
			if !errors.Is(err, ErrBadSummary) {
				t.Fatalf("error %v does not wrap ErrBadSummary", err)
			}
			return
		}
		// Only the canonical encoding is accepted: it re-encodes to the
		// same bytes, and a decoded summary is as usable as a built one.
		re, _ := s.AppendBinary(nil)
		if !bytes.Equal(re, b) {
			t.Fatalf("decoded summary re-encodes differently:\n in  %x\n out %x", b, re)
		}
		if s.Len() < s.RepeatCustomers() || s.RepeatCustomers() < s.SpendCustomers() {
			t.Fatalf("inconsistent counts %d/%d/%d", s.Len(), s.RepeatCustomers(), s.SpendCustomers())
		}
		p := BGNBD{R: 0.3, Alpha: 4, A: 0.8, B: 2.4}
		if ll := s.BGNBDLogLikelihood(p); math.IsNaN(ll) || math.IsInf(ll, 0) {
			t.Fatalf("BG/NBD LL %v on a decoded summary", ll)
		}
		if ll := s.GammaGammaLogLikelihood(GammaGamma{P: 6, Q: 3.7, Gamma: 15}); math.IsNaN(ll) {
			t.Fatalf("Gamma-Gamma LL NaN on a decoded summary")
		}
		var m Summary
		m.Merge(s)
		m.Merge(s)
		if m.Len() != 2*s.Len() {
			t.Fatalf("merge of a decoded summary: %d customers, want %d", m.Len(), 2*s.Len())
		}
	})
}
