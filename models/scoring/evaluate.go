package scoring

import (
	"math"

	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/state"
)

// Band is a churn-risk band.
type Band uint8

// Churn-risk bands.
const (
	BandNone Band = iota // not a customer, or no fitted model
	BandLow
	BandMedium
	BandHigh
)

var bandNames = [...]string{"none", "low", "medium", "high"}

func (b Band) String() string {
	if int(b) < len(bandNames) {
		return bandNames[b]
	}
	return "none"
}

// Band returns the churn-risk band of a P(alive).
func (m *Models) Band(pAlive float64) Band {
	switch {
	case math.IsNaN(pAlive):
		return BandNone
	case pAlive >= m.Config.LowRiskAt:
		return BandLow
	case pAlive < m.Config.HighRiskBelow:
		return BandHigh
	}
	return BandMedium
}

// RFM is a customer's RFM position at an instant.
type RFM struct {
	RecencyDays float64 // days since the last purchase day
	Frequency   float64 // orders in the window
	Monetary    float64 // spend in the window, major units
	Score       rfm.Score
	Segment     rfm.Segment
	Grade       string
}

// Churn is a customer's churn figures at an instant.
type Churn struct {
	PAlive        float64
	Expected30    float64 // expected purchases (distinct days) in the next 30 days
	Expected90    float64
	ExpectedValue float64 // expected mean order value, major units (Gamma-Gamma); NaN without a spend fit
	CLV           float64 // over Config.CLVMonths, discounted; NaN without a spend fit
	Band          Band
	Customer      churn.Customer
}

// Scores are a contact's scores at one instant.
type Scores struct {
	At       int64 // Unix ms
	Lead     lead.Result
	RFM      RFM
	IsBuyer  bool // the contact has a purchase on or before At: RFM is set
	Churn    Churn
	HasChurn bool // IsBuyer and a BG/NBD fit exists: Churn is set
}

// Evaluate computes c's scores at instant at (Unix ms) without writing
// anything. top is a buffer for the lead score's top contributions; with
// cap(top) ≥ Lead.Top() the lead part does not allocate.
func (m *Models) Evaluate(c *state.Contact, at int64, top []lead.Contribution) Scores {
	s := Scores{At: at, Lead: m.Lead.ScoreInto(top, &c.Scores, c, at)}
	cols := columnsPool.Get().(*columns)
	defer columnsPool.Put(cols)
	cols.fill(c.Purchases)
	day := localDay(c, at)
	r, f, mo, ok := rfm.Raw(cols.days, cols.orders, cols.spends, int32(math.Floor(day)), m.Config.RFM)
	if !ok {
		return s
	}
	s.IsBuyer = true
	s.RFM = RFM{RecencyDays: r, Frequency: f, Monetary: mo, Score: m.cuts.Score(r, f, mo)}
	s.RFM.Segment = rfm.SegmentOf(s.RFM.Score)
	s.RFM.Grade = rfm.Grade(s.RFM.Score)
	if !m.Pop.BGFitted {
		return s
	}
	cu, ok := churn.FromPurchaseDays(cols.days, cols.spends, day, m.Config.Unit)
	if !ok {
		return s
	}
	s.HasChurn = true
	s.Churn = m.churn(cu)
	return s
}

func (m *Models) churn(cu churn.Customer) Churn {
	unitDays := float64(m.Config.Unit) / float64(24*60*60*1e9)
	bg := m.Pop.BG
	ch := Churn{
		Customer:      cu,
		PAlive:        bg.PAlive(cu.X, cu.Tx, cu.T),
		Expected30:    bg.ExpectedPurchases(30/unitDays, cu.X, cu.Tx, cu.T),
		Expected90:    bg.ExpectedPurchases(90/unitDays, cu.X, cu.Tx, cu.T),
		ExpectedValue: math.NaN(),
		CLV:           math.NaN(),
	}
	ch.Band = m.Band(ch.PAlive)
	if m.Pop.GGFitted {
		ch.ExpectedValue = m.Pop.GG.ExpectedAverageValue(cu.X, cu.MeanRepeatSpend)
		ch.CLV = churn.CLV(bg, m.Pop.GG, cu, m.Config.CLVMonths, m.Config.MonthlyDiscount, m.Config.Unit)
	}
	return ch
}

