package fold

import (
	"math"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream/event"
)

func scoringModels(t testing.TB, pop scoring.Population) *atomic.Pointer[scoring.Models] {
	t.Helper()
	plan, err := lead.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.New(plan, scoring.Config{}, pop)
	if err != nil {
		t.Fatal(err)
	}
	var p atomic.Pointer[scoring.Models]
	p.Store(m)
	return &p
}

// decodeEvent decodes one record with the stream's decoder, as a worker
// does, failing the test on a dead letter.
func decodeEvent(t testing.TB, d *event.Decoder, js string) *event.Event {
	t.Helper()
	var e event.Event
	if err := d.Decode([]byte(js), 0, &e); err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return &e
}

func testDecoder() *event.Decoder {
	return event.NewDecoder(event.Config{Now: func() time.Time { return time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC) }})
}

// TestFoldScores folds a journey of real decoded events with the default
// plan: an anonymous visitor reads the pricing page, identifies as a
// senior buyer in a target industry, downloads a whitepaper (MQL), and
// orders (customer). Folder.Scored reports each stage change.
func TestFoldScores(t *testing.T) {
	f := NewFolder()
	models := scoringModels(t, scoring.Population{})
	f.SetModels(models)
	d := testDecoder()
	c := &state.Contact{Key: "a:a-7f3c"}
	steps := []struct {
		name      string
		json      string
		matched   int
		from, to  lead.Stage
		changed   bool
		score     float64 // lead score right after the event
		segmented bool    // a segment snapshot exists after it
	}{
		{"pricing page",
			`{"id":"e1","type":"page_view","anonymous_id":"a-7f3c","timestamp":"2026-11-02T09:00:00Z","properties":{"url":"https://shop.example/pricing"},"context":{"timezone":"Europe/Paris"}}`,
			1, lead.StageUnknown, lead.StageVisitor, true, 10, false},
		{"product views add a point each",
			`{"id":"e2","type":"product_view","anonymous_id":"a-7f3c","timestamp":"2026-11-02T09:01:00Z","properties":{"sku":"SHOE-42","category":"shoes"}}`,
			1, lead.StageVisitor, lead.StageVisitor, false, 11, false},
		// Fit: senior title 15, target industry 10, 50+ employees 10,
		// target market 5.
		{"identify makes a lead with fit points",
			`{"id":"e3","type":"identify","contact_id":"42","anonymous_id":"a-7f3c","timestamp":"2026-11-02T09:05:00Z","properties":{"traits":{"job_title":"VP Operations","industry":"Retail","company_size":250,"country":"FR"}}}`,
			0, lead.StageVisitor, lead.StageLead, true, 51, false},
		{"whitepaper reaches MQL at 60",
			`{"id":"e4","type":"form_submit","contact_id":"42","timestamp":"2026-11-02T09:10:00Z","properties":{"form":"whitepaper-download","content":"state-of-retail-2026"}}`,
			1, lead.StageLead, lead.StageMQL, true, 66, false},
		{"an order makes a customer and takes the first segment snapshot",
			`{"id":"e5","type":"order_placed","contact_id":"42","timestamp":"2026-11-03T18:00:00Z","properties":{"order_id":"9001","items":[{"sku":"SHOE-42","category":"shoes","quantity":2,"price":59.90}],"total":119.80,"currency":"EUR"}}`,
			// The behaviour has decayed for 33 hours (half-lives 30 and 14 days).
			0, lead.StageMQL, lead.StageCustomer, true, 65.15, true},
	}
	for _, s := range steps {
		e := decodeEvent(t, d, s.json)
		if !f.Apply(c, e) {
			t.Fatalf("%s: not applied", s.name)
		}
		sc := f.Scored
		if sc.Lead.Matched != s.matched || sc.Lead.From != s.from || sc.Lead.To != s.to || sc.Lead.StageChanged != s.changed {
			t.Errorf("%s: Scored %+v, want matched %d %v → %v (changed %v)", s.name, sc.Lead, s.matched, s.from, s.to, s.changed)
		}
		if lead.Stage(c.Scores.Stage) != s.to {
			t.Errorf("%s: stored stage %v", s.name, lead.Stage(c.Scores.Stage))
		}
		got := models.Load().Evaluate(c, e.Time, nil).Lead.Total
		if math.Abs(got-s.score) > 0.01 {
			t.Errorf("%s: lead score %v, want %v", s.name, got, s.score)
		}
		if (c.Scores.SegmentDay != 0) != s.segmented {
			t.Errorf("%s: segment day %d", s.name, c.Scores.SegmentDay)
		}
	}
	// The order was at 19:00 in Paris on 3 November: one order of 119.80
	// today scores R 5, F 1, M 2 with the fallback cuts, FM 2: Potential
	// loyalists.
	if want := int32(time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC).Unix() / 86400); c.Scores.SegmentDay != want || rfm.Segment(c.Scores.Segment) != rfm.PotentialLoyalists {
		t.Errorf("snapshot day %d segment %v, want %d Potential loyalists", c.Scores.SegmentDay, rfm.Segment(c.Scores.Segment), want)
	}
	var stages []string
	for _, tr := range c.Scores.Transitions {
		if tr.Kind == state.TransitionStage {
			stages = append(stages, lead.Stage(tr.To).String())
		}
	}
	if got := joinStages(stages); got != "visitor,lead,mql,customer" {
		t.Errorf("stage transitions %s", got)
	}
	// Ten days later the segment is the same; 99 days later R is 3: About
	// to sleep, a worse segment, reported in Scored.
	e := decodeEvent(t, d, `{"id":"e6","type":"opened","contact_id":"42","timestamp":"2026-11-13T10:00:00Z","properties":{"campaign":"x"}}`)
	f.Apply(c, e)
	if f.Scored.SegmentChanged || c.Scores.SegmentDay != int32(e.Time/86400e3) {
		t.Errorf("10 days later: %+v, day %d", f.Scored, c.Scores.SegmentDay)
	}
	e = decodeEvent(t, d, `{"id":"e7","type":"opened","contact_id":"42","timestamp":"2027-02-10T10:00:00Z","properties":{"campaign":"x"}}`)
	f.Apply(c, e)
	if !f.Scored.SegmentChanged || f.Scored.SegmentFrom != rfm.PotentialLoyalists || f.Scored.SegmentTo != rfm.AboutToSleep {
		t.Errorf("99 days later: %+v", f.Scored)
	}
	// A duplicate is not folded and Scored is left alone.
	before := f.Scored
	if f.Apply(c, e) || f.Scored != before {
		t.Error("a duplicate event was scored")
	}
}

