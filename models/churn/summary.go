package churn

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrBadSummary is returned (wrapped, with the reason) by DecodeSummary for
// input that AppendBinary cannot have produced.
var ErrBadSummary = errors.New("churn: bad encoded summary")

// Limits of an encoded summary, so that a corrupt or hostile input cannot
// make DecodeSummary allocate without bound.
const (
	// MaxSummaryEntries bounds the distinct entries of each of the two
	// parts of an encoded summary (about 430 MB encoded at the bound).
	MaxSummaryEntries = 1 << 24
	// MaxSummaryCustomers bounds the customers of a decoded summary,
	// so counts stay exact in a float64.
	MaxSummaryCustomers = 1 << 53
)

const (
	summaryMagic   = "kch"
	summaryVersion = 1
	minBGEntry     = 1 + 8 + 8 + 1 // x, t_x, T, count
	minGGEntry     = 1 + 8 + 1     // x, zbar, count
)

type bgKey struct{ x, tx, t float64 }

type ggKey struct{ x, zbar float64 }

func cmpBG(a, b bgKey) int {
	return cmp.Or(cmp.Compare(a.x, b.x), cmp.Compare(a.tx, b.tx), cmp.Compare(a.t, b.t))
}

func cmpGG(a, b ggKey) int {
	return cmp.Or(cmp.Compare(a.x, b.x), cmp.Compare(a.zbar, b.zbar))
}

// Summary is the mergeable population summary the fits run on: the
// multiset of customers' exact (x, t_x, T) triples, and of the repeat
// buyers' (x, zbar) pairs for Gamma-Gamma, each with its count. Both
// log-likelihoods are sums over customers, so a summary per partition,
// merged (in any order, on any instance), fits exactly as one built from
// the whole population: Merge is associative and commutative, and the fits
// sum the distinct entries in a canonical order, so the result does not
// depend on the merge order, bit for bit.
//
// Customers of one summary may have been observed at different times
// (each T is the customer's own): the likelihood is per customer. They
// must share the time unit the parameters will be in. Building every
// partition's summary at the same day keeps it smaller (customers who
// started the same day then share T).
//
// The zero value is an empty summary ready to use. A Summary holds maps:
// copying the struct shares them; Clone makes an independent copy. It is
// not safe for concurrent use.
type Summary struct {
	bg map[bgKey]uint64
	gg map[ggKey]uint64

	customers, repeat, spenders uint64
}

// Add adds one customer. It rejects (with an error wrapping
// ErrInvalidCustomer) statistics that fail Customer.Validate. A repeat
// buyer with MeanRepeatSpend > 0 also enters the Gamma-Gamma data.
func (s *Summary) Add(c Customer) error {
	if err := c.Validate(); err != nil {
		return err
	}
	s.add(c, 1)
	return nil
}

func (s *Summary) add(c Customer, n uint64) {
	if s.bg == nil {
		s.bg = make(map[bgKey]uint64)
	}
	// +0 turns a -0 into +0, so equal keys encode equally.
	s.bg[bgKey{c.X, c.Tx + 0, c.T + 0}] += n
	s.customers += n
	if c.X > 0 {
		s.repeat += n
		if c.MeanRepeatSpend > 0 {
			if s.gg == nil {
				s.gg = make(map[ggKey]uint64)
			}
			s.gg[ggKey{c.X, c.MeanRepeatSpend}] += n
			s.spenders += n
		}
	}
}

// Merge adds every customer of o to s. o is not modified (s.Merge(s) is
// allowed and doubles every count).
func (s *Summary) Merge(o Summary) {
	if len(o.bg) > 0 && s.bg == nil {
		s.bg = make(map[bgKey]uint64, len(o.bg))
	}
	for k, n := range o.bg {
		s.bg[k] += n
	}
	if len(o.gg) > 0 && s.gg == nil {
		s.gg = make(map[ggKey]uint64, len(o.gg))
	}
	for k, n := range o.gg {
		s.gg[k] += n
	}
	s.customers += o.customers
	s.repeat += o.repeat
	s.spenders += o.spenders
}

// Clone returns an independent copy of s.
func (s *Summary) Clone() Summary {
	var c Summary
	c.Merge(*s)
	return c
}

