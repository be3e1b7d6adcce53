// Package scoring puts a contact's models together: the lead score
// (models/lead), RFM (models/rfm) and the churn models (models/churn). It
// owns three things and nothing else:
//
//   - Models, an immutable snapshot of everything scoring needs: the lead
//     plan, the RFM and churn configuration, and the Population (RFM cuts
//     and fitted BG/NBD and Gamma-Gamma parameters) it was built with. A
//     new plan or a new fit is a new snapshot, swapped atomically by its
//     owner;
//   - Models.Fold, which the partition worker's fold calls after every
//     event: it updates the stored lead score and stage, takes the daily
//     RFM segment snapshot, and marks a customer the churn model finds
//     likely gone as lapsed, returning the stage and segment transitions;
//   - Models.Evaluate, which the API calls at read time: every figure that
//     depends on "now" (decay, recency, P(alive), expected purchases, CLV)
//     is computed for the instant asked, nothing is written (DESIGN.md,
//     principle 6); and Observe, which adds one contact to a partition's
//     population summaries (an RFM sketch and a churn summary), the
//     mergeable parts the population fit is built from (principle 3).
//
// Days are counted in the contact's time zone, as the fold counts purchase
// days. The package registers no metrics.
package scoring
