package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// Sentinel errors of the package.
var (
	// ErrMissingCredentials: the request has no Authorization header.
	ErrMissingCredentials = errors.New("auth: no credentials")
	// ErrMalformedCredentials: the Authorization header is not
	// "Bearer <token>" with a token of the allowed length and characters.
	ErrMalformedCredentials = errors.New("auth: malformed credentials")
	// ErrUnknownKey: the token matches no key of the keyring.
	ErrUnknownKey = errors.New("auth: unknown key")
	// ErrInvalidKey is wrapped by every error about a key definition (a
	// keys file, an environment variable, a Key passed to NewKeyring).
	ErrInvalidKey = errors.New("auth: invalid key")
)

// Token limits. A token must be long enough that the unsalted SHA-256
// kept at rest cannot be reversed by guessing (see the README's Security section), and short
// enough that hashing it costs nothing.
const (
	MinTokenLen = 32
	MaxTokenLen = 256
	// MaxKeyIDLen bounds a key id, which appears in logs.
	MaxKeyIDLen = 64
)

// Hash is the SHA-256 of a token: the only form in which Kairos keeps a
// key at rest.
type Hash [sha256.Size]byte

// hashPrefix introduces a hash in keys files, naming the algorithm so
// that another one can be added without ambiguity.
const hashPrefix = "sha256:"

// HashToken returns the hash of a token as presented in a request.
func HashToken(token []byte) Hash { return sha256.Sum256(token) }

// String returns the hash as written in keys files: "sha256:" and 64
// lower-case hex digits.
func (h Hash) String() string { return hashPrefix + hex.EncodeToString(h[:]) }

// ParseHash parses a hash as written in keys files ("sha256:" and 64 hex
// digits, either case).
func ParseHash(s string) (Hash, error) {
	var h Hash
	rest, ok := strings.CutPrefix(s, hashPrefix)
	if !ok {
		return h, fmt.Errorf("%w: hash %q does not start with %q; write the SHA-256 of the key as sha256:<64 hex digits> (sha256sum prints it)",
			ErrInvalidKey, abbreviate(s), hashPrefix)
	}
	if len(rest) != 2*sha256.Size {
		return h, fmt.Errorf("%w: hash has %d hex digits after %q; a SHA-256 has 64", ErrInvalidKey, len(rest), hashPrefix)
	}
	if _, err := hex.Decode(h[:], []byte(rest)); err != nil {
		return h, fmt.Errorf("%w: hash is not hex: %w", ErrInvalidKey, err)
	}
	return h, nil
}

// abbreviate shortens s for an error message; it never holds a secret
// (hashes only), but a long value makes the message unreadable.
func abbreviate(s string) string {
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}

// Key is an API key as the server knows it: never the token itself, only
// its hash.
type Key struct {
	// ID names the key in logs, errors and rate limiting. It is not
	// secret. 1 to MaxKeyIDLen characters out of [A-Za-z0-9._-].
	ID string
	// Scope is what the key may do.
	Scope Scope
	// Hash is the SHA-256 of the token.
	Hash Hash
	// Origins restricts a public key to browsers on these origins
	// ("https://shop.example", scheme, host and port only); a request
	// carrying another Origin header is refused 403. Empty: any origin.
	// Only public keys have origins.
	Origins []string
	// Rate is the number of requests per second the key may make on
	// average and Burst how many it may make at once. A zero Rate selects
	// the server's default rate and burst; a Rate of math.Inf(1) is
	// unlimited. A zero Burst with a Rate set is one second's worth of
	// the Rate.
	Rate  float64
	Burst int
	// Source says where the key was defined ("keys.yaml:12",
	// "KAIROS_READ_KEYS"), for error messages.
	Source string
}

// AllowsOrigin reports whether a browser on origin may use the key.
// origin is the request's Origin header as sent: browsers serialise it in
// lower case without a default port, the form Origins are normalised to.
func (k *Key) AllowsOrigin(origin []byte) bool {
	if len(k.Origins) == 0 {
		return true
	}
	for _, o := range k.Origins {
		if o == "*" || o == string(origin) {
			return true
		}
	}
	return false
}

