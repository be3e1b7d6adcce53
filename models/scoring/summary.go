package scoring

import (
	"math"
	"slices"
	"time"

	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/state"
)

// Numbers of stages and segments, as array lengths.
const (
	NumStages   = int(lead.StageLapsed) + 1
	NumSegments = int(rfm.Lost) + 1
)

// Bucket upper bounds of the score distributions.
var (
	leadBuckets   = []float64{-50, -20, 0, 10, 20, 40, 60, 80, 100, 150, 200}
	pAliveBuckets = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}
	clvBuckets    = []float64{0, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}
)

// Histogram is a cumulative-free bucket count: Counts[i] counts values at
// most Bounds[i] and above the previous bound; the last count is above
// every bound.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Sum    float64
	N      uint64
}

func newHistogram(bounds []float64) Histogram {
	return Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1)}
}

func (h *Histogram) observe(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	i, _ := slices.BinarySearch(h.Bounds, v)
	h.Counts[i]++
	h.Sum += v
	h.N++
}

func (h *Histogram) merge(o Histogram) {
	for i := range h.Counts {
		if i < len(o.Counts) {
			h.Counts[i] += o.Counts[i]
		}
	}
	h.Sum += o.Sum
	h.N += o.N
}

// Summary is one partition's (or a merge of several partitions')
// contribution to the population models, evaluated at one instant.
type Summary struct {
	At         int64 // Unix ms the contacts were evaluated at
	Partitions int   // partitions merged into this summary
	Contacts   uint64
	Skipped    uint64 // contacts left out of the churn summary (invalid statistics)
	RFM        *rfm.Population
	Churn      churn.Summary
	// Stages counts contacts per lifecycle stage at At (the stage the
	// lead score gives at that instant, indexed by lead.Stage), Segments
	// customers per RFM segment with the cuts of the models passed to
	// AddScores (in a population refresh: the cuts fitted at At).
	Stages   [NumStages]uint64
	Segments [NumSegments]uint64
	Lead     Histogram // lead score of known contacts (stage lead and up)
	PAlive   Histogram // P(alive) of customers
	CLV      Histogram // 12-month CLV of customers, major units
}

// NewSummary returns an empty summary at instant at.
func NewSummary(at int64) *Summary {
	return &Summary{
		At:     at,
		RFM:    rfm.NewPopulation(),
		Lead:   newHistogram(leadBuckets),
		PAlive: newHistogram(pAliveBuckets),
		CLV:    newHistogram(clvBuckets),
	}
}

// Add evaluates one contact at s.At with models m and adds it: both
// AddPopulation (with m's config) and AddScores.
func (s *Summary) Add(c *state.Contact, m *Models, top []lead.Contribution) error {
	s.AddPopulation(c, m.Config)
	s.AddScores(c, m, top)
	return nil
}

// AddPopulation counts one contact and adds its part of the population
// models, the RFM sketch and the churn statistics, evaluated at s.At.
// What the population fit needs depends on the configuration only, not
// on a fitted population.
func (s *Summary) AddPopulation(c *state.Contact, cfg Config) {
	s.Contacts++
	if err := Observe(c, s.At, cfg, s.RFM, &s.Churn); err != nil {
		// Statistics no purchase history produces: a damaged record.
		// Leave it out of the fit rather than stop the scan.
		s.Skipped++
	}
}

// AddScores adds one contact's scores at s.At under models m to the
// counts per stage and segment and to the score distributions. The
// population refresh calls it with the models it has just fitted, so
// that the counts use the new RFM cuts and churn fit rather than the
// previous ones. top is scratch for the lead score's contributions.
func (s *Summary) AddScores(c *state.Contact, m *Models, top []lead.Contribution) {
	sc := m.Evaluate(c, s.At, top)
	if st := int(sc.Lead.Stage); st < NumStages {
		s.Stages[st]++
	}
	if sc.Lead.Stage >= lead.StageLead {
		s.Lead.observe(sc.Lead.Total)
	}
	if sc.IsBuyer {
		if seg := int(sc.RFM.Segment); seg < NumSegments {
			s.Segments[seg]++
		}
	}
	if sc.HasChurn {
		s.PAlive.observe(sc.Churn.PAlive)
		s.CLV.observe(sc.Churn.CLV)
	}
}

// Merge adds o into s. Merging is associative and commutative: the
// sketches, sums and counts all are.
func (s *Summary) Merge(o *Summary) error {
	if err := s.RFM.Merge(o.RFM); err != nil {
		return err
	}
	s.Churn.Merge(o.Churn)
	s.Partitions += o.Partitions
	s.Contacts += o.Contacts
	s.Skipped += o.Skipped
	for i := range s.Stages {
		s.Stages[i] += o.Stages[i]
	}
	for i := range s.Segments {
		s.Segments[i] += o.Segments[i]
	}
	s.Lead.merge(o.Lead)
	s.PAlive.merge(o.PAlive)
	s.CLV.merge(o.CLV)
	return nil
}

// Report is one population refresh: the merged summary of the partitions
// scanned and the population fitted from it.
type Report struct {
	Summary    *Summary
	Population Population
	BGErr      error // why there is no BG/NBD fit (churn.ErrNotEnoughData, ...), nil if fitted
	GGErr      error
	Scan       time.Duration // wall time of the scans, without the fit
	// PartitionContacts counts the contacts of each partition scanned.
	PartitionContacts map[int32]uint64
}
