package nba

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/valyala/fastjson"
)

func TestDecodeRecord(t *testing.T) {
	full := DecisionRecord{
		DecisionID: DecisionID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		At:         time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC),
		ContactID:  "c-1", AnonymousID: "a-\"1\"", Placement: "homepage", Group: "homepage/lead",
		Control: true, Policy: "random", Catalogue: "v1", Eligible: 7, Type: RecordDecision,
		FeatureVersion: 3, Features: []float32{0.5, -1.25, 1e-7},
		Choices: []LoggedChoice{
			{Action: "cart-reminder", Rank: 1, Score: 3.5, Propensity: 0.1, Sample: 0.2, Weight: 1, LoggingProbability: 0.25, Model: "propensity"},
			{Action: "welcome", Rank: 2, Fallback: true},
		},
	}
	fullJSON, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		typ     string
		wantErr bool
	}{
		{"full", string(fullJSON), RecordDecision, false},
		{"no type, the older format", `{"decision_id":"0102030405060708090a0b0c0d0e0f10","timestamp":"2026-11-24T10:00:00Z","group":"homepage/visitor","actions":[{"action_id":"x","rank":1}]}`, RecordDecision, false},
		{"nulls are absent", `{"decision_id":"0102030405060708090a0b0c0d0e0f10","timestamp":"2026-11-24T10:00:00Z","contact_id":null,"actions":null,"features":null}`, RecordDecision, false},
		{"unknown fields ignored", `{"decision_id":"0102030405060708090a0b0c0d0e0f10","timestamp":"2026-11-24T10:00:00Z","extra":{"a":[1,2]},"actions":[]}`, RecordDecision, false},
		{"outcome", `{"type":"outcome","decision_id":"0102030405060708090a0b0c0d0e0f10","action_id":"x","outcome":"click","timestamp":"2026-11-24T10:00:00Z"}`, RecordOutcome, false},
		{"not json", `{"decision_id":`, "", true},
		{"not an object", `[1]`, "", true},
		{"unknown type", `{"type":"impression"}`, "", true},
		{"short id", `{"decision_id":"0102","timestamp":"2026-11-24T10:00:00Z"}`, "", true},
		{"id not hex", `{"decision_id":"zz02030405060708090a0b0c0d0e0f10","timestamp":"2026-11-24T10:00:00Z"}`, "", true},
		{"bad time", `{"decision_id":"0102030405060708090a0b0c0d0e0f10","timestamp":"yesterday"}`, "", true},
		{"control not bool", `{"decision_id":"0102030405060708090a0b0c0d0e0f10","timestamp":"2026-11-24T10:00:00Z","control":"yes"}`, "", true},
		{"action id not string", `{"decision_id":"0102030405060708090a0b0c0d0e0f10","timestamp":"2026-11-24T10:00:00Z","actions":[{"action_id":7}]}`, "", true},
		{"feature too large", `{"decision_id":"0102030405060708090a0b0c0d0e0f10","timestamp":"2026-11-24T10:00:00Z","features":[1e300]}`, "", true},
		{"eligible fractional", `{"decision_id":"0102030405060708090a0b0c0d0e0f10","timestamp":"2026-11-24T10:00:00Z","eligible":1.5}`, "", true},
	}
	var p fastjson.Parser
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got DecisionRecord
			typ, err := DecodeRecord(&p, []byte(tt.in), &got)
			if tt.wantErr {
				if !errors.Is(err, ErrBadRecord) {
					t.Fatalf("err = %v, want ErrBadRecord", err)
				}
				return
			}
			if err != nil || typ != tt.typ {
				t.Fatalf("DecodeRecord = %q, %v; want %q", typ, err, tt.typ)
			}
			if typ == RecordOutcome {
				return
			}
			// What encoding/json makes of the same value, the reference.
			var want DecisionRecord
			if err := json.Unmarshal([]byte(tt.in), &want); err != nil {
				t.Fatal(err)
			}
			want.Type = RecordDecision
			if len(got.Choices) == 0 && len(want.Choices) == 0 {
				got.Choices, want.Choices = nil, nil
			}
			if len(got.Features) == 0 && len(want.Features) == 0 {
				got.Features, want.Features = nil, nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// A reused record does not keep the previous value's fields.
func TestDecodeRecordReuse(t *testing.T) {
	var p fastjson.Parser
	var r DecisionRecord
	first := `{"decision_id":"0102030405060708090a0b0c0d0e0f10","timestamp":"2026-11-24T10:00:00Z","contact_id":"c","features":[1,2],"actions":[{"action_id":"a"},{"action_id":"b"}]}`
	second := `{"decision_id":"0102030405060708090a0b0c0d0e0f11","timestamp":"2026-11-24T10:00:00Z","actions":[{"action_id":"c"}]}`
	if _, err := DecodeRecord(&p, []byte(first), &r); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeRecord(&p, []byte(second), &r); err != nil {
		t.Fatal(err)
	}
	if r.ContactID != "" || len(r.Features) != 0 || len(r.Choices) != 1 || r.Choices[0].Action != "c" {
		t.Fatalf("stale fields after reuse: %+v", r)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"decision_id":"0102030405060708090a0b0c0d0e0f10","timestamp":"2026-11-24T10:00:00Z","actions":[{"action_id":"x","rank":1,"score":0.5}],"features":[0.1]}`))
	f.Add([]byte(`{"type":"outcome"}`))
	f.Add([]byte(`{"decision_id":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p fastjson.Parser
		var r DecisionRecord
		typ, err := DecodeRecord(&p, b, &r)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error %v does not wrap ErrBadRecord", err)
			}
			return
		}
		if typ != RecordDecision && typ != RecordOutcome {
			t.Fatalf("type %q", typ)
		}
	})
}

func BenchmarkDecodeRecord(b *testing.B) {
	for _, nfeat := range []int{0, 62} {
		b.Run(fmt.Sprintf("features=%d", nfeat), func(b *testing.B) { benchDecodeRecord(b, nfeat) })
	}
}

func benchDecodeRecord(b *testing.B, nfeat int) {
	rec := DecisionRecord{DecisionID: DecisionID{1}, At: time.Now().UTC(), ContactID: "12345", Placement: "homepage",
		Group: "homepage/lead", Policy: "thompson", Catalogue: "abc", Eligible: 12, FeatureVersion: 1, Features: make([]float32, nfeat),
		Choices: []LoggedChoice{{Action: "a", Rank: 1, Score: 1.5, Propensity: 0.03, Sample: 0.04, Weight: 1}, {Action: "b", Rank: 2}, {Action: "c", Rank: 3}}}
	for i := range rec.Features {
		rec.Features[i] = float32(i) * 0.37
	}
	v, _ := json.Marshal(rec)
	b.Run("fastjson", func(b *testing.B) {
		var p fastjson.Parser
		var r DecisionRecord
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeRecord(&p, v, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		var r DecisionRecord
		b.ReportAllocs()
		for b.Loop() {
			r.Choices = r.Choices[:0]
			if err := json.Unmarshal(v, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
