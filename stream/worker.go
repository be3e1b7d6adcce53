package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
	"github.com/kairos-engine/kairos/stream/fold"
)

// Headers of the records the engine writes. Internal (re-key) records carry
// the operation and its target; dead letters carry the reason and where the
// record came from.
const (
	HeaderOp        = "kairos.op"
	HeaderTarget    = "kairos.target"
	HeaderHops      = "kairos.hops"
	HeaderID        = "kairos.id"
	HeaderAlias     = "kairos.alias"
	HeaderReason    = "kairos.reason"
	HeaderDetail    = "kairos.detail"
	HeaderSrcTopic  = "kairos.source.topic"
	HeaderSrcPart   = "kairos.source.partition"
	HeaderSrcOffset = "kairos.source.offset"
)

// Operations on the internal re-key topic.
const (
	opForward = "forward" // an event for a contact owned by another partition
	opLink    = "link"    // make an id an alias of a contact, merging its profile
	opMerge   = "merge"   // absorb a profile (the value) into the target contact
)

// maxHops bounds how often one event is forwarded while resolving its
// contact. Chains are short (an alias points at a contact that may itself
// have been merged once); a longer one means damaged identity data, and the
// event goes to the dead-letter topic rather than circling.
const maxHops = 8

// Dead-letter reasons the engine adds to the decoder's.
const (
	reasonIdentityLoop = "identity_loop"
	reasonBadInternal  = "bad_internal_record"
)

// worker owns one partition: its contacts, its Pebble handle and its decode
// scratch. Only the poll loop calls it, one poll at a time, so nothing in it
// is locked.
type worker struct {
	e      *Engine
	p      int32
	pt     *state.Partition
	dec    *event.Decoder
	fold   *fold.Folder
	ev     event.Event
	keyBuf []byte

	cache *contactCache
	known *knownIDs
	// aliases caches this partition's alias links (written here or read
	// from Pebble): a visitor whose anonymous id was linked keeps sending
	// events under it, and each would otherwise cost two Pebble reads
	// before being forwarded. Only this worker writes the partition's
	// aliases, so the cache cannot go stale; it is bounded like the
	// contact cache.
	aliases map[state.Key]state.Key
	dirty   map[state.Key]*state.Contact
	deleted map[state.Key]bool
	// watermarks hold, per source partition, the last internal record
	// applied here; dirtyMarks those changed in the current batch.
	watermarks map[string]state.Watermark
	dirtyMarks map[string]bool
	// erased holds the partition's tombstones (GDPR erasure): an event for
	// an erased id is dropped instead of creating a contact again.
	erased map[state.ErasedID]struct{}
	// sweepCursor is where the next retention sweep step starts.
	sweepCursor state.Key
	// evTimes are the event times folded in the current batch (freshness).
	evTimes []int64
	// trig is the trigger engine's scratch and watermark (triggers.go).
	trig workerTriggers

	batch   *state.Batch
	offsets map[string]int64 // next offset per topic in the current poll
	log     *slog.Logger

	nba nbaPartition // next-best-action statistics (stream/decisions.go)

	in   chan []*kgo.Record // records handed over by the poll loop; nil is a tick (timers.go)
	done chan struct{}
	lost atomic.Bool
	recs []*kgo.Record
}

// workerQueue is how many polls' worth of records may wait for a worker.
const workerQueue = 4

// maxBatchRecords bounds how many queued records one batch may coalesce:
// larger batches write each busy contact less often, but delay when an
// event becomes readable and how much a crash replays.
const maxBatchRecords = 10_000

