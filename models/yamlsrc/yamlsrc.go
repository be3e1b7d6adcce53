package yamlsrc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Source is one YAML file being read: its name and how the format it holds
// words and builds its errors. The zero value of every field but File and
// Err is usable.
type Source struct {
	// File is the name errors carry.
	File string
	// Err builds the caller's error from the line (1-based; 0 when the
	// problem has none, such as an empty file), the dotted path of the
	// field ("" for the file as a whole or a syntax error) and the
	// message. Required.
	Err func(line int, field, msg string) error

	// SyntaxPrefix starts the message of a YAML syntax error, such as
	// "YAML: ".
	SyntaxPrefix string
	// ShiftParserLines adds one to the line of the yaml.v3 parser errors
	// that it counts from 0 (a broken mapping or list, reported on the
	// line before the one where the collection starts). Scanner errors
	// are counted from 1 and kept.
	ShiftParserLines bool

	// Unknown words an unknown key; nil means "unknown field; the fields
	// here are a, b, c".
	Unknown func(key string, known []string) string
	// Repeated words a key given twice, first set on line first; nil
	// means "repeated field".
	Repeated func(first int) string
	// PlainKeys, when not empty, makes keys follow aliases and rejects a
	// key that is not a scalar with this message, on the mapping's path.
	// When empty, keys are read as written: an alias key is named by its
	// anchor and a collection key has an empty name.
	PlainKeys string
}

// Fail returns the caller's error on n's line (0 when n is nil), for field.
func (s *Source) Fail(n *yaml.Node, field, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return s.Err(line, field, fmt.Sprintf(format, args...))
}

// Syntax returns the caller's error for an error of the YAML decoder,
// with the line yaml.v3 wrote into it.
func (s *Source) Syntax(err error) error {
	line, msg := SyntaxLine(err)
	if s.ShiftParserLines && line > 0 && parserProblems[msg] {
		line++
	}
	return s.Err(line, "", s.SyntaxPrefix+msg)
}

// parserProblems are the yaml.v3 messages of parser (as opposed to
// scanner) errors, whose line yaml.v3 reports 0-based. For a broken
// mapping or list it is the line where the collection starts (the
// problem's own line when that is line 1).
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"did not find expected <document start>": true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// SyntaxLine splits a yaml.v3 error "yaml: line N: message" into N and
// the message. An error without a line returns 0 and the text after
// "yaml: ".
func SyntaxLine(err error) (line int, msg string) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				return n, rest[i+2:]
			}
		}
	}
	return 0, msg
}

// Document decodes data, which must hold exactly one YAML document, and
// returns its root node (the document's content, not the document node).
// Empty input fails with the message empty; a second document fails with
// the message second on that document's line; a syntax error fails as
// Syntax words it.
func (s *Source) Document(data []byte, empty, second string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, s.Err(0, "", empty)
		}
		return nil, s.Syntax(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, s.Err(extra.Line, "", second)
	case !errors.Is(err, io.EOF):
		return nil, s.Syntax(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, s.Err(root.Line, "", empty)
		}
		root = root.Content[0]
	}
	return root, nil
}

// Each walks the mapping n in file order, calling f with each key, its
// value (aliases followed) and the field's dotted path. A key that is not
// in known, or is given twice, fails before f sees it; the first error,
// of the walk or of f, ends it. When n is not a mapping, Each fails on
// path with the message notMapping.
func (s *Source) Each(n *yaml.Node, path string, known []string, notMapping string, f func(key string, v *yaml.Node, field string) error) error {
	n = Resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return s.Fail(n, path, "%s", notMapping)
	}
	lines := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], Resolve(n.Content[i+1])
		if s.PlainKeys != "" {
			if k = Resolve(k); k.Kind != yaml.ScalarNode {
				return s.Fail(k, path, "%s", s.PlainKeys)
			}
		}
		field := Join(path, k.Value)
		if !slices.Contains(known, k.Value) {
			if s.Unknown != nil {
				return s.Fail(k, field, "%s", s.Unknown(k.Value, known))
			}
			return s.Fail(k, field, "unknown field; the fields here are %s", strings.Join(known, ", "))
		}
		if first, dup := lines[k.Value]; dup {
			if s.Repeated != nil {
				return s.Fail(k, field, "%s", s.Repeated(first))
			}
			return s.Fail(k, field, "repeated field")
		}
		lines[k.Value] = k.Line
		if err := f(k.Value, v, field); err != nil {
			return err
		}
	}
	return nil
}

// Fields is a mapping read against its known field names by Mapping.
type Fields struct {
	// Node is the mapping, aliases followed.
	Node *yaml.Node
	// Path is the mapping's dotted path.
	Path string
	vals map[string]*yaml.Node
	keys []string // in file order
}

// Get returns the value of a field, or nil when it is absent or null.
func (f *Fields) Get(name string) *yaml.Node {
	v := f.vals[name]
	if IsNull(v) {
		return nil
	}
	return v
}

// Value returns the value of a field, null or not; nil when it is absent.
func (f *Fields) Value(name string) *yaml.Node { return f.vals[name] }

// Len returns the number of fields given, null or not.
func (f *Fields) Len() int { return len(f.keys) }

// All yields the fields given, null or not, in file order.
func (f *Fields) All() iter.Seq2[string, *yaml.Node] {
	return func(yield func(string, *yaml.Node) bool) {
		for _, k := range f.keys {
			if !yield(k, f.vals[k]) {
				return
			}
		}
	}
}

// Mapping reads the mapping n whole, as Each checks it, so that fields
// can be taken in the order the format needs rather than the file's.
func (s *Source) Mapping(n *yaml.Node, path string, known []string, notMapping string) (*Fields, error) {
	f := &Fields{Node: Resolve(n), Path: path}
	if f.Node != nil && f.Node.Kind == yaml.MappingNode {
		f.vals = make(map[string]*yaml.Node, len(f.Node.Content)/2)
	}
	err := s.Each(n, path, known, notMapping, func(key string, v *yaml.Node, _ string) error {
		f.vals[key] = v
		f.keys = append(f.keys, key)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Resolve follows an alias to the node it names.
func Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// IsNull reports whether n is absent or a YAML null.
func IsNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Join appends a field name to a dotted path.
func Join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// Index appends a list index to a path: "rules" and 2 give "rules[2]".
func Index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// Format returns the text every format's error shows:
// "file:line: field: message", without the line when it is 0 and without
// the field when it is empty.
func Format(file string, line int, field, msg string) string {
	var b strings.Builder
	b.WriteString(file)
	if line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(line))
	}
	if field != "" {
		b.WriteString(": ")
		b.WriteString(field)
	}
	b.WriteString(": ")
	b.WriteString(msg)
	return b.String()
}
