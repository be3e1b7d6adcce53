package api

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/api/auth"
)

// testKeys are one key per scope, plus public keys restricted to origins.
type testKeys struct {
	admin, read, read2, shop, other string // tokens
	ring                            *auth.Keyring
}

const (
	shopOrigin  = "https://shop.example"
	otherOrigin = "https://other.example"
	evilOrigin  = "https://evil.example"
)

// newTestKeys builds the keyring; mod may change the keys before.
func newTestKeys(t testing.TB, mod func(map[string]*auth.Key)) testKeys {
	t.Helper()
	gen := func(id string, scope auth.Scope) auth.Secret {
		s, err := auth.Generate(id, scope)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	admin, read, read2 := gen("admin", auth.ScopeAdmin), gen("read", auth.ScopeRead), gen("read2", auth.ScopeRead)
	shop, other := gen("shop", auth.ScopePublic), gen("other", auth.ScopePublic)
	shop.Key.Origins = []string{shopOrigin, "http://localhost:3000"}
	other.Key.Origins = []string{otherOrigin}
	keys := map[string]*auth.Key{"admin": &admin.Key, "read": &read.Key, "read2": &read2.Key, "shop": &shop.Key, "other": &other.Key}
	if mod != nil {
		mod(keys)
	}
	ring, err := auth.NewKeyring([]auth.Key{admin.Key, read.Key, read2.Key, shop.Key, other.Key})
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{admin.Token(), read.Token(), read2.Token(), shop.Token(), other.Token(), ring}
}

func bearer(tok string) string { return "Authorization: Bearer " + tok + "\r\n" }

// concretePath fills a route pattern's parameters.
func concretePath(pattern string) string {
	r := strings.NewReplacer("{id}", "42", "{decision_id}", "d-1")
	return r.Replace(pattern)
}

// TestAuthMatrix sends every route of the table with every kind of
// credential: no key and bad keys get 401, a key below the route's scope
// 403, a key at or above it passes the guard (the handler then answers,
// or 404 for routes this branch does not serve yet).
func TestAuthMatrix(t *testing.T) {
	k := newTestKeys(t, nil)
	h := newHarness(t, func(c *Config) { c.Keys = k.ring })
	creds := []struct {
		name   string
		header string
		scope  auth.Scope // 0: not a valid key
	}{
		{"none", "", 0},
		{"malformed", "Authorization: Basic dXNlcjpwYXNz\r\n", 0},
		{"empty bearer", "Authorization: Bearer \r\n", 0},
		{"unknown", bearer("kairos_admin_" + strings.Repeat("A", 43)), 0},
		{"public", bearer(k.shop), auth.ScopePublic},
		{"read", bearer(k.read), auth.ScopeRead},
		{"admin", bearer(k.admin), auth.ScopeAdmin},
	}
	for _, rt := range auth.DefaultRoutes() {
		for _, c := range creds {
			t.Run(rt.Method+" "+rt.Pattern+"/"+c.name, func(t *testing.T) {
				var body []byte
				if rt.Method == "POST" {
					body = []byte(`{"outcome":"click"}`)
				}
				r := h.do(t, rt.Method, concretePath(rt.Pattern), c.header, body)
				switch {
				case rt.Scope == auth.ScopeOpen:
					if r.status == 401 || r.status == 403 {
						t.Fatalf("open route refused: %d %s", r.status, r.body)
					}
				case c.scope == 0:
					e := checkError(t, r, fasthttp.StatusUnauthorized, "unauthorized")
					if !strings.HasPrefix(string(r.header.Peek(fasthttp.HeaderWWWAuthenticate)), "Bearer ") {
						t.Errorf("401 without WWW-Authenticate: Bearer")
					}
					if strings.Contains(e.Error.Message, "kairos_admin_") {
						t.Errorf("the message echoes the key: %q", e.Error.Message)
					}
				case !c.scope.Allows(rt.Scope):
					e := checkError(t, r, fasthttp.StatusForbidden, "forbidden")
					if !strings.Contains(e.Error.Message, rt.Scope.String()) {
						t.Errorf("403 does not say the scope needed: %q", e.Error.Message)
					}
				default:
					if r.status == 401 || r.status == 403 || r.status == 429 {
						t.Fatalf("%s key refused: %d %s", c.name, r.status, r.body)
					}
				}
			})
		}
	}
	// A path the table does not know needs a key under /v1/ (no route
	// enumeration), and none elsewhere.
	checkError(t, h.get(t, "/v1/no-such-route"), fasthttp.StatusUnauthorized, "unauthorized")
	checkError(t, h.do(t, "GET", "/v1/no-such-route", bearer(k.shop), nil), fasthttp.StatusNotFound, "not_found")
	checkError(t, h.get(t, "/no-such-route"), fasthttp.StatusNotFound, "not_found")
	// A method a path does not serve: 401 without a key, 405 with one.
	checkError(t, h.do(t, "PUT", "/v1/contacts/42", "", nil), fasthttp.StatusUnauthorized, "unauthorized")
	checkError(t, h.do(t, "PUT", "/v1/contacts/42", bearer(k.read), nil), fasthttp.StatusMethodNotAllowed, "method_not_allowed")
}

// TestPublicKeyCannotReadProfile: a browser key must never see profile
// data, whichever way the contact is named.
func TestPublicKeyCannotReadProfile(t *testing.T) {
	k := newTestKeys(t, nil)
	h := newHarness(t, func(c *Config) { c.Keys = k.ring })
	for _, target := range []string{
		"/v1/contacts/42", "/v1/contacts/ann@example.com", "/v1/contacts/anon-1",
		"/v1/contacts?email=ann@example.com", "/v1/contacts?anonymous_id=anon-1",
		"/v1/contacts/42/export", "/v1/contacts/42/timers", "/v1/segments",
	} {
		for _, origin := range []string{"", "Origin: " + shopOrigin + "\r\n"} {
			r := h.do(t, "GET", target, bearer(k.shop)+origin, nil)
			checkError(t, r, fasthttp.StatusForbidden, "forbidden")
			for _, secret := range []string{"ann@example.com", "Ann", "+31600000000", "c:42"} {
				if bytes.Contains(r.body, []byte(secret)) {
					t.Errorf("GET %s with a public key leaks %q: %s", target, secret, r.body)
				}
			}
		}
	}
	if r := h.do(t, "GET", "/v1/contacts/42", bearer(k.read), nil); r.status != 200 || !bytes.Contains(r.body, []byte("ann@example.com")) {
		t.Errorf("read key: %d %s", r.status, r.body)
	}
}

func TestCORS(t *testing.T) {
	k := newTestKeys(t, nil)
	h := newHarness(t, func(c *Config) { c.Keys = k.ring; c.CORSMaxAge = 90 * time.Second })
	const nba = "/v1/contacts/42/next-best-action"
	preflight := func(target, origin, method, headers string) response {
		extra := "Origin: " + origin + "\r\nAccess-Control-Request-Method: " + method + "\r\n"
		if headers != "" {
			extra += "Access-Control-Request-Headers: " + headers + "\r\n"
		}
		return h.do(t, "OPTIONS", target, extra, nil)
	}
	for _, tc := range []struct {
		name                    string
		target, origin, method  string
		headers                 string
		status                  int
		allowMethods, errSubstr string
	}{
		{"nba from the shop", nba, shopOrigin, "GET", "authorization", 204, "GET, HEAD", ""},
		{"nba from localhost", nba, "http://localhost:3000", "GET", "Authorization", 204, "GET, HEAD", ""},
		{"send-time from other", "/v1/contacts/42/send-time", otherOrigin, "GET", "", 204, "GET, HEAD", ""},
		{"outcome with JSON", "/v1/decisions/d-1/outcome", shopOrigin, "POST", "content-type,authorization", 204, "POST", ""},
		{"disallowed origin", nba, evilOrigin, "GET", "authorization", 403, "", "origin"},
		{"origin differing in port", nba, "https://shop.example:8443", "GET", "", 403, "", "origin"},
		{"null origin", nba, "null", "GET", "", 403, "", "origin"},
		{"profile route", "/v1/contacts/42", shopOrigin, "GET", "authorization", 403, "", "browsers may not call"},
		{"erase route", "/v1/contacts/42", shopOrigin, "DELETE", "authorization", 403, "", "browsers may not call"},
		{"wrong method", nba, shopOrigin, "PUT", "", 403, "", "method PUT"},
		{"lower-case method", "/v1/decisions/d-1/outcome", shopOrigin, "post", "", 403, "", "method post"},
		{"extra header", nba, shopOrigin, "GET", "authorization, x-debug", 403, "", "x-debug"},
		{"unknown path", "/v1/nothing", shopOrigin, "GET", "", 403, "", "browsers may not call"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := preflight(tc.target, tc.origin, tc.method, tc.headers)
			vary := string(r.header.Peek(fasthttp.HeaderVary))
			if !strings.Contains(vary, "Origin") {
				t.Errorf("Vary = %q, want Origin in it", vary)
			}
			if v := r.header.Peek(fasthttp.HeaderAccessControlAllowCredentials); v != nil {
				t.Errorf("Access-Control-Allow-Credentials = %q; credentials are never allowed", v)
			}
			if tc.status == 403 {
				e := checkError(t, r, 403, "forbidden")
				if !strings.Contains(e.Error.Message, tc.errSubstr) {
					t.Errorf("message %q lacks %q", e.Error.Message, tc.errSubstr)
				}
				if v := r.header.Peek(fasthttp.HeaderAccessControlAllowOrigin); v != nil {
					t.Errorf("refused preflight allows origin %q", v)
				}
				return
			}
			if r.status != 204 || len(r.body) != 0 {
				t.Fatalf("status %d body %q, want 204 and no body", r.status, r.body)
			}
			for hdr, want := range map[string]string{
				fasthttp.HeaderAccessControlAllowOrigin:  tc.origin,
				fasthttp.HeaderAccessControlAllowMethods: tc.allowMethods,
				fasthttp.HeaderAccessControlAllowHeaders: "Authorization, Content-Type",
				fasthttp.HeaderAccessControlMaxAge:       "90",
			} {
				if got := string(r.header.Peek(hdr)); got != want {
					t.Errorf("%s = %q, want %q", hdr, got, want)
				}
			}
		})
	}

	// The requests after the preflight.
	for _, tc := range []struct {
		name, origin, key string
		status            int // 0: passes the guard
		acao              string
	}{
		{"shop key from the shop", shopOrigin, k.shop, 0, shopOrigin},
		{"shop key without Origin (server side)", "", k.shop, 0, ""},
		{"shop key from the other site", otherOrigin, k.shop, 403, otherOrigin},
		{"shop key from an unknown site", evilOrigin, k.shop, 403, ""},
		{"no key from the shop: readable 401", shopOrigin, "", 401, shopOrigin},
		{"read key from the shop", shopOrigin, k.read, 0, shopOrigin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := ""
			if tc.origin != "" {
				extra += "Origin: " + tc.origin + "\r\n"
			}
			if tc.key != "" {
				extra += bearer(tc.key)
			}
			r := h.do(t, "GET", nba, extra, nil)
			switch {
			case tc.status == 0 && (r.status == 401 || r.status == 403):
				t.Fatalf("refused: %d %s", r.status, r.body)
			case tc.status != 0 && r.status != tc.status:
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got := string(r.header.Peek(fasthttp.HeaderAccessControlAllowOrigin)); got != tc.acao {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tc.acao)
			}
			if got := string(r.header.Peek(fasthttp.HeaderVary)); !strings.Contains(got, "Origin") {
				t.Errorf("Vary = %q, want Origin", got)
			}
			if r.header.Peek(fasthttp.HeaderAccessControlAllowCredentials) != nil {
				t.Error("credentials allowed")
			}
		})
	}
	// Server routes carry no CORS headers at all.
	r := h.do(t, "GET", "/v1/contacts/42", bearer(k.read)+"Origin: "+shopOrigin+"\r\n", nil)
	if r.status != 200 || r.header.Peek(fasthttp.HeaderAccessControlAllowOrigin) != nil {
		t.Errorf("profile read from a browser origin: %d, ACAO %q", r.status, r.header.Peek(fasthttp.HeaderAccessControlAllowOrigin))
	}
	// An OPTIONS that is not a preflight is an ordinary request.
	checkError(t, h.do(t, "OPTIONS", nba, "Origin: "+shopOrigin+"\r\n", nil), 401, "unauthorized")

	if got := counterValue(t, h, "kairos_api_auth_refused_total", "preflight"); got < 9 {
		t.Errorf("kairos_api_auth_refused_total{reason=preflight} = %v, want >= 9", got)
	}
}

