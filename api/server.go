package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Server is the HTTP API. Create it with New and start it with Run.
type Server struct {
	cfg      Config
	srv      *fasthttp.Server
	metrics  *metrics
	guard    *guard                  // keys, scopes, CORS, rate limits (cors.go)
	promh    fasthttp.RequestHandler // nil without a Gatherer
	scratch  sync.Pool               // *scratch
	started  atomic.Bool
	listened chan struct{}
	addr     atomic.Pointer[string]

	// next-best-action and send time (nba.go, sendtime.go)
	nbaMetrics *nbaMetrics
	nbaScratch sync.Pool // *nbaScratch
	pubBufs    sync.Pool // *pubBuf
	zones      sync.Map  // time zone name → *time.Location
}

// New builds a Server from cfg, applying defaults (see Config) and
// registering the API's metrics on cfg.Registerer.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	g, err := newGuard(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		metrics:  m,
		guard:    g,
		listened: make(chan struct{}),
	}
	s.scratch.New = func() any { return new(scratch) }
	if err := s.initNBA(); err != nil { // nba.go
		return nil, err
	}
	if cfg.Gatherer != nil {
		s.promh = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog:      slogPrintln{cfg.Logger},
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}
	s.srv = &fasthttp.Server{
		Handler:                      s.handle,
		ErrorHandler:                 s.handleError,
		MaxRequestBodySize:           cfg.MaxRequestBodySize,
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		NoDefaultServerHeader:        true,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       slogPrintf{cfg.Logger},
	}
	cfg.ConfigureServer(s.srv)
	return s, nil
}

// Run listens on Config.Addr and serves until ctx is cancelled, then shuts
// down gracefully: it stops accepting, lets requests in flight finish for up
// to Config.ShutdownTimeout and closes idle keep-alive connections. It
// returns nil after a clean stop, an error if it cannot listen, if serving
// fails, or if connections are still open when the shutdown timeout ends.
// A Server runs once.
func (s *Server) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w; choose a free address (port 0 picks one)", s.cfg.Addr, err)
	}
	return s.serve(ctx, ln)
}

// serve serves on ln until ctx is cancelled; Run without the listening.
// Tests use it with an in-memory listener.
func (s *Server) serve(ctx context.Context, ln net.Listener) error {
	addr := ln.Addr().String()
	s.addr.Store(&addr)
	close(s.listened)
	s.cfg.Logger.Info("api listening", "addr", addr)

	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("api: serve on %s: %w", addr, err)
	case <-ctx.Done():
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	shutdownErr := s.srv.ShutdownWithContext(sctx)
	// Shutdown closes the listeners Serve registered; if the goroutine
	// above had not reached Serve yet, it would register the listener
	// afterwards and accept forever. Closing it here makes Serve return
	// either way (a second close is harmless).
	_ = ln.Close()
	serveErr := <-served // Serve returns once the listener is closed
	if shutdownErr != nil {
		shutdownErr = fmt.Errorf("api: graceful shutdown on %s: %d connections still open after %s: %w",
			addr, s.srv.GetOpenConnectionsCount(), s.cfg.ShutdownTimeout, shutdownErr)
	}
	if serveErr != nil {
		serveErr = fmt.Errorf("api: serve on %s: %w", addr, serveErr)
	}
	if err := errors.Join(shutdownErr, serveErr); err != nil {
		return err
	}
	s.cfg.Logger.Info("api stopped", "addr", addr)
	return nil
}

// Listening is closed once Run listens. If Run fails to listen it stays
// open, so wait on it together with Run's result.
func (s *Server) Listening() <-chan struct{} { return s.listened }

