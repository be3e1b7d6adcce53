package nba

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/file"
	"gopkg.in/yaml.v3"

	"github.com/kairos-engine/kairos/models/yamlsrc"
)

// ParseCatalogue parses and validates a catalogue. name is the file name
// errors carry; every problem is a *CatalogueError with the line and field
// path, and unknown fields are errors.
func ParseCatalogue(name string, data []byte) (*Catalogue, error) {
	p := &catParser{src: yamlsrc.Source{
		File: name,
		Err: func(line int, field, msg string) error {
			return &CatalogueError{File: name, Line: line, Field: field, Msg: msg}
		},
		SyntaxPrefix: "YAML: ",
		Unknown: func(_ string, known []string) string {
			return "unknown field; known fields here are " + strings.Join(known, ", ")
		},
	}}
	if len(data) > MaxCatalogueSize {
		return nil, &CatalogueError{File: name, Msg: fmt.Sprintf("larger than %d bytes; is it the right file?", MaxCatalogueSize)}
	}
	root, err := p.src.Document(data, "the catalogue is empty; start from the shipped "+DefaultCatalogueFile,
		"a catalogue is one YAML document; remove the second one (after ---)")
	if err != nil {
		return nil, err
	}
	return p.catalogue(root)
}

type catParser struct{ src yamlsrc.Source }

func (p *catParser) fail(n *yaml.Node, field, format string, args ...any) error {
	return p.src.Fail(n, field, format, args...)
}

// fields walks a mapping, rejecting unknown and repeated keys.
func (p *catParser) fields(n *yaml.Node, path string, known []string, f func(key string, v *yaml.Node, field string) error) error {
	return p.src.Each(n, path, known, "must be a mapping of "+strings.Join(known, ", "), f)
}

func (p *catParser) str(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return "", p.fail(n, field, "must be a string")
	}
	return n.Value, nil
}

func (p *catParser) num(n *yaml.Node, field string, lo, hi float64) (float64, error) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		return 0, p.fail(n, field, "must be a number (unquoted)")
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, p.fail(n, field, "must be a finite number")
	}
	if v < lo || v > hi {
		return 0, p.fail(n, field, "must be between %g and %g", lo, hi)
	}
	return v, nil
}

func (p *catParser) boolean(n *yaml.Node, field string) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		return false, p.fail(n, field, "must be true or false")
	}
	return n.Value == "true", nil
}

func (p *catParser) id(n *yaml.Node, field string) (string, error) {
	s, err := p.str(n, field)
	if err != nil {
		return "", err
	}
	if !validID(s) {
		return "", p.fail(n, field, "%q: ids are 1 to %d lower-case letters, digits, '-', '_' or '.', starting with a letter or digit", s, MaxIDLen)
	}
	return s, nil
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
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

func (p *catParser) duration(n *yaml.Node, field string) (time.Duration, error) {
	s, err := p.str(n, field)
	if err != nil {
		return 0, err
	}
	d, err := parseDuration(s)
	if err != nil {
		return 0, p.fail(n, field, "%v", err)
	}
	return d, nil
}

// parseDuration reads "90m", "7d", "2w", "1d12h": Go durations plus d
// (24h) and w (7 days), positive.
func parseDuration(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && rest[j] >= 'a' && rest[j] <= 'z' {
			j++
		}
		if i == 0 || j == i {
			return 0, fmt.Errorf("%q is not a duration; write a number and a unit (ms, s, m, h, d, w), like 7d or 1d12h", s)
		}
		v, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: %w", s, err)
		}
		var unit time.Duration
		switch rest[i:j] {
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
			return 0, fmt.Errorf("%q: unknown unit %q; use ms, s, m, h, d or w", s, rest[i:j])
		}
		if v*float64(unit) > float64(10*365*24*time.Hour) {
			return 0, fmt.Errorf("%q is longer than ten years", s)
		}
		total += time.Duration(v * float64(unit))
		rest = rest[j:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return total, nil
}

func (p *catParser) instant(n *yaml.Node, field string) (int64, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, p.fail(n, field, "must be a date (2026-11-24) or an RFC 3339 time")
	}
	if t, err := time.Parse(time.RFC3339, n.Value); err == nil {
		return t.UnixMilli(), nil
	}
	if t, err := time.Parse(time.DateOnly, n.Value); err == nil {
		return t.UnixMilli(), nil
	}
	return 0, p.fail(n, field, "%q must be a date (2026-11-24) or an RFC 3339 time (2026-11-24T08:00:00Z)", n.Value)
}

func (p *catParser) beta(n *yaml.Node, field string) (Beta, error) {
	var b Beta
	err := p.fields(n, field, []string{"alpha", "beta"}, func(k string, v *yaml.Node, f string) error {
		x, err := p.num(v, f, 1e-3, 1e6)
		if k == "alpha" {
			b.Alpha = x
		} else {
			b.Beta = x
		}
		return err
	})
	if err == nil && (b.Alpha == 0 || b.Beta == 0) {
		err = p.fail(n, field, "needs both alpha and beta (pseudo-conversions and pseudo-non-conversions)")
	}
	return b, err
}