// counterValue returns the value of the counter series name{...=label}.
func counterValue(t *testing.T, h *harness, name, label string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{%s}", name, label)
	return 0
}

func TestSetKeys(t *testing.T) {
	k1, k2 := newTestKeys(t, nil), newTestKeys(t, nil)
	h := newHarness(t, func(c *Config) { c.Keys = k1.ring })
	if r := h.do(t, "GET", "/v1/contacts/42", bearer(k1.read), nil); r.status != 200 {
		t.Fatalf("before reload: %d", r.status)
	}
	if err := h.srv.SetKeys(k2.ring); err != nil {
		t.Fatal(err)
	}
	checkError(t, h.do(t, "GET", "/v1/contacts/42", bearer(k1.read), nil), 401, "unauthorized")
	if r := h.do(t, "GET", "/v1/contacts/42", bearer(k2.read), nil); r.status != 200 {
		t.Fatalf("after reload: %d", r.status)
	}
	if err := h.srv.SetKeys(nil); err == nil {
		t.Error("SetKeys(nil) turned authentication off")
	}
	open := newHarness(t, nil)
	if err := open.srv.SetKeys(k1.ring); err == nil {
		t.Error("SetKeys turned authentication on at run time")
	}
}

// TestRoutesHaveScopes fails when the server routes a path that the
// scope table does not know: such a route would need only the /v1/
// fallback (a public key) or nothing at all.
func TestRoutesHaveScopes(t *testing.T) {
	tbl, err := auth.NewRouteTable(auth.DefaultRoutes())
	if err != nil {
		t.Fatal(err)
	}
	for r := routeUnmatched + 1; r < numRoutes; r++ {
		pattern := r.String()
		method, _, _ := strings.Cut(r.allow(), ",") // GET, or POST for POST-only routes
		req := tbl.Lookup([]byte(method), []byte(concretePath(pattern)))
		if req.Route != pattern {
			t.Errorf("route %s has no entry in auth.DefaultRoutes", pattern)
		}
	}
}