func newWorker(e *Engine, p int32) (*worker, error) {
	pt, err := e.store.Partition(p)
	if err != nil {
		return nil, err
	}
	marks, err := pt.Watermarks()
	if err != nil {
		return nil, err
	}
	erased, err := loadErased(pt)
	if err != nil {
		return nil, fmt.Errorf("partition %d: tombstones: %w", p, err)
	}
	known, err := buildKnownIDs(pt, e.cfg.CacheContacts)
	if err != nil {
		return nil, fmt.Errorf("partition %d: known ids: %w", p, err)
	}
	nbaState, err := loadNBA(pt) // stream/decisions.go
	if err != nil {
		return nil, fmt.Errorf("partition %d: %w", p, err)
	}
	folder := fold.NewFolder()
	folder.SetOpenFilter(e.cfg.OpenFilter) // stream/fold/sendtime.go
	folder.SetModels(e.cfg.Models)
	folder.SetHistoryMaxAge(e.cfg.Retention.EventHistory)
	return &worker{
		nba:        nbaState,
		erased:     erased,
		known:      known,
		watermarks: marks,
		dirtyMarks: make(map[string]bool),
		e:          e,
		p:          p,
		pt:         pt,
		dec:        event.NewDecoder(e.cfg.Decoder),
		fold:       folder,
		cache:      newContactCache(e.cfg.CacheContacts),
		aliases:    make(map[state.Key]state.Key),
		dirty:      make(map[state.Key]*state.Contact),
		deleted:    make(map[state.Key]bool),
		offsets:    make(map[string]int64),
		log:        e.log.With("partition", p),
		in:         make(chan []*kgo.Record, workerQueue),
		done:       make(chan struct{}),
	}, nil
}

func (w *worker) start() { go w.run() }

// stop closes the worker's queue and waits for it. A revoked partition
// finishes what it was handed; a lost one drops it, since another member
// may already own the partition.
func (w *worker) stop(lost bool) {
	if lost {
		w.lost.Store(true)
	}
	close(w.in)
	<-w.done
}

// run folds the records handed to this partition, one batch per turn. When
// several polls' records are waiting, they become one batch: under load the
// worker commits less often instead of falling further behind.
func (w *worker) run() {
	defer close(w.done)
	for recs := range w.in {
		w.recs = append(w.recs[:0], recs...)
	more:
		for len(w.recs) < maxBatchRecords {
			select {
			case next, ok := <-w.in:
				if !ok {
					break more
				}
				w.recs = append(w.recs, next...)
			default:
				break more
			}
		}
		if w.lost.Load() {
			continue
		}
		if err := w.process(w.recs); err != nil {
			w.e.fail(err)
			for range w.in {
			}
			return
		}
		w.e.consumer.MarkCommitRecords(w.recs...)
		inputs := int64(0)
		for _, r := range w.recs {
			if r.Topic != w.e.cfg.Topics.Rekey {
				inputs++
			}
		}
		w.e.inputs.Add(inputs)
		clear(w.recs)
		if err := w.between(); err != nil { // due timers, retention (timers.go)
			w.e.fail(err)
			for range w.in {
			}
			return
		}
	}
}

// process folds one poll's records of this partition and commits them with
// the next offsets in one batch. An error means the batch could not be
// written: the partition must stop, and its cache is no longer trusted.
func (w *worker) process(recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil // a tick: between() does its work
	}
	start := time.Now()
	if w.known.full() {
		// Between batches everything is in Pebble: rebuild with room.
		known, err := buildKnownIDs(w.pt, 2*w.known.capacity)
		if err != nil {
			return fmt.Errorf("partition %d: known ids: %w", w.p, err)
		}
		w.known = known
	}
	w.batch = w.pt.NewBatch()
	clear(w.offsets)
	if err := w.fill(recs); err != nil {
		w.batch.Discard()
		w.reset()
		return err
	}
	if err := w.batch.Commit(); err != nil {
		w.reset()
		return err
	}
	w.e.metrics.cacheHits.Add(float64(w.cache.hits))
	w.e.metrics.cacheMisses.Add(float64(w.cache.misses))
	w.cache.hits, w.cache.misses = 0, 0
	w.e.metrics.batchRecords.Observe(float64(len(recs)))
	w.e.metrics.batchSeconds.Observe(time.Since(start).Seconds())
	w.observeFreshness(recs, time.Now())
	if added := w.batch.Added(); len(added) > 0 {
		w.e.relay.enqueue(w.p, added)
	}
	clear(w.dirty)
	clear(w.deleted)
	clear(w.dirtyMarks)
	w.batch = nil
	return nil
}

