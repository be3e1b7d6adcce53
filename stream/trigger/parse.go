package trigger

import (
	_ "embed"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/models/yamlsrc"
	"github.com/kairos-engine/kairos/state"
)

// DefaultRulesFile is the name errors in the shipped rule set carry.
const DefaultRulesFile = "default_rules.yaml"

//go:embed default_rules.yaml
var defaultRules []byte

// Bounds of a rule file.
const (
	MaxRulesSize = 1 << 20
	MaxRules     = 128
	maxIDLen     = 64
	maxPriority  = 1000
)

// RuleSet is a parsed, validated rule file: the contact policy and the
// rules. It is immutable and safe for concurrent use.
type RuleSet struct {
	Version string
	Policy  Policy
	Rules   []*Rule
	source  string
}

// Source returns the file the rules were read from.
func (rs *RuleSet) Source() string { return rs.source }

// Rule returns the rule with the given id, or nil.
func (rs *RuleSet) Rule(id string) *Rule {
	for _, r := range rs.Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// RuleError locates what is wrong with a rule file: "file:line: field: msg".
type RuleError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// Error returns "file:line: field: message".
func (e *RuleError) Error() string { return yamlsrc.Format(e.File, e.Line, e.Field, e.Msg) }

// DefaultRules parses the shipped rule set (default_rules.yaml, embedded),
// which the demo uses. Its tests rule out an error.
func DefaultRules() (*RuleSet, error) { return ParseRules(DefaultRulesFile, defaultRules) }

// DefaultRulesYAML returns a copy of the shipped rule file, a starting
// point for a custom one.
func DefaultRulesYAML() []byte { return slices.Clone(defaultRules) }

// LoadRules reads and parses a rule file.
func LoadRules(path string) (*RuleSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trigger rules: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxRulesSize+1))
	if err != nil {
		return nil, fmt.Errorf("trigger rules: read %s: %w", path, err)
	}
	return ParseRules(path, data)
}

// ParseRules parses and validates a rule file; name is the file name errors
// carry. The first problem found is returned as a *RuleError with its line
// and the dotted path of the field. Unknown fields are errors.
func ParseRules(name string, data []byte) (*RuleSet, error) {
	ps := &parser{ids: make(map[string]int), src: yamlsrc.Source{
		File: name,
		Err: func(line int, field, msg string) error {
			return &RuleError{File: name, Line: line, Field: field, Msg: msg}
		},
		SyntaxPrefix: "YAML: ",
		Unknown: func(_ string, known []string) string {
			return "unknown field; known fields: " + strings.Join(known, ", ")
		},
	}}
	if len(data) > MaxRulesSize {
		return nil, &RuleError{File: name, Msg: fmt.Sprintf("larger than %d bytes; is it the right file?", MaxRulesSize)}
	}
	root, err := ps.src.Document(data, "the file is empty; start from the shipped "+DefaultRulesFile,
		"a rule file is one YAML document; remove the second one (after ---)")
	if err != nil {
		return nil, err
	}
	return ps.ruleSet(root)
}

type parser struct {
	src yamlsrc.Source
	ids map[string]int
}

func (ps *parser) fail(n *yaml.Node, field, format string, args ...any) error {
	return ps.src.Fail(n, field, format, args...)
}

// mapping reads a mapping, failing on unknown or repeated fields.
func (ps *parser) mapping(n *yaml.Node, path string, known ...string) (*yamlsrc.Fields, error) {
	return ps.src.Mapping(n, path, known, "must be a mapping (field: value)")
}

func (ps *parser) require(f *yamlsrc.Fields, name string) (*yaml.Node, error) {
	v := f.Get(name)
	if v == nil {
		return nil, ps.fail(f.Node, yamlsrc.Join(f.Path, name), "required")
	}
	return v, nil
}

func (ps *parser) text(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return "", ps.fail(n, path, "must be a string")
	}
	return n.Value, nil
}

