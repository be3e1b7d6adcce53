package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/api/auth"
)

func TestDecodeOutcome(t *testing.T) {
	ts := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, id, body string
		want           Outcome
		field, errSub  string // field of the *OutcomeError; "" with errSub "" for success
	}{
		{"click", "d-1", `{"outcome":"click"}`, Outcome{DecisionID: "d-1", Kind: OutcomeClick}, "", ""},
		{"order with value and time", "d-1", `{"outcome":"order","value":19.99,"timestamp":"2025-03-01T09:30:00Z"}`,
			Outcome{DecisionID: "d-1", Kind: OutcomeOrder, Value: 19.99, HasValue: true, At: ts}, "", ""},
		{"dismiss, nulls", "d-1", `{"timestamp":null,"outcome":"dismiss","value":null}`, Outcome{DecisionID: "d-1", Kind: OutcomeDismiss}, "", ""},
		{"zero value", "d-1", ` {"outcome":"order","value":0} `, Outcome{DecisionID: "d-1", Kind: OutcomeOrder, HasValue: true}, "", ""},
		{"fractional time with offset", "d-1", `{"outcome":"click","timestamp":"2025-03-01T10:30:00.5+01:00"}`,
			Outcome{DecisionID: "d-1", Kind: OutcomeClick, At: ts.Add(500 * time.Millisecond)}, "", ""},
		{"encoded id", "d%2F1%20x", `{"outcome":"click"}`, Outcome{DecisionID: "d/1 x", Kind: OutcomeClick}, "", ""},

		{"empty id", "", `{"outcome":"click"}`, Outcome{}, "decision_id", "empty"},
		{"bad percent", "d%zz", `{"outcome":"click"}`, Outcome{}, "decision_id", "percent"},
		{"control char id", "d%0A", `{"outcome":"click"}`, Outcome{}, "decision_id", "control"},
		{"long id", strings.Repeat("d", MaxIDLen+1), `{"outcome":"click"}`, Outcome{}, "decision_id", "limit"},
		{"empty body", "d", ``, Outcome{}, "", "empty"},
		{"huge body", "d", `{"outcome":"click","x":"` + strings.Repeat("a", MaxOutcomeBody) + `"}`, Outcome{}, "", "at most"},
		{"not JSON", "d", `outcome=click`, Outcome{}, "", "not valid JSON"},
		{"trailing garbage", "d", `{"outcome":"click"}x`, Outcome{}, "", "not valid JSON"},
		{"array", "d", `["click"]`, Outcome{}, "", "object"},
		{"missing outcome", "d", `{"value":1}`, Outcome{}, "outcome", "missing"},
		{"unknown outcome", "d", `{"outcome":"purchase"}`, Outcome{}, "outcome", "not one of"},
		{"outcome case", "d", `{"outcome":"Click"}`, Outcome{}, "outcome", "not one of"},
		{"outcome not string", "d", `{"outcome":1}`, Outcome{}, "outcome", "string"},
		{"repeated outcome", "d", `{"outcome":"click","outcome":"order"}`, Outcome{}, "outcome", "repeated"},
		{"unknown field", "d", `{"outcome":"click","valeu":3}`, Outcome{}, "", "unknown field \"valeu\""},
		{"negative value", "d", `{"outcome":"order","value":-1}`, Outcome{}, "value", ">= 0"},
		{"NaN value", "d", `{"outcome":"order","value":NaN}`, Outcome{}, "value", "finite"},
		{"Inf value", "d", `{"outcome":"order","value":1e999}`, Outcome{}, "value", "finite"},
		{"string value", "d", `{"outcome":"order","value":"12"}`, Outcome{}, "value", "finite"},
		{"bad time", "d", `{"outcome":"click","timestamp":"yesterday"}`, Outcome{}, "timestamp", "RFC 3339"},
		{"epoch time", "d", `{"outcome":"click","timestamp":1740821400}`, Outcome{}, "timestamp", "RFC 3339"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeOutcome([]byte(tc.id), []byte(tc.body))
			if tc.errSub == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.DecisionID != tc.want.DecisionID || got.Kind != tc.want.Kind || got.Value != tc.want.Value ||
					got.HasValue != tc.want.HasValue || !got.At.Equal(tc.want.At) {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
				return
			}
			var oe *OutcomeError
			if !errors.As(err, &oe) || !errors.Is(err, ErrBadOutcome) {
				t.Fatalf("got %+v, %v; want an *OutcomeError", got, err)
			}
			if oe.Field != tc.field || !strings.Contains(oe.Msg, tc.errSub) {
				t.Errorf("error %q (field %q), want field %q and %q", oe.Msg, oe.Field, tc.field, tc.errSub)
			}
		})
	}
}

