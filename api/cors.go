package api

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/api/auth"
)

// This file is the request guard: authentication, scopes, CORS and rate
// limiting, run by Server.handle before a request is dispatched. The
// order matters:
//
//  1. The route table says which scope the request needs (auth.RouteTable).
//  2. A CORS preflight is answered here: it carries no credentials, so it
//     is judged by the union of the public keys' origins.
//  3. Open routes (probes, metrics, the OpenAPI document) pass.
//  4. On browser routes an allowed Origin is echoed before the key is
//     checked, so a browser can read the 401/403/429 that follows.
//  5. The bearer token is checked (401), then the scope (403), then a
//     public key's own origins (403), then the key's rate (429).
//
// Metrics, registered on Config.Registerer:
//
//	kairos_api_auth_refused_total{reason}    requests refused by the guard; reason is
//	                                         missing_key, malformed_key, unknown_key, scope,
//	                                         origin or preflight
//	kairos_api_rate_limited_total{scope}     requests answered 429, by the key's scope

// The headers a browser may send on a cross-origin request, and the ones
// it may read from the answer besides the CORS-safelisted ones.
const (
	corsAllowHeaders  = "Authorization, Content-Type"
	corsExposeHeaders = "Retry-After"
	// corsVaryPreflight: a preflight answer depends on these request
	// headers, so a cache must key on them.
	corsVaryPreflight = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
)

// Refusal reasons, the values of the reason label.
const (
	refusedMissingKey = iota
	refusedMalformedKey
	refusedUnknownKey
	refusedScope
	refusedOrigin
	refusedPreflight
	numRefusals
)

var refusalNames = [numRefusals]string{"missing_key", "malformed_key", "unknown_key", "scope", "origin", "preflight"}

// guard holds the security state of a Server.
type guard struct {
	// keys is nil when the Server was built without keys: everything is
	// open. It is swapped whole by SetKeys.
	keys    atomic.Pointer[auth.Keyring]
	routes  *auth.RouteTable
	limiter *rateLimiter
	rate    float64
	burst   int
	maxAge  string // Access-Control-Max-Age, seconds

	refused [numRefusals]prometheus.Counter // nil entries without a Registerer
	limited [auth.ScopeAdmin + 1]prometheus.Counter
}

func newGuard(cfg Config) (*guard, error) {
	routes, err := auth.NewRouteTable(cfg.Routes)
	if err != nil {
		return nil, fmt.Errorf("%w: Routes: %w", ErrInvalidConfig, err)
	}
	g := &guard{
		routes:  routes,
		limiter: newRateLimiter(cfg.MaxRateLimitedKeys),
		rate:    cfg.RateLimit,
		burst:   cfg.RateBurst,
		maxAge:  strconv.Itoa(int(cfg.CORSMaxAge.Seconds())),
	}
	if cfg.Keys == nil {
		cfg.Logger.Warn("api: no API keys configured: authentication, CORS and rate limits are off and every route is open to anyone")
	} else {
		g.keys.Store(cfg.Keys)
	}
	if reg := cfg.Registerer; reg != nil {
		refused, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_api_auth_refused_total",
			Help: "Requests refused by authentication, scope, origin or CORS preflight checks, by reason.",
		}, []string{"reason"}))
		if err != nil {
			return nil, err
		}
		for i, name := range refusalNames {
			g.refused[i] = refused.WithLabelValues(name)
		}
		limited, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_api_rate_limited_total",
			Help: "Requests answered 429 because their key exceeded its rate, by the key's scope.",
		}, []string{"scope"}))
		if err != nil {
			return nil, err
		}
		for s := auth.ScopePublic; s <= auth.ScopeAdmin; s++ {
			g.limited[s] = limited.WithLabelValues(s.String())
		}
	}
	return g, nil
}

// ErrNoKeys is returned by SetKeys on a Server built without keys, and
// for a nil keyring: authentication cannot be turned on or off at run
// time, only its keys replaced.
var ErrNoKeys = errors.New("api: authentication is off on this server; build it with Config.Keys")

