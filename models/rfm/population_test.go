package rfm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
)

// customer is one raw (r, f, m) triple.
type customer struct{ r, f, m float64 }

// randomCustomers draws n customers from skewed distributions like real
// shops': recency roughly exponential in whole days (mean 200), frequency
// geometric in whole orders (many ties, mostly 1-3), monetary log-normal
// in cents.
func randomCustomers(rng *rand.Rand, n int) []customer {
	cs := make([]customer, n)
	for i := range cs {
		f := 1.0
		for rng.Float64() < 0.55 && f < 500 {
			f++
		}
		cs[i] = customer{
			r: math.Floor(rng.ExpFloat64() * 200),
			f: f,
			m: math.Round(math.Exp(4+1.3*rng.NormFloat64())*f*100) / 100,
		}
	}
	return cs
}

func populationOf(cs []customer) *Population {
	p := NewPopulation()
	for _, c := range cs {
		p.Add(c.r, c.f, c.m)
	}
	return p
}

// exactCuts computes the cut points of the definition (doc.go) exactly:
// in worst-to-best order, cut k is the value at position ceil(k·n/5).
func exactCuts(cs []customer) (r, f, m [4]float64) {
	n := len(cs)
	col := func(get func(customer) float64, desc bool) [4]float64 {
		v := make([]float64, n)
		for i, c := range cs {
			v[i] = get(c)
		}
		slices.Sort(v)
		if desc {
			slices.Reverse(v)
		}
		var out [4]float64
		for k := range 4 {
			out[k] = v[((k+1)*n+4)/5]
		}
		return out
	}
	return col(func(c customer) float64 { return c.r }, true),
		col(func(c customer) float64 { return c.f }, false),
		col(func(c customer) float64 { return c.m }, false)
}

// TestSketchAccuracy compares the sketch quintiles of 100,000 customers
// with the exact ones: M within RelativeAccuracy, R and F (whole numbers,
// rounded) exact below 100 and within RelativeAccuracy·x + 0.5 above.
func TestSketchAccuracy(t *testing.T) {
	const n = 100_000
	distributions := []struct {
		name string
		gen  func(rng *rand.Rand) customer
	}{
		{"shop-like", nil},
		{"wide uniform", func(rng *rand.Rand) customer {
			return customer{
				r: math.Floor(rng.Float64() * 5000),
				f: math.Floor(rng.Float64() * 2000),
				m: math.Exp(rng.Float64()*math.Log(1e8)) / 100, // 0.01 .. 1e6, log-uniform
			}
		}},
		{"heavy ties", func(rng *rand.Rand) customer {
			return customer{r: float64(rng.IntN(3)), f: float64(1 + rng.IntN(2)), m: float64(rng.IntN(4)) * 10}
		}},
	}
	for i, d := range distributions {
		t.Run(d.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			var cs []customer
			if d.gen == nil {
				cs = randomCustomers(rng, n)
			} else {
				cs = make([]customer, n)
				for j := range cs {
					cs[j] = d.gen(rng)
				}
			}
			p := populationOf(cs)
			got := p.Quintiles()
			if got.Fallback || got.N != n {
				t.Fatalf("Quintiles: fallback %v, N %d", got.Fallback, got.N)
			}
			wr, wf, wm := exactCuts(cs)
			var worst [3]float64 // relative error of the unrounded estimates
			for k := range 4 {
				pos := uint64(((k+1)*n + 4) / 5)
				for d, c := range []struct {
					dim        string
					sketch     *ddsketch.DDSketch
					idx        uint64
					cut, want  float64
					wholeValue bool
				}{
					{"R", p.r, n - 1 - pos, got.R[k], wr[k], true},
					{"F", p.f, pos, got.F[k], wf[k], true},
					{"M", p.m, pos, got.M[k], wm[k], false},
				} {
					// The sketch's estimate: within α.
					est, lo, hi := cutAt(c.sketch, c.idx)
					if diff := math.Abs(est - c.want); diff > RelativeAccuracy*c.want*(1+1e-9) {
						t.Errorf("%s cut %d: estimate %v, exact %v: error %v above α·x", c.dim, k+1, est, c.want, diff)
					} else if c.want > 0 {
						worst[d] = max(worst[d], diff/c.want)
					}
					// The exact value is in the cut's bin, so it ties.
					if c.want < lo || c.want >= hi {
						t.Errorf("%s cut %d: exact %v outside the bin [%v, %v)", c.dim, k+1, c.want, lo, hi)
					}
					// The cut value: rounded for whole numbers.
					bound := RelativeAccuracy * c.want * (1 + 1e-9)
					if c.wholeValue {
						bound = math.Floor(RelativeAccuracy*c.want + 0.5)
						if c.want < 100 {
							bound = 0
						}
					}
					if diff := math.Abs(c.cut - c.want); diff > bound {
						t.Errorf("%s cut %d: %v, exact %v: error %v above %v", c.dim, k+1, c.cut, c.want, diff, bound)
					}
				}
			}
			t.Logf("cuts R %v F %v M %.2f (exact R %v F %v M %.2f); worst relative error of the estimates R %.5f F %.5f M %.5f (α %v)",
				got.R, got.F, got.M, wr, wf, wm, worst[0], worst[1], worst[2], RelativeAccuracy)
		})
	}
}

