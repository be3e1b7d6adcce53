package api

import (
	"encoding/json"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/propensity"
)

// biasMLP predicts sigmoid(bias) for every action of cat, whatever the
// contact: the target action high, the rest low.
func biasMLP(t *testing.T, cat *nba.Catalogue, target string) *propensity.MLP {
	t.Helper()
	var ids []string
	var bias []float32
	for _, a := range cat.Actions() {
		ids = append(ids, a.ID)
		b := float32(-8)
		if a.ID == target {
			b = 6
		}
		bias = append(bias, b)
	}
	mean, inv := make([]float32, features.Len), make([]float32, features.Len)
	for i := range inv {
		inv[i] = 1
	}
	m, err := propensity.NewMLP(features.Version, ids, mean, inv,
		[]propensity.Layer{{In: features.Len, Out: len(ids), W: make([]float32, features.Len*len(ids)), B: bias}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// With a promoted propensity model, arbitration follows it, the answer and
// the decision record name it, and records carry the feature vector the
// trainer needs.
func TestNextBestActionLearned(t *testing.T) {
	var mlp atomic.Pointer[propensity.MLP]
	env := newNBAEnv(t, func(n *NBA) {
		n.Propensity = propensity.NewSource(&mlp, nil)
		n.LogFeatures = true
	})
	var p fastjson.Parser
	for _, path := range []string{
		"/v1/contacts/42/next-best-action?placement=homepage",
		"/v1/contacts/never-seen/next-best-action?placement=homepage",
	} {
		// The eligible action that ranks last without a model.
		mlp.Store(nil)
		d := getDecision(t, env, path+"&n=20")
		if len(d.Actions) < 2 {
			t.Fatalf("%s: need two eligible actions, got %d", path, len(d.Actions))
		}
		target := d.Actions[len(d.Actions)-1].ID
		mlp.Store(biasMLP(t, env.cat, target))

		first := 0
		for range 50 {
			d := getDecision(t, env, path+"&n=3")
			if d.Actions[0].ID == target {
				first++
			}
			var rec nba.DecisionRecord
			typ, err := nba.DecodeRecord(&p, []byte(env.pub.last(t).value), &rec)
			if err != nil || typ != nba.RecordDecision {
				t.Fatalf("%s: record type %q: %v", path, typ, err)
			}
			if rec.FeatureVersion != features.Version || len(rec.Features) != features.Len {
				t.Fatalf("%s: record has feature version %d and %d features; want %d and %d", path, rec.FeatureVersion, len(rec.Features), features.Version, features.Len)
			}
			for _, c := range rec.Choices {
				if c.Model != propensity.MLPName {
					t.Fatalf("%s: logged choice %+v does not name the model", path, c)
				}
			}
		}
		// Thompson sampling still explores under the catalogue's wide
		// priors: about 1 in 100 decisions here ranks another first.
		if first < 40 {
			t.Fatalf("%s: the model's favourite %s was first in %d of 50 decisions", path, target, first)
		}
		// The answer's propensity is the model's, and the reason says so.
		var doc struct {
			Actions []struct {
				ID         string
				Propensity float64
				Reason     string
			} `json:"actions"`
		}
		if err := json.Unmarshal(httpGet(t, env.base, path+"&n=20").body, &doc); err != nil {
			t.Fatal(err)
		}
		for _, a := range doc.Actions {
			want := 0.0003
			if a.ID == target {
				want = 0.9975
			}
			if math.Abs(a.Propensity-want) > 1e-4 || !strings.Contains(a.Reason, "from model propensity") {
				t.Fatalf("%s: action %+v; want propensity %v from the model", path, a, want)
			}
		}
	}
}

// Without LogFeatures the records stay small: no feature vector.
func TestNextBestActionNoFeatures(t *testing.T) {
	env := newNBAEnv(t, nil)
	getDecision(t, env, "/v1/contacts/42/next-best-action?placement=homepage")
	var rec nba.DecisionRecord
	var p fastjson.Parser
	if _, err := nba.DecodeRecord(&p, []byte(env.pub.last(t).value), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Features) != 0 || rec.FeatureVersion != 0 || rec.Type != nba.RecordDecision {
		t.Fatalf("record %+v", rec)
	}
}

// Message actions share the trigger policy's marketing pressure: with the
// email limit reached, no email action is offered, and explain says why.
func TestNextBestActionPressure(t *testing.T) {
	path := "/v1/contacts/42/next-best-action?placement=email&n=20&explain=true"
	reasons := func(env *nbaEnv) map[string]int {
		d := getDecision(t, env, path)
		out := map[string]int{}
		for _, v := range d.Explain {
			out[v.Reason]++
		}
		return out
	}
	free := reasons(newNBAEnv(t, nil))
	if free["pressure"] != 0 || free[""] == 0 {
		t.Fatalf("without triggers: verdicts %v; want eligible email actions and no pressure", free)
	}
	got := reasons(newNBAEnvConfig(t, nil, func(c *Config) { c.Triggers = &fakeTriggers{} }))
	// Pressure is checked before the history and the conditions: every
	// consented email action is blocked by it, the eligible ones included.
	if got[""] != 0 || got["pressure"] < free[""] {
		t.Fatalf("with the email limit reached: verdicts %v; want none eligible and at least the %d eligible ones blocked by pressure", got, free[""])
	}
}
