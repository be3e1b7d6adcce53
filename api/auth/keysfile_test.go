package auth

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const hashA = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
const hashB = "sha256:60303AE22B998861BCE3B28F33EEC1BE758A213C86C93C076DBE9F558C11C752"

func TestParseKeysFile(t *testing.T) {
	keys, err := ParseKeysFile("keys.yaml", []byte(`# keys of the shop
keys:
  - id: web-shop
    scope: public
    hash: `+hashA+`
    origins: [https://Shop.Example, "http://localhost:3000"]
    rate: 200.5
    burst: 400
  - id: data-team
    scope: read
    hash: `+hashB+`
    rate: unlimited
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("%d keys", len(keys))
	}
	web, data := keys[0], keys[1]
	if web.ID != "web-shop" || web.Scope != ScopePublic || web.Hash.String() != hashA || web.Rate != 200.5 || web.Burst != 400 ||
		len(web.Origins) != 2 || web.Origins[0] != "https://shop.example" || web.Source != "keys.yaml:3" {
		t.Errorf("web-shop: %+v", web)
	}
	if data.Scope != ScopeRead || data.Hash.String() != strings.ToLower(hashB) || !math.IsInf(data.Rate, 1) {
		t.Errorf("data-team: %+v", data)
	}
	if _, err := NewKeyring(keys); err != nil {
		t.Errorf("NewKeyring: %v", err)
	}
}

func TestParseKeysFileErrors(t *testing.T) {
	key := func(lines ...string) string {
		return "keys:\n  - " + strings.Join(lines, "\n    ") + "\n"
	}
	for _, tc := range []struct {
		name, doc string
		line      int
		field     string
		msg       string
	}{
		{"empty", "", 0, "", "empty"},
		{"syntax", "keys: [\n", 1, "", "not valid YAML"},
		{"two documents", "keys: []\n---\nkeys: []\n", 2, "", "one YAML document"},
		{"not a mapping", "- a\n", 1, "", "mapping"},
		{"unknown top field", "keys: []\nkey: x\n", 2, "key", "unknown field"},
		{"no keys", "# nothing\n{}\n", 2, "keys", "missing"},
		{"keys not a list", "keys: x\n", 1, "keys", "list"},
		{"key not a mapping", "keys:\n  - x\n", 2, "keys[0]", "mapping"},
		{"missing id", key("scope: read", "hash: "+hashA), 2, "keys[0].id", "missing"},
		{"missing scope", key("id: a", "hash: "+hashA), 2, "keys[0].scope", "missing"},
		{"missing hash", key("id: a", "scope: read"), 2, "keys[0].hash", "missing"},
		{"bad id", key("id: a b", "scope: read", "hash: "+hashA), 2, "keys[0].id", "character"},
		{"bad scope", key("id: a", "scope: root", "hash: "+hashA), 3, "keys[0].scope", "not a scope"},
		{"hash without prefix", key("id: a", "scope: read", "hash: 9f86d081"), 4, "keys[0].hash", "sha256:"},
		{"short hash", key("id: a", "scope: read", "hash: sha256:9f86"), 4, "keys[0].hash", "64"},
		{"hash not hex", key("id: a", "scope: read", "hash: sha256:"+strings.Repeat("z", 64)), 4, "keys[0].hash", "hex"},
		{"plaintext key", key("id: a", "scope: read", "key: hunter2hunter2"), 4, "keys[0].key", "hashes, never keys"},
		{"origins on read", key("id: a", "scope: read", "hash: "+hashA, "origins: [https://x.example]"), 5, "keys[0].origins", "only public"},
		{"bad origin", key("id: a", "scope: public", "hash: "+hashA, "origins: [x.example]"), 5, "keys[0].origins[0]", "https://"},
		{"origins not a list", key("id: a", "scope: public", "hash: "+hashA, "origins: https://x.example"), 5, "keys[0].origins", "list"},
		{"bad rate", key("id: a", "scope: read", "hash: "+hashA, "rate: fast"), 5, "keys[0].rate", "not a rate"},
		{"zero rate", key("id: a", "scope: read", "hash: "+hashA, "rate: 0"), 5, "keys[0].rate", "not a rate"},
		{"bad burst", key("id: a", "scope: read", "hash: "+hashA, "burst: -3"), 5, "keys[0].burst", "not a burst"},
		{"unknown field", key("id: a", "scope: read", "hash: "+hashA, "scopes: admin"), 5, "keys[0].scopes", "unknown field"},
		{"repeated field", key("id: a", "scope: read", "scope: admin", "hash: "+hashA), 4, "keys[0].scope", "repeated"},
		{"duplicate id", key("id: a", "scope: read", "hash: "+hashA) + "  - id: a\n    scope: read\n    hash: " + hashB + "\n", 5, "keys[1].id", "line 2"},
		{"duplicate hash", key("id: a", "scope: read", "hash: "+hashA) + "  - id: b\n    scope: read\n    hash: " + hashA + "\n", 5, "keys[1].hash", "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeysFile("k.yaml", []byte(tc.doc))
			var fe *KeysFileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("got %v, want a *KeysFileError", err)
			}
			if fe.File != "k.yaml" || fe.Line != tc.line || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("got %q (line %d, field %q), want line %d, field %q, message containing %q",
					err, fe.Line, fe.Field, tc.line, tc.field, tc.msg)
			}
		})
	}
}

func TestLoadKeysFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.yaml")
	if _, err := LoadKeysFile(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("#", MaxKeysFileSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeysFile(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge file: %v", err)
	}
}
