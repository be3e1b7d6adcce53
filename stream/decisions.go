package stream

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/state"
)

// The next-best-action learning loop, on the partition that owns the
// contact:
//
//	kairos.decisions record (nba.DecisionRecord, from the API)
//	    → impressions in the contact's ledger (caps, attribution) and in the
//	      partition's nba.Stats
//	action_click / action_dismiss event (decision_id, action_id), order_placed
//	    → ledger.RecordOutcome / RecordOrder → an attributed conversion or
//	      dismissal in the Stats cell of the decision that showed the action
//
// The partition's Stats are stored under state summary NBASummary in the
// same batch as the contacts and offsets, so a crash replays neither an
// impression nor an outcome twice; stream/bandit merges the partitions'
// Stats into the policy.

// NBASummary is the name of a partition's next-best-action statistics
// among its state summaries (state.Partition.Summary).
const NBASummary = "nba"

// Dead-letter reason of a decision record that is not one.
const reasonBadDecision = "bad_decision_record"

// nbaPartition is a worker's next-best-action state: the partition's
// statistics (loaded from Pebble when the worker starts) and scratch.
type nbaPartition struct {
	stats  *nba.Stats
	dirty  bool
	ledger nba.Ledger
	rec    nba.DecisionRecord
	parser fastjson.Parser
	buf    []byte
}

// loadNBA reads the partition's stored statistics.
func loadNBA(pt *state.Partition) (nbaPartition, error) {
	s := nba.NewStats()
	b, ok, err := pt.Summary(NBASummary)
	if err != nil {
		return nbaPartition{}, err
	}
	if ok {
		if err := s.UnmarshalBinary(b); err != nil {
			return nbaPartition{}, fmt.Errorf("next-best-action statistics: %w; the partition's state is damaged, restore it from the changelog", err)
		}
	}
	return nbaPartition{stats: s}, nil
}

// flushNBA adds the partition's statistics to the batch when they changed.
func (w *worker) flushNBA() error {
	if !w.nba.dirty {
		return nil
	}
	b, err := w.nba.stats.AppendBinary(w.nba.buf[:0])
	if err != nil {
		return err
	}
	w.nba.buf = b
	if err := w.batch.PutSummary(NBASummary, b); err != nil {
		return err
	}
	w.nba.dirty = false
	return nil
}

// handleDecision records a logged decision: impressions in the contact's
// ledger when the contact lives here, and in the partition's statistics
// always (a decision for a visitor the engine does not know yet still
// counts for the propensities).
func (w *worker) handleDecision(r *kgo.Record) error {
	m := w.e.nbaMetrics
	pol := w.policy()
	if pol == nil {
		m.decision(decisionNoCatalogue)
		return nil
	}
	rec := &w.nba.rec
	typ, err := nba.DecodeRecord(&w.nba.parser, r.Value, rec)
	if err != nil {
		m.decision(decisionBad)
		return w.deadLetter(r, reasonBadDecision, err.Error())
	}
	if typ == nba.RecordOutcome {
		// The engine logged it after folding the outcome's event: it is
		// for the propensity trainer, the statistics have it already.
		m.decision(decisionOutcome)
		return nil
	}
	cat := pol.Catalogue()
	c, err := w.decisionContact(r, rec)
	if err != nil {
		return err
	}
	w.nba.dirty = true
	if c == nil {
		w.nba.ledger = nba.Ledger{}
		w.nba.ledger.RecordDecision(cat, rec, w.nba.stats)
		m.decision(decisionNoContact)
		return nil
	}
	if err := w.nba.ledger.UnmarshalBinary(c.Decisions); err != nil {
		// A damaged ledger only loses caps and attribution for this
		// contact; it is not worth stopping the partition for.
		w.log.Warn("next-best-action ledger damaged; starting a new one", "contact", logKey(c.Key), "err", err)
		w.nba.ledger = nba.Ledger{}
	}
	w.nba.ledger.RecordDecision(cat, rec, w.nba.stats)
	if c.Decisions, err = w.nba.ledger.AppendBinary(c.Decisions[:0]); err != nil {
		return err
	}
	w.dirty[c.Key] = c
	m.decision(decisionRecorded)
	return nil
}

// decisionContact finds the contact a decision was made for on this
// partition: the typed key in the kairos.target header (the API sets the
// canonical key it answered from), else the record's contact or anonymous
// id. nil when the contact is not (or not yet) known here.
func (w *worker) decisionContact(r *kgo.Record, rec *nba.DecisionRecord) (*state.Contact, error) {
	var k state.Key
	for _, h := range r.Headers {
		if h.Key == HeaderTarget {
			k = state.Key(h.Value)
		}
	}
	switch {
	case k.Kind() != 0:
	case rec.ContactID != "":
		k = state.MakeKey(state.IDContact, rec.ContactID)
	case rec.AnonymousID != "":
		k = state.MakeKey(state.IDAnonymous, rec.AnonymousID)
	default:
		return nil, nil
	}
	for hops := 0; hops <= maxHops; hops++ {
		if w.e.partitionOf(k.Value()) != w.p {
			return nil, nil
		}
		c, alias, err := w.resolve(k)
		if err != nil || alias == "" {
			return c, err
		}
		k = alias
	}
	return nil, nil
}

