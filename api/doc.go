// Package api is Kairos's HTTP API: a fasthttp server that reads contact
// state from the state store at request time and answers in JSON. It owns
// routing, request validation, the JSON documents and the error format; it
// never writes state (principle 6 of DESIGN.md: a read needs no write).
// Scores that depend on "now", such as decayed affinities, are computed
// from the stored sufficient statistics with Config.Now when a request is
// answered.
//
// # Routes
//
// Every route answers GET and HEAD; another method gets 405 with an Allow
// header, an unknown path 404.
//
//	GET /healthz             200 {"status":"ok"} while the process serves HTTP
//	GET /readyz              200 {"status":"ready"}, or 503 not_ready with the text
//	                         of Config.Ready's error (what the engine waits for)
//	GET /metrics             Prometheus exposition of Config.Gatherer (404 without one)
//	GET /v1/contacts/{id}    the profile of a contact (see render.go for the document)
//	GET /v1/contacts?email=  the same, looked up by (normalised) email
//	GET /v1/contacts?anonymous_id=
//	                         the same, looked up by anonymous id
//	POST /v1/admin/reload    reload the models directory (Config.Reload; learned.go):
//	                         200, or 422 reload_incomplete naming each bad file
//
// With Config.Learned, a profile's scores hold "models": each
// bring-your-own model's output on features.Compute(contact, instant).
//
// {id} is one percent-decoded path segment (so an id may contain an
// encoded '/'). It is resolved as a contact id (key c:{id}); if there is
// none and the id contains '@', as an email (e:{normalised id}); then as an
// anonymous id (a:{id}). Aliases are followed to the canonical contact, so
// an email or anonymous id of a merged contact finds the merged profile.
// Query values are form-encoded: a '+' in an email must be sent as %2B,
// since a bare '+' means a space. Ids, emails and anonymous ids must be 1
// to MaxIDLen bytes of valid UTF-8 without control characters (checked
// before normalising). While Config.Ready reports an error the /v1 routes
// answer 503 not_ready with a Retry-After header: the state may be
// incomplete while partitions are restored.
//
// # Errors
//
// Every error is a JSON document with a stable machine-readable code and a
// message for humans that says what was wrong:
//
//	{"error":{"code":"bad_request","message":"contact id is 300 bytes long; the limit is 256"}}
//
// The codes are bad_request (400), not_found (404), method_not_allowed
// (405), timeout (408), payload_too_large (413, a body over
// Config.MaxRequestBodySize, refused before routing whatever the path and
// method), header_too_large (431), internal (500; the details are in the
// server log, never in the response) and not_ready (503).
//
// # Metrics
//
// Registered on Config.Registerer when it is not nil:
//
//	kairos_api_requests_total{route,code}          requests answered
//	kairos_api_request_duration_seconds{route}     handling time, buckets from 50µs
//	kairos_api_inflight_requests                   requests being handled
//	kairos_api_nba_fallbacks_total{reason}         next-best-action answered with the fallback: budget, error, not_ready
//	kairos_api_nba_published_total{kind}           decision records and outcome events handed to Kafka
//	kairos_api_nba_publish_failures_total          of those, not delivered (buffer full, broker error)
//
// route is the route pattern ("/v1/contacts/{id}", "/healthz", ...,
// "unmatched" for unknown paths), never the raw path, so the label stays
// bounded and carries no contact ids. Requests refused before routing
// (413, malformed) are counted but not timed.
//
// # Performance
//
// A profile read is one Store.Lookup (a Pebble point read per alias hop)
// and one pass appending JSON to a pooled buffer, which is then handed to
// fasthttp without a copy. BenchmarkGetContact measures it.
//
// # Next-best-action and send time
//
// nba.go and sendtime.go serve /v1/contacts/{id}/next-best-action,
// /v1/contacts/{id}/send-time, POST /v1/decisions/{decision_id}/outcome and
// /v1/models/nba from Config.NBA: the policy and prior pointers their jobs
// swap, and Publish, which logs each decision to kairos.decisions. They
// answer any id (an unknown one is a new visitor) and never render profile
// data. A request allocates nothing once the pools are warm
// (BenchmarkNextBestAction).
package api
