package api

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/sendtime"
)

// BenchmarkNextBestAction measures the handler without the network, with
// the default catalogue and decisions published to a no-op producer. The
// allocation count is the contract: 0 beyond the pooled buffers (the
// contact read included, once its buffers have grown).
func BenchmarkNextBestAction(b *testing.B) {
	cat, err := nba.DefaultCatalogue()
	if err != nil {
		b.Fatal(err)
	}
	var pol atomic.Pointer[nba.Policy]
	pol.Store(nba.NewPolicy(cat, nil))
	var fit atomic.Pointer[sendtime.Fit]
	fit.Store(sendtime.Uniform())
	srv, err := New(Config{Store: fixture(b), PartitionOf: testPartitionOf, Registerer: prometheus.NewRegistry(),
		Now: func() time.Time { return time.UnixMilli(t0 + day) },
		NBA: NBA{Policy: &pol, Fit: &fit, Publish: func(_ string, _, _, _ []byte, done func(error)) { done(nil) }}})
	if err != nil {
		b.Fatal(err)
	}
	handle := srv.Handler()
	for _, bc := range []struct{ name, target string }{
		{"known", "/v1/contacts/42/next-best-action?placement=homepage&n=3"},
		{"unknown", "/v1/contacts/nobody/next-best-action?placement=product_page&n=3"},
		{"send-time", "/v1/contacts/42/send-time?within=24h"},
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
			if s := ctx.Response.StatusCode(); s != 200 {
				b.Fatalf("status %d: %s", s, ctx.Response.Body())
			}
		})
	}
}
