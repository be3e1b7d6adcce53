package auth

import (
	"strings"
	"testing"
)

func TestRouteTableLookup(t *testing.T) {
	tbl, err := NewRouteTable(DefaultRoutes())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		scope        Scope
		route        string
		browser      string
	}{
		{"GET", "/healthz", ScopeOpen, "/healthz", ""},
		{"HEAD", "/readyz", ScopeOpen, "/readyz", ""},
		{"GET", "/metrics", ScopeOpen, "/metrics", ""},
		{"GET", "/openapi.json", ScopeOpen, "/openapi.json", ""},
		{"GET", "/v1/contacts/42", ScopeRead, "/v1/contacts/{id}", ""},
		{"HEAD", "/v1/contacts/42", ScopeRead, "/v1/contacts/{id}", ""},
		{"GET", "/v1/contacts/a%2Fb", ScopeRead, "/v1/contacts/{id}", ""},
		{"GET", "/v1/contacts", ScopeRead, "/v1/contacts", ""},
		{"GET", "/v1/contacts/42/next-best-action", ScopePublic, "/v1/contacts/{id}/next-best-action", "GET, HEAD"},
		{"GET", "/v1/contacts/42/send-time", ScopePublic, "/v1/contacts/{id}/send-time", "GET, HEAD"},
		{"POST", "/v1/decisions/d-1/outcome", ScopePublic, "/v1/decisions/{decision_id}/outcome", "POST"},
		{"GET", "/v1/contacts/42/timers", ScopeRead, "/v1/contacts/{id}/timers", ""},
		{"GET", "/v1/contacts/42/pressure", ScopeRead, "/v1/contacts/{id}/pressure", ""},
		{"GET", "/v1/segments", ScopeRead, "/v1/segments", ""},
		{"GET", "/v1/models/churn", ScopeRead, "/v1/models/churn", ""},
		{"GET", "/v1/models/nba", ScopeRead, "/v1/models/nba", ""},
		{"DELETE", "/v1/contacts/42", ScopeAdmin, "/v1/contacts/{id}", ""},
		{"GET", "/v1/contacts/42/export", ScopeAdmin, "/v1/contacts/{id}/export", ""},
		{"POST", "/v1/admin/reload", ScopeAdmin, "/v1/admin/reload", ""},
		// A method the path does not serve: the least scope of the path.
		{"PUT", "/v1/contacts/42", ScopeRead, "", ""},
		{"GET", "/v1/decisions/d-1/outcome", ScopePublic, "", "POST"},
		{"GET", "/v1/admin/reload", ScopeAdmin, "", ""},
		// Unknown paths: a key under /v1/, nothing elsewhere.
		{"GET", "/v1/secret-route", ScopePublic, "", ""},
		{"GET", "/v1", ScopePublic, "", ""},
		{"GET", "/v1/contacts/", ScopePublic, "", ""},
		{"GET", "/v1/contacts//export", ScopePublic, "", ""},
		{"GET", "/v1/contacts/42/export/", ScopePublic, "", ""},
		{"GET", "/v1/contacts/42/next-best-action/x", ScopePublic, "", ""},
		{"GET", "/", ScopeOpen, "", ""},
		{"GET", "/healthz/", ScopeOpen, "", ""},
		{"GET", "/v10/contacts/1", ScopeOpen, "", ""},
		{"GET", "", ScopeOpen, "", ""},
		{"GET", "v1/contacts/1", ScopeOpen, "", ""},
	} {
		got := tbl.Lookup([]byte(tc.method), []byte(tc.path))
		if got.Scope != tc.scope || got.Route != tc.route || got.BrowserMethods != tc.browser {
			t.Errorf("%s %s = %+v, want scope %s, route %q, browser %q", tc.method, tc.path, got, tc.scope, tc.route, tc.browser)
		}
	}
}

func TestRouteTableLookupAllocs(t *testing.T) {
	tbl, err := NewRouteTable(DefaultRoutes())
	if err != nil {
		t.Fatal(err)
	}
	method, path := []byte("HEAD"), []byte("/v1/contacts/42/next-best-action")
	if n := testing.AllocsPerRun(100, func() { tbl.Lookup(method, path) }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

func TestNewRouteTableRefuses(t *testing.T) {
	for _, tc := range []struct {
		r    Route
		want string
	}{
		{Route{"OPTIONS", "/x", ScopeOpen}, "method"},
		{Route{"GET", "x", ScopeOpen}, "starts with /"},
		{Route{"GET", "/x/", ScopeOpen}, "starts with /"},
		{Route{"GET", "/x//y", ScopeOpen}, "empty"},
		{Route{"GET", "/x/a{id}", ScopeOpen}, "whole segment"},
		{Route{"GET", "/x", numScopes}, "scope"},
		{Route{"GET", "/v1/contacts/{other}", ScopeRead}, "twice"},
	} {
		_, err := NewRouteTable(append(DefaultRoutes(), tc.r))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.r, err, tc.want)
		}
	}
}

func BenchmarkRouteTableLookup(b *testing.B) {
	tbl, _ := NewRouteTable(DefaultRoutes())
	method, path := []byte("GET"), []byte("/v1/contacts/42/next-best-action")
	for b.Loop() {
		tbl.Lookup(method, path)
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	var keys []Key
	var tok string
	for i := range 16 {
		s, _ := Generate("k"+strings.Repeat("x", i), ScopeRead)
		keys = append(keys, s.Key)
		tok = s.Token()
	}
	ring, _ := NewKeyring(keys)
	header := []byte("Bearer " + tok)
	b.ReportAllocs()
	for b.Loop() {
		t, _ := BearerToken(header)
		if _, err := ring.Authenticate(t); err != nil {
			b.Fatal(err)
		}
	}
}
