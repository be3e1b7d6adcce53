package trigger

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestSendersDoc keeps the README's "Triggers for senders" section honest:
// every JSON example is valid and names a rule of the default set with its
// journey, and the rule-file example parses.
func TestSendersDoc(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, doc, ok := strings.Cut(string(readme), "\n## Triggers for senders\n")
	if !ok {
		t.Fatal(`README.md has no "## Triggers for senders" section`)
	}
	if i := strings.Index(doc, "\n## "); i >= 0 {
		doc = doc[:i]
	}
	rs, err := DefaultRules()
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(doc, "```")
	jsons, yamls := 0, 0
	for i := 1; i < len(blocks); i += 2 {
		b := blocks[i]
		switch {
		case strings.HasPrefix(b, "json\n"):
			jsons++
			var m map[string]any
			if err := json.Unmarshal([]byte(b[5:]), &m); err != nil {
				t.Fatalf("JSON example %d: %v", jsons, err)
			}
			rule, _ := m["rule"].(string)
			journey, _ := m["journey"].(string)
			if r := rs.Rule(rule); r == nil || r.Journey.String() != journey {
				t.Errorf("JSON example %d: rule %q journey %q not in the default set", jsons, rule, journey)
			}
		case strings.HasPrefix(b, "yaml\n"):
			yamls++
			if _, err := ParseRules("README.md", []byte(b[5:])); err != nil {
				t.Errorf("YAML example: %v", err)
			}
		}
	}
	if jsons < 11 || yamls != 1 {
		t.Fatalf("%d JSON and %d YAML examples", jsons, yamls)
	}
}
