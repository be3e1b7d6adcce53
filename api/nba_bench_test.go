package api

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/propensity"
	"github.com/kairos-engine/kairos/models/sendtime"
	"github.com/kairos-engine/kairos/models/torch"
)

// BenchmarkNextBestAction measures the handler without the network, with
// the default catalogue and decisions published to a no-op producer. The
// allocation count is the contract: 0 beyond the pooled buffers (the
// contact read included, once its buffers have grown). "learned" adds a
// promoted propensity model (62 → 64 → 32 → one logit per action, wider
// than the trainer's default single layer of 32) and
// the feature vector in every decision record; "features" only the
// latter.
func BenchmarkNextBestAction(b *testing.B) {
	cat, err := nba.DefaultCatalogue()
	if err != nil {
		b.Fatal(err)
	}
	variants := []string{"posterior", "features", "learned"}
	// In the torch build, "byo" adds a TorchScript model for the cart
	// reminder (the linear fixture of models/torch) over the MLP: one
	// libtorch forward pass per decision.
	dir := b.TempDir()
	pt, err := os.ReadFile("../models/torch/testdata/linear.pt")
	if err != nil {
		b.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "linear.pt"), pt, 0o644)
	_ = os.WriteFile(filepath.Join(dir, "cart.yaml"), []byte("name: cart\nmodel: linear.pt\nfeature_version: 1\noutput: logit\naction: cart-reminder\n"), 0o644)
	reg, err := torch.Open(torch.Config{Dir: dir})
	if err == nil && len(reg.Models()) == 1 {
		defer reg.Close()
		variants = append(variants, "byo")
	}
	for _, variant := range variants {
		b.Run(variant, func(b *testing.B) {
			var n NBA
			var mlp atomic.Pointer[propensity.MLP]
			mlp.Store(benchMLP(b, cat))
			switch variant {
			case "features":
				n.LogFeatures = true
			case "learned":
				n.Propensity, n.LogFeatures = propensity.NewSource(&mlp, nil), true
			case "byo":
				n.Propensity, n.LogFeatures = propensity.NewSource(&mlp, reg), true
			}
			benchNextBestAction(b, cat, n)
		})
	}
}

// benchMLP is a propensity model of the size kairos train propensity
// makes by default, with random weights.
func benchMLP(b *testing.B, cat *nba.Catalogue) *propensity.MLP {
	rng := rand.New(rand.NewPCG(1, 2))
	dense := func(in, out int) propensity.Layer {
		l := propensity.Layer{In: in, Out: out, W: make([]float32, in*out), B: make([]float32, out)}
		for i := range l.W {
			l.W[i] = float32(rng.NormFloat64() / 8)
		}
		return l
	}
	var ids []string
	for _, a := range cat.Actions() {
		ids = append(ids, a.ID)
	}
	mean, inv := make([]float32, features.Len), make([]float32, features.Len)
	for i := range inv {
		inv[i] = 1
	}
	m, err := propensity.NewMLP(features.Version, ids, mean, inv,
		[]propensity.Layer{dense(features.Len, 64), dense(64, 32), dense(32, len(ids))})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func benchNextBestAction(b *testing.B, cat *nba.Catalogue, n NBA) {
	var pol atomic.Pointer[nba.Policy]
	pol.Store(nba.NewPolicy(cat, nil))
	var fit atomic.Pointer[sendtime.Fit]
	fit.Store(sendtime.Uniform())
	srv, err := New(Config{Store: fixture(b), PartitionOf: testPartitionOf, Registerer: prometheus.NewRegistry(),
		Now: func() time.Time { return time.UnixMilli(t0 + day) },
		NBA: NBA{Policy: &pol, Fit: &fit, Publish: func(_ string, _, _, _ []byte, done func(error)) { done(nil) },
			Propensity: n.Propensity, LogFeatures: n.LogFeatures}})
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
