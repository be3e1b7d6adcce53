// Package population builds the population models the per-contact scores
// are read against: the RFM quintile cuts and the fitted BG/NBD and
// Gamma-Gamma parameters (DESIGN.md, principle 3).
//
// Each partition contributes a Summary: a mergeable RFM sketch, a churn
// summary of sufficient statistics, and counts of contacts per lifecycle
// stage and RFM segment with score distributions. A Service scans the
// partitions this instance owns (a Pebble iterator per partition: the scan
// never blocks the partition's writer), merges their summaries, fits the
// churn models warm-started from the previous fit and bounded in time,
// scans again to count stages and segments and the score distributions
// under the models just fitted, and swaps a new scoring.Models snapshot in
// for the fold and the API. It runs
// on a schedule (Config.Interval) and on demand (Service.Refresh). A fit
// for a past instant (the API's ?at=) uses only purchases up to it and is
// cached (Service.At).
//
// With several instances, each instance fits on the partitions it owns:
// the sufficient statistics of a partition are a sample of the whole
// population drawn by hash, so the fit estimates the same parameters, but
// the summaries are not yet exchanged between instances (see the README).
//
// Metrics (prefix kairos_population_): fit duration and log-likelihood per
// model, customers and repeat customers fitted, scan duration, contacts per
// stage and segment, and distributions of lead score, P(alive) and CLV
// over the population as of the last refresh.
package population
