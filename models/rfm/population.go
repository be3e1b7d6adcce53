package rfm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// Sketch parameters. They are part of the encoding: a population written
// with format version 1 uses exactly these, and populations merge only
// because every instance uses the same ones. Changing any of them needs a
// new format version.
const (
	// RelativeAccuracy is the DDSketch relative-error guarantee α: a
	// quantile read from a sketch is within α·x of the exact quantile x.
	RelativeAccuracy = 0.005
	// MinValue is the smallest positive value a sketch resolves. Add
	// counts values below it (and negative values and NaN) as 0, which the
	// sketch keeps exactly.
	MinValue = 1e-3
	// MaxValue is the largest value a sketch keeps; Add clamps larger
	// values (and +Inf) to it. Together with MinValue it bounds a sketch
	// to fewer than 3,500 bins whatever the input.
	MaxValue = 1e12
	// MaxCustomers bounds Len so that every count stays exact in the
	// sketch's float64 bins. Merge and DecodePopulation refuse more.
	MaxCustomers = 1 << 53
	// MaxEncodedLen bounds the encoding of a population; DecodePopulation
	// refuses longer input before reading it.
	MaxEncodedLen = 256 << 10
)

// populationFormat is the version byte of the encoding. Version 1 is a
// logarithmic DDSketch mapping with RelativeAccuracy and index offset 0.
const populationFormat = 1

// Sentinel errors of the package's population functions.
var (
	// ErrCorrupt is wrapped by DecodePopulation when the bytes are
	// truncated, out of bounds or inconsistent; the message says which
	// part. Rebuild the population from the partition's contacts.
	ErrCorrupt = errors.New("rfm: corrupt population encoding")
	// ErrUnknownVersion is wrapped by DecodePopulation for an encoding
	// written by a newer release (a rollback after the newer one wrote).
	// Rebuild the population with this release or roll forward.
	ErrUnknownVersion = errors.New("rfm: population encoding has an unknown format version")
	// ErrTooLarge is returned by Merge when the merged population would
	// count more than MaxCustomers customers.
	ErrTooLarge = errors.New("rfm: population too large")
)

// Population is the distribution of raw recency, frequency and monetary
// values over a set of customers: three DDSketch quantile sketches (R, F,
// M) and the customer count. Per-partition populations merge exactly
// (bin counts add), so merging in any order and grouping gives the same
// population, bit for bit, as adding every customer to one.
//
// The zero value is an empty population ready to use. A Population is not
// safe for concurrent use: a partition worker owns its own, and the
// reader merges decoded copies into its own. Copying a Population value
// shares its sketches; to copy one, Merge it into a new one.
type Population struct {
	n       uint64
	r, f, m *ddsketch.DDSketch
}

// NewPopulation returns an empty population.
func NewPopulation() *Population {
	p := &Population{}
	p.init()
	return p
}

func (p *Population) init() {
	if p.r != nil {
		return
	}
	// The error is only for an accuracy outside (0, 1).
	mp, _ := mapping.NewLogarithmicMapping(RelativeAccuracy)
	p.r = newSketch(mp)
	p.f = newSketch(mp)
	p.m = newSketch(mp)
}

// newSketch uses dense stores: constant-time Add, and with values clamped
// to [MinValue, MaxValue] their size is bounded. The negative store stays
// empty (Add never passes a negative value).
func newSketch(mp mapping.IndexMapping) *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(mp, store.NewDenseStore(), store.NewDenseStore())
}

// clamp maps a raw value into what a sketch keeps: NaN, negative values
// and values below MinValue become 0, values above MaxValue become
// MaxValue.
func clamp(v float64) float64 {
	switch {
	case !(v >= MinValue): // also NaN
		return 0
	case v > MaxValue:
		return MaxValue
	}
	return v
}

// Add adds one customer with raw recency r (days), frequency f (orders)
// and monetary value m (major units), as returned by Raw. Values are
// clamped to 0 or [MinValue, MaxValue] (see clamp); NaN counts as 0.
func (p *Population) Add(r, f, m float64) {
	p.init()
	// After clamp the values are finite and in range: Add cannot fail.
	_ = p.r.Add(clamp(r))
	_ = p.f.Add(clamp(f))
	_ = p.m.Add(clamp(m))
	p.n++
}

// Len returns the number of customers added or merged in.
func (p *Population) Len() uint64 { return p.n }

// Merge adds every customer of other to p; other is not modified (other
// may be p). It fails only with ErrTooLarge, leaving p unchanged.
func (p *Population) Merge(other *Population) error {
	if other == nil || other.n == 0 {
		return nil
	}
	if other.n > MaxCustomers-p.n {
		return fmt.Errorf("%w: merging %d customers into %d exceeds %d", ErrTooLarge, other.n, p.n, uint64(MaxCustomers))
	}
	p.init()
	if other == p {
		other = p.clone()
	}
	for _, pair := range [3][2]*ddsketch.DDSketch{{p.r, other.r}, {p.f, other.f}, {p.m, other.m}} {
		// Every population uses the same mapping, so this cannot fail.
		if err := pair[0].MergeWith(pair[1]); err != nil {
			return fmt.Errorf("rfm: merge population: %w", err)
		}
	}
	p.n += other.n
	return nil
}

