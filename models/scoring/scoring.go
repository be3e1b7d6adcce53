package scoring

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/state"
)

// ErrInvalidConfig is wrapped by Config.Validate; the message names the
// field.
var ErrInvalidConfig = errors.New("scoring: invalid config")

// Defaults of Config.
const (
	DefaultCLVMonths       = 12
	DefaultMonthlyDiscount = 0.01
	DefaultLowRiskAt       = 0.7
	DefaultHighRiskBelow   = 0.3
)

// Config holds what scoring adds to the models' own configuration. The
// zero value is the default.
type Config struct {
	RFM rfm.Config
	// Unit is the churn models' time unit; 0 means churn.Week, the unit
	// of the literature and of the published CDNOW estimates.
	Unit time.Duration
	// CLVMonths is the CLV horizon in months; 0 means 12.
	CLVMonths int
	// MonthlyDiscount is the CLV discount rate per month (0.01 is 1% a
	// month); 0 means DefaultMonthlyDiscount. Use a tiny positive value
	// for no discount.
	MonthlyDiscount float64
	// LowRiskAt and HighRiskBelow cut P(alive) into churn-risk bands:
	// low at or above LowRiskAt, high below HighRiskBelow, medium in
	// between. 0 means the defaults (0.7 and 0.3).
	LowRiskAt, HighRiskBelow float64
	// LapsedBelow is the P(alive) under which a customer's stage becomes
	// lapsed; 0 means HighRiskBelow.
	LapsedBelow float64
}

// WithDefaults returns c with every zero field defaulted.
func (c Config) WithDefaults() Config {
	if c.Unit <= 0 {
		c.Unit = churn.Week
	}
	if c.CLVMonths <= 0 {
		c.CLVMonths = DefaultCLVMonths
	}
	if c.MonthlyDiscount == 0 {
		c.MonthlyDiscount = DefaultMonthlyDiscount
	}
	if c.LowRiskAt == 0 {
		c.LowRiskAt = DefaultLowRiskAt
	}
	if c.HighRiskBelow == 0 {
		c.HighRiskBelow = DefaultHighRiskBelow
	}
	if c.LapsedBelow == 0 {
		c.LapsedBelow = c.HighRiskBelow
	}
	return c
}

// Validate reports the first field that cannot work.
func (c Config) Validate() error {
	if err := c.RFM.Validate(); err != nil {
		// Wrap both: callers branch on this package's sentinel, and the
		// rfm error names the field.
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	d := c.WithDefaults()
	switch {
	case c.Unit < 0:
		return fmt.Errorf("%w: churn unit %v must be positive", ErrInvalidConfig, c.Unit)
	case c.CLVMonths < 0 || c.CLVMonths > churn.MaxCLVMonths:
		return fmt.Errorf("%w: clv months %d must be in 1..%d", ErrInvalidConfig, c.CLVMonths, churn.MaxCLVMonths)
	case !(d.MonthlyDiscount > -1) || d.MonthlyDiscount > 1:
		return fmt.Errorf("%w: monthly discount %v must be in (-1, 1]", ErrInvalidConfig, c.MonthlyDiscount)
	case !(d.HighRiskBelow > 0 && d.HighRiskBelow < d.LowRiskAt && d.LowRiskAt <= 1):
		return fmt.Errorf("%w: churn risk cut-offs need 0 < high_risk_below (%v) < low_risk_at (%v) <= 1", ErrInvalidConfig, d.HighRiskBelow, d.LowRiskAt)
	case !(d.LapsedBelow > 0 && d.LapsedBelow <= 1):
		return fmt.Errorf("%w: lapsed_below %v must be in (0, 1]", ErrInvalidConfig, d.LapsedBelow)
	}
	return nil
}

// Population is what the population fit produced: the RFM cuts and the
// churn parameters, valid at At. The zero Population (nothing fitted yet)
// scores RFM with the fallback cuts and has no churn figures.
type Population struct {
	At        time.Time // the evaluation instant of the data
	Customers uint64    // customers in the RFM population
	Cuts      rfm.Cuts  // zero: use the configured fallback

	BG       churn.BGNBD
	BGInfo   churn.FitInfo
	BGFitted bool
	GG       churn.GammaGamma
	GGInfo   churn.FitInfo
	GGFitted bool

	// Partitions is how many partitions' summaries went into the fit, of
	// PartitionsTotal: fewer means some were not yet reported.
	Partitions, PartitionsTotal int
	FittedAt                    time.Time // wall clock when the fit finished
	FitDuration                 time.Duration
}

// Models is an immutable snapshot of everything scoring needs.
type Models struct {
	Lead   *lead.Plan
	Config Config // defaulted by New
	Pop    Population
	cuts   rfm.Cuts
}

// New returns a snapshot; plan must not be nil.
func New(plan *lead.Plan, cfg Config, pop Population) (*Models, error) {
	if plan == nil {
		return nil, fmt.Errorf("%w: no lead plan", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return build(plan, cfg.WithDefaults(), pop), nil
}

// build makes a snapshot from a validated, defaulted config.
func build(plan *lead.Plan, cfg Config, pop Population) *Models {
	m := &Models{Lead: plan, Config: cfg, Pop: pop}
	m.cuts = pop.Cuts
	if m.cuts == (rfm.Cuts{}) || pop.Customers < max(cfg.RFM.MinPopulation, rfm.DefaultMinPopulation) {
		m.cuts = cfg.RFM.Fallback
		if m.cuts == (rfm.Cuts{}) {
			m.cuts = rfm.DefaultCuts()
		}
	}
	return m
}

// WithPopulation returns a copy of m using pop.
func (m *Models) WithPopulation(pop Population) *Models { return build(m.Lead, m.Config, pop) }

// WithPlan returns a copy of m using plan.
func (m *Models) WithPlan(plan *lead.Plan) *Models {
	n := *m
	n.Lead = plan
	return &n
}

// Cuts returns the RFM cuts in use (the population's, or the fallback).
func (m *Models) Cuts() rfm.Cuts { return m.cuts }

// zones caches time zones by name for every goroutine (the API reads
// concurrently); an unknown name is UTC, as the fold treats it.
var zones sync.Map

func zone(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = time.UTC
	}
	zones.Store(name, l)
	return l
}

// localDay returns the (fractional) day number of instant at (Unix ms) in
// the contact's time zone: days since 1970-01-01 local time.
func localDay(c *state.Contact, at int64) float64 {
	sec := math.Floor(float64(at) / 1000)
	_, off := time.Unix(int64(sec), 0).In(zone(c.TimeZone)).Zone()
	return (float64(at)/1000 + float64(off)) / 86400
}

// columns splits the contact's purchase days into the column form
// rfm.Raw and churn.FromPurchaseDays take, in the caller's buffers.
type columns struct {
	days   []int32
	orders []uint16
	spends []int64
}

func (b *columns) fill(ps []state.PurchaseDay) {
	b.days, b.orders, b.spends = b.days[:0], b.orders[:0], b.spends[:0]
	for _, p := range ps {
		if p.Orders == 0 {
			continue // every order of that day was cancelled
		}
		b.days = append(b.days, p.Day)
		b.orders = append(b.orders, p.Orders)
		b.spends = append(b.spends, p.Spend)
	}
}

var columnsPool = sync.Pool{New: func() any { return new(columns) }}
