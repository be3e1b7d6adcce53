package lead

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/state"
)

func TestDefaultPlanParses(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if p.Version() == "" || p.Source() != DefaultPlanFile || p.Top() != 5 {
		t.Errorf("version %q source %q top %d", p.Version(), p.Source(), p.Top())
	}
	l := p.Lifecycle()
	if l.MQL != 60 || !l.HasSQL || l.SQL != 100 || l.Hysteresis != 10 {
		t.Errorf("lifecycle %+v", l)
	}
	if len(p.accepting) != 1 || p.accepting[0].id != "sales-accepted" || len(p.acceptTraits) != 1 {
		t.Errorf("sales acceptance: %v rules, %d trait conditions", p.accepting, len(p.acceptTraits))
	}
	ids := p.RuleIDs()
	for _, want := range []string{"pricing-page", "whitepaper", "email-click", "demo-request", "unsubscribe", "hard-bounce", "senior-title", "company-size"} {
		found := false
		for _, id := range ids {
			found = found || id == want
		}
		if !found {
			t.Errorf("default plan has no rule %q (rules: %v)", want, ids)
		}
	}
	if !strings.Contains(string(DefaultYAML()), "version:") {
		t.Error("DefaultYAML does not return the plan")
	}
}

// The plan errors operators see, with the exact file, line and field.
func TestPlanErrors(t *testing.T) {
	const head = "version: v1\nlifecycle: {mql: 50, sql: 90}\n"
	const group = head + "behaviour:\n  - group: g\n    half_life: 30d\n    rules:\n"
	tests := []struct {
		name, plan, want string
	}{
		{"unknown event type", group + `
      - id: r
        event: page_veiw
        points: 1
`, `plan.yaml:9: behaviour[0].rules[0].event: unknown event type "page_veiw" (did you mean page_view?); the event types are page_view, product_view, add_to_cart, remove_from_cart, search, form_submit, signup, identify, order_placed, order_cancelled, order_refunded, order_shipped, sent, delivered, opened, clicked, bounced, unsubscribed, complained, action_click, action_dismiss`},
		{"unknown operator", group + `
      - id: r
        event: page_view
        when:
          url: {contain: /pricing}
        points: 1
`, `plan.yaml:11: behaviour[0].rules[0].when.url.contain: unknown operator (did you mean contains?); the operators are equals, in, contains, word, prefix, gte, lte, exists`},
		{"bad numeric condition value", group + `
      - id: r
        event: order_placed
        when: {total: {gte: lots}}
        points: 1
`, `plan.yaml:10: behaviour[0].rules[0].when.total.gte: must be a number, like 50; got "lots"`},
		{"in is not a list", group + `
      - id: r
        event: form_submit
        when: {form: {in: request-demo}}
        points: 1
`, `plan.yaml:10: behaviour[0].rules[0].when.form.in: must be a list of values, like [a, b]; got "request-demo"`},
		{"equals a list", group + `
      - id: r
        event: form_submit
        when: {form: {equals: [a, b]}}
        points: 1
`, `plan.yaml:10: behaviour[0].rules[0].when.form.equals: must be one value, not a list; use in for a list`},
		{"duplicate rule id", group + `
      - id: r
        event: opened
        points: 1
      - id: r
        event: clicked
        points: 5
`, `plan.yaml:11: behaviour[0].rules[1].id: rule "r" is already declared on line 8; rule ids must be unique across behaviour and fit`},
		{"negative half-life", head + `behaviour:
  - group: g
    half_life: -30d
    rules: [{id: r, event: opened, points: 1}]
`, `plan.yaml:5: behaviour[0].half_life: must be positive; got "-30d"`},
		{"zero half-life", head + `behaviour:
  - group: g
    half_life: 0d
    rules: [{id: r, event: opened, points: 1}]
`, `plan.yaml:5: behaviour[0].half_life: must be positive; got "0d"`},
		{"bad half-life", head + `behaviour:
  - group: g
    half_life: 30 days
    rules: [{id: r, event: opened, points: 1}]
`, `plan.yaml:5: behaviour[0].half_life: "30 days" is not a duration such as 30d, 12h or 2w, or never`},
		{"missing half-life", head + `behaviour:
  - group: g
    rules: [{id: r, event: opened, points: 1}]
`, `plan.yaml:4: behaviour[0].half_life: required: how fast the group's points fade, such as 30d, or never`},
		{"cap without per", group + `
      - id: r
        event: clicked
        points: 5
        cap: {max: 3}
`, `plan.yaml:11: behaviour[0].rules[0].cap.per: required: the window the cap counts hits in, such as 7d`},
		{"cap max zero", group + `
      - id: r
        event: clicked
        points: 5
        cap: {max: 0, per: 7d}
`, `plan.yaml:11: behaviour[0].rules[0].cap.max: must be a whole number from 1 to 1000000; got "0"`},
		{"unknown field in a rule", group + `
      - id: r
        event: clicked
        point: 5
`, `plan.yaml:10: behaviour[0].rules[0].point: unknown field (did you mean points?); the fields here are id, description, event, when, points, cap`},
		{"unknown top-level field", head + "behavior: []\n",
			`plan.yaml:3: behavior: unknown field (did you mean behaviour?); the fields here are version, description, top, lifecycle, behaviour, fit`},
		{"missing points", group + `
      - id: r
        event: clicked
`, `plan.yaml:8: behaviour[0].rules[0].points: required: the points a hit adds (negative to subtract)`},
		{"points as text", group + `
      - id: r
        event: clicked
        points: "5"
`, `plan.yaml:10: behaviour[0].rules[0].points: must be a number, like 10 or -2.5; got "5"`},
		{"half_life on fit", group + `      - {id: r, event: clicked, points: 5}
fit:
  - group: f
    half_life: 90d
    rules: [{id: s, traits: {industry: {in: [retail]}}, points: 5}]
`, `plan.yaml:10: fit[0].half_life: fit does not decay: traits are read when the score is read; remove half_life`},
		{"fit rule without traits", group + `      - {id: r, event: clicked, points: 5}
fit:
  - group: f
    rules:
      - id: s
        points: 5
`, `plan.yaml:11: fit[0].rules[0].traits: required: conditions on the contact's traits, such as {industry: {in: [software, retail]}}`},
		{"sql below mql", "version: v1\nlifecycle:\n  mql: 50\n  sql: 40\nbehaviour: [{group: g, half_life: 1d, rules: [{id: r, event: clicked, points: 1}]}]\n",
			`plan.yaml:4: lifecycle.sql: 40 must be above lifecycle.mql (50)`},
		{"sales_accepted names an unknown rule", "version: v1\nlifecycle:\n  mql: 50\n  sales_accepted: {rules: [sales-acepted]}\nbehaviour: [{group: g, half_life: 1d, rules: [{id: sales-accepted, event: form_submit, points: 0}]}]\n",
			`plan.yaml:4: lifecycle.sales_accepted.rules[0]: "sales-acepted" is not a behavioural rule of this plan (did you mean sales-accepted?)`},
		{"no way to SQL", "version: v1\nlifecycle:\n  mql: 50\nbehaviour: [{group: g, half_life: 1d, rules: [{id: r, event: clicked, points: 1}]}]\n",
			`plan.yaml:3: lifecycle.sql: required unless lifecycle.sales_accepted is set: nothing would make a contact sales-qualified`},
		{"repeated property", group + `
      - id: r
        event: page_view
        when:
          url: {contains: /pricing}
          url: {prefix: https}
        points: 1
`, `plan.yaml:12: behaviour[0].rules[0].when.url: repeated; it is first set on line 11 (put every operator under one name)`},
		{"empty equals", group + `
      - id: r
        event: form_submit
        when: {form: {equals: ""}}
        points: 1
`, `plan.yaml:10: behaviour[0].rules[0].when.form.equals: must not be empty: an empty property counts as absent; use exists: false`},
		{"gte above lte", group + `
      - id: r
        event: order_placed
        when: {total: {gte: 100, lte: 50}}
        points: 1
`, `plan.yaml:10: behaviour[0].rules[0].when.total.gte: 100 is above lte 50: the condition can never hold`},
		{"exists not a bool", group + `
      - id: r
        event: page_view
        when: {category: {exists: maybe}}
        points: 1
`, `plan.yaml:10: behaviour[0].rules[0].when.category.exists: must be true or false; got "maybe"`},
		{"bad id", group + `
      - id: Pricing Page
        event: page_view
        points: 1
`, `plan.yaml:8: behaviour[0].rules[0].id: "Pricing Page" is not an id: use 1 to 64 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit`},
		{"top out of range", "version: v1\ntop: 0\n", `plan.yaml:2: top: must be a whole number from 1 to 20; got "0"`},
		{"missing version", "lifecycle: {mql: 1, sql: 2}\n", `plan.yaml:1: version: required: a version string such as "2026-11-01" or "3", shown with every score`},
		{"YAML syntax", "version: v1\nlifecycle: {mql: 50\n", `plan.yaml:2: YAML: did not find expected ',' or '}'`},
		{"YAML scanner error", "version: v1\nlifecycle:\n  mql: 50\n  sql: @90\n", `plan.yaml:4: YAML: found character that cannot start any token`},
		{"YAML block error", "version: v1\nlifecycle:\n  mql: 50\n sql: 90\n", `plan.yaml:4: YAML: did not find expected key`},
		{"two documents", "version: v1\n---\nversion: v2\n", `plan.yaml:2: a plan is one YAML document; remove the second document (after ---)`},
		{"empty", "# nothing\n", `plan.yaml: the plan is empty; start from the shipped default_plan.yaml`},
		{"not a mapping", "- a\n", `plan.yaml:1: must be a mapping with version, lifecycle, behaviour and fit`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePlan("plan.yaml", []byte(tt.plan))
			var pe *PlanError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T), want a *PlanError", err, err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * day, true},
		{"2w", 14 * day, true},
		{"1d12h", 36 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"1.5h", 90 * time.Minute, true},
		{"250ms", 250 * time.Millisecond, true},
		{"-3d", -3 * day, true},
		{"30", 0, false},
		{"d", 0, false},
		{"30 d", 0, false},
		{"3y", 0, false},
		{"", 0, false},
		{"200000w", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestLoadPlan(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(good, DefaultYAML(), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPlan(good)
	if err != nil || p.Source() != good {
		t.Fatalf("LoadPlan = %v, %v", p, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: v1\nlifecycle: {mql: 5, sql: 9}\nbehaviour:\n  - group: g\n    half_life: 0s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadPlan(bad)
	if want := bad + `:5: behaviour[0].half_life: must be positive; got "0s"`; err == nil || err.Error() != want {
		t.Errorf("LoadPlan(bad) = %v, want %s", err, want)
	}
	_, err = LoadPlan(filepath.Join(dir, "missing.yaml"))
	var pe *PlanError
	if !errors.Is(err, os.ErrNotExist) || errors.As(err, &pe) {
		t.Errorf("LoadPlan(missing) = %v, want a wrapped os.ErrNotExist", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxPlanSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPlan(big); !errors.As(err, &pe) || pe.File != big {
		t.Errorf("LoadPlan(big) = %v, want a *PlanError", err)
	}
}

// Conditions may use YAML anchors; aliases resolve to the anchored value.
func TestPlanAliases(t *testing.T) {
	p, err := ParsePlan("plan.yaml", []byte(`version: v1
lifecycle: {mql: 50, sql: 90}
behaviour:
  - group: g
    half_life: 30d
    rules:
      - {id: a, event: page_view, when: {url: &pricing {contains: /pricing}}, points: 1}
      - {id: b, event: clicked, when: {url: *pricing}, points: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	var s state.Scores
	if ch := p.Apply(&s, state.EventEmailClicked, 1, props{"url": "https://x.test/pricing"}, nil); ch.Matched != 1 {
		t.Errorf("aliased condition: matched %d", ch.Matched)
	}
}
