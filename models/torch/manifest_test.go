package torch

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseManifest(t *testing.T) {
	good := "name: churn_risk\nmodel: churn.pt\nfeature_version: 1\noutput: logit\ndescription: P(churn)\naction: win_back\n"
	m, err := ParseManifest("/models/churn.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := Manifest{Name: "churn_risk", Model: "/models/churn.pt", FeatureVersion: 1, Output: OutputLogit, Description: "P(churn)", Action: "win_back", File: "/models/churn.yaml"}
	if *m != want {
		t.Fatalf("got %+v\nwant %+v", *m, want)
	}
	abs, err := ParseManifest("m.yaml", []byte("name: a\nmodel: /abs/a.pt\nfeature_version: 1\noutput: score\n"))
	if err != nil || abs.Model != "/abs/a.pt" || abs.Output != OutputScore || abs.Output.IsPropensity() {
		t.Fatalf("absolute model path: %+v %v", abs, err)
	}

	tests := []struct {
		name, yaml string
		line       int
		field, msg string
	}{
		{"empty", "", 0, "", "empty manifest"},
		{"not a mapping", "- a\n- b\n", 1, "", "a manifest is a mapping"},
		{"syntax", "name: [a\n", 1, "", "not valid YAML"},
		{"bad name", "name: Churn Risk\n", 1, "name", "not a score name"},
		{"missing output", "name: a\nmodel: a.pt\nfeature_version: 1\n", 1, "output", "missing"},
		{"old feature version", "name: a\nmodel: a.pt\nfeature_version: 0\noutput: logit\n", 3, "feature_version", "retrain the model"},
		{"feature version not int", "name: a\nfeature_version: one\n", 2, "feature_version", "not an integer"},
		{"unknown output", "name: a\nmodel: a.pt\nfeature_version: 1\noutput: odds\n", 4, "output", "not one of probability, logit, score"},
		{"unknown field", "name: a\nmodle: a.pt\n", 2, "modle", "unknown field"},
		{"duplicate", "name: a\nname: b\n", 2, "name", "given twice"},
		{"nested value", "name:\n  x: 1\n", 2, "name", "single value"},
		{"empty model", "name: a\nmodel: ''\n", 2, "model", "empty"},
		{"score as propensity", "name: a\nmodel: a.pt\nfeature_version: 1\noutput: score\naction: x\n", 5, "action", "only a probability or logit"},
		{"bad action", "name: a\naction: 'no spaces'\n", 2, "action", "not an action id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest("dir/m.yaml", []byte(tt.yaml))
			var me *ManifestError
			if !errors.As(err, &me) {
				t.Fatalf("got %v, want a *ManifestError", err)
			}
			if me.File != "dir/m.yaml" || me.Line != tt.line || me.Field != tt.field || !strings.Contains(me.Msg, tt.msg) {
				t.Fatalf("got %q (line %d, field %q), want line %d, field %q, message containing %q", err, me.Line, me.Field, tt.line, tt.field, tt.msg)
			}
		})
	}
}

func TestOutputString(t *testing.T) {
	for o, want := range map[Output]string{OutputProbability: "probability", OutputLogit: "logit", OutputScore: "score", 0: "unknown", 9: "unknown"} {
		if o.String() != want {
			t.Errorf("%d: %q, want %q", o, o.String(), want)
		}
	}
}

// FuzzParseManifest: a manifest is operator input read on every reload;
// any bytes give a manifest or a *ManifestError, never a panic.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte("name: a\nmodel: a.pt\nfeature_version: 1\noutput: logit\n"))
	f.Add([]byte("name: &x a\nmodel: *x\n"))
	f.Add([]byte("{name: a, model: [1]}"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(filepath.Join("d", "m.yaml"), data)
		if err != nil {
			var me *ManifestError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a *ManifestError", err)
			}
			return
		}
		if m.Name == "" || m.Model == "" || m.Output == 0 {
			t.Fatalf("accepted an incomplete manifest %+v", m)
		}
	})
}
