package trigger

import (
	"testing"
	"time"
)

func TestWatermark(t *testing.T) {
	wall := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	at := func(s string) int64 { return ms(s) }
	type step struct {
		topic string // "" for no event, only reading the mark
		event string
		wall  time.Duration // wall time since the start
		want  string
	}
	cases := []struct {
		name     string
		lateness time.Duration
		steps    []step
	}{
		{"one topic follows its newest event", 0, []step{
			{"clicks", "2026-03-10T10:00:00Z", 0, "2026-03-10T10:00:00Z"},
			{"clicks", "2026-03-10T09:00:00Z", time.Second, "2026-03-10T10:00:00Z"}, // a late event does not move it back
			{"clicks", "2026-03-10T10:05:00Z", 2 * time.Second, "2026-03-10T10:05:00Z"},
		}},
		{"a lagging topic holds it back until idle", 0, []step{
			{"clicks", "2026-03-10T10:00:00Z", 0, "2026-03-10T10:00:00Z"},
			{"orders", "2026-03-10T09:00:00Z", time.Second, "2026-03-10T10:00:00Z"}, // never back
			{"clicks", "2026-03-10T11:00:00Z", 2 * time.Second, "2026-03-10T10:00:00Z"},
			{"orders", "2026-03-10T10:30:00Z", 3 * time.Second, "2026-03-10T10:30:00Z"},
			{"clicks", "2026-03-10T11:00:00Z", 35 * time.Second, "2026-03-10T11:00:00Z"}, // orders idle for 32s
			{"", "", 2 * time.Minute, "2026-03-10T12:02:00Z"},                            // everything idle: the wall clock
		}},
		{"lateness", 5 * time.Minute, []step{
			{"clicks", "2026-03-10T10:00:00Z", 0, "2026-03-10T09:55:00Z"},
		}},
		{"idle partition follows the wall clock", time.Minute, []step{
			{"clicks", "2026-03-10T11:59:00Z", 0, "2026-03-10T11:58:00Z"},
			{"", "", 10 * time.Minute, "2026-03-10T12:09:00Z"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := Watermark{Lateness: tc.lateness}
			for i, s := range tc.steps {
				now := wall.Add(s.wall)
				if s.topic != "" {
					w.Observe(s.topic, at(s.event), now)
				}
				if got := w.At(now); got != at(s.want) {
					t.Fatalf("step %d: watermark %s, want %s", i, time.UnixMilli(got).UTC().Format(time.RFC3339), s.want)
				}
			}
		})
	}
}
