package trigger

import (
	"strings"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/state"
)

// TestSendAt: with the send-time model set, an emitted email trigger
// carries its recommendation as send_at, asked with the trigger id as the
// exploration seed; without it the field is absent.
func TestSendAt(t *testing.T) {
	h := newHarness(t, "")
	rec := time.Date(2026, 3, 11, 8, 0, 0, 0, time.UTC)
	var seeds []string
	h.eng.SetSendTime(func(c *state.Contact, at int64, seed string) int64 {
		seeds = append(seeds, seed)
		return rec.UnixMilli()
	})
	h.send(ev("s1", "signup", `"email":"ann@example.com"`, "2026-03-10T10:00:00Z", `{"list":"newsletter"}`))
	got := h.expect("welcome", "sign-up")
	if !strings.Contains(got[0].Raw, `"send_at":"2026-03-11T08:00:00.000Z"`) {
		t.Errorf("payload without the recommended send_at: %s", got[0].Raw)
	}
	if len(seeds) != 1 || seeds[0] != got[0].TriggerID {
		t.Errorf("model asked with seeds %v, want the trigger id %s", seeds, got[0].TriggerID)
	}

	h2 := newHarness(t, "")
	h2.send(ev("s1", "signup", `"email":"ann@example.com"`, "2026-03-10T10:00:00Z", `{"list":"newsletter"}`))
	if got := h2.expect("welcome", "sign-up"); strings.Contains(got[0].Raw, "send_at") {
		t.Errorf("send_at without a model: %s", got[0].Raw)
	}
}
