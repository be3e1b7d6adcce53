package main

import (
	"context"
	"fmt"
	"github.com/cespare/xxhash/v2"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/api"
	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/sendtime"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/bandit"
	"github.com/kairos-engine/kairos/stream/sendprior"
)

// nbaFileConfig is the nba section of the configuration file:
// next-best-action and send time.
type nbaFileConfig struct {
	// Catalogue is an action catalogue file (models/nba); empty: the
	// shipped default catalogue.
	Catalogue string `yaml:"catalogue"`
	// Budget is the next-best-action latency budget (default 50ms).
	Budget duration `yaml:"budget"`
	// Refresh is how often the policy is rebuilt from the merged
	// statistics (default 5s).
	Refresh duration `yaml:"refresh"`
	// LogFeatures puts the contact's feature vector in every decision
	// record, the training data of the propensity model (default true).
	LogFeatures *bool `yaml:"log_features"`
	// LearnedPropensity lets a promoted propensity model and
	// bring-your-own models that name an action take part in arbitration
	// (default true).
	LearnedPropensity *bool `yaml:"learned_propensity"`
	SendTime          struct {
		// Explore is the share of send-time answers that explore (default 0.05).
		Explore *float64 `yaml:"explore"`
		// Sensitivity is the timing-dependent share of engagement (default 0.5).
		Sensitivity float64 `yaml:"sensitivity"`
		// Refresh is how often the population prior is refitted (default 5m).
		Refresh duration `yaml:"refresh"`
		// MachineOpens is the rule that calls an open machine-generated.
		MachineOpens sendtime.FilterConfig `yaml:"machine_opens"`
	} `yaml:"send_time"`
}

// defaultExplore is the share of send-time answers that explore when the
// file does not say.
const defaultExplore = 0.05

// validate checks the nba section; bad builds the located error.
func (c *nbaFileConfig) validate(bad func(field, msg string) error) error {
	switch {
	case c.Budget < 0:
		return bad("nba.budget", "must not be negative")
	case c.Refresh < 0 || c.Refresh > 0 && c.Refresh < duration(100*time.Millisecond):
		return bad("nba.refresh", "must be at least 100ms")
	case c.SendTime.Explore != nil && (*c.SendTime.Explore < 0 || *c.SendTime.Explore > 0.5):
		return bad("nba.send_time.explore", "must be a share between 0 and 0.5")
	case c.SendTime.Sensitivity < 0 || c.SendTime.Sensitivity > 1:
		return bad("nba.send_time.sensitivity", "must be between 0 and 1")
	case c.SendTime.Refresh < 0 || c.SendTime.Refresh > 0 && c.SendTime.Refresh < duration(time.Second):
		return bad("nba.send_time.refresh", "must be at least 1s")
	}
	if _, err := sendtime.NewFilter(c.SendTime.MachineOpens); err != nil {
		return bad("nba.send_time.machine_opens", err.Error())
	}
	if c.Catalogue != "" {
		if _, err := nba.LoadCatalogue(c.Catalogue); err != nil {
			return bad("nba.catalogue", err.Error())
		}
	}
	return nil
}

// learning is next-best-action and send time wired together: the policy
// and the prior the API reads, the filter the fold uses, the jobs that
// refresh them and the producer that logs decisions.
type learning struct {
	cfg    nbaFileConfig
	log    *slog.Logger
	policy *atomic.Pointer[nba.Policy]
	fit    *atomic.Pointer[sendtime.Fit]
	filter *sendtime.Filter
	prod   *kgo.Client
	bandit *bandit.Service
	prior  *sendprior.Service
	clicks string
}

