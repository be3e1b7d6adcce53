package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/propensity"
	"github.com/kairos-engine/kairos/stream/decisionlog"
)

const trainUsage = `Usage: kairos train propensity [flags]

Trains the propensity model on next-best-action's decision log: reads
every decision (with its feature vector) and outcome of the topic, holds
out the most recent slice, judges the Bayesian per-action baseline and
the learned MLP on it (log-loss, AUC, inverse-propensity-weighted policy
value), and writes the model to --out only when it beats the baseline and
the model already there. Training needs a kairos built with -tags torch;
the pure build reads the log and reports the baseline, then says so.

Run 'kairos train propensity --help' for the flags.
`

func cmdTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, trainUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	if args[0] != "propensity" {
		fmt.Fprintf(stderr, "kairos train: unknown model %q\n\n%s", args[0], trainUsage)
		return errUsage
	}
	return cmdTrainPropensity(ctx, args[1:], stdout, stderr)
}

func cmdTrainPropensity(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train propensity", "train propensity [--brokers HOST:PORT[,...]] [--topic kairos.decisions] [--out FILE] [--holdout 0.2] [--min-examples 200] [--config FILE]", stderr)
	brokers := fs.String("brokers", "", "comma-separated Kafka seed brokers (default: kafka.brokers of --config, else the embedded broker at 127.0.0.1:9092)")
	topic := fs.String("topic", nba.DecisionsTopic, "the decision log topic")
	out := fs.String("out", "kairos-data/propensity.mlp", "model file: the model to beat when it exists, replaced only by a better one (serve reads <data dir>/propensity.mlp)")
	holdout := fs.Float64("holdout", 0.2, "most recent share of the examples held out to judge the model")
	minExamples := fs.Int("min-examples", 200, "fewest examples to train on")
	attribution := fs.Duration("attribution", decisionlog.DefaultAttribution, "a click or order within this long after a decision converts it")
	since := fs.Duration("since", 0, "only decisions of this recent period (for example 720h); 0: the whole log")
	hidden := fs.Int("hidden", 32, "width of the hidden layer")
	epochs := fs.Int("epochs", 40, "most passes over the training data (early stopping picks the best)")
	seed := fs.Uint64("seed", 1, "seed of initialisation and shuffling")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	configPath := fs.String("config", "", "serve's YAML configuration file: its kafka section (brokers, TLS, SASL) and models section (defaults of --holdout, --min-examples, --attribution, --topic)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *holdout <= 0 || *holdout >= 0.9 || *minExamples < 0 || *hidden < 1 || *epochs < 1 || *attribution <= 0 {
		fmt.Fprintln(stderr, "--holdout must be in (0, 0.9), --min-examples ≥ 0, --hidden and --epochs ≥ 1, --attribution positive")
		return errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := decisionlog.Config{
		Read:     decisionlog.ReadConfig{Topic: *topic},
		Examples: decisionlog.ExampleConfig{Attribution: *attribution},
		Train:    propensity.TrainConfig{HoldoutFraction: *holdout, MinExamples: *minExamples, Hidden: []int{*hidden}, Epochs: *epochs, Seed: *seed},
		Out:      *out,
	}
	if *since > 0 {
		cfg.Examples.Since = time.Now().Add(-*since)
	}
	if *configPath != "" {
		fc, err := loadConfig(*configPath)
		if err != nil {
			return err
		}
		k := fc.Kafka
		opts, err := clientSecurity(k.TLS.Enabled, k.TLS.CAFile, k.TLS.CertFile, k.TLS.KeyFile, k.TLS.InsecureSkipVerify, k.SASL.Mechanism, k.SASL.Username, k.SASL.Password)
		if err != nil {
			return err
		}
		cfg.Read.ClientOpts = opts
		cfg.Read.Brokers = k.Brokers
		m := fc.Models
		if !set["holdout"] && m.Holdout > 0 {
			cfg.Train.HoldoutFraction = m.Holdout
		}
		if !set["min-examples"] && m.MinExamples > 0 {
			cfg.Train.MinExamples = m.MinExamples
		}
		if !set["attribution"] && m.Attribution > 0 {
			cfg.Examples.Attribution = time.Duration(m.Attribution)
		}
		if !set["topic"] && m.DecisionsTopic != "" {
			cfg.Read.Topic = m.DecisionsTopic
		}
		if !set["out"] && m.PropensityFile != "" {
			cfg.Out = m.PropensityFile
		}
	}
	if *brokers != "" {
		cfg.Read.Brokers = strings.Split(*brokers, ",")
	}
	if len(cfg.Read.Brokers) == 0 {
		cfg.Read.Brokers = []string{"127.0.0.1:9092"}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	fmt.Fprintf(stdout, "reading %s from %s\n", cfg.Read.Topic, strings.Join(cfg.Read.Brokers, ","))
	res, err := decisionlog.Train(ctx, cfg)
	if res.Records > 0 || res.Stats.Records > 0 {
		fmt.Fprintln(stdout, res.Stats.String())
	}
	if res.Baseline != nil {
		fmt.Fprintln(stdout, res.Baseline.String())
	}
	if res.Report != nil {
		fmt.Fprintln(stdout, "learned model:")
		fmt.Fprintln(stdout, res.Report.String())
	}
	switch {
	case errors.Is(err, propensity.ErrTorchUnavailable):
		return fmt.Errorf("%w\n(the decision log and the baseline above were read and evaluated; build with: models/torch/env.sh go build -tags torch ./cmd/kairos)", err)
	case errors.Is(err, propensity.ErrTooFewExamples):
		return fmt.Errorf("%w (lower --min-examples, or let next-best-action log more decisions with features)", err)
	case err != nil:
		return err
	case res.Written:
		fmt.Fprintf(stdout, "wrote %s in %s; a running kairos serve picks it up on SIGHUP or POST /v1/admin/reload\n", cfg.Out, res.Duration.Round(time.Millisecond))
	default:
		fmt.Fprintf(stdout, "kept the model in service: %s is unchanged\n", cfg.Out)
	}
	return nil
}
