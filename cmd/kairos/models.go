package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-engine/kairos/api"
	"github.com/kairos-engine/kairos/models/features"
	"github.com/kairos-engine/kairos/models/propensity"
	"github.com/kairos-engine/kairos/models/torch"
	"github.com/kairos-engine/kairos/stream/decisionlog"
)

// modelsSetup is the models section of the configuration: bring-your-own
// TorchScript models and the in-engine trained propensity model.
type modelsSetup struct {
	// dir is the models directory; "" serves no bring-your-own model.
	dir string
	// propensityFile is the trained propensity model (default
	// <data dir>/propensity.mlp): read at start and on reload, written by
	// the schedule and by `kairos train propensity` when a model is
	// promoted.
	propensityFile string
	// trainEvery runs the training in the background; 0 is off.
	trainEvery  time.Duration
	holdout     float64
	minExamples int
	attribution time.Duration
	topic       string
}

// modelsConfig is the models section of the configuration file.
type modelsConfig struct {
	// Dir is the models directory of bring-your-own TorchScript models
	// (a YAML manifest beside each file); empty: none.
	Dir string `yaml:"dir"`
	// PropensityFile is the trained propensity model. Default
	// <state.data_dir>/propensity.mlp.
	PropensityFile string `yaml:"propensity_file"`
	// TrainEvery trains the propensity model on the decision log in the
	// background; 0 (the default) is off. At least 1m.
	TrainEvery duration `yaml:"train_every"`
	// Holdout is the most recent share of the examples the new model is
	// judged on. Default 0.2.
	Holdout float64 `yaml:"holdout"`
	// MinExamples below which no training runs. Default 200.
	MinExamples int `yaml:"min_examples"`
	// Attribution is the window after a decision within which a click or
	// order converts it. Default 168h (the catalogue default).
	Attribution duration `yaml:"attribution"`
	// DecisionsTopic is the decision log. Default kairos.decisions.
	DecisionsTopic string `yaml:"decisions_topic"`
}

// validate returns the dotted field and the problem, or "" when valid.
func (c *modelsConfig) validate() (field, msg string) {
	switch {
	case c.TrainEvery < 0 || c.TrainEvery > 0 && c.TrainEvery < duration(time.Minute):
		return "models.train_every", "must be at least 1m (or 0: off)"
	case c.Holdout < 0 || c.Holdout >= 0.9:
		return "models.holdout", "must be a share in (0, 0.9), like 0.2"
	case c.MinExamples < 0:
		return "models.min_examples", "must not be negative"
	case c.Attribution < 0:
		return "models.attribution", "must not be negative"
	}
	if c.Dir != "" {
		if fi, err := os.Stat(c.Dir); err != nil {
			return "models.dir", err.Error()
		} else if !fi.IsDir() {
			return "models.dir", c.Dir + " is not a directory"
		}
	}
	return "", ""
}

// modelsSetup is the models section as serve's setup.
func (cfg *fileConfig) modelsSetup() modelsSetup {
	m := cfg.Models
	return modelsSetup{dir: m.Dir, propensityFile: m.PropensityFile, trainEvery: time.Duration(m.TrainEvery),
		holdout: m.Holdout, minExamples: m.MinExamples, attribution: time.Duration(m.Attribution), topic: m.DecisionsTopic}
}

// learnedModels is what serve runs for the learned models: the registry
// of the models directory, the propensity model in service, SIGHUP
// reloads and the training schedule.
type learnedModels struct {
	setup modelsSetup
	log   *slog.Logger
	reg   *torch.Registry // nil without a models directory
	// propensity is the promoted propensity model, nil until one exists;
	// next-best-action reads it (Load) for each decision.
	propensity atomic.Pointer[propensity.MLP]
	schedule   *decisionlog.Schedule // nil when training is off
}

