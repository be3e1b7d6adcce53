// Package refresh runs the background refits of Kairos: the services that
// rebuild a model from the partitions this instance owns and swap it in
// for the fold and the API (stream/bandit's next-best-action policy,
// stream/sendprior's send-time prior, stream/population's population
// models). It owns what those services do alike, so that they schedule,
// log and count the same way:
//
//   - Interval checks and defaults a service's Config.Interval;
//   - Loop runs a refresh at once or after a first delay, then every
//     interval until its context ends, logs the failures that are not
//     expected, and retries early while a service has nothing yet;
//   - Metrics counts a service's refreshes by result and times the
//     successful ones.
//
// What a refresh does, and the metrics of its result, stay in each
// service.
//
// Metrics: none of its own. A service registers its Metrics under names
// it gives (kairos_<pkg>_refreshes_total, a counter labelled result with
// the values ok and failed, both present from the start, and
// kairos_<pkg>_refresh_seconds, a histogram of successful refreshes).
package refresh
