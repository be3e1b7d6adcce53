package api

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/state"
)

// eraseWait bounds how long DELETE waits for the owner of the contact to
// apply the erasure before answering 202.
const eraseWait = 10 * time.Second

// candidates returns the typed keys an id path segment may name, in the
// order GET /v1/contacts/{id} tries them.
func candidates(id []byte) []state.Key {
	ks := []state.Key{state.MakeKey(state.IDContact, string(id))}
	if bytes.IndexByte(id, '@') >= 0 {
		if email := state.NormalizeEmail(string(id)); email != "" {
			ks = append(ks, state.MakeKey(state.IDEmail, email))
		}
	}
	return append(ks, state.MakeKey(state.IDAnonymous, string(id)))
}

// lookupAny resolves an id the way GET /v1/contacts/{id} does (contact
// id, email, anonymous id) into c. It returns "" when no contact is known,
// and ok false when a store error was answered 500.
func (s *Server) lookupAny(ctx *fasthttp.RequestCtx, id []byte, c *state.Contact) (canon state.Key, ok bool) {
	for _, k := range candidates(id) {
		key, err := s.cfg.Store.Lookup(k, s.cfg.PartitionOf, c)
		if errors.Is(err, state.ErrNotFound) {
			continue
		}
		if err != nil {
			s.internalError(ctx, "reading a contact failed", err)
			return "", false
		}
		return key, true
	}
	return "", true
}

// decodeID percent-decodes and checks an id segment; "" when the request
// was answered.
func decodeID(ctx *fasthttp.RequestCtx, raw []byte) []byte {
	id, ok := percentDecode(nil, raw)
	if !ok {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request",
			"contact id has a malformed percent-encoding: '%' must be followed by two hex digits")
		return nil
	}
	if msg := checkID("contact id", id); msg != "" {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", msg)
		return nil
	}
	return id
}

