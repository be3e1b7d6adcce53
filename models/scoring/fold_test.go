package scoring_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
)

// folder drives Models.Fold the way the stream fold does: it first
// updates the contact for the event (last seen, and for an order the
// order counts and the local purchase day), then calls Fold.
type folder struct {
	t   *testing.T
	m   *scoring.Models
	c   *state.Contact
	loc *time.Location
}

func newFolder(t *testing.T, m *scoring.Models, zone string) *folder {
	loc := time.UTC
	if zone != "" {
		loc = mustZone(t, zone)
	}
	return &folder{t: t, m: m, loc: loc, c: &state.Contact{Key: "c:7", ContactID: "7", TimeZone: zone}}
}

func (f *folder) event(typ state.EventType, at string, props lead.Props) scoring.Change {
	ts := instant(at).UnixMilli()
	if ts > f.c.LastSeen {
		f.c.LastSeen = ts
	}
	if props == nil {
		props = propMap{}
	}
	return f.m.Fold(f.c, typ, ts, props)
}

func (f *folder) order(at string, spend int64) scoring.Change {
	ts := instant(at)
	day := int32(math.Floor(localDays(ts, f.loc)))
	i, found := slices.BinarySearchFunc(f.c.Purchases, day, func(p state.PurchaseDay, d int32) int { return int(p.Day - d) })
	if found {
		f.c.Purchases[i].Orders++
		f.c.Purchases[i].Spend += spend
	} else {
		f.c.Purchases = slices.Insert(f.c.Purchases, i, state.PurchaseDay{Day: day, Orders: 1, Spend: spend})
	}
	f.c.Orders.Count++
	f.c.Orders.Placed++
	f.c.Orders.Revenue += spend
	f.c.Orders.Last = max(f.c.Orders.Last, ts.UnixMilli())
	if f.c.Orders.First == 0 || ts.UnixMilli() < f.c.Orders.First {
		f.c.Orders.First = ts.UnixMilli()
	}
	return f.event(state.EventOrderPlaced, at, nil)
}

func segmentTransitions(c *state.Contact) []state.Transition {
	var ts []state.Transition
	for _, tr := range c.Scores.Transitions {
		if tr.Kind == state.TransitionSegment {
			ts = append(ts, tr)
		}
	}
	return ts
}

