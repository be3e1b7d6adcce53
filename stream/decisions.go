package stream

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

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
//	    → an nba.OutcomeRecord (type "outcome") on kairos.decisions, keyed
//	      by the contact like the decision, through the outbox
//	kairos.decisions outcome record → skipped here (the Stats have it);
//	    stream/decisionlog joins it to its decision as a training example
//
// The partition's Stats are stored under state summary NBASummary in the
// same batch as the contacts and offsets, so a crash replays neither an
// impression nor an outcome twice; stream/bandit merges the partitions'
// Stats into the policy. The outcome record is an outbox record of that
// same batch: it is published only once the batch is durable, exactly
// when the outcome was counted (logOutcome).

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

// nbaOutcome attributes an outcome event just folded into c from r: a
// click on or a dismissal of a shown action, or an order (last touch
// within the action's attribution window). An attributed one is also
// logged for the propensity trainer (logOutcome).
func (w *worker) nbaOutcome(r *kgo.Record, c *state.Contact) error {
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
	var (
		res   nba.Attribution
		o     = nba.Outcome{Kind: kind, At: time.UnixMilli(ev.Time).UTC()}
		known = true // o.DecisionID is the full id
	)
	if kind == nba.OutcomeOrder {
		var a *nba.Action
		if res, a = l.RecordOrder(cat, ev.Time, w.nba.stats); a == nil {
			return nil // no action shown within its window: not an outcome
		}
		o.Action, o.Value = a.ID, float64(ev.Total)/100
		o.DecisionID, known = l.LastDecision(a)
	} else {
		id, err := nba.ParseDecisionID(ev.DecisionID)
		if err != nil {
			// The decoder checked the form; this cannot happen.
			return fmt.Errorf("outcome event %s: %w", ev.ID, err)
		}
		res = l.RecordOutcome(cat, id, ev.Action, kind, ev.Time, w.nba.stats)
		o.DecisionID, o.Action = id, ev.Action
	}
	w.e.nbaMetrics.outcome(kind, res)
	if res == nba.Attributed {
		w.nba.dirty = true
		if err := w.logOutcome(r, c, &o, known); err != nil {
			return err
		}
	}
	var err error
	c.Decisions, err = l.AppendBinary(c.Decisions[:0])
	return err
}

// logOutcome queues the outcome record of an attributed outcome on the
// decision log, through the outbox: it is published once the batch that
// attributed it (and holds the event's offset) is durable, so a crash
// either loses both or replays neither. A record published but not yet
// deleted from the outbox when the process dies is published again
// unchanged (same key, value and kairos.id), which the trainer's join by
// (decision_id, action_id) absorbs; everything in it derives from the
// event and the contact's ledger, so a replay of the event after lost
// state writes the same bytes.
//
// The record is keyed by the contact's id like the API's decision records
// (the typed key in kairos.target), so it lands on the contact's partition
// of the decision log. known is false for an order credited to an
// impression whose decision id the ledger does not have (written before
// ledgers kept it): the trainer could not join such a record, so it is
// only counted.
func (w *worker) logOutcome(r *kgo.Record, c *state.Contact, o *nba.Outcome, known bool) error {
	m := w.e.nbaMetrics
	if !known {
		m.outcomeLog(outcomeLogNoDecisionID)
		return nil
	}
	v, err := json.Marshal(nba.OutcomeLog(*o))
	if err != nil {
		return fmt.Errorf("outcome record of event %s: %w", w.ev.ID, err)
	}
	// kairos.id names the input record that caused the outcome, also
	// behind a forward through the re-key topic (triggerSource), as
	// "topic/partition/offset/0" like internal records.
	src := w.triggerSource(r)
	p := packer{b: make([]byte, 0, 2*len(c.Key)+len(src.Topic)+48)}
	lo := len(p.b)
	p.b = append(append(p.b, src.Topic...), '/')
	p.b = append(strconv.AppendInt(p.b, int64(src.Partition), 10), '/')
	p.b = append(strconv.AppendInt(p.b, src.Offset, 10), "/0"...)
	id := p.part(lo)
	if err := w.batch.AddOutbox(state.OutboxRecord{
		Topic: w.e.cfg.Topics.Decisions,
		Key:   p.str(c.Key.Value()),
		Value: v,
		Headers: []state.Header{
			{Key: HeaderTarget, Value: p.str(string(c.Key))},
			{Key: HeaderID, Value: id},
		},
	}); err != nil {
		return err
	}
	m.outcomeLog(outcomeLogQueued)
	return nil
}

