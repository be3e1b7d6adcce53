package lead

import (
	"testing"

	"github.com/kairos-engine/kairos/state"
)

// props is the test implementation of Props.
type props map[string]string

func (p props) Prop(name string) (string, bool) {
	v, ok := p[name]
	return v, ok
}

// mustPlan parses a plan or fails the test.
func mustPlan(t testing.TB, yaml string) *Plan {
	t.Helper()
	p, err := ParsePlan(t.Name()+".yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func shipped(t testing.TB) *Plan {
	t.Helper()
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// traits builds a trait list from name, value pairs.
func traits(kv ...string) []state.Trait {
	ts := make([]state.Trait, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		ts = append(ts, state.Trait{Name: kv[i], Value: kv[i+1]})
	}
	return ts
}
