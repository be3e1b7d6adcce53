// Package rfm scores customers by Recency, Frequency and Monetary value
// against the live customer population, and maps the scores to named
// segments and letter grades. It is pure: no I/O, no goroutines, no
// metrics, no package state. It owns the Segment values persisted in
// state.Scores.Segment and in segment transitions.
//
// # Place in the data flow
//
// A customer's order history lives in per-partition state
// (state.Contact.Purchases: one entry per purchase day). RFM depends on
// "now", so nothing RFM-specific is stored per customer except the
// segment snapshot; everything is computed at read time (DESIGN.md,
// principle 6):
//
//  1. Population. At an evaluation day, each partition worker scans its
//     contacts, computes Raw for each, and adds the customers (ok = true)
//     to a fresh Population: three quantile sketches and a count. It
//     publishes the population's AppendBinary encoding.
//  2. Merge. Whoever needs the whole population (the API, the daily
//     segment snapshot) decodes the partitions' populations
//     (DecodePopulation) and merges them (Population.Merge), whether they
//     come from one instance or twenty (DESIGN.md, principle 3), then takes
//     Config.Cuts once: a small value.
//  3. Score. Per customer, at read time: Raw, then Cuts.Score, then
//     SegmentOf and Grade. Score, SegmentOf and Grade do not allocate.
//
// Merging is exact: sketch bins hold integral counts that add, so the
// merge of per-partition populations, in any order and grouping, is
// identical, bit for bit, to the population built from all customers at
// once (TestMergeProperties).
//
// # Raw values
//
// Recency r is the number of days from the last purchase day on or before
// the evaluation day to that day; frequency f is the number of orders
// (not days) in the window (atDay − Config.WindowDays, atDay], 365 days by
// default; monetary m is the net spend in that window in major units,
// floored at 0. Only purchase days on or before the evaluation day count,
// so a past day can be evaluated on current data. See Raw.
//
// # Quintile cuts and their error bound
//
// The distribution of each dimension is a DDSketch
// (github.com/DataDog/sketches-go, logarithmic mapping, dense stores),
// chosen because it merges exactly and its guarantee is a relative error,
// which suits skewed spend and day counts. Its relative accuracy is
// α = RelativeAccuracy = 0.005: the estimate x̂ of the
// value x at any rank satisfies |x̂ − x| ≤ α·x. Values are clamped to
// 0 ∪ [MinValue, MaxValue] = 0 ∪ [0.001, 1e12] (negatives and NaN count
// as 0, which is kept exactly), which bounds a sketch to fewer than 3,500
// bins (at most about 28 KiB in memory, a few bytes per non-empty bin
// encoded; a population of 100,000 shop-like customers encodes to about
// 3 KB).
//
// Order each dimension from worst to best (R by descending days, F and M
// ascending). With n ≥ 5 customers, cut k (k = 1..4) is the value of the
// customer at 0-based position ceil(k·n/5) in that order: the first
// customer of score k+1. So with n distinct values every score goes to
// n/5 customers, ±1. Quintiles returns the sketch's estimate of these
// values, within α relative error. R and F are whole numbers and their
// cut values are rounded to whole numbers, which makes them exact
// whenever the exact cut is below 1/(2α) = 100 (days or orders), and
// within α·x + 0.5 above. TestSketchAccuracy checks this on 100,000
// customers of three distributions; the worst errors measured are within
// α (about 0.4-0.5 %), and every exact cut lies in the bin of its
// estimate.
//
// # Tie rule
//
// A value equal to a cut scores the better of the two buckets the cut
// separates. On discrete data (F above all) several cuts coincide; a value
// equal to a run of e coinciding cuts could belong to any of the e+1
// buckets the run spans and scores the middle one, the better middle of
// two: score = 1 + (number of cuts it strictly beats) + ceil(e/2). With F
// cuts 1, 1, 2, 2 (60 % of customers ordered once), one order scores 2,
// two orders 4 and three or more 5. The score is always one that some
// customer sharing the value would get if ties were broken by rank, and
// within half a bucket of the middle of those (TestScoreSpreadsTies).
//
// For cuts from a population, "equal" means "in the same sketch bin as
// the cut": a value within about α of the cut, which the sketch cannot
// tell apart from the customer at the cut. So customers sharing a value
// (one order, a popular price) are tied whatever the sketch's error, and
// the customer exactly at a cut scores the better bucket, as the
// definition says (TestMonetaryTies, TestFiveCustomers). Whole numbers
// below 100 have a bin each, so there it is plain equality. Fallback and
// hand-made cuts compare exactly. See Cuts.Score.
//
// # Small populations
//
// With fewer than Config.MinPopulation customers (default 5, the least
// that has quintiles) Config.Cuts returns Config.Fallback, by default
// DefaultCuts: R 5 for at most 30 days, 4 for 90, 3 for 180, 2 for 365,
// else 1; F 1 for one order, 2 for two, 3 for 3-4, 4 for 5-7, 5 for 8 or
// more; M at 50, 150, 400 and 1000 major units. Cuts.Fallback is then
// true.
//
// # Segments
//
// SegmentOf maps (R, FM) to a segment, FM = ceil((F+M)/2), the average of
// F and M rounded up:
//
//	        FM=1            FM=2                 FM=3                 FM=4    FM=5
//	R=5     New customers   Potential loyalists  Potential loyalists  Loyal   Champions
//	R=4     Promising       Potential loyalists  Potential loyalists  Loyal   Loyal
//	R=3     About to sleep  About to sleep       Need attention       Loyal   Loyal
//	R=2     Lost            Hibernating          At risk              At risk At risk
//	R=1     Lost            Lost                 At risk              At risk Can't lose them
//
// This is the widely used R × (F+M)/2 grid, read the way it is drawn: as
// rectangles on a continuous plane where both axes run from 0 to 5 and a
// score s occupies the unit cell (s−1, s]. "R 4-5" is therefore R = 5 and
// "FM ≤ 2" is FM 1-2; an average such as 3.5 lies inside the cell (3, 4],
// hence FM = ceil((F+M)/2). The published rectangles, in these terms:
//
//	Champions            R 4-5, FM 4-5   R 5,     FM 5
//	Loyal                R 2-5, FM 3-5   R 3-5,   FM 4-5
//	Potential loyalists  R 3-5, FM 1-3   R 4-5,   FM 2-3
//	New customers        R 4-5, FM 0-1   R 5,     FM 1
//	Promising            R 3-4, FM 0-1   R 4,     FM 1
//	Need attention       R 2-3, FM 2-3   R 3,     FM 3
//	About to sleep       R 2-3, FM 0-2   R 3,     FM 1-2
//	At risk              R 0-2, FM 2-5   R 1-2,   FM 3-5
//	Can't lose them      R 0-1, FM 4-5   R 1,     FM 5
//	Hibernating          R 1-2, FM 1-2   R 2,     FM 2
//	Lost                 R 0-2, FM 0-2   R 1-2,   FM 1-2
//
// They cover all 25 cells and overlap only where one lies inside another;
// the smaller one takes precedence: Champions over Loyal, Can't lose them
// over At risk, Hibernating over Lost. (Reading the ranges as inclusive
// integer ranges instead would make Hibernating and Lost the same cells,
// so one of them could never occur.) TestSegmentOf derives the table from
// these rectangles and checks all 125 scores.
//
// Segment values are persisted and never change (NoSegment = 0, not a
// customer; Champions = 1 ... Lost = 11, in the order above). Rank orders
// them from best to worst for "moved to a worse segment" triggers (see
// Rank and Worse).
//
// # Grades
//
// Grade writes a score as three letters, R then F then M, 5 → A ... 1 → E:
// "AAA" is the best customer, "EEE" the weakest.
//
// # Encoding
//
// Population.AppendBinary writes a versioned (format 1), canonical,
// bounded (MaxEncodedLen) encoding; DecodePopulation checks every bound
// before it allocates and refuses anything inconsistent (FuzzDecodePopulation).
// The sketch parameters (α, the value range, the mapping) are fixed by the
// format version; all instances must share them to merge, which is why
// they are constants, not configuration.
package rfm