// Addr returns the address Run listens on (with the real port when
// Config.Addr had port 0), or "" before it listens.
func (s *Server) Addr() string {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// Handler returns the request handler, for serving with another
// fasthttp.Server (tests with fasthttputil.NewInmemoryListener). Such a
// server does not have this one's body-size limit and error mapping: the
// 413 and malformed-request answers come from the fasthttp.Server that Run
// configures.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// route is a route pattern: the metric label and the dispatch key.
type route uint8

const (
	routeUnmatched route = iota
	routeHealthz
	routeReadyz
	routeMetrics
	routeContact  // /v1/contacts/{id}
	routeContacts // /v1/contacts?email=|anonymous_id=
	routeSegments // /v1/segments
	routeChurn    // /v1/models/churn
	routeExport   // /v1/contacts/{id}/export
	routeOpenAPI  // /openapi.json
	routeNBA      // /v1/contacts/{id}/next-best-action (nba.go)
	routeSendTime // /v1/contacts/{id}/send-time (sendtime.go)
	routeOutcome  // /v1/decisions/{decision_id}/outcome (nba.go)
	routeNBAModel // /v1/models/nba (nba.go)
	routeTimers   // /v1/contacts/{id}/timers (triggers.go)
	routePressure // /v1/contacts/{id}/pressure (triggers.go)
	routeReload   // POST /v1/admin/reload (learned.go)
	numRoutes
)

// String returns the route pattern, used as the "route" label.
func (r route) String() string {
	switch r {
	case routeHealthz:
		return "/healthz"
	case routeReadyz:
		return "/readyz"
	case routeMetrics:
		return "/metrics"
	case routeContact:
		return "/v1/contacts/{id}"
	case routeContacts:
		return "/v1/contacts"
	case routeSegments:
		return "/v1/segments"
	case routeChurn:
		return "/v1/models/churn"
	case routeExport:
		return "/v1/contacts/{id}/export"
	case routeOpenAPI:
		return "/openapi.json"
	case routeNBA:
		return "/v1/contacts/{id}/next-best-action"
	case routeSendTime:
		return "/v1/contacts/{id}/send-time"
	case routeOutcome:
		return "/v1/decisions/{decision_id}/outcome"
	case routeNBAModel:
		return "/v1/models/nba"
	case routeTimers:
		return "/v1/contacts/{id}/timers"
	case routePressure:
		return "/v1/contacts/{id}/pressure"
	case routeReload:
		return "/v1/admin/reload"
	}
	return "unmatched"
}

const contactPrefix = "/v1/contacts/"

// matchRoute maps the raw (not yet percent-decoded) request path to its
// route and, for /v1/contacts/{id}, the raw id segment. Matching the raw
// path keeps an id containing an encoded '/' (%2F) one segment, and means
// "/v1/../healthz" is not a route.
func matchRoute(path []byte) (route, []byte) {
	switch string(path) {
	case "/healthz":
		return routeHealthz, nil
	case "/readyz":
		return routeReadyz, nil
	case "/metrics":
		return routeMetrics, nil
	case "/v1/contacts":
		return routeContacts, nil
	case "/v1/segments":
		return routeSegments, nil
	case "/v1/models/churn":
		return routeChurn, nil
	case "/openapi.json":
		return routeOpenAPI, nil
	case "/v1/models/nba":
		return routeNBAModel, nil
	case "/v1/admin/reload":
		return routeReload, nil
	}
	if r, seg := matchDecisionRoute(path); r != routeUnmatched { // nba.go
		return r, seg
	}
	if len(path) >= len(contactPrefix) && string(path[:len(contactPrefix)]) == contactPrefix {
		seg := path[len(contactPrefix):]
		sub := []byte(nil)
		if i := bytes.IndexByte(seg, '/'); i >= 0 {
			seg, sub = seg[:i], seg[i+1:]
			if len(seg) == 0 {
				return routeUnmatched, nil
			}
			switch string(sub) {
			case "export":
				return routeExport, seg
			case "next-best-action":
				return routeNBA, seg
			case "send-time":
				return routeSendTime, seg
			case "timers":
				return routeTimers, seg
			case "pressure":
				return routePressure, seg
			}
			return routeUnmatched, nil
		}
		return routeContact, seg
	}
	return routeUnmatched, nil
}

const (
	allowGet       = "GET, HEAD"
	allowGetDelete = "GET, HEAD, DELETE"
	allowPost      = "POST"
)

// allow returns the methods a route answers, for the Allow header (and
// for the test that holds the OpenAPI document to the server).
func (r route) allow() string {
	if r == routeContact {
		return allowGetDelete
	}
	if r == routeOutcome || r == routeReload {
		return allowPost
	}
	return allowGet
}

// handle is the fasthttp handler: it routes, checks the method and
// records metrics. fasthttp does not recover panics, so a panic in a
// handler is answered 500 and logged here instead of ending the process.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	s.metrics.begin()
	r, seg := matchRoute(ctx.URI().PathOriginal())
	defer func() {
		if p := recover(); p != nil {
			s.cfg.Logger.Error("api: handler panicked", "route", r.String(), "panic", p, "stack", string(debug.Stack()))
			ctx.Response.Reset()
			writeError(ctx, fasthttp.StatusInternalServerError, "internal", "internal error; the server log has the details")
		}
		s.metrics.end(r, ctx.Response.StatusCode(), time.Since(start))
	}()

	if !s.guard.admit(ctx) {
		return
	}
	if r == routeUnmatched {
		writeError(ctx, fasthttp.StatusNotFound, "not_found", "no such route; /openapi.json lists the routes")
		return
	}
	if r == routeContact && ctx.IsDelete() {
		s.deleteContact(ctx, seg)
		return
	}
	if r == routeReload {
		s.adminReload(ctx)
		return
	}
	if r == routeOutcome && ctx.IsPost() {
		s.postOutcome(ctx, seg) // nba.go
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() || r == routeOutcome {
		allow := r.allow()
		ctx.Response.Header.Set(fasthttp.HeaderAllow, allow)
		writeError(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "method not allowed; use "+allow)
		return
	}
	switch r {
	case routeHealthz:
		writeJSON(ctx, fasthttp.StatusOK, `{"status":"ok"}`)
	case routeReadyz:
		if err := s.cfg.Ready(); err != nil {
			writeNotReady(ctx, err)
			return
		}
		writeJSON(ctx, fasthttp.StatusOK, `{"status":"ready"}`)
	case routeMetrics:
		if s.promh == nil {
			writeError(ctx, fasthttp.StatusNotFound, "not_found", "metrics are not enabled on this server")
			return
		}
		s.promh(ctx)
	case routeContact:
		s.getContactByID(ctx, seg)
	case routeContacts:
		s.getContactByQuery(ctx)
	case routeSegments:
		s.getSegments(ctx)
	case routeChurn:
		s.getChurnModel(ctx)
	case routeExport:
		s.exportContact(ctx, seg)
	case routeNBA:
		s.getNextBestAction(ctx, seg) // nba.go
	case routeSendTime:
		s.getSendTime(ctx, seg) // sendtime.go
	case routeNBAModel:
		s.getNBAModel(ctx) // nba.go
	case routeTimers:
		s.getTimers(ctx, seg)
	case routePressure:
		s.getPressure(ctx, seg)
	case routeOpenAPI:
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetContentType("application/json")
		ctx.Response.SetBodyRaw(openAPIDoc)
	}
}

// handleError answers requests fasthttp could not read: an oversized body
// (413, before routing, so whatever the route or method), headers too
// large, a read timeout or a malformed request.
func (s *Server) handleError(ctx *fasthttp.RequestCtx, err error) {
	var (
		status int
		code   string
		msg    string
		small  *fasthttp.ErrSmallBuffer
		netErr net.Error
	)
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, code = fasthttp.StatusRequestEntityTooLarge, "payload_too_large"
		msg = "request body is larger than the limit of " + strconv.Itoa(s.cfg.MaxRequestBodySize) + " bytes"
	case errors.As(err, &small):
		status, code = fasthttp.StatusRequestHeaderFieldsTooLarge, "header_too_large"
		msg = "request headers are too large"
	case errors.As(err, &netErr) && netErr.Timeout():
		status, code = fasthttp.StatusRequestTimeout, "timeout"
		msg = "the request was not received within " + s.cfg.ReadTimeout.String()
	default:
		status, code = fasthttp.StatusBadRequest, "bad_request"
		msg = "malformed HTTP request: " + err.Error()
	}
	writeError(ctx, status, code, msg)
	r, _ := matchRoute(ctx.URI().PathOriginal())
	s.metrics.count(r, status)
}

// writeJSON answers with a constant JSON body.
func writeJSON(ctx *fasthttp.RequestCtx, status int, body string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(body)
}

// writeError answers with the error document
// {"error":{"code":"...","message":"..."}}.
func writeError(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	// Build the body in the response's own buffer: no copy, no allocation
	// once the buffer has grown.
	b := ctx.Response.SwapBody(nil)[:0]
	b = append(b, `{"error":{"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, "}}"...)
	ctx.Response.SwapBody(b)
}

// writeNotReady answers 503 not_ready with the readiness error's text.
func writeNotReady(ctx *fasthttp.RequestCtx, err error) {
	msg := err.Error()
	if msg == "" {
		msg = "not ready"
	}
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
	writeError(ctx, fasthttp.StatusServiceUnavailable, "not_ready", msg)
}

// slogPrintf adapts fasthttp's Logger to slog.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) {
	p.l.Warn(fmt.Sprintf(format, args...), "component", "fasthttp")
}

// slogPrintln adapts promhttp's ErrorLog to slog.
type slogPrintln struct{ l *slog.Logger }

func (p slogPrintln) Println(v ...any) {
	p.l.Warn(fmt.Sprint(v...), "component", "promhttp")
}
