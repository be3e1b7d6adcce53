package fold

import (
	"testing"

	"github.com/kairos-engine/kairos/models/sendtime"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
)

func TestOpenFilter(t *testing.T) {
	filter, err := sendtime.NewFilter(sendtime.FilterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sent := ms("2026-01-05T14:00:00Z")
	tests := []struct {
		name    string
		open    event.Event
		learned bool
		verdict sendtime.Verdict
	}{
		{"human, an hour later", event.Event{Time: sent + 3600_000}, true, sendtime.Human},
		{"proxy fetch on delivery", event.Event{Time: sent + 2_000}, false, sendtime.MachineFast},
		{"image proxy", event.Event{Time: sent + 3600_000, Context: event.Context{UserAgent: "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"}}, false, sendtime.MachineUserAgent},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFolder()
			f.SetOpenFilter(filter)
			c := &state.Contact{Key: "c:c1"}
			f.Apply(c, &event.Event{ID: "s", Type: state.EventEmailSent, Time: sent})
			before := filter.Count(tc.verdict)
			tc.open.ID, tc.open.Type = "o"+string(rune('0'+i)), state.EventEmailOpened
			f.Apply(c, &tc.open)
			var sum float32
			for _, v := range c.Engagement.HourOfWeek {
				sum += v
			}
			if (sum > 0) != tc.learned {
				t.Fatalf("histogram sum %v, learned want %v", sum, tc.learned)
			}
			if c.Engagement.Opened != 1 {
				t.Fatalf("opened %d: a filtered open still counts as an open", c.Engagement.Opened)
			}
			if filter.Count(tc.verdict) != before+1 {
				t.Fatalf("verdict %v not counted", tc.verdict)
			}
		})
	}
}