func (p *Population) clone() *Population {
	if p.r == nil {
		return &Population{}
	}
	return &Population{n: p.n, r: p.r.Copy(), f: p.f.Copy(), m: p.m.Copy()}
}

// Quintiles returns the cut points of the population with the default
// Config: the sketch quintiles when it has at least DefaultMinPopulation
// customers, DefaultCuts otherwise (Cuts.Fallback tells which). Use
// Config.Cuts for configured fallbacks.
func (p *Population) Quintiles() Cuts {
	return Config{}.Cuts(p)
}

// quintiles computes the cut points from the sketches; p.n must be at
// least 5 so that every cut falls on a customer.
//
// Each dimension is ordered from worst to best (R by descending days, F
// and M ascending); cut k (k = 1..4) is the value of the customer at
// 0-based position ceil(k·n/5) in that order, the first customer of score
// k+1, as the sketch estimates it. With n distinct values this gives
// every score to n/5 customers (±1). R and F are whole numbers, so their
// cut values are rounded to the nearest whole number, which makes them
// exact below 1/(2·RelativeAccuracy) = 100. Score compares with the bins
// of the cuts, not with these values (see Cuts.Score).
func (p *Population) quintiles() Cuts {
	c := Cuts{N: p.n, binned: true}
	for k := range 4 {
		pos := (uint64(k+1)*p.n + 4) / 5 // ceil((k+1)·n/5) ≤ n-1 for n ≥ 5
		c.R[k], c.lo[0][k], c.hi[0][k] = cutAt(p.r, p.n-1-pos)
		c.F[k], c.lo[1][k], c.hi[1][k] = cutAt(p.f, pos)
		c.M[k], c.lo[2][k], c.hi[2][k] = cutAt(p.m, pos)
		c.R[k], c.F[k] = math.Round(c.R[k]), math.Round(c.F[k])
	}
	return c
}

// cutAt returns the sketch's estimate of the value at 0-based position
// idx of its values sorted ascending, the representative value of the bin
// holding that position, within RelativeAccuracy of the exact value; and
// the bounds [lo, hi) of that bin, the values the sketch cannot tell
// apart from it. The zero bin holds everything Add counts as 0.
func cutAt(s *ddsketch.DDSketch, idx uint64) (v, lo, hi float64) {
	rank := float64(idx) // exact: idx < MaxCustomers
	zero := s.GetZeroCount()
	if rank < zero {
		return 0, math.Inf(-1), MinValue
	}
	rank -= zero
	var cum float64
	bin := 0
	// DenseStore.ForEach visits bins in ascending index order. The ranks
	// are below the total count, so some bin is found.
	s.GetPositiveValueStore().ForEach(func(index int, count float64) bool {
		cum += count
		bin = index
		return cum > rank
	})
	return s.Value(bin), s.LowerBound(bin), s.LowerBound(bin + 1)
}

// AppendBinary appends the versioned binary encoding of p to dst and
// returns the extended slice. Unlike encoding.BinaryAppender it cannot
// fail. The encoding is canonical (bins in index order) and at most
// MaxEncodedLen bytes:
//
//	byte     format version (1)
//	uvarint  customer count n
//	3 times, for R, F, M:
//	  uvarint  count of zero values
//	  uvarint  number of non-empty bins b
//	  b times: varint bin index (the first) or uvarint gap to the
//	           previous index minus 1 (the others), then uvarint count ≥ 1
func (p *Population) AppendBinary(dst []byte) []byte {
	dst = append(dst, populationFormat)
	dst = binary.AppendUvarint(dst, p.n)
	for _, s := range [3]*ddsketch.DDSketch{p.r, p.f, p.m} {
		dst = appendSketch(dst, s)
	}
	return dst
}

func appendSketch(dst []byte, s *ddsketch.DDSketch) []byte {
	if s == nil {
		return append(dst, 0, 0)
	}
	st := s.GetPositiveValueStore()
	bins := 0
	st.ForEach(func(int, float64) bool { bins++; return false })
	dst = binary.AppendUvarint(dst, uint64(s.GetZeroCount()))
	dst = binary.AppendUvarint(dst, uint64(bins))
	first, prev := true, 0
	st.ForEach(func(index int, count float64) bool {
		if first {
			dst = binary.AppendVarint(dst, int64(index))
			first = false
		} else {
			dst = binary.AppendUvarint(dst, uint64(index-prev-1))
		}
		prev = index
		dst = binary.AppendUvarint(dst, uint64(count))
		return false
	})
	return dst
}

// indexBounds returns the bin indexes of MinValue and MaxValue: every bin
// of a valid sketch lies between them.
func indexBounds(mp mapping.IndexMapping) (lo, hi int) {
	return mp.Index(MinValue), mp.Index(MaxValue)
}

