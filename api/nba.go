package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/propensity"
	"github.com/kairos-engine/kairos/models/sendtime"
	"github.com/kairos-engine/kairos/state"
)

// DefaultNBABudget is NBA.Budget's default: after this long a
// next-best-action request is answered with the placement's fallback.
const DefaultNBABudget = 50 * time.Millisecond

// Bounds of ?n= on next-best-action.
const (
	defaultNBAChoices = 3
	maxNBAChoices     = 20
)

// NBA configures next-best-action, send time and the learning loop's
// HTTP side. Every field is optional: without Policy the next-best-action
// routes answer 503, without Fit send-time does.
type NBA struct {
	// Policy decides; its owner (stream/bandit) swaps in a fresher one
	// every few seconds.
	Policy *atomic.Pointer[nba.Policy]
	// Budget bounds a next-best-action answer: past it the catalogue's
	// fallback for the placement is served and counted in
	// kairos_api_nba_fallbacks_total{reason="budget"}. Default
	// DefaultNBABudget.
	Budget time.Duration
	// Publish hands a record to Kafka without blocking: a decision record
	// to nba.DecisionsTopic keyed by the contact's id, with the typed
	// canonical key in header kairos.target, or an outcome event to the
	// clickstream topic (target nil). It must not block (a full producer
	// buffer is an error). The callee owns key, target and value until it
	// calls done exactly once, with the broker's answer; the API then
	// reuses the buffer and counts a failure. nil: decisions are not
	// logged (nothing learns).
	Publish func(topic string, key, target, value []byte, done func(error))
	// ClickstreamTopic is where outcome events are published; default
	// "kairos.clickstream".
	ClickstreamTopic string
	// Report serves GET /v1/models/nba (stream/bandit's Service.Report);
	// nil: 503.
	Report func(level float64) nba.Report
	// Fit is the send-time prior (stream/sendprior swaps it); nil:
	// send-time answers 503.
	Fit *atomic.Pointer[sendtime.Fit]
	// Explore is the share (0..0.5) of send-time answers that explore a
	// plausible non-best hour.
	Explore float64
	// Sensitivity is sendtime.Options.Sensitivity; 0 its default.
	Sensitivity float64
	// Propensity supplies learned propensities for arbitration (the
	// promoted propensity model and bring-your-own models that name an
	// action); nil: the per-group posteriors alone.
	Propensity *propensity.Source
	// LogFeatures adds the contact's feature vector at the decision's
	// instant (features.Compute, with feature_version) to every decision
	// record: the training input of `kairos train propensity`. It costs
	// about 0.5 KB per record.
	LogFeatures bool
}

func (n *NBA) withDefaults() {
	if n.Budget == 0 {
		n.Budget = DefaultNBABudget
	}
	if n.ClickstreamTopic == "" {
		n.ClickstreamTopic = "kairos.clickstream"
	}
}

// Fallback reasons, the reason label of kairos_api_nba_fallbacks_total.
const (
	fallbackBudget   = "budget"    // the latency budget ran out
	fallbackError    = "error"     // reading the contact failed
	fallbackNotReady = "not_ready" // the engine is restoring state
)

// nbaMetrics count next-best-action answers that did not come from a
// decision.
type nbaMetrics struct {
	fallbacks map[string]prometheus.Counter
	published *prometheus.CounterVec
	decisions prometheus.Counter // published{kind="decision"}
	failed    prometheus.Counter
}

func newNBAMetrics(reg prometheus.Registerer) (*nbaMetrics, error) {
	fv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_api_nba_fallbacks_total",
		Help: "Next-best-action requests answered with the placement's fallback action instead of a decision, by reason: budget (the latency budget ran out), error (reading the contact failed), not_ready (state is being restored).",
	}, []string{"reason"})
	pv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_api_nba_published_total",
		Help: "Records the API handed to Kafka, by kind: decision (kairos.decisions) or outcome (an action_click or action_dismiss event).",
	}, []string{"kind"})
	m := &nbaMetrics{fallbacks: make(map[string]prometheus.Counter), published: pv}
	if reg != nil {
		var err error
		if fv, err = register(reg, fv); err != nil {
			return nil, err
		}
		if pv, err = register(reg, pv); err != nil {
			return nil, err
		}
		m.published = pv
	}
	for _, r := range []string{fallbackBudget, fallbackError, fallbackNotReady} {
		m.fallbacks[r] = fv.WithLabelValues(r)
	}
	m.decisions = pv.WithLabelValues("decision")
	pv.WithLabelValues("outcome")
	failed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kairos_api_nba_publish_failures_total",
		Help: "Decision records and outcome events the producer could not deliver (buffer full or broker error); a lost decision record only loses its impressions for learning and caps.",
	})
	if reg != nil {
		var err error
		if failed, err = register(reg, failed); err != nil {
			return nil, err
		}
	}
	m.failed = failed
	return m, nil
}

