// Package features turns a contact's stored state into the fixed-length,
// versioned feature vector that the learned models consume. It is pure: no
// I/O, no goroutines, no metrics, no package state.
//
// # Place in the data flow
//
// The same function, Compute, builds the vector for training and for
// serving, so a model never sees features computed one way in training and
// another way in production:
//
//   - serving: the API (a bring-your-own TorchScript model, models/torch)
//     and next-best-action (the propensity model, models/propensity) call
//     Compute on the committed state.Contact at request time;
//   - training: the decision log records, with each decision, the vector
//     Compute gave at the decision's event time, and the propensity trainer
//     learns from those vectors and the outcomes that followed.
//
// Compute evaluates the contact at an instant at (event time, Unix
// milliseconds), never at the wall clock: decays and recencies are brought
// to at, exactly as the read-time scores are (DESIGN.md, principles 4 and
// 6). Stored times after at count as "just now" (a late read never yields a
// negative age).
//
// # Version 1
//
// Version names the layout below; a model records the version it was
// trained on and is refused with any other (models/torch, models/
// propensity). Any change to a definition, an order, a scale or the hash
// is a new Version, never an edit of this one.
//
// Rates (open_rate to bounce_rate) are capped at 1: clicks are counted
// even when an image proxy hid the open. Every feature is bounded or log-scaled so that an MLP trains on it
// without further normalisation being critical (the propensity trainer
// still standardises). "fresh(t, h)" is the freshness of an instant t at
// half-life h: 2^(−(at−t)/h), 1 just now, ½ after h, and 0 when t is 0
// (never happened). "log1p" is ln(1+x). Days are 86,400,000 ms.
//
//	idx    name                    definition
//	0      seen_fresh_7d           fresh(LastSeen, 7d)
//	1      seen_fresh_90d          fresh(LastSeen, 90d)
//	2      tenure_days_log         log1p(days since FirstSeen), 0 if never seen
//	3      sessions_log            log1p(Sessions.Count)
//	4      page_views_log          log1p(count of page_view)
//	5      product_views_log       log1p(count of product_view)
//	6      add_to_cart_log         log1p(count of add_to_cart)
//	7      searches_log            log1p(count of search)
//	8      form_submits_log        log1p(count of form_submit)
//	9      recent_24h_log          log1p(events of the recent ring in (at−1d, at])
//	10     recent_7d_log           log1p(events of the recent ring in (at−7d, at])
//	11     has_ordered             1 if Orders.Count > 0
//	12     order_fresh_30d         fresh(Orders.Last, 30d)
//	13     order_fresh_365d        fresh(Orders.Last, 365d)
//	14     orders_log              log1p(max(Orders.Count, 0))
//	15     purchase_days_365_log   log1p(purchase days in (atDay−365, atDay])
//	16     monetary_log            log1p(net revenue in major units, floored at 0)
//	17     aov_log                 log1p(net revenue / net orders, major units)
//	18     cancel_rate             Cancelled / Placed, 0 without orders
//	19     refund_share            Refunded / (Revenue + Refunded), 0 without
//	20     cart_items_log          log1p(total quantity in the open cart)
//	21     cart_value_log          log1p(open cart value, major units)
//	22     cart_fresh_1d           fresh(Cart.UpdatedAt, 1d) if the cart has items
//	23     delivered_log           log1p(emails delivered)
//	24     open_rate               (Opened + 1) / (Delivered + 4): shrunk to ¼
//	25     click_rate              (Clicked + 0.2) / (Delivered + 4): shrunk to 5%
//	26     click_to_open           (Clicked + 0.4) / (Opened + 2): shrunk to 20%
//	27     bounce_rate             Bounced / (Sent + 1)
//	28     open_fresh_30d          fresh(LastOpen, 30d): time since last open
//	29     click_fresh_30d         fresh(LastClick, 30d)
//	30     sent_fresh_7d           fresh(LastSent, 7d): recent marketing pressure
//	31     email_opted_in          email consent is opted_in
//	32     email_blocked           email consent is opted_out, suppressed or complained
//	33     sms_opted_in            SMS consent is opted_in
//	34     push_opted_in           push consent is opted_in
//	35     known                   has a contact id or an email address
//	36–42  stage_<name>            one-hot lifecycle stage (models/lead.Stage 0..6:
//	                               unknown, visitor, lead, mql, sql, customer, lapsed)
//	43     stage_age_days_log      log1p(days since StageAt), 0 if never staged
//	44     category_affinity_log   log1p(Σ category affinities decayed to at)
//	45     product_affinity_log    log1p(Σ product affinities decayed to at)
//	46–61  category_slot_<k>       share of the decayed category affinity whose
//	                               name hashes to slot k (xxhash64(name) mod 16);
//	                               the slots sum to 1 when there is any affinity
//
// Affinities are decayed from Contact.AffinityAt to at with
// state.AffinityHalfLife, the half-life the fold uses. Purchase days are in
// the contact's time zone and at's day is taken in UTC: the 365-day window
// can be off by a day at its edges, which a yearly count does not notice.
//
// Compute does not allocate (BenchmarkCompute).
package features