// DecodePopulation decodes what AppendBinary wrote. It does not keep data.
// It wraps ErrUnknownVersion for a newer format and ErrCorrupt for
// anything else it cannot accept: input longer than MaxEncodedLen, bins
// outside [MinValue, MaxValue], more bins than that range holds, counts
// that do not add up to the customer count, trailing bytes. Memory use is
// bounded by the format, not by the counts it claims.
func DecodePopulation(data []byte) (*Population, error) {
	if len(data) > MaxEncodedLen {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d a population encodes to", ErrCorrupt, len(data), MaxEncodedLen)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrCorrupt)
	}
	if v := data[0]; v != populationFormat {
		if v > populationFormat {
			return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrUnknownVersion, v, populationFormat)
		}
		return nil, fmt.Errorf("%w: version byte %d", ErrCorrupt, v)
	}
	d := decoder{b: data[1:], dim: "header"}
	n := d.uvarint("customer count")
	if d.err == nil && n > MaxCustomers {
		d.fail("customer count %d exceeds %d", n, uint64(MaxCustomers))
	}
	p := NewPopulation()
	p.n = n
	lo, hi := indexBounds(p.r.IndexMapping)
	for i, s := range [3]*ddsketch.DDSketch{p.r, p.f, p.m} {
		d.dim = "RFM"[i : i+1]
		d.sketch(s, n, lo, hi)
	}
	if d.err == nil && len(d.b) != 0 {
		d.dim = "end"
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

// decoder reads varints and keeps the first error.
type decoder struct {
	b    []byte
	dim  string // the part being decoded, for error messages
	bins []bin  // scratch, reused across sketches
	err  error
}

type bin struct {
	index int
	count uint64
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s", ErrCorrupt, d.dim, fmt.Sprintf(format, args...))
	}
}

// uvarint reads an unsigned varint from d.b.
func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, rest, ok := readUvarint(d.b)
	if !ok {
		d.fail("%s: truncated or overflowing varint", what)
		return 0
	}
	d.b = rest
	return v
}

// readUvarint and readVarint work on a local slice: the bin loop keeps
// its position in a local, so that it writes no pointer into the decoder
// (a GC write barrier per varint).
func readUvarint(b []byte) (uint64, []byte, bool) {
	v, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, b, false
	}
	return v, b[k:], true
}

func readVarint(b []byte) (int64, []byte, bool) {
	v, k := binary.Varint(b)
	if k <= 0 {
		return 0, b, false
	}
	return v, b[k:], true
}

// sketch decodes one sketch into the empty s, checking that its bins lie
// in [lo, hi] and that its counts add up to n. It reads and checks every
// bin before adding any, and adds the highest and lowest first so that
// the dense store is sized once.
func (d *decoder) sketch(s *ddsketch.DDSketch, n uint64, lo, hi int) {
	zero := d.uvarint("zero count")
	nbins := d.uvarint("bin count")
	if d.err != nil {
		return
	}
	if zero > n {
		d.fail("%d zero values among %d customers", zero, n)
		return
	}
	if nbins > uint64(hi-lo+1) {
		d.fail("%d bins, more than the %d the value range holds", nbins, hi-lo+1)
		return
	}
	if nbins > uint64(len(d.b))/2 { // every bin takes two bytes at least
		d.fail("%d bins in %d bytes", nbins, len(d.b))
		return
	}
	if cap(d.bins) < int(nbins) {
		d.bins = make([]bin, 0, nbins) // bounded by the checks above
	}
	d.bins = d.bins[:0]
	total := zero
	b := d.b
	var index int64
	for i := range nbins {
		var ok bool
		if i == 0 {
			if index, b, ok = readVarint(b); !ok {
				d.fail("bin index: truncated or overflowing varint")
				return
			}
		} else {
			var gap uint64
			if gap, b, ok = readUvarint(b); !ok {
				d.fail("bin gap: truncated or overflowing varint")
				return
			}
			if gap > uint64(hi-lo) { // also keeps index+gap from overflowing
				d.fail("bin gap %d out of range", gap)
				return
			}
			index += int64(gap) + 1
		}
		var count uint64
		if count, b, ok = readUvarint(b); !ok {
			d.fail("bin count: truncated or overflowing varint")
			return
		}
		if index < int64(lo) || index > int64(hi) {
			d.fail("bin index %d outside [%d, %d]", index, lo, hi)
			return
		}
		if count == 0 || count > n-total {
			d.fail("bin %d count %d with %d of %d customers already counted", index, count, total, n)
			return
		}
		d.bins = append(d.bins, bin{int(index), count})
		total += count
	}
	d.b = b
	if total != n {
		d.fail("counts add up to %d, not the customer count %d", total, n)
		return
	}
	// AddWithCount(0, zero) only adds to the zero count.
	_ = s.AddWithCount(0, float64(zero))
	st := s.GetPositiveValueStore()
	if k := len(d.bins); k > 0 {
		st.AddWithCount(d.bins[k-1].index, float64(d.bins[k-1].count))
		for _, b := range d.bins[:k-1] {
			st.AddWithCount(b.index, float64(b.count))
		}
	}
}
