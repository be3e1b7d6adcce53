package decisionlog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kairos-engine/kairos/models/propensity"
)

// Config configures one training run.
type Config struct {
	Read     ReadConfig
	Examples ExampleConfig
	// Train configures propensity.Train (holdout fraction, minimum
	// examples, network, seed).
	Train propensity.TrainConfig
	// Out is the file of the model in service: read as the model to beat
	// when it exists, replaced (atomically) only by a promoted model.
	// Required.
	Out string
}

// Result is what a run read, measured and did.
type Result struct {
	Records int
	Stats   Stats
	// Baseline is the Bayesian per-action baseline on the holdout: there
	// in both builds once there are enough examples.
	Baseline *propensity.BaselineReport
	// Report is the learned model's evaluation (torch build only).
	Report *propensity.Report
	// Written is true when the promoted model replaced Out.
	Written  bool
	Duration time.Duration
}

// Train reads the decision log, builds examples, judges the baseline on
// the holdout, trains the MLP (torch build) and writes it to cfg.Out when
// it is promoted: a lower holdout log-loss than the baseline and the
// model in Out, and an AUC at least the baseline's. Without the torch
// build the error wraps propensity.ErrTorchUnavailable and Result still
// holds the counts and the baseline's evaluation. With too few examples
// it wraps propensity.ErrTooFewExamples.
func Train(ctx context.Context, cfg Config) (*Result, error) {
	start := time.Now()
	res := &Result{}
	defer func() { res.Duration = time.Since(start) }()
	if cfg.Out == "" {
		return res, errors.New("decisionlog: no output file: give --out")
	}
	current, err := ReadModel(cfg.Out)
	if err != nil {
		return res, err
	}
	b := NewBuilder(cfg.Examples)
	if res.Records, err = Read(ctx, cfg.Read, b.Add); err != nil {
		return res, err
	}
	ex, stats := b.Examples()
	res.Stats = stats
	if res.Baseline, err = propensity.EvaluateBaseline(ex, cfg.Train); err != nil {
		return res, fmt.Errorf("decisionlog: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	m, rep, err := propensity.Train(ex, current, cfg.Train)
	res.Report = rep
	if err != nil {
		return res, fmt.Errorf("decisionlog: %w", err)
	}
	if rep.Promoted {
		if err := writeModel(cfg.Out, m); err != nil {
			return res, err
		}
		res.Written = true
	}
	return res, nil
}

// ReadModel reads the propensity model in service; nil without error when
// the file does not exist yet.
func ReadModel(path string) (*propensity.MLP, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("decisionlog: current model: %w", err)
	}
	defer f.Close()
	m, err := propensity.ReadMLP(f)
	if err != nil {
		return nil, fmt.Errorf("decisionlog: current model %s: %w; move it away to train from scratch", path, err)
	}
	return m, nil
}

// writeModel replaces path with m atomically: a reader sees the old file
// or the new one, never half of one.
func writeModel(path string, m *propensity.MLP) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("decisionlog: write model: %w", err)
	}
	_, err = m.WriteTo(f)
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("decisionlog: write model %s: %w", path, err)
	}
	return nil
}
