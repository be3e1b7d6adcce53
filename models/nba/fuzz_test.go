package nba

import "testing"

// FuzzParseCatalogue: any file either parses into a catalogue whose
// expressions evaluate without panicking, or fails with a
// *CatalogueError.
func FuzzParseCatalogue(f *testing.F) {
	f.Add(defaultCatalogue)
	f.Add([]byte("version: v1\nactions:\n  - {id: a, placements: [homepage], value: 1, eligible: 'orders > 1 ? stage == \"x\" : page_url matches \"^a\"'}\n"))
	f.Add([]byte("version: v1\nactions:\n  - {id: a, placements: {cart: 2}, value: 1, eligible: 'not (affinity(\"x\") in [1, 2]) && recent(\"signup\", \"1d\") == 0'}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseCatalogue("f.yaml", in)
		if err != nil {
			if _, ok := err.(*CatalogueError); !ok {
				t.Fatalf("error %T: %v", err, err)
			}
			return
		}
		p := NewPolicy(c, nil)
		x := baseContext()
		for _, pl := range c.Placements() {
			x.Placement = pl
			p.Explain(x, nil)
			p.Decide(x, nil, DecisionID{1}, make([]Choice, 3))
		}
	})
}
