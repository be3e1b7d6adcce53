package rfm

import (
	"encoding/json"
	"errors"
	"testing"
)

// publishedGrid is the segment grid as published: rectangles on the
// continuous plane [0,5]×[0,5] of (R, (F+M)/2), where score s occupies
// (s−1, s]. Precedence lists the three nested rectangles first.
var publishedGrid = []struct {
	seg            Segment
	rFrom, rTo     float64
	fmFrom, fmTo   float64
	precedenceOver Segment // the rectangle it lies inside, if any
}{
	{Champions, 4, 5, 4, 5, Loyal},
	{CantLoseThem, 0, 1, 4, 5, AtRisk},
	{Hibernating, 1, 2, 1, 2, Lost},
	{Loyal, 2, 5, 3, 5, NoSegment},
	{PotentialLoyalists, 3, 5, 1, 3, NoSegment},
	{NewCustomers, 4, 5, 0, 1, NoSegment},
	{Promising, 3, 4, 0, 1, NoSegment},
	{NeedAttention, 2, 3, 2, 3, NoSegment},
	{AboutToSleep, 2, 3, 0, 2, NoSegment},
	{AtRisk, 0, 2, 2, 5, NoSegment},
	{Lost, 0, 2, 0, 2, NoSegment},
}

// TestSegmentOf checks every one of the 125 scores against the published
// rectangles: each (R, (F+M)/2) point lies in exactly one rectangle, or in
// exactly two of which one is nested in the other and takes precedence.
func TestSegmentOf(t *testing.T) {
	seen := map[Segment]int{}
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			for m := 1; m <= 5; m++ {
				s := Score{r, f, m}
				fm := float64(f+m) / 2
				var in []int
				for i, g := range publishedGrid {
					// Score s occupies (s−1, s]: the point is inside when
					// both coordinates are in the half-open ranges.
					if float64(r) > g.rFrom && float64(r) <= g.rTo && fm > g.fmFrom && fm <= g.fmTo {
						in = append(in, i)
					}
				}
				var want Segment
				switch len(in) {
				case 1:
					want = publishedGrid[in[0]].seg
				case 2:
					a, b := publishedGrid[in[0]], publishedGrid[in[1]]
					if a.precedenceOver != b.seg {
						t.Fatalf("R %d FM %.1f: in %v and %v, which are not nested", r, fm, a.seg, b.seg)
					}
					want = a.seg
				default:
					t.Fatalf("R %d FM %.1f lies in %d rectangles", r, fm, len(in))
				}
				got := SegmentOf(s)
				if got != want {
					t.Errorf("SegmentOf(%+v) (FM %.1f) = %v, want %v", s, fm, got, want)
				}
				seen[got]++
			}
		}
	}
	for _, s := range Segments() {
		if seen[s] == 0 {
			t.Errorf("%v is never reached", s)
		}
	}
}

// TestSegmentTable pins the table of doc.go cell by cell.
func TestSegmentTable(t *testing.T) {
	want := map[int][5]Segment{ // R → segments for FM 1..5
		5: {NewCustomers, PotentialLoyalists, PotentialLoyalists, Loyal, Champions},
		4: {Promising, PotentialLoyalists, PotentialLoyalists, Loyal, Loyal},
		3: {AboutToSleep, AboutToSleep, NeedAttention, Loyal, Loyal},
		2: {Lost, Hibernating, AtRisk, AtRisk, AtRisk},
		1: {Lost, Lost, AtRisk, AtRisk, CantLoseThem},
	}
	for r, row := range want {
		for fm, seg := range row {
			// F = M = fm+1 has FM fm+1; so does F = fm+1, M = fm (rounded up).
			for _, s := range []Score{{r, fm + 1, fm + 1}, {r, fm + 1, max(fm, 1)}} {
				if got := SegmentOf(s); got != seg {
					t.Errorf("SegmentOf(%+v) = %v, want %v", s, got, seg)
				}
			}
		}
	}
}

func TestSegmentOfInvalid(t *testing.T) {
	for _, s := range []Score{{}, {0, 3, 3}, {3, 0, 3}, {3, 3, 6}, {6, 5, 5}, {-1, 1, 1}} {
		if got := SegmentOf(s); got != NoSegment {
			t.Errorf("SegmentOf(%+v) = %v, want NoSegment", s, got)
		}
	}
}

// TestSegmentValues pins the persisted values.
func TestSegmentValues(t *testing.T) {
	want := map[Segment]uint8{
		NoSegment: 0, Champions: 1, Loyal: 2, PotentialLoyalists: 3, NewCustomers: 4, Promising: 5,
		NeedAttention: 6, AboutToSleep: 7, AtRisk: 8, CantLoseThem: 9, Hibernating: 10, Lost: 11,
	}
	for s, v := range want {
		if uint8(s) != v {
			t.Errorf("%v = %d, persisted as %d", s, uint8(s), v)
		}
	}
	if got := len(Segments()); got != 11 {
		t.Errorf("Segments() has %d segments, want 11", got)
	}
}