// rememberAlias adds to the bounded alias cache, evicting an arbitrary
// sixteenth of it when full (map iteration order is random enough).
func (w *worker) rememberAlias(alias, target state.Key) {
	if len(w.aliases) >= w.e.cfg.CacheContacts {
		n := len(w.aliases) / 16
		for k := range w.aliases {
			if n <= 0 {
				break
			}
			delete(w.aliases, k)
			n--
		}
	}
	w.aliases[alias] = target
}

// fill folds the records into the open batch and adds the contacts,
// deletions, watermarks and offsets they changed.
func (w *worker) fill(recs []*kgo.Record) error {
	for _, r := range recs {
		if err := w.handle(r); err != nil {
			return fmt.Errorf("partition %d offset %s/%d: %w", w.p, r.Topic, r.Offset, err)
		}
		w.offsets[r.Topic] = r.Offset + 1
	}
	for _, c := range w.dirty {
		if err := w.batch.PutContact(c); err != nil {
			return err
		}
	}
	for k := range w.deleted {
		if err := w.batch.DeleteContact(k); err != nil {
			return err
		}
	}
	for src := range w.dirtyMarks {
		if err := w.batch.SetWatermark(src, w.watermarks[src]); err != nil {
			return err
		}
	}
	if err := w.flushNBA(); err != nil { // stream/decisions.go
		return err
	}
	for topic, next := range w.offsets {
		if err := w.batch.SetOffset(topic, next); err != nil {
			return err
		}
	}
	return nil
}

// reset drops everything the failed batch may have changed in memory. The
// engine stops after a failed batch, so the worker is not used again; this
// only keeps a half-applied state from being read.
func (w *worker) reset() {
	w.cache.clear()
	clear(w.dirty)
	clear(w.deleted)
	clear(w.aliases)
	clear(w.watermarks)
	clear(w.dirtyMarks)
	w.batch = nil
}

func (w *worker) handle(r *kgo.Record) error {
	if r.Topic == w.e.cfg.Topics.Rekey {
		return w.handleInternal(r)
	}
	if r.Topic == w.e.cfg.Topics.Decisions {
		return w.handleDecision(r) // stream/decisions.go
	}
	stream := w.e.streamOf(r.Topic)
	if err := w.dec.Decode(r.Value, stream, &w.ev); err != nil {
		return w.rejected(r, err)
	}
	w.e.metrics.consumed(r.Topic, w.ev.Type)
	return w.route(r, "", 0)
}

// route sends the decoded event w.ev towards its contact: folds it here if
// this partition owns the contact, forwards it otherwise.
func (w *worker) route(r *kgo.Record, target state.Key, hops int) error {
	k := target
	if k == "" {
		// Fast path, most events: the primary id names a contact this
		// partition has in memory. Looking it up with the key in a reused
		// buffer allocates nothing.
		w.keyBuf = appendPrimaryKey(w.keyBuf[:0], &w.ev)
		if partitionOfBytes(w.keyBuf[2:], w.e.partitions.Load()) == w.p {
			if c := w.dirty[state.Key(w.keyBuf)]; c != nil {
				return w.foldInto(r, c)
			}
			if c := w.cache.getBytes(w.keyBuf); c != nil {
				return w.foldInto(r, c)
			}
		}
		k = state.Key(w.keyBuf)
	}
	for {
		if hops > maxHops {
			return w.deadLetter(r, reasonIdentityLoop, "contact "+string(k)+" not reached after "+strconv.Itoa(maxHops)+" hops")
		}
		if owner := w.e.partitionOf(k.Value()); owner != w.p {
			return w.forward(r, opForward, k, hops+1, r.Value)
		}
		c, alias, err := w.resolve(k)
		if err != nil {
			return err
		}
		if alias != "" {
			k, hops = alias, hops+1
			continue
		}
		if c == nil {
			if w.isErased(k) {
				w.e.metrics.erasedDropped.Inc()
				return nil
			}
			c = &state.Contact{Key: k}
			w.cache.put(c)
			w.known.add(k)
		}
		return w.foldInto(r, c)
	}
}

