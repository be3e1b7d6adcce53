package rfm

import (
	"errors"
	"fmt"
)

// ErrInvalidConfig is wrapped by Config.Validate; the message names the
// field.
var ErrInvalidConfig = errors.New("rfm: invalid config")

// Default values of Config.
const (
	DefaultWindowDays    = 365
	DefaultMinorPerMajor = 100
	DefaultMinPopulation = 5
	// MaxWindowDays bounds WindowDays (a hundred years).
	MaxWindowDays = 36525
)

// Config configures RFM scoring. The zero Config is the default one; every
// zero field takes its default.
type Config struct {
	// WindowDays is the frequency and monetary window: the WindowDays days
	// ending with the evaluation day, (atDay−WindowDays, atDay]. Default
	// DefaultWindowDays (365), at most MaxWindowDays.
	WindowDays int
	// MinorPerMajor converts spend from minor to major units (100 for
	// cents; 1 for currencies without minor units such as JPY, 1000 for
	// KWD). Default DefaultMinorPerMajor (100).
	MinorPerMajor int64
	// MinPopulation is the smallest population scored by its own
	// quintiles; a smaller one is scored with Fallback. Default and
	// minimum DefaultMinPopulation (5): quintiles need five customers.
	MinPopulation uint64
	// Fallback are the cuts used for a population smaller than
	// MinPopulation (a new shop, an empty partition set). Default
	// DefaultCuts(); a non-zero value must pass Cuts.Validate.
	Fallback Cuts
}

// withDefaults returns c with every zero field defaulted. Raw and
// Config.Cuts apply it and cannot return errors, so it also replaces the
// out-of-range values Validate reports: a negative WindowDays,
// MinorPerMajor or a MinPopulation below 5 by the default, a WindowDays
// above MaxWindowDays by that maximum. Call Validate at start to hear
// about them.
func (c Config) withDefaults() Config {
	if c.WindowDays <= 0 {
		c.WindowDays = DefaultWindowDays
	}
	c.WindowDays = min(c.WindowDays, MaxWindowDays)
	if c.MinorPerMajor <= 0 {
		c.MinorPerMajor = DefaultMinorPerMajor
	}
	if c.MinPopulation < DefaultMinPopulation {
		c.MinPopulation = DefaultMinPopulation
	}
	if c.Fallback == (Cuts{}) {
		c.Fallback = DefaultCuts()
	}
	return c
}

// Validate reports the first field that cannot work, wrapping
// ErrInvalidConfig. Zero values that have a default are valid.
func (c Config) Validate() error {
	switch {
	case c.WindowDays < 0 || c.WindowDays > MaxWindowDays:
		return fmt.Errorf("%w: WindowDays is %d; use 1..%d days or 0 for the default %d",
			ErrInvalidConfig, c.WindowDays, MaxWindowDays, DefaultWindowDays)
	case c.MinorPerMajor < 0:
		return fmt.Errorf("%w: MinorPerMajor is %d; use the number of minor units in a major one (100 for cents) or 0 for the default %d",
			ErrInvalidConfig, c.MinorPerMajor, DefaultMinorPerMajor)
	case c.MinPopulation != 0 && c.MinPopulation < DefaultMinPopulation:
		return fmt.Errorf("%w: MinPopulation is %d; quintiles need at least %d customers, use 0 for that default",
			ErrInvalidConfig, c.MinPopulation, DefaultMinPopulation)
	}
	if c.Fallback != (Cuts{}) {
		if err := c.Fallback.Validate(); err != nil {
			return fmt.Errorf("%w: Fallback: %w", ErrInvalidConfig, err)
		}
	}
	return nil
}

// Cuts returns the cuts to score customers of population p with: its
// quintiles (Population.Quintiles) when it has at least MinPopulation
// customers, otherwise Fallback with Cuts.Fallback set. p may be nil.
func (c Config) Cuts(p *Population) Cuts {
	c = c.withDefaults()
	var n uint64
	if p != nil {
		n = p.n
	}
	if n < c.MinPopulation {
		fb := c.Fallback
		fb.N, fb.Fallback = n, true
		return fb
	}
	return p.quintiles()
}