// fakeClock is the limiter's clock in tests.
type fakeClock struct{ now atomic.Int64 }

func (c *fakeClock) advance(d time.Duration) { c.now.Add(int64(d)) }

func newTestLimiter(maxKeys int) (*rateLimiter, *fakeClock) {
	l := newRateLimiter(maxKeys)
	c := &fakeClock{}
	l.now = func() time.Duration { return time.Duration(c.now.Load()) }
	return l, c
}

func TestRateLimiter(t *testing.T) {
	l, clock := newTestLimiter(100)
	for i := range 5 {
		if ok, _ := l.allow("k", 2, 5); !ok {
			t.Fatalf("request %d of a burst of 5 refused", i)
		}
	}
	ok, wait := l.allow("k", 2, 5)
	if ok || wait != 500*time.Millisecond || retryAfterSeconds(wait) != 1 {
		t.Fatalf("6th request: ok %v wait %v", ok, wait)
	}
	if ok, _ := l.allow("other", 2, 5); !ok {
		t.Fatal("another key shares the bucket")
	}
	clock.advance(499 * time.Millisecond)
	if ok, _ := l.allow("k", 2, 5); ok {
		t.Fatal("a token came back early")
	}
	clock.advance(time.Millisecond)
	if ok, _ := l.allow("k", 2, 5); !ok {
		t.Fatal("no token after 1/rate")
	}
	clock.advance(time.Hour)
	n := 0
	for {
		if ok, _ := l.allow("k", 2, 5); !ok {
			break
		}
		n++
	}
	if n != 5 {
		t.Errorf("after an hour idle %d requests pass, want the burst of 5", n)
	}
	if ok, wait := l.allow("slow", 0.01, 1); !ok || wait != 0 {
		t.Fatal("first request of a slow key refused")
	}
	if _, wait := l.allow("slow", 0.01, 1); retryAfterSeconds(wait) != 100 {
		t.Errorf("Retry-After for 0.01/s = %d, want 100", retryAfterSeconds(wait))
	}
	if ok, _ := l.allow("unlimited", math.Inf(1), 0); !ok {
		t.Error("an unlimited key was limited")
	}
}