// foldInto applies the decoded event to c and links the event's other ids.
func (w *worker) foldInto(r *kgo.Record, c *state.Contact) error {
	w.triggersBefore(c) // triggers.go
	if !w.fold.Apply(c, &w.ev) {
		w.e.metrics.duplicates.Inc()
		return nil
	}
	w.e.metrics.scores.observe(&w.fold.Scored)
	w.evTimes = append(w.evTimes, w.ev.Time)
	w.dirty[c.Key] = c
	if err := w.nbaOutcome(r, c); err != nil { // stream/decisions.go
		return err
	}
	if err := w.link(r, c); err != nil {
		return err
	}
	return w.triggersAfter(r, c) // triggers.go
}

// appendPrimaryKey appends the typed key of the event's highest-ranked id.
func appendPrimaryKey(dst []byte, e *event.Event) []byte {
	switch {
	case e.ContactID != "":
		return append(append(dst, byte(state.IDContact), ':'), e.ContactID...)
	case e.Email != "":
		return append(append(dst, byte(state.IDEmail), ':'), e.Email...)
	default:
		return append(append(dst, byte(state.IDAnonymous), ':'), e.AnonymousID...)
	}
}

// isKey reports whether k is the typed key (kind, value), without building it.
func isKey(k state.Key, kind state.IDKind, value string) bool {
	return len(k) == len(value)+2 && k[0] == byte(kind) && k[1] == ':' && string(k[2:]) == value
}

// resolve finds what k is on this partition: a contact (returned), an alias
// (its target returned), or nothing.
func (w *worker) resolve(k state.Key) (*state.Contact, state.Key, error) {
	// Dirty contacts first: the cache may have evicted one changed in this
	// poll, and Pebble does not have its changes yet.
	if c := w.dirty[k]; c != nil {
		return c, "", nil
	}
	if c := w.cache.get(k); c != nil {
		return c, "", nil
	}
	if t, ok := w.aliases[k]; ok {
		return nil, t, nil
	}
	if w.deleted[k] {
		return nil, "", nil
	}
	if !w.known.mayContain(k) {
		return nil, "", nil
	}
	c := new(state.Contact)
	ok, err := w.pt.Contact(k, c)
	if err != nil {
		return nil, "", err
	}
	if ok {
		w.cache.put(c)
		return c, "", nil
	}
	t, ok, err := w.pt.Alias(k)
	if err != nil {
		return nil, "", err
	}
	if ok {
		w.rememberAlias(k, t)
		return nil, t, nil
	}
	return nil, "", nil
}

// link makes every other id of the event resolve to c. An id owned by this
// partition is linked in this batch; another partition's id gets a link
// command through the re-key topic, so the change is applied by that
// partition's owner, in order with its own events.
func (w *worker) link(r *kgo.Record, c *state.Contact) error {
	ids := [3]struct {
		kind  state.IDKind
		value string
	}{{state.IDContact, w.ev.ContactID}, {state.IDEmail, w.ev.Email}, {state.IDAnonymous, w.ev.AnonymousID}}
	for i, id := range ids {
		if id.value == "" || isKey(c.Key, id.kind, id.value) ||
			slices.ContainsFunc(c.Aliases, func(a state.Key) bool { return isKey(a, id.kind, id.value) }) {
			continue
		}
		k := state.MakeKey(id.kind, id.value)
		if w.isErased(k) {
			// An erased id stays erased: a new identity does not bring
			// it back by carrying it along.
			continue
		}
		if len(c.Aliases) < state.MaxAliases {
			j, _ := slices.BinarySearch(c.Aliases, k)
			c.Aliases = slices.Insert(c.Aliases, j, k)
		}
		if w.e.partitionOf(k.Value()) == w.p {
			if err := w.linkLocal(r, i, k, c.Key); err != nil {
				return err
			}
			continue
		}
		if err := w.internal(opLink, k, c.Key, internalID(r, i), nil); err != nil {
			return err
		}
	}
	return nil
}

