package yamlsrc

import (
	"bytes"
	"errors"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzDocument: no input panics Document or a walk of every mapping in
// it, every error is the caller's type, and its line is within the input.
func FuzzDocument(f *testing.F) {
	for _, s := range []string{
		"a: 1\n", "", "---\n", "a: 1\n---\nb: 2\n", "a: {b: [1, 2\n", "a: &x {b: 1}\nc: *x\n",
		"a: &a [*a]\n", "? [a]\n: b\n", "a: 1\na: 2\n", "\t- a\n", "a: *b\n", "%YAML 1.2\n---\na: 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, shift := range []bool{false, true} {
			s := newSource()
			s.ShiftParserLines, s.PlainKeys = shift, "plain"
			root, err := s.Document(data, "EMPTY", "SECOND")
			if err != nil {
				check(t, data, err)
				continue
			}
			walk(t, s, data, root, "", 0)
		}
	})
}

func walk(t *testing.T, s *Source, data []byte, n *yaml.Node, path string, depth int) {
	if depth > 8 || n == nil {
		return
	}
	n = Resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		f, err := s.Mapping(n, path, []string{"a", "b", "c"}, "NOT A MAPPING")
		if err != nil {
			check(t, data, err)
			return
		}
		for k, v := range f.All() {
			walk(t, s, data, v, Join(path, k), depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walk(t, s, data, c, Index(path, i), depth+1)
		}
	}
}

func check(t *testing.T, data []byte, err error) {
	var te *testError
	if !errors.As(err, &te) {
		t.Fatalf("error %v is a %T", err, err)
	}
	// yaml.v3 breaks lines at \n, \r, NEL, LS and PS; one more line
	// for the end of the input and one for ShiftParserLines.
	breaks := 0
	for _, b := range [][]byte{[]byte("\n"), []byte("\r"), []byte("\u0085"), []byte("\u2028"), []byte("\u2029")} {
		breaks += bytes.Count(data, b)
	}
	if te.line < 0 || te.line > breaks+2 {
		t.Fatalf("line %d outside the input (%d line breaks): %v", te.line, breaks, err)
	}
}
