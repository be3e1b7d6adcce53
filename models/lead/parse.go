package lead

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kairos-engine/kairos/models/yamlsrc"
	"github.com/kairos-engine/kairos/state"
)

// ParsePlan parses and validates a plan. name is the file name errors
// carry. Every problem is a *PlanError with the line and dotted path of
// the offending field; the first one found is returned. Unknown fields are
// errors, so a typo never silently falls back to a default.
func ParsePlan(name string, data []byte) (*Plan, error) {
	ps := &parser{src: yamlsrc.Source{
		File: name,
		Err: func(line int, field, msg string) error {
			return &PlanError{File: name, Line: line, Field: field, Msg: msg}
		},
		SyntaxPrefix:     "YAML: ",
		ShiftParserLines: true,
		Unknown: func(key string, known []string) string {
			return "unknown field" + suggest(key, known) + "; the fields here are " + strings.Join(known, ", ")
		},
		Repeated:  func(first int) string { return fmt.Sprintf("repeated; it is first set on line %d", first) },
		PlainKeys: "a key must be a plain name",
	}}
	if len(data) > MaxPlanSize {
		return nil, &PlanError{File: name, Msg: fmt.Sprintf("the plan is larger than %d bytes; is it the right file? (a plan holds at most %d behavioural and %d fit rules)", MaxPlanSize, MaxBehaviourRules, MaxFitRules)}
	}
	const empty = "the plan is empty; start from the shipped default_plan.yaml"
	root, err := ps.src.Document(data, empty, "a plan is one YAML document; remove the second document (after ---)")
	if err != nil {
		return nil, err
	}
	p, err := ps.plan(root)
	if err != nil {
		return nil, err
	}
	return p, nil
}

type parser struct {
	src yamlsrc.Source
	// ids of every rule and group seen so far, with the line that
	// declared it, for duplicate errors.
	ruleIDs  map[string]int
	groupIDs map[string]int
	// fileOrder holds the behavioural rules in the order of the file.
	fileOrder []*rule
}

func (ps *parser) fail(n *yaml.Node, field, format string, args ...any) error {
	return ps.src.Fail(n, field, format, args...)
}

// mapping reads a mapping node whose keys must be among known. what
// describes the mapping for the error when n is something else.
func (ps *parser) mapping(n *yaml.Node, path, what string, known ...string) (*yamlsrc.Fields, error) {
	return ps.src.Mapping(n, path, known, "must be "+what)
}

// require returns a field that must be present.
func (ps *parser) require(f *yamlsrc.Fields, name, what string) (*yaml.Node, error) {
	v := f.Get(name)
	if v == nil {
		line := f.Node
		if k := f.Value(name); k != nil { // present but null
			line = k
		}
		return nil, ps.fail(line, yamlsrc.Join(f.Path, name), "required: %s", what)
	}
	return v, nil
}

// text reads a scalar as text.
func (ps *parser) text(n *yaml.Node, path, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", ps.fail(n, path, "must be %s, not a %s", what, kindName(n))
	}
	return n.Value, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

// number reads a finite YAML number (int or float, not a quoted string)
// with |v| ≤ maxPoints.
func (ps *parser) number(n *yaml.Node, path string) (float64, error) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		return 0, ps.fail(n, path, "must be a number, like 10 or -2.5; got %s", quote(n))
	}
	var v float64
	if err := n.Decode(&v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > maxPoints {
		return 0, ps.fail(n, path, "must be a finite number between -%g and %g; got %s", maxPoints, maxPoints, quote(n))
	}
	return v, nil
}

// integer reads a YAML integer in [lo, hi].
func (ps *parser) integer(n *yaml.Node, path string, lo, hi int) (int, error) {
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil || v < lo || v > hi {
		return 0, ps.fail(n, path, "must be a whole number from %d to %d; got %s", lo, hi, quote(n))
	}
	return v, nil
}

// quote renders a node for an error message.
func quote(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return "a " + kindName(n)
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return strconv.Quote(v)
}

