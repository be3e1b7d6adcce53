package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/stream/broker"
)

func TestConfigModels(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"ok", "models:\n  dir: " + dir + "\n  train_every: 6h\n  holdout: 0.25\n  min_examples: 500\n  attribution: 48h\n", ""},
		{"train too often", "models:\n  train_every: 10s\n", ":2: models.train_every: must be at least 1m"},
		{"holdout", "kafka:\n  group: g\nmodels:\n  holdout: 1.5\n", ":4: models.holdout: must be a share"},
		{"min examples", "models:\n  min_examples: -1\n", ":2: models.min_examples"},
		{"missing dir", "models:\n  dir: " + filepath.Join(dir, "nope") + "\n", ":2: models.dir: stat"},
		{"not a dir", "models:\n  dir: " + notDir + "\n", "is not a directory"},
		{"unknown field", "models:\n  directory: x\n", "field directory not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "kairos.yaml")
			os.WriteFile(p, []byte(tt.yaml), 0o644)
			cfg, err := loadConfig(p)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				m := cfg.modelsSetup()
				if m.dir != dir || m.trainEvery != 6*time.Hour || m.holdout != 0.25 || m.minExamples != 500 || m.attribution != 48*time.Hour {
					t.Fatalf("%+v", m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// TestTrainCommand runs `kairos train propensity` on a small decision log
// in the embedded broker: it reads it, reports the counts and the
// baseline, and then trains (torch build) or says that training needs
// the torch build (pure build, exit 1).
func TestTrainCommand(t *testing.T) {
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), 2, 1, nil, nba.DecisionsTopic); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range 600 {
		var v features.Vector
		v[20] = float32(i % 2) // open cart on every other contact
		var id nba.DecisionID
		id[0], id[1], id[15] = byte(i>>8), byte(i), 9
		action := []string{"cart-reminder", "newsletter"}[i/2%2]
		at := start.Add(time.Duration(i) * time.Hour)
		d, _ := json.Marshal(nba.DecisionRecord{DecisionID: id, At: at, FeatureVersion: features.Version, Features: v[:],
			Choices: []nba.LoggedChoice{{Action: action, Rank: 1, LoggingProbability: 0.5}}})
		recs = append(recs, &kgo.Record{Topic: nba.DecisionsTopic, Key: []byte{byte(i)}, Value: d})
		// The cart reminder converts on open carts, the newsletter on
		// every fifth contact.
		if action == "cart-reminder" && i%2 == 1 || action == "newsletter" && i%5 == 0 {
			o, _ := json.Marshal(nba.OutcomeLog(nba.Outcome{DecisionID: id, Action: action, Kind: nba.OutcomeClick, At: at.Add(time.Minute)}))
			recs = append(recs, &kgo.Record{Topic: nba.DecisionsTopic, Key: []byte{byte(i)}, Value: o})
		}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "propensity.mlp")
	var stdout, stderr bytes.Buffer
	code := run([]string{"train", "propensity", "--brokers", b.Addr(), "--out", out, "--min-examples", "100"}, nil, &stdout, &stderr)
	if !strings.Contains(stdout.String(), "600 decisions") || !strings.Contains(stdout.String(), "baseline (prior strength") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	_, statErr := os.Stat(out)
	if torchBuild() {
		if code != 0 || statErr != nil || !strings.Contains(stdout.String(), "wrote "+out) {
			t.Fatalf("torch build: exit %d, model file %v\n%s%s", code, statErr, stdout.String(), stderr.String())
		}
		return
	}
	if code != 1 || !strings.Contains(stderr.String(), "-tags torch") || statErr == nil {
		t.Fatalf("pure build: exit %d, model file %v\nstderr: %s", code, statErr, stderr.String())
	}
}
