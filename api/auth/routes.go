package auth

import (
	"fmt"
	"strings"
)

// Route is one entry of the route → scope table: what a request must
// present to reach a handler.
type Route struct {
	// Method is GET, POST or DELETE. GET also covers HEAD.
	Method string
	// Pattern is the path, with {name} standing for one non-empty path
	// segment: "/v1/contacts/{id}/next-best-action".
	Pattern string
	// Scope is the least scope a key needs; ScopeOpen needs no key.
	// Routes of ScopePublic are the browser routes: only they answer CORS.
	Scope Scope
}

// DefaultRoutes returns the routes of the API and the scope each needs.
//
//   - open: /healthz, /readyz, /metrics (probes and scrapers carry no
//     key; bind /metrics to its own listener to hide it) and
//     /openapi.json (the API's shape is not a secret).
//   - public: next-best-action, send-time, outcome recording: what a
//     browser needs, and nothing that returns profile data.
//   - read: profiles and everything derived from them.
//   - admin: erase, export (all personal data of a contact at once),
//     configuration reload.
func DefaultRoutes() []Route {
	return []Route{
		{"GET", "/healthz", ScopeOpen},
		{"GET", "/readyz", ScopeOpen},
		{"GET", "/metrics", ScopeOpen},
		{"GET", "/openapi.json", ScopeOpen},

		{"GET", "/v1/contacts/{id}/next-best-action", ScopePublic},
		{"GET", "/v1/contacts/{id}/send-time", ScopePublic},
		{"POST", "/v1/decisions/{decision_id}/outcome", ScopePublic},

		{"GET", "/v1/contacts/{id}", ScopeRead},
		{"GET", "/v1/contacts", ScopeRead},
		{"GET", "/v1/contacts/{id}/timers", ScopeRead},
		{"GET", "/v1/contacts/{id}/pressure", ScopeRead},
		{"GET", "/v1/segments", ScopeRead},
		{"GET", "/v1/models/churn", ScopeRead},
		{"GET", "/v1/models/nba", ScopeRead},

		{"DELETE", "/v1/contacts/{id}", ScopeAdmin},
		{"GET", "/v1/contacts/{id}/export", ScopeAdmin},
		{"POST", "/v1/admin/reload", ScopeAdmin},
	}
}

// apiPrefix is the path under which unknown paths still need a key, so
// that probing without one cannot tell which routes exist.
const apiPrefix = "/v1/"

// RouteTable answers which scope a request needs. Build it once with
// NewRouteTable; it is immutable and safe for concurrent use.
type RouteTable struct {
	routes []compiledRoute
}

type compiledRoute struct {
	Route
	segs []segment
}

// segment of a pattern: a literal, or a parameter (lit == "").
type segment struct{ lit string }

// NewRouteTable validates and compiles routes.
func NewRouteTable(routes []Route) (*RouteTable, error) {
	t := &RouteTable{}
	seen := make(map[string]bool)
	for _, r := range routes {
		switch r.Method {
		case "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			return nil, fmt.Errorf("auth: route %s %s: method must be GET, POST, PUT, PATCH or DELETE", r.Method, r.Pattern)
		}
		if r.Scope >= numScopes {
			return nil, fmt.Errorf("auth: route %s %s: unknown scope %d", r.Method, r.Pattern, r.Scope)
		}
		if !strings.HasPrefix(r.Pattern, "/") || strings.HasSuffix(r.Pattern, "/") && r.Pattern != "/" {
			return nil, fmt.Errorf("auth: route %s %s: a pattern starts with / and does not end with one", r.Method, r.Pattern)
		}
		var segs []segment
		for s := range strings.SplitSeq(r.Pattern[1:], "/") {
			switch {
			case s == "":
				return nil, fmt.Errorf("auth: route %s %s: empty path segment", r.Method, r.Pattern)
			case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && len(s) > 2:
				segs = append(segs, segment{})
			case strings.ContainsAny(s, "{}"):
				return nil, fmt.Errorf("auth: route %s %s: a parameter is a whole segment, {name}", r.Method, r.Pattern)
			default:
				segs = append(segs, segment{lit: s})
			}
		}
		// Two parameters names in the same place are the same route.
		key := r.Method + " " + shape(segs)
		if seen[key] {
			return nil, fmt.Errorf("auth: route %s %s is in the table twice", r.Method, r.Pattern)
		}
		seen[key] = true
		t.routes = append(t.routes, compiledRoute{Route: r, segs: segs})
	}
	return t, nil
}

func shape(segs []segment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		if s.lit == "" {
			b.WriteString("{}")
		} else {
			b.WriteString(s.lit)
		}
	}
	return b.String()
}

// Requirement is what the table says about one request.
type Requirement struct {
	// Scope is the least scope needed. For a known path with a method it
	// does not serve, it is the least scope of the path's routes: a caller
	// with such a key learns 405, a caller without one 401. For an unknown
	// path under /v1/ it is ScopePublic, for any other unknown path
	// ScopeOpen (the router answers 404).
	Scope Scope
	// Route is the matched route's pattern, "" if none matched the method
	// and path.
	Route string
	// BrowserMethods lists the methods browsers may use on this path,
	// for a CORS preflight ("GET, HEAD", "POST"); "" when the path has no
	// public route, so browsers may not call it at all.
	BrowserMethods string
}

// Lookup returns the requirement of a request. path is the raw request
// path (not percent-decoded), so an encoded '/' stays inside its segment.
// HEAD is treated as GET. Lookup does not allocate.
func (t *RouteTable) Lookup(method, path []byte) Requirement {
	head := string(method) == "HEAD"
	// Only patterns with as many segments as the path can match it:
	// counting them once skips most of the table cheaply.
	nseg := 0
	for _, c := range path {
		if c == '/' {
			nseg++
		}
	}
	var req Requirement
	pathKnown := false
	minScope := numScopes
	for i := range t.routes {
		r := &t.routes[i]
		if len(r.segs) != nseg || !matchPath(r.segs, path) {
			continue
		}
		pathKnown = true
		minScope = min(minScope, r.Scope)
		if r.Scope == ScopePublic {
			req.BrowserMethods = browserMethods(req.BrowserMethods, r.Method)
		}
		if r.Method == string(method) || head && r.Method == "GET" {
			req.Scope, req.Route = r.Scope, r.Pattern
		}
	}
	switch {
	case req.Route != "":
	case pathKnown:
		req.Scope = minScope
	case string(path) == "/v1" || len(path) >= len(apiPrefix) && string(path[:len(apiPrefix)]) == apiPrefix:
		req.Scope = ScopePublic
	default:
		req.Scope = ScopeOpen
	}
	return req
}

// browserMethods adds m to the list; the lists are constants, so nothing
// is allocated for the default table's paths.
func browserMethods(list, m string) string {
	if m == "GET" {
		m = "GET, HEAD"
	}
	switch list {
	case "":
		return m
	case m:
		return list
	}
	return list + ", " + m
}

// matchPath reports whether the raw path matches the pattern's segments.
func matchPath(segs []segment, path []byte) bool {
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	rest := path[1:]
	for i, s := range segs {
		end := 0
		for end < len(rest) && rest[end] != '/' {
			end++
		}
		seg := rest[:end]
		if s.lit == "" {
			if len(seg) == 0 {
				return false
			}
		} else if string(seg) != s.lit {
			return false
		}
		if end == len(rest) {
			return i == len(segs)-1
		}
		rest = rest[end+1:]
	}
	return false
}
