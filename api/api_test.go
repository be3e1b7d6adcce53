package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/kairos-engine/kairos/state"
)

// testPartitions is the number of partitions of the test store; ids are
// placed by FNV-1a so that aliases and contacts land on different partitions.
const testPartitions = 8

func testPartitionOf(id string) int32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int32(h.Sum32() % testPartitions)
}

// t0 is the event time of the fixture: 2025-03-01T09:30:00.250Z.
var t0 = time.Date(2025, 3, 1, 9, 30, 0, 250e6, time.UTC).UnixMilli()

const day = int64(24 * time.Hour / time.Millisecond)

// annContact is a fully populated contact known by a contact id, an email
// and two anonymous ids.
func annContact() *state.Contact {
	c := &state.Contact{
		Key:       "c:42",
		ContactID: "42",
		EmailAddr: "ann@example.com",
		Phone:     "+31600000000",
		Aliases:   []state.Key{"a:anon-1", "a:anon-2", "e:ann@example.com"},
		Traits: []state.Trait{
			{Name: "name", Value: "Ann \"The\" <Buyer>\n"},
			{Name: "plan", Value: "gold"},
		},
		TimeZone: "Europe/Amsterdam",
		Language: "nl",
		Consent: state.Consent{
			Channels: [state.NumChannels]state.ChannelConsent{
				state.ChannelEmail: {Status: state.ConsentOptedIn, At: t0},
				state.ChannelPush:  {Status: state.ConsentOptedOut, At: t0 + 1000},
			},
			Lists: []state.ListConsent{{List: "news", Subscribed: true, At: t0}},
		},
		FirstSeen: t0,
		LastSeen:  t0 + 3_600_000,
		Sessions:  state.Sessions{Count: 3, Start: t0, Last: t0 + 3_600_000},
		Recent: []state.RecentEvent{
			{Type: state.EventPageView, At: t0, Ref: "/home"},
			{Type: state.EventAddToCart, At: t0 + 1000, Ref: "sku-1"},
			{Type: state.EventOrderPlaced, At: t0 + 2000, Ref: "o-2"},
		},
		Categories: []state.Affinity{{Name: "shoes", Score: 8}, {Name: "socks", Score: 2}},
		Products:   []state.Affinity{{Name: "sku-1", Score: 4}},
		AffinityAt: t0,
		Cart: state.Cart{
			Items:     []state.CartItem{{SKU: "sku-9", Category: "socks", Quantity: 2, Price: 499}, {SKU: "sku-8", Quantity: 1, Price: 1001}},
			UpdatedAt: t0 + 500,
		},
		Orders: state.Orders{
			Count: 2, Placed: 3, Cancelled: 1, Revenue: 1999, Refunded: 1, Currency: "EUR",
			First: t0, Last: t0 + 2000,
			Recent: []state.Order{
				{ID: "o-0", At: t0 - 1000, Total: 100, Flags: state.OrderPlaced | state.OrderCancelled, Currency: "EUR"},
				{ID: "o-1", At: t0, Total: 500, Refunded: 1, Flags: state.OrderPlaced | state.OrderShipped, Currency: "EUR"},
				{ID: "o-2", At: t0 + 2000, Total: 1500, Flags: state.OrderPlaced, Currency: "EUR", Categories: []string{"shoes", "socks"}},
			},
		},
		Engagement: state.EmailStats{Sent: 4, Delivered: 4, Opened: 3, Clicked: 1, LastSent: t0, LastOpen: t0 + 10_000, LastClick: t0 + 20_000},
	}
	c.Counts[state.EventPageView] = 12
	c.Counts[state.EventProductView] = 5
	c.Counts[state.EventAddToCart] = 2
	c.Counts[state.EventSearch] = 3
	c.Counts[state.EventOrderPlaced] = 3
	c.Counts[state.EventEmailOpened] = 3
	return c
}