// id reads a rule or group id: 1..MaxIDLen bytes of lower-case letters,
// digits, '-', '_' and '.', starting with a letter or digit. Ids are stored
// in contact records and shown in the API, so they are kept plain.
func (ps *parser) id(n *yaml.Node, path string) (string, error) {
	s, err := ps.text(n, path, "an id")
	if err != nil {
		return "", err
	}
	ok := len(s) > 0 && len(s) <= MaxIDLen
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && (c == '-' || c == '_' || c == '.')
	}
	if !ok {
		return "", ps.fail(n, path, "%s is not an id: use 1 to %d lower-case letters, digits, '-', '_' or '.', starting with a letter or digit", quote(n), MaxIDLen)
	}
	return s, nil
}

// plan reads the root mapping.
func (ps *parser) plan(root *yaml.Node) (*Plan, error) {
	f, err := ps.mapping(root, "", "a mapping with version, lifecycle, behaviour and fit",
		"version", "description", "top", "lifecycle", "behaviour", "fit")
	if err != nil {
		return nil, err
	}
	ps.ruleIDs = map[string]int{}
	ps.groupIDs = map[string]int{}
	p := &Plan{source: ps.src.File, top: DefaultTop}

	v, err := ps.require(f, "version", `a version string such as "2026-11-01" or "3", shown with every score`)
	if err != nil {
		return nil, err
	}
	if p.version, err = ps.text(v, "version", "a version string"); err != nil {
		return nil, err
	}
	if len(p.version) > MaxNameLen {
		return nil, ps.fail(v, "version", "longer than %d bytes", MaxNameLen)
	}
	if v := f.Get("description"); v != nil {
		if p.description, err = ps.text(v, "description", "text"); err != nil {
			return nil, err
		}
	}
	if v := f.Get("top"); v != nil {
		if p.top, err = ps.integer(v, "top", 1, MaxTop); err != nil {
			return nil, err
		}
	}

	b, err := ps.require(f, "behaviour", "a list of rule groups, each with group, half_life and rules")
	if err != nil {
		return nil, err
	}
	if err := ps.behaviour(p, b); err != nil {
		return nil, err
	}
	if v := f.Get("fit"); v != nil {
		if err := ps.fitGroups(p, v); err != nil {
			return nil, err
		}
	}
	l, err := ps.require(f, "lifecycle", "a mapping with mql, sql and hysteresis")
	if err != nil {
		return nil, err
	}
	if err := ps.lifecycle(p, l); err != nil {
		return nil, err
	}

	// byEvent keeps file order, so Apply visits rules as the plan lists them.
	for _, r := range ps.fileOrder {
		p.byEvent[r.event] = append(p.byEvent[r.event], r)
	}
	slices.SortFunc(p.rules, func(a, b *rule) int { return strings.Compare(a.id, b.id) })
	return p, nil
}

// list returns the items of a sequence node.
func (ps *parser) list(n *yaml.Node, path, what string, max int) ([]*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, ps.fail(n, path, "must be a list of %s, not a %s", what, kindName(n))
	}
	if len(n.Content) == 0 {
		return nil, ps.fail(n, path, "must list at least one %s", what)
	}
	if len(n.Content) > max {
		return nil, ps.fail(n.Content[max], yamlsrc.Index(path, max), "too many: at most %d %s", max, what)
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = yamlsrc.Resolve(c)
	}
	return items, nil
}

// newGroupID checks a group id is unique.
func (ps *parser) newGroupID(n *yaml.Node, path string) (string, error) {
	id, err := ps.id(n, path)
	if err != nil {
		return "", err
	}
	if first, dup := ps.groupIDs[id]; dup {
		return "", ps.fail(n, path, "group %q is already declared on line %d; group ids must be unique", id, first)
	}
	ps.groupIDs[id] = n.Line
	return id, nil
}

