package api

import (
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/sendtime"
)

// Defaults of send-time's query.
const defaultSendWindow = 24 * time.Hour

// getSendTime serves GET
// /v1/contacts/{id}/send-time?channel=email&from=RFC3339&within=24h: the
// best moment to send in the window, the expected engagement probability
// of every hour slot in it with its uncertainty, whether the shape came
// from the contact's own history or from the population prior, and
// whether this answer explores. An unknown id gets the prior's answer.
func (s *Server) getSendTime(ctx *fasthttp.RequestCtx, rawID []byte) {
	var fit *sendtime.Fit
	if f := s.cfg.NBA.Fit; f != nil {
		fit = f.Load()
	}
	if fit == nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "model_unavailable", "send-time prediction is not enabled on this server")
		return
	}
	args := ctx.QueryArgs()
	if ch := args.Peek("channel"); len(ch) > 0 && string(ch) != "email" {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request",
			"channel "+strconv.Quote(string(ch))+" has no engagement history to learn from; the send-time model knows email")
		return
	}
	from := s.cfg.Now()
	if v := args.Peek("from"); len(v) > 0 {
		t, err := time.Parse(time.RFC3339Nano, unsafeString(v))
		if err != nil {
			writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "from is not an RFC 3339 instant (for example 2026-01-31T12:00:00Z): "+strconv.Quote(string(v)))
			return
		}
		if ms := t.UnixMilli(); ms < minAt || ms > maxAt {
			writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "from must be between 1990-01-01 and 2200-01-01")
			return
		}
		from = t
	}
	within := defaultSendWindow
	if v := args.Peek("within"); len(v) > 0 {
		d, err := time.ParseDuration(unsafeString(v))
		if err != nil || d < time.Hour || d > sendtime.MaxWindow {
			writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "within must be a duration from 1h to 168h, such as 24h")
			return
		}
		within = d
	}
	if err := s.cfg.Ready(); err != nil {
		writeNotReady(ctx, err)
		return
	}
	sc := s.getNBAScratch()
	defer s.putNBAScratch(sc)
	found, ok, _, err := s.resolveContact(ctx, sc, rawID)
	if !ok {
		return
	}
	if err != nil {
		s.cfg.Logger.Error("api: reading a contact for send-time failed", "err", err)
		writeError(ctx, fasthttp.StatusInternalServerError, "internal", "reading the contact failed; the server log has the details")
		return
	}
	var in sendtime.Input
	if found {
		e := &sc.c.Engagement
		in = sendtime.Input{Hist: &e.HourOfWeek, Opens: e.Opened, Delivered: e.Delivered, Zone: s.zone(sc.c.TimeZone)}
	}
	opt := sendtime.Options{
		Explore:     s.cfg.NBA.Explore,
		Sensitivity: s.cfg.NBA.Sensitivity,
		// Deterministic per contact and window start: a retried request
		// gets the same answer, the next window a fresh draw.
		Seed: xxhash.Sum64(sc.id) ^ uint64(from.Unix()/3600),
	}
	res, err := sendtime.Predict(in, fit, from, within, opt, sc.hours)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", err.Error())
		return
	}
	b := append(sc.out[:0], `{"channel":"email","send_at":`...)
	b = appendTime(b, res.Best.UnixMilli())
	b = append(b, `,"probability":`...)
	b = appendScore(b, res.P)
	b = append(b, `,"sd":`...)
	b = appendScore(b, res.SD)
	b = append(b, `,"explored":`...)
	b = strconv.AppendBool(b, res.Explored)
	b = append(b, `,"exploration_share":`...)
	b = appendScore(b, s.cfg.NBA.Explore)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, res.Source.String())
	b = append(b, `,"own_weight":`...)
	b = appendScore(b, res.Weight)
	b = append(b, `,"rate":`...)
	b = appendScore(b, res.Rate)
	b = append(b, `,"from":`...)
	b = appendTime(b, from.UnixMilli())
	b = append(b, `,"within_hours":`...)
	b = strconv.AppendFloat(b, within.Hours(), 'g', -1, 64)
	b = append(b, `,"hours":[`...)
	for i := range res.Hours {
		h := &res.Hours[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"start":`...)
		b = appendTime(b, h.Start.UnixMilli())
		b = append(b, `,"p":`...)
		b = appendScore(b, h.P)
		b = append(b, `,"sd":`...)
		b = appendScore(b, h.SD)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	sc.out = ctx.Response.SwapBody(b)[:0]
}
