// Package lead scores leads: it owns the lead-scoring plan (a versioned
// YAML file), folds events into a contact's stored lead score on the hot
// path, computes the decayed score and its "why" at read time, merges the
// scores of merged profiles, and decides the lifecycle stage (visitor,
// lead, MQL, SQL, customer, lapsed). It registers no metrics and keeps no
// package-level state; a *Plan is immutable and safe for concurrent use.
//
// # Place in the data flow
//
// The partition worker folds an event into its state.Contact, then calls
// Plan.Apply with the contact's state.Scores, the event's type, time and
// properties (the decoded *event.Event implements Props) and the contact.
// Apply updates the stored per-rule points (state.LeadRule) and, when the
// stage changes, s.Stage, s.StageAt and s.Transitions; the worker writes the
// contact in its batch as usual and can turn Change.StageChanged into a
// trigger. When identity resolution absorbs a profile into another
// (state.Contact.Absorb, which leaves Scores alone) the worker calls
// Plan.Merge on the two Scores. The churn integration calls
// Plan.MarkLapsed. The API calls Plan.Score or Plan.ScoreInto at request
// time: decay and fit are computed then, nothing is written (DESIGN.md,
// principle 6).
//
// Configuration is data (principle 7): Default parses the plan shipped
// in default_plan.yaml (a web shop with B2B traffic; the demo uses it);
// LoadPlan parses an operator's file. A plan that does not validate fails
// with a *PlanError, "file:line: field.path: message", naming the first
// problem and what to do. Reloading is parsing a new *Plan and swapping an
// atomic pointer: stored state refers to rules by id only, so a new plan
// applies to every contact at once. Entries of rules the new plan does
// not have are kept (a rollback finds them) but count nothing, and are
// the first evicted when a record's rule list is full.
//
// # The plan format
//
// A complete plan, with every field:
//
//	version: "2026-11-01.1"     # required: any text up to 128 bytes, shown with scores and in logs
//	description: Web shop       # optional
//	top: 5                      # optional, 1..20, default 5: contributions Score reports
//
//	lifecycle:                  # required
//	  mql: 60                   # required: score at which a known lead becomes MQL
//	  sql: 100                  # score at which it becomes SQL; above mql; required without sales_accepted
//	  hysteresis: 10            # optional, ≥ 0, default 0: drop below mql−10 (sql−10) to leave MQL (SQL)
//	  sales_accepted:           # optional: what makes a contact SQL whatever its score
//	    rules: [sales-accepted] #   behavioural rule ids: once hit, the contact is accepted
//	    traits:                 #   trait conditions: accepted while they hold
//	      lead_status: {in: [sales-accepted, sql]}
//
//	behaviour:                  # required: rule groups on events, decaying
//	  - group: intent           # required: group id, unique among all groups
//	    description: On the site  # optional
//	    half_life: 30d          # required: how fast the group's points fade, or never
//	    rules:                  # required, at least one
//	      - id: pricing-page    # required: rule id, unique across behaviour and fit
//	        description: Viewed the pricing page  # optional: shown in Score's Top
//	        event: page_view    # required: an event type's wire name
//	        when:               # optional: conditions on the event's properties, all must hold
//	          url: {contains: /pricing}
//	        points: 10          # required: may be negative (or 0, for a marker rule)
//	        cap: {max: 2, per: 7d}  # optional: count at most 2 hits per 7-day window
//
//	fit:                        # optional: rule groups on the contact's traits, not decaying
//	  - group: firmographic     # required; fit groups have no half_life
//	    description: Who the contact is
//	    rules:
//	      - id: company-size    # required, unique
//	        description: 50+ employees
//	        traits:             # required: conditions on traits, all must hold
//	          company_size: {gte: 50}
//	        points: 10          # required
//
// Ids are 1 to 64 bytes of lower-case letters, digits, '-', '_' and '.',
// starting with a letter or digit; they are stored in contact records, so
// renaming a rule starts it from zero. A plan has at most 64 behavioural
// rules (state.MaxLeadRules, so every rule has room in a record) and 64 fit
// rules. Durations are a number and a unit, ms, s, m, h, d (24h) or w (7
// days), possibly combined ("1d12h"), and positive. Unknown fields, a
// repeated field and a number written as a quoted string are errors.
// YAML anchors and aliases may be used to share conditions.
//
// # Conditions
//
// when (event properties) and traits (contact traits) map a name to one or
// more operators; every operator under every name must hold:
//
//	when:
//	  form: {equals: request-demo}
//	  total: {gte: 100, lte: 1000}
//
//	equals: VALUE          the value, exactly
//	in: [V1, V2, ...]      one of the values
//	contains: V | [V, ...] has one of them as a substring
//	word: V | [V, ...]     has one of them as whole words: not preceded or
//	                       followed by a letter or digit ("cto" matches "CTO,
//	                       Co-Founder" but not "Director"; "vice president"
//	                       matches "Vice President Sales")
//	prefix: V | [V, ...]   starts with one of them
//	gte: N, lte: N         the value read as a number is ≥ N, ≤ N
//	exists: true | false   the property or trait is present (or absent)
//
// String comparisons ignore ASCII case. A missing or empty value is
// absent: only exists: false holds for it. Numbers are read from the
// value's text: "250", "-1.5", "2e3", and, for the ranges forms use for
// company sizes, the lower bound of "51-200" and of "1000+"; anything else
// (such as "large") fails gte and lte. Event properties are the event's
// top-level scalar properties as text (see Props).
//
// # Decay
//
// Behaviour decays exponentially with its group's half-life: points p
// earned at t are worth p·2^(−(T−t)/half_life) at T. A contact stores, per
// rule, one state.LeadRule: the sum of its hits' points decayed to At (the
// latest hit's time). Apply keeps it so in any arrival order: an event
// later than At decays the stored points to the event time and adds its
// points; a late event adds its points decayed from its time to At. The
// stored value is therefore Σ points_i·2^(−(At−t_i)/half_life) whatever
// the order (up to float rounding), and the score at any T ≥ At is the
// stored points decayed from At to T, computed exactly at read time, never
// stepwise. Reading at T < At (a clock behind the latest event) does not
// inflate the points. A group with half_life: never does not decay. Fit
// rules do not decay: traits are read when the score is.
//
// # Caps
//
// A capped rule counts its hits in a window anchored at the window's first
// hit (event time): a hit at or after WindowStart+per opens a new window;
// beyond max hits in a window a matching event adds nothing
// (Change.Capped). A late hit older than the current window counts
// against the current window, so caps can under-count around late events
// but never count more than max per window. Arrival order does not change
// scores of uncapped rules; for capped rules it can, near window edges.
//
// # Stages and hysteresis
//
// The stage is stored (state.Scores.Stage, values of Stage) and recomputed
// by every Apply and Refresh; the first applicable wins:
//
//  1. lapsed: the stored stage is lapsed and no order was placed after
//     StageAt (when the contact was marked). Only MarkLapsed enters
//     lapsed, and only from customer; an order with a later event time,
//     or MarkLapsed(false), returns to customer.
//  2. customer: at least one net order (Orders.Count > 0). Customer
//     overrides MQL, SQL and sales acceptance; a contact whose orders are
//     all cancelled falls back to the rules below.
//  3. visitor: anonymous, without a contact id or an email address (nor a
//     key of those kinds), whatever its score: marketing can act on
//     nobody anonymous, and an identify moves it up at once.
//  4. SQL: sales accepted it (a sales_accepted rule was ever hit, or the
//     sales_accepted traits hold), or the score is at least sql, or the
//     stored stage is SQL or above and the score is at least
//     sql − hysteresis.
//  5. MQL: the score is at least mql, or the stored stage is MQL or above
//     and the score is at least mql − hysteresis.
//  6. lead.
//
// The score is the total: behaviour decayed to the event's time plus fit.
// Hysteresis keeps a score that oscillates around a threshold from
// flapping the stage: with mql 60 and hysteresis 10 a lead becomes MQL at
// 60 and stays MQL until its score drops below 50. "Above" is along the
// funnel (lead < MQL < SQL < customer = lapsed): a customer whose orders
// were all cancelled keeps SQL down to sql − hysteresis.
//
// Every change sets StageAt to the change's time (never earlier than the
// previous StageAt, so a late event cannot date a change before the stage
// it leaves) and appends a state.Transition of kind
// state.TransitionStage, keeping the newest state.MaxTransitions. The
// first classification of a contact is a change from StageUnknown.
// Decay alone changes no stored stage until the next Apply or Refresh
// (for which a worker can set a timer); Score reports the stage as it is
// at the instant read, which can be ahead of the stored one.
//
// # Merge
//
// Merge adds an absorbed profile's scores to the surviving one's as if
// one contact had seen both histories; see Plan.Merge for hits, windows
// and transitions. The stage is recomputed by the next Apply or Refresh
// from the merged points and the merged contact (call Refresh right after
// the merge to record it at once).
//
// # Cost and ownership
//
// Apply and ScoreInto allocate nothing in the common case (a rule the
// contact already has; a caller buffer of Plan.Top() contributions),
// which TestApplyAllocs and TestScoreIntoAllocs check. Both lower-case a
// property or trait once per call in a stack buffer and search it with
// bytes.Index. Apply reads the traits (fit) only when they can change the
// stage. BenchmarkApply and BenchmarkScoreInto measure them. Props values
// are not kept. Contributions share the plan's strings.
package lead
