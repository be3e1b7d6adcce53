package nba

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"

	"github.com/kairos-engine/kairos/state"
)

// Eligibility expressions are parsed by github.com/expr-lang/expr (a safe
// language: no loops, no side effects, no access to anything the
// environment does not offer) and then lowered here, once at load, to a
// tree of typed Go closures over *Context. expr's own VM boxes every value
// it loads into an interface, which allocates for numbers and strings;
// the closures read the Context's fields directly, so evaluating an
// action's eligibility allocates nothing and costs tens of nanoseconds.
// The subset lowered is the part of expr that means something over a
// contact: literals, the variables and functions listed in doc.go,
// comparison, arithmetic, boolean operators, in [...], contains,
// startsWith, endsWith, matches and the ternary. Anything else is a load
// error naming the construct.

type kind uint8

const (
	kBool kind = iota + 1
	kNum
	kStr
)

func (k kind) String() string {
	switch k {
	case kBool:
		return "a boolean"
	case kNum:
		return "a number"
	case kStr:
		return "a string"
	}
	return "nothing"
}

// value is a compiled sub-expression: exactly one of the closures is set,
// matching k. lit holds the constant value of a literal.
type value struct {
	k     kind
	b     func(*Context) bool
	n     func(*Context) float64
	s     func(*Context) string
	isLit bool
	litN  float64
	litS  string
}

// cond is one top-level conjunct of an eligibility expression.
type cond struct {
	text string
	eval func(*Context) bool
}

// exprError is a problem at an offset of the expression's source.
type exprError struct {
	loc file.Location
	msg string
}

func (e *exprError) Error() string { return e.msg }

var boolVars = map[string]func(*Context) bool{
	"known":        func(x *Context) bool { return x.Known },
	"email_opt_in": func(x *Context) bool { return x.Consent[state.ChannelEmail] == state.ConsentOptedIn },
	"sms_opt_in":   func(x *Context) bool { return x.Consent[state.ChannelSMS] == state.ConsentOptedIn },
	"push_opt_in":  func(x *Context) bool { return x.Consent[state.ChannelPush] == state.ConsentOptedIn },
	"has_cart":     func(x *Context) bool { return x.CartItems > 0 },
}

var numVars = map[string]func(*Context) float64{
	"lead_score":            func(x *Context) float64 { return x.LeadScore },
	"p_alive":               func(x *Context) float64 { return x.PAlive },
	"clv":                   func(x *Context) float64 { return x.CLV },
	"orders":                func(x *Context) float64 { return float64(x.Orders) },
	"revenue":               func(x *Context) float64 { return x.Revenue },
	"days_since_last_order": func(x *Context) float64 { return x.orderAge },
	"days_since_first_seen": func(x *Context) float64 { return x.ageDays },
	"cart_items":            func(x *Context) float64 { return float64(x.CartItems) },
	"cart_value":            func(x *Context) float64 { return x.CartValue },
	"cart_age_minutes":      func(x *Context) float64 { return x.cartAge },
	"sessions":              func(x *Context) float64 { return float64(x.Sessions) },
	"page_views":            func(x *Context) float64 { return float64(x.PageViews) },
	"hour":                  func(x *Context) float64 { return x.hour },
	"weekday":               func(x *Context) float64 { return x.weekday },
	"emails_opened":         func(x *Context) float64 { return float64(x.EmailOpens) },
	"emails_clicked":        func(x *Context) float64 { return float64(x.EmailClicks) },
}

var strVars = map[string]func(*Context) string{
	"stage":         func(x *Context) string { return x.Stage },
	"segment":       func(x *Context) string { return x.Segment },
	"placement":     func(x *Context) string { return x.Placement },
	"page_url":      func(x *Context) string { return x.PageURL },
	"page_category": func(x *Context) string { return x.PageCategory },
	"top_category":  func(x *Context) string { return x.topCat },
	"language":      func(x *Context) string { return x.Language },
}

// Variables returns the names an eligibility expression can use, mapped
// to their type ("bool", "number", "string"); for documentation and for
// the API's explain output.
func Variables() map[string]string {
	m := make(map[string]string, len(boolVars)+len(numVars)+len(strVars))
	for k := range boolVars {
		m[k] = "bool"
	}
	for k := range numVars {
		m[k] = "number"
	}
	for k := range strVars {
		m[k] = "string"
	}
	return m
}