// TestRateLimiterBound: whatever the sequence of requests, a key never
// gets more than burst + rate × elapsed, and the limiter holds at most
// its bound of buckets however many keys it sees.
func TestRateLimiterBound(t *testing.T) {
	const rate, burst = 50.0, 10
	l, clock := newTestLimiter(64)
	allowed := 0
	var elapsed time.Duration
	for i := range 20_000 {
		step := time.Duration(i*7919%13) * time.Millisecond // irregular arrivals
		clock.advance(step)
		elapsed += step
		if ok, _ := l.allow("hot", rate, burst); ok {
			allowed++
		}
		// Many other keys pass through and force evictions.
		l.allow("cold-"+strconv.Itoa(i), rate, burst)
		if limit := float64(burst) + rate*elapsed.Seconds(); float64(allowed) > limit+1e-9 {
			t.Fatalf("after %v: %d allowed, limit %.1f", elapsed, allowed, limit)
		}
	}
	if n := l.len(); n > 64+limiterShards {
		t.Errorf("limiter holds %d buckets, bound 64 (+ rounding per shard)", n)
	}
	if allowed < int(rate*elapsed.Seconds()*0.9) {
		t.Errorf("only %d allowed in %v at %v/s: evictions or refill lose tokens", allowed, elapsed, rate)
	}
}