// validate checks the key definition and normalises its origins in place.
func (k *Key) validate() error {
	if err := checkKeyID(k.ID); err != nil {
		return err
	}
	if !k.Scope.valid() {
		return fmt.Errorf("%w: key %q has no scope; use public, read or admin", ErrInvalidKey, k.ID)
	}
	if k.Hash == (Hash{}) {
		return fmt.Errorf("%w: key %q has no hash", ErrInvalidKey, k.ID)
	}
	if len(k.Origins) > 0 && k.Scope != ScopePublic {
		return fmt.Errorf("%w: key %q is a %s key with origins; only public (browser) keys are restricted to origins",
			ErrInvalidKey, k.ID, k.Scope)
	}
	origins := make([]string, 0, len(k.Origins))
	for _, o := range k.Origins {
		n, err := ParseOrigin(o)
		if err != nil {
			return fmt.Errorf("key %q: %w", k.ID, err)
		}
		origins = append(origins, n)
	}
	k.Origins = origins
	switch {
	case math.IsNaN(k.Rate) || k.Rate < 0:
		return fmt.Errorf("%w: key %q has rate %v; use a positive number of requests per second, 0 for the server default, or unlimited",
			ErrInvalidKey, k.ID, k.Rate)
	case k.Burst < 0:
		return fmt.Errorf("%w: key %q has burst %d; use a positive number of requests, or 0 for the default", ErrInvalidKey, k.ID, k.Burst)
	}
	return nil
}

func checkKeyID(id string) error {
	if id == "" || len(id) > MaxKeyIDLen {
		return fmt.Errorf("%w: key id %q must be 1 to %d characters", ErrInvalidKey, abbreviate(id), MaxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("%w: key id %q has the character %q; use letters, digits, '.', '_' and '-'", ErrInvalidKey, id, c)
		}
	}
	return nil
}