// TestFoldSegmentSnapshot: the segment is snapshotted on the first event
// of each later local day, a change is recorded as a transition, a late
// event takes no snapshot. Fallback cuts (no population): R 5 up to 30
// days, 4 up to 90; one order of 20.00 scores F 1 and M 1.
func TestFoldSegmentSnapshot(t *testing.T) {
	f := newFolder(t, newModels(t, scoring.Config{}, scoring.Population{}), "America/New_York")
	c := f.c
	type step struct {
		name    string
		run     func() scoring.Change
		day     string // SegmentDay after the step, local date
		segment rfm.Segment
		changed bool
	}
	steps := []step{
		{"page views before any order take no snapshot", func() scoring.Change {
			return f.event(state.EventPageView, "2026-01-04T15:00:00Z", propMap{"url": "/shoes"})
		}, "", 0, false},
		{"the first order takes the first snapshot", func() scoring.Change {
			return f.order("2026-01-05T15:00:00Z", 2000)
		}, "2026-01-05", rfm.NewCustomers, false},
		// 03:00 UTC on 6 January is 22:00 on 5 January in New York.
		{"a new UTC day on the same local day takes none", func() scoring.Change {
			return f.event(state.EventProductView, "2026-01-06T03:00:00Z", nil)
		}, "2026-01-05", rfm.NewCustomers, false},
		// 55 days after the order: R 4, (R 4, FM 1) is Promising.
		{"a later local day snapshots and records the change", func() scoring.Change {
			return f.event(state.EventEmailOpened, "2026-03-01T15:00:00Z", nil)
		}, "2026-03-01", rfm.Promising, true},
		{"the same day again takes none", func() scoring.Change {
			return f.event(state.EventEmailOpened, "2026-03-01T20:00:00Z", nil)
		}, "2026-03-01", rfm.Promising, false},
		{"a late event takes none", func() scoring.Change {
			return f.event(state.EventEmailClicked, "2026-02-01T15:00:00Z", nil)
		}, "2026-03-01", rfm.Promising, false},
		// 5 April local: 90 days, still R 4 (a value on a cut scores the
		// better bucket): a snapshot without a change.
		{"a new day with the same segment: snapshot, no transition", func() scoring.Change {
			return f.event(state.EventEmailOpened, "2026-04-05T15:00:00Z", nil)
		}, "2026-04-05", rfm.Promising, false},
		// 6 April: 91 days, R 3, (R 3, FM 1) is About to sleep.
		{"one more day crosses the R cut", func() scoring.Change {
			return f.event(state.EventEmailOpened, "2026-04-06T15:00:00Z", nil)
		}, "2026-04-06", rfm.AboutToSleep, true},
	}
	var wantTransitions []state.Transition
	for _, s := range steps {
		prev := rfm.Segment(c.Scores.Segment)
		ch := s.run()
		if s.day == "" {
			if c.Scores.SegmentDay != 0 || c.Scores.Segment != 0 {
				t.Fatalf("%s: snapshot %d %v", s.name, c.Scores.SegmentDay, rfm.Segment(c.Scores.Segment))
			}
			continue
		}
		if c.Scores.SegmentDay != epochDay(s.day) || rfm.Segment(c.Scores.Segment) != s.segment {
			t.Fatalf("%s: snapshot day %d segment %v, want %d (%s) %v", s.name, c.Scores.SegmentDay, rfm.Segment(c.Scores.Segment), epochDay(s.day), s.day, s.segment)
		}
		if ch.SegmentChanged != s.changed {
			t.Fatalf("%s: SegmentChanged %v", s.name, ch.SegmentChanged)
		}
		if s.changed {
			if ch.SegmentFrom != prev || ch.SegmentTo != s.segment || !rfm.Worse(ch.SegmentFrom, ch.SegmentTo) {
				t.Errorf("%s: change %v → %v, want %v → %v (worse)", s.name, ch.SegmentFrom, ch.SegmentTo, prev, s.segment)
			}
			wantTransitions = append(wantTransitions, state.Transition{Kind: state.TransitionSegment, From: uint8(prev), To: uint8(s.segment), At: c.LastSeen})
		}
		if got := segmentTransitions(c); !slices.Equal(got, wantTransitions) {
			t.Fatalf("%s: segment transitions %+v, want %+v", s.name, got, wantTransitions)
		}
	}
}

// TestFoldLocalDayBoundary: two events two hours apart on one UTC day are
// on two local days in Auckland (UTC+13 in January): the second takes a
// new snapshot.
func TestFoldLocalDayBoundary(t *testing.T) {
	f := newFolder(t, newModels(t, scoring.Config{}, scoring.Population{}), "Pacific/Auckland")
	f.order("2026-01-10T10:00:00Z", 5000) // 23:00 on 10 January
	if f.c.Scores.SegmentDay != epochDay("2026-01-10") {
		t.Fatalf("snapshot day %d, want 10 January", f.c.Scores.SegmentDay)
	}
	f.event(state.EventPageView, "2026-01-10T12:00:00Z", nil) // 01:00 on 11 January
	if f.c.Scores.SegmentDay != epochDay("2026-01-11") {
		t.Fatalf("snapshot day %d, want 11 January", f.c.Scores.SegmentDay)
	}
}

