package synth

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("synth: invalid config")

// Config describes the simulated audience. The zero value is valid: every
// field has a documented default that applies when it is left zero.
type Config struct {
	// Contacts is the number of people who are, or can become, known
	// contacts (contact id and email). Default 10_000.
	Contacts int

	// Visitors is the number of purely anonymous visitor slots: browsers
	// that never identify. A visitor that stops coming back is replaced by
	// a new one with a fresh anonymous id, so the number of distinct
	// anonymous ids grows over a run. Default Contacts/2; negative means
	// none.
	Visitors int

	// Seed makes a run reproducible: the same Config yields the same bytes.
	// It is also part of every event, contact, anonymous and order id, so
	// runs with different seeds never share ids. Default 1.
	Seed uint64

	// Start is where the simulated clock begins. Default
	// 2026-01-01T00:00:00Z.
	Start time.Time

	// KnownShare is the share of contacts already known at Start (imported
	// from a CRM, subscribed to lists, but with browsers not yet linked);
	// the others are unknown until they sign up or check out. Default 0.6;
	// negative means none.
	KnownShare float64

	// LateRate is the share of events held back and emitted up to two
	// simulated minutes after later events (a mobile app flushing its
	// queue, a slow collector), so consumers see realistic out-of-order
	// input. Timestamps stay true. Default 0.002; negative means none.
	LateRate float64

	// BadRate is the share of extra, malformed records mixed into the
	// stream for dead-letter testing (Record.Bad, Record.Reason). They are
	// inserted before the event they were derived from, and the stream of
	// good records is the same as with BadRate 0. Default 0.
	BadRate float64
}

// Default values of Config fields.
const (
	DefaultContacts   = 10_000
	DefaultSeed       = 1
	DefaultKnownShare = 0.6
	DefaultLateRate   = 0.002
)

// defaultStartUnix is the default start of the simulated clock,
// 2026-01-01T00:00:00Z, in Unix seconds.
const defaultStartUnix = 1767225600

// Validate reports fields that are out of range. New does not call it: it
// clamps such values instead, so callers that take a Config from flags or
// files should call Validate first to give the operator a precise error.
func (c Config) Validate() error {
	var errs []error
	if c.Contacts < 0 {
		errs = append(errs, fmt.Errorf("%w: Contacts is %d, want >= 0 (0 means %d)", ErrInvalidConfig, c.Contacts, DefaultContacts))
	}
	if c.Contacts > 50_000_000 {
		errs = append(errs, fmt.Errorf("%w: Contacts is %d, want <= 50000000", ErrInvalidConfig, c.Contacts))
	}
	if c.Visitors > 50_000_000 {
		errs = append(errs, fmt.Errorf("%w: Visitors is %d, want <= 50000000", ErrInvalidConfig, c.Visitors))
	}
	if c.KnownShare > 1 {
		errs = append(errs, fmt.Errorf("%w: KnownShare is %g, want a share in [0, 1]", ErrInvalidConfig, c.KnownShare))
	}
	if c.LateRate > 1 {
		errs = append(errs, fmt.Errorf("%w: LateRate is %g, want a share in [0, 1]", ErrInvalidConfig, c.LateRate))
	}
	if c.BadRate < 0 || c.BadRate > 1 {
		errs = append(errs, fmt.Errorf("%w: BadRate is %g, want a share in [0, 1]", ErrInvalidConfig, c.BadRate))
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields and clamps out-of-range ones.
func (c Config) withDefaults() Config {
	if c.Contacts <= 0 {
		c.Contacts = DefaultContacts
	}
	c.Contacts = min(c.Contacts, 50_000_000)
	switch {
	case c.Visitors == 0:
		c.Visitors = c.Contacts / 2
	case c.Visitors < 0:
		c.Visitors = 0
	}
	c.Visitors = min(c.Visitors, 50_000_000)
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.Start.IsZero() {
		c.Start = time.Unix(defaultStartUnix, 0).UTC()
	}
	switch {
	case c.KnownShare == 0:
		c.KnownShare = DefaultKnownShare
	case c.KnownShare < 0:
		c.KnownShare = 0
	}
	c.KnownShare = min(c.KnownShare, 1)
	switch {
	case c.LateRate == 0:
		c.LateRate = DefaultLateRate
	case c.LateRate < 0:
		c.LateRate = 0
	}
	c.LateRate = min(c.LateRate, 1)
	c.BadRate = min(max(c.BadRate, 0), 1)
	return c
}
