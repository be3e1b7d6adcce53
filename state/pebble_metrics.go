package state

import (
	"strconv"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// PebbleCollector exports Pebble's own health figures from db.Metrics() at
// scrape time, so an operator sees compaction debt, read amplification and
// L0 growth before they turn into write stalls or slow reads. It reads one
// Metrics snapshot per scrape (Pebble takes its mutex briefly) and costs
// nothing between scrapes.
//
// Series (all kairos_state_pebble_*):
//
//	compactions_total{kind}          counter  compactions completed, by kind
//	compaction_seconds_total         counter  time spent compacting
//	compactions_failed_total         counter  compactions that failed
//	compactions_in_progress          gauge    compactions running now
//	compaction_debt_bytes            gauge    bytes to compact to reach a stable LSM
//	flushes_total                    counter  memtable flushes
//	flushed_bytes_total              counter  bytes written to L0 by flushes
//	compacted_bytes_total            counter  bytes written by compactions
//	wal_written_bytes_total          counter  bytes written to the WAL (incl. overhead)
//	read_amplification               gauge    L0 sublevels plus non-empty lower levels
//	l0_sublevels                     gauge    sublevels in L0
//	l0_files                         gauge    sstables in L0
//	level_files{level}               gauge    sstables per level (0..6)
//	level_bytes{level}               gauge    sstable bytes per level (0..6)
//	block_cache_hits_total           counter  block cache hits
//	block_cache_misses_total         counter  block cache misses
//	block_cache_bytes                gauge    bytes held by the block cache
//	filter_hits_total                counter  reads a bloom filter answered without a data block
//	filter_misses_total              counter  bloom filter checks that could not avoid a read
//	memtable_bytes                   gauge    bytes allocated by memtables (incl. queued for flush)
//	wal_bytes                        gauge    physical size of the live WAL files
//	disk_usage_bytes                 gauge    every file of the store on disk
//
// Labels are bounded: kind is Pebble's fixed set of compaction kinds, level
// is 0..6. The block cache hit ratio is a query over the two counters,
// rate(hits)/(rate(hits)+rate(misses)), so it is right over any window.
type PebbleCollector struct {
	db *pebble.DB

	compactions, compactionSeconds, compactionsFailed, compactionsRunning, compactionDebt *prometheus.Desc
	flushes, flushedBytes, compactedBytes, walWritten                                     *prometheus.Desc
	readAmp, l0Sublevels, l0Files, levelFiles, levelBytes                                 *prometheus.Desc
	cacheHits, cacheMisses, cacheBytes, filterHits, filterMisses                          *prometheus.Desc
	memtableBytes, walBytes, diskUsage                                                    *prometheus.Desc
}

// NewPebbleCollector returns a collector over the store's database. Register
// it once per Store. The store must outlive scrapes: unregister the
// collector, or stop serving /metrics, before closing it.
func NewPebbleCollector(s *Store) *PebbleCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("kairos_state_pebble_"+name, help, labels, nil)
	}
	return &PebbleCollector{
		db:                 s.db,
		compactions:        d("compactions_total", "Pebble compactions completed since the store was opened, by kind.", "kind"),
		compactionSeconds:  d("compaction_seconds_total", "Time Pebble spent in compactions since the store was opened."),
		compactionsFailed:  d("compactions_failed_total", "Pebble compactions that failed (each is retried; a steady rate points at the disk)."),
		compactionsRunning: d("compactions_in_progress", "Pebble compactions running now."),
		compactionDebt:     d("compaction_debt_bytes", "Estimated bytes Pebble must compact for the LSM to reach a stable shape; growth means compactions fall behind writes."),
		flushes:            d("flushes_total", "Pebble memtable flushes to L0."),
		flushedBytes:       d("flushed_bytes_total", "Bytes written into sstables by memtable flushes."),
		compactedBytes:     d("compacted_bytes_total", "Bytes written into sstables by compactions."),
		walWritten:         d("wal_written_bytes_total", "Bytes written to the write-ahead log, including framing."),
		readAmp:            d("read_amplification", "Pebble read amplification: L0 sublevels plus non-empty lower levels; a point read may visit this many tables."),
		l0Sublevels:        d("l0_sublevels", "Sublevels in Pebble's L0; writes are throttled when it grows past about 20."),
		l0Files:            d("l0_files", "Sstables in Pebble's L0."),
		levelFiles:         d("level_files", "Sstables per LSM level.", "level"),
		levelBytes:         d("level_bytes", "Sstable bytes per LSM level.", "level"),
		cacheHits:          d("block_cache_hits_total", "Pebble block cache hits."),
		cacheMisses:        d("block_cache_misses_total", "Pebble block cache misses (a block read from disk or the OS page cache)."),
		cacheBytes:         d("block_cache_bytes", "Bytes held by Pebble's block cache."),
		filterHits:         d("filter_hits_total", "Point reads a bloom filter answered without reading a data block."),
		filterMisses:       d("filter_misses_total", "Bloom filter checks that could not avoid reading a data block."),
		memtableBytes:      d("memtable_bytes", "Bytes allocated by Pebble memtables, including those queued for flush."),
		walBytes:           d("wal_bytes", "Physical size of Pebble's live write-ahead log files."),
		diskUsage:          d("disk_usage_bytes", "Disk space used by every file of the state store: WAL, sstables (live and awaiting deletion), manifest."),
	}
}