// fixture writes the test contacts:
//
//	c:42            Ann (annContact); aliases e:ann@example.com, a:anon-1,
//	                and a:anon-2 → e:ann@example.com → c:42 (two hops)
//	e:bob@example.com  known only by email; alias a:anon-bob
//	a:anon-x        known only by an anonymous id, nothing else set
//	c:joe@corp      a contact id containing '@'
//	c:x/y           a contact id containing '/'
func fixture(t testing.TB) *state.Store {
	t.Helper()
	st, err := state.Open(t.TempDir(), state.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	put := func(c *state.Contact) {
		t.Helper()
		pt, err := st.Partition(testPartitionOf(c.Key.Value()))
		if err != nil {
			t.Fatal(err)
		}
		b := pt.NewBatch()
		if err := b.PutContact(c); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	put(annContact())
	putAlias(t, st, "e:ann@example.com", "c:42")
	putAlias(t, st, "a:anon-1", "c:42")
	putAlias(t, st, "a:anon-2", "e:ann@example.com")
	put(&state.Contact{Key: "e:bob@example.com", Aliases: []state.Key{"a:anon-bob"}, FirstSeen: t0, LastSeen: t0})
	putAlias(t, st, "a:anon-bob", "e:bob@example.com")
	put(&state.Contact{Key: "a:anon-x", LastSeen: t0})
	put(&state.Contact{Key: "c:joe@corp", ContactID: "joe@corp", LastSeen: t0})
	put(&state.Contact{Key: "c:x/y", ContactID: "x/y", LastSeen: t0})
	return st
}

func putAlias(t testing.TB, st *state.Store, from, to state.Key) {
	t.Helper()
	pt, err := st.Partition(testPartitionOf(from.Value()))
	if err != nil {
		t.Fatal(err)
	}
	b := pt.NewBatch()
	if err := b.PutAlias(from, to); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

// harness is a Server serving on an in-memory listener with the same
// fasthttp.Server that Run configures.
type harness struct {
	srv   *Server
	ln    *fasthttputil.InmemoryListener
	reg   *prometheus.Registry
	ready atomic.Pointer[error]
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), ln: fasthttputil.NewInmemoryListener()}
	cfg := Config{
		Store:       fixture(t),
		PartitionOf: testPartitionOf,
		Ready: func() error {
			if err := h.ready.Load(); err != nil {
				return *err
			}
			return nil
		},
		Gatherer:   h.reg,
		Registerer: h.reg,
		Logger:     slog.New(slog.DiscardHandler),
		Now:        func() time.Time { return time.UnixMilli(t0 + 14*day) },
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.serve(ctx, h.ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	<-srv.Listening()
	return h
}

func (h *harness) setReady(err error) {
	if err == nil {
		h.ready.Store(nil)
		return
	}
	h.ready.Store(&err)
}

// response is a parsed HTTP response.
type response struct {
	status int
	header *fasthttp.ResponseHeader
	body   []byte
}

// do sends a raw request (the target is written as is, so tests control
// the exact bytes) and reads the response. extra holds additional header
// lines, each ending in "\r\n". The body is written concurrently, since the
// server may answer before reading it.
func (h *harness) do(t testing.TB, method, target, extra string, body []byte) response {
	t.Helper()
	conn, err := h.ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: kairos.test\r\nConnection: close\r\n%s", method, target, extra)
	if body != nil && !strings.Contains(extra, "Transfer-Encoding") {
		head += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	head += "\r\n"
	go func() {
		// Errors are expected when the server answers early and closes.
		_, _ = io.Copy(conn, io.MultiReader(strings.NewReader(head), bytes.NewReader(body)))
	}()
	var resp fasthttp.Response
	resp.SkipBody = method == fasthttp.MethodHead
	if err := resp.Read(bufio.NewReader(conn)); err != nil {
		t.Fatalf("%s %s: read response: %v", method, target, err)
	}
	r := response{status: resp.StatusCode(), body: append([]byte(nil), resp.Body()...), header: new(fasthttp.ResponseHeader)}
	resp.Header.CopyTo(r.header)
	return r
}

func (h *harness) get(t testing.TB, target string) response {
	t.Helper()
	return h.do(t, fasthttp.MethodGet, target, "", nil)
}

// errorBody is the error document.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func checkError(t *testing.T, r response, status int, code string) errorBody {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := string(r.header.ContentType()); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	if e.Error.Code != code {
		t.Errorf("error code = %q, want %q (message %q)", e.Error.Code, code, e.Error.Message)
	}
	if e.Error.Message == "" {
		t.Error("error message is empty")
	}
	return e
}

func TestGetContactFound(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name, target string
		wantKey      string
	}{
		{"contact id", "/v1/contacts/42", "c:42"},
		{"email in path via alias", "/v1/contacts/ann@example.com", "c:42"},
		{"email in path normalised", "/v1/contacts/%20Ann@Example.COM", "c:42"},
		{"anonymous id in path", "/v1/contacts/anon-1", "c:42"},
		{"two alias hops a: → e: → c:", "/v1/contacts/anon-2", "c:42"},
		{"email query", "/v1/contacts?email=ann@example.com", "c:42"},
		{"email query normalised", "/v1/contacts?email=+ANN%40example.com+", "c:42"},
		{"anonymous query", "/v1/contacts?anonymous_id=anon-1", "c:42"},
		{"other params ignored", "/v1/contacts?_=123&anonymous_id=anon-1", "c:42"},
		{"email-only contact by path", "/v1/contacts/bob@example.com", "e:bob@example.com"},
		{"email-only contact by query", "/v1/contacts?email=bob@example.com", "e:bob@example.com"},
		{"email-only contact via anonymous alias", "/v1/contacts?anonymous_id=anon-bob", "e:bob@example.com"},
		{"anonymous-only contact", "/v1/contacts/anon-x", "a:anon-x"},
		{"contact id with @ wins over email", "/v1/contacts/joe@corp", "c:joe@corp"},
		{"contact id with encoded slash", "/v1/contacts/x%2Fy", "c:x/y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.get(t, tt.target)
			if r.status != fasthttp.StatusOK {
				t.Fatalf("status = %d, body %s", r.status, r.body)
			}
			if ct := string(r.header.ContentType()); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := string(r.header.Peek(fasthttp.HeaderCacheControl)); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			var doc struct {
				ContactID string `json:"contact_id"`
				Key       string `json:"key"`
			}
			if err := json.Unmarshal(r.body, &doc); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, r.body)
			}
			if doc.Key != tt.wantKey || doc.ContactID != state.Key(tt.wantKey).Value() {
				t.Errorf("key, contact_id = %q, %q; want %q, %q", doc.Key, doc.ContactID, tt.wantKey, state.Key(tt.wantKey).Value())
			}
		})
	}
}