// linkLocal points alias at target. If alias had a profile of its own (an
// anonymous visitor's history), that profile is merged into target, here or
// through the re-key topic, and removed. r and i name the merge: the record
// being processed and the merge's index among what it produces.
func (w *worker) linkLocal(r *kgo.Record, i int, alias, target state.Key) error {
	if alias == target || w.isErased(alias) {
		return nil
	}
	prof, existing, err := w.resolve(alias)
	if err != nil {
		return err
	}
	if existing != "" {
		if existing == target {
			return nil
		}
		if existing.Kind() == state.IDContact && target.Kind() == state.IDContact {
			// The id already belongs to another known contact: two
			// customer records are never merged automatically.
			w.e.metrics.identityConflicts.Inc()
			w.log.Debug("identity conflict: id already linked", "alias", alias, "linked", existing, "wanted", target)
			return nil
		}
		// The alias pointed at a lesser id (an email profile) that is
		// being merged into target too: point it at target directly so
		// lookups take one hop.
	}
	w.rememberAlias(alias, target)
	w.known.add(alias)
	if err := w.batch.PutAlias(alias, target); err != nil {
		return err
	}
	if prof == nil {
		return nil
	}
	w.cache.remove(alias)
	delete(w.dirty, alias)
	w.deleted[alias] = true
	if err := w.dropTriggers(alias, prof); err != nil { // triggers.go
		return err
	}
	w.e.metrics.merges.Inc()
	id := internalID(r, i)
	if w.e.partitionOf(target.Value()) != w.p {
		return w.internal(opMerge, target, target, id, prof.AppendEncoded(nil))
	}
	return w.absorb(r, target, prof, id, 0)
}

// absorb merges prof into the contact target resolves to on this partition,
// or sends it on to the partition the target's chain leads to.
func (w *worker) absorb(r *kgo.Record, target state.Key, prof *state.Contact, id string, hops int) error {
	for {
		if hops > maxHops {
			w.log.Error("merge dropped: identity chain too long", "target", logKey(target))
			return nil
		}
		if w.e.partitionOf(target.Value()) != w.p {
			return w.internal(opMerge, target, target, internalID(r, 0), prof.AppendEncoded(nil))
		}
		c, alias, err := w.resolve(target)
		if err != nil {
			return err
		}
		if alias != "" {
			target, hops = alias, hops+1
			continue
		}
		if c == nil {
			if w.isErased(target) {
				w.e.metrics.erasedDropped.Inc()
				return nil
			}
			c = &state.Contact{Key: target}
			w.cache.put(c)
			w.known.add(target)
		}
		if fold.Seen(c, id) {
			return nil
		}
		fold.MarkSeen(c, id)
		if ch := w.fold.Absorb(c, prof); ch.StageChanged {
			w.e.metrics.scores.observe(&scoring.Change{Lead: ch})
		}
		if err := w.absorbLedger(c, prof); err != nil {
			return err
		}
		w.dirty[c.Key] = c
		return nil
	}
}