func joinStages(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

// TestFoldScoresLapsed: with a fitted BG/NBD, an email to a customer gone
// quiet for a year marks it lapsed, and Scored says so.
func TestFoldScoresLapsed(t *testing.T) {
	f := NewFolder()
	f.SetModels(scoringModels(t, scoring.Population{BG: churn.BGNBD{R: 0.2426, Alpha: 4.4136, A: 0.7929, B: 2.4259}, BGFitted: true}))
	d := testDecoder()
	c := &state.Contact{Key: "c:9"}
	for i, at := range []string{"2025-01-02T10:00:00Z", "2025-01-20T10:00:00Z", "2025-02-03T10:00:00Z"} {
		n := strconv.Itoa(i)
		f.Apply(c, decodeEvent(t, d, `{"id":"o`+n+`","type":"order_placed","contact_id":"9","timestamp":"`+at+`","properties":{"order_id":"`+n+`","items":[{"sku":"A","price":20}],"total":20}}`))
	}
	f.Apply(c, decodeEvent(t, d, `{"id":"s1","type":"sent","contact_id":"9","timestamp":"2026-02-01T10:00:00Z","properties":{"campaign":"winback"}}`))
	if !f.Scored.Lapsed || f.Scored.Lead.To != lead.StageLapsed || lead.Stage(c.Scores.Stage) != lead.StageLapsed {
		t.Fatalf("a year quiet: %+v, stage %v", f.Scored, lead.Stage(c.Scores.Stage))
	}
	f.Apply(c, decodeEvent(t, d, `{"id":"o9","type":"order_placed","contact_id":"9","timestamp":"2026-02-05T10:00:00Z","properties":{"order_id":"9","items":[{"sku":"A","price":20}],"total":20}}`))
	if f.Scored.Lead.From != lead.StageLapsed || f.Scored.Lead.To != lead.StageCustomer {
		t.Errorf("won back: %+v", f.Scored)
	}
}

// TestFoldWithoutModels: no models, or a pointer to no snapshot, scores
// nothing and reports a zero Scored.
func TestFoldWithoutModels(t *testing.T) {
	d := testDecoder()
	js := `{"id":"e1","type":"page_view","contact_id":"1","timestamp":"2026-11-02T09:00:00Z","properties":{"url":"https://shop.example/pricing"}}`
	var empty atomic.Pointer[scoring.Models]
	for name, p := range map[string]*atomic.Pointer[scoring.Models]{"nil pointer": nil, "empty pointer": &empty} {
		f := NewFolder()
		f.SetModels(p)
		f.Scored.Lead.Matched = 99 // left from an earlier event
		c := &state.Contact{Key: "c:1"}
		f.Apply(c, decodeEvent(t, d, js))
		if f.Scored != (scoring.Change{}) || len(c.Scores.Lead) != 0 || c.Scores.Stage != 0 {
			t.Errorf("%s: Scored %+v, scores %+v", name, f.Scored, c.Scores)
		}
	}
}

// TestFolderAbsorb: identity resolution merges an anonymous profile's
// lead points into the known contact and restages it.
func TestFolderAbsorb(t *testing.T) {
	f := NewFolder()
	models := scoringModels(t, scoring.Population{})
	f.SetModels(models)
	d := testDecoder()
	anon := &state.Contact{Key: "a:x"}
	f.Apply(anon, decodeEvent(t, d, `{"id":"a1","type":"form_submit","anonymous_id":"x","timestamp":"2026-11-02T09:00:00Z","properties":{"form":"request-demo"}}`))
	known := &state.Contact{Key: "c:5"}
	f.Apply(known, decodeEvent(t, d, `{"id":"k1","type":"form_submit","contact_id":"5","timestamp":"2026-11-02T09:30:00Z","properties":{"form":"contact-sales"}}`))
	if lead.Stage(known.Scores.Stage) != lead.StageLead {
		t.Fatalf("premise: stage %v", lead.Stage(known.Scores.Stage))
	}
	f.Absorb(known, anon)
	// 30 + 25 = 55 < 60: still a lead; one more pricing page makes MQL.
	if sc := models.Load().Evaluate(known, known.LastSeen, nil); math.Abs(sc.Lead.Total-55) > 0.05 {
		t.Errorf("merged score %v, want 55", sc.Lead.Total)
	}
	f.Apply(known, decodeEvent(t, d, `{"id":"k2","type":"page_view","contact_id":"5","timestamp":"2026-11-02T10:00:00Z","properties":{"url":"/pricing"}}`))
	if lead.Stage(known.Scores.Stage) != lead.StageMQL {
		t.Errorf("stage after merge and pricing page %v, want mql", lead.Stage(known.Scores.Stage))
	}
	// Without models Absorb still merges the state.
	g := NewFolder()
	a, k := &state.Contact{Key: "a:y", Counts: [state.NumEventTypes]uint32{state.EventPageView: 3}}, &state.Contact{Key: "c:6"}
	g.Absorb(k, a)
	if k.Counts[state.EventPageView] != 3 {
		t.Errorf("counts %v after Absorb without models", k.Counts[state.EventPageView])
	}
}
