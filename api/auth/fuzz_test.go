package auth

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzBearerToken: whatever the header, BearerToken returns a token that
// is a suffix-trimmed part of the header and only holds token68
// characters, or one of its two errors.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"", "Bearer abc", "bearer  a=", "Bearer =", "Basic x", "Bearer a b", "Bearer \x00", "BEARER tök", "Bearer a==b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, header []byte) {
		tok, err := BearerToken(header)
		if err != nil {
			if !errors.Is(err, ErrMissingCredentials) && !errors.Is(err, ErrMalformedCredentials) {
				t.Fatalf("unexpected error %v", err)
			}
			if tok != nil {
				t.Fatalf("token %q with error", tok)
			}
			return
		}
		if len(tok) == 0 || len(tok) > MaxTokenLen || token68Len(tok) != len(tok) || !bytes.Contains(header, tok) {
			t.Fatalf("BearerToken(%q) = %q", header, tok)
		}
	})
}

// FuzzParseKeysFile: a keys file either parses into keys NewKeyring
// accepts or fails with a *KeysFileError; it never panics.
func FuzzParseKeysFile(f *testing.F) {
	f.Add([]byte("keys:\n  - id: a\n    scope: public\n    hash: " + hashA + "\n    origins: [https://x.example]\n    rate: 3\n"))
	f.Add([]byte("keys: []\n"))
	f.Add([]byte("keys:\n  - {id: a, scope: admin, hash: " + hashB + ", rate: unlimited}\n"))
	f.Add([]byte("keys: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseKeysFile("f.yaml", data)
		if err != nil {
			var fe *KeysFileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *KeysFileError", err)
			}
			return
		}
		if _, err := NewKeyring(keys); err != nil {
			t.Fatalf("parsed keys refused by NewKeyring: %v", err)
		}
	})
}

// FuzzRouteLookup: Lookup never panics, and a matched route's scope is
// the scope Lookup reports.
func FuzzRouteLookup(f *testing.F) {
	tbl, err := NewRouteTable(DefaultRoutes())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"/v1/contacts/1", "/v1/contacts/1/next-best-action", "/v1//", "/", "", "/v1/decisions/x/outcome"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		req := tbl.Lookup([]byte(method), []byte(path))
		if req.Scope >= numScopes {
			t.Fatalf("scope %d", req.Scope)
		}
		if req.Route == "" && req.Scope > ScopePublic {
			for _, r := range DefaultRoutes() {
				if matchPath(mustSegs(t, r.Pattern), []byte(path)) {
					return
				}
			}
			t.Fatalf("unknown path %q needs %s", path, req.Scope)
		}
	})
}

func mustSegs(t *testing.T, pattern string) []segment {
	tbl, err := NewRouteTable([]Route{{"GET", pattern, ScopeOpen}})
	if err != nil {
		t.Fatal(err)
	}
	return tbl.routes[0].segs
}