// TestScoreDistribution checks what the cuts are for: on continuous data
// each score goes to a fifth of the customers, up to the few customers
// within the sketch's error of a cut.
func TestScoreDistribution(t *testing.T) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(7, 7))
	cs := make([]customer, n)
	for i := range cs {
		cs[i] = customer{r: rng.Float64() * 1000, f: 0, m: math.Exp(4 + 1.3*rng.NormFloat64())}
	}
	cuts := populationOf(cs).Quintiles()
	var byR, byM [6]int
	for _, c := range cs {
		s := cuts.Score(c.r, c.f, c.m)
		byR[s.R]++
		byM[s.M]++
	}
	for s := 1; s <= 5; s++ {
		for _, c := range []struct {
			dim   string
			count int
		}{{"R", byR[s]}, {"M", byM[s]}} {
			if share := float64(c.count) / n; math.Abs(share-0.2) > 0.01 {
				t.Errorf("%s score %d: %.2f%% of customers, want 20%% ± 1%%", c.dim, s, 100*share)
			}
		}
	}
	t.Logf("R scores %v, M scores %v of %d", byR[1:], byM[1:], n)
}

// TestMergeProperties: merging is commutative and associative, and the
// merge of parts equals the population built from every customer at once,
// exactly (same encoding, same cuts).
func TestMergeProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 40 {
		// Sizes include empty parts and parts below the minimum.
		parts := make([][]customer, 3)
		for i := range parts {
			parts[i] = randomCustomers(rng, []int{0, 1, 4, 50, 2000}[rng.IntN(5)])
		}
		a, b, c := parts[0], parts[1], parts[2]
		all := populationOf(slices.Concat(a, b, c))

		left := populationOf(a) // (a ∪ b) ∪ c
		mustMerge(t, left, populationOf(b))
		mustMerge(t, left, populationOf(c))

		bc := populationOf(b) // a ∪ (b ∪ c)
		mustMerge(t, bc, populationOf(c))
		right := populationOf(a)
		mustMerge(t, right, bc)

		swapped := populationOf(c) // c ∪ (b ∪ a)
		ba := populationOf(b)
		mustMerge(t, ba, populationOf(a))
		mustMerge(t, swapped, ba)

		zero := &Population{} // merged into a zero value
		for _, p := range []*Population{populationOf(b), populationOf(c), populationOf(a)} {
			mustMerge(t, zero, p)
		}

		want := all.AppendBinary(nil)
		for name, p := range map[string]*Population{"(a∪b)∪c": left, "a∪(b∪c)": right, "c∪(b∪a)": swapped, "zero∪b∪c∪a": zero} {
			if got := p.AppendBinary(nil); !bytes.Equal(got, want) {
				t.Fatalf("iteration %d: %s differs from the population of all customers", iter, name)
			}
			if p.Len() != all.Len() || p.Quintiles() != all.Quintiles() {
				t.Fatalf("iteration %d: %s: Len %d, cuts %+v; want %d, %+v", iter, name, p.Len(), p.Quintiles(), all.Len(), all.Quintiles())
			}
		}
	}
}

func mustMerge(t *testing.T, p, o *Population) {
	t.Helper()
	if err := p.Merge(o); err != nil {
		t.Fatal(err)
	}
}