// newRuleID checks a rule id is unique across behavioural and fit rules.
func (ps *parser) newRuleID(n *yaml.Node, path string) (string, error) {
	id, err := ps.id(n, path)
	if err != nil {
		return "", err
	}
	if first, dup := ps.ruleIDs[id]; dup {
		return "", ps.fail(n, path, "rule %q is already declared on line %d; rule ids must be unique across behaviour and fit", id, first)
	}
	ps.ruleIDs[id] = n.Line
	return id, nil
}

func (ps *parser) behaviour(p *Plan, n *yaml.Node) error {
	groups, err := ps.list(n, "behaviour", "rule group", MaxBehaviourRules)
	if err != nil {
		return err
	}
	for gi, gn := range groups {
		path := yamlsrc.Index("behaviour", gi)
		f, err := ps.mapping(gn, path, "a rule group with group, half_life and rules",
			"group", "description", "half_life", "rules")
		if err != nil {
			return err
		}
		var g group
		v, err := ps.require(f, "group", "the group's id, such as intent or email")
		if err != nil {
			return err
		}
		if g.id, err = ps.newGroupID(v, yamlsrc.Join(path, "group")); err != nil {
			return err
		}
		if v := f.Get("description"); v != nil {
			if g.description, err = ps.text(v, yamlsrc.Join(path, "description"), "text"); err != nil {
				return err
			}
		}
		v, err = ps.require(f, "half_life", "how fast the group's points fade, such as 30d, or never")
		if err != nil {
			return err
		}
		if g.halfLife, err = ps.duration(v, yamlsrc.Join(path, "half_life"), true); err != nil {
			return err
		}
		v, err = ps.require(f, "rules", "a list of rules, each with id, event and points")
		if err != nil {
			return err
		}
		items, err := ps.list(v, yamlsrc.Join(path, "rules"), "rule", MaxBehaviourRules)
		if err != nil {
			return err
		}
		for ri, rn := range items {
			if len(p.rules) == MaxBehaviourRules {
				return ps.fail(rn, yamlsrc.Index(yamlsrc.Join(path, "rules"), ri), "too many behavioural rules: a plan has at most %d (state.MaxLeadRules)", MaxBehaviourRules)
			}
			r, err := ps.rule(rn, yamlsrc.Index(yamlsrc.Join(path, "rules"), ri), &g)
			if err != nil {
				return err
			}
			p.rules = append(p.rules, r)
			ps.fileOrder = append(ps.fileOrder, r)
		}
	}
	return nil
}

func (ps *parser) rule(n *yaml.Node, path string, g *group) (*rule, error) {
	f, err := ps.mapping(n, path, "a rule with id, event, when, points and cap",
		"id", "description", "event", "when", "points", "cap")
	if err != nil {
		return nil, err
	}
	r := &rule{group: g.id, halfLife: g.halfLife, rate: rateOf(g.halfLife)}
	v, err := ps.require(f, "id", "a unique rule id, such as pricing-page")
	if err != nil {
		return nil, err
	}
	if r.id, err = ps.newRuleID(v, yamlsrc.Join(path, "id")); err != nil {
		return nil, err
	}
	if v := f.Get("description"); v != nil {
		if r.description, err = ps.text(v, yamlsrc.Join(path, "description"), "text"); err != nil {
			return nil, err
		}
	}
	v, err = ps.require(f, "event", "the event type the rule scores, such as page_view or clicked")
	if err != nil {
		return nil, err
	}
	name, err := ps.text(v, yamlsrc.Join(path, "event"), "an event type")
	if err != nil {
		return nil, err
	}
	if r.event = state.ParseEventType([]byte(name)); r.event == state.EventUnknown {
		known := eventNames()
		return nil, ps.fail(v, yamlsrc.Join(path, "event"), "unknown event type %q%s; the event types are %s", name, suggest(name, known), strings.Join(known, ", "))
	}
	if v := f.Get("when"); v != nil {
		if r.when, err = ps.conditions(v, yamlsrc.Join(path, "when"), "event property"); err != nil {
			return nil, err
		}
	}
	v, err = ps.require(f, "points", "the points a hit adds (negative to subtract)")
	if err != nil {
		return nil, err
	}
	if r.points, err = ps.number(v, yamlsrc.Join(path, "points")); err != nil {
		return nil, err
	}
	if v := f.Get("cap"); v != nil {
		cp := yamlsrc.Join(path, "cap")
		cf, err := ps.mapping(v, cp, "a mapping {max: N, per: duration}", "max", "per")
		if err != nil {
			return nil, err
		}
		m, err := ps.require(cf, "max", "the most hits counted per window, such as 3")
		if err != nil {
			return nil, err
		}
		max, err := ps.integer(m, yamlsrc.Join(cp, "max"), 1, 1_000_000)
		if err != nil {
			return nil, err
		}
		pn, err := ps.require(cf, "per", "the window the cap counts hits in, such as 7d")
		if err != nil {
			return nil, err
		}
		per, err := ps.duration(pn, yamlsrc.Join(cp, "per"), false)
		if err != nil {
			return nil, err
		}
		r.capMax, r.capPer = uint32(max), per.Milliseconds()
		if r.capPer <= 0 {
			return nil, ps.fail(pn, yamlsrc.Join(cp, "per"), "must be at least 1ms")
		}
	}
	return r, nil
}