func (w *worker) handleInternal(r *kgo.Record) error {
	var target, alias, id string
	var op []byte // compared, never kept: not worth a string
	hops := 0
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderOp:
			op = h.Value
		case HeaderTarget:
			target = string(h.Value)
		case HeaderHops:
			hops, _ = strconv.Atoi(string(h.Value))
		case HeaderID:
			id = string(h.Value)
		case HeaderAlias:
			alias = string(h.Value)
		}
	}
	tk := state.Key(target)
	if tk.Kind() == 0 {
		return w.deadLetter(r, reasonBadInternal, "missing or malformed "+HeaderTarget+" header")
	}
	if string(op) == opExpire {
		return w.expireAlias(tk, state.Key(alias))
	}
	if string(op) == opErase {
		// Erasure is idempotent, and comes from the API as well as from
		// other partitions: it needs no watermark.
		return w.erase(r, tk, hops)
	}
	src, mark, ok := parseInternalID(id)
	if !ok {
		return w.deadLetter(r, reasonBadInternal, "missing or malformed "+HeaderID+" header")
	}
	// Internal records of one source arrive in source order; one at or
	// below the watermark is a republished duplicate (the outbox is
	// replayed after a crash), and applying it again would count twice.
	if last, seen := w.watermarks[src]; seen && !last.Less(mark) {
		w.e.metrics.internalDuplicates.Inc()
		return nil
	}
	w.watermarks[src] = mark
	w.dirtyMarks[src] = true
	switch string(op) {
	case opForward:
		if err := w.dec.Decode(r.Value, 0, &w.ev); err != nil {
			return w.rejected(r, err)
		}
		w.e.metrics.consumed(r.Topic, w.ev.Type)
		return w.route(r, tk, hops)
	case opLink:
		ak := state.Key(alias)
		if ak.Kind() == 0 {
			return w.deadLetter(r, reasonBadInternal, "link record without a typed "+HeaderAlias+" header")
		}
		return w.linkLocal(r, 0, ak, tk)
	case opMerge:
		var prof state.Contact
		if err := state.DecodeContact(r.Value, &prof); err != nil {
			return w.deadLetter(r, reasonBadInternal, "merge: "+err.Error())
		}
		return w.absorb(r, tk, &prof, id, hops)
	}
	return w.deadLetter(r, reasonBadInternal, "unknown "+HeaderOp+" "+strconv.Quote(string(op)))
}

// internalID names an internal record deterministically by the record
// being processed when it was produced ("topic/partition/offset/index"), so
// a replay after a crash produces the same id, and a receiver can tell a
// republished record from a new one by comparing it with the last one it
// applied from that source partition.
func internalID(r *kgo.Record, i int) string {
	return string(appendInternalID(nil, r, i))
}

// appendInternalID appends internalID(r, i) to dst.
func appendInternalID(dst []byte, r *kgo.Record, i int) []byte {
	dst = append(append(dst, r.Topic...), '/')
	dst = append(strconv.AppendInt(dst, int64(r.Partition), 10), '/')
	dst = append(strconv.AppendInt(dst, r.Offset, 10), '/')
	return strconv.AppendInt(dst, int64(i), 10)
}

// parseInternalID splits an internal id into its source ("topic/partition")
// and its position in that source.
func parseInternalID(id string) (src string, mark state.Watermark, ok bool) {
	i := strings.LastIndexByte(id, '/')
	if i <= 0 {
		return "", mark, false
	}
	j := strings.LastIndexByte(id[:i], '/')
	if j <= 0 {
		return "", mark, false
	}
	k := strings.LastIndexByte(id[:j], '/')
	if k <= 0 {
		return "", mark, false
	}
	if p, err := strconv.ParseInt(id[k+1:j], 10, 32); err != nil || p < 0 {
		return "", mark, false
	}
	off, err1 := strconv.ParseInt(id[j+1:i], 10, 64)
	idx, err2 := strconv.ParseInt(id[i+1:], 10, 32)
	if err1 != nil || err2 != nil || off < 0 || idx < 0 {
		return "", mark, false
	}
	return id[:j], state.Watermark{Offset: off, Index: int32(idx)}, true
}

// forward re-publishes an event to the partition that owns key k.
func (w *worker) forward(r *kgo.Record, op string, k state.Key, hops int, value []byte) error {
	w.e.metrics.forwarded.Inc()
	// One allocation holds the key, the value and every header value:
	// forwards are up to a tenth of the traffic, and an allocation for
	// each part was most of their cost.
	p := packer{b: make([]byte, 0, 2*len(k)+len(value)+len(op)+len(r.Topic)+48)}
	return w.batch.AddOutbox(state.OutboxRecord{
		Topic: w.e.cfg.Topics.Rekey,
		Key:   p.str(k.Value()),
		Value: p.bytes(value),
		Headers: []state.Header{
			{Key: HeaderOp, Value: p.str(op)},
			{Key: HeaderTarget, Value: p.str(string(k))},
			{Key: HeaderHops, Value: p.int(int64(hops))},
			{Key: HeaderID, Value: p.internalID(r, 0)},
		},
	})
}

