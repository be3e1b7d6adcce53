package lead

import (
	"fmt"
	"testing"

	"github.com/kairos-engine/kairos/state"
)

// condPlan is a plan with one behavioural rule on page_view with the given
// when, and one fit rule with the same conditions on traits.
func condPlan(t *testing.T, when string) *Plan {
	t.Helper()
	return mustPlan(t, fmt.Sprintf(`version: v1
lifecycle: {mql: 50, sql: 90}
behaviour:
  - group: g
    half_life: 30d
    rules:
      - {id: r, event: page_view, when: %s, points: 7}
fit:
  - group: f
    rules:
      - {id: t, traits: %s, points: 3}
`, when, when))
}

// Every operator, on event properties (Apply) and on traits (Score).
func TestConditionOperators(t *testing.T) {
	tests := []struct {
		name, when string
		props      props // nil: the property is absent
		want       bool
	}{
		{"equals", `{v: {equals: request-demo}}`, props{"v": "request-demo"}, true},
		{"equals ignores ASCII case", `{v: {equals: Request-Demo}}`, props{"v": "REQUEST-demo"}, true},
		{"equals other", `{v: {equals: request-demo}}`, props{"v": "request-demo-2"}, false},
		{"equals absent", `{v: {equals: x}}`, nil, false},
		{"equals number text", `{v: {equals: 42}}`, props{"v": "42"}, true},
		{"in", `{v: {in: [de, at, ch]}}`, props{"v": "AT"}, true},
		{"in other", `{v: {in: [de, at, ch]}}`, props{"v": "fr"}, false},
		{"contains", `{v: {contains: /pricing}}`, props{"v": "https://shop.test/en/Pricing?x=1"}, true},
		{"contains any of", `{v: {contains: [/a, /pricing]}}`, props{"v": "/pricing"}, true},
		{"contains other", `{v: {contains: /pricing}}`, props{"v": "/prices"}, false},
		{"contains is a substring", `{v: {contains: cto}}`, props{"v": "Director"}, true},
		{"word", `{v: {word: cto}}`, props{"v": "CTO & Co-Founder"}, true},
		{"word not inside a word", `{v: {word: cto}}`, props{"v": "Director"}, false},
		{"word at the end", `{v: {word: [head, vp]}}`, props{"v": "Sales VP"}, true},
		{"word with spaces", `{v: {word: vice president}}`, props{"v": "Vice President, Sales"}, true},
		{"word prefix only", `{v: {word: intern}}`, props{"v": "International Sales"}, false},
		{"prefix", `{v: {prefix: https://shop.test/b2b}}`, props{"v": "HTTPS://shop.test/b2b/offers"}, true},
		{"prefix other", `{v: {prefix: /b2b}}`, props{"v": "/en/b2b"}, false},
		{"gte", `{v: {gte: 50}}`, props{"v": "50"}, true},
		{"gte below", `{v: {gte: 50}}`, props{"v": "49.99"}, false},
		{"gte range lower bound", `{v: {gte: 50}}`, props{"v": "51-200"}, true},
		{"gte range below", `{v: {gte: 50}}`, props{"v": "11 - 50"}, false},
		{"gte open range", `{v: {gte: 50}}`, props{"v": "1000+"}, true},
		{"gte not a number", `{v: {gte: 50}}`, props{"v": "large"}, false},
		{"lte", `{v: {lte: 10}}`, props{"v": "-3"}, true},
		{"lte above", `{v: {lte: 10}}`, props{"v": "1e3"}, false},
		{"between", `{v: {gte: 10, lte: 20}}`, props{"v": "15"}, true},
		{"between outside", `{v: {gte: 10, lte: 20}}`, props{"v": "25"}, false},
		{"exists", `{v: {exists: true}}`, props{"v": "x"}, true},
		{"exists absent", `{v: {exists: true}}`, nil, false},
		{"exists empty is absent", `{v: {exists: true}}`, props{"v": ""}, false},
		{"not exists", `{v: {exists: false}}`, nil, true},
		{"not exists present", `{v: {exists: false}}`, props{"v": "x"}, false},
		{"every property must hold", `{v: {equals: a}, w: {equals: b}}`, props{"v": "a", "w": "c"}, false},
		{"every property holds", `{v: {equals: a}, w: {equals: b}}`, props{"v": "a", "w": "b"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := condPlan(t, tt.when)
			var s state.Scores
			ch := p.Apply(&s, state.EventPageView, 1000, tt.props, nil)
			if got := ch.Matched == 1; got != tt.want {
				t.Errorf("event rule matched %v, want %v", got, tt.want)
			}
			c := &state.Contact{}
			for k, v := range tt.props {
				c.Traits = append(c.Traits, state.Trait{Name: k, Value: v})
			}
			r := p.Score(&s, c, 1000)
			if got := r.Fit == 3; got != tt.want {
				t.Errorf("fit rule held %v (fit %v), want %v", got, r.Fit, tt.want)
			}
		})
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"50", 50, true},
		{" 50 ", 50, true},
		{"-1.5", -1.5, true},
		{"+2", 2, true},
		{"2e3", 2000, true},
		{"5.", 5, true},
		{".5", 0.5, true},
		{"51-200", 51, true},
		{"51 – 200", 51, true},
		{"1000+", 1000, true},
		{"", 0, false},
		{"-", 0, false},
		{"abc", 0, false},
		{"50 employees", 0, false},
		{"51-", 0, false},
		{"1e999", 0, false},
		{"2e", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseNumber(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseNumber(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseNumberAllocs(t *testing.T) {
	for _, s := range []string{"51-200", "abc", "1000+"} {
		if n := testing.AllocsPerRun(100, func() { parseNumber(s) }); n != 0 {
			t.Errorf("parseNumber(%q) allocates %v times", s, n)
		}
	}
}
