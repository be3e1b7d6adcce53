package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Sentinel errors of the store.
var (
	// ErrNotFound is returned when a contact or alias does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAliasLoop is returned when resolving an alias does not reach a
	// contact within maxAliasHops: the identity graph is damaged.
	ErrAliasLoop = errors.New("alias chain too long")
	// ErrPartitionCount is returned by Open when the data directory was
	// written with a different number of input partitions: contacts would
	// be looked up on the wrong partition.
	ErrPartitionCount = errors.New("partition count changed")
)

// maxAliasHops bounds alias resolution: an alias points at a canonical key,
// which after a later merge may itself be an alias, so chains are short but
// not always one hop.
const maxAliasHops = 8

// Options configures a Store. The zero value is usable.
type Options struct {
	// Sync makes every committed batch durable against power loss (fsync of
	// the write-ahead log). Without it a batch survives a process crash
	// (kill -9), because it is in the OS page cache, but not a machine
	// crash. Default false; `kairos serve --sync` turns it on.
	Sync bool
	// CacheBytes is Pebble's block cache size. Default 64 MiB.
	CacheBytes int64
	// MemTableBytes is Pebble's memtable size. Default 32 MiB.
	MemTableBytes uint64
	// FS replaces the real file system, for tests (vfs.NewMem()).
	FS vfs.FS
	// Logger receives Pebble's own messages. Default slog.Default().
	Logger *slog.Logger
}

// Store is the Pebble database holding every partition's state. It is safe
// for concurrent use; a Partition is not.
type Store struct {
	db   *pebble.DB
	opts Options
	wo   *pebble.WriteOptions
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 64 << 20
	}
	if opts.MemTableBytes == 0 {
		opts.MemTableBytes = 32 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cache := pebble.NewCache(opts.CacheBytes)
	defer cache.Unref()
	po := &pebble.Options{
		Cache:              cache,
		MemTableSize:       opts.MemTableBytes,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{opts.Logger},
	}
	// Most lookups of a new id miss (an anonymous visitor's first event
	// probes for a contact and an alias): bloom filters answer those
	// without reading data blocks.
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	// Flushes write L0 uncompressed: compressing them was a third of the
	// flush CPU, for files that live only until the next L0 compaction
	// (which then reads them without decompressing). Deeper levels, which
	// hold the data for long, stay Snappy-compressed.
	po.Levels[0].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	for i := 1; i < len(po.Levels); i++ {
		po.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.SnappyCompression }
	}
	if opts.FS != nil {
		po.FS = opts.FS
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("open state in %s: %w", dir, err)
	}
	s := &Store{db: db, opts: opts, wo: pebble.NoSync}
	if opts.Sync {
		s.wo = pebble.Sync
	}
	return s, nil
}

// Close flushes nothing extra (every batch is already in the WAL) and
// closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state: %w", err)
	}
	return nil
}

// Durable makes every batch committed so far durable: one WAL sync covers
// them all. Without Options.Sync a committed batch may still sit in Pebble's
// WAL buffer in this process, and a crash loses it. Whatever a batch sends
// out of the process (its outbox records) must wait for this, or a crash
// could forget a change the rest of the system has already seen, and the
// replay, which may interleave topics differently, would contradict it.
func (s *Store) Durable() error {
	if s.opts.Sync {
		return nil
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("sync state WAL: %w", err)
	}
	return nil
}

// DB exposes the Pebble handle for metrics collection.
func (s *Store) DB() *pebble.DB { return s.db }

// CheckPartitions records the number of input partitions on first use and
// fails when it later differs: contacts are placed by hash modulo that
// number, so a change would strand every stored contact.
func (s *Store) CheckPartitions(n int32) error {
	k := globalKey("partitions")
	v, closer, err := s.db.Get(k)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if err := s.db.Set(k, strconv.AppendInt(nil, int64(n), 10), pebble.Sync); err != nil {
			return fmt.Errorf("record partition count: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read partition count: %w", err)
	}
	stored, perr := strconv.ParseInt(string(v), 10, 32)
	closer.Close()
	if perr != nil {
		return fmt.Errorf("read partition count %q: %w", v, ErrCorrupt)
	}
	if int32(stored) != n {
		return fmt.Errorf("%w: the data directory was built with %d partitions per input topic, the topics now have %d; "+
			"restore the partition count or rebuild state into a fresh data directory", ErrPartitionCount, stored, n)
	}
	return nil
}

