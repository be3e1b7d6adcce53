package api

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
)

// Population is where the API reads population models and counts: the
// latest refresh, or a fit at a past instant for ?at=. stream/population's
// Service implements it.
type Population interface {
	Latest() *scoring.Report
	At(ctx context.Context, at int64) (*scoring.Report, error)
}

// Bounds of ?at=: instants outside them are mistakes (a seconds value
// read as milliseconds, a year typo), not history anyone replays.
var (
	minAt = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxAt = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
)

// evalInstant returns the instant scores are evaluated at: ?at=RFC3339 or
// now. ok is false when the request was answered 400.
func (s *Server) evalInstant(ctx *fasthttp.RequestCtx) (at int64, explicit, ok bool) {
	v := ctx.QueryArgs().Peek("at")
	if len(v) == 0 {
		if ctx.QueryArgs().Has("at") {
			writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "at is empty; give an RFC 3339 instant such as 2026-01-31T12:00:00Z, or leave it out for now")
			return 0, false, false
		}
		return s.cfg.Now().UnixMilli(), false, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "at is not an RFC 3339 instant (for example 2026-01-31T12:00:00Z): "+strconv.Quote(string(v)))
		return 0, false, false
	}
	ms := t.UnixMilli()
	if ms < minAt || ms > maxAt {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "at must be between 1990-01-01 and 2200-01-01")
		return 0, false, false
	}
	return ms, true, true
}

// modelsAt returns the scoring snapshot for instant at: the current one,
// or, for an explicit past instant before the last refresh, the current
// plan with the population fitted at that instant.
func (s *Server) modelsAt(ctx context.Context, at int64, explicit bool) (*scoring.Models, error) {
	m := s.cfg.Models.Load()
	if m == nil || !explicit || s.cfg.Population == nil {
		return m, nil
	}
	l := s.cfg.Population.Latest()
	if l == nil || at >= l.Summary.At {
		return m, nil
	}
	r, err := s.cfg.Population.At(ctx, at)
	if err != nil {
		return nil, err
	}
	return m.WithPopulation(r.Population), nil
}

// appendScores appends ,"scores":{...} for c evaluated at at.
func appendScores(dst []byte, m *scoring.Models, c *state.Contact, at int64, top []lead.Contribution) ([]byte, []lead.Contribution) {
	sc := m.Evaluate(c, at, top)
	dst = append(dst, `,"scores":{"at":`...)
	dst = appendTime(dst, at)
	dst = append(dst, `,"lead":{"score":`...)
	dst = appendScore(dst, sc.Lead.Total)
	dst = append(dst, `,"behaviour":`...)
	dst = appendScore(dst, sc.Lead.Behaviour)
	dst = append(dst, `,"fit":`...)
	dst = appendScore(dst, sc.Lead.Fit)
	dst = append(dst, `,"stage":`...)
	dst = appendJSONString(dst, sc.Lead.Stage.String())
	dst = append(dst, `,"stage_since":`...)
	dst = appendTime(dst, c.Scores.StageAt)
	dst = append(dst, `,"plan_version":`...)
	dst = appendJSONString(dst, m.Lead.Version())
	dst = append(dst, `,"why":[`...)
	for i, ct := range sc.Lead.Top {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"rule":`...)
		dst = appendJSONString(dst, ct.Rule)
		dst = append(dst, `,"group":`...)
		dst = appendJSONString(dst, ct.Group)
		dst = append(dst, `,"kind":`...)
		dst = appendJSONString(dst, ct.Kind.String())
		dst = append(dst, `,"points":`...)
		dst = appendScore(dst, ct.Points)
		dst = append(dst, `,"description":`...)
		dst = appendOptString(dst, ct.Description)
		dst = append(dst, '}')
	}
	dst = append(dst, `]},"rfm":`...)
	if sc.IsBuyer {
		r := &sc.RFM
		dst = append(dst, `{"recency_days":`...)
		dst = appendScore(dst, r.RecencyDays)
		dst = append(dst, `,"frequency":`...)
		dst = appendScore(dst, r.Frequency)
		dst = append(dst, `,"monetary":`...)
		dst = appendScore(dst, r.Monetary)
		dst = append(dst, `,"r":`...)
		dst = strconv.AppendInt(dst, int64(r.Score.R), 10)
		dst = append(dst, `,"f":`...)
		dst = strconv.AppendInt(dst, int64(r.Score.F), 10)
		dst = append(dst, `,"m":`...)
		dst = strconv.AppendInt(dst, int64(r.Score.M), 10)
		dst = append(dst, `,"segment":`...)
		dst = appendJSONString(dst, r.Segment.String())
		dst = append(dst, `,"grade":`...)
		dst = appendJSONString(dst, r.Grade)
		dst = append(dst, `,"daily_segment":`...)
		if c.Scores.Segment != 0 {
			dst = appendJSONString(dst, rfm.Segment(c.Scores.Segment).String())
		} else {
			dst = append(dst, "null"...)
		}
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"churn":`...)
	if sc.HasChurn {
		ch := &sc.Churn
		dst = append(dst, `{"p_alive":`...)
		dst = appendScore(dst, ch.PAlive)
		dst = append(dst, `,"expected_purchases_30d":`...)
		dst = appendScore(dst, ch.Expected30)
		dst = append(dst, `,"expected_purchases_90d":`...)
		dst = appendScore(dst, ch.Expected90)
		dst = append(dst, `,"expected_order_value":`...)
		dst = appendOptNumber(dst, ch.ExpectedValue)
		dst = append(dst, `,"clv":`...)
		dst = appendOptNumber(dst, ch.CLV)
		dst = append(dst, `,"clv_months":`...)
		dst = strconv.AppendInt(dst, int64(m.Config.CLVMonths), 10)
		dst = append(dst, `,"risk":`...)
		dst = appendJSONString(dst, ch.Band.String())
		dst = append(dst, `,"repeat_purchases":`...)
		dst = appendScore(dst, ch.Customer.X)
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"transitions":[`...)
	for i, tr := range c.Scores.Transitions {
		if i > 0 {
			dst = append(dst, ',')
		}
		from, to, kind := transitionNames(tr)
		dst = append(dst, `{"kind":`...)
		dst = appendJSONString(dst, kind)
		dst = append(dst, `,"from":`...)
		dst = appendJSONString(dst, from)
		dst = append(dst, `,"to":`...)
		dst = appendJSONString(dst, to)
		dst = append(dst, `,"at":`...)
		dst = appendTime(dst, tr.At)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...), sc.Lead.Top
}

func transitionNames(tr state.Transition) (from, to, kind string) {
	if tr.Kind == state.TransitionSegment {
		return rfm.Segment(tr.From).String(), rfm.Segment(tr.To).String(), "segment"
	}
	return lead.Stage(tr.From).String(), lead.Stage(tr.To).String(), "stage"
}

// appendOptNumber appends a number, or null for NaN (no model to say).
func appendOptNumber(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return appendScore(dst, f)
}