// internal publishes a link or merge command to the partition owning
// route. Like every re-key record it is keyed by the untyped id value, so
// Kafka's default partitioner puts it on the owning partition; the typed
// key travels in a header.
func (w *worker) internal(op string, route, target state.Key, id string, value []byte) error {
	p := packer{b: make([]byte, 0, 2*len(route)+len(op)+len(target)+len(id))}
	return w.batch.AddOutbox(state.OutboxRecord{
		Topic: w.e.cfg.Topics.Rekey,
		Key:   p.str(route.Value()),
		Value: value,
		Headers: []state.Header{
			{Key: HeaderOp, Value: p.str(op)},
			{Key: HeaderTarget, Value: p.str(string(target))},
			{Key: HeaderAlias, Value: p.str(string(route))},
			{Key: HeaderID, Value: p.str(id)},
		},
	})
}

// packer lays the byte parts of one outbox record end to end in one
// buffer. Each part is capped at its end, so nothing appended to one can
// overwrite the next; the relay and the producer only read them. A buffer
// sized too small only costs another allocation: parts already handed out
// keep pointing at the old one.
type packer struct{ b []byte }

func (p *packer) part(lo int) []byte { return p.b[lo:len(p.b):len(p.b)] }

func (p *packer) str(s string) []byte {
	lo := len(p.b)
	p.b = append(p.b, s...)
	return p.part(lo)
}

func (p *packer) bytes(s []byte) []byte {
	lo := len(p.b)
	p.b = append(p.b, s...)
	return p.part(lo)
}

func (p *packer) int(v int64) []byte {
	lo := len(p.b)
	p.b = strconv.AppendInt(p.b, v, 10)
	return p.part(lo)
}

func (p *packer) internalID(r *kgo.Record, i int) []byte {
	lo := len(p.b)
	p.b = appendInternalID(p.b, r, i)
	return p.part(lo)
}

// rejected dead-letters a record the decoder refused, with its reason.
func (w *worker) rejected(r *kgo.Record, err error) error {
	var de *event.Error
	if errors.As(err, &de) {
		return w.deadLetter(r, string(de.Reason), de.Error())
	}
	return w.deadLetter(r, string(event.ReasonInvalidJSON), err.Error())
}

// maxDeadLetterValue caps the bytes of one dead letter: a record far over
// the size limit must not become a dead letter the broker refuses (Kafka's
// default max.message.bytes is 1 MiB), or it would sit in the outbox
// forever. The header kairos.truncated then gives the original size.
const maxDeadLetterValue = 512 << 10

// HeaderTruncated is set on a dead letter whose value was cut to
// maxDeadLetterValue; it holds the original size in bytes.
const HeaderTruncated = "kairos.truncated"

// deadLetter queues the original record for the dead-letter topic, through
// the outbox, so that it is published exactly when its offset is committed.
func (w *worker) deadLetter(r *kgo.Record, reason, detail string) error {
	w.e.metrics.deadLetter(reason)
	value := r.Value
	hs := make([]state.Header, 0, len(r.Headers)+6)
	if len(value) > maxDeadLetterValue {
		hs = append(hs, state.Header{Key: HeaderTruncated, Value: strconv.AppendInt(nil, int64(len(value)), 10)})
		value = value[:maxDeadLetterValue]
	}
	for _, h := range r.Headers {
		hs = append(hs, state.Header{Key: h.Key, Value: append([]byte(nil), h.Value...)})
	}
	hs = append(hs,
		state.Header{Key: HeaderReason, Value: []byte(reason)},
		state.Header{Key: HeaderDetail, Value: []byte(detail)},
		state.Header{Key: HeaderSrcTopic, Value: []byte(r.Topic)},
		state.Header{Key: HeaderSrcPart, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		state.Header{Key: HeaderSrcOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
	)
	return w.batch.AddOutbox(state.OutboxRecord{
		Topic:   w.e.cfg.Topics.DeadLetter,
		Key:     append([]byte(nil), r.Key...),
		Value:   append([]byte(nil), value...),
		Headers: hs,
	})
}