// get copies the value of k into dst (Pebble's value is only valid until
// the closer is closed).
func (s *Store) get(k, dst []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, err
	}
	dst = append(dst[:0], v...)
	closer.Close()
	return dst, true, nil
}

// Lookup finds the contact an id resolves to, following aliases across
// partitions. partitionOf maps an id value to its partition (the engine's
// placement). It returns the canonical key, or ErrNotFound.
func (s *Store) Lookup(key Key, partitionOf func(string) int32, c *Contact) (Key, error) {
	var buf []byte
	for range maxAliasHops {
		p := partitionOf(key.Value())
		var ok bool
		var err error
		buf, ok, err = s.get(appendPartitionKey(buf[:0], p, kindContact, string(key)), buf)
		if err != nil {
			return "", fmt.Errorf("lookup %s: %w", key, err)
		}
		if ok {
			if err := DecodeContact(buf, c); err != nil {
				return "", fmt.Errorf("lookup %s: %w", key, err)
			}
			return key, nil
		}
		buf, ok, err = s.get(appendPartitionKey(buf[:0], p, kindAlias, string(key)), buf)
		if err != nil {
			return "", fmt.Errorf("lookup %s: %w", key, err)
		}
		if !ok {
			return "", ErrNotFound
		}
		key = Key(buf)
	}
	return "", fmt.Errorf("lookup %s: %w", key, ErrAliasLoop)
}

// Partition is one partition's handle on the store. A Partition is owned by
// the one goroutine that processes the partition, which is why it can keep
// scratch buffers and the outbox sequence without locks.
type Partition struct {
	s       *Store
	p       int32
	nextSeq uint64
	keyBuf  []byte
	valBuf  []byte
	// pb is the Pebble batch every Batch of this partition writes into,
	// reset after each commit: its buffer, as large as a poll's changes
	// (megabytes), is allocated once instead of once per batch and then
	// grown by doubling, which was a sixth of the engine's allocated bytes.
	// nil after a failed commit, which Pebble says not to reuse.
	pb *pebble.Batch
	// batch is the one open Batch, reused like pb.
	batch Batch
}

// Partition opens the handle for partition p, recovering the outbox
// sequence from the last stored record.
func (s *Store) Partition(p int32) (*Partition, error) {
	pt := &Partition{s: s, p: p}
	lo, hi := partitionBounds(p, kindOutbox)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("partition %d: outbox: %w", p, err)
	}
	if it.Last() {
		k := it.Key()
		pt.nextSeq = binary.BigEndian.Uint64(k[len(k)-8:]) + 1
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("partition %d: outbox: %w", p, err)
	}
	return pt, nil
}

// ID returns the partition number.
func (pt *Partition) ID() int32 { return pt.p }

// Contact reads a contact into c. It reports false when there is none.
func (pt *Partition) Contact(key Key, c *Contact) (bool, error) {
	pt.keyBuf = appendPartitionKey(pt.keyBuf[:0], pt.p, kindContact, string(key))
	var ok bool
	var err error
	pt.valBuf, ok, err = pt.s.get(pt.keyBuf, pt.valBuf)
	if err != nil || !ok {
		return false, err
	}
	if err := DecodeContact(pt.valBuf, c); err != nil {
		return false, fmt.Errorf("contact %s: %w", key, err)
	}
	return true, nil
}

// Alias returns the key an alias resolves to.
func (pt *Partition) Alias(key Key) (Key, bool, error) {
	pt.keyBuf = appendPartitionKey(pt.keyBuf[:0], pt.p, kindAlias, string(key))
	var ok bool
	var err error
	pt.valBuf, ok, err = pt.s.get(pt.keyBuf, pt.valBuf)
	if err != nil || !ok {
		return "", false, err
	}
	return Key(pt.valBuf), true, nil
}