// TestFoldLateEventsTakeNoSnapshot: a customer whose only order arrived
// late (before its latest event) gets a snapshot only from the next
// event that is not late, whatever the late events' days.
func TestFoldLateEventsTakeNoSnapshot(t *testing.T) {
	f := newFolder(t, newModels(t, scoring.Config{}, scoring.Population{}), "Europe/Madrid")
	f.event(state.EventPageView, "2026-03-01T10:00:00Z", nil)
	f.order("2026-01-10T10:00:00Z", 1000)
	f.event(state.EventProductView, "2026-02-01T10:00:00Z", nil)
	if f.c.Scores.SegmentDay != 0 || f.c.Scores.Segment != 0 {
		t.Fatalf("late events took a snapshot: day %d segment %d", f.c.Scores.SegmentDay, f.c.Scores.Segment)
	}
	f.event(state.EventProductView, "2026-03-02T10:00:00Z", nil)
	if f.c.Scores.SegmentDay != epochDay("2026-03-02") || f.c.Scores.Segment == 0 {
		t.Fatalf("no snapshot on the next timely event: day %d segment %d", f.c.Scores.SegmentDay, f.c.Scores.Segment)
	}
}

// TestFoldTransitionsBounded: a segment change on a contact with a full
// transition log drops the oldest entry and appends the change.
func TestFoldTransitionsBounded(t *testing.T) {
	f := newFolder(t, newModels(t, scoring.Config{}, scoring.Population{}), "")
	f.order("2026-01-05T15:00:00Z", 2000)
	old := make([]state.Transition, state.MaxTransitions)
	for i := range old {
		old[i] = state.Transition{Kind: state.TransitionStage, From: uint8(lead.StageLead), To: uint8(lead.StageMQL), At: instant("2025-01-01T00:00:00Z").UnixMilli() + int64(i)}
	}
	f.c.Scores.Transitions = slices.Clone(old)
	for i, at := range []string{"2026-03-01T15:00:00Z", "2026-04-20T15:00:00Z", "2026-09-01T15:00:00Z"} {
		ch := f.event(state.EventEmailOpened, at, nil)
		if !ch.SegmentChanged {
			t.Fatalf("%s: no segment change (segment %v)", at, rfm.Segment(f.c.Scores.Segment))
		}
		ts := f.c.Scores.Transitions
		if len(ts) != state.MaxTransitions {
			t.Fatalf("%d transitions, want %d", len(ts), state.MaxTransitions)
		}
		if !slices.Equal(ts[:state.MaxTransitions-1-i], old[i+1:]) {
			t.Fatalf("after %d changes the oldest kept are %+v", i+1, ts[:3])
		}
		last := ts[len(ts)-1]
		if last.Kind != state.TransitionSegment || last.At != instant(at).UnixMilli() || last.To != f.c.Scores.Segment {
			t.Fatalf("last transition %+v", last)
		}
	}
}

