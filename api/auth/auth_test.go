package auth

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustGenerate(t testing.TB, id string, scope Scope) Secret {
	t.Helper()
	s, err := Generate(id, scope)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthenticate(t *testing.T) {
	admin := mustGenerate(t, "a", ScopeAdmin)
	read := mustGenerate(t, "r", ScopeRead)
	pub := mustGenerate(t, "p", ScopePublic)
	pub.Key.Origins = []string{"https://Shop.Example:443"}
	ring, err := NewKeyring([]Key{admin.Key, read.Key, pub.Key})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		want  string // id, "" for unknown
	}{
		{admin.Token(), "a"},
		{read.Token(), "r"},
		{pub.Token(), "p"},
		{admin.Token() + "x", ""},
		{admin.Token()[:len(admin.Token())-1], ""},
		{"", ""},
		{strings.ToUpper(read.Token()), ""},
	} {
		k, err := ring.Authenticate([]byte(tc.token))
		switch {
		case tc.want == "" && !errors.Is(err, ErrUnknownKey):
			t.Errorf("token %.20q: got key %v, err %v; want ErrUnknownKey", tc.token, k, err)
		case tc.want != "" && (err != nil || k.ID != tc.want):
			t.Errorf("token %.20q: got %v, %v; want key %s", tc.token, k, err, tc.want)
		}
	}
	k, _ := ring.Authenticate([]byte(pub.Token()))
	if got := k.Origins; len(got) != 1 || got[0] != "https://shop.example" {
		t.Errorf("origins not normalised: %q", got)
	}
	for origin, want := range map[string]bool{
		"https://shop.example": true, "https://shop.example:443": false, "http://shop.example": false,
		"https://evil.example": false, "": false, "null": false,
	} {
		if got := k.AllowsOrigin([]byte(origin)); got != want {
			t.Errorf("AllowsOrigin(%q) = %v, want %v", origin, got, want)
		}
		if got := ring.BrowserOrigin([]byte(origin)); got != want {
			t.Errorf("BrowserOrigin(%q) = %v, want %v", origin, got, want)
		}
	}
	var nilRing *Keyring
	if _, err := nilRing.Authenticate([]byte(admin.Token())); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("nil keyring: %v", err)
	}
}

func TestScopeAllows(t *testing.T) {
	for key := ScopePublic; key < numScopes; key++ {
		for req := ScopeOpen; req < numScopes; req++ {
			if got, want := key.Allows(req), key >= req; got != want {
				t.Errorf("%s.Allows(%s) = %v", key, req, got)
			}
		}
	}
	if !ScopeAdmin.Allows(ScopeRead) || ScopeRead.Allows(ScopeAdmin) || ScopePublic.Allows(ScopeRead) {
		t.Error("scope order broken")
	}
	for _, s := range []string{"public", "read", "admin", " Admin "} {
		if _, err := ParseScope(s); err != nil {
			t.Errorf("ParseScope(%q): %v", s, err)
		}
	}
	for _, s := range []string{"open", "", "write", "root"} {
		if _, err := ParseScope(s); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParseScope(%q) = %v, want ErrInvalidKey", s, err)
		}
	}
}

func TestNewKeyringRefuses(t *testing.T) {
	a := mustGenerate(t, "a", ScopeAdmin).Key
	b := mustGenerate(t, "b", ScopeRead).Key
	p := mustGenerate(t, "p", ScopePublic).Key
	for _, tc := range []struct {
		name string
		keys func() []Key
		want string
	}{
		{"duplicate id", func() []Key { b2 := b; b2.ID = "a"; return []Key{a, b2} }, "defined twice"},
		{"duplicate hash", func() []Key { b2 := b; b2.Hash = a.Hash; return []Key{a, b2} }, "same hash"},
		{"no scope", func() []Key { a2 := a; a2.Scope = ScopeOpen; return []Key{a2} }, "no scope"},
		{"no hash", func() []Key { a2 := a; a2.Hash = Hash{}; return []Key{a2} }, "no hash"},
		{"bad id", func() []Key { a2 := a; a2.ID = "a b"; return []Key{a2} }, "character"},
		{"origins on read", func() []Key { b2 := b; b2.Origins = []string{"https://x.example"}; return []Key{b2} }, "only public"},
		{"bad origin", func() []Key { p2 := p; p2.Origins = []string{"https://x.example/path"}; return []Key{p2} }, "path"},
		{"negative rate", func() []Key { p2 := p; p2.Rate = -1; return []Key{p2} }, "rate"},
		{"NaN rate", func() []Key { p2 := p; p2.Rate = math.NaN(); return []Key{p2} }, "rate"},
		{"negative burst", func() []Key { p2 := p; p2.Burst = -1; return []Key{p2} }, "burst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewKeyring(tc.keys())
			if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalidKey containing %q", err, tc.want)
			}
		})
	}
}

