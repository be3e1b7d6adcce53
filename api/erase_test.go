package api

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/state"
)

// fakeEraser stands in for the engine: it applies the erasure the way the
// owning partition does (deletes the record, tombstones the key with a
// receipt), or fails, or does nothing (the owner is slow).
type fakeEraser struct {
	st    *state.Store
	calls []state.Key
	fail  bool
	slow  bool
}

func (f *fakeEraser) erase(_ context.Context, k state.Key) error {
	f.calls = append(f.calls, k)
	if f.fail {
		return errors.New("broker unreachable")
	}
	if f.slow {
		return nil
	}
	pt, err := f.st.Partition(testPartitionOf(k.Value()))
	if err != nil {
		return err
	}
	b := pt.NewBatch()
	if err := b.DeleteContact(k); err != nil {
		return err
	}
	if err := b.PutTombstone(k, []byte(`{"contact":"`+string(k)+`","contact_deleted":true}`)); err != nil {
		return err
	}
	return b.Commit()
}

func TestDeleteContact(t *testing.T) {
	var fe *fakeEraser
	h := newHarness(t, func(c *Config) {
		fe = &fakeEraser{st: c.Store}
		c.Erase = fe.erase
	})
	// By email: the canonical contact is erased, and the receipt returned.
	r := h.do(t, fasthttp.MethodDelete, "/v1/contacts/ann@example.com", "", nil)
	if r.status != fasthttp.StatusOK {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	var got struct {
		Status  string          `json:"status"`
		Receipt json.RawMessage `json:"receipt"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if got.Status != "erased" || len(fe.calls) != 1 || fe.calls[0] != "c:42" {
		t.Fatalf("status %q, erase calls %v; want erased and one call for c:42", got.Status, fe.calls)
	}
	if string(r.header.Peek(fasthttp.HeaderCacheControl)) != "no-store" {
		t.Error("receipt without Cache-Control: no-store")
	}
	// Again: the stored receipt, no second erasure.
	r = h.do(t, fasthttp.MethodDelete, "/v1/contacts/42", "", nil)
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != fasthttp.StatusOK || got.Status != "already_erased" {
		t.Fatalf("second DELETE: %d %s", r.status, r.body)
	}
	if len(fe.calls) != 1 {
		t.Errorf("an erased contact was erased again: %v", fe.calls)
	}
	checkError(t, h.get(t, "/v1/contacts/42"), fasthttp.StatusNotFound, "not_found")
	checkError(t, h.do(t, fasthttp.MethodDelete, "/v1/contacts/nobody-at-all", "", nil), fasthttp.StatusNotFound, "not_found")
	checkError(t, h.do(t, fasthttp.MethodDelete, "/v1/contacts/%zz", "", nil), fasthttp.StatusBadRequest, "bad_request")
}

func TestDeleteContactOwnerSlowOrDown(t *testing.T) {
	fe := &fakeEraser{}
	h := newHarness(t, func(c *Config) { fe.st = c.Store; c.Erase = fe.erase })
	fe.fail = true
	checkError(t, h.do(t, fasthttp.MethodDelete, "/v1/contacts/42", "", nil), fasthttp.StatusServiceUnavailable, "unavailable")
	h2 := newHarness(t, nil)
	checkError(t, h2.do(t, fasthttp.MethodDelete, "/v1/contacts/42", "", nil), fasthttp.StatusServiceUnavailable, "unavailable")
}

func TestExportContact(t *testing.T) {
	h := newHarness(t, nil)
	r := h.get(t, "/v1/contacts/42/export")
	if r.status != fasthttp.StatusOK {
		t.Fatalf("export: %d %s", r.status, r.body)
	}
	var doc struct {
		ExportedAt string `json:"exported_at"`
		Profile    struct {
			ContactID string `json:"contact_id"`
		} `json:"profile"`
		Stored struct {
			EventCounts  map[string]int `json:"event_counts"`
			PurchaseDays []any          `json:"purchase_days"`
			Histogram    []float64      `json:"engagement_hour_of_week"`
		} `json:"stored"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, r.body)
	}
	if doc.Profile.ContactID != "42" || doc.ExportedAt == "" || len(doc.Stored.Histogram) != state.HoursPerWeek {
		t.Errorf("export %+v", doc)
	}
	if cd := string(r.header.Peek(fasthttp.HeaderContentDisposition)); cd == "" {
		t.Error("export without Content-Disposition")
	}
	checkError(t, h.get(t, "/v1/contacts/nobody-at-all/export"), fasthttp.StatusNotFound, "not_found")
	checkError(t, h.get(t, "/v1/contacts/42/nonsense"), fasthttp.StatusNotFound, "not_found")
}
