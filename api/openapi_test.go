package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPI fails when a route exists in the server but not in
// openapi.json, or the other way round, or when their methods differ.
func TestOpenAPI(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	methodsOf := func(r route) []string {
		var ms []string
		for _, m := range strings.Split(r.allow(), ", ") {
			if m != "HEAD" { // HEAD goes with GET and is not documented apart
				ms = append(ms, strings.ToLower(m))
			}
		}
		slices.Sort(ms)
		return ms
	}
	served := map[string]bool{}
	for r := route(1); r < numRoutes; r++ {
		path := r.String()
		served[path] = true
		ops, ok := doc.Paths[path]
		if !ok {
			t.Errorf("route %s is served but missing from openapi.json", path)
			continue
		}
		var documented []string
		for m := range ops {
			documented = append(documented, m)
		}
		slices.Sort(documented)
		if want := methodsOf(r); !slices.Equal(documented, want) {
			t.Errorf("%s: openapi.json documents %v, the server answers %v", path, documented, want)
		}
	}
	for path := range doc.Paths {
		if !served[path] {
			t.Errorf("openapi.json documents %s, which the server does not serve", path)
			continue
		}
		// The documented pattern routes to itself (with a sample id).
		r, _ := matchRoute([]byte(strings.ReplaceAll(path, "{id}", "42")))
		if r.String() != path {
			t.Errorf("%s routes to %s", path, r)
		}
	}
}
