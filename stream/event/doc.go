// Package event decodes and validates the JSON events of the input topics
// (kairos.clickstream, kairos.orders, kairos.email) into Event values for
// the fold.
//
// # Place in the data flow
//
// A partition worker hands every record value to its own Decoder. A record
// that decodes is folded into the contact it names; one that does not is
// sent, original bytes unchanged, to kairos.deadletter with the Reason of
// the returned *Error in the kairos.reason header and its text in
// kairos.detail, and processing continues (DESIGN.md, principle 5). The
// Reason values are stable: they are header values and metric labels.
// Reasons lists them so metrics can pre-register every label. This package
// registers no metrics itself; the worker counts by Reason.
//
// # The event contract
//
// Every event is one JSON object of at most Config.MaxSize bytes (64 KiB):
//
//	{"id":"evt-1","type":"add_to_cart","anonymous_id":"a-7f3c",
//	 "timestamp":"2026-11-24T06:00:00.123Z",
//	 "properties":{"sku":"SHOE-42","quantity":2,"price":59.90},
//	 "context":{"timezone":"Europe/Paris"}}
//
// Its fields:
//
//   - id: required, 1..256 bytes; the fold dedupes on it.
//   - type: required, a known type of the topic's stream (the internal
//     re-key topic accepts every type).
//   - contact_id, email, anonymous_id: at least one; each at most 256
//     bytes without control characters. email has one '@' between a
//     non-empty local part and domain and is normalised
//     (state.NormalizeEmail). Records are keyed by contact_id, else the
//     normalised email, else anonymous_id.
//   - timestamp: required, RFC 3339 with optional fraction and zone,
//     stored as Unix milliseconds; not before Config.MinTime (1990) and not
//     more than Config.MaxFuture (24h) ahead of now.
//   - properties: an object whose fields depend on the type (see the
//     comments on Event's fields); money is a JSON number in major units,
//     read from its decimal text into minor units.
//   - context: optional ip, user_agent, url, referrer, timezone (an IANA
//     name) and utm {source, medium, campaign, term, content}.
//
// A null value is the same as an absent one, and so is an empty string (an
// empty required field is missing). Unknown fields are ignored, so
// producers can add fields before Kairos reads them. The JSON itself is
// read strictly: RFC 8259 in UTF-8 (no NaN, bad escape or raw control
// character), nested at most 300 levels, and no repeated key in any
// object, so that every consumer of the topics reads the same bytes the
// same way. A malformed record is invalid_json; a repeated key or a number
// outside the grammar is reported with its path ("properties.meta[0].a"),
// except for a malformed number in a record holding an escape or a
// control character, which has none.
//
// The README's "Event contract" section documents the contract for
// producers, with one example per type; TestContractMarkdown renders it
// from the tested examples (go test ./stream/event -run
// TestContractMarkdown -contract-out FILE).
//
// # How a record is read
//
// The decoder reads a record in one pass with its own JSON scanner, built
// for the event schema (json.go): the values of the keys it knows go into
// fixed slots per object (envelope, context, context.utm, properties,
// each order item), the members of properties and properties.traits also
// into lists in the order of the record, and everything else through a
// validating skipper. Nothing is a tree and the scratch holds offsets, not
// pointers. The checks then run on the slots in a fixed order, which is
// what makes the Reason and Field of a record's first error stable
// whatever the order of its keys (a type after the properties is read the
// same). A record with a repeated key or a malformed number, rare, is
// checked again object by object in that order to report the same error
// (check.go). The event is built in a draft of offsets (draft.go) and
// written into the Event once.
//
// # Ownership and cost
//
// Decode does not keep the record's bytes. The strings of an Event are
// ordinary immutable strings cut from 8 KiB chunks that the decoder
// allocates and never writes twice, so a successful Decode allocates only
// once every few dozen events (the names of the properties the decoder
// knows, true, false and the default EUR are constants, not copied). A
// caller keeping a string for long clones it rather than pin a chunk. The
// slices of an Event are reused by the next Decode into it. A Decoder is
// owned by one goroutine.
//
// BenchmarkDecode measures it over a traffic mix (go test -run '^$' -bench
// Decode -benchmem -cpu 1 ./stream/event). On the mix, a Decode executes
// about 9,500 instructions (valgrind --tool=cachegrind, garbage collector
// on) and allocates 90 bytes once; on the shared 2-core development VM
// that was 1.3 to 1.8 µs. The fastjson tree it replaced executed about
// 14,900 instructions and allocated 106 bytes, 1.8 to 2.6 µs on the same
// VM. Most of what is left is the member loop of the scanner (about a
// third, bound by the compiler saving and restoring its state), building
// the Event in its one allocation (about a fifth), and the field checks.
package event
