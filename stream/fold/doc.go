// Package fold applies one decoded event to a contact's state: the heart of
// the data flow between decoding (package event) and the Pebble batch
// (package state).
//
// Folding is deterministic and uses only the event's own time, never the
// wall clock, so a replay after a crash, or a rebuild from history, yields
// exactly the state of one clean pass. Late and out-of-order events are
// folded where they belong: decayed scores are kept with the instant they
// are valid at, and an event older than that instant adds its decayed
// weight instead of moving the instant back. Orders can be cancelled or
// refunded before they are seen placed; the flags on the order entry keep
// that until the order_placed arrives.
//
// A Folder is owned by one partition worker and is not safe for concurrent
// use: it caches time zones.
package fold