// TestFoldLapsed: with the CDNOW BG/NBD fit, a customer with three
// purchase days in January 2025 is likely alive in mid-February and
// likely gone a year later: the first event then marks it lapsed, and a
// later order makes it a customer again.
func TestFoldLapsed(t *testing.T) {
	m := newModels(t, scoring.Config{}, fitted())
	f := newFolder(t, m, "")
	for _, at := range []string{"2025-01-01T10:00:00Z", "2025-01-15T10:00:00Z", "2025-02-01T10:00:00Z"} {
		if ch := f.order(at, 3000); ch.Lapsed {
			t.Fatalf("order at %s lapsed", at)
		}
	}
	first, last := float64(epochDay("2025-01-01")), float64(epochDay("2025-02-01"))
	pa := func(at string) float64 {
		T := (localDays(instant(at), time.UTC) - first) / 7
		return pAlive(cdnowBG, 2, (last-first)/7, T)
	}
	soon, later := "2025-02-15T10:00:00Z", "2026-01-01T10:00:00Z"
	if p := pa(soon); !(p >= m.Config.LapsedBelow) {
		t.Fatalf("test premise: P(alive) at %s = %v", soon, p)
	}
	if p := pa(later); !(p < m.Config.LapsedBelow) {
		t.Fatalf("test premise: P(alive) at %s = %v", later, p)
	}
	if ch := f.event(state.EventEmailSent, soon, nil); ch.Lapsed || lead.Stage(f.c.Scores.Stage) != lead.StageCustomer {
		t.Fatalf("at %s: lapsed %v stage %v", soon, ch.Lapsed, lead.Stage(f.c.Scores.Stage))
	}
	ch := f.event(state.EventEmailSent, later, nil)
	if !ch.Lapsed || !ch.Lead.StageChanged || ch.Lead.From != lead.StageCustomer || ch.Lead.To != lead.StageLapsed {
		t.Fatalf("at %s: change %+v, want customer → lapsed", later, ch)
	}
	tr := f.c.Scores.Transitions[len(f.c.Scores.Transitions)-1]
	if want := (state.Transition{Kind: state.TransitionStage, From: uint8(lead.StageCustomer), To: uint8(lead.StageLapsed), At: instant(later).UnixMilli()}); tr != want {
		t.Errorf("transition %+v, want %+v", tr, want)
	}
	if sc := m.Evaluate(f.c, instant(later).UnixMilli()+1000, nil); sc.Lead.Stage != lead.StageLapsed || sc.Churn.Band != scoring.BandHigh {
		t.Errorf("read after the lapse: stage %v band %v", sc.Lead.Stage, sc.Churn.Band)
	}
	if ch := f.event(state.EventEmailSent, "2026-01-02T10:00:00Z", nil); ch.Lead.StageChanged || ch.Lapsed {
		t.Errorf("a lapsed contact changed again: %+v", ch)
	}
	ch = f.order("2026-01-10T10:00:00Z", 4000)
	if ch.Lapsed || !ch.Lead.StageChanged || ch.Lead.From != lead.StageLapsed || ch.Lead.To != lead.StageCustomer {
		t.Fatalf("order after the lapse: change %+v, want lapsed → customer", ch)
	}
	if ch := f.event(state.EventEmailSent, "2026-01-11T10:00:00Z", nil); ch.Lapsed {
		t.Error("lapsed again the day after a new order")
	}
}

// TestFoldNoLapseWithoutFit: without a BG/NBD fit nobody lapses.
func TestFoldNoLapseWithoutFit(t *testing.T) {
	f := newFolder(t, newModels(t, scoring.Config{}, scoring.Population{}), "")
	f.order("2020-01-01T10:00:00Z", 3000)
	f.order("2020-01-15T10:00:00Z", 3000)
	if ch := f.event(state.EventEmailSent, "2026-01-01T10:00:00Z", nil); ch.Lapsed || lead.Stage(f.c.Scores.Stage) != lead.StageCustomer {
		t.Fatalf("lapsed without a fit: %+v", ch)
	}
}

// TestFoldLeadScore: behaviour adds points and moves the stage through
// the plan's thresholds (MQL at 60).
func TestFoldLeadScore(t *testing.T) {
	m := newModels(t, scoring.Config{}, scoring.Population{})
	f := newFolder(t, m, "Europe/Berlin")
	ch := f.event(state.EventPageView, "2026-02-01T10:00:00Z", propMap{"url": "https://shop.example/pricing"})
	if ch.Lead.Matched != 1 || ch.Lead.To != lead.StageLead {
		t.Fatalf("pricing page: %+v", ch.Lead)
	}
	f.event(state.EventPageView, "2026-02-01T10:01:00Z", propMap{"url": "https://shop.example/pricing"})
	if ch := f.event(state.EventPageView, "2026-02-01T10:02:00Z", propMap{"url": "https://shop.example/pricing"}); ch.Lead.Capped != 1 {
		t.Fatalf("third pricing page in a week: %+v, want capped", ch.Lead)
	}
	if ch := f.event(state.EventFormSubmit, "2026-02-01T10:05:00Z", propMap{"form": "whitepaper-download"}); ch.Lead.To != lead.StageLead {
		t.Fatalf("35 points: %+v", ch.Lead)
	}
	ch = f.event(state.EventFormSubmit, "2026-02-01T10:10:00Z", propMap{"form": "request-demo"})
	if !ch.Lead.StageChanged || ch.Lead.To != lead.StageMQL {
		t.Fatalf("10 + 10 + 15 + 30 points: %+v", ch.Lead)
	}
	sc := m.Evaluate(f.c, instant("2026-02-01T10:10:00Z").UnixMilli(), nil)
	if !near(sc.Lead.Behaviour, 65, 1e-4) || sc.Lead.Stage != lead.StageMQL {
		t.Errorf("score %v stage %v", sc.Lead.Behaviour, sc.Lead.Stage)
	}
}

