package main

import (
	"regexp"
	"sort"
	"strings"
)

// metricNames returns the metric names a PromQL expression selects. It is
// a lexer, not a parser, which is enough for the expressions of a
// dashboard and alert rules: it drops string literals, label matchers,
// ranges and grouping clauses, then takes every identifier that is not a
// function call, keyword or number.
func metricNames(expr string) []string {
	s := grafanaVars.ReplaceAllString(expr, "1")
	s = stringLit.ReplaceAllString(s, `""`)
	s = braces.ReplaceAllString(s, " ")
	s = brackets.ReplaceAllString(s, " ")
	s = grouping.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	for _, loc := range token.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' || tok[0] == '.' {
			continue // number or duration
		}
		if keywords[strings.ToLower(tok)] {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // function or aggregation
		}
		seen[tok] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var (
	// $__rate_interval, $instance, ${job}, [[var]]
	grafanaVars = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]`)
	stringLit   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	braces      = regexp.MustCompile(`\{[^{}]*\}`)
	brackets    = regexp.MustCompile(`\[[^\[\]]*\]`)
	grouping    = regexp.MustCompile(`(?i)\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	token       = regexp.MustCompile(`[0-9.][0-9A-Za-z_.+]*|[A-Za-z_:][A-Za-z0-9_:]*`)
	keywords    = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true, "atan2": true,
	}
)
