package torch

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/yamlsrc"
)

// MaxManifestSize bounds a manifest file: it is a handful of lines.
const MaxManifestSize = 64 << 10

// Output says what a model's single output means, and so how Kairos serves
// it.
type Output uint8

// The output meanings a manifest may declare.
const (
	// OutputProbability is a probability in [0, 1]; it can stand as a
	// propensity in next-best-action.
	OutputProbability Output = iota + 1
	// OutputLogit is log-odds; Kairos applies the logistic function and
	// serves a probability, also usable as a propensity.
	OutputLogit
	// OutputScore is any real number (a predicted spend, a rank score),
	// served as is and never used as a propensity.
	OutputScore
)

var outputNames = [...]string{OutputProbability: "probability", OutputLogit: "logit", OutputScore: "score"}

// String returns the name a manifest uses.
func (o Output) String() string {
	if int(o) < len(outputNames) && outputNames[o] != "" {
		return outputNames[o]
	}
	return "unknown"
}

// IsPropensity reports whether the served value is a probability.
func (o Output) IsPropensity() bool { return o == OutputProbability || o == OutputLogit }

// Manifest is the YAML file a data team drops beside its TorchScript file:
//
//	name: churn_risk             # the score's name in GET /v1/contacts/{id}
//	model: churn_risk.pt         # TorchScript file, relative to this manifest
//	feature_version: 1           # features.Version the model was trained on
//	output: probability          # probability | logit | score
//	description: P(no order in the next 90 days)
//	action: win_back_coupon      # optional: serve as this action's propensity
//
// The model takes a float32 tensor [batch, features.Len] and returns
// [batch] or [batch, 1].
type Manifest struct {
	Name           string
	Model          string // absolute path of the TorchScript file
	FeatureVersion int
	Output         Output
	Description    string
	// Action is the next-best-action catalogue id whose propensity this
	// model supplies, "" for none. Only probability and logit outputs may
	// name one.
	Action string

	File string // the manifest's own path
}

// ManifestError locates a problem in a manifest: file, line (0 when there
// is none), field and what to do.
type ManifestError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// Error returns "file:line: field: message".
func (e *ManifestError) Error() string { return yamlsrc.Format(e.File, e.Line, e.Field, e.Msg) }

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ParseManifest parses and validates a manifest. file is its path, used
// in errors and to resolve the model path. Errors are *ManifestError.
func ParseManifest(file string, data []byte) (*Manifest, error) {
	fail := func(line int, field, format string, args ...any) error {
		return &ManifestError{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) > MaxManifestSize {
		return nil, fail(0, "", "manifest is larger than %d bytes; it should be a few lines", MaxManifestSize)
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) || err.Error() == "EOF" {
			return nil, fail(0, "", "empty manifest: give at least name, model, feature_version and output")
		}
		line, _ := yamlsrc.SyntaxLine(err)
		return nil, fail(line, "", "not valid YAML: %v", err)
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil, fail(doc.Line, "", "a manifest is a mapping of name, model, feature_version, output, description, action")
	}
	m := &Manifest{File: file}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		if _, dup := seen[k.Value]; dup {
			return nil, fail(k.Line, k.Value, "given twice")
		}
		seen[k.Value] = v
		if v.Kind != yaml.ScalarNode {
			return nil, fail(v.Line, k.Value, "must be a single value")
		}
		switch k.Value {
		case "name":
			if !nameRE.MatchString(v.Value) {
				return nil, fail(v.Line, "name", "%q is not a score name: lower-case letters, digits and _, starting with a letter, at most 64", v.Value)
			}
			m.Name = v.Value
		case "model":
			if v.Value == "" {
				return nil, fail(v.Line, "model", "empty: give the TorchScript file, relative to this manifest")
			}
			p := v.Value
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(file), p)
			}
			m.Model = p
		case "feature_version":
			n, err := strconv.Atoi(v.Value)
			if err != nil {
				return nil, fail(v.Line, "feature_version", "%q is not an integer", v.Value)
			}
			if n != features.Version {
				return nil, fail(v.Line, "feature_version", "%d is not supported: this Kairos computes feature vector version %d (%d features, models/features); retrain the model on it", n, features.Version, features.Len)
			}
			m.FeatureVersion = n
		case "output":
			switch v.Value {
			case "probability":
				m.Output = OutputProbability
			case "logit":
				m.Output = OutputLogit
			case "score":
				m.Output = OutputScore
			default:
				return nil, fail(v.Line, "output", "%q is not one of probability, logit, score", v.Value)
			}
		case "description":
			m.Description = v.Value
		case "action":
			if !actionRE.MatchString(v.Value) {
				return nil, fail(v.Line, "action", "%q is not an action id", v.Value)
			}
			m.Action = v.Value
		default:
			return nil, fail(k.Line, k.Value, "unknown field; the fields are name, model, feature_version, output, description, action")
		}
	}
	for _, req := range []string{"name", "model", "feature_version", "output"} {
		if seen[req] == nil {
			return nil, fail(doc.Line, req, "missing")
		}
	}
	if m.Action != "" && !m.Output.IsPropensity() {
		return nil, fail(seen["action"].Line, "action", "only a probability or logit output can serve as an action's propensity; output is %s", m.Output)
	}
	return m, nil
}

var actionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$`)
