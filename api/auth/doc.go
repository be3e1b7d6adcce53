// Package auth decides who may call which route of Kairos's HTTP API. It
// owns API keys and their scopes, where keys come from (a keys file, the
// environment, a key generated for `kairos serve` or for a demo session),
// the Authorization header, and the table of which route needs which
// scope. Package api calls it before dispatching a request; it knows
// nothing of HTTP servers, state or models.
//
// # Scopes
//
// Three scopes, ordered so that each may do what the one before may:
//
//	public  browsers: next-best-action, send-time, outcome recording;
//	        optionally only from listed origins; never profile data
//	read    servers: contacts, scores, segments, models, timers, pressure
//	admin   erase, export, configuration reload, and all of read
//
// DefaultRoutes is the route table. /healthz, /readyz, /metrics and
// /openapi.json need no key; an unknown path under /v1/ needs a key, so a
// caller without one cannot enumerate routes.
//
// # Keys at rest and in flight
//
// Kairos never stores a token. A keys file lists SHA-256 hashes
// ("sha256:<64 hex digits>"); plaintext tokens are accepted only from the
// environment (KAIROS_ADMIN_KEYS, KAIROS_READ_KEYS, KAIROS_PUBLIC_KEYS)
// and hashed as they are read. An unsalted fast hash is enough because
// tokens are random with at least MinTokenLen characters (generated ones
// carry 256 bits): there is nothing to guess from the hash, and a slow
// password hash on every request would hand attackers a CPU amplifier.
// A request's token is hashed and compared with every key's hash in
// constant time (crypto/subtle). Key ids, never tokens, appear in logs and
// errors; Secret redacts its token when formatted or logged.
//
// The package registers no metrics; package api counts refusals.
package auth