// runServer starts a Server with Run on 127.0.0.1:0 and returns its
// address; it stops at the end of the test.
func runServer(t *testing.T, mod func(*Config)) (*Server, string) {
	t.Helper()
	cfg := Config{
		Addr:        "127.0.0.1:0",
		Store:       fixture(t),
		PartitionOf: testPartitionOf,
		Logger:      slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Listening():
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return srv, srv.Addr()
}

// TestRateLimitUnderBurst: a load generator on loopback fires as fast as
// it can from many connections with one key; the server lets through no
// more than the key's burst plus its rate over the elapsed time, answers
// the rest 429 with Retry-After, and another key is unaffected.
func TestRateLimitUnderBurst(t *testing.T) {
	const rate, burst = 200.0, 50
	k := newTestKeys(t, func(keys map[string]*auth.Key) {
		keys["read"].Rate, keys["read"].Burst = rate, burst
	})
	_, addr := runServer(t, func(c *Config) { c.Keys = k.ring })
	// Timeouts turn a stuck connection into a failure, not a hung test.
	client := &fasthttp.HostClient{Addr: addr, MaxConns: 64, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}

	var ok, limited, other, badRetry atomic.Int64
	const workers, duration = 16, 1500 * time.Millisecond
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + addr + "/v1/contacts/42")
			req.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+k.read)
			for time.Since(start) < duration {
				if err := client.Do(req, resp); err != nil {
					t.Error(err)
					return
				}
				switch resp.StatusCode() {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
					if s, err := strconv.Atoi(string(resp.Header.Peek(fasthttp.HeaderRetryAfter))); err != nil || s < 1 {
						badRetry.Add(1)
					}
				default:
					other.Add(1)
				}
			}
		})
	}
	// Meanwhile another key is served normally.
	var otherKeyOK int
	for range 20 {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + addr + "/v1/contacts/42")
		req.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+k.read2)
		if err := client.Do(req, resp); err == nil && resp.StatusCode() == 200 {
			otherKeyOK++
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	limit := burst + rate*elapsed
	t.Logf("%.2fs: %d ok, %d limited (%.0f req/s offered); limit %.0f", elapsed, ok.Load(), limited.Load(),
		float64(ok.Load()+limited.Load())/elapsed, limit)
	if float64(ok.Load()) > limit+1 {
		t.Errorf("%d requests passed; burst %d + %.0f/s × %.2fs = %.0f", ok.Load(), burst, rate, elapsed, limit)
	}
	if limited.Load() == 0 {
		t.Errorf("nothing was limited: the load generator offered %d requests in %.2fs", ok.Load(), elapsed)
	}
	if ok.Load() < burst {
		t.Errorf("only %d passed, fewer than the burst %d", ok.Load(), burst)
	}
	if badRetry.Load() > 0 || other.Load() > 0 {
		t.Errorf("%d 429s without a valid Retry-After, %d other statuses", badRetry.Load(), other.Load())
	}
	if otherKeyOK != 20 {
		t.Errorf("another key got %d of 20 answered during the burst", otherKeyOK)
	}
}

