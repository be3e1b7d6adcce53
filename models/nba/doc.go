// Package nba decides the next best action: which offer, message or piece
// of content to show a contact in a placement (homepage, product page,
// cart, email), and learns from what contacts do with it. It is pure: no
// I/O, no metrics, no package-level state. The API and the stream wire it.
//
// # Place in the data flow
//
//	catalogue YAML ──ParseCatalogue──► *Catalogue ─┐
//	Stats snapshot (merged partitions) ────────────┴─NewPolicy──► *Policy (immutable, swap atomically)
//
//	API request: fill a Context (SetContact + scores + request), decode the
//	contact's History, Policy.Decide(ctx, hist, NewDecisionID(), buf[:n])
//	  → Decision (top n Choices) ─► response; Policy.Record(...) ─► kairos.decisions
//	?explain=true: Policy.Explain(ctx, hist) → why-not for every action
//
//	stream worker, decision record: History.RecordImpression per choice,
//	  Stats.Add(Key{action, group, control}, Counts{Impressions: 1}), Stats.AddDecision
//	stream worker, outcome event:   History.RecordOutcome → if Attributed,
//	  Stats.Add(..., Counts{Conversions: 1} or {Dismissals: 1})
//	every few seconds: merge every partition's Stats, NewPolicy, swap
//
// # Catalogue
//
// A YAML file (DefaultCatalogue embeds default_catalogue.yaml, fitted to
// the demo shop). Top level: version (required, logged with every
// decision), description, control {share: 0..0.5 (default 0.05),
// baseline: priority|random}, defaults {prior {alpha, beta} (default
// 1, 19), stop_after_conversion (default true), attribution (default
// 7d)}, fallback {placement: action id} (served when nothing is eligible
// or the latency budget runs out; a fallback action may have no
// conditions, caps or dates), and actions, each with:
//
//	id: cart-reminder              # required; [a-z0-9][a-z0-9._-]*, ≤ 64 bytes
//	description: ...
//	placements: {homepage: 1.5, email: 1.2}   # or [homepage, email]: context weight 1
//	eligible: has_cart and cart_age_minutes >= 30   # optional expression
//	value: 20                      # required: business value of a conversion
//	lever: 1                       # optional, default 1: the marketer's weight
//	valid_from: 2026-11-01         # optional: date or RFC 3339
//	valid_until: 2026-12-01T00:00:00Z
//	cap: {max: 2, per: 2d}         # at most 2 impressions per contact per 2 days
//	stop_after_conversion: false   # default from defaults
//	attribution: 2d                # an outcome later than this after the impression is not credited
//	prior: {alpha: 1, beta: 19}    # Beta prior of the conversion probability
//
// Placements email, sms and push are messages: an action shown there needs
// the channel's opt-in (state.ConsentOptedIn) and is held back while
// Context.Pressure marks the channel's marketing-pressure limit reached.
// Every problem is a *CatalogueError "file:line: field: message".
//
// # Eligibility expressions
//
// Parsed by github.com/expr-lang/expr and lowered at load to typed
// closures (see expr.go for why), so they are type-checked at load and
// evaluate without allocating. Variables: known, email_opt_in,
// sms_opt_in, push_opt_in, has_cart (bool); lead_score, p_alive, clv,
// orders, revenue, days_since_last_order and days_since_first_seen (−1
// when unknown), cart_items, cart_value, cart_age_minutes (−1 without a
// cart), sessions, page_views, hour (0..23) and weekday (0 = Monday) in
// the contact's zone, emails_opened, emails_clicked (number); stage,
// segment, placement, page_url, page_category, top_category, language
// (string). Functions: affinity("shoes") (decayed category affinity, 0
// if none), recent("add_to_cart", "1h") (events of that type among the
// recent ones within the duration), subscribed("newsletter"). Operators:
// and or not (&& || !), == != < <= > >=, + - * / %, in [literals],
// contains, startsWith, endsWith, matches "regexp literal", c ? a : b.
// The expression is split at its top-level "and" so that Explain can name
// the first false condition.
//
// # Arbitration and learning
//
// Decide drops actions that are not for the placement, outside their
// dates, without consent or over pressure (message placements), capped,
// converted (stop_after_conversion) or dismissed in the window (History),
// or whose conditions are false; it ranks the rest by
// p × context weight × value × lever and keeps the best len(out).
//
// p is a Thompson draw from the Beta posterior of the action's conversion
// probability in the context group (placement × lifecycle stage: visitor,
// lead, mql, sql, customer, lapsed, other): prior plus conversions and
// non-conversions counted in Stats. New actions have wide posteriors, so
// they get explored; the draws are seeded by the decision id, so a
// decision can be reproduced. A share of contacts, chosen by a hash of
// the contact id (stable across requests and instances), is the control
// group and gets the baseline: a fixed priority order (weight × value ×
// lever) or a random order of the eligible actions. NewReport compares
// the arms per action and overall, with Beta credible intervals.
//
// Stats are sums per (action, group, arm), so partitions merge by adding
// (Merge is commutative and associative, tested). A History per contact
// (fixed size, at most MaxHistory actions, encoded in at most
// MaxHistoryBytes) holds impressions per cap window, the last decision
// per action (only that one can be credited, once, within the attribution
// window) and conversion and dismissal flags.
//
// # Cost
//
// Decide allocates nothing beyond the caller's buffer (TestDecideAllocs)
// and takes a few microseconds for 50 actions (BenchmarkDecide): it walks
// the actions in the order of an upper bound of their score (the
// posterior's 1−10⁻⁶ quantile, to which draws are clamped, × weight ×
// value × lever) and stops when no remaining action can make the top n,
// which TestDecidePruningIsExact proves changes no ranking. Give each
// goroutine its own Context: Decide stores derived values in it.
// NewPolicy computes those quantiles (about 10 µs per action and group):
// build policies off the request path.
package nba