// Observe adds contact c, evaluated at instant at, to a partition's
// population summaries: its raw RFM to pop and its churn statistics to
// sum. A contact with no purchase on or before at adds nothing.
func Observe(c *state.Contact, at int64, cfg Config, pop *rfm.Population, sum *churn.Summary) error {
	cfg = cfg.WithDefaults()
	cols := columnsPool.Get().(*columns)
	defer columnsPool.Put(cols)
	cols.fill(c.Purchases)
	day := localDay(c, at)
	r, f, mo, ok := rfm.Raw(cols.days, cols.orders, cols.spends, int32(math.Floor(day)), cfg.RFM)
	if !ok {
		return nil
	}
	pop.Add(r, f, mo)
	cu, ok := churn.FromPurchaseDays(cols.days, cols.spends, day, cfg.Unit)
	if !ok {
		return nil
	}
	return sum.Add(cu)
}

// Change reports what Fold changed in the stored scores.
type Change struct {
	Lead           lead.Change
	SegmentChanged bool
	SegmentFrom    rfm.Segment
	SegmentTo      rfm.Segment
	Lapsed         bool // the stage moved to lapsed (Lead.StageChanged is set too)
}

// Fold updates c's stored scores for one event already folded into c: t
// is its type, at its event time (Unix ms), props its properties. Then:
//
//   - the lead score and stage (lead.Plan.Apply);
//   - the daily segment snapshot: on the first event of a later local day
//     than the last snapshot, a customer's RFM segment at that instant is
//     stored, and a change from the previous snapshot is recorded as a
//     state.Transition of kind state.TransitionSegment (a move to a worse
//     segment, rfm.Worse, is the churn signal triggers act on). A late
//     event (an earlier day) takes no snapshot. The snapshot uses the
//     population of this snapshot of the models, so a replay after a new
//     fit may record another segment: segments are signals, not counts;
//   - lapsed: a customer whose P(alive) at at is below LapsedBelow
//     becomes lapsed (lead.Plan.MarkLapsed); an order after that returns
//     it to customer (Apply does).
func (m *Models) Fold(c *state.Contact, t state.EventType, at int64, props lead.Props) Change {
	ch := Change{Lead: m.Lead.Apply(&c.Scores, t, at, props, c)}
	if c.Orders.Count <= 0 || at < c.LastSeen {
		return ch
	}
	cols := columnsPool.Get().(*columns)
	defer columnsPool.Put(cols)
	cols.fill(c.Purchases)
	dayF := localDay(c, at)
	day := int32(math.Floor(dayF))
	if day > c.Scores.SegmentDay {
		if r, f, mo, ok := rfm.Raw(cols.days, cols.orders, cols.spends, day, m.Config.RFM); ok {
			seg := rfm.SegmentOf(m.cuts.Score(r, f, mo))
			prev := rfm.Segment(c.Scores.Segment)
			if prev != 0 && prev != seg {
				ch.SegmentChanged, ch.SegmentFrom, ch.SegmentTo = true, prev, seg
				addTransition(&c.Scores, state.Transition{Kind: state.TransitionSegment, From: uint8(prev), To: uint8(seg), At: at})
			}
			c.Scores.Segment, c.Scores.SegmentDay = uint8(seg), day
		}
	}
	if m.Pop.BGFitted && lead.Stage(c.Scores.Stage) == lead.StageCustomer && t != state.EventOrderPlaced {
		if cu, ok := churn.FromPurchaseDays(cols.days, cols.spends, dayF, m.Config.Unit); ok {
			if m.Pop.BG.PAlive(cu.X, cu.Tx, cu.T) < m.Config.LapsedBelow {
				lc := m.Lead.MarkLapsed(&c.Scores, at, true)
				if lc.StageChanged {
					ch.Lead.StageChanged, ch.Lead.From, ch.Lead.To = true, lc.From, lc.To
					ch.Lapsed = true
				}
			}
		}
	}
	return ch
}

// Merge adds an absorbed profile's stored scores to the surviving
// contact's, after state.Contact.Absorb merged the rest, and restages it
// at instant at.
func (m *Models) Merge(dst, src *state.Contact, at int64) lead.Change {
	m.Lead.Merge(&dst.Scores, &src.Scores)
	if src.Scores.SegmentDay > dst.Scores.SegmentDay {
		dst.Scores.Segment, dst.Scores.SegmentDay = src.Scores.Segment, src.Scores.SegmentDay
	}
	return m.Lead.Refresh(&dst.Scores, dst, at)
}

func addTransition(s *state.Scores, tr state.Transition) {
	if len(s.Transitions) >= state.MaxTransitions {
		n := copy(s.Transitions, s.Transitions[len(s.Transitions)-state.MaxTransitions+1:])
		s.Transitions = s.Transitions[:n]
	}
	s.Transitions = append(s.Transitions, tr)
}