func (ps *parser) integer(n *yaml.Node, path string, lo, hi int64) (int64, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return 0, ps.fail(n, path, "must be a whole number")
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil || v < lo || v > hi {
		return 0, ps.fail(n, path, "must be between %d and %d", lo, hi)
	}
	return v, nil
}

func (ps *parser) number(n *yaml.Node, path string) (float64, error) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		return 0, ps.fail(n, path, "must be a number")
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, ps.fail(n, path, "must be a finite number")
	}
	return v, nil
}

func (ps *parser) boolean(n *yaml.Node, path string) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		return false, ps.fail(n, path, "must be true or false")
	}
	return n.Value == "true", nil
}

// list accepts a sequence, or a single item as a list of one.
func (ps *parser) list(n *yaml.Node) []*yaml.Node {
	if n.Kind == yaml.SequenceNode {
		out := make([]*yaml.Node, len(n.Content))
		for i, c := range n.Content {
			out[i] = yamlsrc.Resolve(c)
		}
		return out
	}
	return []*yaml.Node{n}
}

func (ps *parser) strings(n *yaml.Node, path string) ([]string, error) {
	var out []string
	for i, c := range ps.list(n) {
		s, err := ps.text(c, path+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, ps.fail(n, path, "must not be empty")
	}
	return out, nil
}

// duration reads "90m", "1h", "2d", "1w", "1d12h", optionally negative
// when neg is allowed.
func (ps *parser) duration(n *yaml.Node, path string, neg bool) (time.Duration, error) {
	s, err := ps.text(n, path)
	if err != nil {
		return 0, ps.fail(n, path, "must be a duration such as 30m, 1h, 2d or 1w")
	}
	d, err := parseDuration(s)
	if err != nil || d == 0 || d < 0 && !neg {
		return 0, ps.fail(n, path, "%q is not a positive duration such as 30m, 1h, 2d or 1w", s)
	}
	return d, nil
}

func parseDuration(s string) (time.Duration, error) {
	orig := s
	sign := time.Duration(1)
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		sign, s = -1, rest
	}
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, fmt.Errorf("duration %q: expected a number", orig)
		}
		v, _ := strconv.ParseInt(s[:i], 10, 64)
		s = s[i:]
		j := 0
		for j < len(s) && (s[j] < '0' || s[j] > '9') {
			j++
		}
		var unit time.Duration
		switch s[:j] {
		case "ms":
			unit = time.Millisecond
		case "s":
			unit = time.Second
		case "m":
			unit = time.Minute
		case "h":
			unit = time.Hour
		case "d":
			unit = 24 * time.Hour
		case "w":
			unit = 7 * 24 * time.Hour
		default:
			return 0, fmt.Errorf("duration %q: unknown unit %q", orig, s[:j])
		}
		s = s[j:]
		total += time.Duration(v) * unit
		if total > 10*366*24*time.Hour {
			return 0, fmt.Errorf("duration %q: longer than ten years", orig)
		}
	}
	return sign * total, nil
}

