package auth

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kairos-engine/kairos/models/yamlsrc"
)

// MaxKeysFileSize bounds a keys file: thousands of keys fit; a larger
// file is the wrong file.
const MaxKeysFileSize = 1 << 20

// KeysFileError is a problem in a keys file, with the line and dotted
// path of the offending field. It wraps ErrInvalidKey.
type KeysFileError struct {
	File  string
	Line  int    // 0 when unknown
	Field string // "keys[2].hash"; "" for the file as a whole
	Msg   string
}

func (e *KeysFileError) Error() string { return yamlsrc.Format(e.File, e.Line, e.Field, e.Msg) }

// Unwrap returns ErrInvalidKey.
func (e *KeysFileError) Unwrap() error { return ErrInvalidKey }

// LoadKeysFile reads and parses a keys file (see ParseKeysFile).
func LoadKeysFile(path string) ([]Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: open keys file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxKeysFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("auth: read keys file %s: %w", path, err)
	}
	return ParseKeysFile(path, data)
}

// ParseKeysFile parses a keys file; name is the file name errors carry.
// The file holds hashes, never tokens:
//
//	keys:
//	  - id: web-shop                 # [A-Za-z0-9._-], unique
//	    scope: public                # public, read or admin
//	    hash: sha256:9f86d081...     # SHA-256 of the token, 64 hex digits
//	    origins: [https://shop.example]  # public keys only; default any origin
//	    rate: 200                    # requests/s; default the server's; or unlimited
//	    burst: 400                   # default the server's
//
// Unknown fields are errors, so a typo never silently widens a key. Every
// problem is a *KeysFileError; the first one found is returned.
func ParseKeysFile(name string, data []byte) ([]Key, error) {
	p := &keysParser{src: yamlsrc.Source{
		File: name,
		Err: func(line int, field, msg string) error {
			return &KeysFileError{File: name, Line: line, Field: field, Msg: msg}
		},
		SyntaxPrefix: "not valid YAML: ",
	}}
	if len(data) > MaxKeysFileSize {
		return nil, p.fail(nil, "", "the file is larger than %d bytes; is it the right file?", MaxKeysFileSize)
	}
	root, err := p.src.Document(data, "the file is empty; it needs a keys: list",
		"a keys file is one YAML document; remove the second document (after ---)")
	if err != nil {
		return nil, err
	}
	if root.Kind != yaml.MappingNode {
		return nil, p.fail(root, "", "the file must be a mapping with a keys: list")
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "keys" {
			return nil, p.fail(k, k.Value, "unknown field; the file has only keys:")
		}
		list = v
	}
	if list == nil {
		return nil, p.fail(root, "keys", "missing; list the keys under keys:")
	}
	if list.Kind != yaml.SequenceNode {
		return nil, p.fail(list, "keys", "must be a list of keys (- id: ...)")
	}
	keys := make([]Key, 0, len(list.Content))
	ids := make(map[string]int)
	hashes := make(map[Hash]int)
	for i, n := range list.Content {
		path := "keys[" + strconv.Itoa(i) + "]"
		k, err := p.key(n, path)
		if err != nil {
			return nil, err
		}
		if line, dup := ids[k.ID]; dup {
			return nil, p.fail(n, path+".id", "%q is already the id of the key at line %d; give each key its own id", k.ID, line)
		}
		if line, dup := hashes[k.Hash]; dup {
			return nil, p.fail(n, path+".hash", "the same hash as the key at line %d; each key needs its own token", line)
		}
		ids[k.ID], hashes[k.Hash] = n.Line, n.Line
		keys = append(keys, k)
	}
	return keys, nil
}

type keysParser struct{ src yamlsrc.Source }

func (p *keysParser) fail(n *yaml.Node, field, format string, args ...any) error {
	return p.src.Fail(n, field, format, args...)
}