// SetKeys replaces the keys the server accepts, for a configuration
// reload. Requests in flight finish with the keys they started with.
// Rate-limit buckets are kept per key id, so a key that keeps its id
// keeps its bucket.
func (s *Server) SetKeys(keys *auth.Keyring) error {
	if keys == nil || s.guard.keys.Load() == nil {
		return ErrNoKeys
	}
	s.guard.keys.Store(keys)
	return nil
}

func (g *guard) refuse(reason int) {
	if c := g.refused[reason]; c != nil {
		c.Inc()
	}
}

// admit checks a request before dispatch. It reports true when the
// request may go on to its handler; otherwise it has answered it.
func (g *guard) admit(ctx *fasthttp.RequestCtx) bool {
	keys := g.keys.Load()
	if keys == nil {
		return true
	}
	req := g.routes.Lookup(ctx.Method(), ctx.URI().PathOriginal())
	h := &ctx.Response.Header
	origin := ctx.Request.Header.Peek(fasthttp.HeaderOrigin)
	browser := req.BrowserMethods != ""

	if ctx.IsOptions() && len(origin) > 0 && len(ctx.Request.Header.Peek(fasthttp.HeaderAccessControlRequestMethod)) > 0 {
		g.preflight(ctx, keys, req, origin)
		return false
	}
	if req.Scope == auth.ScopeOpen {
		return true
	}
	if browser {
		// The answer differs by Origin whether or not this request has
		// one: a shared cache must not serve one origin's answer to
		// another.
		h.Add(fasthttp.HeaderVary, fasthttp.HeaderOrigin)
		if len(origin) > 0 && keys.BrowserOrigin(origin) {
			h.SetBytesV(fasthttp.HeaderAccessControlAllowOrigin, origin)
			h.Set(fasthttp.HeaderAccessControlExposeHeaders, corsExposeHeaders)
		}
	}

	tok, err := auth.BearerToken(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
	switch {
	case errors.Is(err, auth.ErrMissingCredentials):
		g.refuse(refusedMissingKey)
		h.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="kairos"`)
		writeError(ctx, fasthttp.StatusUnauthorized, "unauthorized",
			"this route needs an API key: send the header Authorization: Bearer <key>")
		return false
	case err != nil:
		g.refuse(refusedMalformedKey)
		h.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="kairos", error="invalid_request"`)
		writeError(ctx, fasthttp.StatusUnauthorized, "unauthorized",
			"the Authorization header is not \"Bearer <key>\" with a key of letters, digits and -._~+/=, at most "+
				strconv.Itoa(auth.MaxTokenLen)+" characters")
		return false
	}
	key, err := keys.Authenticate(tok)
	if err != nil {
		g.refuse(refusedUnknownKey)
		h.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="kairos", error="invalid_token"`)
		writeError(ctx, fasthttp.StatusUnauthorized, "unauthorized", "the API key is not valid on this server")
		return false
	}
	if !key.Scope.Allows(req.Scope) {
		g.refuse(refusedScope)
		h.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="kairos", error="insufficient_scope", scope="`+req.Scope.String()+`"`)
		writeError(ctx, fasthttp.StatusForbidden, "forbidden",
			"this route needs a "+req.Scope.String()+" key; the key "+key.ID+" is a "+key.Scope.String()+" key")
		return false
	}
	if key.Scope == auth.ScopePublic && len(origin) > 0 && !key.AllowsOrigin(origin) {
		g.refuse(refusedOrigin)
		writeError(ctx, fasthttp.StatusForbidden, "forbidden",
			"the key "+key.ID+" may not be used from the origin "+string(origin)+"; add the origin to the key's origins")
		return false
	}

	rate, burst := g.rate, g.burst
	if key.Rate != 0 {
		rate, burst = key.Rate, key.Burst
		if burst == 0 && !math.IsInf(rate, 1) {
			burst = max(1, int(math.Ceil(rate)))
		}
	}
	if ok, wait := g.limiter.allow(key.ID, rate, burst); !ok {
		if c := g.limited[key.Scope]; c != nil {
			c.Inc()
		}
		secs := retryAfterSeconds(wait)
		h.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(secs))
		writeError(ctx, fasthttp.StatusTooManyRequests, "rate_limited",
			"the key "+key.ID+" is over its rate of "+strconv.FormatFloat(rate, 'g', 6, 64)+
				" requests per second; retry after "+strconv.Itoa(secs)+" s")
		return false
	}
	return true
}