// TestAbsurdRequests sends requests of absurd size to a real server and
// checks that they are refused and that the server's memory does not
// grow with what the clients sent: a claimed terabyte body, a streamed
// chunked body of 64 MiB, a megabyte of headers, a megabyte URL.
func TestAbsurdRequests(t *testing.T) {
	k := newTestKeys(t, nil)
	_, addr := runServer(t, func(c *Config) { c.Keys = k.ring })
	junk := bytes.Repeat([]byte("x"), 64<<10)

	// send writes head, then up to n bytes of body (chunked when asked),
	// stopping when the server closes, and returns the response status.
	send := func(t *testing.T, head string, n int, chunked bool) int {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		go func() {
			if _, err := io.WriteString(conn, head); err != nil {
				return
			}
			for sent := 0; sent < n; sent += len(junk) {
				if chunked {
					if _, err := io.WriteString(conn, strconv.FormatInt(int64(len(junk)), 16)+"\r\n"); err != nil {
						return
					}
				}
				if _, err := conn.Write(junk); err != nil {
					return
				}
				if chunked {
					if _, err := io.WriteString(conn, "\r\n"); err != nil {
						return
					}
				}
			}
		}()
		var resp fasthttp.Response
		if err := resp.Read(bufio.NewReader(conn)); err != nil {
			t.Fatalf("read response: %v", err)
		}
		return resp.StatusCode()
	}
	auth := bearer(k.shop)
	cases := []struct {
		name    string
		head    string
		n       int
		chunked bool
		status  int
	}{
		{"terabyte Content-Length", "POST /v1/decisions/d-1/outcome HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 1099511627776\r\n\r\n", 64 << 20, false, 413},
		{"64 MiB chunked", "POST /v1/decisions/d-1/outcome HTTP/1.1\r\nHost: x\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\n", 64 << 20, true, 413},
		{"1 MiB header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Junk: " + strings.Repeat("j", 1<<20) + "\r\n\r\n", 0, false, 431},
		{"1 MiB URL", "GET /v1/contacts/" + strings.Repeat("u", 1<<20) + " HTTP/1.1\r\nHost: x\r\n\r\n", 0, false, 431},
		{"100k headers", "GET /healthz HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("A: b\r\n", 100_000) + "\r\n", 0, false, 431},
	}
	heap := func() (inuse, total uint64) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse, ms.TotalAlloc
	}
	// One round first, so pools and buffers reach their steady size.
	for _, c := range cases {
		send(t, c.head, c.n, c.chunked)
	}
	const rounds = 4
	inuse0, total0 := heap()
	for range rounds {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if got := send(t, c.head, c.n, c.chunked); got != c.status {
					t.Errorf("status %d, want %d", got, c.status)
				}
			})
		}
	}
	inuse1, total1 := heap()
	// The test's own request heads are ~3 MiB per round; the server
	// reads at most MaxRequestBodySize (1 MiB) of a body and
	// MaxHeaderSize (8 KiB) of a head per request.
	grown := int64(inuse1) - int64(inuse0)
	allocated := total1 - total0
	t.Logf("heap in use %d → %d KiB (%+d KiB); allocated %d KiB over %d requests claiming over %d TiB",
		inuse0>>10, inuse1>>10, grown>>10, allocated>>10, rounds*len(cases), rounds)
	if grown > 8<<20 {
		t.Errorf("heap in use grew by %d KiB", grown>>10)
	}
	if allocated > rounds*24<<20 {
		t.Errorf("allocated %d MiB for %d rounds: the server buffers what it should refuse", allocated>>20, rounds)
	}
}

