package api

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/models/torch"
)

// BenchmarkGetContactLearned is the profile read with scores, without
// and with bring-your-own models: "none" (no registry), "compute" (the
// in-memory models: the cost of features.Compute and the rendering) and,
// in the torch build, "torchscript" (the linear fixture of models/torch
// through libtorch, one forward pass per request).
func BenchmarkGetContactLearned(b *testing.B) {
	st := fixture(b)
	models := scoringModels(b, scoring.Population{})
	cases := []struct {
		name    string
		learned LearnedModels
	}{{"none", nil}, {"compute", newMemModels()}}
	dir := b.TempDir()
	pt, err := os.ReadFile("../models/torch/testdata/linear.pt")
	if err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "linear.pt"), pt, 0o644)
	os.WriteFile(filepath.Join(dir, "linear.yaml"), []byte("name: linear\nmodel: linear.pt\nfeature_version: 1\noutput: score\n"), 0o644)
	if reg, err := torch.Open(torch.Config{Dir: dir}); err == nil && len(reg.Models()) == 1 {
		defer reg.Close()
		cases = append(cases, struct {
			name    string
			learned LearnedModels
		}{"torchscript", reg})
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			srv, err := New(Config{Store: st, PartitionOf: testPartitionOf, Registerer: prometheus.NewRegistry(), Models: models,
				Learned: bc.learned, Now: func() time.Time { return time.UnixMilli(t0 + day) }})
			if err != nil {
				b.Fatal(err)
			}
			handle := srv.Handler()
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(fasthttp.MethodGet)
			ctx.Request.SetRequestURI("/v1/contacts/42")
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
