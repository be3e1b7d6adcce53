package api

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
)

// MaxIDLen is the longest id, email or anonymous id a request may name, in
// bytes after percent-decoding.
const MaxIDLen = 256

// maxPooledBuf is the largest buffer kept in the scratch pool; a rare huge
// profile should not pin its buffer forever.
const maxPooledBuf = 256 << 10

// scratch is the per-request working memory of a profile read, pooled so
// that a read allocates little: the Contact's slices are reused by
// state.DecodeContact, the buffers by the id decoding and the rendering.
type scratch struct {
	c state.Contact
	// at and models score the profile: the evaluation instant and the
	// snapshot for it (nil: no scores).
	at     int64
	models *scoring.Models
	top    []lead.Contribution
	id     []byte // percent-decoded id
	key    []byte // typed key being looked up
	out    []byte // response body
}

func (s *Server) getScratch() *scratch { return s.scratch.Get().(*scratch) }

func (s *Server) putScratch(sc *scratch) {
	if cap(sc.out) > maxPooledBuf {
		sc.out = nil
	}
	s.scratch.Put(sc)
}

// getContactByID serves GET /v1/contacts/{id}. The id is tried as a
// contact id (c:), then, if it looks like an email, as a normalised email
// (e:), then as an anonymous id (a:).
func (s *Server) getContactByID(ctx *fasthttp.RequestCtx, rawID []byte) {
	sc := s.getScratch()
	defer s.putScratch(sc)
	var ok bool
	if sc.id, ok = percentDecode(sc.id[:0], rawID); !ok {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request",
			"contact id has a malformed percent-encoding: '%' must be followed by two hex digits")
		return
	}
	if msg := checkID("contact id", sc.id); msg != "" {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", msg)
		return
	}
	if err := s.cfg.Ready(); err != nil {
		writeNotReady(ctx, err)
		return
	}
	if !s.scoreSetup(ctx, sc) {
		return
	}

	found, err := s.lookup(ctx, sc, state.IDContact, sc.id)
	if !found && err == nil && bytes.IndexByte(sc.id, '@') >= 0 {
		if email := state.NormalizeEmail(string(sc.id)); email != "" {
			found, err = s.lookup(ctx, sc, state.IDEmail, []byte(email))
		}
	}
	if !found && err == nil {
		found, err = s.lookup(ctx, sc, state.IDAnonymous, sc.id)
	}
	if err != nil || found {
		return
	}
	writeError(ctx, fasthttp.StatusNotFound, "not_found", "no contact is known by this id")
}

// getContactByQuery serves GET /v1/contacts?email=... and
// GET /v1/contacts?anonymous_id=...: exactly one of the two. Other query
// parameters are ignored (cache busters).
func (s *Server) getContactByQuery(ctx *fasthttp.RequestCtx) {
	var (
		value         []byte // points into the request: valid until the handler returns
		kind          state.IDKind
		nEmail, nAnon int
	)
	for k, v := range ctx.QueryArgs().All() {
		switch string(k) {
		case "email":
			nEmail++
			value, kind = v, state.IDEmail
		case "anonymous_id":
			nAnon++
			value, kind = v, state.IDAnonymous
		}
	}
	switch {
	case nEmail+nAnon == 0:
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request",
			"give exactly one of the query parameters email or anonymous_id, or use /v1/contacts/{id}")
		return
	case nEmail > 0 && nAnon > 0:
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request",
			"give exactly one of the query parameters email or anonymous_id, not both")
		return
	case nEmail > 1:
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "the query parameter email is repeated; give it once")
		return
	case nAnon > 1:
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "the query parameter anonymous_id is repeated; give it once")
		return
	}
	what, notFound := "anonymous_id", "no contact is known by this anonymous id"
	if kind == state.IDEmail {
		what, notFound = "email", "no contact is known by this email"
	}
	if msg := checkID(what, value); msg != "" {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", msg)
		return
	}
	if kind == state.IDEmail {
		email := state.NormalizeEmail(string(value))
		if email == "" {
			writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "email is blank")
			return
		}
		value = []byte(email)
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
	found, err := s.lookup(ctx, sc, kind, value)
	if err != nil || found {
		return
	}
	writeError(ctx, fasthttp.StatusNotFound, "not_found", notFound)
}