func (ps *parser) fitGroups(p *Plan, n *yaml.Node) error {
	groups, err := ps.list(n, "fit", "fit group", MaxFitRules)
	if err != nil {
		return err
	}
	for gi, gn := range groups {
		path := yamlsrc.Index("fit", gi)
		if k, _ := keyNode(gn, "half_life"); k != nil {
			return ps.fail(k, yamlsrc.Join(path, "half_life"), "fit does not decay: traits are read when the score is read; remove half_life")
		}
		f, err := ps.mapping(gn, path, "a fit group with group and rules", "group", "description", "rules")
		if err != nil {
			return err
		}
		v, err := ps.require(f, "group", "the group's id, such as firmographic")
		if err != nil {
			return err
		}
		var g group
		if g.id, err = ps.newGroupID(v, yamlsrc.Join(path, "group")); err != nil {
			return err
		}
		if v := f.Get("description"); v != nil {
			if g.description, err = ps.text(v, yamlsrc.Join(path, "description"), "text"); err != nil {
				return err
			}
		}
		v, err = ps.require(f, "rules", "a list of fit rules, each with id, traits and points")
		if err != nil {
			return err
		}
		items, err := ps.list(v, yamlsrc.Join(path, "rules"), "fit rule", MaxFitRules)
		if err != nil {
			return err
		}
		for ri, rn := range items {
			rp := yamlsrc.Index(yamlsrc.Join(path, "rules"), ri)
			if len(p.fit) == MaxFitRules {
				return ps.fail(rn, rp, "too many fit rules: a plan has at most %d", MaxFitRules)
			}
			rf, err := ps.mapping(rn, rp, "a fit rule with id, traits and points", "id", "description", "traits", "points")
			if err != nil {
				return err
			}
			r := &fitRule{group: g.id}
			v, err := ps.require(rf, "id", "a unique rule id, such as senior-title")
			if err != nil {
				return err
			}
			if r.id, err = ps.newRuleID(v, yamlsrc.Join(rp, "id")); err != nil {
				return err
			}
			if v := rf.Get("description"); v != nil {
				if r.description, err = ps.text(v, yamlsrc.Join(rp, "description"), "text"); err != nil {
					return err
				}
			}
			v, err = ps.require(rf, "traits", "conditions on the contact's traits, such as {industry: {in: [software, retail]}}")
			if err != nil {
				return err
			}
			if r.traits, err = ps.conditions(v, yamlsrc.Join(rp, "traits"), "trait"); err != nil {
				return err
			}
			v, err = ps.require(rf, "points", "the points the rule adds while its conditions hold")
			if err != nil {
				return err
			}
			if r.points, err = ps.number(v, yamlsrc.Join(rp, "points")); err != nil {
				return err
			}
			p.fit = append(p.fit, r)
			if r.points < 0 {
				p.fitMin += r.points
			} else {
				p.fitMax += r.points
			}
		}
	}
	return nil
}