// compileEligibility parses src and returns its top-level conjuncts.
func compileEligibility(src string) ([]cond, error) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, err
	}
	var parts []ast.Node
	var split func(n ast.Node)
	split = func(n ast.Node) {
		if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "and" || b.Operator == "&&") {
			split(b.Left)
			split(b.Right)
			return
		}
		parts = append(parts, n)
	}
	split(tree.Node)
	conds := make([]cond, 0, len(parts))
	for _, p := range parts {
		v, err := lower(p)
		if err != nil {
			return nil, err
		}
		if v.k != kBool {
			return nil, &exprError{p.Location(), fmt.Sprintf("%q is %s; an eligibility condition must be true or false", p.String(), v.k)}
		}
		conds = append(conds, cond{text: p.String(), eval: v.b})
	}
	return conds, nil
}

func errAt(n ast.Node, format string, args ...any) error {
	return &exprError{n.Location(), fmt.Sprintf(format, args...)}
}

func lower(n ast.Node) (value, error) {
	switch n := n.(type) {
	case *ast.BoolNode:
		b := n.Value
		return value{k: kBool, b: func(*Context) bool { return b }, isLit: true}, nil
	case *ast.IntegerNode:
		f := float64(n.Value)
		return value{k: kNum, n: func(*Context) float64 { return f }, isLit: true, litN: f}, nil
	case *ast.FloatNode:
		f := n.Value
		return value{k: kNum, n: func(*Context) float64 { return f }, isLit: true, litN: f}, nil
	case *ast.StringNode:
		s := n.Value
		return value{k: kStr, s: func(*Context) string { return s }, isLit: true, litS: s}, nil
	case *ast.IdentifierNode:
		if f, ok := boolVars[n.Value]; ok {
			return value{k: kBool, b: f}, nil
		}
		if f, ok := numVars[n.Value]; ok {
			return value{k: kNum, n: f}, nil
		}
		if f, ok := strVars[n.Value]; ok {
			return value{k: kStr, s: f}, nil
		}
		return value{}, errAt(n, "unknown variable %q; known are %s", n.Value, knownNames())
	case *ast.UnaryNode:
		return lowerUnary(n)
	case *ast.BinaryNode:
		return lowerBinary(n)
	case *ast.CallNode:
		return lowerCall(n)
	case *ast.ConditionalNode:
		c, err := lower(n.Cond)
		if err != nil {
			return value{}, err
		}
		if c.k != kBool {
			return value{}, errAt(n.Cond, "the condition of ?: must be true or false, %q is %s", n.Cond.String(), c.k)
		}
		a, err := lower(n.Exp1)
		if err != nil {
			return value{}, err
		}
		b, err := lower(n.Exp2)
		if err != nil {
			return value{}, err
		}
		if a.k != b.k {
			return value{}, errAt(n, "both branches of ?: must have the same type: %s and %s", a.k, b.k)
		}
		cb := c.b
		switch a.k {
		case kBool:
			return value{k: kBool, b: func(x *Context) bool {
				if cb(x) {
					return a.b(x)
				}
				return b.b(x)
			}}, nil
		case kNum:
			return value{k: kNum, n: func(x *Context) float64 {
				if cb(x) {
					return a.n(x)
				}
				return b.n(x)
			}}, nil
		default:
			return value{k: kStr, s: func(x *Context) string {
				if cb(x) {
					return a.s(x)
				}
				return b.s(x)
			}}, nil
		}
	case *ast.ArrayNode:
		return value{}, errAt(n, "a list is only allowed on the right of in")
	case *ast.NilNode:
		return value{}, errAt(n, "nil is not a value here; missing values are 0, \"\" or false")
	}
	return value{}, errAt(n, "%q is not supported in eligibility expressions", n.String())
}

func knownNames() string {
	names := make([]string, 0, 32)
	for k, t := range Variables() {
		names = append(names, k+" ("+t+")")
	}
	slices.Sort(names)
	return strings.Join(names, ", ") + ", and the functions affinity(category), recent(event_type, duration), subscribed(list)"
}