func TestSegmentNames(t *testing.T) {
	tests := []struct {
		seg          Segment
		name         string
		alternatives []string
	}{
		{NoSegment, "None", []string{"none", "NONE"}},
		{Champions, "Champions", []string{"champions", " CHAMPIONS "}},
		{Loyal, "Loyal", []string{"loyal"}},
		{PotentialLoyalists, "Potential loyalists", []string{"potential_loyalists", "Potential-Loyalists"}},
		{NewCustomers, "New customers", []string{"new_customers"}},
		{Promising, "Promising", []string{"promising"}},
		{NeedAttention, "Need attention", []string{"need_attention"}},
		{AboutToSleep, "About to sleep", []string{"about_to_sleep", "About-to-sleep"}},
		{AtRisk, "At risk", []string{"at_risk", "at-risk"}},
		{CantLoseThem, "Can't lose them", []string{"cant_lose_them", "Can’t lose them", "CANT LOSE THEM"}},
		{Hibernating, "Hibernating", []string{"hibernating"}},
		{Lost, "Lost", []string{"lost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.seg.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			for _, in := range append([]string{tt.name}, tt.alternatives...) {
				got, err := ParseSegment(in)
				if err != nil || got != tt.seg {
					t.Errorf("ParseSegment(%q) = %v, %v; want %v", in, got, err, tt.seg)
				}
			}
			text, err := tt.seg.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			var back Segment
			if err := back.UnmarshalText(text); err != nil || back != tt.seg {
				t.Errorf("UnmarshalText(%q) = %v, %v", text, back, err)
			}
		})
	}
	for _, in := range []string{"", "champion", "at risk!", "12", "_"} {
		if s, err := ParseSegment(in); !errors.Is(err, ErrUnknownSegment) {
			t.Errorf("ParseSegment(%q) = %v, %v; want ErrUnknownSegment", in, s, err)
		}
	}
	if got := Segment(42).String(); got != "Segment(42)" {
		t.Errorf("Segment(42).String() = %q", got)
	}
	if _, err := Segment(42).MarshalText(); !errors.Is(err, ErrUnknownSegment) {
		t.Errorf("MarshalText of 42: %v, want ErrUnknownSegment", err)
	}
	b, err := json.Marshal(map[string]Segment{"segment": CantLoseThem})
	if err != nil || string(b) != `{"segment":"Can't lose them"}` {
		t.Errorf("json = %s, %v", b, err)
	}
}

func TestRank(t *testing.T) {
	order := []Segment{Champions, Loyal, PotentialLoyalists, NewCustomers, Promising,
		NeedAttention, AboutToSleep, AtRisk, CantLoseThem, Hibernating, Lost}
	for i, s := range order {
		if got := Rank(s); got != i+1 {
			t.Errorf("Rank(%v) = %d, want %d", s, got, i+1)
		}
	}
	for _, s := range []Segment{NoSegment, 12, 255} {
		if got := Rank(s); got != 0 {
			t.Errorf("Rank(%v) = %d, want 0", s, got)
		}
	}
	if !Worse(AtRisk, CantLoseThem) || Worse(CantLoseThem, AtRisk) || Worse(Lost, Lost) {
		t.Error("Worse disagrees with Rank")
	}
	if Worse(NoSegment, Lost) || Worse(Champions, NoSegment) || Worse(Champions, 99) {
		t.Error("Worse compares NoSegment or an unknown value")
	}
}

// TestRankMonotone checks the documented monotonicity: with F and M fixed,
// a lower R is never better; with R fixed, a lower FM is never better
// except at R 1 from FM 5 to 4.
func TestRankMonotone(t *testing.T) {
	for f := 1; f <= 5; f++ {
		for m := 1; m <= 5; m++ {
			for r := 5; r > 1; r-- {
				from, to := SegmentOf(Score{r, f, m}), SegmentOf(Score{r - 1, f, m})
				if Rank(to) < Rank(from) {
					t.Errorf("F %d M %d: R %d → %d moves %v → %v, a better rank", f, m, r, r-1, from, to)
				}
			}
		}
	}
	for r := 1; r <= 5; r++ {
		for sum := 10; sum > 2; sum-- {
			from := SegmentOf(Score{r, (sum + 1) / 2, sum / 2})
			to := SegmentOf(Score{r, sum / 2, (sum - 1) / 2})
			if Rank(to) < Rank(from) && !(r == 1 && from == CantLoseThem && to == AtRisk) {
				t.Errorf("R %d: F+M %d → %d moves %v → %v, a better rank", r, sum, sum-1, from, to)
			}
		}
	}
}
