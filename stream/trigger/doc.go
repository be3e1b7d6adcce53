// Package trigger decides which messages downstream senders (email, SMS,
// push services, a sales CRM) must send: it owns the trigger rules (a
// versioned YAML file with a shipped default, default_rules.yaml), their
// evaluation on (state before, state after, event), the durable timers of
// "N later" and "no X within T" rules, the contact policy (consent,
// marketing pressure with priorities, quiet hours), the trigger payload
// and its deterministic id, and the funnel metrics per rule.
//
// # Place in the data flow
//
// A partition worker, for each event it folds into a contact:
//
//  1. before := trigger.Snap(c), before the fold and the score update;
//  2. folds the event and updates the scores (models/lead);
//  3. builds an Input{Before: &before, After: c, Event: ev, Source: the
//     record's topic/partition/offset, Now: its watermark, P(alive) before
//     and after when known, State: the contact's decoded ContactState}; if
//     Engine.Wants(&in) is false it stops here;
//  4. acts = engine.Evaluate(&in, acts[:0]), then trigger.Apply(batch,
//     acts) and, when acts is not empty, stores State (AppendBinary) with
//     the contact, in the same Pebble batch as the contact and the offsets.
//
// Between batches (and on a wall-clock tick when the partition is idle) it
// fires the timers due at its Watermark: state.Partition.DueTimers(wm,
// max, fn), and for each timer loads the contact and its ContactState,
// calls Engine.Fire, applies the actions and stores contact and state in
// the batch. Fire re-checks the rule against the current state, so an
// order that arrived a second before the deadline wins.
//
// When identity resolution absorbs a profile into another, the absorbed
// key's timers are deleted (state.Batch.DeleteContactTimers) with its
// record, and its ContactState dropped: the surviving contact's own state
// and timers go on. An erase deletes the contact's timers the same way.
//
// Emitted triggers are outbox records (state.OutboxRecord) on
// kairos.triggers.<channel>, keyed by the contact's id, relayed by the
// engine's idempotent producer after the batch committed. Their id
// (TriggerID) derives from the source record, the rule and the
// occurrence, so a replay after a crash emits the same ids and senders
// drop duplicates by id.
//
// # Time
//
// Everything is event time: windows, waits, pressure, quiet hours (in the
// contact's own time zone) and expiry. Input.Now (the partition's
// watermark) is "now" for late events, whose triggers are judged at Now,
// not in the past. Watermark turns observed event times and an injected
// wall clock into that clock, advancing with the wall clock when the
// partition is idle.
//
// # Contact policy
//
// Policy.Check, in order: sales triggers are notices to the sales team
// and always pass; a missing address or a hard bounce drops any trigger;
// service triggers then pass; marketing needs consent (no complaint, not
// opted out, an opt-in where the channel requires one, the rule's list),
// then room under every pressure cap of its channel and no quiet hours;
// otherwise it is deferred to the next allowed moment (a timer) or dropped,
// as the rule's on_block says. Each channel has one deferral slot per
// contact: a higher-priority deferred trigger displaces a lower one; at
// equal priority the earlier keeps it. A trigger past its expiry is
// dropped. Every drop is counted with its Reason.
//
// # Metrics
//
// NewMetrics registers, per rule: kairos_trigger_evaluated_total,
// kairos_trigger_matched_total, kairos_trigger_suppressed_total{reason},
// kairos_trigger_deferred_total, kairos_trigger_emitted_total,
// kairos_trigger_cancelled_total and kairos_trigger_delay_seconds (event
// time from cause to emission).
//
// An Engine is immutable and safe for concurrent use; a rule reload is a
// new Engine swapped in between batches. Timers and contact states of a
// rule the new set lacks are dropped (reason rule_removed) when they fire.
package trigger
