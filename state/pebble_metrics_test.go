package state

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestPebbleCollector writes contacts, flushes them, reads them back and
// compacts them, then checks that the collector's series pass the
// Prometheus linter and report what happened: a flush, a compaction, the
// data in the last level, bytes on disk, cache and bloom filter activity.
func TestPebbleCollector(t *testing.T) {
	s, err := Open("/db", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := NewPebbleCollector(s)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("register: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	if problems, err := promlint.NewWithMetricFamilies(mfs).Lint(); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}

	before := gather(t, reg)
	pt, err := s.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	b := pt.NewBatch()
	for i := range 500 {
		if err := b.PutContact(&Contact{Key: MakeKey(IDContact, fmt.Sprintf("c-%d", i)), FirstSeen: 1, LastSeen: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Flush(); err != nil {
		t.Fatal(err)
	}
	var got Contact
	for i := range 50 {
		// Present keys read data blocks (cache); absent ones inside the table's key range are answered by its bloom filter.
		if _, err := pt.Contact(MakeKey(IDContact, fmt.Sprintf("c-%d", i)), &got); err != nil {
			t.Fatal(err)
		}
		if _, err := pt.Contact(MakeKey(IDContact, fmt.Sprintf("c-%d-absent", i)), &got); err != nil {
			t.Fatal(err)
		}
	}
	// A manual compaction moves or rewrites the L0 file.
	if err := s.DB().Compact(t.Context(), []byte{0}, []byte{0xff}, false); err != nil {
		t.Fatal(err)
	}
	after := gather(t, reg)
	if b, a := sumPrefix(before, "kairos_state_pebble_compactions_total{"), sumPrefix(after, "kairos_state_pebble_compactions_total{"); a <= b {
		t.Errorf("compactions_total summed over kinds: before %v, after %v; want growth after a manual compaction", b, a)
	}

	for _, tc := range []struct {
		series string
		check  func(before, after float64) bool
		want   string
	}{
		{"kairos_state_pebble_flushes_total", func(b, a float64) bool { return a > b }, "to grow after a flush"},
		{"kairos_state_pebble_flushed_bytes_total", func(b, a float64) bool { return a > b }, "to grow after a flush"},
		{"kairos_state_pebble_wal_written_bytes_total", func(b, a float64) bool { return a > b }, "to grow after a commit"},
		{`kairos_state_pebble_level_files{level="6"}`, func(_, a float64) bool { return a >= 1 }, "the compacted data in L6"},
		{"kairos_state_pebble_l0_files", func(_, a float64) bool { return a == 0 }, "L0 empty after compaction"},
		{"kairos_state_pebble_read_amplification", func(_, a float64) bool { return a >= 1 }, "at least 1 with data in the LSM"},
		{"kairos_state_pebble_disk_usage_bytes", func(b, a float64) bool { return a > b }, "to grow with data"},
		{"kairos_state_pebble_block_cache_misses_total", func(b, a float64) bool { return a > b }, "to grow on first reads"},
		{"kairos_state_pebble_block_cache_hits_total", func(b, a float64) bool { return a > b }, "to grow on repeated reads"},
		{"kairos_state_pebble_filter_hits_total", func(b, a float64) bool { return a > b }, "to grow on reads of absent keys"},
		{`kairos_state_pebble_compactions_total{kind="default"}`, func(_, a float64) bool { return a >= 0 }, "present"},
		{"kairos_state_pebble_compaction_debt_bytes", func(_, a float64) bool { return a >= 0 }, "present"},
	} {
		t.Run(tc.series, func(t *testing.T) {
			b, okb := before[tc.series]
			a, oka := after[tc.series]
			if !okb || !oka {
				t.Fatalf("series missing (before %v, after %v)", okb, oka)
			}
			if !tc.check(b, a) {
				t.Errorf("before %v, after %v: want %s", b, a, tc.want)
			}
		})
	}
	for lv := range 7 {
		if _, ok := after[fmt.Sprintf(`kairos_state_pebble_level_bytes{level="%d"}`, lv)]; !ok {
			t.Errorf("level_bytes of level %d missing", lv)
		}
	}
}

// gather returns every sample as name{labels} -> value.
func gather(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			if len(m.GetLabel()) > 0 {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				name += "{" + strings.Join(ls, ",") + "}"
			}
			// Counters and gauges only: the collector exports nothing else.
			out[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

func sumPrefix(samples map[string]float64, prefix string) float64 {
	var sum float64
	for k, v := range samples {
		if strings.HasPrefix(k, prefix) {
			sum += v
		}
	}
	return sum
}
