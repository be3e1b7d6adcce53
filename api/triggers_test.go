package api

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/state"
)

// fakeTriggers stands in for the trigger engine: it describes a timer by
// its name and answers a fixed pressure.
type fakeTriggers struct {
	pressureAt int64
	off        bool
}

func (f *fakeTriggers) Timers(ts []state.Timer) ([]PendingTimer, error) {
	out := make([]PendingTimer, 0, len(ts))
	for _, t := range ts {
		if string(t.Data) == "corrupt" {
			return nil, errors.New("corrupt timer")
		}
		out = append(out, PendingTimer{Name: t.Name, Rule: t.Name, Kind: "wait", Due: t.Due, CauseAt: t.Due - 3600_000,
			Source: "kairos.clickstream/0/7", Reason: string(t.Data)})
	}
	return out, nil
}

func (f *fakeTriggers) Pressure(c *state.Contact, at int64) ([]ChannelPressure, bool) {
	if f.off {
		return nil, false
	}
	f.pressureAt = at
	return []ChannelPressure{
		{Channel: "email", NextAllowed: at + 3600_000, Reason: "pressure", Caps: []PressureCap{{Max: 1, Per: 24 * time.Hour, Sent: 1}}},
		{Channel: "sms", Reason: "no_consent"},
	}, true
}

func armTimer(t *testing.T, st *state.Store, tm state.Timer) {
	t.Helper()
	pt, err := st.Partition(testPartitionOf(tm.Contact.Value()))
	if err != nil {
		t.Fatal(err)
	}
	b := pt.NewBatch()
	if err := b.ArmTimer(&tm); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestTriggerRoutes(t *testing.T) {
	ft := &fakeTriggers{}
	h := newHarness(t, func(c *Config) { c.Triggers = ft })
	armTimer(t, h.srv.cfg.Store, state.Timer{Contact: "c:42", Name: "no-open-follow-up", Due: t0 + 2*day})
	armTimer(t, h.srv.cfg.Store, state.Timer{Contact: "c:42", Name: "abandoned-cart", Due: t0 + 3600_000})
	armTimer(t, h.srv.cfg.Store, state.Timer{Contact: "c:joe@corp", Name: "x", Due: t0, Data: []byte("corrupt")})

	t.Run("timers", func(t *testing.T) {
		// By email: the route resolves aliases like GET /v1/contacts/{id}.
		r := h.get(t, "/v1/contacts/ann@example.com/timers")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var doc struct {
			ContactID string `json:"contact_id"`
			Timers    []struct {
				Name, Rule, Kind, Due, Source string
				CauseAt                       *string `json:"cause_at"`
				Reason                        *string
			} `json:"timers"`
		}
		if err := json.Unmarshal(r.body, &doc); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		if doc.ContactID != "42" || len(doc.Timers) != 2 || doc.Timers[0].Name != "abandoned-cart" ||
			doc.Timers[0].Due != "2025-03-01T10:30:00.250Z" || doc.Timers[0].CauseAt == nil || doc.Timers[0].Reason != nil ||
			doc.Timers[1].Name != "no-open-follow-up" {
			t.Errorf("timers document %s", r.body)
		}
		if r := h.get(t, "/v1/contacts/anon-x/timers"); r.status != 200 || string(r.body) != `{"contact_id":"anon-x","timers":[]}` {
			t.Errorf("no timers: %d %s", r.status, r.body)
		}
		checkError(t, h.get(t, "/v1/contacts/joe@corp/timers"), 500, "internal")
	})
	t.Run("pressure", func(t *testing.T) {
		r := h.get(t, "/v1/contacts/42/pressure?at=2025-03-02T12:00:00Z")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		want := `{"contact_id":"42","at":"2025-03-02T12:00:00.000Z","channels":[` +
			`{"channel":"email","allowed":true,"next_allowed":"2025-03-02T13:00:00.000Z","reason":"pressure","caps":[{"max":1,"per_seconds":86400,"sent":1}]},` +
			`{"channel":"sms","allowed":false,"next_allowed":null,"reason":"no_consent","caps":[]}]}`
		if string(r.body) != want {
			t.Errorf("pressure\n got %s\nwant %s", r.body, want)
		}
		if !json.Valid(r.body) {
			t.Error("invalid JSON")
		}
		// Without ?at=, the server's clock.
		if r := h.get(t, "/v1/contacts/42/pressure"); r.status != 200 || ft.pressureAt != t0+14*day {
			t.Errorf("default instant %d, want %d (%d %s)", ft.pressureAt, t0+14*day, r.status, r.body)
		}
		checkError(t, h.get(t, "/v1/contacts/42/pressure?at=yesterday"), 400, "bad_request")
		ft.off = true
		checkError(t, h.get(t, "/v1/contacts/42/pressure"), 503, "unavailable")
		ft.off = false
	})
	t.Run("errors", func(t *testing.T) {
		checkError(t, h.get(t, "/v1/contacts/nobody/timers"), 404, "not_found")
		checkError(t, h.get(t, "/v1/contacts/nobody/pressure"), 404, "not_found")
		checkError(t, h.get(t, "/v1/contacts/%zz/timers"), 400, "bad_request")
		checkError(t, h.get(t, "/v1/contacts//timers"), 404, "not_found")
		h.setReady(errors.New("restoring partition 3"))
		checkError(t, h.get(t, "/v1/contacts/42/timers"), 503, "not_ready")
		h.setReady(nil)
	})
	t.Run("off", func(t *testing.T) {
		h := newHarness(t, nil)
		checkError(t, h.get(t, "/v1/contacts/42/timers"), 503, "unavailable")
		checkError(t, h.get(t, "/v1/contacts/42/pressure"), 503, "unavailable")
	})
}