func (ps *parser) ruleSet(root *yaml.Node) (*RuleSet, error) {
	f, err := ps.mapping(root, "", "version", "description", "policy", "rules")
	if err != nil {
		return nil, err
	}
	rs := &RuleSet{source: ps.src.File, Policy: DefaultPolicy()}
	v, err := ps.require(f, "version")
	if err != nil {
		return nil, err
	}
	if rs.Version, err = ps.text(v, "version"); err != nil {
		return nil, err
	}
	if len(rs.Version) == 0 || len(rs.Version) > 128 {
		return nil, ps.fail(v, "version", "1 to 128 bytes")
	}
	if d := f.Get("description"); d != nil {
		if _, err := ps.text(d, "description"); err != nil {
			return nil, err
		}
	}
	if p := f.Get("policy"); p != nil {
		if err := ps.policy(p, &rs.Policy); err != nil {
			return nil, err
		}
	}
	rn, err := ps.require(f, "rules")
	if err != nil {
		return nil, err
	}
	if rn.Kind != yaml.SequenceNode || len(rn.Content) == 0 {
		return nil, ps.fail(rn, "rules", "must be a non-empty list of rules")
	}
	if len(rn.Content) > MaxRules {
		return nil, ps.fail(rn, "rules", "at most %d rules", MaxRules)
	}
	for i, n := range rn.Content {
		r, err := ps.rule(yamlsrc.Resolve(n), "rules["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		r.index = i
		rs.Rules = append(rs.Rules, r)
	}
	return rs, nil
}

func (ps *parser) policy(n *yaml.Node, p *Policy) error {
	f, err := ps.mapping(n, "policy", "time_zone", "quiet_hours", "pressure", "consent")
	if err != nil {
		return err
	}
	if v := f.Get("time_zone"); v != nil {
		s, err := ps.text(v, "policy.time_zone")
		if err != nil {
			return err
		}
		loc, err := time.LoadLocation(s)
		if err != nil || s == "" || s == "Local" {
			return ps.fail(v, "policy.time_zone", "%q is not an IANA time zone name such as UTC or Europe/Paris", s)
		}
		p.TimeZone = loc
	}
	if v := f.Get("quiet_hours"); v != nil {
		q, err := ps.mapping(v, "policy.quiet_hours", "start", "end")
		if err != nil {
			return err
		}
		for _, x := range []struct {
			name string
			dst  *int
		}{{"start", &p.QuietStart}, {"end", &p.QuietEnd}} {
			path := "policy.quiet_hours." + x.name
			n, err := ps.require(q, x.name)
			if err != nil {
				return err
			}
			s, err := ps.text(n, path)
			if err != nil {
				return ps.fail(n, path, "must be a time of day in quotes, such as \"21:00\"")
			}
			m, ok := parseClock(s)
			if !ok {
				return ps.fail(n, path, "%q is not a time of day HH:MM (00:00 to 23:59)", s)
			}
			*x.dst = m
		}
	}
	if v := f.Get("pressure"); v != nil {
		pf, err := ps.mapping(v, "policy.pressure", "email", "sms", "push")
		if err != nil {
			return err
		}
		for ch := ChannelEmail; ch <= ChannelPush; ch++ {
			cn := pf.Get(ch.String())
			if cn == nil {
				continue
			}
			path := "policy.pressure." + ch.String()
			var caps []Cap
			if cn.Kind == yaml.ScalarNode && cn.Value == "none" {
				p.Caps[ch] = nil
				continue
			}
			for i, c := range ps.list(cn) {
				cp := path + "[" + strconv.Itoa(i) + "]"
				cf, err := ps.mapping(c, cp, "max", "per")
				if err != nil {
					return err
				}
				mn, err := ps.require(cf, "max")
				if err != nil {
					return err
				}
				mx, err := ps.integer(mn, cp+".max", 1, MaxSends)
				if err != nil {
					return err
				}
				pn, err := ps.require(cf, "per")
				if err != nil {
					return err
				}
				per, err := ps.duration(pn, cp+".per", false)
				if err != nil {
					return err
				}
				caps = append(caps, Cap{Max: int(mx), Per: per})
			}
			p.Caps[ch] = caps
		}
	}
	if v := f.Get("consent"); v != nil {
		cf, err := ps.mapping(v, "policy.consent", "email", "sms", "push")
		if err != nil {
			return err
		}
		for ch := ChannelEmail; ch <= ChannelPush; ch++ {
			cn := cf.Get(ch.String())
			if cn == nil {
				continue
			}
			path := "policy.consent." + ch.String()
			s, err := ps.text(cn, path)
			if err != nil {
				return err
			}
			switch s {
			case "opt_in":
				p.Consent[ch] = RequireOptIn
			case "opt_out":
				p.Consent[ch] = UnlessOptedOut
			default:
				return ps.fail(cn, path, "%q: must be opt_in (only after an explicit opt-in) or opt_out (unless opted out)", s)
			}
		}
	}
	return nil
}

func parseClock(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, false
	}
	return hh*60 + mm, true
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

var ruleFields = []string{
	"id", "description", "journey", "step", "channel", "priority", "kind", "list", "on", "schedule",
	"when", "wait", "once", "cooldown", "fields", "on_block", "expires",
}

func (ps *parser) rule(n *yaml.Node, path string) (*Rule, error) {
	f, err := ps.mapping(n, path, ruleFields...)
	if err != nil {
		return nil, err
	}
	r := &Rule{line: n.Line, Expires: 24 * time.Hour, Fields: FieldName | FieldEmail | FieldLanguage}
	idn, err := ps.require(f, "id")
	if err != nil {
		return nil, err
	}
	if r.ID, err = ps.text(idn, yamlsrc.Join(path, "id")); err != nil {
		return nil, err
	}
	if !validID(r.ID) {
		return nil, ps.fail(idn, yamlsrc.Join(path, "id"), "%q: 1 to %d lower-case letters, digits, '-', '_' or '.', starting with a letter or digit", r.ID, maxIDLen)
	}
	if prev, dup := ps.ids[r.ID]; dup {
		return nil, ps.fail(idn, yamlsrc.Join(path, "id"), "%q is already the id of the rule at line %d", r.ID, prev)
	}
	ps.ids[r.ID] = idn.Line
	path = "rules[" + r.ID + "]"
	if d := f.Get("description"); d != nil {
		if r.Description, err = ps.text(d, yamlsrc.Join(path, "description")); err != nil {
			return nil, err
		}
	}
	jn, err := ps.require(f, "journey")
	if err != nil {
		return nil, err
	}
	js, err := ps.text(jn, yamlsrc.Join(path, "journey"))
	if err != nil {
		return nil, err
	}
	j := slices.Index(journeyNames[:], js)
	if j < 0 {
		return nil, ps.fail(jn, yamlsrc.Join(path, "journey"), "unknown journey %q; one of %s", js, strings.Join(journeyNames[:], ", "))
	}
	r.Journey = Journey(j)
	r.Step = 1
	if s := f.Get("step"); s != nil {
		v, err := ps.integer(s, yamlsrc.Join(path, "step"), 1, 100)
		if err != nil {
			return nil, err
		}
		r.Step = int(v)
	}
	cn, err := ps.require(f, "channel")
	if err != nil {
		return nil, err
	}
	cs, err := ps.text(cn, yamlsrc.Join(path, "channel"))
	if err != nil {
		return nil, err
	}
	c := slices.Index(channelNames[:], cs)
	if c < 0 {
		return nil, ps.fail(cn, yamlsrc.Join(path, "channel"), "unknown channel %q; one of %s", cs, strings.Join(channelNames[:], ", "))
	}
	r.Channel = Channel(c)
	if p := f.Get("priority"); p != nil {
		v, err := ps.integer(p, yamlsrc.Join(path, "priority"), 0, maxPriority)
		if err != nil {
			return nil, err
		}
		r.Priority = int(v)
	}
	if k := f.Get("kind"); k != nil {
		s, err := ps.text(k, yamlsrc.Join(path, "kind"))
		if err != nil {
			return nil, err
		}
		switch s {
		case "marketing":
			r.Kind = Marketing
		case "service":
			r.Kind = Service
		default:
			return nil, ps.fail(k, yamlsrc.Join(path, "kind"), "%q: must be marketing or service", s)
		}
	} else if r.Channel == ChannelSales {
		// A notice to the sales team is not a message to the contact.
		r.Kind = Service
	} else {
		return nil, ps.fail(f.Node, yamlsrc.Join(path, "kind"), "required: marketing (obeys consent, pressure, quiet hours) or service (transactional)")
	}
	if l := f.Get("list"); l != nil {
		if r.List, err = ps.text(l, yamlsrc.Join(path, "list")); err != nil {
			return nil, err
		}
		if r.Kind == Service || r.Channel != ChannelEmail {
			return nil, ps.fail(l, yamlsrc.Join(path, "list"), "a list subscription applies to marketing email only")
		}
	}
	if fl := f.Get("fields"); fl != nil {
		names, err := ps.strings(fl, yamlsrc.Join(path, "fields"))
		if err != nil {
			return nil, err
		}
		r.Fields = 0
		for _, nm := range names {
			i := slices.IndexFunc(fieldNames, func(x struct {
				name string
				f    Field
			}) bool {
				return x.name == nm
			})
			if i < 0 {
				known := make([]string, len(fieldNames))
				for j := range fieldNames {
					known[j] = fieldNames[j].name
				}
				return nil, ps.fail(fl, yamlsrc.Join(path, "fields"), "unknown field %q; one of %s", nm, strings.Join(known, ", "))
			}
			r.Fields |= fieldNames[i].f
		}
	}
	if ob := f.Get("on_block"); ob != nil {
		s, err := ps.text(ob, yamlsrc.Join(path, "on_block"))
		if err != nil {
			return nil, err
		}
		switch s {
		case "defer":
			r.OnBlock = Defer
		case "drop":
			r.OnBlock = Drop
		default:
			return nil, ps.fail(ob, yamlsrc.Join(path, "on_block"), "%q: must be defer (to the next allowed moment) or drop", s)
		}
	}
	if e := f.Get("expires"); e != nil {
		if r.Expires, err = ps.duration(e, yamlsrc.Join(path, "expires"), false); err != nil {
			return nil, err
		}
	}
	if o := f.Get("once"); o != nil {
		if r.Once, err = ps.boolean(o, yamlsrc.Join(path, "once")); err != nil {
			return nil, err
		}
	}
	if cd := f.Get("cooldown"); cd != nil {
		if r.Once {
			return nil, ps.fail(cd, yamlsrc.Join(path, "cooldown"), "once already allows one emission ever; remove cooldown or once")
		}
		if r.Cooldown, err = ps.duration(cd, yamlsrc.Join(path, "cooldown"), false); err != nil {
			return nil, err
		}
	}
	on, sched := f.Get("on"), f.Get("schedule")
	switch {
	case on == nil && sched == nil:
		return nil, ps.fail(f.Node, yamlsrc.Join(path, "on"), "required: what makes the rule fire (or schedule: for a date-driven rule)")
	case on != nil && sched != nil:
		return nil, ps.fail(sched, yamlsrc.Join(path, "schedule"), "a rule has either on: or schedule:, not both")
	case on != nil:
		for i, cn := range ps.list(on) {
			c, err := ps.cause(cn, yamlsrc.Join(path, "on")+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			r.On = append(r.On, c)
			r.kinds |= c.kinds
		}
	default:
		if r.Schedule, err = ps.schedule(sched, yamlsrc.Join(path, "schedule")); err != nil {
			return nil, err
		}
	}
	if r.Schedule != nil && (r.Once || r.Cooldown != 0) {
		return nil, ps.fail(f.Node, yamlsrc.Join(path, "schedule"), "a scheduled rule fires once per occurrence; remove once and cooldown")
	}
	if w := f.Get("when"); w != nil {
		if err := ps.conditions(w, yamlsrc.Join(path, "when"), &r.When); err != nil {
			return nil, err
		}
	}
	if w := f.Get("wait"); w != nil {
		if r.Schedule != nil {
			return nil, ps.fail(w, yamlsrc.Join(path, "wait"), "a scheduled rule fires at its date; wait: applies to on: rules")
		}
		if r.Wait, err = ps.wait(w, yamlsrc.Join(path, "wait")); err != nil {
			return nil, err
		}
	}
	return r, nil
}

var causeFields = []string{"event", "where", "became_known", "stage", "segment_worse", "order_count", "p_alive_below"}

func (ps *parser) cause(n *yaml.Node, path string) (Cause, error) {
	var c Cause
	f, err := ps.mapping(n, path, causeFields...)
	if err != nil {
		return c, err
	}
	if v := f.Get("event"); v != nil {
		s, err := ps.text(v, yamlsrc.Join(path, "event"))
		if err != nil {
			return c, err
		}
		if c.Event = state.ParseEventType([]byte(s)); c.Event == state.EventUnknown {
			return c, ps.fail(v, yamlsrc.Join(path, "event"), "unknown event type %q; one of %s", s, eventNames())
		}
		c.kinds |= hasEvent
	}
	if v := f.Get("where"); v != nil {
		if c.kinds&hasEvent == 0 {
			return c, ps.fail(v, yamlsrc.Join(path, "where"), "where: compares the event's properties; name the event: too")
		}
		wf, err := ps.mapping(v, yamlsrc.Join(path, "where"), propNames...)
		if err != nil {
			return c, err
		}
		for _, prop := range propNames {
			pn := wf.Get(prop)
			if pn == nil {
				continue
			}
			pc, err := ps.propCond(pn, yamlsrc.Join(yamlsrc.Join(path, "where"), prop))
			if err != nil {
				return c, err
			}
			pc.Prop = prop
			c.Where = append(c.Where, pc)
		}
	}
	if v := f.Get("became_known"); v != nil {
		b, err := ps.boolean(v, yamlsrc.Join(path, "became_known"))
		if err != nil {
			return c, err
		}
		if !b {
			return c, ps.fail(v, yamlsrc.Join(path, "became_known"), "only true is meaningful; remove the field")
		}
		c.kinds |= hasBecameKnown
	}
	if v := f.Get("stage"); v != nil {
		s, err := ps.text(v, yamlsrc.Join(path, "stage"))
		if err != nil {
			return c, err
		}
		st, ok := lead.ParseStage(s)
		if !ok || st == lead.StageUnknown {
			return c, ps.fail(v, yamlsrc.Join(path, "stage"), "unknown stage %q; one of visitor, lead, mql, sql, customer, lapsed", s)
		}
		c.Stage = st
		c.kinds |= hasStage
	}
	if v := f.Get("segment_worse"); v != nil {
		if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" {
			if v.Value != "true" {
				return c, ps.fail(v, yamlsrc.Join(path, "segment_worse"), "only true (or a list of segments) is meaningful")
			}
		} else {
			names, err := ps.strings(v, yamlsrc.Join(path, "segment_worse"))
			if err != nil {
				return c, err
			}
			for _, nm := range names {
				sg, err := rfm.ParseSegment(nm)
				if err != nil || sg == rfm.NoSegment {
					return c, ps.fail(v, yamlsrc.Join(path, "segment_worse"), "unknown RFM segment %q (at_risk, cant_lose_them, hibernating, lost, ...)", nm)
				}
				c.SegmentTo = append(c.SegmentTo, sg)
			}
		}
		c.kinds |= hasSegment
	}
	if v := f.Get("order_count"); v != nil {
		x, err := ps.integer(v, yamlsrc.Join(path, "order_count"), 1, 1_000_000)
		if err != nil {
			return c, err
		}
		c.OrderCount = int32(x)
		c.kinds |= hasOrderCount
	}
	if v := f.Get("p_alive_below"); v != nil {
		x, err := ps.number(v, yamlsrc.Join(path, "p_alive_below"))
		if err != nil {
			return c, err
		}
		if x <= 0 || x >= 1 {
			return c, ps.fail(v, yamlsrc.Join(path, "p_alive_below"), "must be between 0 and 1 (exclusive)")
		}
		c.PAliveBelow = x
		c.kinds |= hasPAlive
	}
	if c.kinds == 0 {
		return c, ps.fail(n, path, "empty clause; set one of %s", strings.Join(causeFields, ", "))
	}
	return c, nil
}

// propNames are the event properties where: can compare.
var propNames = []string{"form", "content", "list", "campaign", "category", "sku", "url", "query", "order_id"}

func (ps *parser) propCond(n *yaml.Node, path string) (PropCond, error) {
	var pc PropCond
	f, err := ps.mapping(n, path, "equals", "in", "prefix", "contains", "present")
	if err != nil {
		return pc, err
	}
	if f.Len() != 1 {
		return pc, ps.fail(n, path, "exactly one of equals, in, prefix, contains, present")
	}
	for name, v := range f.All() {
		p := yamlsrc.Join(path, name)
		switch name {
		case "present":
			b, err := ps.boolean(v, p)
			if err != nil {
				return pc, err
			}
			if !b {
				return pc, ps.fail(v, p, "only true is meaningful")
			}
			pc.Op = OpPresent
		case "in":
			if pc.Values, err = ps.strings(v, p); err != nil {
				return pc, err
			}
			pc.Op = OpIn
		default:
			s, err := ps.text(v, p)
			if err != nil {
				return pc, err
			}
			pc.Values = []string{s}
			pc.Op = map[string]PropOp{"equals": OpEquals, "prefix": OpPrefix, "contains": OpContains}[name]
		}
	}
	for i, s := range pc.Values {
		pc.Values[i] = lowerASCII(s)
	}
	return pc, nil
}

func (ps *parser) schedule(n *yaml.Node, path string) (*Schedule, error) {
	f, err := ps.mapping(n, path, "anniversary", "trait_date", "offset", "overdue", "min_orders")
	if err != nil {
		return nil, err
	}
	s := &Schedule{}
	set := 0
	if v := f.Get("anniversary"); v != nil {
		t, err := ps.text(v, yamlsrc.Join(path, "anniversary"))
		if err != nil || t != "first_order" {
			return nil, ps.fail(v, yamlsrc.Join(path, "anniversary"), "must be first_order (yearly from the first order)")
		}
		s.kind = scheduleAnniversary
		set++
	}
	if v := f.Get("trait_date"); v != nil {
		if s.Trait, err = ps.text(v, yamlsrc.Join(path, "trait_date")); err != nil {
			return nil, err
		}
		if s.Trait == "" {
			return nil, ps.fail(v, yamlsrc.Join(path, "trait_date"), "name the profile trait holding the date")
		}
		s.kind = scheduleTraitDate
		set++
	}
	if v := f.Get("overdue"); v != nil {
		if s.Factor, err = ps.number(v, yamlsrc.Join(path, "overdue")); err != nil {
			return nil, err
		}
		if s.Factor < 1 || s.Factor > 100 {
			return nil, ps.fail(v, yamlsrc.Join(path, "overdue"), "a factor of the typical gap between orders, from 1 to 100")
		}
		s.kind = scheduleOverdue
		s.MinOrders = 2
		set++
	}
	if set != 1 {
		return nil, ps.fail(n, path, "exactly one of anniversary, trait_date, overdue")
	}
	if v := f.Get("offset"); v != nil {
		if s.kind != scheduleTraitDate {
			return nil, ps.fail(v, yamlsrc.Join(path, "offset"), "offset applies to trait_date")
		}
		if s.Offset, err = ps.duration(v, yamlsrc.Join(path, "offset"), true); err != nil {
			return nil, err
		}
	}
	if v := f.Get("min_orders"); v != nil {
		if s.kind != scheduleOverdue {
			return nil, ps.fail(v, yamlsrc.Join(path, "min_orders"), "min_orders applies to overdue")
		}
		x, err := ps.integer(v, yamlsrc.Join(path, "min_orders"), 2, 1000)
		if err != nil {
			return nil, err
		}
		s.MinOrders = int(x)
	}
	return s, nil
}

func (ps *parser) intRange(n *yaml.Node, path string) (*IntRange, error) {
	f, err := ps.mapping(n, path, "gte", "lte", "eq")
	if err != nil {
		return nil, err
	}
	r := &IntRange{}
	for _, b := range []struct {
		name string
		dst  []**int64
	}{{"gte", []**int64{&r.Min}}, {"lte", []**int64{&r.Max}}, {"eq", []**int64{&r.Min, &r.Max}}} {
		v := f.Get(b.name)
		if v == nil {
			continue
		}
		x, err := ps.integer(v, yamlsrc.Join(path, b.name), 0, math.MaxInt32)
		if err != nil {
			return nil, err
		}
		for _, d := range b.dst {
			if *d != nil {
				return nil, ps.fail(v, yamlsrc.Join(path, b.name), "eq cannot be combined with gte or lte")
			}
			*d = &x
		}
	}
	if r.Min == nil && r.Max == nil {
		return nil, ps.fail(n, path, "set gte, lte or eq")
	}
	if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
		return nil, ps.fail(n, path, "gte is above lte: nothing can match")
	}
	return r, nil
}

