package refresh

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		d, want time.Duration
		err     string
	}{
		{0, time.Minute, ""},
		{time.Second, time.Second, ""},
		{-time.Second, 0, "svc: interval -1s must be positive"},
	} {
		got, err := Interval("svc", tc.d, time.Minute)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("Interval(%v) = %v, %v; want %v, %q", tc.d, got, err, tc.want, tc.err)
		}
	}
}

var errSkip = errors.New("nothing to do")

func TestMetrics(t *testing.T) {
	for _, tc := range []struct {
		name         string
		results      []error
		ok, failed   float64
		observations uint64
	}{
		{"none", nil, 0, 0, 0},
		{"ok", []error{nil, nil}, 2, 0, 2},
		{"failed", []error{errors.New("x")}, 0, 1, 0},
		{"skipped", []error{errSkip, nil}, 1, 0, 1},
		{"wrapped skip", []error{errors.Join(errors.New("while"), errSkip)}, 0, 0, 0},
		{"mixed", []error{nil, errors.New("x"), errSkip, nil}, 2, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			m := NewMetrics(prometheus.CounterOpts{Name: "kairos_x_refreshes_total", Help: "Refreshes, by result (ok, failed)."},
				prometheus.HistogramOpts{Name: "kairos_x_refresh_seconds", Help: "Time to refresh.", Buckets: []float64{1}})
			reg.MustRegister(m)
			for _, want := range tc.results {
				if got := m.Time(errSkip, func() error { return want }); got != want {
					t.Fatalf("Time returned %v, want %v", got, want)
				}
			}
			if got := testutil.ToFloat64(m.results.WithLabelValues("ok")); got != tc.ok {
				t.Errorf("ok = %v, want %v", got, tc.ok)
			}
			if got := testutil.ToFloat64(m.results.WithLabelValues("failed")); got != tc.failed {
				t.Errorf("failed = %v, want %v", got, tc.failed)
			}
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range families {
				names = append(names, f.GetName())
				switch f.GetName() {
				case "kairos_x_refreshes_total":
					if len(f.Metric) != 2 { // both results from the start
						t.Errorf("%d result series, want 2", len(f.Metric))
					}
				case "kairos_x_refresh_seconds":
					if got := f.Metric[0].GetHistogram().GetSampleCount(); got != tc.observations {
						t.Errorf("%d observations, want %d", got, tc.observations)
					}
				}
			}
			if strings.Join(names, " ") != "kairos_x_refresh_seconds kairos_x_refreshes_total" {
				t.Errorf("gathered %v", names)
			}
		})
	}
}

func TestMetricsSkipNil(t *testing.T) {
	m := NewMetrics(prometheus.CounterOpts{Name: "a_total", Help: "a"}, prometheus.HistogramOpts{Name: "a_seconds", Help: "a"})
	_ = m.Time(nil, func() error { return errSkip })
	if got := testutil.ToFloat64(m.results.WithLabelValues("failed")); got != 1 {
		t.Errorf("with skip nil, failed = %v, want 1", got)
	}
}

// call is a refresh seen by the test: when (since the start) and what it
// returned.
type call struct {
	at  time.Duration
	err error
}

func TestLoop(t *testing.T) {
	errBad := errors.New("disk on fire")
	for _, tc := range []struct {
		name    string
		loop    Loop
		results []error // the refreshes' results in turn; nil after the end
		until   time.Duration
		want    []time.Duration
		logged  int
	}{
		{
			name:  "at once then every interval",
			loop:  Loop{Interval: 5 * time.Second},
			until: 12 * time.Second,
			want:  []time.Duration{0, 5 * time.Second, 10 * time.Second},
		},
		{
			name:  "after a first delay",
			loop:  Loop{Interval: 5 * time.Second, First: 2 * time.Second},
			until: 12 * time.Second,
			want:  []time.Duration{2 * time.Second, 5 * time.Second, 10 * time.Second},
		},
		{
			name:    "failures logged, the loop goes on",
			loop:    Loop{Interval: 5 * time.Second},
			results: []error{errBad, errBad, nil},
			until:   12 * time.Second,
			want:    []time.Duration{0, 5 * time.Second, 10 * time.Second},
			logged:  2,
		},
		{
			name: "quiet error retried early, not logged",
			loop: Loop{Interval: time.Minute, First: 2 * time.Second, Quiet: errSkip,
				Retry: func(err error) bool { return errors.Is(err, errSkip) }},
			results: []error{errSkip, errSkip, nil, errSkip},
			until:   90 * time.Second,
			want:    []time.Duration{2 * time.Second, 4 * time.Second, 6 * time.Second, time.Minute, time.Minute + 2*time.Second},
		},
		{
			name: "failure not retried early when Retry says no",
			loop: Loop{Interval: time.Minute, First: 2 * time.Second,
				Retry: func(err error) bool { return errors.Is(err, errSkip) }},
			results: []error{errBad},
			until:   90 * time.Second,
			want:    []time.Duration{2 * time.Second, time.Minute},
			logged:  1,
		},
		{
			name:    "no early retry without a first delay",
			loop:    Loop{Interval: time.Minute, Retry: func(error) bool { return true }},
			results: []error{errBad},
			until:   90 * time.Second,
			want:    []time.Duration{0, time.Minute},
			logged:  1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs bytes.Buffer
				loop := tc.loop
				loop.Log = slog.New(slog.NewTextHandler(&logs, nil))
				loop.Failed = "refresh failed; the old stays"
				ctx, cancel := context.WithCancel(t.Context())
				start := time.Now()
				var got []time.Duration
				done := make(chan error)
				go func() {
					done <- loop.Run(ctx, func(context.Context) error {
						got = append(got, time.Since(start))
						if n := len(got); n <= len(tc.results) {
							return tc.results[n-1]
						}
						return nil
					})
				}()
				time.Sleep(tc.until)
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run returned %v", err)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("refreshed at %v, want %v", got, tc.want)
				}
				if n := strings.Count(logs.String(), "refresh failed; the old stays"); n != tc.logged {
					t.Errorf("%d failures logged, want %d:\n%s", n, tc.logged, logs.String())
				}
			})
		})
	}
}

// A refresh that fails because the context ended is not logged: the
// service is stopping.
func TestLoopStopping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		loop := Loop{Interval: time.Second, Log: slog.New(slog.NewTextHandler(&logs, nil)), Failed: "failed"}
		err := loop.Run(ctx, func(ctx context.Context) error {
			cancel()
			return ctx.Err()
		})
		if err != nil || logs.Len() != 0 {
			t.Errorf("Run returned %v, logged %q", err, logs.String())
		}
	})
}
