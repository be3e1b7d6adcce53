package main

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-engine/kairos/api"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/trigger"
)

// triggerSetup is the triggers section of the configuration, validated.
type triggerSetup struct {
	off bool
	// rules is the rule set; nil means the shipped default rules.
	rules                *trigger.RuleSet
	lateness, idle, tick time.Duration
}

// triggerSetup reads the triggers section: the rule file is parsed here,
// so that its errors (file:line: field: message) stop the start.
func (cfg *fileConfig) triggerSetup() (triggerSetup, error) {
	tc := cfg.Triggers
	ts := triggerSetup{
		off:      tc.Enabled != nil && !*tc.Enabled,
		lateness: time.Duration(tc.Lateness),
		idle:     time.Duration(tc.Idle),
		tick:     time.Duration(tc.Tick),
	}
	if tc.Rules != "" && !ts.off {
		rs, err := trigger.LoadRules(tc.Rules)
		if err != nil {
			return ts, fmt.Errorf("triggers.rules: %w", err)
		}
		ts.rules = rs
	}
	return ts, nil
}

// triggerTopics is the configured trigger topic names (empty: defaults).
func (cfg *fileConfig) triggerTopics() trigger.Topics {
	t := cfg.Triggers.Topics
	return trigger.Topics{Email: t.Email, SMS: t.SMS, Push: t.Push, Sales: t.Sales}
}

// buildTriggers builds the trigger engine over the configured rules (the
// shipped default when none) and topic names, its funnel metrics
// registered on reg. It returns what the stream engine and the API take.
func buildTriggers(ts triggerSetup, topics trigger.Topics, reg prometheus.Registerer) (stream.Triggers, api.Triggers, error) {
	if ts.off {
		return stream.Triggers{}, nil, nil
	}
	rs := ts.rules
	if rs == nil {
		var err error
		if rs, err = trigger.DefaultRules(); err != nil {
			return stream.Triggers{}, nil, fmt.Errorf("shipped trigger rules: %w", err)
		}
	}
	eng, err := trigger.NewEngine(rs, stream.TriggerTopics(topics), trigger.NewMetrics(reg))
	if err != nil {
		return stream.Triggers{}, nil, fmt.Errorf("trigger rules %s: %w", rs.Source(), err)
	}
	p := new(atomic.Pointer[trigger.Engine])
	p.Store(eng)
	return stream.Triggers{Engine: p, Lateness: ts.lateness, Idle: ts.idle, Tick: ts.tick}, triggerAPI{p}, nil
}

// triggerAPI adapts the trigger engine in force to api.Triggers.
type triggerAPI struct {
	eng *atomic.Pointer[trigger.Engine]
}

func (a triggerAPI) Timers(ts []state.Timer) ([]api.PendingTimer, error) {
	out := make([]api.PendingTimer, 0, len(ts))
	for i := range ts {
		ti, err := trigger.DescribeTimer(&ts[i])
		if err != nil {
			return nil, err
		}
		out = append(out, api.PendingTimer{
			Name: ti.Name, Rule: ti.Rule, Kind: ti.Kind, Due: ti.Due, CauseAt: ti.CauseAt,
			Source: ti.Source.String(), Reason: ti.Reason,
		})
	}
	return out, nil
}

func (a triggerAPI) Pressure(c *state.Contact, at int64) ([]api.ChannelPressure, bool) {
	eng := a.eng.Load()
	if eng == nil {
		return nil, false
	}
	var cs trigger.ContactState
	// A state that does not decode is what the worker resets too: no
	// history.
	_ = cs.UnmarshalBinary(c.Triggers)
	ps := eng.Pressure(c, &cs, at)
	out := make([]api.ChannelPressure, 0, len(ps))
	for _, p := range ps {
		cp := api.ChannelPressure{Channel: p.Channel.String(), NextAllowed: p.NextAllowed, Reason: string(p.Reason)}
		for i, c := range p.Caps {
			pc := api.PressureCap{Max: c.Max, Per: c.Per}
			if i < len(p.Sent) {
				pc.Sent = p.Sent[i]
			}
			cp.Caps = append(cp.Caps, pc)
		}
		out = append(out, cp)
	}
	return out, true
}