func (ps *parser) lifecycle(p *Plan, n *yaml.Node) error {
	f, err := ps.mapping(n, "lifecycle", "a mapping with mql, sql, hysteresis and sales_accepted",
		"mql", "sql", "hysteresis", "sales_accepted")
	if err != nil {
		return err
	}
	l := &p.life
	v, err := ps.require(f, "mql", "the score at which a known lead becomes marketing-qualified, such as 60")
	if err != nil {
		return err
	}
	if l.MQL, err = ps.number(v, "lifecycle.mql"); err != nil {
		return err
	}
	if v := f.Get("sql"); v != nil {
		if l.SQL, err = ps.number(v, "lifecycle.sql"); err != nil {
			return err
		}
		if l.SQL <= l.MQL {
			return ps.fail(v, "lifecycle.sql", "%g must be above lifecycle.mql (%g)", l.SQL, l.MQL)
		}
		l.HasSQL = true
	}
	if v := f.Get("hysteresis"); v != nil {
		if l.Hysteresis, err = ps.number(v, "lifecycle.hysteresis"); err != nil {
			return err
		}
		if l.Hysteresis < 0 {
			return ps.fail(v, "lifecycle.hysteresis", "must not be negative: it is how far below a threshold the score must drop to leave the stage")
		}
	}
	sa := f.Get("sales_accepted")
	if sa == nil {
		if !l.HasSQL {
			return ps.fail(f.Node, "lifecycle.sql", "required unless lifecycle.sales_accepted is set: nothing would make a contact sales-qualified")
		}
		return nil
	}
	sf, err := ps.mapping(sa, "lifecycle.sales_accepted", "a mapping with rules and/or traits", "rules", "traits")
	if err != nil {
		return err
	}
	if sf.Get("rules") == nil && sf.Get("traits") == nil {
		return ps.fail(sa, "lifecycle.sales_accepted", "set rules (behavioural rule ids whose hit means accepted), traits (conditions), or both")
	}
	if v := sf.Get("rules"); v != nil {
		items, err := ps.list(v, "lifecycle.sales_accepted.rules", "behavioural rule id", MaxBehaviourRules)
		if err != nil {
			return err
		}
		for i, in := range items {
			path := yamlsrc.Index("lifecycle.sales_accepted.rules", i)
			id, err := ps.text(in, path, "a rule id")
			if err != nil {
				return err
			}
			r := p.ruleByIDUnsorted(id)
			if r == nil {
				return ps.fail(in, path, "%q is not a behavioural rule of this plan%s", id, suggest(id, ps.behaviourIDs()))
			}
			if !slices.Contains(p.accepting, r) {
				p.accepting = append(p.accepting, r)
			}
		}
		slices.SortFunc(p.accepting, func(a, b *rule) int { return strings.Compare(a.id, b.id) })
	}
	if v := sf.Get("traits"); v != nil {
		if p.acceptTraits, err = ps.conditions(v, "lifecycle.sales_accepted.traits", "trait"); err != nil {
			return err
		}
	}
	return nil
}

func (p *Plan) ruleByIDUnsorted(id string) *rule {
	for _, r := range p.rules {
		if r.id == id {
			return r
		}
	}
	return nil
}

func (ps *parser) behaviourIDs() []string {
	ids := make([]string, 0, len(ps.fileOrder))
	for _, r := range ps.fileOrder {
		ids = append(ids, r.id)
	}
	return ids
}