func TestParseOrigin(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://shop.example", "https://shop.example"},
		{"HTTPS://Shop.Example/", "https://shop.example"},
		{"https://shop.example:443", "https://shop.example"},
		{"http://shop.example:80", "http://shop.example"},
		{"http://localhost:3000", "http://localhost:3000"},
		{"https://[::1]:8443", "https://[::1]:8443"},
		{"*", "*"},
		{"null", ""},
		{"shop.example", ""},
		{"ftp://shop.example", ""},
		{"https://", ""},
		{"https://u:p@shop.example", ""},
		{"https://shop.example/x", ""},
		{"https://shop.example?x", ""},
		{"https://shop.example#x", ""},
		{"https://shop.example:0", ""},
		{"https://shop.example:70000", ""},
	} {
		got, err := ParseOrigin(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("ParseOrigin(%q) = %q, %v; want ErrInvalidKey", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	tok := "kairos_read_abcDEF0123456789-._~+/=="
	for _, tc := range []struct {
		header string
		want   string
		err    error
	}{
		{"Bearer " + tok, tok, nil},
		{"bearer " + tok, tok, nil},
		{"BEARER   " + tok + "  ", tok, nil},
		{"", "", ErrMissingCredentials},
		{"Bearer", "", ErrMalformedCredentials},
		{"Bearer ", "", ErrMalformedCredentials},
		{"Bearer\t" + tok, "", ErrMalformedCredentials},
		{"Basic dXNlcjpwYXNz", "", ErrMalformedCredentials},
		{"Bearertoken", "", ErrMalformedCredentials},
		{"Bearer a b", "", ErrMalformedCredentials},
		{"Bearer =abc", "", ErrMalformedCredentials},
		{"Bearer ab=c", "", ErrMalformedCredentials},
		{"Bearer tök", "", ErrMalformedCredentials},
		{"Bearer " + strings.Repeat("a", MaxTokenLen), strings.Repeat("a", MaxTokenLen), nil},
		{"Bearer " + strings.Repeat("a", MaxTokenLen+1), "", ErrMalformedCredentials},
	} {
		got, err := BearerToken([]byte(tc.header))
		if !errors.Is(err, tc.err) || string(got) != tc.want {
			t.Errorf("BearerToken(%.40q) = %q, %v; want %q, %v", tc.header, got, err, tc.want, tc.err)
		}
	}
}

func TestSecretRedacted(t *testing.T) {
	s := mustGenerate(t, "demo", ScopeAdmin)
	if !strings.HasPrefix(s.Token(), "kairos_admin_") || len(s.Token()) < MinTokenLen {
		t.Fatalf("token %q lacks prefix or length", s.Token())
	}
	if err := checkToken(s.Token()); err != nil {
		t.Fatalf("a generated token fails the env check: %v", err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("key", "secret", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), logged.String(), fmt.Sprint([]Secret{s})} {
		if strings.Contains(out, s.Token()) {
			t.Errorf("token leaked in %q", out)
		}
	}
	if !strings.Contains(logged.String(), "REDACTED") {
		t.Errorf("log lacks the redaction: %s", logged.String())
	}
}

func TestGenerateSession(t *testing.T) {
	ss, err := GenerateSession()
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]Key, len(ss))
	scopes := map[Scope]bool{}
	for i, s := range ss {
		keys[i] = s.Key
		scopes[s.Key.Scope] = true
	}
	ring, err := NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(scopes) != 3 {
		t.Errorf("scopes %v, want one key per scope", scopes)
	}
	for _, s := range ss {
		k, err := ring.Authenticate([]byte(s.Token()))
		if err != nil || k.Scope != s.Key.Scope {
			t.Errorf("%s: %v %v", s, k, err)
		}
	}
	again, _ := GenerateSession()
	if again[0].Token() == ss[0].Token() {
		t.Error("two sessions got the same token")
	}
}

func TestKeysFromEnv(t *testing.T) {
	admin := strings.Repeat("a", 40)
	read1, read2 := strings.Repeat("b", 32), strings.Repeat("c", 64)
	pub := "pub_" + strings.Repeat("d", 40)
	env := map[string]string{
		EnvAdminKeys:  admin,
		EnvReadKeys:   " " + read1 + " ,, " + read2 + ",",
		EnvPublicKeys: pub,
	}
	keys, err := KeysFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	ring, err := NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	for tok, scope := range map[string]Scope{admin: ScopeAdmin, read1: ScopeRead, read2: ScopeRead, pub: ScopePublic} {
		k, err := ring.Authenticate([]byte(tok))
		if err != nil || k.Scope != scope {
			t.Errorf("%.8s...: %v %v, want %s", tok, k, err, scope)
			continue
		}
		if strings.Contains(k.ID, tok[:8]) || !strings.HasPrefix(k.ID, "env-"+scope.String()+"-") {
			t.Errorf("id %q", k.ID)
		}
	}
	if len(keys) != 4 {
		t.Errorf("%d keys, want 4", len(keys))
	}

	for _, tc := range []struct{ val, want string }{
		{"short", "at least 32"},
		{strings.Repeat("x", 40) + ",tooshort", "entry 2"},
		{strings.Repeat("x", 40) + " y" + strings.Repeat("x", 40), "position 40"},
		{strings.Repeat("x", MaxTokenLen+1), "limit"},
	} {
		_, err := KeysFromEnv(func(k string) (string, bool) {
			if k == EnvReadKeys {
				return tc.val, true
			}
			return "", false
		})
		if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), EnvReadKeys) {
			t.Errorf("%.20q: got %v, want an error naming %s and %q", tc.val, err, EnvReadKeys, tc.want)
		}
		if err != nil && len(tc.val) > 10 && strings.Contains(err.Error(), tc.val[:10]) {
			t.Errorf("error leaks the token: %v", err)
		}
	}
}