func lowerUnary(n *ast.UnaryNode) (value, error) {
	v, err := lower(n.Node)
	if err != nil {
		return value{}, err
	}
	switch n.Operator {
	case "not", "!":
		if v.k != kBool {
			return value{}, errAt(n, "%s needs true or false, %q is %s", n.Operator, n.Node.String(), v.k)
		}
		f := v.b
		return value{k: kBool, b: func(x *Context) bool { return !f(x) }}, nil
	case "-", "+":
		if v.k != kNum {
			return value{}, errAt(n, "%s needs a number, %q is %s", n.Operator, n.Node.String(), v.k)
		}
		if n.Operator == "+" {
			return v, nil
		}
		f := v.n
		return value{k: kNum, n: func(x *Context) float64 { return -f(x) }}, nil
	}
	return value{}, errAt(n, "operator %q is not supported", n.Operator)
}

func lowerBinary(n *ast.BinaryNode) (value, error) {
	if n.Operator == "in" {
		return lowerIn(n)
	}
	l, err := lower(n.Left)
	if err != nil {
		return value{}, err
	}
	r, err := lower(n.Right)
	if err != nil {
		return value{}, err
	}
	need := func(k kind) error {
		if l.k != k {
			return errAt(n.Left, "%s needs %s on the left, %q is %s", n.Operator, k, n.Left.String(), l.k)
		}
		if r.k != k {
			return errAt(n.Right, "%s needs %s on the right, %q is %s", n.Operator, k, n.Right.String(), r.k)
		}
		return nil
	}
	switch n.Operator {
	case "and", "&&", "or", "||":
		if err := need(kBool); err != nil {
			return value{}, err
		}
		a, b := l.b, r.b
		if n.Operator == "and" || n.Operator == "&&" {
			return value{k: kBool, b: func(x *Context) bool { return a(x) && b(x) }}, nil
		}
		return value{k: kBool, b: func(x *Context) bool { return a(x) || b(x) }}, nil
	case "==", "!=":
		if l.k != r.k {
			return value{}, errAt(n, "%s compares %s with %s; both sides must have the same type", n.Operator, l.k, r.k)
		}
		eq := n.Operator == "=="
		switch l.k {
		case kBool:
			a, b := l.b, r.b
			return value{k: kBool, b: func(x *Context) bool { return (a(x) == b(x)) == eq }}, nil
		case kNum:
			a, b := l.n, r.n
			return value{k: kBool, b: func(x *Context) bool { return (a(x) == b(x)) == eq }}, nil
		default:
			a, b := l.s, r.s
			return value{k: kBool, b: func(x *Context) bool { return (a(x) == b(x)) == eq }}, nil
		}
	case "<", "<=", ">", ">=":
		if err := need(kNum); err != nil {
			return value{}, err
		}
		a, b := l.n, r.n
		switch n.Operator {
		case "<":
			return value{k: kBool, b: func(x *Context) bool { return a(x) < b(x) }}, nil
		case "<=":
			return value{k: kBool, b: func(x *Context) bool { return a(x) <= b(x) }}, nil
		case ">":
			return value{k: kBool, b: func(x *Context) bool { return a(x) > b(x) }}, nil
		default:
			return value{k: kBool, b: func(x *Context) bool { return a(x) >= b(x) }}, nil
		}
	case "+", "-", "*", "/", "%":
		if err := need(kNum); err != nil {
			if l.k == kStr && n.Operator == "+" {
				return value{}, errAt(n, "joining strings is not supported; compare with == or contains instead")
			}
			return value{}, err
		}
		a, b := l.n, r.n
		switch n.Operator {
		case "+":
			return value{k: kNum, n: func(x *Context) float64 { return a(x) + b(x) }}, nil
		case "-":
			return value{k: kNum, n: func(x *Context) float64 { return a(x) - b(x) }}, nil
		case "*":
			return value{k: kNum, n: func(x *Context) float64 { return a(x) * b(x) }}, nil
		case "/":
			return value{k: kNum, n: func(x *Context) float64 { return a(x) / b(x) }}, nil
		default:
			return value{k: kNum, n: func(x *Context) float64 { return math.Mod(a(x), b(x)) }}, nil
		}
	case "contains", "startsWith", "endsWith":
		if err := need(kStr); err != nil {
			return value{}, err
		}
		a, b := l.s, r.s
		switch n.Operator {
		case "contains":
			return value{k: kBool, b: func(x *Context) bool { return strings.Contains(a(x), b(x)) }}, nil
		case "startsWith":
			return value{k: kBool, b: func(x *Context) bool { return strings.HasPrefix(a(x), b(x)) }}, nil
		default:
			return value{k: kBool, b: func(x *Context) bool { return strings.HasSuffix(a(x), b(x)) }}, nil
		}
	case "matches":
		if err := need(kStr); err != nil {
			return value{}, err
		}
		if !r.isLit {
			return value{}, errAt(n.Right, "the pattern of matches must be a string literal, compiled once at load")
		}
		re, err := regexp.Compile(r.litS)
		if err != nil {
			return value{}, errAt(n.Right, "bad pattern: %v", err)
		}
		a := l.s
		return value{k: kBool, b: func(x *Context) bool { return re.MatchString(a(x)) }}, nil
	}
	return value{}, errAt(n, "operator %q is not supported", n.Operator)
}