// TestMerge: an absorbed profile's lead points are added, the later
// segment snapshot wins, and the merged contact is restaged.
func TestMerge(t *testing.T) {
	m := newModels(t, scoring.Config{}, scoring.Population{})
	at := instant("2026-02-01T10:00:00Z").UnixMilli()
	dst := &state.Contact{Key: "c:1", ContactID: "1", LastSeen: at}
	src := &state.Contact{Key: "a:x", LastSeen: at}
	m.Lead.Apply(&dst.Scores, state.EventFormSubmit, at, propMap{"form": "request-demo"}, dst)
	m.Lead.Apply(&src.Scores, state.EventFormSubmit, at, propMap{"form": "whitepaper-download"}, src)
	m.Lead.Apply(&src.Scores, state.EventFormSubmit, at, propMap{"form": "request-demo"}, src)
	if lead.Stage(dst.Scores.Stage) != lead.StageLead || lead.Stage(src.Scores.Stage) != lead.StageVisitor {
		t.Fatalf("premise: stages %v %v", lead.Stage(dst.Scores.Stage), lead.Stage(src.Scores.Stage))
	}
	for _, tc := range []struct {
		name                 string
		dstDay, srcDay       int32
		dstSeg, srcSeg, want rfm.Segment
	}{
		{"later source snapshot wins", 100, 120, rfm.Loyal, rfm.AtRisk, rfm.AtRisk},
		{"later destination snapshot stays", 130, 120, rfm.Loyal, rfm.AtRisk, rfm.Loyal},
		{"no source snapshot", 130, 0, rfm.Loyal, 0, rfm.Loyal},
		{"only a source snapshot", 0, 90, 0, rfm.Lost, rfm.Lost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, s := *dst, *src
			d.Scores.Lead, s.Scores.Lead = slices.Clone(dst.Scores.Lead), slices.Clone(src.Scores.Lead)
			d.Scores.Transitions = slices.Clone(dst.Scores.Transitions)
			d.Scores.Segment, d.Scores.SegmentDay = uint8(tc.dstSeg), tc.dstDay
			s.Scores.Segment, s.Scores.SegmentDay = uint8(tc.srcSeg), tc.srcDay
			ch := m.Merge(&d, &s, at)
			if rfm.Segment(d.Scores.Segment) != tc.want || d.Scores.SegmentDay != max(tc.dstDay, tc.srcDay) {
				t.Errorf("segment %v day %d", rfm.Segment(d.Scores.Segment), d.Scores.SegmentDay)
			}
			// 30 (demo) + 15 (whitepaper) + 30 (demo) = 75: MQL.
			if sc := m.Evaluate(&d, at, nil); !near(sc.Lead.Behaviour, 75, 1e-9) {
				t.Errorf("merged behaviour %v, want 75", sc.Lead.Behaviour)
			}
			if !ch.StageChanged || ch.To != lead.StageMQL || lead.Stage(d.Scores.Stage) != lead.StageMQL {
				t.Errorf("restage %+v, stored %v", ch, lead.Stage(d.Scores.Stage))
			}
		})
	}
}