// FuzzDecodeOutcome: the decoder never panics; what it accepts is
// well-formed, what it refuses is an *OutcomeError with a message.
func FuzzDecodeOutcome(f *testing.F) {
	for _, s := range []struct{ id, body string }{
		{"d-1", `{"outcome":"click"}`},
		{"d-1", `{"outcome":"order","value":19.99,"timestamp":"2025-03-01T09:30:00Z"}`},
		{"d%2F1", `{"outcome":"dismiss","value":null,"timestamp":null}`},
		{"%", `{`}, {"d", `{"outcome":"click","outcome":"click"}`}, {"d", `{"value":nan}`},
		{"d", `{"outcome":"\u0063lick"}`}, {"d", `{"outcome":"click","timestamp":"9999-12-31T23:59:59.999999999+14:00"}`},
		{"d", "{\"outcome\":\"click\"}\x00"}, {"", ""}, {"d", `[[[[[[[[[[`},
	} {
		f.Add([]byte(s.id), []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, id, body []byte) {
		o, err := DecodeOutcome(id, body)
		if err != nil {
			var oe *OutcomeError
			if !errors.As(err, &oe) || oe.Msg == "" {
				t.Fatalf("error %v is not an *OutcomeError with a message", err)
			}
			if !utf8.ValidString(oe.Msg) && !json.Valid(appendJSONString(nil, oe.Msg)) {
				t.Fatalf("message cannot be sent: %q", oe.Msg)
			}
			return
		}
		if o.Kind < OutcomeClick || o.Kind > OutcomeDismiss || checkID("id", []byte(o.DecisionID)) != "" ||
			o.HasValue && (math.IsNaN(o.Value) || math.IsInf(o.Value, 0) || o.Value < 0) || !o.HasValue && o.Value != 0 {
			t.Fatalf("accepted a bad outcome %+v from %q %q", o, id, body)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
	})
}

// FuzzIDSegment: a path segment that decodes and passes checkID is 1 to
// MaxIDLen bytes of valid UTF-8 without control characters, and it is
// what net/url decodes the same segment to.
func FuzzIDSegment(f *testing.F) {
	for _, s := range []string{"42", "ann%40example.com", "x%2Fy", "%", "%zz", "%00", "%FF", "%E2%80%A8", "a+b", "%C2%85", strings.Repeat("%41", 300)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, seg []byte) {
		id, ok := percentDecode(nil, seg)
		want, err := url.PathUnescape(string(seg))
		if ok != (err == nil) {
			t.Fatalf("%q: percentDecode ok=%v, url.PathUnescape err=%v", seg, ok, err)
		}
		if !ok {
			return
		}
		if string(id) != want {
			t.Fatalf("%q decodes to %q, net/url says %q", seg, id, want)
		}
		if checkID("id", id) != "" {
			return
		}
		if len(id) == 0 || len(id) > MaxIDLen || !utf8.Valid(id) {
			t.Fatalf("accepted id %q", id)
		}
		for _, r := range string(id) {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("accepted id %q with control character %U", id, r)
			}
		}
	})
}