// Len returns the number of customers in s.
func (s *Summary) Len() int { return int(s.customers) }

// RepeatCustomers returns the number of customers with x > 0.
func (s *Summary) RepeatCustomers() int { return int(s.repeat) }

// SpendCustomers returns the number of customers in the Gamma-Gamma data:
// x > 0 and MeanRepeatSpend > 0.
func (s *Summary) SpendCustomers() int { return int(s.spenders) }

// Entries returns the number of distinct entries s holds (its size in
// memory and encoded is proportional to it).
func (s *Summary) Entries() int { return len(s.bg) + len(s.gg) }

// BGNBDLogLikelihood returns the BG/NBD log-likelihood of the customers in
// s, the same as p.LogLikelihood over them.
func (s *Summary) BGNBDLogLikelihood(p BGNBD) float64 {
	return bgLogLikelihood(p, s.bgGroups(), nil)
}

// GammaGammaLogLikelihood returns the Gamma-Gamma log-likelihood of the
// repeat buyers in s, the same as g.LogLikelihood over them.
func (s *Summary) GammaGammaLogLikelihood(g GammaGamma) float64 {
	return ggLogLikelihood(g, s.ggGroups(), nil)
}

// group is one distinct entry with its count: (x, t_x, T) for BG/NBD,
// (x, zbar, -) for Gamma-Gamma.
type group struct{ x, a, b, n float64 }

// bgGroups returns the BG/NBD entries in canonical order (by x first, which
// the evaluation's per-x cache relies on).
func (s *Summary) bgGroups() []group {
	keys := make([]bgKey, 0, len(s.bg))
	for k := range s.bg {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmpBG)
	gs := make([]group, len(keys))
	for i, k := range keys {
		gs[i] = group{k.x, k.tx, k.t, float64(s.bg[k])}
	}
	return gs
}

func (s *Summary) ggGroups() []group {
	keys := make([]ggKey, 0, len(s.gg))
	for k := range s.gg {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmpGG)
	gs := make([]group, len(keys))
	for i, k := range keys {
		gs[i] = group{k.x, k.zbar, 0, float64(s.gg[k])}
	}
	return gs
}

func bgLogLikelihood(p BGNBD, gs []group, grad *[4]float64) float64 {
	e := newBGEval(p)
	if grad != nil {
		e.withGrad()
	}
	var ll float64
	for _, g := range gs {
		ll += g.n * e.term(g.x, g.a, g.b, g.n, grad)
	}
	return ll
}

func ggLogLikelihood(p GammaGamma, gs []group, grad *[3]float64) float64 {
	e := newGGEval(p)
	if grad != nil {
		e.withGrad()
	}
	var ll float64
	for _, g := range gs {
		ll += g.n * e.term(g.x, g.a, g.n, grad)
	}
	return ll
}

// AppendBinary appends the encoding of s to dst (encoding.BinaryAppender).
// The encoding is canonical (entries sorted), so equal summaries encode to
// equal bytes, whatever order they were built or merged in. Format,
// version 1, all integers unsigned varints, floats IEEE 754 little endian:
//
//	"kch" 0x01
//	n  then n  × (x, t_x float64, T float64, count)   sorted by (x, t_x, T)
//	n' then n' × (x, zbar float64, count)             sorted by (x, zbar)
//
// It never fails; the error is for the interface.
func (s *Summary) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, summaryMagic...)
	dst = append(dst, summaryVersion)
	bg := s.bgGroups()
	dst = binary.AppendUvarint(dst, uint64(len(bg)))
	for _, g := range bg {
		dst = binary.AppendUvarint(dst, uint64(g.x))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(g.a))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(g.b))
		dst = binary.AppendUvarint(dst, uint64(g.n)) // exact: counts are below 2^53
	}
	gg := s.ggGroups()
	dst = binary.AppendUvarint(dst, uint64(len(gg)))
	for _, g := range gg {
		dst = binary.AppendUvarint(dst, uint64(g.x))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(g.a))
		dst = binary.AppendUvarint(dst, uint64(g.n))
	}
	return dst, nil
}