// Offsets returns the stored next offset of every input topic of this
// partition: where consumption resumes.
func (pt *Partition) Offsets() (map[string]int64, error) {
	out := make(map[string]int64)
	err := pt.scan(kindOffset, func(rest, v []byte) error {
		off, n := binary.Uvarint(v)
		if n <= 0 {
			return fmt.Errorf("offset of %s: %w", rest, ErrCorrupt)
		}
		out[string(rest)] = int64(off)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("partition %d: offsets: %w", pt.p, err)
	}
	return out, nil
}

// Watermark is the position of the last internal record applied from one
// source partition: the offset of the input record that caused it, and the
// record's index among those that input produced.
type Watermark struct {
	Offset int64
	Index  int32
}

// Less reports whether w is before o.
func (w Watermark) Less(o Watermark) bool {
	return w.Offset < o.Offset || w.Offset == o.Offset && w.Index < o.Index
}

// Watermarks returns, per source ("topic/partition"), the last internal
// record this partition applied. Internal records of one source arrive in
// source order, and a republished one is at or below the watermark: this is
// what makes their effect exactly-once, however late the duplicate comes.
func (pt *Partition) Watermarks() (map[string]Watermark, error) {
	out := make(map[string]Watermark)
	err := pt.scan(kindInbox, func(rest, v []byte) error {
		off, n := binary.Varint(v)
		if n <= 0 {
			return fmt.Errorf("watermark of %s: %w", rest, ErrCorrupt)
		}
		idx, m := binary.Varint(v[n:])
		if m <= 0 {
			return fmt.Errorf("watermark of %s: %w", rest, ErrCorrupt)
		}
		out[string(rest)] = Watermark{Offset: off, Index: int32(idx)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("partition %d: watermarks: %w", pt.p, err)
	}
	return out, nil
}

// Outbox returns the records not yet acknowledged by the broker, in order.
func (pt *Partition) Outbox() ([]OutboxRecord, error) {
	var out []OutboxRecord
	err := pt.scan(kindOutbox, func(rest, v []byte) error {
		if len(rest) != 8 {
			return fmt.Errorf("outbox key: %w", ErrCorrupt)
		}
		r, err := decodeOutbox(binary.BigEndian.Uint64(rest), v)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("partition %d: outbox: %w", pt.p, err)
	}
	return out, nil
}

// DeleteOutbox removes acknowledged records. Losing this write in a crash
// only republishes them, so it need not be synced.
func (pt *Partition) DeleteOutbox(seqs []uint64) error {
	return deleteOutbox(pt.s, pt.p, seqs)
}

func deleteOutbox(s *Store, p int32, seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, seq := range seqs {
		if err := b.Delete(outboxKey(p, seq), nil); err != nil {
			return fmt.Errorf("partition %d: delete outbox %d: %w", p, seq, err)
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("partition %d: delete outbox: %w", p, err)
	}
	return nil
}

// DeleteOutbox removes acknowledged records of partition p. It is safe to
// call from the relay goroutine while the partition's owner writes.
func (s *Store) DeleteOutbox(p int32, seqs []uint64) error { return deleteOutbox(s, p, seqs) }

// ContactKeys calls fn for every contact key of the partition.
func (pt *Partition) ContactKeys(fn func(Key) error) error {
	return pt.scan(kindContact, func(rest, _ []byte) error { return fn(Key(rest)) })
}

// AliasKeys calls fn for every alias key of the partition.
func (pt *Partition) AliasKeys(fn func(Key) error) error {
	return pt.scan(kindAlias, func(rest, _ []byte) error { return fn(Key(rest)) })
}

func (pt *Partition) scan(kind byte, fn func(rest, v []byte) error) error {
	lo, hi := partitionBounds(pt.p, kind)
	it, err := pt.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key()[partitionPrefixLen+1:], v); err != nil {
			it.Close()
			return err
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// Batch collects one poll's changes to a partition: contacts, aliases,
// outbox records and the next offset of every consumed topic. Committing it
// is the only way state changes, which is what makes the effect of each
// input record exactly-once: the state and the position it corresponds to
// are written atomically.
type Batch struct {
	pt    *Partition
	b     *pebble.Batch
	added []OutboxRecord
	buf   []byte // encoded value scratch; Pebble copies on Set
	key   []byte // key scratch, likewise
	seq   uint64
}

// maxBatchRetained caps the Pebble batch buffer a partition keeps between
// batches; a larger poll's buffer is left to the garbage collector.
const maxBatchRetained = 16 << 20

// NewBatch starts a batch. Only one batch per partition may be open: the
// Batch and its buffers are the partition's, reused by the next NewBatch
// after Commit or Discard.
func (pt *Partition) NewBatch() *Batch {
	if pt.pb == nil {
		pt.pb = pt.s.db.NewBatch(pebble.WithMaxRetainedSizeBytes(maxBatchRetained))
	}
	b := &pt.batch
	clear(b.added) // drop references to the last batch's records
	*b = Batch{pt: pt, b: pt.pb, seq: pt.nextSeq, added: b.added[:0], buf: b.buf[:0], key: b.key[:0]}
	return b
}

// partitionKey builds a key of this batch's partition in the key scratch.
func (b *Batch) partitionKey(kind byte, rest string) []byte {
	b.key = appendPartitionKey(b.key[:0], b.pt.p, kind, rest)
	return b.key
}

// PutContact stores the encoded contact under its canonical key.
func (b *Batch) PutContact(c *Contact) error {
	b.buf = c.AppendEncoded(b.buf[:0])
	if err := b.b.Set(b.partitionKey(kindContact, string(c.Key)), b.buf, nil); err != nil {
		return fmt.Errorf("put contact %s: %w", c.Key, err)
	}
	return nil
}

// DeleteContact removes a contact record (after it was merged elsewhere).
func (b *Batch) DeleteContact(key Key) error {
	if err := b.b.Delete(b.partitionKey(kindContact, string(key)), nil); err != nil {
		return fmt.Errorf("delete contact %s: %w", key, err)
	}
	return nil
}

// PutAlias makes alias resolve to target.
func (b *Batch) PutAlias(alias, target Key) error {
	b.buf = append(b.buf[:0], target...)
	if err := b.b.Set(b.partitionKey(kindAlias, string(alias)), b.buf, nil); err != nil {
		return fmt.Errorf("put alias %s: %w", alias, err)
	}
	return nil
}

// SetOffset records the next offset to consume from topic on this
// partition.
func (b *Batch) SetOffset(topic string, next int64) error {
	b.buf = binary.AppendUvarint(b.buf[:0], uint64(next))
	if err := b.b.Set(b.partitionKey(kindOffset, topic), b.buf, nil); err != nil {
		return fmt.Errorf("set offset %s/%d: %w", topic, b.pt.p, err)
	}
	return nil
}

// SetWatermark records the last internal record applied from source.
func (b *Batch) SetWatermark(source string, w Watermark) error {
	b.buf = binary.AppendVarint(b.buf[:0], w.Offset)
	b.buf = binary.AppendVarint(b.buf, int64(w.Index))
	if err := b.b.Set(b.partitionKey(kindInbox, source), b.buf, nil); err != nil {
		return fmt.Errorf("set watermark %s: %w", source, err)
	}
	return nil
}

// AddOutbox appends a record to the partition's outbox; it is published
// after the batch commits.
func (b *Batch) AddOutbox(r OutboxRecord) error {
	r.Seq = b.seq
	b.seq++
	b.buf = r.appendEncoded(b.buf[:0])
	b.key = binary.BigEndian.AppendUint64(append(appendPartitionPrefix(b.key[:0], b.pt.p), kindOutbox), r.Seq)
	if err := b.b.Set(b.key, b.buf, nil); err != nil {
		return fmt.Errorf("outbox %d: %w", r.Seq, err)
	}
	b.added = append(b.added, r)
	return nil
}

// Added returns the outbox records of this batch. Valid after Commit, until
// the partition's next NewBatch, which reuses the slice (the records it
// holds are not changed).
func (b *Batch) Added() []OutboxRecord { return b.added }

// Empty reports whether the batch holds no writes.
func (b *Batch) Empty() bool { return b.b.Empty() }

// Commit writes the batch atomically. The batch is finished either way;
// after an error the partition's Pebble batch is dropped rather than
// reused.
func (b *Batch) Commit() error {
	if err := b.b.Commit(b.pt.s.wo); err != nil {
		b.b.Close()
		b.pt.pb = nil
		return fmt.Errorf("partition %d: commit: %w", b.pt.p, err)
	}
	b.b.Reset()
	b.pt.nextSeq = b.seq
	return nil
}

// Discard drops the batch without writing.
func (b *Batch) Discard() { b.b.Reset() }

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf is called by Pebble on unrecoverable corruption. Pebble's Logger
// contract is that Fatalf does not return (its own logger exits), so after
// logging this panics: continuing would write on top of a damaged store.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble", "fatal", true)
	panic("pebble: " + msg)
}
