package rfm

import "testing"

func TestGrade(t *testing.T) {
	tests := []struct {
		s    Score
		want string
	}{
		{Score{5, 5, 5}, "AAA"},
		{Score{1, 1, 1}, "EEE"},
		{Score{5, 1, 3}, "AEC"},
		{Score{2, 4, 3}, "DBC"},
		{Score{}, ""},
		{Score{0, 3, 3}, ""},
		{Score{3, 6, 3}, ""},
	}
	for _, tt := range tests {
		if got := Grade(tt.s); got != tt.want {
			t.Errorf("Grade(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
	// Every entry of the table.
	letter := func(v int) byte { return "EDCBA"[v-1] }
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			for m := 1; m <= 5; m++ {
				want := string([]byte{letter(r), letter(f), letter(m)})
				if got := Grade(Score{r, f, m}); got != want {
					t.Errorf("Grade(%d, %d, %d) = %q, want %q", r, f, m, got, want)
				}
			}
		}
	}
	if len(grades) != 125*3 {
		t.Errorf("grades has %d bytes, want %d", len(grades), 125*3)
	}
}