func (ps *parser) conditions(n *yaml.Node, path string, c *Conditions) error {
	f, err := ps.mapping(n, path, "cart_items", "orders", "stage", "known", "product_views")
	if err != nil {
		return err
	}
	if v := f.Get("cart_items"); v != nil {
		if c.CartItems, err = ps.intRange(v, yamlsrc.Join(path, "cart_items")); err != nil {
			return err
		}
	}
	if v := f.Get("orders"); v != nil {
		if c.Orders, err = ps.intRange(v, yamlsrc.Join(path, "orders")); err != nil {
			return err
		}
	}
	if v := f.Get("stage"); v != nil {
		names, err := ps.strings(v, yamlsrc.Join(path, "stage"))
		if err != nil {
			return err
		}
		for _, nm := range names {
			st, ok := lead.ParseStage(nm)
			if !ok {
				return ps.fail(v, yamlsrc.Join(path, "stage"), "unknown stage %q; one of unknown, visitor, lead, mql, sql, customer, lapsed", nm)
			}
			c.Stages = append(c.Stages, st)
		}
	}
	if v := f.Get("known"); v != nil {
		b, err := ps.boolean(v, yamlsrc.Join(path, "known"))
		if err != nil {
			return err
		}
		c.Known = &b
	}
	if v := f.Get("product_views"); v != nil {
		pf, err := ps.mapping(v, yamlsrc.Join(path, "product_views"), "gte", "within")
		if err != nil {
			return err
		}
		gn, err := ps.require(pf, "gte")
		if err != nil {
			return err
		}
		mn, err := ps.integer(gn, yamlsrc.Join(path, "product_views.gte"), 1, state.RecentEventsCap)
		if err != nil {
			return err
		}
		wn, err := ps.require(pf, "within")
		if err != nil {
			return err
		}
		w, err := ps.duration(wn, yamlsrc.Join(path, "product_views.within"), false)
		if err != nil {
			return err
		}
		c.ProductViews = &ViewCond{Min: int(mn), Within: w}
	}
	return nil
}