func TestLoadOrCreateAdminKey(t *testing.T) {
	dir := t.TempDir()
	k1, tok, err := LoadOrCreateAdminKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok == "" || k1.Scope != ScopeAdmin || HashToken([]byte(tok)) != k1.Hash {
		t.Fatalf("first start: key %+v token %q", k1, tok)
	}
	path := filepath.Join(dir, AdminKeyFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(tok)) {
		t.Fatal("the token is stored in plaintext")
	}
	if !bytes.Contains(data, []byte(k1.Hash.String())) {
		t.Fatalf("the hash is not stored:\n%s", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	k2, tok2, err := LoadOrCreateAdminKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok2 != "" || k2.Hash != k1.Hash || k2.ID != k1.ID {
		t.Fatalf("second start: key %+v token %q; want the first key, no token", k2, tok2)
	}
	ring, err := NewKeyring([]Key{k2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Authenticate([]byte(tok)); err != nil {
		t.Fatalf("the printed token does not authenticate after a restart: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".admin-key-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	if err := os.WriteFile(path, []byte("keys: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateAdminKey(dir); err == nil || !strings.Contains(err.Error(), "delete") {
		t.Errorf("corrupt file: %v; want an error saying to delete it", err)
	}
}

func TestLoadKeyring(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.yaml")
	fileTok := strings.Repeat("f", 40)
	envTok := strings.Repeat("e", 40)
	doc := "keys:\n  - id: file-read\n    scope: read\n    hash: " + HashToken([]byte(fileTok)).String() + "\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			if k == EnvAdminKeys {
				return v, true
			}
			return "", false
		}
	}
	ring, err := LoadKeyring(file, env(envTok))
	if err != nil {
		t.Fatal(err)
	}
	if ring.Len() != 2 {
		t.Fatalf("%d keys", ring.Len())
	}
	for tok, scope := range map[string]Scope{fileTok: ScopeRead, envTok: ScopeAdmin} {
		if k, err := ring.Authenticate([]byte(tok)); err != nil || k.Scope != scope {
			t.Errorf("%v %v, want %s", k, err, scope)
		}
	}
	// The same token in the file and the environment is ambiguous.
	if _, err := LoadKeyring(file, env(fileTok)); err == nil || !strings.Contains(err.Error(), "same hash") {
		t.Errorf("duplicate across sources: %v", err)
	}
	empty, err := LoadKeyring("", env(""))
	if err != nil || empty.Len() != 0 {
		t.Errorf("no keys: %v, %d", err, empty.Len())
	}
	if _, err := LoadKeyring(filepath.Join(dir, "missing.yaml"), env("")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
