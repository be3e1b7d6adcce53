//go:build unix

package api

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/scoring"
)

// BenchmarkRenderScores is the read-time cost of the scores object alone:
// Models.Evaluate and its JSON.
func BenchmarkRenderScores(b *testing.B) {
	m := scoringModels(b, latestReport().Population).Load()
	c := buyerContact(m)
	top := make([]lead.Contribution, 0, m.Lead.Top())
	var buf []byte
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		buf, top = appendScores(buf[:0], m, c, scoresNow, top)
	}
	reportCPU(b, cpu)
	b.SetBytes(int64(len(buf)))
}

// BenchmarkGetContactScores reads a customer's profile through the
// handler (lookup, decode, render) without and with the scores object.
func BenchmarkGetContactScores(b *testing.B) {
	st := fixture(b)
	models := scoringModels(b, latestReport().Population)
	putContact(b, st, buyerContact(models.Load()))
	for _, bc := range []struct {
		name   string
		models *atomic.Pointer[scoring.Models]
	}{{"without", nil}, {"with", models}} {
		b.Run(bc.name, func(b *testing.B) {
			srv, err := New(Config{Store: st, PartitionOf: testPartitionOf, Models: bc.models, Population: &fakePopulation{latest: latestReport()},
				Now: func() time.Time { return time.UnixMilli(scoresNow) }, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			handle := srv.Handler()
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(fasthttp.MethodGet)
			ctx.Request.SetRequestURI("/v1/contacts/buyer")
			// Warm the scratch pool so that its first growth is not
			// counted.
			handle(&ctx)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				ctx.Response.Reset()
				handle(&ctx)
			}
			reportCPU(b, cpu)
			if s := ctx.Response.StatusCode(); s != 200 || (bc.models != nil) != strings.Contains(string(ctx.Response.Body()), `"scores"`) {
				b.Fatalf("status %d: %s", s, ctx.Response.Body())
			}
			b.SetBytes(int64(len(ctx.Response.Body())))
		})
	}
}

// cpuTime is the process's user and system CPU time: on a shared machine
// it measures the work per operation where wall time also counts the
// time other processes held the cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
