package api

import (
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/models/scoring"
)

// report returns the population report for ?at= (default: the latest);
// nil when the request was answered.
func (s *Server) report(ctx *fasthttp.RequestCtx) *scoring.Report {
	if s.cfg.Population == nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "model_unavailable", "population models are not enabled on this server")
		return nil
	}
	at, explicit, ok := s.evalInstant(ctx)
	if !ok {
		return nil
	}
	if err := s.cfg.Ready(); err != nil {
		writeNotReady(ctx, err)
		return nil
	}
	l := s.cfg.Population.Latest()
	if !explicit || (l != nil && at >= l.Summary.At) {
		if l == nil {
			ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "5")
			writeError(ctx, fasthttp.StatusServiceUnavailable, "model_unavailable", "the first population refresh has not finished yet")
			return nil
		}
		return l
	}
	r, err := s.cfg.Population.At(ctx, at)
	if err != nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "model_unavailable", "the population models for that instant could not be fitted: "+err.Error())
		return nil
	}
	return r
}

// getSegments serves GET /v1/segments: customers per RFM segment and
// contacts per lifecycle stage at the report's instant.
func (s *Server) getSegments(ctx *fasthttp.RequestCtx) {
	r := s.report(ctx)
	if r == nil {
		return
	}
	sum := r.Summary
	b := make([]byte, 0, 1024)
	b = append(b, `{"at":`...)
	b = appendTime(b, sum.At)
	b = append(b, `,"contacts":`...)
	b = strconv.AppendUint(b, sum.Contacts, 10)
	b = append(b, `,"customers":`...)
	b = strconv.AppendUint(b, r.Population.Customers, 10)
	b = append(b, `,"segments":{`...)
	for i, seg := range rfm.Segments() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, seg.String())
		b = append(b, ':')
		b = strconv.AppendUint(b, sum.Segments[seg], 10)
	}
	b = append(b, `},"stages":{`...)
	for st := lead.StageVisitor; int(st) < scoring.NumStages; st++ {
		if st > lead.StageVisitor {
			b = append(b, ',')
		}
		b = appendJSONString(b, st.String())
		b = append(b, ':')
		b = strconv.AppendUint(b, sum.Stages[st], 10)
	}
	b = append(b, `},"partitions":`...)
	b = strconv.AppendInt(b, int64(r.Population.Partitions), 10)
	b = append(b, `,"partitions_total":`...)
	b = strconv.AppendInt(b, int64(r.Population.PartitionsTotal), 10)
	b = append(b, '}')
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// getChurnModel serves GET /v1/models/churn: the fitted parameters with
// their time unit, the population they were fitted on, and the fit.
func (s *Server) getChurnModel(ctx *fasthttp.RequestCtx) {
	r := s.report(ctx)
	if r == nil {
		return
	}
	p := r.Population
	unit := churn.Week
	if m := s.cfg.Models; m != nil && m.Load() != nil {
		unit = m.Load().Config.Unit
	}
	b := make([]byte, 0, 1024)
	b = append(b, `{"at":`...)
	b = appendTime(b, p.At.UnixMilli())
	b = append(b, `,"time_unit":`...)
	b = appendJSONString(b, unitName(unit))
	b = append(b, `,"time_unit_days":`...)
	b = appendScore(b, float64(unit)/float64(24*time.Hour))
	b = append(b, `,"customers":`...)
	b = strconv.AppendInt(b, int64(r.Summary.Churn.Len()), 10)
	b = append(b, `,"repeat_customers":`...)
	b = strconv.AppendInt(b, int64(r.Summary.Churn.RepeatCustomers()), 10)
	b = append(b, `,"partitions":`...)
	b = strconv.AppendInt(b, int64(p.Partitions), 10)
	b = append(b, `,"partitions_total":`...)
	b = strconv.AppendInt(b, int64(p.PartitionsTotal), 10)
	b = append(b, `,"fitted_at":`...)
	b = appendTime(b, p.FittedAt.UnixMilli())
	b = append(b, `,"scan_seconds":`...)
	b = appendScore(b, r.Scan.Seconds())
	b = append(b, `,"models":[{"name":"bgnbd","description":"BG/NBD (Fader, Hardie & Lee 2005): P(alive) and expected purchases","fitted":`...)
	b = strconv.AppendBool(b, p.BGFitted)
	if p.BGFitted {
		b = append(b, `,"parameters":{"r":`...)
		b = appendParam(b, p.BG.R)
		b = append(b, `,"alpha":`...)
		b = appendParam(b, p.BG.Alpha)
		b = append(b, `,"a":`...)
		b = appendParam(b, p.BG.A)
		b = append(b, `,"b":`...)
		b = appendParam(b, p.BG.B)
		b = append(b, '}')
		b = appendFitInfo(b, p.BGInfo)
	} else {
		b = appendWhyNot(b, r.BGErr)
	}
	b = append(b, `},{"name":"gamma_gamma","description":"Gamma-Gamma (Fader, Hardie & Lee 2005): expected order value and CLV","fitted":`...)
	b = strconv.AppendBool(b, p.GGFitted)
	if p.GGFitted {
		b = append(b, `,"parameters":{"p":`...)
		b = appendParam(b, p.GG.P)
		b = append(b, `,"q":`...)
		b = appendParam(b, p.GG.Q)
		b = append(b, `,"gamma":`...)
		b = appendParam(b, p.GG.Gamma)
		b = append(b, '}')
		b = appendFitInfo(b, p.GGInfo)
	} else {
		b = appendWhyNot(b, r.GGErr)
	}
	b = append(b, "}]}"...)
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func unitName(d time.Duration) string {
	switch d {
	case churn.Week:
		return "week"
	case 24 * time.Hour:
		return "day"
	}
	return d.String()
}

// appendParam appends a parameter with full precision: data scientists
// compare them with their own fits.
func appendParam(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', 10, 64)
}

func appendFitInfo(b []byte, fi churn.FitInfo) []byte {
	b = append(b, `,"log_likelihood":`...)
	b = appendParam(b, fi.LogLikelihood)
	b = append(b, `,"iterations":`...)
	b = strconv.AppendInt(b, int64(fi.Iterations), 10)
	b = append(b, `,"converged":`...)
	b = strconv.AppendBool(b, fi.Converged)
	b = append(b, `,"fit_seconds":`...)
	return appendScore(b, fi.Duration.Seconds())
}

func appendWhyNot(b []byte, err error) []byte {
	b = append(b, `,"reason":`...)
	switch {
	case err == nil:
		return append(b, "null"...)
	case errors.Is(err, churn.ErrNotEnoughData):
		return appendJSONString(b, "not enough data: "+err.Error())
	}
	return appendJSONString(b, err.Error())
}