// nbaScratch is the pooled working memory of a next-best-action or
// send-time request: the decoded contact, the decision context and
// history, the choices and the buffers, so that a request allocates
// nothing once the pool is warm.
type nbaScratch struct {
	c       state.Contact
	x       nba.Context
	h       nba.History
	choices [maxNBAChoices]nba.Choice
	top     []lead.Contribution
	hours   []sendtime.Hour
	id      []byte
	key     []byte
	out     []byte
	reason  []byte
	lookup  state.LookupScratch
	// features is the contact's feature vector at the request, for the
	// learned propensities and the decision record; learned holds the
	// estimates, one per catalogue action.
	features features.Vector
	learned  []nba.Learned
}

// pubBuf is a pooled buffer lent to NBA.Publish; done (made once per
// buffer, so lending it allocates nothing) returns it to the pool.
type pubBuf struct {
	b    []byte
	done func(error)
}

func (s *Server) getNBAScratch() *nbaScratch { return s.nbaScratch.Get().(*nbaScratch) }

func (s *Server) putNBAScratch(sc *nbaScratch) {
	if cap(sc.out) > maxPooledBuf {
		sc.out = nil
	}
	s.nbaScratch.Put(sc)
}

func (s *Server) getPubBuf() *pubBuf { return s.pubBufs.Get().(*pubBuf) }

func (s *Server) initNBA() error {
	s.cfg.NBA.withDefaults()
	m, err := newNBAMetrics(s.cfg.Registerer)
	if err != nil {
		return err
	}
	s.nbaMetrics = m
	s.nbaScratch.New = func() any {
		return &nbaScratch{hours: make([]sendtime.Hour, sendtime.Slots(time.Time{}, sendtime.MaxWindow)+1)}
	}
	s.pubBufs.New = func() any {
		p := &pubBuf{b: make([]byte, 0, 1024)}
		p.done = func(err error) {
			if err != nil {
				s.nbaMetrics.failed.Inc()
			}
			if cap(p.b) <= maxPooledBuf {
				p.b = p.b[:0]
				s.pubBufs.Put(p)
			}
		}
		return p
	}
	return nil
}

// resolveContact decodes the path id and looks the contact up as a
// contact id, a normalised email (when it has an '@') and an anonymous
// id. It returns the canonical key (nil when unknown), or false when the
// request was answered (bad id). A store error is returned for the caller
// to decide.
func (s *Server) resolveContact(ctx *fasthttp.RequestCtx, sc *nbaScratch, rawID []byte) (found, ok bool, canon []byte, err error) {
	var good bool
	if sc.id, good = percentDecode(sc.id[:0], rawID); !good {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request",
			"contact id has a malformed percent-encoding: '%' must be followed by two hex digits")
		return false, false, nil, nil
	}
	if msg := checkID("contact id", sc.id); msg != "" {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", msg)
		return false, false, nil, nil
	}
	if canon, err = s.lookupKey(sc, state.IDContact, sc.id); canon != nil || err != nil {
		return canon != nil, true, canon, err
	}
	if bytes.IndexByte(sc.id, '@') >= 0 {
		if email := state.NormalizeEmail(string(sc.id)); email != "" {
			if canon, err = s.lookupKey(sc, state.IDEmail, []byte(email)); canon != nil || err != nil {
				return canon != nil, true, canon, err
			}
		}
	}
	canon, err = s.lookupKey(sc, state.IDAnonymous, sc.id)
	return canon != nil, true, canon, err
}

// lookupKey reads the contact kind:value resolves to into sc.c and returns
// its canonical typed key (aliasing sc), or nil when there is none.
func (s *Server) lookupKey(sc *nbaScratch, kind state.IDKind, value []byte) ([]byte, error) {
	sc.key = append(append(sc.key[:0], byte(kind), ':'), value...)
	canon, err := s.cfg.Store.LookupBytes(sc.key, s.cfg.PartitionOf, &sc.c, &sc.lookup)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	return canon, err
}