// nbaOutcome attributes an outcome event just folded into c: a click on or
// a dismissal of a shown action, or an order (last touch within the
// action's attribution window).
func (w *worker) nbaOutcome(c *state.Contact) error {
	ev := &w.ev
	var kind nba.OutcomeKind
	switch ev.Type {
	case state.EventActionClick:
		kind = nba.OutcomeClick
	case state.EventActionDismiss:
		kind = nba.OutcomeDismiss
	case state.EventOrderPlaced:
		kind = nba.OutcomeOrder
	default:
		return nil
	}
	pol := w.policy()
	if pol == nil {
		return nil
	}
	if len(c.Decisions) == 0 {
		if kind != nba.OutcomeOrder {
			w.e.nbaMetrics.outcome(kind, nba.NotShown)
		}
		return nil
	}
	l := &w.nba.ledger
	if err := l.UnmarshalBinary(c.Decisions); err != nil {
		w.log.Warn("next-best-action ledger damaged; outcome not attributed", "contact", logKey(c.Key), "err", err)
		return nil
	}
	cat := pol.Catalogue()
	var res nba.Attribution
	if kind == nba.OutcomeOrder {
		var a *nba.Action
		if res, a = l.RecordOrder(cat, ev.Time, w.nba.stats); a == nil {
			return nil // no action shown within its window: not an outcome
		}
	} else {
		id, err := nba.ParseDecisionID(ev.DecisionID)
		if err != nil {
			// The decoder checked the form; this cannot happen.
			return fmt.Errorf("outcome event %s: %w", ev.ID, err)
		}
		res = l.RecordOutcome(cat, id, ev.Action, kind, ev.Time, w.nba.stats)
	}
	w.e.nbaMetrics.outcome(kind, res)
	if res == nba.Attributed {
		w.nba.dirty = true
	}
	var err error
	c.Decisions, err = l.AppendBinary(c.Decisions[:0])
	return err
}

func (w *worker) policy() *nba.Policy {
	if w.e.cfg.NBA == nil {
		return nil
	}
	return w.e.cfg.NBA.Load()
}

// Results of a decision record, the result label.
const (
	decisionRecorded    = "recorded"
	decisionNoContact   = "no_contact"
	decisionNoCatalogue = "no_catalogue"
	decisionBad         = "bad"
	decisionOutcome     = "outcome"
)

// nbaMetrics count the learning loop. Labels are bounded: result (the
// four above), outcome (click, order, dismiss), attribution (nba's four).
type nbaMetrics struct {
	decisions map[string]prometheus.Counter
	outcomes  [4][4]prometheus.Counter // [kind][attribution]
}

func newNBAMetrics(reg prometheus.Registerer) *nbaMetrics {
	dv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_stream_nba_decisions_total",
		Help: "Next-best-action decision records consumed from kairos.decisions, by result: recorded (in the contact's history and the statistics), no_contact (statistics only: the contact is not known here yet), no_catalogue, bad (dead-lettered), outcome (an outcome record the engine logged for the propensity trainer: skipped).",
	}, []string{"result"})
	ov := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_stream_nba_outcomes_total",
		Help: "Next-best-action outcomes (action clicks, dismissals, orders after an impression), by outcome and attribution; only attributed ones update the statistics.",
	}, []string{"outcome", "attribution"})
	m := &nbaMetrics{decisions: make(map[string]prometheus.Counter)}
	for _, r := range []string{decisionRecorded, decisionNoContact, decisionNoCatalogue, decisionBad, decisionOutcome} {
		m.decisions[r] = dv.WithLabelValues(r)
	}
	for k := nba.OutcomeClick; k <= nba.OutcomeDismiss; k++ {
		for a := nba.Attributed; a <= nba.OutsideWindow; a++ {
			m.outcomes[k][a] = ov.WithLabelValues(k.String(), a.String())
		}
	}
	if reg != nil {
		reg.MustRegister(dv, ov)
	}
	return m
}

func (m *nbaMetrics) decision(result string) { m.decisions[result].Inc() }

func (m *nbaMetrics) outcome(k nba.OutcomeKind, a nba.Attribution) {
	if int(k) < len(m.outcomes) && int(a) < len(m.outcomes[k]) && m.outcomes[k][a] != nil {
		m.outcomes[k][a].Inc()
	}
}