// conditions reads a mapping of property (or trait) names to operator
// mappings: {url: {contains: /pricing}, form: {equals: request-demo}}.
func (ps *parser) conditions(n *yaml.Node, path, what string) ([]match, error) {
	if n.Kind != yaml.MappingNode {
		return nil, ps.fail(n, path, "must be a mapping of %s names to conditions, like {url: {contains: /pricing}}", what)
	}
	if len(n.Content) == 0 {
		return nil, ps.fail(n, path, "must name at least one %s", what)
	}
	if len(n.Content)/2 > MaxConditions {
		return nil, ps.fail(n.Content[2*MaxConditions], path, "too many conditions: at most %d %s names", MaxConditions, what)
	}
	var ms []match
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlsrc.Resolve(n.Content[i]), yamlsrc.Resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Value == "" || len(k.Value) > MaxNameLen {
			return nil, ps.fail(k, path, "a %s name must be 1 to %d bytes of text", what, MaxNameLen)
		}
		mp := yamlsrc.Join(path, k.Value)
		if first, dup := lines[k.Value]; dup {
			return nil, ps.fail(k, mp, "repeated; it is first set on line %d (put every operator under one name)", first)
		}
		lines[k.Value] = k.Line
		m := match{name: k.Value}
		if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
			return nil, ps.fail(v, mp, "must be a mapping of operators, like {equals: %s}; the operators are %s", quote(v), opList())
		}
		seen := map[op]bool{}
		var lo, hi *yaml.Node
		for j := 0; j+1 < len(v.Content); j += 2 {
			ok, ov := yamlsrc.Resolve(v.Content[j]), yamlsrc.Resolve(v.Content[j+1])
			o := opByName(ok.Value)
			opPath := yamlsrc.Join(mp, ok.Value)
			if ok.Kind != yaml.ScalarNode || o == 0 {
				return nil, ps.fail(ok, opPath, "unknown operator%s; the operators are %s", suggest(ok.Value, opNamesList()), opList())
			}
			if seen[o] {
				return nil, ps.fail(ok, opPath, "repeated operator")
			}
			seen[o] = true
			t, err := ps.operand(o, ov, opPath)
			if err != nil {
				return nil, err
			}
			switch o {
			case opGTE:
				lo = ov
			case opLTE:
				hi = ov
			}
			m.tests = append(m.tests, t)
		}
		if lo != nil && hi != nil {
			var l, h float64
			for _, t := range m.tests {
				switch t.op {
				case opGTE:
					l = t.num
				case opLTE:
					h = t.num
				}
			}
			if l > h {
				return nil, ps.fail(lo, yamlsrc.Join(mp, "gte"), "%g is above lte %g: the condition can never hold", l, h)
			}
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// operand reads the value of one operator.
func (ps *parser) operand(o op, v *yaml.Node, path string) (test, error) {
	t := test{op: o}
	switch o {
	case opEquals:
		if v.Kind != yaml.ScalarNode || yamlsrc.IsNull(v) {
			return t, ps.fail(v, path, "must be one value, not a %s; use in for a list", kindName(v))
		}
		s, err := ps.operandString(v, path)
		if err != nil {
			return t, err
		}
		t.strs = []string{s}
	case opIn, opContains, opWord, opPrefix:
		var items []*yaml.Node
		switch {
		case v.Kind == yaml.SequenceNode:
			var err error
			if items, err = ps.list(v, path, "value", MaxValues); err != nil {
				return t, err
			}
		case o != opIn && v.Kind == yaml.ScalarNode && !yamlsrc.IsNull(v):
			items = []*yaml.Node{v}
		case o == opIn:
			return t, ps.fail(v, path, "must be a list of values, like [a, b]; got %s", quote(v))
		default:
			return t, ps.fail(v, path, "must be a value or a list of values; got %s", quote(v))
		}
		for i, it := range items {
			ip := path
			if v.Kind == yaml.SequenceNode {
				ip = yamlsrc.Index(path, i)
			}
			if it.Kind != yaml.ScalarNode || yamlsrc.IsNull(it) {
				return t, ps.fail(it, ip, "must be a value, not a %s", kindName(it))
			}
			s, err := ps.operandString(it, ip)
			if err != nil {
				return t, err
			}
			t.strs = append(t.strs, s)
			if o == opContains || o == opWord {
				t.bytes = append(t.bytes, []byte(s))
			}
		}
	case opGTE, opLTE:
		if v.Kind != yaml.ScalarNode || (v.ShortTag() != "!!int" && v.ShortTag() != "!!float") {
			return t, ps.fail(v, path, "must be a number, like 50; got %s", quote(v))
		}
		var f float64
		if err := v.Decode(&f); err != nil || math.IsNaN(f) {
			return t, ps.fail(v, path, "must be a number, like 50; got %s", quote(v))
		}
		t.num = f
	case opExists:
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" || v.Decode(&t.exists) != nil {
			return t, ps.fail(v, path, "must be true or false; got %s", quote(v))
		}
	}
	return t, nil
}

