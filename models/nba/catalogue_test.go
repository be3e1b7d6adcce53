package nba

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultCatalogue(t *testing.T) {
	c, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	for _, pl := range []string{"homepage", "product_page", "cart", "email"} {
		if c.Placement(pl) < 0 {
			t.Errorf("placement %q missing from the default catalogue", pl)
		}
		if c.Fallback(pl) == nil {
			t.Errorf("placement %q has no fallback", pl)
		}
	}
	for _, id := range []string{"welcome-offer", "newsletter-signup", "promo-shoes", "cart-reminder", "cross-sell-accessories", "loyalty-reward", "winback-coupon", "talk-to-sales", "service-shipping"} {
		if c.Action(id) == nil {
			t.Errorf("action %q missing from the default catalogue", id)
		}
	}
	if c.Version() == "" || c.ControlShare() != 0.05 || c.Baseline() != BaselinePriority {
		t.Errorf("version %q share %v baseline %v", c.Version(), c.ControlShare(), c.Baseline())
	}
}

func TestCatalogueErrors(t *testing.T) {
	const head = "version: v1\nactions:\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "c.yaml: the catalogue is empty"},
		{"syntax", "version: [\n", "c.yaml:"},
		{"no version", "actions:\n  - {id: a, placements: [homepage], value: 1}\n", "c.yaml:1: version: required"},
		{"no actions", "version: v1\n", "c.yaml:1: actions: required"},
		{"unknown top field", "version: v1\nactoins: []\n", "c.yaml:2: actoins: unknown field"},
		{"unknown action field", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    valeu: 2\n", "c.yaml:6: actions[0].valeu: unknown field"},
		{"bad id", head + "  - id: Welcome\n    placements: [homepage]\n    value: 1\n", "c.yaml:3: actions[0].id: \"Welcome\": ids are"},
		{"duplicate id", head + "  - {id: a, placements: [homepage], value: 1}\n  - {id: a, placements: [homepage], value: 1}\n", "c.yaml:4: actions[1].id: \"a\" is already"},
		{"missing value", head + "  - id: a\n    placements: [homepage]\n", "c.yaml:3: actions[0].value: required"},
		{"missing placements", head + "  - id: a\n    value: 1\n", "c.yaml:3: actions[0].placements: required"},
		{"quoted number", head + "  - id: a\n    placements: [homepage]\n    value: \"1\"\n", "c.yaml:5: actions[0].value: must be a number"},
		{"negative value", head + "  - id: a\n    placements: [homepage]\n    value: -1\n", "c.yaml:5: actions[0].value: must be between 0"},
		{"bad weight", head + "  - id: a\n    placements: {homepage: 0}\n    value: 1\n", "c.yaml:4: actions[0].placements.homepage: must be between"},
		{"bad duration", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    cap: {max: 2, per: 7x}\n", "c.yaml:6: actions[0].cap.per: \"7x\": unknown unit"},
		{"cap without per", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    cap: {max: 2}\n", "c.yaml:6: actions[0].cap: needs both"},
		{"fractional cap", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    cap: {max: 2.5, per: 1d}\n", "c.yaml:6: actions[0].cap.max: must be a whole number"},
		{"dates reversed", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    valid_from: 2026-12-01\n    valid_until: 2026-11-01\n", "c.yaml:3: actions[0].valid_until: must be after valid_from"},
		{"bad date", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    valid_from: tomorrow\n", "c.yaml:6: actions[0].valid_from: \"tomorrow\" must be a date"},
		{"expr syntax", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    eligible: orders >\n", "c.yaml:6: actions[0].eligible: column"},
		{"expr unknown var", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    eligible: oders > 1\n", "c.yaml:6: actions[0].eligible: unknown variable \"oders\""},
		{"expr type", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    eligible: stage > 1\n", "actions[0].eligible: > needs a number on the left, \"stage\" is a string"},
		{"expr not bool", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    eligible: orders + 1\n", "an eligibility condition must be true or false"},
		{"expr mixed compare", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    eligible: stage == 1\n", "compares a string with a number"},
		{"expr unknown func", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    eligible: len(stage) > 1\n", "actions[0].eligible:"},
		{"expr bad event", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    eligible: recent(\"page_vew\", \"1h\") > 0\n", "unknown event type \"page_vew\""},
		{"expr bad regexp", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    eligible: page_url matches \"(\"\n", "bad pattern"},
		{"expr block line", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    eligible: |\n      orders > 0 and\n      stagee == \"lead\"\n", "c.yaml:8: actions[0].eligible: unknown variable \"stagee\""},
		{"expr string join", head + "  - id: a\n    placements: [homepage]\n    value: 1\n    eligible: stage + \"x\" == \"y\"\n", "joining strings is not supported"},
		{"fallback unknown", "version: v1\nfallback: {homepage: b}\nactions:\n  - {id: a, placements: [homepage], value: 1}\n", "c.yaml:2: fallback.homepage: no action has the id \"b\""},
		{"fallback unknown placement", "version: v1\nfallback: {cart: a}\nactions:\n  - {id: a, placements: [homepage], value: 1}\n", "c.yaml:2: fallback.cart: unknown field"},
		{"fallback conditional", "version: v1\nfallback: {homepage: a}\nactions:\n  - {id: a, placements: [homepage], value: 1, eligible: known}\n", "must have none"},
		{"control share", "version: v1\ncontrol: {share: 0.9}\nactions:\n  - {id: a, placements: [homepage], value: 1}\n", "c.yaml:2: control.share: must be between 0 and 0.5"},
		{"baseline", "version: v1\ncontrol: {baseline: best}\nactions:\n  - {id: a, placements: [homepage], value: 1}\n", "control.baseline: \"best\": use priority or random"},
		{"prior half", "version: v1\ndefaults: {prior: {alpha: 1}}\nactions:\n  - {id: a, placements: [homepage], value: 1}\n", "defaults.prior: needs both alpha and beta"},
		{"two documents", "version: v1\nactions:\n  - {id: a, placements: [homepage], value: 1}\n---\nversion: v2\n", "c.yaml:4: a catalogue is one YAML document"},
		{"repeated field", head + "  - id: a\n    id: b\n    placements: [homepage]\n    value: 1\n", "c.yaml:4: actions[0].id: repeated field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCatalogue("c.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("parsed; want error containing %q", tt.want)
			}
			var ce *CatalogueError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *CatalogueError", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"7d", "168h0m0s", true}, {"1d12h", "36h0m0s", true}, {"2w", "336h0m0s", true}, {"90m", "1h30m0s", true},
		{"500ms", "500ms", true}, {"0d", "", false}, {"", "", false}, {"7", "", false}, {"d", "", false}, {"20y", "", false},
	}
	for _, tt := range tests {
		d, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || (tt.ok && d.String() != tt.want) {
			t.Errorf("parseDuration(%q) = %v, %v; want %s ok=%v", tt.in, d, err, tt.want, tt.ok)
		}
	}
}