// actionDraft is an action before placements are indexed.
type actionDraft struct {
	a          *Action
	node       *yaml.Node
	placements map[string]float64
	hasStop    bool
	hasAttr    bool
	hasPrior   bool
}

func (p *catParser) catalogue(root *yaml.Node) (*Catalogue, error) {
	c := &Catalogue{source: p.src.File, byID: map[string]*Action{}, controlShare: 0.05}
	defPrior := Beta{Alpha: 1, Beta: 19}
	defStop := true
	defAttr := 7 * 24 * time.Hour
	var drafts []*actionDraft
	var fallbackNode *yaml.Node
	var actionsNode *yaml.Node
	err := p.fields(root, "", []string{"version", "description", "control", "defaults", "fallback", "actions"}, func(k string, v *yaml.Node, f string) error {
		var err error
		switch k {
		case "version":
			c.version, err = p.str(v, f)
			if err == nil && (c.version == "" || len(c.version) > 128) {
				err = p.fail(v, f, "must be 1 to 128 bytes")
			}
		case "description":
			_, err = p.str(v, f)
		case "control":
			err = p.fields(v, f, []string{"share", "baseline"}, func(k string, v *yaml.Node, f string) error {
				if k == "share" {
					var err error
					c.controlShare, err = p.num(v, f, 0, 0.5)
					return err
				}
				s, err := p.str(v, f)
				switch {
				case err != nil:
					return err
				case s == "priority":
					c.baseline = BaselinePriority
				case s == "random":
					c.baseline = BaselineRandom
				default:
					return p.fail(v, f, "%q: use priority or random", s)
				}
				return nil
			})
		case "defaults":
			err = p.fields(v, f, []string{"prior", "stop_after_conversion", "attribution"}, func(k string, v *yaml.Node, f string) error {
				var err error
				switch k {
				case "prior":
					defPrior, err = p.beta(v, f)
				case "stop_after_conversion":
					defStop, err = p.boolean(v, f)
				case "attribution":
					defAttr, err = p.duration(v, f)
				}
				return err
			})
		case "fallback":
			fallbackNode = v
		case "actions":
			actionsNode = v
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if c.version == "" {
		return nil, p.fail(root, "version", "required: a version string logged with every decision")
	}
	if actionsNode == nil || actionsNode.Kind != yaml.SequenceNode || len(actionsNode.Content) == 0 {
		return nil, p.fail(cmpNode(actionsNode, root), "actions", "required: a list of at least one action")
	}
	if len(actionsNode.Content) > MaxActions {
		return nil, p.fail(actionsNode, "actions", "at most %d actions", MaxActions)
	}
	places := map[string]bool{}
	hashes := map[uint32]string{}
	for i, an := range actionsNode.Content {
		path := yamlsrc.Index("actions", i)
		d, err := p.action(yamlsrc.Resolve(an), path)
		if err != nil {
			return nil, err
		}
		a := d.a
		if prev, ok := c.byID[a.ID]; ok {
			return nil, p.fail(an, path+".id", "%q is already the id of action %d", a.ID, prev.index)
		}
		if other, ok := hashes[a.hash]; ok {
			return nil, p.fail(an, path+".id", "%q collides with %q in the contact history's 32-bit key; rename one", a.ID, other)
		}
		hashes[a.hash] = a.ID
		a.index = i
		if !d.hasStop {
			a.StopAfterConversion = defStop
		}
		if !d.hasAttr {
			a.Attribution = defAttr
		}
		if !d.hasPrior {
			a.Prior = defPrior
		}
		for pl := range d.placements {
			places[pl] = true
		}
		c.byID[a.ID] = a
		c.actions = append(c.actions, a)
		drafts = append(drafts, d)
	}
	if len(places) > MaxPlacements {
		return nil, p.fail(actionsNode, "actions", "%d placements; at most %d", len(places), MaxPlacements)
	}
	for pl := range places {
		c.placements = append(c.placements, pl)
	}
	slices.Sort(c.placements)
	for _, d := range drafts {
		d.a.Weights = make([]float64, len(c.placements))
		for pl, w := range d.placements {
			d.a.Weights[c.Placement(pl)] = w
		}
	}
	c.fallback = make([]*Action, len(c.placements))
	if fallbackNode != nil {
		err := p.fields(fallbackNode, "fallback", c.placements, func(k string, v *yaml.Node, f string) error {
			id, err := p.id(v, f)
			if err != nil {
				return err
			}
			a := c.byID[id]
			if a == nil {
				return p.fail(v, f, "no action has the id %q", id)
			}
			pi := c.Placement(k)
			if a.Weights[pi] == 0 {
				return p.fail(v, f, "action %q is not shown in placement %q; add it to the action's placements", id, k)
			}
			if a.Eligible != "" || a.CapMax > 0 || a.ValidFrom != 0 || a.ValidUntil != 0 {
				return p.fail(v, f, "action %q has conditions, caps or dates; a fallback is served without checking them, so it must have none", id)
			}
			c.fallback[pi] = a
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

func cmpNode(n, other *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return other
}

var actionFields = []string{"id", "description", "placements", "eligible", "value", "lever", "valid_from", "valid_until", "cap", "stop_after_conversion", "attribution", "prior"}

func (p *catParser) action(n *yaml.Node, path string) (*actionDraft, error) {
	a := &Action{Lever: 1}
	d := &actionDraft{a: a, node: n, placements: map[string]float64{}}
	hasValue := false
	err := p.fields(n, path, actionFields, func(k string, v *yaml.Node, f string) error {
		var err error
		switch k {
		case "id":
			a.ID, err = p.id(v, f)
		case "description":
			a.Description, err = p.str(v, f)
		case "placements":
			err = p.placements(v, f, d.placements)
		case "eligible":
			a.Eligible, err = p.str(v, f)
			if err != nil {
				return err
			}
			if len(a.Eligible) > MaxExprLen {
				return p.fail(v, f, "longer than %d bytes", MaxExprLen)
			}
			a.conds, err = compileEligibility(a.Eligible)
			if err != nil {
				return p.exprFail(v, f, a.Eligible, err)
			}
		case "value":
			a.Value, err = p.num(v, f, 0, 1e9)
			hasValue = true
		case "lever":
			a.Lever, err = p.num(v, f, 0, 1e6)
		case "valid_from":
			a.ValidFrom, err = p.instant(v, f)
		case "valid_until":
			a.ValidUntil, err = p.instant(v, f)
		case "cap":
			var hasMax, hasPer bool
			err = p.fields(v, f, []string{"max", "per"}, func(k string, v *yaml.Node, f string) error {
				if k == "max" {
					x, err := p.num(v, f, 1, 65535)
					if err == nil && x != math.Trunc(x) {
						err = p.fail(v, f, "must be a whole number")
					}
					a.CapMax, hasMax = uint16(x), true
					return err
				}
				var err error
				a.CapPer, err = p.duration(v, f)
				hasPer = true
				return err
			})
			if err == nil && (!hasMax || !hasPer) {
				err = p.fail(v, f, "needs both max (impressions) and per (a window, like 7d)")
			}
		case "stop_after_conversion":
			a.StopAfterConversion, err = p.boolean(v, f)
			d.hasStop = true
		case "attribution":
			a.Attribution, err = p.duration(v, f)
			d.hasAttr = true
		case "prior":
			a.Prior, err = p.beta(v, f)
			d.hasPrior = true
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch {
	case a.ID == "":
		return nil, p.fail(n, path+".id", "required")
	case len(d.placements) == 0:
		return nil, p.fail(n, path+".placements", "required: where the action may be shown, like [homepage, cart]")
	case !hasValue:
		return nil, p.fail(n, path+".value", "required: the business value of a conversion")
	case a.ValidFrom != 0 && a.ValidUntil != 0 && a.ValidUntil <= a.ValidFrom:
		return nil, p.fail(n, path+".valid_until", "must be after valid_from")
	}
	a.hash = hashID(a.ID)
	return d, nil
}

// placements reads a list of names (weight 1) or a mapping name: weight.
func (p *catParser) placements(n *yaml.Node, field string, into map[string]float64) error {
	add := func(k *yaml.Node, w float64) error {
		name, err := p.id(k, field)
		if err != nil {
			return err
		}
		if _, dup := into[name]; dup {
			return p.fail(k, field, "placement %q listed twice", name)
		}
		into[name] = w
		return nil
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, e := range n.Content {
			if err := add(yamlsrc.Resolve(e), 1); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			w, err := p.num(yamlsrc.Resolve(n.Content[i+1]), field+"."+n.Content[i].Value, 1e-6, 1e6)
			if err != nil {
				return err
			}
			if err := add(n.Content[i], w); err != nil {
				return err
			}
		}
	default:
		return p.fail(n, field, "must be a list of placements ([homepage, cart]) or a mapping of placement to context weight ({homepage: 1, cart: 1.5})")
	}
	return nil
}

// exprFail turns an expression error into a CatalogueError on the
// expression's line (the YAML scalar's line plus the expression's own line
// for multi-line block scalars).
func (p *catParser) exprFail(n *yaml.Node, field, src string, err error) error {
	var fe *file.Error
	var ee *exprError
	line := n.Line
	switch {
	case errors.As(err, &fe):
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			line += fe.Line
		}
		return p.src.Err(line, field, fmt.Sprintf("column %d: %s", fe.Column+1, fe.Message))
	case errors.As(err, &ee):
		off := min(max(ee.loc.From, 0), len(src))
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			line += 1 + strings.Count(src[:off], "\n")
		}
		return p.src.Err(line, field, ee.msg)
	}
	return p.src.Err(line, field, err.Error())
}