// deleteContact serves DELETE /v1/contacts/{id}: GDPR erasure. The
// erasure is applied by the partition that owns the contact, through the
// log (stream.Engine.RequestErase); the handler waits for its tombstone
// and answers with the receipt it holds. Erasing an erased id answers the
// stored receipt again.
func (s *Server) deleteContact(ctx *fasthttp.RequestCtx, raw []byte) {
	id := decodeID(ctx, raw)
	if id == nil {
		return
	}
	if s.cfg.Erase == nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "unavailable", "erasure is not enabled on this server")
		return
	}
	if err := s.cfg.Ready(); err != nil {
		writeNotReady(ctx, err)
		return
	}
	var c state.Contact
	canon, ok := s.lookupAny(ctx, id, &c)
	if !ok {
		return
	}
	if canon == "" {
		for _, k := range candidates(id) {
			receipt, ok, err := s.tombstone(k)
			if err != nil {
				s.internalError(ctx, "reading a tombstone failed", err)
				return
			}
			if ok {
				writeReceipt(ctx, fasthttp.StatusOK, "already_erased", receipt)
				return
			}
		}
		writeError(ctx, fasthttp.StatusNotFound, "not_found", "no contact is known by this id")
		return
	}
	wctx, cancel := context.WithTimeout(context.Background(), eraseWait)
	defer cancel()
	if err := s.cfg.Erase(wctx, canon); err != nil {
		s.cfg.Logger.Error("api: erase request failed", "err", err)
		writeError(ctx, fasthttp.StatusServiceUnavailable, "unavailable", "the erasure could not be queued; retry")
		return
	}
	for {
		receipt, ok, err := s.tombstone(canon)
		if err != nil {
			s.internalError(ctx, "reading a tombstone failed", err)
			return
		}
		if ok {
			writeReceipt(ctx, fasthttp.StatusOK, "erased", receipt)
			return
		}
		select {
		case <-wctx.Done():
			b := []byte(`{"status":"accepted","message":"the erasure is queued with the contact's partition and will be applied; DELETE again to read the receipt"}`)
			ctx.SetStatusCode(fasthttp.StatusAccepted)
			ctx.SetContentType("application/json")
			ctx.SetBody(b)
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) tombstone(k state.Key) ([]byte, bool, error) {
	pt, err := s.cfg.Store.Partition(s.cfg.PartitionOf(k.Value()))
	if err != nil {
		return nil, false, err
	}
	return pt.Tombstone(k)
}

func writeReceipt(ctx *fasthttp.RequestCtx, status int, what string, receipt []byte) {
	b := append([]byte(`{"status":`), strconv.Quote(what)...)
	b = append(b, `,"receipt":`...)
	b = append(b, receipt...)
	b = append(b, '}')
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetBody(b)
}

func (s *Server) internalError(ctx *fasthttp.RequestCtx, what string, err error) {
	s.cfg.Logger.Error("api: "+what, "err", err)
	writeError(ctx, fasthttp.StatusInternalServerError, "internal", what+"; the server log has the details")
}

// exportContact serves GET /v1/contacts/{id}/export: everything Kairos
// holds about the contact, derived and raw (GDPR access).
func (s *Server) exportContact(ctx *fasthttp.RequestCtx, raw []byte) {
	id := decodeID(ctx, raw)
	if id == nil {
		return
	}
	if err := s.cfg.Ready(); err != nil {
		writeNotReady(ctx, err)
		return
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	if !s.scoreSetup(ctx, sc) {
		return
	}
	canon, ok := s.lookupAny(ctx, id, &sc.c)
	if !ok {
		return
	}
	if canon == "" {
		writeError(ctx, fasthttp.StatusNotFound, "not_found", "no contact is known by this id")
		return
	}
	b := append(sc.out[:0], `{"exported_at":`...)
	b = appendTime(b, s.cfg.Now().UnixMilli())
	b = append(b, `,"profile":`...)
	b = appendContact(b, canon, &sc.c, sc.at)
	if sc.models != nil {
		b = b[:len(b)-1]
		b, sc.top = appendScores(b, sc.models, &sc.c, sc.at, sc.top[:0])
		b = append(b, '}')
	}
	b = append(b, `,"stored":`...)
	b = appendStored(b, &sc.c)
	b, err := s.appendExportTimers(b, canon)
	if err != nil {
		s.internalError(ctx, "reading the contact's timers failed", err)
		return
	}
	b = s.appendExportDecisions(b, &sc.c)
	b = append(b, '}')
	sc.out = b
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.Response.Header.Set(fasthttp.HeaderContentDisposition, `attachment; filename="kairos-export.json"`)
	sc.out = ctx.Response.SwapBody(sc.out)[:0]
}

// appendStored appends the stored record's raw parts the profile
// summarises: counts per event type, sessions, purchase days, the
// engagement histogram, the stored lead-rule state and the dedupe window
// size.
func appendStored(b []byte, c *state.Contact) []byte {
	b = append(b, `{"event_counts":{`...)
	n := 0
	for t := state.EventType(1); t < state.NumEventTypes; t++ {
		if c.Counts[t] == 0 {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendJSONString(b, t.String())
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(c.Counts[t]), 10)
	}
	b = append(b, `},"sessions":{"count":`...)
	b = strconv.AppendUint(b, uint64(c.Sessions.Count), 10)
	b = append(b, `,"latest_start":`...)
	b = appendTime(b, c.Sessions.Start)
	b = append(b, `,"latest_event":`...)
	b = appendTime(b, c.Sessions.Last)
	b = append(b, `},"purchase_days":[`...)
	for i, p := range c.Purchases {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"day":`...)
		b = appendTime(b, int64(p.Day)*86_400_000)
		b = append(b, `,"orders":`...)
		b = strconv.AppendUint(b, uint64(p.Orders), 10)
		b = append(b, `,"spend":`...)
		b = appendMoney(b, p.Spend)
		b = append(b, '}')
	}
	b = append(b, `],"engagement_hour_of_week":[`...)
	for i, v := range c.Engagement.HourOfWeek {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendScore(b, float64(v))
	}
	b = append(b, `],"engagement_hour_of_week_at":`...)
	b = appendTime(b, c.Engagement.HistAt)
	b = append(b, `,"lead_rules":[`...)
	for i, r := range c.Scores.Lead {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"rule":`...)
		b = appendJSONString(b, r.Rule)
		b = append(b, `,"points":`...)
		b = appendScore(b, r.Points)
		b = append(b, `,"at":`...)
		b = appendTime(b, r.At)
		b = append(b, `,"hits_in_window":`...)
		b = strconv.AppendUint(b, uint64(r.Hits), 10)
		b = append(b, '}')
	}
	b = append(b, `],"dedupe_window_ids":`...)
	b = strconv.AppendInt(b, int64(len(c.SeenIDs)), 10)
	return append(b, '}')
}

// appendExportTimers appends the contact's pending trigger timers.
func (s *Server) appendExportTimers(b []byte, canon state.Key) ([]byte, error) {
	b = append(b, `,"timers":[`...)
	if s.cfg.Triggers != nil {
		pt, err := s.cfg.Store.Partition(s.cfg.PartitionOf(canon.Value()))
		if err != nil {
			return b, err
		}
		ts, err := pt.ContactTimers(canon)
		if err != nil {
			return b, err
		}
		pending, err := s.cfg.Triggers.Timers(ts)
		if err != nil {
			return b, err
		}
		for i := range pending {
			p := &pending[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rule":`...)
			b = appendJSONString(b, p.Rule)
			b = append(b, `,"kind":`...)
			b = appendJSONString(b, p.Kind)
			b = append(b, `,"due":`...)
			b = appendTime(b, p.Due)
			b = append(b, `,"reason":`...)
			b = appendOptString(b, p.Reason)
			b = append(b, '}')
		}
	}
	return append(b, ']'), nil
}

// appendExportDecisions appends the contact's next-best-action history:
// which actions were shown, how often in the current cap window, when
// last, and whether converted or dismissed.
func (s *Server) appendExportDecisions(b []byte, c *state.Contact) []byte {
	b = append(b, `,"decisions":[`...)
	var h nba.History
	if len(c.Decisions) == 0 || nba.LedgerHistory(c.Decisions, &h) != nil {
		return append(b, ']')
	}
	var cat *nba.Catalogue
	if p := s.cfg.NBA.Policy; p != nil && p.Load() != nil {
		cat = p.Load().Catalogue()
	}
	for i := range h.Len() {
		e := h.Entry(i)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"action":`...)
		name := "#" + strconv.FormatUint(uint64(e.Action), 16)
		if cat != nil {
			if a := cat.ActionByHash(e.Action); a != nil {
				name = a.ID
			}
		}
		b = appendJSONString(b, name)
		b = append(b, `,"shown_in_window":`...)
		b = strconv.AppendUint(b, uint64(e.Count), 10)
		b = append(b, `,"window_start":`...)
		b = appendTime(b, e.WindowStart)
		b = append(b, `,"last_shown":`...)
		b = appendTime(b, e.LastShown)
		b = append(b, `,"flags":`...)
		b = strconv.AppendUint(b, uint64(e.Flags), 10)
		b = append(b, '}')
	}
	return append(b, ']')
}