// getNextBestAction serves GET /v1/contacts/{id}/next-best-action. Any id
// gets an answer: an unknown one is a new visitor. The answer holds only
// action fields and the decision's own data, never the profile: it is
// meant to be called from browsers.
func (s *Server) getNextBestAction(ctx *fasthttp.RequestCtx, rawID []byte) {
	start := time.Now()
	var pol *nba.Policy
	if p := s.cfg.NBA.Policy; p != nil {
		pol = p.Load()
	}
	if pol == nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "model_unavailable", "next-best-action is not enabled on this server (no action catalogue)")
		return
	}
	cat := pol.Catalogue()
	args := ctx.QueryArgs()
	placement := args.Peek("placement")
	if len(placement) == 0 {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "placement is required; one of "+placementList(cat))
		return
	}
	plc := ""
	for _, p := range cat.Placements() {
		if p == string(placement) { // compared without a conversion
			plc = p
		}
	}
	if plc == "" {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "unknown placement "+strconv.Quote(string(placement))+"; one of "+placementList(cat))
		return
	}
	n := defaultNBAChoices
	if v := args.Peek("n"); len(v) > 0 {
		k, err := strconv.Atoi(string(v))
		if err != nil || k < 1 || k > maxNBAChoices {
			writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "n must be a whole number from 1 to "+strconv.Itoa(maxNBAChoices))
			return
		}
		n = k
	}
	explain := false
	if v := args.Peek("explain"); len(v) > 0 {
		switch string(v) {
		case "true", "1":
			explain = true
		case "false", "0":
		default:
			writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "explain must be true or false")
			return
		}
	}

	sc := s.getNBAScratch()
	defer s.putNBAScratch(sc)
	x := &sc.x
	*x = nba.Context{}
	sc.h = nba.History{}
	now := s.cfg.Now()

	fallback := ""
	found, ok, canon, err := false, true, []byte(nil), error(nil)
	if rerr := s.cfg.Ready(); rerr != nil {
		// Restoring state: the contact may be missing or stale. Answer
		// anyway, with the fallback, rather than fail the page.
		fallback = fallbackNotReady
		if sc.id, ok = percentDecode(sc.id[:0], rawID); ok {
			ok = checkID("contact id", sc.id) == ""
		}
		if !ok {
			writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "contact id is malformed or too long")
			return
		}
	} else {
		found, ok, canon, err = s.resolveContact(ctx, sc, rawID)
		if !ok {
			return
		}
		if err != nil {
			s.cfg.Logger.Error("api: reading a contact for next-best-action failed", "err", err)
			fallback = fallbackError
			found = false
		}
	}
	if fallback == "" && time.Since(start) > s.cfg.NBA.Budget {
		fallback = fallbackBudget
	}

	// The id the decision is logged and the control group drawn under:
	// the canonical key's value, or the visitor's id as given.
	var contactID, anonID, target []byte
	if found {
		x.SetContact(&sc.c)
		if err := nba.LedgerHistory(sc.c.Decisions, &sc.h); err != nil {
			s.cfg.Logger.Warn("api: next-best-action history damaged; deciding without it", "err", err)
		}
		if m := s.cfg.Models; m != nil {
			if models := m.Load(); models != nil {
				if cap(sc.top) < models.Lead.Top() {
					sc.top = make([]lead.Contribution, 0, models.Lead.Top())
				}
				scores := models.Evaluate(&sc.c, now.UnixMilli(), sc.top[:0])
				x.Stage = scores.Lead.Stage.String()
				x.LeadScore = scores.Lead.Total
				if scores.IsBuyer {
					x.Segment = scores.RFM.Segment.String()
				}
				if scores.HasChurn {
					x.PAlive, x.CLV = scores.Churn.PAlive, scores.Churn.CLV
					if x.CLV != x.CLV {
						x.CLV = 0
					}
				}
			}
		}
		x.Zone = s.zone(sc.c.TimeZone)
		// A message action counts towards the marketing pressure the
		// trigger policy enforces: none is offered on a channel whose
		// limit is reached.
		if ch, msg := nba.MessageChannel(plc); msg && s.cfg.Triggers != nil {
			if ps, ok := s.cfg.Triggers.Pressure(&sc.c, now.UnixMilli()); ok {
				for _, p := range ps {
					if p.Channel == ch.String() && p.Reason == "pressure" {
						x.Pressure[ch] = true
					}
				}
			}
		}
		target = canon
		if state.IDKind(canon[0]) == state.IDAnonymous {
			anonID = target[2:]
		} else {
			contactID = target[2:]
		}
	} else {
		// A new visitor: what the engine knows of nobody.
		x.ContactID = unsafeString(sc.id)
		x.Stage = "visitor"
		sc.key = append(append(sc.key[:0], byte(state.IDAnonymous), ':'), sc.id...)
		target, anonID = sc.key, sc.key[2:]
	}
	x.Placement = plc
	x.Now = now
	if v := args.Peek("page_url"); len(v) > 0 {
		x.PageURL = unsafeString(v)
	}
	if v := args.Peek("page_category"); len(v) > 0 {
		x.PageCategory = unsafeString(v)
	}

	var feats *features.Vector
	if src := s.cfg.NBA.Propensity; fallback == "" && (src != nil || s.cfg.NBA.LogFeatures) {
		var c *state.Contact // nil: a new visitor's empty record
		if found {
			c = &sc.c
		}
		sc.features = features.Compute(c, now.UnixMilli())
		if s.cfg.NBA.LogFeatures {
			feats = &sc.features
		}
		if src != nil {
			na := len(cat.Actions())
			if cap(sc.learned) < na {
				sc.learned = make([]nba.Learned, na)
			}
			sc.learned = sc.learned[:na]
			if src.Estimate(cat, &sc.features, sc.learned) {
				x.Learned = sc.learned
			}
		}
	}

	var d nba.Decision
	id := nba.NewDecisionID()
	if fallback == "" {
		d = pol.Decide(x, &sc.h, id, sc.choices[:n])
		if time.Since(start) > s.cfg.NBA.Budget {
			fallback = fallbackBudget
		}
	}
	if fallback != "" {
		s.nbaMetrics.fallbacks[fallback].Inc()
		d = nba.Decision{ID: id, Placement: plc, Policy: "fallback"}
		if fb := cat.Fallback(plc); fb != nil {
			sc.choices[0] = nba.Choice{Action: fb, Fallback: true}
			if post, ok := pol.Posterior(fb.ID, plc+"/visitor"); ok {
				sc.choices[0].Propensity = post.Mean()
			}
			d.Choices = sc.choices[:1]
		}
	}

	sc.out = appendDecision(sc.out[:0], &sc.reason, &d, cat, fallback)
	if explain {
		sc.out = sc.out[:len(sc.out)-1]
		sc.out = appendExplain(sc.out, pol.Explain(x, &sc.h))
		sc.out = append(sc.out, '}')
	}
	if len(d.Choices) > 0 && s.cfg.NBA.Publish != nil {
		s.publishDecision(&d, cat, now, contactID, anonID, target, feats)
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	// Decisions are per request and logged: a cache must not replay one.
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	sc.out = ctx.Response.SwapBody(sc.out)[:0]
}

