package yamlsrc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// testError stands for a caller's error type.
type testError struct {
	line       int
	field, msg string
}

func (e *testError) Error() string { return Format("f.yaml", e.line, e.field, e.msg) }

func newSource() *Source {
	return &Source{
		File: "f.yaml",
		Err: func(line int, field, msg string) error {
			return &testError{line: line, field: field, msg: msg}
		},
		SyntaxPrefix: "YAML: ",
	}
}

func TestSyntaxLine(t *testing.T) {
	for _, tc := range []struct {
		err  string
		line int
		msg  string
	}{
		{"yaml: line 3: did not find expected key", 3, "did not find expected key"},
		{"yaml: unknown anchor 'a' referenced", 0, "unknown anchor 'a' referenced"},
		{"yaml: line x: odd", 0, "line x: odd"},
		{"yaml: line : odd", 0, "line : odd"},
		{"yaml: line 7", 0, "line 7"},
		{"something else", 0, "something else"},
	} {
		line, msg := SyntaxLine(errors.New(tc.err))
		if line != tc.line || msg != tc.msg {
			t.Errorf("SyntaxLine(%q) = %d, %q; want %d, %q", tc.err, line, msg, tc.line, tc.msg)
		}
	}
}

func TestDocument(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		shift    bool
		want     string // Error(), or the root's kind as "kind N" when it parses
	}{
		{"mapping", "a: 1\n", false, "kind 4"},
		{"null document", "---\n", false, "kind 8"},
		{"empty", "", false, "f.yaml: EMPTY"},
		{"only a comment", "# nothing\n", false, "f.yaml: EMPTY"},
		{"second document", "a: 1\n---\nb: 2\n", false, "f.yaml:2: SECOND"},
		{"scanner error", "a: 1\nb: @x\n", false, "f.yaml:2: YAML: found character that cannot start any token"},
		{"scanner error shifted", "a: 1\nb: @x\n", true, "f.yaml:2: YAML: found character that cannot start any token"},
		{"parser error", "a: v1\nb: {c: 50\n", false, "f.yaml:1: YAML: did not find expected ',' or '}'"},
		{"parser error shifted", "a: v1\nb: {c: 50\n", true, "f.yaml:2: YAML: did not find expected ',' or '}'"},
		{"parser error at the end", "{c: 50\n", true, "f.yaml:2: YAML: did not find expected ',' or '}'"},
		{"error without a line", "a: *b\n", true, "f.yaml: YAML: unknown anchor 'b' referenced"},
		{"syntax in second document", "a: 1\n---\nb: [\n", false, "f.yaml:3: YAML: did not find expected node content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSource()
			s.ShiftParserLines = tc.shift
			root, err := s.Document([]byte(tc.in), "EMPTY", "SECOND")
			got := ""
			if err != nil {
				var te *testError
				if !errors.As(err, &te) {
					t.Fatalf("error %v is a %T", err, err)
				}
				got = err.Error()
			} else {
				got = fmt.Sprintf("kind %d", root.Kind)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func parse(t *testing.T, in string) *yaml.Node {
	t.Helper()
	root, err := newSource().Document([]byte(in), "EMPTY", "SECOND")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestEach(t *testing.T) {
	known := []string{"a", "b", "c"}
	custom := func(s *Source) {
		s.Unknown = func(key string, known []string) string {
			return "no " + key + " among " + strings.Join(known, "|")
		}
		s.Repeated = func(first int) string { return fmt.Sprintf("again; first on %d", first) }
	}
	plain := func(s *Source) { s.PlainKeys = "plain keys only" }
	for _, tc := range []struct {
		name, in string
		path     string
		set      func(*Source)
		want     string // the error, or the visits "key=value@field" joined by spaces
	}{
		{"file order", "b: 2\na: 1\n", "", nil, "b=2@b a=1@a"},
		{"path joined", "c: x\n", "top.sub", nil, "c=x@top.sub.c"},
		{"value alias followed", "a: &x 5\nb: *x\n", "", nil, "a=5@a b=5@b"},
		{"not a mapping", "[1, 2]\n", "p", nil, "f.yaml:1: p: NOT A MAPPING"},
		{"unknown", "a: 1\nz: 2\n", "p", nil, "f.yaml:2: p.z: unknown field; the fields here are a, b, c"},
		{"unknown worded", "a: 1\nz: 2\n", "p", custom, "f.yaml:2: p.z: no z among a|b|c"},
		{"repeated", "a: 1\nb: 2\na: 3\n", "", nil, "f.yaml:3: a: repeated field"},
		{"repeated worded", "a: 1\nb: 2\na: 3\n", "", custom, "f.yaml:3: a: again; first on 1"},
		{"alias key as written", "a: &k b\n*k : 2\n", "", nil, "f.yaml:2: k: unknown field; the fields here are a, b, c"},
		{"alias key with plain keys", "a: &k b\n*k : 2\n", "", plain, "a=b@a b=2@b"},
		{"collection key as written", "? [a]\n: 1\n", "p", nil, "f.yaml:1: p.: unknown field; the fields here are a, b, c"},
		{"collection key with plain keys", "? [a]\n: 1\n", "p", plain, "f.yaml:1: p: plain keys only"},
		{"callback error stops the walk", "a: 1\nb: stop\nz: 3\n", "", nil, "f.yaml:2: b: STOP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSource()
			if tc.set != nil {
				tc.set(s)
			}
			var visits []string
			err := s.Each(parse(t, tc.in), tc.path, known, "NOT A MAPPING", func(key string, v *yaml.Node, field string) error {
				if v.Value == "stop" {
					return s.Fail(v, field, "STOP")
				}
				visits = append(visits, key+"="+v.Value+"@"+field)
				return nil
			})
			got := strings.Join(visits, " ")
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEachNil(t *testing.T) {
	err := newSource().Each(nil, "p", nil, "NOT A MAPPING", nil)
	if err == nil || err.Error() != "f.yaml: p: NOT A MAPPING" {
		t.Fatalf("got %v", err)
	}
}

func TestMapping(t *testing.T) {
	s := newSource()
	f, err := s.Mapping(parse(t, "b: ~\na: 1\n"), "m", []string{"a", "b", "c"}, "NOT A MAPPING")
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != "m" || f.Node.Kind != yaml.MappingNode || f.Len() != 2 {
		t.Errorf("path %q, kind %d, len %d", f.Path, f.Node.Kind, f.Len())
	}
	for _, tc := range []struct {
		name       string
		get, value bool
	}{{"a", true, true}, {"b", false, true}, {"c", false, false}} {
		if got := f.Get(tc.name) != nil; got != tc.get {
			t.Errorf("Get(%q) present %v, want %v", tc.name, got, tc.get)
		}
		if got := f.Value(tc.name) != nil; got != tc.value {
			t.Errorf("Value(%q) present %v, want %v", tc.name, got, tc.value)
		}
	}
	var order []string
	for k := range f.All() {
		order = append(order, k)
	}
	if strings.Join(order, ",") != "b,a" {
		t.Errorf("All gave %v, want file order b,a", order)
	}
	if _, err := s.Mapping(parse(t, "a: 1\nd: 2\n"), "m", []string{"a"}, "NOT A MAPPING"); err == nil || !strings.Contains(err.Error(), "m.d: unknown field") {
		t.Errorf("unknown field: got %v", err)
	}
}

func TestPaths(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Join("", "a"), "a"},
		{Join("a", "b"), "a.b"},
		{Index("rules", 2), "rules[2]"},
		{Join(Index("behaviour", 0), "rules"), "behaviour[0].rules"},
		{Format("f.yaml", 3, "a.b", "bad"), "f.yaml:3: a.b: bad"},
		{Format("f.yaml", 0, "a.b", "bad"), "f.yaml: a.b: bad"},
		{Format("f.yaml", 3, "", "bad"), "f.yaml:3: bad"},
		{Format("f.yaml", 0, "", "bad"), "f.yaml: bad"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestResolveAndIsNull(t *testing.T) {
	root := parse(t, "a: &x [1]\nb: *x\nc: ~\nd: null\ne: 'null'\n")
	if r := Resolve(root.Content[3]); r.Kind != yaml.SequenceNode {
		t.Errorf("alias resolved to kind %d", r.Kind)
	}
	if Resolve(nil) != nil {
		t.Error("Resolve(nil) is not nil")
	}
	for i, want := range map[int]bool{1: false, 5: true, 7: true, 9: false} {
		if got := IsNull(root.Content[i]); got != want {
			t.Errorf("IsNull(%q) = %v", root.Content[i].Value, got)
		}
	}
	if !IsNull(nil) {
		t.Error("IsNull(nil) is false")
	}
}