// Describe implements prometheus.Collector.
func (c *PebbleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.compactions, c.compactionSeconds, c.compactionsFailed, c.compactionsRunning, c.compactionDebt,
		c.flushes, c.flushedBytes, c.compactedBytes, c.walWritten,
		c.readAmp, c.l0Sublevels, c.l0Files, c.levelFiles, c.levelBytes,
		c.cacheHits, c.cacheMisses, c.cacheBytes, c.filterHits, c.filterMisses,
		c.memtableBytes, c.walBytes, c.diskUsage,
	} {
		ch <- d
	}
}

// levelNames are the level label values, built once.
var levelNames = func() (names [7]string) {
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return names
}()

// Collect implements prometheus.Collector.
func (c *PebbleCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.db.Metrics()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	cp := &m.Compact
	for _, k := range []struct {
		kind string
		n    int64
	}{
		{"default", cp.DefaultCount},
		{"delete_only", cp.DeleteOnlyCount},
		{"elision_only", cp.ElisionOnlyCount},
		{"copy", cp.CopyCount},
		{"move", cp.MoveCount},
		{"read", cp.ReadCount},
		{"tombstone_density", cp.TombstoneDensityCount},
		{"rewrite", cp.RewriteCount},
		{"multi_level", cp.MultiLevelCount},
		{"blob_file_rewrite", cp.BlobFileRewriteCount},
		{"counter_level", cp.CounterLevelCount},
	} {
		counter(c.compactions, float64(k.n), k.kind)
	}
	counter(c.compactionSeconds, cp.Duration.Seconds())
	counter(c.compactionsFailed, float64(cp.FailedCount))
	gauge(c.compactionsRunning, float64(cp.NumInProgress))
	gauge(c.compactionDebt, float64(cp.EstimatedDebt))

	total := m.Total()
	counter(c.flushes, float64(m.Flush.Count))
	counter(c.flushedBytes, float64(total.TableBytesFlushed))
	counter(c.compactedBytes, float64(total.TableBytesCompacted))
	counter(c.walWritten, float64(m.WAL.BytesWritten))

	gauge(c.readAmp, float64(m.ReadAmp()))
	gauge(c.l0Sublevels, float64(m.Levels[0].Sublevels))
	gauge(c.l0Files, float64(m.Levels[0].TablesCount))
	for i := range m.Levels {
		if i >= len(levelNames) {
			break
		}
		gauge(c.levelFiles, float64(m.Levels[i].TablesCount), levelNames[i])
		gauge(c.levelBytes, float64(m.Levels[i].TablesSize), levelNames[i])
	}

	counter(c.cacheHits, float64(m.BlockCache.Hits))
	counter(c.cacheMisses, float64(m.BlockCache.Misses))
	gauge(c.cacheBytes, float64(m.BlockCache.Size))
	counter(c.filterHits, float64(m.Filter.Hits))
	counter(c.filterMisses, float64(m.Filter.Misses))
	gauge(c.memtableBytes, float64(m.MemTable.Size))
	gauge(c.walBytes, float64(m.WAL.PhysicalSize))
	gauge(c.diskUsage, float64(m.DiskSpaceUsage()))
}