func TestMergeEdgeCases(t *testing.T) {
	cs := randomCustomers(rand.New(rand.NewPCG(3, 3)), 100)
	p := populationOf(cs)
	before := p.AppendBinary(nil)
	for name, o := range map[string]*Population{"nil": nil, "zero value": {}, "empty": NewPopulation()} {
		if err := p.Merge(o); err != nil {
			t.Fatalf("Merge(%s): %v", name, err)
		}
		if !bytes.Equal(p.AppendBinary(nil), before) {
			t.Fatalf("Merge(%s) changed the population", name)
		}
	}
	// Merging a population into itself doubles every customer.
	if err := p.Merge(p); err != nil {
		t.Fatal(err)
	}
	double := populationOf(slices.Concat(cs, cs))
	if !bytes.Equal(p.AppendBinary(nil), double.AppendBinary(nil)) {
		t.Error("p.Merge(p) differs from adding every customer twice")
	}
	// Too many customers: refused, p unchanged.
	huge := &Population{n: MaxCustomers - 10}
	huge.init()
	before = p.AppendBinary(nil)
	if err := huge.Merge(p); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Merge past MaxCustomers = %v, want ErrTooLarge", err)
	}
	if err := p.Merge(huge); !errors.Is(err, ErrTooLarge) || !bytes.Equal(p.AppendBinary(nil), before) {
		t.Errorf("Merge past MaxCustomers = %v, or changed p", err)
	}
}

func TestAddClamps(t *testing.T) {
	p := NewPopulation()
	inputs := []float64{math.NaN(), math.Inf(-1), -5, 0, MinValue / 2, MinValue, 1, MaxValue, MaxValue * 10, math.Inf(1)}
	for _, v := range inputs {
		p.Add(v, v, v)
	}
	if p.Len() != uint64(len(inputs)) {
		t.Fatalf("Len = %d, want %d", p.Len(), len(inputs))
	}
	// Five values clamp to 0, three to MaxValue.
	for name, s := range map[string]*ddsketch.DDSketch{"R": p.r, "F": p.f, "M": p.m} {
		if zero := s.GetZeroCount(); zero != 5 {
			t.Errorf("%s: %v zero values, want 5", name, zero)
		}
		top, err := s.GetMaxValue()
		if err != nil || math.Abs(top-MaxValue) > RelativeAccuracy*MaxValue {
			t.Errorf("%s: max %v (%v), want about %v", name, top, err, MaxValue)
		}
	}
	dec, err := DecodePopulation(p.AppendBinary(nil))
	if err != nil {
		t.Fatalf("clamped extremes do not round-trip: %v", err)
	}
	if dec.Len() != p.Len() {
		t.Errorf("decoded Len %d, want %d", dec.Len(), p.Len())
	}
}