// appendDecision renders a decision: its id and the ranked actions, with
// nothing about the contact.
func appendDecision(b []byte, reason *[]byte, d *nba.Decision, cat *nba.Catalogue, fallback string) []byte {
	b = append(b, `{"decision_id":"`...)
	b, _ = d.ID.AppendText(b)
	b = append(b, `","placement":`...)
	b = appendJSONString(b, d.Placement)
	b = append(b, `,"policy":`...)
	b = appendJSONString(b, d.Policy)
	b = append(b, `,"catalogue_version":`...)
	b = appendJSONString(b, cat.Version())
	b = append(b, `,"fallback":`...)
	if fallback != "" {
		b = appendJSONString(b, fallback)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"actions":[`...)
	for i := range d.Choices {
		c := &d.Choices[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, c.Action.ID)
		b = append(b, `,"rank":`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, `,"score":`...)
		b = appendScore(b, c.Score)
		b = append(b, `,"propensity":`...)
		b = appendScore(b, c.Propensity)
		b = append(b, `,"value":`...)
		b = appendScore(b, c.Action.Value)
		b = append(b, `,"description":`...)
		b = appendJSONString(b, c.Action.Description)
		b = append(b, `,"reason":`...)
		// The reason quotes the catalogue's expression, which may hold
		// quotes: render it aside, then escape it.
		*reason = c.AppendReason((*reason)[:0], d.Policy)
		b = appendJSONString(b, unsafeString(*reason))
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendExplain appends ,"explain":[...]: every action's verdict.
func appendExplain(b []byte, vs []nba.Verdict) []byte {
	b = append(b, `,"explain":[`...)
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"action":`...)
		b = appendJSONString(b, v.Action)
		b = append(b, `,"eligible":`...)
		b = strconv.AppendBool(b, v.Eligible)
		if !v.Eligible {
			b = append(b, `,"reason":`...)
			b = appendJSONString(b, v.Reason)
			if v.Condition != "" {
				b = append(b, `,"condition":`...)
				b = appendJSONString(b, v.Condition)
			}
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// publishDecision logs the decision to kairos.decisions in the JSON of
// nba.DecisionRecord, written straight into a pooled buffer that the
// producer hands back when the broker answered. feats (nil: none) is the
// contact's feature vector, for training.
func (s *Server) publishDecision(d *nba.Decision, cat *nba.Catalogue, at time.Time, contactID, anonID, target []byte, feats *features.Vector) {
	p := s.getPubBuf()
	b := p.b[:0]
	// key and target first, then the value, in one buffer.
	key := contactID
	if key == nil {
		key = anonID
	}
	b = append(b, key...)
	kEnd := len(b)
	b = append(b, target...)
	tEnd := len(b)
	b = append(b, `{"type":"decision","decision_id":"`...)
	b, _ = d.ID.AppendText(b)
	b = append(b, `","timestamp":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if contactID != nil {
		b = append(b, `,"contact_id":`...)
		b = appendJSONString(b, unsafeString(contactID))
	}
	if anonID != nil {
		b = append(b, `,"anonymous_id":`...)
		b = appendJSONString(b, unsafeString(anonID))
	}
	b = append(b, `,"placement":`...)
	b = appendJSONString(b, d.Placement)
	b = append(b, `,"group":`...)
	b = appendJSONString(b, d.Group)
	b = append(b, `,"control":`...)
	b = strconv.AppendBool(b, d.Control)
	b = append(b, `,"policy":`...)
	b = appendJSONString(b, d.Policy)
	b = append(b, `,"catalogue_version":`...)
	b = appendJSONString(b, cat.Version())
	b = append(b, `,"eligible":`...)
	b = strconv.AppendInt(b, int64(d.Eligible), 10)
	b = append(b, `,"actions":[`...)
	for i := range d.Choices {
		c := &d.Choices[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"action_id":`...)
		b = appendJSONString(b, c.Action.ID)
		b = append(b, `,"rank":`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, `,"score":`...)
		b = strconv.AppendFloat(b, c.Score, 'g', -1, 64)
		b = append(b, `,"propensity":`...)
		b = strconv.AppendFloat(b, c.Propensity, 'g', -1, 64)
		b = append(b, `,"sample":`...)
		b = strconv.AppendFloat(b, c.Sample, 'g', -1, 64)
		b = append(b, `,"weight":`...)
		b = strconv.AppendFloat(b, c.Weight, 'g', -1, 64)
		if c.LoggingProbability > 0 {
			b = append(b, `,"logging_probability":`...)
			b = strconv.AppendFloat(b, c.LoggingProbability, 'g', -1, 64)
		}
		if c.Model != "" {
			b = append(b, `,"model":`...)
			b = appendJSONString(b, c.Model)
		}
		if c.Fallback {
			b = append(b, `,"fallback":true`...)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	if feats != nil {
		b = append(b, `,"feature_version":`...)
		b = strconv.AppendInt(b, features.Version, 10)
		b = append(b, `,"features":[`...)
		for i, f := range feats {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	p.b = b
	s.nbaMetrics.decisions.Inc()
	s.cfg.NBA.Publish(nba.DecisionsTopic, b[:kEnd:kEnd], b[kEnd:tEnd:tEnd], b[tEnd:], p.done)
}

// postOutcome serves POST /v1/decisions/{decision_id}/outcome?id=...: the
// body is an outcome (nba.ParseOutcome); it is published as an
// action_click or action_dismiss event on the clickstream topic for the
// contact the id names, so it takes the same path as outcomes that
// websites produce themselves. The event id is derived from the decision,
// action and kind, so a retried POST is folded once.
func (s *Server) postOutcome(ctx *fasthttp.RequestCtx, rawDecision []byte) {
	var pol *nba.Policy
	if p := s.cfg.NBA.Policy; p != nil {
		pol = p.Load()
	}
	if pol == nil || s.cfg.NBA.Publish == nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "model_unavailable", "decision outcomes are not enabled on this server")
		return
	}
	did, err := nba.ParseDecisionID(string(rawDecision))
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "decision_id in the path: "+err.Error())
		return
	}
	o, err := nba.ParseOutcome(ctx.PostBody(), pol.Catalogue())
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if o.DecisionID != (nba.DecisionID{}) && o.DecisionID != did {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "decision_id in the body differs from the one in the path")
		return
	}
	var typ string
	switch o.Kind {
	case nba.OutcomeClick:
		typ = "action_click"
	case nba.OutcomeDismiss:
		typ = "action_dismiss"
	default:
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request",
			"an order is attributed from its order_placed event on the orders topic (last touch within the action's attribution window); post click or dismiss here")
		return
	}
	rawID := ctx.QueryArgs().Peek("id")
	if len(rawID) == 0 {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "id is required: the contact or visitor id next-best-action was called with")
		return
	}
	if err := s.cfg.Ready(); err != nil {
		writeNotReady(ctx, err)
		return
	}
	sc := s.getNBAScratch()
	defer s.putNBAScratch(sc)
	found, ok, canon, err := s.resolveContact(ctx, sc, rawID)
	if !ok {
		return
	}
	if err != nil {
		s.cfg.Logger.Error("api: reading a contact for an outcome failed", "err", err)
		writeError(ctx, fasthttp.StatusInternalServerError, "internal", "reading the contact failed; the server log has the details")
		return
	}
	field, value := "anonymous_id", string(sc.id)
	if found {
		value = string(canon[2:])
		switch state.IDKind(canon[0]) {
		case state.IDContact:
			field = "contact_id"
		case state.IDEmail:
			field = "email"
		}
	}
	at := o.At
	if at.IsZero() {
		at = s.cfg.Now()
	}
	ev := map[string]any{
		"id":        "outcome-" + did.String() + "-" + o.Action + "-" + o.Kind.String(),
		"type":      typ,
		field:       value,
		"timestamp": at.UTC().Format(time.RFC3339Nano),
		"properties": map[string]string{
			"decision_id": did.String(),
			"action_id":   o.Action,
		},
	}
	body, err := json.Marshal(ev)
	if err != nil {
		writeError(ctx, fasthttp.StatusInternalServerError, "internal", "encoding the outcome event failed")
		return
	}
	s.nbaMetrics.published.WithLabelValues("outcome").Inc()
	s.cfg.NBA.Publish(s.cfg.NBA.ClickstreamTopic, []byte(value), nil, body, func(err error) {
		if err != nil {
			s.nbaMetrics.failed.Inc()
		}
	})
	b := append(sc.out[:0], `{"status":"accepted","event_id":`...)
	b = appendJSONString(b, ev["id"].(string))
	b = append(b, `,"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, '}')
	ctx.SetStatusCode(fasthttp.StatusAccepted)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	sc.out = b[:0]
}

// getNBAModel serves GET /v1/models/nba[?level=0.95]: impressions,
// outcomes, conversion rates with credible intervals and uplift against
// the control group, per action and overall.
func (s *Server) getNBAModel(ctx *fasthttp.RequestCtx) {
	if s.cfg.NBA.Report == nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "model_unavailable", "next-best-action is not enabled on this server")
		return
	}
	level := 0.95
	if v := ctx.QueryArgs().Peek("level"); len(v) > 0 {
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || !(f > 0 && f < 1) {
			writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "level must be a number between 0 and 1 (exclusive), such as 0.95")
			return
		}
		level = f
	}
	body, err := json.Marshal(s.cfg.NBA.Report(level))
	if err != nil {
		writeError(ctx, fasthttp.StatusInternalServerError, "internal", "encoding the report failed: "+err.Error())
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

func placementList(cat *nba.Catalogue) string {
	var b []byte
	for i, p := range cat.Placements() {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, p...)
	}
	return string(b)
}

// zone returns a contact's time zone from the server's cache:
// time.LoadLocation reads the zone database, far too slow for a request.
// Zone names in records were validated by the decoder, so the cache holds
// at most the zone database's few hundred names.
func (s *Server) zone(name string) *time.Location {
	if name == "" {
		return nil
	}
	if l, ok := s.zones.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	s.zones.Store(name, l)
	return l
}

// unsafeString views b as a string without copying; the string must not
// outlive b's next change (request scratch only).
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

const decisionsPrefix = "/v1/decisions/"

// matchDecisionRoute matches /v1/decisions/{decision_id}/outcome.
func matchDecisionRoute(path []byte) (route, []byte) {
	if len(path) <= len(decisionsPrefix) || string(path[:len(decisionsPrefix)]) != decisionsPrefix {
		return routeUnmatched, nil
	}
	seg := path[len(decisionsPrefix):]
	i := bytes.IndexByte(seg, '/')
	if i <= 0 || string(seg[i+1:]) != "outcome" {
		return routeUnmatched, nil
	}
	return routeOutcome, seg[:i]
}