// ParseOrigin validates a browser origin as configured for a public key
// and returns it in the form browsers send: lower-case scheme and host,
// the port only when it is not the scheme's default. "*" stands for any
// origin. Paths, queries, user information and the opaque origin "null"
// are refused: an origin is scheme, host and port, nothing else.
func ParseOrigin(s string) (string, error) {
	if s == "*" {
		return s, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: origin %q: %w", ErrInvalidKey, s, err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("%w: origin %q must start with https:// or http://", ErrInvalidKey, s)
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("%w: origin %q has no host; write it as https://host[:port]", ErrInvalidKey, s)
	case u.User != nil:
		return "", fmt.Errorf("%w: origin %q has user information; write it as https://host[:port]", ErrInvalidKey, s)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", fmt.Errorf("%w: origin %q has a path, query or fragment; an origin is https://host[:port] only", ErrInvalidKey, s)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return "", fmt.Errorf("%w: origin %q has the port %q; use 1 to 65535", ErrInvalidKey, s, port)
		}
		port = strconv.FormatUint(n, 10)
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// Keyring is the set of keys a server accepts. It is immutable: a reload
// builds a new Keyring and swaps it in.
type Keyring struct {
	keys []Key
	// anyOrigin: some public key accepts every origin. origins: the union
	// of the public keys' origins. Preflight requests carry no
	// credentials, so they are answered from this union.
	anyOrigin bool
	origins   map[string]struct{}
}

// NewKeyring validates keys and builds a Keyring. Ids and hashes must be
// unique: two definitions of one token would make its scope ambiguous.
// The keys are copied.
func NewKeyring(keys []Key) (*Keyring, error) {
	r := &Keyring{keys: make([]Key, len(keys)), origins: make(map[string]struct{})}
	ids := make(map[string]string, len(keys))
	hashes := make(map[Hash]string, len(keys))
	for i, k := range keys {
		k.Origins = append([]string(nil), k.Origins...)
		if err := k.validate(); err != nil {
			return nil, withSource(k.Source, err)
		}
		if prev, dup := ids[k.ID]; dup {
			return nil, withSource(k.Source, fmt.Errorf("%w: key id %q is defined twice (first at %s); give each key its own id", ErrInvalidKey, k.ID, prev))
		}
		if prev, dup := hashes[k.Hash]; dup {
			return nil, withSource(k.Source, fmt.Errorf("%w: key %q has the same hash as key %q; each key needs its own token", ErrInvalidKey, k.ID, prev))
		}
		ids[k.ID] = sourceOr(k.Source)
		hashes[k.Hash] = k.ID
		if k.Scope == ScopePublic {
			if len(k.Origins) == 0 {
				r.anyOrigin = true
			}
			for _, o := range k.Origins {
				if o == "*" {
					r.anyOrigin = true
				}
				r.origins[o] = struct{}{}
			}
		}
		r.keys[i] = k
	}
	return r, nil
}

func withSource(source string, err error) error {
	if source == "" {
		return err
	}
	return fmt.Errorf("%s: %w", source, err)
}

func sourceOr(s string) string {
	if s == "" {
		return "an earlier key"
	}
	return s
}

// Len returns the number of keys.
func (r *Keyring) Len() int {
	if r == nil {
		return 0
	}
	return len(r.keys)
}

// Keys returns a copy of the keys, for listing them (ids and scopes; the
// hashes are not secret but need not be shown).
func (r *Keyring) Keys() []Key {
	if r == nil {
		return nil
	}
	out := make([]Key, len(r.keys))
	for i, k := range r.keys {
		k.Origins = append([]string(nil), k.Origins...)
		out[i] = k
	}
	return out
}

// Authenticate returns the key whose token is token, or ErrUnknownKey.
// The token is hashed and the hash compared with every key's hash in
// constant time, without stopping at a match, so the time taken says
// nothing about which key, or how much of a hash, matched. The returned
// Key belongs to the Keyring: read it, do not modify it.
func (r *Keyring) Authenticate(token []byte) (*Key, error) {
	if r == nil || len(r.keys) == 0 {
		return nil, ErrUnknownKey
	}
	h := HashToken(token)
	match := -1
	for i := range r.keys {
		eq := subtle.ConstantTimeCompare(h[:], r.keys[i].Hash[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return nil, ErrUnknownKey
	}
	return &r.keys[match], nil
}

// BrowserOrigin reports whether some public key accepts origin: the test
// for a CORS preflight, which carries no credentials.
func (r *Keyring) BrowserOrigin(origin []byte) bool {
	if r == nil {
		return false
	}
	if r.anyOrigin {
		return true
	}
	_, ok := r.origins[string(origin)]
	return ok
}

// Secret is a freshly generated key with its token, which exists only in
// memory: Kairos shows it once and keeps only its hash. Its String,
// GoString and LogValue redact the token, so logging a Secret by mistake
// does not leak it; Token returns it.
type Secret struct {
	Key   Key
	token string
}

// Token returns the token to hand to the key's user.
func (s Secret) Token() string { return s.token }

// String describes the key without its token.
func (s Secret) String() string {
	return fmt.Sprintf("%s key %q (token redacted)", s.Key.Scope, s.Key.ID)
}

// GoString is String, so %#v does not print the token either.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the token in structured logs.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.Key.ID), slog.String("scope", s.Key.Scope.String()), slog.String("token", "REDACTED"))
}

// tokenPrefix starts every generated token: it makes a leaked token easy
// to recognise (secret scanners, log reviews) and says its scope.
func tokenPrefix(s Scope) string {
	switch s {
	case ScopeAdmin:
		return "kairos_admin_"
	case ScopeRead:
		return "kairos_read_"
	default:
		return "kairos_pub_"
	}
}

// Generate creates a key with a random token of 256 bits from
// crypto/rand.
func Generate(id string, scope Scope) (Secret, error) {
	if !scope.valid() {
		return Secret{}, fmt.Errorf("%w: cannot generate a key of scope %s", ErrInvalidKey, scope)
	}
	if err := checkKeyID(id); err != nil {
		return Secret{}, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Secret{}, fmt.Errorf("auth: generate key %q: %w", id, err)
	}
	token := tokenPrefix(scope) + base64.RawURLEncoding.EncodeToString(raw[:])
	return Secret{
		Key:   Key{ID: id, Scope: scope, Hash: HashToken([]byte(token)), Source: "generated"},
		token: token,
	}, nil
}

// GenerateSession creates the keys `kairos demo` prints: one admin, one
// read and one public key (any origin), valid for this process only.
func GenerateSession() ([]Secret, error) {
	var out []Secret
	for _, k := range []struct {
		id    string
		scope Scope
	}{{"demo-admin", ScopeAdmin}, {"demo-read", ScopeRead}, {"demo-public", ScopePublic}} {
		s, err := Generate(k.id, k.scope)
		if err != nil {
			return nil, err
		}
		s.Key.Source = "generated for this demo session"
		out = append(out, s)
	}
	return out, nil
}

// checkToken validates a plaintext token given in the environment: the
// length bounds and the token68 alphabet of RFC 7235, which is what a
// Bearer credential may hold.
func checkToken(token string) error {
	switch {
	case len(token) < MinTokenLen:
		return fmt.Errorf("%w: a key is %d characters long; use at least %d random characters (openssl rand -hex 32)",
			ErrInvalidKey, len(token), MinTokenLen)
	case len(token) > MaxTokenLen:
		return fmt.Errorf("%w: a key is %d characters long; the limit is %d", ErrInvalidKey, len(token), MaxTokenLen)
	}
	if i := token68Len(token); i != len(token) {
		return fmt.Errorf("%w: a key has a character at position %d that a Bearer token cannot carry; use letters, digits and -._~+/ (base64 or hex)",
			ErrInvalidKey, i)
	}
	return nil
}