// newLearning loads the catalogue and builds the policy, the open filter
// and the producer for decision records.
func newLearning(cfg nbaFileConfig, s *engineSetup) (*learning, error) {
	var cat *nba.Catalogue
	var err error
	if cfg.Catalogue != "" {
		cat, err = nba.LoadCatalogue(cfg.Catalogue)
	} else {
		cat, err = nba.DefaultCatalogue()
	}
	if err != nil {
		return nil, fmt.Errorf("next-best-action catalogue: %w", err)
	}
	filter, err := sendtime.NewFilter(cfg.SendTime.MachineOpens)
	if err != nil {
		return nil, fmt.Errorf("send-time machine opens: %w", err)
	}
	l := &learning{cfg: cfg, log: s.log, policy: new(atomic.Pointer[nba.Policy]), fit: new(atomic.Pointer[sendtime.Fit]),
		filter: filter, clicks: first(s.topics.Clickstream, stream.DefaultTopics().Clickstream)}
	l.policy.Store(nba.NewPolicy(cat, nil))
	l.fit.Store(sendtime.Uniform())
	// Decision records are worth little one by one and must never hold a
	// request up: a bounded buffer, TryProduce, and a short linger.
	l.prod, err = kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(s.brokers...),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(100_000),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
	}, s.clientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("decision producer: %w", err)
	}
	s.log.Info("next-best-action catalogue loaded", "version", cat.Version(), "source", cat.Source(), "actions", len(cat.Actions()))
	return l, nil
}

// services builds the jobs that keep the policy and the prior fresh.
func (l *learning) services(store *state.Store, eng *stream.Engine, reg prometheus.Registerer) error {
	var err error
	l.bandit, err = bandit.New(bandit.Config{Store: store, Policy: l.policy, Partitions: eng.Assigned,
		Interval: time.Duration(l.cfg.Refresh), Logger: l.log, Registerer: reg})
	if err != nil {
		return err
	}
	l.prior, err = sendprior.New(sendprior.Config{Store: store, Fit: l.fit, Partitions: eng.Assigned,
		Interval: time.Duration(l.cfg.SendTime.Refresh), Logger: l.log, Registerer: reg})
	return err
}

// apiConfig is the API's side of it.
func (l *learning) apiConfig() api.NBA {
	explore := l.explore()
	return api.NBA{
		Policy:           l.policy,
		Budget:           time.Duration(l.cfg.Budget),
		Publish:          l.publish,
		ClickstreamTopic: l.clicks,
		Report:           l.bandit.Report,
		Fit:              l.fit,
		Explore:          explore,
		Sensitivity:      l.cfg.SendTime.Sensitivity,
		LogFeatures:      l.cfg.LogFeatures == nil || *l.cfg.LogFeatures,
	}
}

// useLearned says whether learned propensities take part in arbitration.
func (l *learning) useLearned() bool {
	return l.cfg.LearnedPropensity == nil || *l.cfg.LearnedPropensity
}

// publish hands a record to the producer without blocking; the typed
// canonical key travels in kairos.target so the partition worker finds
// the contact the decision was made for.
func (l *learning) publish(topic string, key, target, value []byte, done func(error)) {
	r := &kgo.Record{Topic: topic, Key: key, Value: value}
	if target != nil {
		r.Headers = []kgo.RecordHeader{{Key: stream.HeaderTarget, Value: target}}
	}
	l.prod.TryProduce(context.Background(), r, func(_ *kgo.Record, err error) { done(err) })
}

// close flushes the decision records still buffered, for up to 5s.
func (l *learning) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.prod.Flush(ctx); err != nil {
		l.log.Warn("decision records not flushed at shutdown", "err", err)
	}
	l.prod.Close()
}

// triggerSendTime is the send-time model as the trigger engine asks it:
// the contact's best moment in the day after the trigger, from the
// population prior in force (no prior yet: no recommendation). The
// trigger id seeds the exploration, so a replay recommends the same hour.
func (l *learning) triggerSendTime(c *state.Contact, at int64, seed string) int64 {
	fit := l.fit.Load()
	if fit == nil {
		return 0
	}
	var zone *time.Location
	if c.TimeZone != "" {
		if z, err := time.LoadLocation(c.TimeZone); err == nil {
			zone = z
		}
	}
	from := time.UnixMilli(at)
	var buf [26]sendtime.Hour // Slots(from, 24h) is at most 25
	res, err := sendtime.Predict(sendtime.Input{
		Hist: &c.Engagement.HourOfWeek, Opens: c.Engagement.Opened, Delivered: c.Engagement.Delivered, Zone: zone,
	}, fit, from, 24*time.Hour, sendtime.Options{Explore: l.explore(), Seed: xxhash.Sum64String(seed)}, buf[:])
	if err != nil {
		return 0
	}
	return res.Best.UnixMilli()
}

// explore is the configured share of exploring send-time answers.
func (l *learning) explore() float64 {
	if l.cfg.SendTime.Explore != nil {
		return *l.cfg.SendTime.Explore
	}
	return defaultExplore
}