// FuzzGuardedRequest sends arbitrary method, target, Authorization,
// Origin and query through the whole handler with keys configured. The
// handler never panics or fails (500), always answers JSON (or an empty
// 204 preflight), never lets a request without a valid key past the
// guard on a /v1 route, and never shows profile data to a public key.
func FuzzGuardedRequest(f *testing.F) {
	k := newTestKeys(f, nil)
	srv, err := New(Config{Store: fixture(f), PartitionOf: testPartitionOf, Keys: k.ring, Logger: slog.New(slog.DiscardHandler),
		RateLimit: math.Inf(1)})
	if err != nil {
		f.Fatal(err)
	}
	handle := srv.Handler()
	tokens := []string{"", k.shop, k.read, k.admin}
	for _, s := range []struct {
		method, target, authz, origin string
	}{
		{"GET", "/v1/contacts/42", "Bearer #1", ""},
		{"GET", "/v1/contacts?email=ann@example.com", "Bearer #2", ""},
		{"GET", "/v1/contacts?email=ann%40example.com&email=x", "Bearer #3", ""},
		{"GET", "/v1/contacts?anonymous_id=%FF", "Bearer #2", ""},
		{"GET", "/v1/contacts/42", "Bearer #1", shopOrigin},
		{"OPTIONS", "/v1/contacts/42/next-best-action", "", shopOrigin},
		{"HEAD", "/v1/contacts/anon-1", "bearer  #2 ", ""},
		{"DELETE", "/v1/contacts/42", "Bearer #3", evilOrigin},
		{"POST", "/v1/decisions/d-1/outcome", "Bearer #1", otherOrigin},
		{"GET", "/v1/contacts/42", "Basic #2", ""},
		{"GET", "/v1/../v1/contacts/42", "Bearer x", ""},
		{"GET", "/healthz", "garbage", "null"},
	} {
		f.Add(s.method, s.target, s.authz, s.origin)
	}
	f.Fuzz(func(t *testing.T, method, target, authz, origin string) {
		// "#1".."#3" in the seed stand for real tokens, so the fuzzer
		// explores with valid keys too.
		for i, tok := range tokens[1:] {
			authz = strings.ReplaceAll(authz, "#"+string(rune('1'+i)), tok)
		}
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI(target)
		if authz != "" {
			ctx.Request.Header.Set(fasthttp.HeaderAuthorization, authz)
		}
		if origin != "" {
			ctx.Request.Header.Set(fasthttp.HeaderOrigin, origin)
			ctx.Request.Header.Set(fasthttp.HeaderAccessControlRequestMethod, "GET")
		}
		handle(&ctx)
		status := ctx.Response.StatusCode()
		body := ctx.Response.Body()
		// 503: a feature this test server was built without (erasure,
		// population); never 500.
		if status >= 500 && status != 503 || status < 200 || (status >= 300 && status < 400) {
			t.Fatalf("%s %q: status %d: %s", method, target, status, body)
		}
		if !(status == 204 && len(body) == 0) && !json.Valid(body) {
			t.Fatalf("%s %q: body is not JSON: %q", method, target, body)
		}
		key := authKey(k.ring, authz)
		path := string(ctx.URI().PathOriginal())
		if strings.HasPrefix(path, "/v1/") && !ctx.IsOptions() && key == nil && status != 401 && status != 403 {
			t.Fatalf("%s %q with %q passed the guard: %d %s", method, target, authz, status, body)
		}
		if key != nil && key.Scope == auth.ScopePublic && strings.Contains(string(body), "ann@example.com") {
			t.Fatalf("a public key read profile data: %s %q: %s", method, target, body)
		}
		if ctx.Response.Header.Peek(fasthttp.HeaderAccessControlAllowCredentials) != nil {
			t.Fatal("credentials allowed")
		}
	})
}

// authKey returns the key an Authorization value names, or nil.
func authKey(ring *auth.Keyring, authz string) *auth.Key {
	tok, err := auth.BearerToken([]byte(authz))
	if err != nil {
		return nil
	}
	key, err := ring.Authenticate(tok)
	if err != nil {
		return nil
	}
	return key
}