func lowerIn(n *ast.BinaryNode) (value, error) {
	l, err := lower(n.Left)
	if err != nil {
		return value{}, err
	}
	arr, ok := n.Right.(*ast.ArrayNode)
	if !ok {
		return value{}, errAt(n.Right, "in needs a list of literals on the right, like [\"mql\", \"sql\"]")
	}
	var strs []string
	var nums []float64
	for _, e := range arr.Nodes {
		v, err := lower(e)
		if err != nil {
			return value{}, err
		}
		if !v.isLit || v.k != l.k || v.k == kBool {
			return value{}, errAt(e, "the list of in must hold literals of the left side's type (%s), %q is not one", l.k, e.String())
		}
		strs = append(strs, v.litS)
		nums = append(nums, v.litN)
	}
	switch l.k {
	case kStr:
		f := l.s
		return value{k: kBool, b: func(x *Context) bool { return slices.Contains(strs, f(x)) }}, nil
	case kNum:
		f := l.n
		return value{k: kBool, b: func(x *Context) bool { return slices.Contains(nums, f(x)) }}, nil
	}
	return value{}, errAt(n.Left, "in needs a string or a number on the left, %q is %s", n.Left.String(), l.k)
}

func lowerCall(n *ast.CallNode) (value, error) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return value{}, errAt(n, "%q is not supported; the functions are affinity, recent and subscribed", n.String())
	}
	args := make([]value, len(n.Arguments))
	for i, a := range n.Arguments {
		v, err := lower(a)
		if err != nil {
			return value{}, err
		}
		args[i] = v
	}
	switch id.Value {
	case "affinity", "subscribed":
		if len(args) != 1 || args[0].k != kStr {
			return value{}, errAt(n, "%s takes one string argument, like %s(\"shoes\")", id.Value, id.Value)
		}
		a := args[0].s
		if id.Value == "affinity" {
			return value{k: kNum, n: func(x *Context) float64 { return x.affinity(a(x)) }}, nil
		}
		return value{k: kBool, b: func(x *Context) bool { return x.subscribed(a(x)) }}, nil
	case "recent":
		if len(args) != 2 || !args[0].isLit || !args[1].isLit || args[0].k != kStr || args[1].k != kStr {
			return value{}, errAt(n, "recent takes an event type and a duration, both string literals, like recent(\"add_to_cart\", \"1h\")")
		}
		t := state.ParseEventType([]byte(args[0].litS))
		if t == state.EventUnknown {
			return value{}, errAt(n.Arguments[0], "unknown event type %q", args[0].litS)
		}
		d, err := parseDuration(args[1].litS)
		if err != nil {
			return value{}, errAt(n.Arguments[1], "%v", err)
		}
		within := d.Milliseconds()
		return value{k: kNum, n: func(x *Context) float64 { return x.recent(t, within) }}, nil
	}
	return value{}, errAt(n, "unknown function %q; the functions are affinity(category), recent(event_type, duration) and subscribed(list)", id.Value)
}