// operandString reads a string operand, lower-cased for the
// case-insensitive comparisons.
func (ps *parser) operandString(v *yaml.Node, path string) (string, error) {
	if v.Value == "" {
		return "", ps.fail(v, path, "must not be empty: an empty property counts as absent; use exists: false")
	}
	if len(v.Value) > state.MaxTraitLen*4 {
		return "", ps.fail(v, path, "longer than %d bytes", state.MaxTraitLen*4)
	}
	return lowerASCII(v.Value), nil
}

func opByName(name string) op {
	for _, o := range opNames {
		if o.name == name {
			return o.op
		}
	}
	return 0
}

func opNamesList() []string {
	names := make([]string, len(opNames))
	for i, o := range opNames {
		names[i] = o.name
	}
	return names
}

func opList() string { return strings.Join(opNamesList(), ", ") }

func eventNames() []string {
	names := make([]string, 0, state.NumEventTypes-1)
	for t := state.EventType(1); t < state.NumEventTypes; t++ {
		names = append(names, t.String())
	}
	return names
}

// keyNode returns the key node of a field of a mapping, if present.
func keyNode(n *yaml.Node, name string) (*yaml.Node, *yaml.Node) {
	n = yamlsrc.Resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

// duration reads a duration: a number and a unit (ms, s, m, h, d = 24h,
// w = 7d), possibly several ("1d12h"); never, where allowed, means no
// decay (returned as 0).
func (ps *parser) duration(n *yaml.Node, path string, allowNever bool) (time.Duration, error) {
	s, err := ps.text(n, path, "a duration")
	if err != nil {
		return 0, err
	}
	if s == "never" {
		if allowNever {
			return 0, nil
		}
		return 0, ps.fail(n, path, "never is not allowed here; give a duration such as 7d")
	}
	d, perr := parseDuration(s)
	switch {
	case perr != nil:
		hint := "such as 30d, 12h or 2w"
		if allowNever {
			hint += ", or never"
		}
		return 0, ps.fail(n, path, "%s is not a duration %s", quote(n), hint)
	case d <= 0:
		return 0, ps.fail(n, path, "must be positive; got %s", quote(n))
	}
	return d, nil
}

var errDuration = errors.New("bad duration")

// parseDuration parses "30d", "2w", "1d12h", "90m", "1.5h", "-3d".
// Durations are bounded by 100 years.
func parseDuration(s string) (time.Duration, error) {
	orig := s
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, errDuration
	}
	var total float64 // milliseconds
	for s != "" {
		i := 0
		for i < len(s) && ('0' <= s[i] && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, errDuration
		}
		v, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, errDuration
		}
		s = s[i:]
		j := 0
		for j < len(s) && 'a' <= s[j] && s[j] <= 'z' {
			j++
		}
		var unit float64
		switch s[:j] {
		case "ms":
			unit = 1
		case "s":
			unit = 1e3
		case "m":
			unit = 60e3
		case "h":
			unit = 3600e3
		case "d":
			unit = 86400e3
		case "w":
			unit = 7 * 86400e3
		default:
			return 0, errDuration
		}
		total += v * unit
		s = s[j:]
	}
	if total > 100*365*86400e3 {
		return 0, fmt.Errorf("%s: longer than 100 years: %w", orig, errDuration)
	}
	d := time.Duration(total * float64(time.Millisecond))
	if neg {
		d = -d
	}
	return d, nil
}

// suggest returns " (did you mean X?)" when a known name is within two
// edits of name.
func suggest(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(name, k); d < bestD && d < len(k) {
			best, bestD = k, d
		}
	}
	if best == "" || best == name {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// editDistance is the Levenshtein distance, for short names only.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
