package lead

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kairos-engine/kairos/models/yamlsrc"
	"github.com/kairos-engine/kairos/state"
)

//go:embed default_plan.yaml
var defaultPlan []byte

// DefaultPlanFile is the name errors and Plan.Source give the shipped plan.
const DefaultPlanFile = "default_plan.yaml"

// MaxPlanSize bounds a plan file.
const MaxPlanSize = 1 << 20

// Bounds of a plan, so that a plan cannot make the hot path or a contact
// record grow without limit.
const (
	// MaxBehaviourRules is state.MaxLeadRules: every behavioural rule of a
	// plan has room in a contact's stored rule list.
	MaxBehaviourRules = state.MaxLeadRules
	MaxFitRules       = 64
	MaxConditions     = 16   // property or trait names per rule
	MaxValues         = 1024 // values of one in, contains, word or prefix
	MaxIDLen          = 64   // rule and group ids, stored in every record that hit the rule
	MaxNameLen        = 128  // property and trait names
	MaxTop            = 20   // top: contributions Score reports
	maxPoints         = 1e6  // |points|, |mql|, |sql|, hysteresis
)

// DefaultTop is the number of contributions Score reports when the plan
// does not set top.
const DefaultTop = 5

// Plan is a parsed, validated lead-scoring plan. It is immutable after
// ParsePlan and safe for concurrent use by any number of goroutines;
// reloading means parsing a new Plan and swapping the pointer (an
// atomic.Pointer[Plan] at the owner).
type Plan struct {
	source      string
	version     string
	description string
	top         int

	rules []*rule // behavioural rules sorted by id
	// byEvent lists the behavioural rules of each event type in file order.
	byEvent [state.NumEventTypes][]*rule
	fit     []*fitRule // in file order
	// fitMin and fitMax are the least and the most fit points a contact
	// can have: the sums of the negative and of the positive fit rules.
	fitMin, fitMax float64
	life           Lifecycle
	// accepting are the rules whose hit means "sales accepted", sorted.
	accepting []*rule
	// acceptTraits are trait conditions that mean "sales accepted".
	acceptTraits []match
}

// group is a rule group while it is parsed.
type group struct {
	id, description string
	halfLife        time.Duration // 0: never decays
}

// rule is a behavioural rule.
type rule struct {
	id, description, group string
	event                  state.EventType
	when                   []match
	points                 float64
	halfLife               time.Duration // 0: never decays
	rate                   float64       // rateOf(halfLife)
	capMax                 uint32        // 0: no cap
	capPer                 int64         // milliseconds
}

// fitRule is a rule on the contact's traits, evaluated when the score is
// read. Fit does not decay.
type fitRule struct {
	id, description, group string
	traits                 []match
	points                 float64
}

// Lifecycle holds the plan's stage thresholds.
type Lifecycle struct {
	MQL float64 // score at which a known lead becomes MQL
	// SQL is the score at which it becomes SQL; HasSQL is false when only
	// sales acceptance makes a contact SQL.
	SQL    float64
	HasSQL bool
	// Hysteresis: a contact at MQL (SQL) or above leaves that stage only
	// when its score drops below MQL − Hysteresis (SQL − Hysteresis).
	Hysteresis float64
}

// Source returns the file name the plan was parsed from.
func (p *Plan) Source() string { return p.source }

// Version returns the plan's version string, for logs, metrics and the
// API, so a score can be traced to the plan that produced it.
func (p *Plan) Version() string { return p.version }

// Description returns the plan's description, possibly empty.
func (p *Plan) Description() string { return p.description }

// Top returns how many contributions Score reports.
func (p *Plan) Top() int { return p.top }

// Lifecycle returns the plan's stage thresholds.
func (p *Plan) Lifecycle() Lifecycle { return p.life }

// RuleIDs returns the ids of the plan's behavioural rules then of its fit
// rules, each part sorted: for listing the plan and for pre-registering
// metric labels.
func (p *Plan) RuleIDs() []string {
	ids := make([]string, 0, len(p.rules)+len(p.fit))
	for _, r := range p.rules {
		ids = append(ids, r.id)
	}
	n := len(ids)
	for _, f := range p.fit {
		ids = append(ids, f.id)
	}
	slices.Sort(ids[n:])
	return ids
}

// rule returns the behavioural rule with the id, or nil.
func (p *Plan) rule(id string) *rule {
	i, ok := slices.BinarySearchFunc(p.rules, id, func(r *rule, id string) int { return strings.Compare(r.id, id) })
	if !ok {
		return nil
	}
	return p.rules[i]
}

// PlanError locates what is wrong with a plan: the file, the line (1-based;
// 0 when the problem has no line, such as an empty file), the dotted path
// of the field ("behaviour[0].rules[2].cap.per"; empty for YAML syntax
// errors) and what to do about it.
type PlanError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// Error returns "file:line: field: message".
func (e *PlanError) Error() string { return yamlsrc.Format(e.File, e.Line, e.Field, e.Msg) }

// LoadPlan reads and parses a plan file. A plan that does not validate
// returns a *PlanError naming the file, line and field; a file that cannot
// be read returns the os error, wrapped.
func LoadPlan(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lead plan: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPlanSize+1))
	if err != nil {
		return nil, fmt.Errorf("lead plan: read %s: %w", path, err)
	}
	return ParsePlan(path, data)
}

// Default parses the plan shipped with Kairos (default_plan.yaml, embedded),
// which the demo uses. It cannot fail unless the embedded file was broken,
// which the package's tests rule out.
func Default() (*Plan, error) {
	return ParsePlan(DefaultPlanFile, defaultPlan)
}

// DefaultYAML returns a copy of the shipped plan's text, a starting point
// for a custom plan.
func DefaultYAML() []byte { return slices.Clone(defaultPlan) }
