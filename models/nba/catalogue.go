package nba

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/kairos-engine/kairos/models/yamlsrc"
)

//go:embed default_catalogue.yaml
var defaultCatalogue []byte

// DefaultCatalogueFile is the name errors and Catalogue.Source give the
// shipped catalogue.
const DefaultCatalogueFile = "default_catalogue.yaml"

// Bounds of a catalogue, so that a file cannot make the hot path or the
// per-contact History grow without limit.
const (
	MaxCatalogueSize = 1 << 20
	MaxActions       = 256
	MaxPlacements    = 16
	MaxIDLen         = 64
	MaxExprLen       = 4096
)

// Action is one offer, message or piece of content the engine can
// recommend. It is immutable once the Catalogue is parsed.
type Action struct {
	ID          string
	Description string
	// Weights maps each placement the action may be shown in to its
	// context weight there (1 when the file lists the placement without
	// a weight). Indexed like Catalogue.Placements; 0 means not shown.
	Weights []float64
	// Eligible is the expression's source ("" means always eligible).
	Eligible string
	Value    float64 // business value of a conversion
	Lever    float64 // the marketer's weight on the action
	// ValidFrom and ValidUntil bound when the action can be chosen
	// (Unix ms; 0 means unbounded).
	ValidFrom, ValidUntil int64
	// CapMax impressions per contact per CapPer; 0 means uncapped.
	CapMax uint16
	CapPer time.Duration
	// StopAfterConversion: once the contact converted on the action it is
	// not offered again.
	StopAfterConversion bool
	// Attribution is how long after an impression an order counts as the
	// action's conversion.
	Attribution time.Duration
	// Prior is the Beta prior of the action's conversion probability.
	Prior Beta

	index int
	hash  uint32 // History key
	conds []cond // the eligibility expression split at top-level "and"
}

// Beta is a Beta(Alpha, Beta) distribution, the prior (or posterior) of a
// conversion probability.
type Beta struct{ Alpha, Beta float64 }

// Index is the action's position in Catalogue.Actions (and in
// Context.Learned).
func (a *Action) Index() int { return a.index }

// Mean is the distribution's mean.
func (b Beta) Mean() float64 { return b.Alpha / (b.Alpha + b.Beta) }

// Baseline is the policy of the control group.
type Baseline uint8

// The control group's policies.
const (
	// BaselinePriority ranks eligible actions by weight × value × lever,
	// a fixed order with no learning: what a marketer would configure by
	// hand.
	BaselinePriority Baseline = iota
	// BaselineRandom shows eligible actions in a uniformly random order.
	BaselineRandom
)

func (b Baseline) String() string {
	if b == BaselineRandom {
		return "random"
	}
	return "priority"
}

// Catalogue is a parsed, validated action catalogue. It is immutable and
// safe for concurrent use; reloading means parsing a new one and building a
// new Policy from it.
type Catalogue struct {
	source  string
	version string
	// Placements are the placement names actions refer to, sorted.
	placements []string
	actions    []*Action // file order
	byID       map[string]*Action
	// fallback per placement index: the action served when deciding
	// fails or runs out of time; nil when none is configured.
	fallback     []*Action
	controlShare float64
	baseline     Baseline
}

// Source is the file the catalogue was parsed from.
func (c *Catalogue) Source() string { return c.source }

// Version is the catalogue's version string, logged with every decision.
func (c *Catalogue) Version() string { return c.version }

// Placements returns the placement names, sorted. Do not modify.
func (c *Catalogue) Placements() []string { return c.placements }

// Actions returns the actions in file order. Do not modify.
func (c *Catalogue) Actions() []*Action { return c.actions }

// Action returns the action with the id, or nil.
func (c *Catalogue) Action(id string) *Action { return c.byID[id] }

// ControlShare is the share of contacts (0..1) in the control group.
func (c *Catalogue) ControlShare() float64 { return c.controlShare }

// Baseline is the control group's policy.
func (c *Catalogue) Baseline() Baseline { return c.baseline }

// Placement returns the index of a placement name, or -1.
func (c *Catalogue) Placement(name string) int {
	i, ok := slices.BinarySearch(c.placements, name)
	if !ok {
		return -1
	}
	return i
}

// Fallback returns the action to serve in a placement when no decision
// can be made in time, or nil when the catalogue names none.
func (c *Catalogue) Fallback(placement string) *Action {
	i := c.Placement(placement)
	if i < 0 {
		return nil
	}
	return c.fallback[i]
}

// IsMessage reports whether a placement is a messaging channel (email,
// sms, push): showing an action there needs the channel's consent and
// counts against marketing pressure.
func IsMessage(placement string) bool {
	return placement == "email" || placement == "sms" || placement == "push"
}

// CatalogueError locates what is wrong with a catalogue: file, line
// (1-based, 0 when unknown), dotted field path and what to do.
type CatalogueError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// Error returns "file:line: field: message".
func (e *CatalogueError) Error() string { return yamlsrc.Format(e.File, e.Line, e.Field, e.Msg) }

// LoadCatalogue reads and parses a catalogue file.
func LoadCatalogue(path string) (*Catalogue, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nba catalogue: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxCatalogueSize+1))
	if err != nil {
		return nil, fmt.Errorf("nba catalogue: read %s: %w", path, err)
	}
	return ParseCatalogue(path, data)
}

// DefaultCatalogue parses the catalogue shipped with Kairos (embedded),
// which fits the demo shop. The package's tests prove it parses.
func DefaultCatalogue() (*Catalogue, error) {
	return ParseCatalogue(DefaultCatalogueFile, defaultCatalogue)
}

// DefaultCatalogueYAML returns a copy of the shipped catalogue's text.
func DefaultCatalogueYAML() []byte { return slices.Clone(defaultCatalogue) }