// summaryReader reads an encoded summary; the first error sticks.
type summaryReader struct {
	b   []byte
	err error
}

func (r *summaryReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrBadSummary}, args...)...)
	}
}

func (r *summaryReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("%s: truncated or overlong varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *summaryReader) float(what string) float64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.fail("%s: truncated", what)
		return 0
	}
	bits := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	if bits == 1<<63 {
		r.fail("%s: negative zero", what) // not canonical
	}
	return math.Float64frombits(bits)
}

// count reads an entry count: the number of entries, checked against the
// bytes left (each takes at least min bytes) and MaxSummaryEntries.
func (r *summaryReader) count(what string, min int) int {
	n := r.uvarint(what)
	if r.err == nil && (n > MaxSummaryEntries || n > uint64(len(r.b)/min)) {
		r.fail("%s: %d entries do not fit in %d bytes (limit %d)", what, n, len(r.b), MaxSummaryEntries)
		return 0
	}
	return int(n)
}

// DecodeSummary decodes a summary encoded by AppendBinary. It accepts only
// the canonical encoding (entries strictly increasing, counts >= 1, valid
// customers, no trailing bytes) and allocates in proportion to len(b); the
// error wraps ErrBadSummary. The result does not alias b.
func DecodeSummary(b []byte) (Summary, error) {
	var s Summary
	if len(b) < len(summaryMagic)+1 || string(b[:len(summaryMagic)]) != summaryMagic {
		return Summary{}, fmt.Errorf("%w: not a churn summary (bad magic)", ErrBadSummary)
	}
	if v := b[len(summaryMagic)]; v != summaryVersion {
		return Summary{}, fmt.Errorf("%w: version %d, this build reads version %d: upgrade the instance that decodes", ErrBadSummary, v, summaryVersion)
	}
	r := &summaryReader{b: b[len(summaryMagic)+1:]}
	addCount := func(total *uint64, n uint64) {
		if n == 0 {
			r.fail("zero count")
		}
		if n > MaxSummaryCustomers-*total {
			r.fail("more than %d customers", uint64(MaxSummaryCustomers))
		}
		*total += n
	}

	nbg := r.count("BG/NBD entries", minBGEntry)
	if nbg > 0 {
		s.bg = make(map[bgKey]uint64, nbg)
	}
	var prev bgKey
	for i := 0; i < nbg && r.err == nil; i++ {
		x := r.uvarint("x")
		k := bgKey{float64(x), r.float("t_x"), r.float("T")}
		n := r.uvarint("count")
		if r.err != nil {
			break
		}
		if err := (Customer{X: k.x, Tx: k.tx, T: k.t}).Validate(); err != nil || x > MaxRepeat {
			r.fail("entry %d: %v", i, err)
			break
		}
		if i > 0 && cmpBG(prev, k) >= 0 {
			r.fail("entry %d: not in increasing order", i)
			break
		}
		prev = k
		addCount(&s.customers, n)
		if k.x > 0 {
			s.repeat += n
		}
		s.bg[k] = n
	}

	ngg := r.count("Gamma-Gamma entries", minGGEntry)
	if ngg > 0 {
		s.gg = make(map[ggKey]uint64, ngg)
	}
	var prevG ggKey
	for i := 0; i < ngg && r.err == nil; i++ {
		x := r.uvarint("x")
		k := ggKey{float64(x), r.float("zbar")}
		n := r.uvarint("count")
		if r.err != nil {
			break
		}
		if !(x >= 1 && x <= MaxRepeat) || !(k.zbar > 0) || math.IsInf(k.zbar, 0) {
			r.fail("Gamma-Gamma entry %d: x = %d, zbar = %v, want x >= 1 and zbar > 0", i, x, k.zbar)
			break
		}
		if i > 0 && cmpGG(prevG, k) >= 0 {
			r.fail("Gamma-Gamma entry %d: not in increasing order", i)
			break
		}
		prevG = k
		addCount(&s.spenders, n)
		s.gg[k] = n
	}
	if r.err == nil && s.spenders > s.repeat {
		r.fail("%d Gamma-Gamma customers but only %d repeat customers", s.spenders, s.repeat)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return Summary{}, r.err
	}
	return s, nil
}