func (p *keysParser) key(n *yaml.Node, path string) (Key, error) {
	var k Key
	if n.Kind != yaml.MappingNode {
		return k, p.fail(n, path, "a key is a mapping with id, scope and hash")
	}
	k.Source = p.src.File + ":" + strconv.Itoa(n.Line)
	seen := make(map[string]bool)
	var originsNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, v := n.Content[i], n.Content[i+1]
		field := path + "." + kn.Value
		if seen[kn.Value] {
			return k, p.fail(kn, field, "repeated; give it once")
		}
		seen[kn.Value] = true
		switch kn.Value {
		case "id":
			if err := scalar(v); err != nil {
				return k, p.fail(v, field, "%s", err)
			}
			if err := checkKeyID(v.Value); err != nil {
				return k, p.fail(v, field, "%s", strings.TrimPrefix(err.Error(), ErrInvalidKey.Error()+": "))
			}
			k.ID = v.Value
		case "scope":
			if err := scalar(v); err != nil {
				return k, p.fail(v, field, "%s", err)
			}
			s, err := ParseScope(v.Value)
			if err != nil {
				return k, p.fail(v, field, "%q is not a scope; use public, read or admin", v.Value)
			}
			k.Scope = s
		case "hash":
			if err := scalar(v); err != nil {
				return k, p.fail(v, field, "%s", err)
			}
			h, err := ParseHash(v.Value)
			if err != nil {
				return k, p.fail(v, field, "%s", strings.TrimPrefix(err.Error(), ErrInvalidKey.Error()+": "))
			}
			k.Hash = h
		case "origins":
			if v.Kind != yaml.SequenceNode {
				return k, p.fail(v, field, "must be a list of origins ([https://shop.example])")
			}
			for j, o := range v.Content {
				of := field + "[" + strconv.Itoa(j) + "]"
				if err := scalar(o); err != nil {
					return k, p.fail(o, of, "%s", err)
				}
				norm, err := ParseOrigin(o.Value)
				if err != nil {
					return k, p.fail(o, of, "%s", strings.TrimPrefix(err.Error(), ErrInvalidKey.Error()+": "))
				}
				k.Origins = append(k.Origins, norm)
			}
			originsNode = v
		case "rate":
			if err := scalar(v); err != nil {
				return k, p.fail(v, field, "%s", err)
			}
			if v.Value == "unlimited" {
				k.Rate = math.Inf(1)
				break
			}
			r, err := strconv.ParseFloat(v.Value, 64)
			if err != nil || math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 {
				return k, p.fail(v, field, "%q is not a rate; give a positive number of requests per second or unlimited", v.Value)
			}
			k.Rate = r
		case "burst":
			if err := scalar(v); err != nil {
				return k, p.fail(v, field, "%s", err)
			}
			b, err := strconv.Atoi(v.Value)
			if err != nil || b <= 0 {
				return k, p.fail(v, field, "%q is not a burst; give a positive whole number of requests", v.Value)
			}
			k.Burst = b
		case "key", "token", "secret", "plaintext":
			return k, p.fail(kn, field, "a keys file holds hashes, never keys: replace it with hash: sha256:<hex> "+
				"(printf %%s \"$KEY\" | sha256sum), or pass plaintext keys in KAIROS_ADMIN_KEYS, KAIROS_READ_KEYS or KAIROS_PUBLIC_KEYS")
		default:
			return k, p.fail(kn, field, "unknown field; a key has id, scope, hash, origins, rate and burst")
		}
	}
	switch {
	case k.ID == "":
		return k, p.fail(n, path+".id", "missing; every key needs an id")
	case k.Scope == ScopeOpen:
		return k, p.fail(n, path+".scope", "missing; use public, read or admin")
	case k.Hash == (Hash{}):
		return k, p.fail(n, path+".hash", "missing; give the SHA-256 of the key as sha256:<64 hex digits>")
	case originsNode != nil && k.Scope != ScopePublic:
		return k, p.fail(originsNode, path+".origins", "only public (browser) keys are restricted to origins; this is a %s key", k.Scope)
	}
	return k, nil
}

func scalar(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a single value")
	}
	return nil
}
