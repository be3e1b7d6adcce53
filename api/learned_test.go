package api

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/models/torch"
)

// memModels is the in-memory LearnedModels: each model's output is a
// fixed function of the feature vector, or an error.
type memModels struct {
	list []*torch.Model
	fn   map[string]func(v *features.Vector) (float64, error)
}

func (m *memModels) Models() []*torch.Model { return m.list }

func (m *memModels) Score(name string, v *features.Vector) (float64, error) {
	f, ok := m.fn[name]
	if !ok {
		return 0, torch.ErrNoModel
	}
	return f(v)
}

func newMemModels() *memModels {
	mk := func(name string, out torch.Output) *torch.Model {
		return &torch.Model{Manifest: torch.Manifest{Name: name, Output: out, FeatureVersion: features.Version}, Digest: "d-" + name, LoadedAt: time.UnixMilli(t0)}
	}
	return &memModels{
		list: []*torch.Model{mk("broken", torch.OutputScore), mk("churn_risk", torch.OutputProbability), mk("spend", torch.OutputScore)},
		fn: map[string]func(*features.Vector) (float64, error){
			"broken":     func(*features.Vector) (float64, error) { return 0, errors.New("model broken: output 0 is NaN") },
			"churn_risk": func(v *features.Vector) (float64, error) { return float64(v[0]), nil }, // seen_fresh_7d
			"spend":      func(v *features.Vector) (float64, error) { return 10 * float64(v[3]), nil },
		},
	}
}

type learnedDoc struct {
	Scores struct {
		Models map[string]struct {
			Value  *float64 `json:"value"`
			Output string   `json:"output"`
			Error  string   `json:"error"`
		} `json:"models"`
	} `json:"scores"`
}

// TestLearnedScores: each model's output on features.Compute(contact,
// request instant) appears as scores.models.<name>, a failing model as
// null with its error, and ?at= moves the instant.
func TestLearnedScores(t *testing.T) {
	mem := newMemModels()
	models := scoringModels(t, scoring.Population{})
	h := newHarness(t, func(c *Config) { c.Learned = mem; c.Models = models })
	ann := annContact()
	for _, tt := range []struct {
		target string
		at     int64
	}{
		{"/v1/contacts/42", t0 + 14*day},
		{"/v1/contacts/42?at=2025-03-02T09:30:00.250Z", t0 + day},
		{"/v1/contacts?email=ann@example.com", t0 + 14*day},
	} {
		t.Run(tt.target, func(t *testing.T) {
			r := h.get(t, tt.target)
			if r.status != fasthttp.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var doc learnedDoc
			if err := json.Unmarshal(r.body, &doc); err != nil {
				t.Fatalf("%v: %s", err, r.body)
			}
			v := features.Compute(ann, tt.at)
			m := doc.Scores.Models
			if len(m) != 3 {
				t.Fatalf("models %s", r.body)
			}
			if c := m["churn_risk"]; c.Value == nil || math.Abs(*c.Value-float64(v[0])) > 1e-5 || c.Output != "probability" || c.Error != "" {
				t.Fatalf("churn_risk %+v, want %v", c, v[0])
			}
			if s := m["spend"]; s.Value == nil || math.Abs(*s.Value-10*float64(v[3])) > 1e-4 || s.Output != "score" {
				t.Fatalf("spend %+v", s)
			}
			if b := m["broken"]; b.Value != nil || !strings.Contains(b.Error, "NaN") {
				t.Fatalf("broken %+v", b)
			}
		})
	}
	// The instant matters: Ann's last visit is fresher a day after t0
	// than two weeks after.
	var d1, d14 learnedDoc
	json.Unmarshal(h.get(t, "/v1/contacts/42?at=2025-03-02T09:30:00.250Z").body, &d1)
	json.Unmarshal(h.get(t, "/v1/contacts/42").body, &d14)
	if !(*d1.Scores.Models["churn_risk"].Value > *d14.Scores.Models["churn_risk"].Value) {
		t.Fatalf("seen_fresh_7d does not decay: %v then %v", *d1.Scores.Models["churn_risk"].Value, *d14.Scores.Models["churn_risk"].Value)
	}

	// Without Learned there is no "models" object.
	h2 := newHarness(t, func(c *Config) { c.Models = models })
	if r := h2.get(t, "/v1/contacts/42"); r.status != 200 || strings.Contains(string(r.body), `"models"`) {
		t.Fatalf("without learned models: %d %s", r.status, r.body)
	}
}

