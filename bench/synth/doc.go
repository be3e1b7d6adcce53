// Package synth generates synthetic traffic that behaves like the audience
// of a real web shop, as JSON events of the Kairos event contract on the
// three input topics (kairos.clickstream, kairos.orders, kairos.email). It
// feeds `kairos demo`, the crash test and the ingest benchmarks.
//
// # What it simulates
//
// A catalogue of 8 categories and 200 SKUs with log-uniform prices per
// category, and an audience of Config.Contacts people plus Config.Visitors
// purely anonymous browsers. Every contact has a persona drawn once from
// the seed: a time zone (Europe/Amsterdam, Europe/London, America/New_York,
// America/Los_Angeles, Asia/Tokyo, UTC) with a matching country, language
// and name; a preferred local hour for reading email; a web activity level;
// a buyer type (never buys, one-off, repeat buyer with a typical gap between
// orders, lapsing buyer who stops after some date); a share are B2B, with a
// job title, industry, company and company size.
//
// People browse in sessions placed by a daily rhythm in their local time: a
// landing page from a traffic source (direct, organic or paid search,
// social, referral, a campaign email) with referrer and UTM context, then
// page and product views focused on a category, searches, carts that are
// filled, trimmed, abandoned or checked out. Contacts start either known
// (imported, subscribed to lists, browser not yet linked) or unknown; they
// sign up (signup, then identify) or identify when logging in, clicking a
// tracked email link or checking out, and identify always carries the
// anonymous id, contact id and email together. Browsers are replaced now and
// then, so a contact collects several anonymous ids; anonymous visitors who
// never return are replaced by new ones.
//
// Orders are followed by shipping, and sometimes by a cancellation or a
// whole or partial refund. Weekly newsletter and promotion campaigns and a
// four-weekly B2B product update are sent to subscribed contacts; delivery
// follows within seconds, with occasional soft and hard bounces (bad
// addresses hard-bounce once and are suppressed); opens cluster around each
// contact's preferred local hour, that day or a later one; clicks lead to a
// web session; a few unsubscribe from one list or from all, and complaints
// are rare. B2B contacts download content and some request a demo.
//
// # Clock and order
//
// Time is simulated: Next returns events in order of their simulated time
// (Generator.Now), as fast as the caller asks for them; pacing in wall time
// is the caller's business. A small share (Config.LateRate) is held back and
// delivered up to two simulated minutes late with its true timestamp, as
// real collectors do.
//
// # Determinism and ids
//
// The same Config produces the same bytes on every run and host (the zones
// come from the embedded time/tzdata). The seed is part of every id (event
// "s<seed>-<n>", contact "c<seed>-<n>", anonymous "a<seed>-<hex>", order
// "o<seed>-<n>", bad record "s<seed>-b<n>"), so runs with different seeds
// never share ids and a replay of the same seed is recognisably a replay.
//
// # Malformed records
//
// With Config.BadRate > 0, malformed records are mixed in for dead-letter
// tests, marked with Record.Bad and a Record.Reason: invalid_json,
// unknown_type, missing_field (an order event without order_id) and
// bad_timestamp. They use their own random source and ids, so the good
// records are exactly those of a run without them.
//
// # Speed
//
// Events are written with strconv-style appends into a fixed buffer, and
// the schedule is a small heap for the current hour in front of a ring of
// hourly buckets: one allocation per event (the record's bytes), several
// hundred thousand to over a million events per second on one core; see
// BenchmarkNext. A Generator is not safe for concurrent use: run one per
// goroutine, with different seeds, to generate in parallel.
//
// The package registers no metrics.
package synth