// absorbLedger merges the next-best-action ledger of prof, a profile being
// merged into c (a visitor who logged in), into c's: what the visitor was
// shown still counts towards caps, and their outcomes are still
// attributed to the decisions that showed the actions (nba.Ledger.Absorb).
func (w *worker) absorbLedger(c, prof *state.Contact) error {
	if len(prof.Decisions) == 0 {
		return nil
	}
	if len(c.Decisions) == 0 {
		c.Decisions = append(c.Decisions[:0], prof.Decisions...)
		return nil
	}
	pol := w.policy()
	if pol == nil {
		return nil // nothing reads ledgers without a catalogue; c's stays
	}
	var theirs nba.Ledger
	if err := theirs.UnmarshalBinary(prof.Decisions); err != nil {
		w.log.Warn("next-best-action ledger of a merged profile damaged; not merged", "contact", logKey(c.Key), "err", err)
		return nil
	}
	l := &w.nba.ledger
	if err := l.UnmarshalBinary(c.Decisions); err != nil {
		w.log.Warn("next-best-action ledger damaged; the merged profile's replaces it", "contact", logKey(c.Key), "err", err)
		*l = nba.Ledger{}
	}
	l.Absorb(pol.Catalogue(), &theirs)
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

// Results of logging an attributed outcome, the result label.
const (
	outcomeLogQueued       = "queued"
	outcomeLogNoDecisionID = "no_decision_id"
)

// nbaMetrics count the learning loop. Labels are bounded: result (the
// five above; the two outcome-log results), outcome (click, order,
// dismiss), attribution (nba's four).
type nbaMetrics struct {
	decisions   map[string]prometheus.Counter
	outcomes    [4][4]prometheus.Counter // [kind][attribution]
	outcomeLogs map[string]prometheus.Counter
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
	lv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_stream_nba_outcome_records_total",
		Help: "Outcome records for the propensity trainer, one per attributed outcome, by result: queued (in the outbox for kairos.decisions, published once its batch is durable), no_decision_id (an order credited to an impression logged before contacts' ledgers kept decision ids: not logged, the trainer could not join it).",
	}, []string{"result"})
	m := &nbaMetrics{decisions: make(map[string]prometheus.Counter), outcomeLogs: make(map[string]prometheus.Counter)}
	for _, r := range []string{decisionRecorded, decisionNoContact, decisionNoCatalogue, decisionBad, decisionOutcome} {
		m.decisions[r] = dv.WithLabelValues(r)
	}
	for _, r := range []string{outcomeLogQueued, outcomeLogNoDecisionID} {
		m.outcomeLogs[r] = lv.WithLabelValues(r)
	}
	for k := nba.OutcomeClick; k <= nba.OutcomeDismiss; k++ {
		for a := nba.Attributed; a <= nba.OutsideWindow; a++ {
			m.outcomes[k][a] = ov.WithLabelValues(k.String(), a.String())
		}
	}
	if reg != nil {
		reg.MustRegister(dv, ov, lv)
	}
	return m
}

func (m *nbaMetrics) decision(result string) { m.decisions[result].Inc() }

func (m *nbaMetrics) outcomeLog(result string) { m.outcomeLogs[result].Inc() }

func (m *nbaMetrics) outcome(k nba.OutcomeKind, a nba.Attribution) {
	if int(k) < len(m.outcomes) && int(a) < len(m.outcomes[k]) && m.outcomes[k][a] != nil {
		m.outcomes[k][a].Inc()
	}
}