// TestSlowClient: a client that trickles its request is cut off after
// ReadTimeout instead of holding a connection forever.
func TestSlowClient(t *testing.T) {
	_, addr := runServer(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	go func() {
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
			return
		}
		for range 100 {
			time.Sleep(50 * time.Millisecond)
			if _, err := io.WriteString(conn, "X-Slow: 1\r\n"); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(conn) // the answer (408) if any, then EOF
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("slow client held the connection for %v with ReadTimeout 300ms", d)
	}
}

// TestKeysNeverLogged: neither the log nor a response repeats a token,
// even for requests fasthttp cannot parse (whose error texts would
// otherwise quote the request head).
func TestKeysNeverLogged(t *testing.T) {
	var logged bytes.Buffer
	var mu sync.Mutex
	k := newTestKeys(t, nil)
	h := newHarness(t, func(c *Config) {
		c.Keys = k.ring
		c.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logged, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	wrong := "kairos_admin_" + strings.Repeat("Z", 43)
	var bodies [][]byte
	for _, raw := range []string{
		"GET /v1/contacts/42 HTTP/1.1\r\nHost: x\r\n" + bearer(k.admin) + "Broken header line\r\n\r\n",
		"GET /v1/contacts/42 HTTP/1.1\r\nHost: x\r\n" + bearer(k.admin) + "Content-Length: nope\r\n\r\n",
		"GET /v1/contacts/42 HTTP/1.1\r\nHost: x\r\n" + bearer(wrong) + "\r\n",
		"GET /v1/contacts/42 HTTP/1.1\r\nHost: x\r\n" + bearer(k.shop) + "\r\n",
		"GET /v1/contacts/42 HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + wrong + "\r\n\r\n",
	} {
		conn, err := h.ln.Dial()
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(conn, raw)
		var resp fasthttp.Response
		if err := resp.Read(bufio.NewReader(conn)); err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		bodies = append(bodies, append([]byte(nil), resp.Body()...))
		conn.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	for _, tok := range []string{k.admin, wrong, k.shop} {
		secret := tok[len(tok)-20:]
		if strings.Contains(logged.String(), secret) {
			t.Errorf("a token is in the log:\n%s", logged.String())
		}
		for _, b := range bodies {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("a token is in a response: %s", b)
			}
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestSecurityConfigValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"negative rate", func(c *Config) { c.RateLimit = -1 }, "RateLimit"},
		{"NaN rate", func(c *Config) { c.RateLimit = math.NaN() }, "RateLimit"},
		{"negative burst", func(c *Config) { c.RateBurst = -1 }, "RateBurst"},
		{"tiny header limit", func(c *Config) { c.MaxHeaderSize = 100 }, "MaxHeaderSize"},
		{"negative concurrency", func(c *Config) { c.Concurrency = -1 }, "Concurrency"},
		{"negative per-IP cap", func(c *Config) { c.MaxConnsPerIP = -1 }, "MaxConnsPerIP"},
		{"negative CORS max age", func(c *Config) { c.CORSMaxAge = -time.Second }, "CORSMaxAge"},
		{"bad route", func(c *Config) { c.Routes = []auth.Route{{Method: "GET", Pattern: "nope"}} }, "Routes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Store: fixture(t), PartitionOf: testPartitionOf}
			tc.mod(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error naming %s", err, tc.want)
			}
		})
	}
	var srv fasthttp.Server
	cfg := Config{MaxConnsPerIP: 7}.withDefaults()
	cfg.ConfigureServer(&srv)
	if srv.ReadBufferSize != DefaultMaxHeaderSize || srv.Concurrency != DefaultConcurrency || srv.MaxConnsPerIP != 7 ||
		srv.MaxRequestBodySize != DefaultMaxRequestBodySize || srv.ReadTimeout != DefaultReadTimeout ||
		srv.WriteTimeout != DefaultWriteTimeout || srv.IdleTimeout != DefaultIdleTimeout || !srv.SecureErrorLogMessage {
		t.Errorf("ConfigureServer: %+v", &srv)
	}
}

func BenchmarkGuard(b *testing.B) {
	k := newTestKeys(b, func(keys map[string]*auth.Key) { keys["shop"].Rate = math.Inf(1) })
	srv, err := New(Config{Store: fixture(b), PartitionOf: testPartitionOf, Keys: k.ring, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/v1/contacts/42/next-best-action")
	ctx.Request.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+k.shop)
	ctx.Request.Header.Set(fasthttp.HeaderOrigin, shopOrigin)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		if !srv.guard.admit(&ctx) {
			b.Fatal(ctx.Response.StatusCode())
		}
	}
}

// TestConnectionCaps: beyond Concurrency connections, or MaxConnsPerIP
// from one address, a new connection is refused at once instead of
// queueing.
func TestConnectionCaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"Concurrency", func(c *Config) { c.Concurrency = 2 }},
		{"MaxConnsPerIP", func(c *Config) { c.MaxConnsPerIP = 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := runServer(t, tc.mod)
			// Two keep-alive connections, each having been served once,
			// hold their slots while idle.
			for range 2 {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close() })
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				var resp fasthttp.Response
				if err := resp.Read(bufio.NewReader(conn)); err != nil || resp.StatusCode() != 200 {
					t.Fatalf("held connection: %v %d", err, resp.StatusCode())
				}
			}
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			var resp fasthttp.Response
			err = resp.Read(bufio.NewReader(conn))
			if err == nil && resp.StatusCode() == 200 {
				t.Fatal("a connection over the cap was served")
			}
			if err == nil && resp.StatusCode() < 400 {
				t.Errorf("over the cap: status %d", resp.StatusCode())
			}
		})
	}
}
