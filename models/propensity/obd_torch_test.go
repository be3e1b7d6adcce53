//go:build torch

package propensity

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/models/features"
)

// obdDir is the Open Bandit Dataset sample (../shared/data/README.md):
// beside the repository, resolved from this package's directory, or under
// $KAIROS_SHARED_DATA for a checkout that is not beside it (a worktree).
var obdDir = func() string {
	if d := os.Getenv("KAIROS_SHARED_DATA"); d != "" {
		return filepath.Join(d, "obd")
	}
	return filepath.Join("..", "..", "..", "shared", "data", "obd")
}()

// The Open Bandit context in the width of a feature vector: these are not
// contact features (the model records ExternalFeatures). Layout:
// 0–29 one-hot user features 0–3 (at most 4, 6, 10, 10 values), 30–32
// one-hot position, 33 campaign (women), 34–61 user-item affinities added
// into 28 slots by item id.
var obdWidths = [4]int{4, 6, 10, 10}

type obdEncoder struct {
	dict [4]map[string]int
}

func (e *obdEncoder) encode(campaign string, pos int, user [4]string, aff []float64) (features.Vector, error) {
	var v features.Vector
	base := 0
	for k, val := range user {
		if e.dict[k] == nil {
			e.dict[k] = map[string]int{}
		}
		i, ok := e.dict[k][val]
		if !ok {
			i = len(e.dict[k])
			if i >= obdWidths[k] {
				return v, fmt.Errorf("user_feature_%d has more than %d values", k, obdWidths[k])
			}
			e.dict[k][val] = i
		}
		v[base+i] = 1
		base += obdWidths[k]
	}
	v[30+pos-1] = 1
	if campaign == "women" {
		v[33] = 1
	}
	for item, a := range aff {
		v[34+item%28] += float32(a)
	}
	return v, nil
}

// readOBD reads one campaign of a logging policy as Examples.
func readOBD(t *testing.T, enc *obdEncoder, policy, campaign string) []Example {
	t.Helper()
	f, err := os.Open(filepath.Join(obdDir, policy, campaign, campaign+".csv"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("Open Bandit sample not present at %s (see ../shared/data/README.md)", obdDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	var affCols []int
	for i, h := range head {
		if strings.HasPrefix(h, "user-item_affinity_") {
			affCols = append(affCols, i)
		}
	}
	var ex []Example
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse("2006-01-02 15:04:05.999999-07:00", rec[col["timestamp"]])
		if err != nil {
			t.Fatal(err)
		}
		pos, _ := strconv.Atoi(rec[col["position"]])
		prop, _ := strconv.ParseFloat(rec[col["propensity_score"]], 64)
		var user [4]string
		for k := range user {
			user[k] = rec[col["user_feature_"+strconv.Itoa(k)]]
		}
		aff := make([]float64, len(affCols))
		for i, c := range affCols {
			aff[i], _ = strconv.ParseFloat(rec[c], 64)
		}
		v, err := enc.encode(campaign, pos, user, aff)
		if err != nil {
			t.Fatal(err)
		}
		ex = append(ex, Example{
			Features: v, Action: campaign + ":" + rec[col["item_id"]], Outcome: rec[col["click"]] == "1",
			At: at.UnixMilli(), Propensity: prop,
		})
	}
	return ex
}

// On the Open Bandit sample logged by the uniformly random policy (men and
// women pooled, 20,000 impressions, ~94 clicks), the learned model is
// judged on the latest 20% against the per-action Beta baseline, and the
// greedy policies' click rates are estimated by IPW against the logged
// random policy's. The sample is small: the report carries the standard
// errors, and the test checks the evaluation, not a winner.
func TestOpenBanditSample(t *testing.T) {
	enc := &obdEncoder{}
	ex := append(readOBD(t, enc, "random", "men"), readOBD(t, enc, "random", "women")...)
	var clicks int
	for i := range ex {
		if ex[i].Outcome {
			clicks++
		}
	}
	ctr := float64(clicks) / float64(len(ex))
	t.Logf("%d impressions, %d clicks, CTR %.4f", len(ex), clicks, ctr)
	if ctr < 0.003 || ctr > 0.008 {
		t.Fatalf("CTR %.4f is outside the 0.46%%–0.69%% the data README gives", ctr)
	}
	for _, hidden := range [][]int{{8}, {32}} {
		m, rep, err := Train(ex, nil, TrainConfig{Seed: 1, Hidden: hidden, FeatureVersion: ExternalFeatures, WeightDecay: 1e-3})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("hidden %v:\n%s", hidden, rep)
		promote := rep.Model.LogLoss < rep.Baseline.LogLoss && rep.Model.AUC >= rep.Baseline.AUC
		if rep.Promoted != promote || math.IsNaN(rep.Model.AUC) || rep.ModelPolicy == nil {
			t.Fatalf("inconsistent report: %+v", rep)
		}
		// The logged random policy's rate on the holdout, estimated by
		// IPW of itself, is its observed rate: a check of the estimator
		// on real propensities.
		sorted := sortedByAt(ex)
		hold := sorted[len(sorted)-rep.Holdout:]
		self := EstimatePolicy(hold, func(e *Example) string { return e.Action })
		var want float64
		for i := range hold {
			if hold[i].Outcome {
				want += 1 / hold[i].Propensity
			}
		}
		if math.Abs(self.IPW-want/float64(len(hold))) > 1e-12 {
			t.Fatalf("IPW of the logged policy %v, want %v", self.IPW, want/float64(len(hold)))
		}
		// The report's greedy policy may pick another campaign's item,
		// which is never logged for this impression; restricted to the
		// impression's campaign, the estimate is meaningful (if noisy).
		probs := make([]float64, len(m.Actions))
		within := EstimatePolicy(hold, func(e *Example) string {
			m.Predict(&e.Features, probs)
			campaign, _, _ := strings.Cut(e.Action, ":")
			best, bp := "", -1.0
			for k, a := range m.Actions {
				if strings.HasPrefix(a, campaign+":") && probs[k] > bp {
					best, bp = a, probs[k]
				}
			}
			return best
		})
		t.Logf("hidden %v: greedy policy within the campaign: IPW CTR %.5f ± %.5f (%d matched), SNIPS %.5f; logged random %.5f",
			hidden, within.IPW, within.StdErr, within.Matched, within.SNIPS, rep.LoggedRate)
		if within.Matched == 0 {
			t.Fatal("the campaign-restricted policy matched no logged impression")
		}
	}
}

func sortedByAt(ex []Example) []Example {
	s := slices.Clone(ex)
	slices.SortStableFunc(s, func(a, b Example) int { return cmp.Compare(a.At, b.At) })
	return s
}