// lookup resolves the key kind:value and, when a contact is found, answers
// with its profile. It reports found == false with a nil error when there
// is no such contact, so the caller can try another kind. A store error is
// answered 500 (and returned, so the caller stops).
func (s *Server) lookup(ctx *fasthttp.RequestCtx, sc *scratch, kind state.IDKind, value []byte) (found bool, err error) {
	sc.key = append(append(sc.key[:0], byte(kind), ':'), value...)
	canon, err := s.cfg.Store.Lookup(state.Key(sc.key), s.cfg.PartitionOf, &sc.c)
	switch {
	case errors.Is(err, state.ErrNotFound):
		return false, nil
	case err != nil:
		s.cfg.Logger.Error("api: reading a contact failed", "kind", string(rune(kind)), "err", err)
		writeError(ctx, fasthttp.StatusInternalServerError, "internal", "reading the contact failed; the server log has the details")
		return false, err
	}
	sc.out = appendContact(sc.out[:0], canon, &sc.c, sc.at)
	if sc.models != nil {
		// The profile object is closed; reopen it for the scores.
		sc.out = sc.out[:len(sc.out)-1]
		sc.out, sc.top = appendScores(sc.out, sc.models, &sc.c, sc.at, sc.top[:0])
		sc.out = s.appendLearned(sc.out, &sc.c, sc.at)
		sc.out = append(sc.out, '}')
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	// A profile is personal data: no shared cache may keep it.
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	// Hand the rendered body to the response without copying; keep the
	// response's previous buffer for the next request.
	sc.out = ctx.Response.SwapBody(sc.out)[:0]
	return true, nil
}

// scoreSetup reads ?at= and picks the scoring snapshot for it; false when
// the request was answered.
func (s *Server) scoreSetup(ctx *fasthttp.RequestCtx, sc *scratch) bool {
	at, explicit, ok := s.evalInstant(ctx)
	if !ok {
		return false
	}
	sc.at, sc.models = at, nil
	if s.cfg.Models == nil {
		return true
	}
	m, err := s.modelsAt(ctx, at, explicit)
	if err != nil {
		s.cfg.Logger.Warn("api: population fit for ?at= failed", "err", err)
		writeError(ctx, fasthttp.StatusServiceUnavailable, "model_unavailable", "the population models for that instant could not be fitted: "+err.Error())
		return false
	}
	sc.models = m
	if cap(sc.top) < m.Lead.Top() {
		sc.top = make([]lead.Contribution, 0, m.Lead.Top())
	}
	return true
}

// checkID validates an id value: 1 to MaxIDLen bytes of valid UTF-8
// without control characters (C0, DEL, C1). It returns "" when the id is
// fine, else the message for the client, naming the parameter (what).
func checkID(what string, id []byte) string {
	switch {
	case len(id) == 0:
		return what + " is empty"
	case len(id) > MaxIDLen:
		return what + " is " + strconv.Itoa(len(id)) + " bytes long; the limit is " + strconv.Itoa(MaxIDLen)
	}
	for i := 0; i < len(id); {
		b := id[i]
		if b < utf8.RuneSelf {
			if b < 0x20 || b == 0x7f {
				return what + " contains a control character at byte " + strconv.Itoa(i)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(id[i:])
		if r == utf8.RuneError && size == 1 {
			return what + " is not valid UTF-8 (byte " + strconv.Itoa(i) + ")"
		}
		if r >= 0x80 && r < 0xa0 {
			return what + " contains a control character at byte " + strconv.Itoa(i)
		}
		i += size
	}
	return ""
}

// percentDecode appends the percent-decoded path segment src to dst. A '+'
// stays a '+' (that is form encoding, not path encoding). It reports false
// for a '%' not followed by two hex digits.
func percentDecode(dst, src []byte) ([]byte, bool) {
	for i := 0; i < len(src); i++ {
		b := src[i]
		if b != '%' {
			dst = append(dst, b)
			continue
		}
		if i+2 >= len(src) {
			return dst, false
		}
		hi, ok1 := unhex(src[i+1])
		lo, ok2 := unhex(src[i+2])
		if !ok1 || !ok2 {
			return dst, false
		}
		dst = append(dst, hi<<4|lo)
		i += 2
	}
	return dst, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