// TestContactDocument checks the profile document field by field; the
// contract fields (contact_id, aggregates.*, first_seen, last_seen) with
// their exact JSON text.
func TestContactDocument(t *testing.T) {
	h := newHarness(t, nil)
	r := h.get(t, "/v1/contacts/42")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if !json.Valid(r.body) {
		t.Fatalf("invalid JSON: %s", r.body)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	var agg map[string]json.RawMessage
	if err := json.Unmarshal(doc["aggregates"], &agg); err != nil {
		t.Fatal(err)
	}
	ts := func(ms int64) string { return `"` + time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") + `"` }
	want := []struct {
		field string
		got   json.RawMessage
		want  string
	}{
		{"contact_id", doc["contact_id"], `"42"`},
		{"key", doc["key"], `"c:42"`},
		{"email", doc["email"], `"ann@example.com"`},
		{"phone", doc["phone"], `"+31600000000"`},
		{"anonymous_ids", doc["anonymous_ids"], `["anon-1","anon-2"]`},
		{"aliases", doc["aliases"], `["a:anon-1","a:anon-2","e:ann@example.com"]`},
		{"traits", doc["traits"], `{"name":"Ann \"The\" \u003cBuyer\u003e\n","plan":"gold"}`},
		{"time_zone", doc["time_zone"], `"Europe/Amsterdam"`},
		{"language", doc["language"], `"nl"`},
		{"first_seen", doc["first_seen"], `"2025-03-01T09:30:00.250Z"`},
		{"last_seen", doc["last_seen"], `"2025-03-01T10:30:00.250Z"`},
		{"consent", doc["consent"], `{"email":{"status":"opted_in","at":` + ts(t0) + `},"sms":{"status":"unknown","at":null},` +
			`"push":{"status":"opted_out","at":` + ts(t0+1000) + `},"lists":[{"list":"news","subscribed":true,"at":` + ts(t0) + `}]}`},
		{"aggregates.orders", agg["orders"], `2`},
		{"aggregates.revenue", agg["revenue"], `19.99`},
		{"aggregates.refunded", agg["refunded"], `0.01`},
		{"aggregates.currency", agg["currency"], `"EUR"`},
		{"aggregates.first_order", agg["first_order"], ts(t0)},
		{"aggregates.last_order", agg["last_order"], ts(t0 + 2000)},
		{"aggregates.page_views", agg["page_views"], `12`},
		{"aggregates.product_views", agg["product_views"], `5`},
		{"aggregates.add_to_carts", agg["add_to_carts"], `2`},
		{"aggregates.searches", agg["searches"], `3`},
		{"aggregates.sessions", agg["sessions"], `3`},
		{"aggregates.emails_sent", agg["emails_sent"], `4`},
		{"aggregates.emails_delivered", agg["emails_delivered"], `4`},
		{"aggregates.emails_opened", agg["emails_opened"], `3`},
		{"aggregates.emails_clicked", agg["emails_clicked"], `1`},
		{"aggregates.emails_bounced", agg["emails_bounced"], `0`},
		{"aggregates.last_open", agg["last_open"], ts(t0 + 10_000)},
		{"aggregates.last_click", agg["last_click"], ts(t0 + 20_000)},
		{"aggregates.events", agg["events"], `{"page_view":12,"product_view":5,"add_to_cart":2,"search":3,"order_placed":3,"opened":3}`},
		// Now is 14 days (one half-life) after AffinityAt: scores halve.
		{"affinities", doc["affinities"], `{"categories":[{"name":"shoes","score":4},{"name":"socks","score":1}],"products":[{"name":"sku-1","score":2}]}`},
		{"cart", doc["cart"], `{"items":[{"sku":"sku-9","category":"socks","quantity":2,"price":4.99},` +
			`{"sku":"sku-8","category":null,"quantity":1,"price":10.01}],"value":19.99,"updated_at":` + ts(t0+500) + `}`},
		{"recent_orders", doc["recent_orders"], `[` +
			`{"order_id":"o-2","at":` + ts(t0+2000) + `,"total":15.00,"refunded":0.00,"currency":"EUR","status":"placed","categories":["shoes","socks"]},` +
			`{"order_id":"o-1","at":` + ts(t0) + `,"total":5.00,"refunded":0.01,"currency":"EUR","status":"partially_refunded","categories":[]},` +
			`{"order_id":"o-0","at":` + ts(t0-1000) + `,"total":1.00,"refunded":0.00,"currency":"EUR","status":"cancelled","categories":[]}]`},
		{"recent_events", doc["recent_events"], `[{"type":"order_placed","at":` + ts(t0+2000) + `,"ref":"o-2"},` +
			`{"type":"add_to_cart","at":` + ts(t0+1000) + `,"ref":"sku-1"},{"type":"page_view","at":` + ts(t0) + `,"ref":"/home"}]`},
	}
	for _, w := range want {
		if string(w.got) != w.want {
			t.Errorf("%s = %s\n want %s", w.field, w.got, w.want)
		}
	}
}

// TestContactDocumentSparse checks a contact with nothing but a key: the
// shape is the same, unknown values are null or empty.
func TestContactDocumentSparse(t *testing.T) {
	h := newHarness(t, nil)
	r := h.get(t, "/v1/contacts/anon-x")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]any{
		"contact_id":    "anon-x",
		"key":           "a:anon-x",
		"email":         nil,
		"phone":         nil,
		"anonymous_ids": []any{"anon-x"},
		"aliases":       []any{},
		"time_zone":     "UTC",
		"language":      nil,
		"first_seen":    nil,
		"last_seen":     "2025-03-01T09:30:00.250Z",
		"recent_orders": []any{},
		"recent_events": []any{},
	} {
		if got := doc[field]; fmt.Sprint(got) != fmt.Sprint(want) || (got == nil) != (want == nil) {
			t.Errorf("%s = %#v, want %#v", field, got, want)
		}
	}
	agg := doc["aggregates"].(map[string]any)
	for _, f := range []string{"orders", "revenue", "page_views", "emails_sent", "emails_opened", "emails_clicked"} {
		if agg[f] != float64(0) {
			t.Errorf("aggregates.%s = %#v, want 0", f, agg[f])
		}
	}
	if !bytes.Contains(r.body, []byte(`"revenue":0.00`)) {
		t.Errorf("revenue is not written with two decimals: %s", r.body)
	}
	// An email-only contact reports its email from the key.
	r = h.get(t, "/v1/contacts/bob@example.com")
	if !bytes.Contains(r.body, []byte(`"email":"bob@example.com"`)) || !bytes.Contains(r.body, []byte(`"anonymous_ids":["anon-bob"]`)) {
		t.Errorf("email-only contact: %s", r.body)
	}
}

func TestBadRequests(t *testing.T) {
	h := newHarness(t, nil)
	long := strings.Repeat("x", MaxIDLen+1)
	tests := []struct {
		name, target string
		wantMsg      string // substring of the message
	}{
		{"empty id", "/v1/contacts/", "contact id is empty"},
		{"too long id", "/v1/contacts/" + long, "257 bytes long; the limit is 256"},
		{"too long after decoding", "/v1/contacts/" + strings.Repeat("%41", MaxIDLen+1), "the limit is 256"},
		{"NUL", "/v1/contacts/a%00b", "control character at byte 1"},
		{"newline", "/v1/contacts/a%0A", "control character"},
		{"DEL", "/v1/contacts/a%7F", "control character"},
		{"C1 control", "/v1/contacts/a%C2%85", "control character"},
		{"invalid UTF-8", "/v1/contacts/a%FFb", "not valid UTF-8"},
		{"truncated UTF-8", "/v1/contacts/a%E2%82", "not valid UTF-8"},
		{"bad percent", "/v1/contacts/a%zz", "percent-encoding"},
		{"truncated percent", "/v1/contacts/a%4", "percent-encoding"},
		{"neither param", "/v1/contacts", "exactly one"},
		{"only other params", "/v1/contacts?id=42", "exactly one"},
		{"both params", "/v1/contacts?email=a@b.c&anonymous_id=x", "not both"},
		{"repeated email", "/v1/contacts?email=a@b.c&email=d@e.f", "repeated"},
		{"repeated anonymous_id", "/v1/contacts?anonymous_id=x&anonymous_id=x", "repeated"},
		{"empty email", "/v1/contacts?email=", "email is empty"},
		{"blank email", "/v1/contacts?email=%C2%A0", "email is blank"},
		{"empty anonymous_id", "/v1/contacts?anonymous_id", "anonymous_id is empty"},
		{"too long email", "/v1/contacts?email=" + long, "the limit is 256"},
		{"control char in query", "/v1/contacts?anonymous_id=a%01", "control character"},
		{"invalid UTF-8 in query", "/v1/contacts?email=%FF@x", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := checkError(t, h.get(t, tt.target), fasthttp.StatusBadRequest, "bad_request")
			if !strings.Contains(e.Error.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", e.Error.Message, tt.wantMsg)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	h := newHarness(t, nil)
	for _, target := range []string{
		"/v1/contacts/nobody",
		"/v1/contacts/nobody@example.com",
		"/v1/contacts?email=nobody@example.com",
		"/v1/contacts?anonymous_id=nobody",
		"/",
		"/v1",
		"/v1/contacts/42/extra",
		"/v1/contacts/x/y", // unencoded '/' is two segments: no route
		"/healthz/",
		"/v1/../healthz",
		"/V1/contacts/42",
	} {
		t.Run(target, func(t *testing.T) {
			checkError(t, h.get(t, target), fasthttp.StatusNotFound, "not_found")
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := newHarness(t, nil)
	for _, tt := range []struct{ method, target, allow string }{
		{"POST", "/v1/contacts/42", "GET, HEAD, DELETE"},
		{"PUT", "/v1/contacts/42", "GET, HEAD, DELETE"},
		{"PATCH", "/v1/contacts/42", "GET, HEAD, DELETE"},
		{"DELETE", "/v1/contacts/42/export", "GET, HEAD"},
		{"POST", "/v1/contacts?email=a@b.c", "GET, HEAD"},
		{"DELETE", "/v1/contacts?email=a@b.c", "GET, HEAD"},
		{"PATCH", "/healthz", "GET, HEAD"},
		{"OPTIONS", "/readyz", "GET, HEAD"},
		{"POST", "/metrics", "GET, HEAD"},
	} {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			r := h.do(t, tt.method, tt.target, "", []byte(`{}`))
			checkError(t, r, fasthttp.StatusMethodNotAllowed, "method_not_allowed")
			if allow := string(r.header.Peek(fasthttp.HeaderAllow)); allow != tt.allow {
				t.Errorf("Allow = %q, want %q", allow, tt.allow)
			}
		})
	}
}

func TestHead(t *testing.T) {
	h := newHarness(t, nil)
	r := h.do(t, fasthttp.MethodHead, "/v1/contacts/42", "", nil)
	if r.status != 200 || len(r.body) != 0 {
		t.Errorf("HEAD: status %d, body %q", r.status, r.body)
	}
	if r.header.ContentLength() <= 0 {
		t.Errorf("HEAD: Content-Length = %d, want the GET body's length", r.header.ContentLength())
	}
}

// TestPayloadTooLarge checks that a body over MaxRequestBodySize is refused
// with a JSON 413 before routing: on an existing route with a method it
// does not allow, on GET, on an unknown route, and with a chunked body
// whose size is not announced.
func TestPayloadTooLarge(t *testing.T) {
	h := newHarness(t, nil)
	big := bytes.Repeat([]byte("x"), 2<<20)
	chunked := func() []byte {
		var b bytes.Buffer
		for range 40 {
			chunk := bytes.Repeat([]byte("y"), 64<<10)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(chunk), chunk)
		}
		b.WriteString("0\r\n\r\n")
		return b.Bytes()
	}()
	tests := []struct {
		name, method, target, extra string
		body                        []byte
	}{
		{"POST existing route", "POST", "/v1/contacts/x", "", big},
		{"GET with body", "GET", "/v1/contacts/42", "", big},
		{"unknown route", "POST", "/nowhere", "", big},
		{"chunked", "POST", "/v1/contacts/x", "Transfer-Encoding: chunked\r\n", chunked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := checkError(t, h.do(t, tt.method, tt.target, tt.extra, tt.body), fasthttp.StatusRequestEntityTooLarge, "payload_too_large")
			if !strings.Contains(e.Error.Message, strconv.Itoa(DefaultMaxRequestBodySize)) {
				t.Errorf("message %q does not state the limit", e.Error.Message)
			}
		})
	}
	// A body within the limit reaches routing.
	checkError(t, h.do(t, "POST", "/v1/contacts/x", "", bytes.Repeat([]byte("x"), 1000)), fasthttp.StatusMethodNotAllowed, "method_not_allowed")
}

func TestMalformedRequest(t *testing.T) {
	h := newHarness(t, nil)
	conn, err := h.ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(conn)); err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode(), body: resp.Body(), header: new(fasthttp.ResponseHeader)}
	resp.Header.CopyTo(r.header)
	checkError(t, r, fasthttp.StatusBadRequest, "bad_request")
}

func TestNotReady(t *testing.T) {
	h := newHarness(t, nil)
	h.setReady(errors.New("restoring partition 3 from the changelog"))
	for _, target := range []string{"/readyz", "/v1/contacts/42", "/v1/contacts?email=ann@example.com", "/v1/contacts/nobody"} {
		t.Run(target, func(t *testing.T) {
			r := h.get(t, target)
			e := checkError(t, r, fasthttp.StatusServiceUnavailable, "not_ready")
			if e.Error.Message != "restoring partition 3 from the changelog" {
				t.Errorf("message = %q", e.Error.Message)
			}
			if ra := string(r.header.Peek(fasthttp.HeaderRetryAfter)); ra == "" {
				t.Error("no Retry-After header")
			}
		})
	}
	// Liveness does not depend on readiness.
	if r := h.get(t, "/healthz"); r.status != 200 || string(r.body) != `{"status":"ok"}` {
		t.Errorf("/healthz while not ready: %d %s", r.status, r.body)
	}
	h.setReady(nil)
	if r := h.get(t, "/readyz"); r.status != 200 || string(r.body) != `{"status":"ready"}` {
		t.Errorf("/readyz when ready: %d %s", r.status, r.body)
	}
	if r := h.get(t, "/v1/contacts/42"); r.status != 200 {
		t.Errorf("/v1/contacts/42 when ready: %d %s", r.status, r.body)
	}
}

func TestInternalErrors(t *testing.T) {
	t.Run("alias loop", func(t *testing.T) {
		h := newHarness(t, nil)
		// A damaged identity graph: a:loop1 → a:loop2 → a:loop1.
		putAlias(t, h.srv.cfg.Store, "a:loop1", "a:loop2")
		putAlias(t, h.srv.cfg.Store, "a:loop2", "a:loop1")
		e := checkError(t, h.get(t, "/v1/contacts/loop1"), fasthttp.StatusInternalServerError, "internal")
		if strings.Contains(e.Error.Message, "loop1") {
			t.Errorf("internal error leaks details: %q", e.Error.Message)
		}
	})
	t.Run("panic", func(t *testing.T) {
		h := newHarness(t, func(c *Config) {
			c.PartitionOf = func(string) int32 { panic("placement exploded") }
		})
		checkError(t, h.get(t, "/v1/contacts/42"), fasthttp.StatusInternalServerError, "internal")
		// The server survives.
		if r := h.get(t, "/healthz"); r.status != 200 {
			t.Errorf("/healthz after a panic: %d", r.status)
		}
	})
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, nil)
	h.get(t, "/v1/contacts/42")
	h.get(t, "/v1/contacts/42")
	h.get(t, "/v1/contacts/nobody")
	h.get(t, "/no/such/path")
	h.get(t, "/v1/contacts?email=ann@example.com")
	h.do(t, "POST", "/v1/contacts/42", "", bytes.Repeat([]byte("x"), 2<<20))

	r := h.get(t, "/metrics")
	if r.status != 200 {
		t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
	body := string(r.body)
	for _, want := range []string{
		`kairos_api_requests_total{code="200",route="/v1/contacts/{id}"} 2`,
		`kairos_api_requests_total{code="404",route="/v1/contacts/{id}"} 1`,
		`kairos_api_requests_total{code="404",route="unmatched"} 1`,
		`kairos_api_requests_total{code="200",route="/v1/contacts"} 1`,
		`kairos_api_requests_total{code="413",route="/v1/contacts/{id}"} 1`,
		`kairos_api_request_duration_seconds_bucket{route="/v1/contacts/{id}",le="5e-05"}`,
		`kairos_api_request_duration_seconds_count{route="/v1/contacts/{id}"} 3`,
		`kairos_api_inflight_requests 1`, // the /metrics request itself
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, leak := range []string{"route=\"/v1/contacts/42\"", "nobody", "/no/such/path"} {
		if strings.Contains(body, leak) {
			t.Errorf("/metrics contains the raw path %s", leak)
		}
	}

	t.Run("no gatherer", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.Gatherer, c.Registerer = nil, nil })
		checkError(t, h.get(t, "/metrics"), fasthttp.StatusNotFound, "not_found")
		if r := h.get(t, "/v1/contacts/42"); r.status != 200 {
			t.Errorf("without metrics: %d", r.status)
		}
	})
	t.Run("shared registry", func(t *testing.T) {
		cfg := Config{Store: fixture(t), PartitionOf: testPartitionOf, Registerer: h.reg}
		if _, err := New(cfg); err != nil {
			t.Errorf("second server on the same registry: %v", err)
		}
	})
}

func TestNewValidates(t *testing.T) {
	st := fixture(t)
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no store", Config{PartitionOf: testPartitionOf}, "Store"},
		{"no placement", Config{Store: st}, "PartitionOf"},
		{"negative body size", Config{Store: st, PartitionOf: testPartitionOf, MaxRequestBodySize: -1}, "MaxRequestBodySize"},
		{"negative timeout", Config{Store: st, PartitionOf: testPartitionOf, IdleTimeout: -time.Second}, "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want ErrInvalidConfig naming %s", err, tt.want)
			}
		})
	}
}

// TestRun serves on a real loopback port and shuts down on cancel.
func TestRun(t *testing.T) {
	srv, err := New(Config{
		Addr:        "127.0.0.1:0",
		Store:       fixture(t),
		PartitionOf: testPartitionOf,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Addr() != "" {
		t.Errorf("Addr before Run = %q", srv.Addr())
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Listening():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	addr := srv.Addr()
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		t.Fatalf("Addr = %q", addr)
	}
	c := &fasthttp.Client{}
	for _, tt := range []struct {
		path string
		code int
	}{{"/healthz", 200}, {"/readyz", 200}, {"/v1/contacts/42", 200}, {"/metrics", 404}} {
		status, body, err := c.Get(nil, "http://"+addr+tt.path)
		if err != nil || status != tt.code || !json.Valid(body) {
			t.Errorf("GET %s: %d %s %v", tt.path, status, body, err)
		}
	}
	if err := srv.Run(ctx); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run: %v, want ErrAlreadyRunning", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, _, err := c.Get(nil, "http://"+addr+"/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestRunListenError(t *testing.T) {
	srv, err := New(Config{Addr: "256.0.0.1:0", Store: fixture(t), PartitionOf: testPartitionOf})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("Run on a bad address: %v", err)
	}
}

// FuzzContactPath throws arbitrary request targets at the handler: it must
// never panic and always answer a JSON body with a 2xx or 4xx status.
func FuzzContactPath(f *testing.F) {
	for _, seed := range []string{
		"/v1/contacts/42", "/v1/contacts/ann@example.com", "/v1/contacts/anon-2", "/v1/contacts/x%2Fy",
		"/v1/contacts/", "/v1/contacts/%", "/v1/contacts/%zz", "/v1/contacts/%00", "/v1/contacts/%FF%FE",
		"/v1/contacts/%E2%80%A8", "/v1/contacts?email=ann@example.com", "/v1/contacts?anonymous_id=anon-1",
		"/v1/contacts?email=a&anonymous_id=b", "/v1/contacts?email=%20%20", "/v1/contacts?email&email",
		"/healthz", "/readyz", "/metrics", "/v1/contacts/a/b", "//v1/contacts/42", "http://host/v1/contacts/42",
		"/v1/contacts/42?x=1#frag", "*", "",
	} {
		f.Add(seed)
	}
	st := fixture(f)
	srv, err := New(Config{Store: st, PartitionOf: testPartitionOf, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	handle := srv.Handler()
	f.Fuzz(func(t *testing.T, target string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(fasthttp.MethodGet)
		ctx.Request.SetRequestURI(target)
		handle(&ctx)
		status := ctx.Response.StatusCode()
		if status < 200 || status >= 500 || (status >= 300 && status < 400) {
			t.Fatalf("%q: status %d: %s", target, status, ctx.Response.Body())
		}
		if !json.Valid(ctx.Response.Body()) {
			t.Fatalf("%q: body is not JSON: %q", target, ctx.Response.Body())
		}
	})
}

func BenchmarkGetContact(b *testing.B) {
	st := fixture(b)
	srv, err := New(Config{Store: st, PartitionOf: testPartitionOf, Registerer: prometheus.NewRegistry(),
		Now: func() time.Time { return time.UnixMilli(t0 + day) }})
	if err != nil {
		b.Fatal(err)
	}
	handle := srv.Handler()
	for _, bc := range []struct{ name, target string }{
		{"id", "/v1/contacts/42"},
		{"email-alias", "/v1/contacts?email=ann@example.com"},
		{"not-found", "/v1/contacts/nobody"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(fasthttp.MethodGet)
			ctx.Request.SetRequestURI(bc.target)
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				handle(&ctx)
			}
			if s := ctx.Response.StatusCode(); s != 200 && s != 404 {
				b.Fatalf("status %d: %s", s, ctx.Response.Body())
			}
			b.SetBytes(int64(len(ctx.Response.Body())))
		})
	}
}

// BenchmarkGetContactHTTP is the same read through the whole fasthttp stack
// (request parsing, response writing) over an in-memory connection.
func BenchmarkGetContactHTTP(b *testing.B) {
	st := fixture(b)
	srv, err := New(Config{Store: st, PartitionOf: testPartitionOf, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	c := &fasthttp.HostClient{Addr: "kairos.test", Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://kairos.test/v1/contacts/42")
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatalf("%v %d", err, resp.StatusCode())
		}
	}
}

func BenchmarkRenderContact(b *testing.B) {
	c := annContact()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendContact(buf[:0], c.Key, c, t0+day)
	}
	b.SetBytes(int64(len(buf)))
}