// TestLearnedPureRegistry: in the pure build a configured TorchScript
// model does not load (ErrTorchUnavailable); the registry is still served
// and the profile still answers, with an empty models object.
func TestLearnedPureRegistry(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "m.pt"), []byte("not torchscript"), 0o644)
	os.WriteFile(filepath.Join(dir, "m.yaml"), []byte("name: m\nmodel: m.pt\nfeature_version: 1\noutput: logit\n"), 0o644)
	reg, err := torch.Open(torch.Config{Dir: dir})
	if reg == nil {
		t.Fatal(err)
	}
	if len(reg.Models()) > 0 {
		t.Skip("built with -tags torch: the pure-build behaviour does not apply")
	}
	if !errors.Is(err, torch.ErrTorchUnavailable) {
		t.Fatalf("open: %v", err)
	}
	h := newHarness(t, func(c *Config) {
		c.Learned = reg
		c.Models = scoringModels(t, scoring.Population{})
		c.Reload = reg.Reload
	})
	r := h.get(t, "/v1/contacts/42")
	if r.status != 200 || !strings.Contains(string(r.body), `"models":{}}`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = h.do(t, "POST", "/v1/admin/reload", "", nil)
	e := checkError(t, r, fasthttp.StatusUnprocessableEntity, "reload_incomplete")
	if !strings.Contains(e.Error.Message, "-tags torch") || !strings.Contains(e.Error.Message, "m.yaml") {
		t.Fatalf("reload message %q", e.Error.Message)
	}
}

func TestAdminReload(t *testing.T) {
	mem := newMemModels()
	var fail error
	calls := 0
	h := newHarness(t, func(c *Config) {
		c.Learned = mem
		c.Reload = func() error { calls++; return fail }
	})
	r := h.do(t, "POST", "/v1/admin/reload", "", nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var doc struct {
		Status string `json:"status"`
		Models []struct {
			Name, Output, Digest string
			Action               *string
			LoadedAt             time.Time `json:"loaded_at"`
		} `json:"models"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil || doc.Status != "reloaded" || len(doc.Models) != 3 ||
		doc.Models[1].Name != "churn_risk" || doc.Models[1].Output != "probability" || doc.Models[1].Digest != "d-churn_risk" ||
		doc.Models[1].Action != nil || doc.Models[1].LoadedAt.UnixMilli() != t0 || calls != 1 {
		t.Fatalf("%v %s (calls %d)", err, r.body, calls)
	}
	fail = errors.New("models/x.yaml:3: output: \"prob\" is not one of probability, logit, score")
	r = h.do(t, "POST", "/v1/admin/reload", "", nil)
	e := checkError(t, r, fasthttp.StatusUnprocessableEntity, "reload_incomplete")
	if !strings.Contains(e.Error.Message, "x.yaml:3") || !strings.Contains(string(r.body), `"models":[{"name":"broken"`) {
		t.Fatalf("%s", r.body)
	}
	r = h.get(t, "/v1/admin/reload")
	checkError(t, r, fasthttp.StatusMethodNotAllowed, "method_not_allowed")
	if string(r.header.Peek("Allow")) != "POST" {
		t.Fatalf("Allow %q", r.header.Peek("Allow"))
	}
	h2 := newHarness(t, nil)
	checkError(t, h2.do(t, "POST", "/v1/admin/reload", "", nil), fasthttp.StatusServiceUnavailable, "unavailable")
}
