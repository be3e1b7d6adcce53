package decisionlog

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/valyala/fastjson"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/propensity"
)

// DefaultAttribution is the window after a decision within which a click
// or an order counts as its conversion: the catalogue's default.
const DefaultAttribution = 7 * 24 * time.Hour

// ErrMalformed is wrapped by Builder.Add for a value that is neither a
// decision nor an outcome record.
var ErrMalformed = errors.New("decisionlog: malformed record")

// ExampleConfig configures how decisions and outcomes become examples.
type ExampleConfig struct {
	// Attribution is the window after a decision within which a click or
	// an order converts it. Default DefaultAttribution.
	Attribution time.Duration
	// Since drops decisions before it; zero keeps all.
	Since time.Time
}

// Stats counts what a Builder saw and built.
type Stats struct {
	Records, Decisions, Outcomes, Malformed int
	// NoFeatures: decisions without a feature vector; WrongVersion: with
	// one of another features.Version or length; Old: before Since.
	NoFeatures, WrongVersion, Old int
	// Pending: examples left out because their attribution window was
	// still open at the log's last timestamp.
	Pending int
	// Examples built, Positives among them; Unmatched outcomes reference
	// no decision with a usable feature vector in the log.
	Examples, Positives, Unmatched int
	// LogEnd is the latest timestamp in the log (Unix ms).
	LogEnd int64
}

// String renders the counts on one line.
func (s Stats) String() string {
	return fmt.Sprintf("%d records: %d decisions (%d without features, %d of another feature version, %d before --since), %d outcomes (%d unmatched), %d malformed; %d examples, %d converted, %d left out with their attribution window still open",
		s.Records, s.Decisions, s.NoFeatures, s.WrongVersion, s.Old, s.Outcomes, s.Unmatched, s.Malformed, s.Examples, s.Positives, s.Pending)
}

type choice struct {
	action string
	prob   float64
}

type decision struct {
	at       int64
	features features.Vector
	choices  []choice
}

type outcomeKey struct {
	id     nba.DecisionID
	action string
}

// Builder accumulates decision and outcome records in any order and joins
// them into examples. It is not safe for concurrent use.
type Builder struct {
	cfg       ExampleConfig
	decisions map[nba.DecisionID]*decision
	// converted holds the earliest click or order per (decision, action);
	// dismissed only the fact.
	converted map[outcomeKey]int64
	outcomes  map[outcomeKey]bool
	stats     Stats
	// parser and rec decode decision records (nba.DecodeRecord): a
	// training run reads the whole log, one or two records per decision.
	parser fastjson.Parser
	rec    nba.DecisionRecord
}

// NewBuilder returns an empty Builder.
func NewBuilder(cfg ExampleConfig) *Builder {
	if cfg.Attribution <= 0 {
		cfg.Attribution = DefaultAttribution
	}
	return &Builder{cfg: cfg, decisions: map[nba.DecisionID]*decision{}, converted: map[outcomeKey]int64{}, outcomes: map[outcomeKey]bool{}}
}

// Add decodes one value of the decision log. A malformed value is counted
// and returned as an error wrapping ErrMalformed; the Builder stays
// usable.
func (b *Builder) Add(value []byte) error {
	b.stats.Records++
	err := b.add(value)
	if err != nil {
		b.stats.Malformed++
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

func (b *Builder) add(value []byte) error {
	typ, err := nba.DecodeRecord(&b.parser, value, &b.rec)
	if err != nil {
		return err
	}
	if typ == nba.RecordDecision {
		return b.addDecision(&b.rec)
	}
	var r nba.OutcomeRecord
	if err := json.Unmarshal(value, &r); err != nil {
		return err
	}
	return b.addOutcome(&r.Outcome)
}

func (b *Builder) addDecision(r *nba.DecisionRecord) error {
	if r.DecisionID == (nba.DecisionID{}) || r.At.IsZero() {
		return errors.New("decision without decision_id or timestamp")
	}
	b.stats.Decisions++
	at := r.At.UnixMilli()
	b.stats.LogEnd = max(b.stats.LogEnd, at)
	switch {
	case len(r.Features) == 0:
		b.stats.NoFeatures++
		return nil
	case r.FeatureVersion != features.Version || len(r.Features) != features.Len:
		b.stats.WrongVersion++
		return nil
	case !b.cfg.Since.IsZero() && r.At.Before(b.cfg.Since):
		b.stats.Old++
		return nil
	}
	d := &decision{at: at}
	for i, x := range r.Features {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("decision %s: feature %s is %v", r.DecisionID, features.Name(i), x)
		}
		d.features[i] = x
	}
	for _, c := range r.Choices {
		if c.Fallback || c.Action == "" {
			continue
		}
		p := c.LoggingProbability
		if !(p > 0 && p <= 1) {
			p = 0
		}
		d.choices = append(d.choices, choice{action: c.Action, prob: p})
	}
	b.decisions[r.DecisionID] = d // a replayed decision id is the same decision
	return nil
}

func (b *Builder) addOutcome(o *nba.Outcome) error {
	if o.DecisionID == (nba.DecisionID{}) || o.Action == "" || o.At.IsZero() {
		return errors.New("outcome without decision_id, action_id or timestamp")
	}
	b.stats.Outcomes++
	at := o.At.UnixMilli()
	b.stats.LogEnd = max(b.stats.LogEnd, at)
	k := outcomeKey{o.DecisionID, o.Action}
	b.outcomes[k] = true
	switch o.Kind {
	case nba.OutcomeClick, nba.OutcomeOrder:
		if prev, ok := b.converted[k]; !ok || at < prev {
			b.converted[k] = at
		}
	case nba.OutcomeDismiss:
	default:
		return fmt.Errorf("outcome kind %d", o.Kind)
	}
	return nil
}

// Examples joins what was added into examples (in no particular order;
// propensity orders them by At) and returns the counts.
func (b *Builder) Examples() ([]propensity.Example, Stats) {
	s := b.stats
	s.Examples, s.Positives, s.Pending, s.Unmatched = 0, 0, 0, 0
	window := b.cfg.Attribution.Milliseconds()
	ids := slices.SortedFunc(maps.Keys(b.decisions), func(a, b nba.DecisionID) int { return bytes.Compare(a[:], b[:]) })
	var ex []propensity.Example
	for _, id := range ids {
		d := b.decisions[id]
		for _, c := range d.choices {
			k := outcomeKey{id, c.action}
			t, ok := b.converted[k]
			won := ok && t >= d.at && t-d.at <= window
			if !won && d.at+window > s.LogEnd {
				s.Pending++
				continue
			}
			ex = append(ex, propensity.Example{Features: d.features, Action: c.action, Outcome: won, At: d.at, Propensity: c.prob})
			if won {
				s.Positives++
			}
		}
	}
	for k := range b.outcomes {
		if b.decisions[k.id] == nil {
			s.Unmatched++
		}
	}
	s.Examples = len(ex)
	// Deterministic order (time, then decision id, then rank), so the
	// holdout boundary does not depend on map iteration.
	slices.SortStableFunc(ex, func(a, b propensity.Example) int { return cmp.Compare(a.At, b.At) })
	return ex, s
}