// preflight answers a CORS preflight: 204 with what the browser may do,
// or 403 with why not. It never carries Access-Control-Allow-Credentials:
// keys travel in the Authorization header, never in cookies.
func (g *guard) preflight(ctx *fasthttp.RequestCtx, keys *auth.Keyring, req auth.Requirement, origin []byte) {
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderVary, corsVaryPreflight)
	if req.BrowserMethods == "" {
		g.refuse(refusedPreflight)
		writeError(ctx, fasthttp.StatusForbidden, "forbidden",
			"browsers may not call this route; cross-origin requests are answered on next-best-action, send-time and outcome recording only")
		return
	}
	if !keys.BrowserOrigin(origin) {
		g.refuse(refusedPreflight)
		writeError(ctx, fasthttp.StatusForbidden, "forbidden",
			"the origin "+string(origin)+" is not allowed for any public key; add it to a public key's origins")
		return
	}
	method := ctx.Request.Header.Peek(fasthttp.HeaderAccessControlRequestMethod)
	if !listHas(req.BrowserMethods, method) {
		g.refuse(refusedPreflight)
		writeError(ctx, fasthttp.StatusForbidden, "forbidden",
			"browsers may not use the method "+string(method)+" on this route; use "+req.BrowserMethods)
		return
	}
	if bad := firstUnlisted(ctx.Request.Header.Peek(fasthttp.HeaderAccessControlRequestHeaders), corsAllowHeaders); bad != nil {
		g.refuse(refusedPreflight)
		writeError(ctx, fasthttp.StatusForbidden, "forbidden",
			"browsers may not send the header "+string(bad)+" to this route; allowed are "+corsAllowHeaders)
		return
	}
	h.SetBytesV(fasthttp.HeaderAccessControlAllowOrigin, origin)
	h.Set(fasthttp.HeaderAccessControlAllowMethods, req.BrowserMethods)
	h.Set(fasthttp.HeaderAccessControlAllowHeaders, corsAllowHeaders)
	h.Set(fasthttp.HeaderAccessControlMaxAge, g.maxAge)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// listHas reports whether the comma-separated list holds item exactly
// (methods are case-sensitive).
func listHas(list string, item []byte) bool {
	for len(list) > 0 {
		var elem string
		elem, list = cutElem(list)
		if elem == string(item) {
			return true
		}
	}
	return false
}

// firstUnlisted returns the first element of the comma-separated header
// list req that is not in allowed, comparing without case (header names
// are case-insensitive), or nil.
func firstUnlisted(req []byte, allowed string) []byte {
	for len(req) > 0 {
		i := 0
		for i < len(req) && req[i] != ',' {
			i++
		}
		elem := trimOWS(req[:i])
		if i < len(req) {
			i++
		}
		req = req[i:]
		if len(elem) == 0 {
			continue
		}
		found := false
		for a := allowed; len(a) > 0 && !found; {
			var e string
			e, a = cutElem(a)
			found = equalFold(elem, e)
		}
		if !found {
			return elem
		}
	}
	return nil
}

func cutElem(list string) (elem, rest string) {
	i := 0
	for i < len(list) && list[i] != ',' {
		i++
	}
	elem = list[:i]
	if i < len(list) {
		rest = list[i+1:]
	}
	for len(elem) > 0 && elem[0] == ' ' {
		elem = elem[1:]
	}
	return elem, rest
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