func (ps *parser) wait(n *yaml.Node, path string) (*Wait, error) {
	f, err := ps.mapping(n, path, "for", "unless", "restart")
	if err != nil {
		return nil, err
	}
	w := &Wait{}
	fn, err := ps.require(f, "for")
	if err != nil {
		return nil, err
	}
	if w.For, err = ps.duration(fn, yamlsrc.Join(path, "for"), false); err != nil {
		return nil, err
	}
	if u := f.Get("unless"); u != nil {
		names, err := ps.strings(u, yamlsrc.Join(path, "unless"))
		if err != nil {
			return nil, err
		}
		for _, nm := range names {
			t := state.ParseEventType([]byte(nm))
			if t == state.EventUnknown {
				return nil, ps.fail(u, yamlsrc.Join(path, "unless"), "unknown event type %q; one of %s", nm, eventNames())
			}
			w.Unless = append(w.Unless, t)
		}
	}
	if r := f.Get("restart"); r != nil {
		if w.Restart, err = ps.boolean(r, yamlsrc.Join(path, "restart")); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func eventNames() string {
	names := make([]string, 0, state.NumEventTypes-1)
	for t := state.EventType(1); t < state.NumEventTypes; t++ {
		names = append(names, t.String())
	}
	return strings.Join(names, ", ")
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
