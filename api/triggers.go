package api

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/state"
)

// Triggers answers the trigger routes from the trigger engine in force
// (stream/trigger, which api does not import): what a contact's pending
// timers are, and when it may next receive a marketing message. cmd/kairos
// passes an adapter over the engine; the API reads the contact and its
// timers itself.
type Triggers interface {
	// Timers describes timers read with state.Partition.ContactTimers, in
	// their order. An error means a timer's data is corrupt.
	Timers(ts []state.Timer) ([]PendingTimer, error)
	// Pressure says, for each contact channel, when the next marketing
	// message may be sent to c at or after instant at (Unix ms). ok is
	// false when triggers are off.
	Pressure(c *state.Contact, at int64) (ps []ChannelPressure, ok bool)
}

// PendingTimer is one pending trigger timer of a contact.
type PendingTimer struct {
	Name    string
	Rule    string
	Kind    string // "wait", "deferred" or "schedule"
	Due     int64  // Unix ms, event time
	CauseAt int64  // Unix ms; 0 when unknown
	Source  string // the record that caused it, "topic/partition/offset"
	Reason  string // why a deferred trigger waits (pressure, quiet_hours)
}

// ChannelPressure is the marketing pressure on one channel.
type ChannelPressure struct {
	Channel string
	// NextAllowed is the first instant at or after the asked one when a
	// marketing message may be sent (Unix ms); 0 when consent forbids
	// marketing on the channel, Reason saying why.
	NextAllowed int64
	Reason      string
	Caps        []PressureCap
}

// PressureCap is one cap of a channel and how much of it is used.
type PressureCap struct {
	Max  int
	Per  time.Duration
	Sent int // marketing messages inside the window ending at the asked instant
}

// contactFor resolves a path id to its canonical key and record; false
// when the request was answered.
func (s *Server) contactFor(ctx *fasthttp.RequestCtx, raw []byte, c *state.Contact) (state.Key, bool) {
	id := decodeID(ctx, raw)
	if id == nil {
		return "", false
	}
	if err := s.cfg.Ready(); err != nil {
		writeNotReady(ctx, err)
		return "", false
	}
	if s.cfg.Triggers == nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "unavailable", "triggers are not enabled on this server")
		return "", false
	}
	canon, ok := s.lookupAny(ctx, id, c)
	if ok && canon == "" {
		writeError(ctx, fasthttp.StatusNotFound, "not_found", "no contact is known by this id")
		ok = false
	}
	return canon, ok
}

// getTimers serves GET /v1/contacts/{id}/timers: the contact's pending
// trigger timers, in name then due order.
func (s *Server) getTimers(ctx *fasthttp.RequestCtx, raw []byte) {
	sc := s.getScratch()
	defer s.putScratch(sc)
	canon, ok := s.contactFor(ctx, raw, &sc.c)
	if !ok {
		return
	}
	pt, err := s.cfg.Store.Partition(s.cfg.PartitionOf(canon.Value()))
	if err != nil {
		s.internalError(ctx, "opening the contact's partition failed", err)
		return
	}
	ts, err := pt.ContactTimers(canon)
	if err != nil {
		s.internalError(ctx, "reading timers failed", err)
		return
	}
	pending, err := s.cfg.Triggers.Timers(ts)
	if err != nil {
		s.internalError(ctx, "a stored timer does not decode", err)
		return
	}
	b := append(sc.out[:0], `{"contact_id":`...)
	b = appendJSONString(b, canon.Value())
	b = append(b, `,"timers":[`...)
	for i := range pending {
		p := &pending[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, p.Name)
		b = append(b, `,"rule":`...)
		b = appendJSONString(b, p.Rule)
		b = append(b, `,"kind":`...)
		b = appendJSONString(b, p.Kind)
		b = append(b, `,"due":`...)
		b = appendTime(b, p.Due)
		b = append(b, `,"cause_at":`...)
		if p.CauseAt > 0 {
			b = appendTime(b, p.CauseAt)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"source":`...)
		b = appendJSONString(b, p.Source)
		b = append(b, `,"reason":`...)
		b = appendOptString(b, p.Reason)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	sc.out = b
	s.writeBody(ctx, sc)
}

// getPressure serves GET /v1/contacts/{id}/pressure: per channel, when the
// next marketing message may be sent, at ?at= (default now).
func (s *Server) getPressure(ctx *fasthttp.RequestCtx, raw []byte) {
	sc := s.getScratch()
	defer s.putScratch(sc)
	at, _, ok := s.evalInstant(ctx)
	if !ok {
		return
	}
	canon, ok := s.contactFor(ctx, raw, &sc.c)
	if !ok {
		return
	}
	ps, ok := s.cfg.Triggers.Pressure(&sc.c, at)
	if !ok {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "unavailable", "no trigger rules are loaded")
		return
	}
	b := append(sc.out[:0], `{"contact_id":`...)
	b = appendJSONString(b, canon.Value())
	b = append(b, `,"at":`...)
	b = appendTime(b, at)
	b = append(b, `,"channels":[`...)
	for i := range ps {
		p := &ps[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"channel":`...)
		b = appendJSONString(b, p.Channel)
		b = append(b, `,"allowed":`...)
		b = strconv.AppendBool(b, p.NextAllowed != 0)
		b = append(b, `,"next_allowed":`...)
		if p.NextAllowed != 0 {
			b = appendTime(b, p.NextAllowed)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"reason":`...)
		b = appendOptString(b, p.Reason)
		b = append(b, `,"caps":[`...)
		for j, c := range p.Caps {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"max":`...)
			b = strconv.AppendInt(b, int64(c.Max), 10)
			b = append(b, `,"per_seconds":`...)
			b = strconv.AppendInt(b, int64(c.Per/time.Second), 10)
			b = append(b, `,"sent":`...)
			b = strconv.AppendInt(b, int64(c.Sent), 10)
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	b = append(b, "]}"...)
	sc.out = b
	s.writeBody(ctx, sc)
}

// writeBody answers 200 with the JSON in sc.out, handing the buffer to
// fasthttp and taking its old one back for the scratch.
func (s *Server) writeBody(ctx *fasthttp.RequestCtx, sc *scratch) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	sc.out = ctx.Response.SwapBody(sc.out)[:0]
}
