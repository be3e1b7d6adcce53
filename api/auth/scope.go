package auth

import (
	"fmt"
	"strings"
)

// Scope is what a key may do. Scopes are ordered: a read key may do
// everything a public key may, an admin key everything a read key may.
// The zero Scope is ScopeOpen, the requirement of routes that need no key;
// no key has it.
type Scope uint8

const (
	// ScopeOpen is the requirement of routes anyone may call (/healthz,
	// /readyz, /metrics, /openapi.json). It is never the scope of a key.
	ScopeOpen Scope = iota
	// ScopePublic is the browser key: next-best-action, send-time and
	// outcome recording. It never reveals profile data.
	ScopePublic
	// ScopeRead is the server key of data teams and senders: contacts,
	// scores, segments, models, timers, pressure.
	ScopeRead
	// ScopeAdmin may also erase and export contacts and reload
	// configuration.
	ScopeAdmin
	numScopes
)

// String returns the scope's name as written in keys files: "public",
// "read", "admin", or "open".
func (s Scope) String() string {
	switch s {
	case ScopeOpen:
		return "open"
	case ScopePublic:
		return "public"
	case ScopeRead:
		return "read"
	case ScopeAdmin:
		return "admin"
	}
	return fmt.Sprintf("Scope(%d)", uint8(s))
}

// ParseScope parses a key scope as written in keys files. "open" is not a
// key scope and is refused.
func ParseScope(s string) (Scope, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "public":
		return ScopePublic, nil
	case "read":
		return ScopeRead, nil
	case "admin":
		return ScopeAdmin, nil
	}
	return 0, fmt.Errorf("%w: %q is not a scope; use public, read or admin", ErrInvalidKey, s)
}

// Allows reports whether a key of scope s may call a route that requires
// scope required.
func (s Scope) Allows(required Scope) bool { return s >= required }

func (s Scope) valid() bool { return s > ScopeOpen && s < numScopes }