func TestZeroValuePopulation(t *testing.T) {
	var p Population
	if p.Len() != 0 || !p.Quintiles().Fallback {
		t.Fatal("zero Population is not empty")
	}
	enc := p.AppendBinary(nil)
	if !bytes.Equal(enc, NewPopulation().AppendBinary(nil)) {
		t.Errorf("zero value encodes as %x, an empty population as %x", enc, NewPopulation().AppendBinary(nil))
	}
	p.Add(1, 2, 3)
	if p.Len() != 1 {
		t.Errorf("Len after Add = %d", p.Len())
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{0, 1, 5, 1000, 50_000} {
		p := populationOf(randomCustomers(rng, n))
		enc := p.AppendBinary([]byte("prefix"))
		if !bytes.HasPrefix(enc, []byte("prefix")) {
			t.Fatal("AppendBinary overwrote dst")
		}
		enc = enc[len("prefix"):]
		dec, err := DecodePopulation(enc)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if dec.Len() != p.Len() || dec.Quintiles() != p.Quintiles() {
			t.Errorf("n=%d: decoded Len %d cuts %+v, want %d %+v", n, dec.Len(), dec.Quintiles(), p.Len(), p.Quintiles())
		}
		if again := dec.AppendBinary(nil); !bytes.Equal(again, enc) {
			t.Errorf("n=%d: re-encoding differs", n)
		}
		// A decoded population merges like the original.
		if err := dec.Merge(p); err != nil || dec.Len() != 2*p.Len() {
			t.Errorf("n=%d: merge after decode: %v, Len %d", n, err, dec.Len())
		}
		t.Logf("n=%d: %d bytes", n, len(enc))
	}
}

// TestEncodedSizeBound fills every bin of every sketch: the encoding stays
// within MaxEncodedLen and decodes.
func TestEncodedSizeBound(t *testing.T) {
	p := NewPopulation()
	lo, hi := indexBounds(p.r.IndexMapping)
	for i := lo; i <= hi; i++ {
		v := p.r.Value(i)
		p.Add(v, v, v)
	}
	p.Add(0, 0, 0)
	enc := p.AppendBinary(nil)
	if len(enc) > MaxEncodedLen {
		t.Fatalf("a full population encodes to %d bytes, above MaxEncodedLen %d", len(enc), MaxEncodedLen)
	}
	dec, err := DecodePopulation(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec.AppendBinary(nil), enc) {
		t.Error("full population does not round-trip")
	}
	t.Logf("%d bins per sketch, %d bytes encoded", hi-lo+1, len(enc))
}

func TestDecodePopulationErrors(t *testing.T) {
	valid := populationOf(randomCustomers(rand.New(rand.NewPCG(9, 9)), 300)).AppendBinary(nil)
	lo, hi := indexBounds(NewPopulation().r.IndexMapping)
	// enc builds an encoding by hand: n, then per sketch zero count and
	// bins as (index, count) pairs, absolute indexes.
	enc := func(n uint64, sketches ...[]int64) []byte {
		b := binary.AppendUvarint([]byte{populationFormat}, n)
		for _, s := range sketches {
			b = binary.AppendUvarint(b, uint64(s[0]))
			bins := s[1:]
			b = binary.AppendUvarint(b, uint64(len(bins)/2))
			for i := 0; i+1 < len(bins); i += 2 {
				if i == 0 {
					b = binary.AppendVarint(b, bins[i])
				} else {
					b = binary.AppendUvarint(b, uint64(bins[i]-bins[i-2]-1))
				}
				b = binary.AppendUvarint(b, uint64(bins[i+1]))
			}
		}
		return b
	}
	ok3 := []int64{3}
	if _, err := DecodePopulation(enc(3, ok3, ok3, []int64{1, 0, 2})); err != nil {
		t.Fatalf("hand-built encoding: %v", err)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"version 0", []byte{0, 0, 0, 0, 0, 0, 0, 0}, ErrCorrupt},
		{"newer version", []byte{2, 0, 0, 0, 0, 0, 0, 0}, ErrUnknownVersion},
		{"trailing byte", append(bytes.Clone(valid), 0), ErrCorrupt},
		{"too long", make([]byte, MaxEncodedLen+1), ErrCorrupt},
		{"overflowing varint", append([]byte{populationFormat}, bytes.Repeat([]byte{0xff}, 11)...), ErrCorrupt},
		{"too many customers", enc(MaxCustomers+1, ok3, ok3, ok3), ErrCorrupt},
		{"zero count above n", enc(3, []int64{4}, ok3, ok3), ErrCorrupt},
		{"counts short of n", enc(3, ok3, []int64{1, 5, 1}, ok3), ErrCorrupt},
		{"counts above n", enc(3, ok3, []int64{1, 5, 3}, ok3), ErrCorrupt},
		{"zero bin count", enc(3, ok3, []int64{3, 5, 0}, ok3), ErrCorrupt},
		{"index below range", enc(1, []int64{0, int64(lo) - 1, 1}, []int64{1}, []int64{1}), ErrCorrupt},
		{"index above range", enc(1, []int64{0, int64(hi) + 1, 1}, []int64{1}, []int64{1}), ErrCorrupt},
		{"huge gap", enc(2, []int64{0, int64(lo), 1, math.MaxInt32, 1}, []int64{2}, []int64{2}), ErrCorrupt},
		{"more bins than the range", append(binary.AppendUvarint([]byte{populationFormat, 1, 0}, uint64(hi-lo+2)), 0), ErrCorrupt},
		{"missing sketch", enc(3, ok3, ok3), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodePopulation(tt.data)
			if !errors.Is(err, tt.want) || p != nil {
				t.Errorf("DecodePopulation = %v, %v; want nil, %v", p, err, tt.want)
			}
		})
	}
	t.Run("every truncation", func(t *testing.T) {
		for i := range len(valid) {
			if _, err := DecodePopulation(valid[:i]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("prefix of %d/%d bytes: %v", i, len(valid), err)
			}
		}
	})
}
