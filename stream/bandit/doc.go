// Package bandit keeps the next-best-action policy learning: every few
// seconds it merges the bandit statistics (nba.Stats) that the partition
// workers store beside their state (state summary stream.NBASummary,
// written in the same batch as the impressions and outcomes they count),
// rebuilds the nba.Policy from the catalogue and the merged statistics,
// and swaps it atomically for the API and the workers.
//
//	partition workers ──(Pebble, per partition)──► Refresh: Merge ─► nba.NewPolicy ─► atomic swap
//	                                                         └─► Report (GET /v1/models/nba)
//
// It reads the partitions this instance owns; Stats are sums, so the merge
// is the same in any order (with several instances each learns from its
// own partitions' outcomes, like the other population summaries).
//
// Metrics: kairos_bandit_refreshes_total{result} (ok, failed),
// kairos_bandit_refresh_seconds, kairos_bandit_decisions (in the merged
// statistics, both arms).
package bandit