// openLearned opens the models directory. A directory that cannot be read
// is fatal (a configuration mistake). A model that fails to load is not:
// its error is logged with the file and the reason, the other models
// serve, and fixing the file and reloading (SIGHUP or POST
// /v1/admin/reload) brings it in. A model is one optional score among
// many; refusing to start would take every other score down with it.
func openLearned(s engineSetup, promReg prometheus.Registerer) (*learnedModels, error) {
	l := &learnedModels{setup: s.models, log: s.log}
	if l.setup.propensityFile == "" {
		l.setup.propensityFile = filepath.Join(s.dataDir, "propensity.mlp")
	}
	if l.setup.dir != "" {
		reg, err := torch.Open(torch.Config{Dir: l.setup.dir, Registerer: promReg})
		if reg == nil {
			return nil, fmt.Errorf("models.dir: %w", err)
		}
		l.reg = reg
		l.logErrors("bring-your-own model not loaded", err)
		names := make([]string, 0, len(reg.Models()))
		for _, m := range reg.Models() {
			names = append(names, m.Manifest.Name)
		}
		s.log.Info("bring-your-own models loaded", "dir", l.setup.dir, "models", names)
	}
	l.loadPropensity()
	if l.setup.trainEvery > 0 {
		// Train on no examples only to learn whether this build can
		// train at all: the pure build says ErrTorchUnavailable.
		if _, _, err := propensity.Train(nil, nil, propensity.TrainConfig{}); errors.Is(err, propensity.ErrTorchUnavailable) {
			s.log.Error("models.train_every is set but scheduled propensity training is off", "err", err.Error())
		} else {
			l.schedule = &decisionlog.Schedule{
				Every:      l.setup.trainEvery,
				Logger:     s.log,
				Registerer: promReg,
				Promoted:   func(m *propensity.MLP) { l.propensity.Store(m) },
				Config: decisionlog.Config{
					Read:     decisionlog.ReadConfig{Brokers: s.brokers, Topic: l.setup.topic, ClientOpts: s.clientOpts},
					Examples: decisionlog.ExampleConfig{Attribution: l.setup.attribution},
					Train:    propensity.TrainConfig{HoldoutFraction: l.setup.holdout, MinExamples: l.setup.minExamples},
					Out:      l.setup.propensityFile,
				},
			}
		}
	}
	return l, nil
}

// logErrors logs each model error of a (joined) registry error on its
// own line.
func (l *learnedModels) logErrors(msg string, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		l.log.Error(msg, "err", e.Error(), "torch_unavailable", errors.Is(e, torch.ErrTorchUnavailable))
	}
}

func (l *learnedModels) loadPropensity() {
	m, err := decisionlog.ReadModel(l.setup.propensityFile)
	switch {
	case err != nil:
		l.log.Error("propensity model not loaded; the previous one (if any) keeps serving", "err", err.Error())
	case m == nil:
	case m.FeatureVersion != features.Version:
		l.log.Error("propensity model not loaded: not trained on this build's contact feature vector; retrain it with kairos train propensity",
			"file", l.setup.propensityFile, "model_version", m.FeatureVersion, "features_version", features.Version)
	default:
		l.propensity.Store(m)
		l.log.Info("propensity model loaded", "file", l.setup.propensityFile, "actions", len(m.Actions))
	}
}

// apiModels is the registry as the API sees it; nil without one (a nil
// *torch.Registry in the interface would not be nil).
func (l *learnedModels) apiModels() api.LearnedModels {
	if l.reg == nil {
		return nil
	}
	return l.reg
}

// propensitySource is what next-best-action arbitration consults: the
// promoted propensity model and the bring-your-own models that name an
// action.
func (l *learnedModels) propensitySource() *propensity.Source {
	if l.reg == nil {
		return propensity.NewSource(&l.propensity, nil)
	}
	return propensity.NewSource(&l.propensity, l.reg)
}

// reload re-reads the models directory and the propensity model: on
// SIGHUP and POST /v1/admin/reload.
func (l *learnedModels) reload() error {
	l.loadPropensity()
	if l.reg == nil {
		return nil
	}
	err := l.reg.Reload()
	l.logErrors("bring-your-own model reload failed", err)
	l.log.Info("models reloaded", "models", len(l.reg.Models()))
	return err
}

// reloadFunc is POST /v1/admin/reload's action. There is always
// something to reload: the propensity model file, which `kairos train
// propensity` may have replaced.
func (l *learnedModels) reloadFunc() func() error { return l.reload }

// run reloads on SIGHUP and runs the training schedule until ctx ends.
func (l *learnedModels) run(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := make(chan error, 1)
	if l.schedule != nil {
		go func() { done <- l.schedule.Run(ctx) }()
	} else {
		close(done)
	}
	for {
		select {
		case <-ctx.Done():
			return <-done
		case <-hup:
			l.log.Info("SIGHUP: reloading models")
			_ = l.reload() // logged
		}
	}
}

func (l *learnedModels) close() error {
	if l.reg == nil {
		return nil
	}
	return l.reg.Close()
}
