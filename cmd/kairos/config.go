package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kairos-engine/kairos/models/churn"
	"github.com/kairos-engine/kairos/models/rfm"
	"github.com/kairos-engine/kairos/models/scoring"
)

// fileConfig is the YAML configuration file of `kairos serve --config`.
// Every field is optional; flags given on the command line win over it.
type fileConfig struct {
	Kafka struct {
		Brokers           []string `yaml:"brokers"`
		Group             string   `yaml:"group"`
		InstanceID        string   `yaml:"instance_id"`
		Partitions        int32    `yaml:"partitions"`
		ReplicationFactor int16    `yaml:"replication_factor"`
		Topics            struct {
			Clickstream string `yaml:"clickstream"`
			Orders      string `yaml:"orders"`
			Email       string `yaml:"email"`
			Rekey       string `yaml:"rekey"`
			DeadLetter  string `yaml:"deadletter"`
			Decisions   string `yaml:"decisions"`
		} `yaml:"topics"`
		TLS struct {
			Enabled            bool   `yaml:"enabled"`
			CAFile             string `yaml:"ca_file"`
			CertFile           string `yaml:"cert_file"`
			KeyFile            string `yaml:"key_file"`
			InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
		} `yaml:"tls"`
		SASL struct {
			Mechanism string `yaml:"mechanism"`
			Username  string `yaml:"username"`
			Password  string `yaml:"password"`
		} `yaml:"sasl"`
	} `yaml:"kafka"`
	State struct {
		DataDir     string `yaml:"data_dir"`
		Sync        bool   `yaml:"sync"`
		CacheMB     int    `yaml:"cache_mb"`
		HotContacts int    `yaml:"hot_contacts"`
	} `yaml:"state"`
	Events struct {
		MaxSize   int      `yaml:"max_size"`
		MaxFuture duration `yaml:"max_future"`
	} `yaml:"events"`
	HTTP struct {
		Addr string `yaml:"addr"`
		// KeysFile lists API keys by SHA-256 hash (api/auth); keys may
		// also come from KAIROS_ADMIN_KEYS, KAIROS_READ_KEYS and
		// KAIROS_PUBLIC_KEYS.
		KeysFile string `yaml:"keys_file"`
	} `yaml:"http"`
	Log struct {
		Format string `yaml:"format"`
		Level  string `yaml:"level"`
	} `yaml:"log"`
	Retention struct {
		EventHistory     duration `yaml:"event_history"`
		InactiveContacts duration `yaml:"inactive_contacts"`
	} `yaml:"retention"`
	Scores struct {
		// LeadPlan is a lead-scoring plan file (models/lead); empty: the
		// shipped default plan.
		LeadPlan        string   `yaml:"lead_plan"`
		RFMWindowDays   int      `yaml:"rfm_window_days"`
		CLVMonths       int      `yaml:"clv_months"`
		MonthlyDiscount float64  `yaml:"monthly_discount"`
		LowRiskAt       float64  `yaml:"low_risk_at"`
		HighRiskBelow   float64  `yaml:"high_risk_below"`
		LapsedBelow     float64  `yaml:"lapsed_below"`
		Refresh         duration `yaml:"refresh"`
		FitTimeout      duration `yaml:"fit_timeout"`
	} `yaml:"scores"`
	NBA nbaFileConfig `yaml:"nba"` // nba.go
	// Triggers configures the trigger engine (triggers.go).
	Triggers struct {
		// Enabled turns triggers off when false; default on.
		Enabled *bool `yaml:"enabled"`
		// Rules is a trigger rule file (stream/trigger); empty: the
		// shipped default rules.
		Rules string `yaml:"rules"`
		// Lateness is how long timers wait for late events (default
		// 0); Idle the wall time after which a silent input topic stops
		// holding timers back (default 30s); Tick how often an idle
		// partition checks its timers (default 1s).
		Lateness duration `yaml:"lateness"`
		Idle     duration `yaml:"idle"`
		Tick     duration `yaml:"tick"`
		// Topics names the trigger topics; default
		// kairos.triggers.<channel>.
		Topics struct {
			Email string `yaml:"email"`
			SMS   string `yaml:"sms"`
			Push  string `yaml:"push"`
			Sales string `yaml:"sales"`
		} `yaml:"topics"`
	} `yaml:"triggers"`
	Models modelsConfig `yaml:"models"` // models.go
}

// duration parses Go duration text ("24h", "90s") from YAML.
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 90s or 24h", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}

// configError locates a bad value: file, line and the field's path.
type configError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *configError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// loadConfig reads and validates a configuration file. Unknown fields are
// errors, so a typo does not silently fall back to a default.
func loadConfig(path string) (*fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	var cfg fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	bad := func(field, msg string) error {
		return &configError{File: path, Line: lineOf(&root, field), Field: field, Msg: msg}
	}
	k := &cfg.Kafka
	switch {
	case k.Partitions < 0:
		return nil, bad("kafka.partitions", "must be positive")
	case k.ReplicationFactor < -1 || k.ReplicationFactor == 0 && hasField(&root, "kafka.replication_factor"):
		return nil, bad("kafka.replication_factor", "must be -1 (broker default) or at least 1")
	case cfg.State.CacheMB < 0:
		return nil, bad("state.cache_mb", "must not be negative")
	case cfg.State.HotContacts < 0:
		return nil, bad("state.hot_contacts", "must not be negative")
	case cfg.Events.MaxSize < 0 || cfg.Events.MaxSize > 16<<20:
		return nil, bad("events.max_size", "must be between 1 and 16777216 bytes")
	case cfg.Events.MaxFuture < 0:
		return nil, bad("events.max_future", "must not be negative")
	case cfg.Scores.RFMWindowDays < 0 || cfg.Scores.RFMWindowDays > rfm.MaxWindowDays:
		return nil, bad("scores.rfm_window_days", fmt.Sprintf("must be between 1 and %d days", rfm.MaxWindowDays))
	case cfg.Scores.CLVMonths < 0 || cfg.Scores.CLVMonths > churn.MaxCLVMonths:
		return nil, bad("scores.clv_months", fmt.Sprintf("must be between 1 and %d", churn.MaxCLVMonths))
	case cfg.Scores.MonthlyDiscount < 0 || cfg.Scores.MonthlyDiscount >= 1:
		return nil, bad("scores.monthly_discount", "must be a rate per month in [0, 1), like 0.01 for 1%")
	case cfg.Scores.LowRiskAt < 0 || cfg.Scores.LowRiskAt > 1:
		return nil, bad("scores.low_risk_at", "must be a probability in (0, 1]")
	case cfg.Scores.HighRiskBelow < 0 || cfg.Scores.HighRiskBelow > 1:
		return nil, bad("scores.high_risk_below", "must be a probability in (0, 1)")
	case cfg.Scores.LapsedBelow < 0 || cfg.Scores.LapsedBelow > 1:
		return nil, bad("scores.lapsed_below", "must be a probability in (0, 1]")
	case cfg.Scores.Refresh < 0 || cfg.Scores.Refresh > 0 && cfg.Scores.Refresh < duration(time.Second):
		return nil, bad("scores.refresh", "must be at least 1s")
	case cfg.Retention.EventHistory < 0 || cfg.Retention.EventHistory > 0 && cfg.Retention.EventHistory < duration(time.Hour):
		return nil, bad("retention.event_history", "must be at least 1h (or 0: no limit)")
	case cfg.Retention.InactiveContacts < 0 || cfg.Retention.InactiveContacts > 0 && cfg.Retention.InactiveContacts < duration(24*time.Hour):
		return nil, bad("retention.inactive_contacts", "must be at least 24h (or 0: off)")
	case cfg.Scores.FitTimeout < 0:
		return nil, bad("scores.fit_timeout", "must not be negative")
	case cfg.Triggers.Lateness < 0:
		return nil, bad("triggers.lateness", "must not be negative")
	case cfg.Triggers.Idle < 0:
		return nil, bad("triggers.idle", "must not be negative")
	case cfg.Triggers.Tick < 0 || cfg.Triggers.Tick > 0 && cfg.Triggers.Tick < duration(10*time.Millisecond):
		return nil, bad("triggers.tick", "must be at least 10ms")
	}
	if field, msg := cfg.Models.validate(); field != "" {
		return nil, bad(field, msg)
	}
	if err := cfg.scoringConfig().Validate(); err != nil {
		return nil, bad("scores", err.Error())
	}
	if err := cfg.NBA.validate(bad); err != nil { // nba.go
		return nil, err
	}
	for i, b := range k.Brokers {
		if !strings.Contains(b, ":") {
			return nil, bad(fmt.Sprintf("kafka.brokers[%d]", i), fmt.Sprintf("%q needs a port, like host:9092", b))
		}
	}
	switch strings.ToLower(k.SASL.Mechanism) {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		return nil, bad("kafka.sasl.mechanism", fmt.Sprintf("%q is not one of plain, scram-sha-256, scram-sha-512", k.SASL.Mechanism))
	}
	if k.SASL.Mechanism != "" && k.SASL.Username == "" {
		return nil, bad("kafka.sasl.username", "required when a SASL mechanism is set")
	}
	switch cfg.Log.Format {
	case "", "json", "text":
	default:
		return nil, bad("log.format", fmt.Sprintf("%q is not json or text", cfg.Log.Format))
	}
	switch strings.ToLower(cfg.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		return nil, bad("log.level", fmt.Sprintf("%q is not debug, info, warn or error", cfg.Log.Level))
	}
	// Secrets may be given as ${ENV_VAR} so the file can be committed.
	k.SASL.Password = os.ExpandEnv(k.SASL.Password)
	return &cfg, nil
}

// scoringConfig is the scores section as models/scoring's Config.
func (cfg *fileConfig) scoringConfig() scoring.Config {
	sc := cfg.Scores
	return scoring.Config{
		RFM:             rfm.Config{WindowDays: sc.RFMWindowDays},
		CLVMonths:       sc.CLVMonths,
		MonthlyDiscount: sc.MonthlyDiscount,
		LowRiskAt:       sc.LowRiskAt,
		HighRiskBelow:   sc.HighRiskBelow,
		LapsedBelow:     sc.LapsedBelow,
	}
}

// lineOf returns the line of a dotted field path ("kafka.tls.ca_file",
// "kafka.brokers[1]"), or of the deepest parent present.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, part := range strings.Split(path, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			fmt.Sscanf(part[i:], "[%d]", &idx)
		}
		next := mappingValue(n, name)
		if next == nil {
			return line
		}
		n, line = next, next.Line
		if idx >= 0 && n.Kind == yaml.SequenceNode && idx < len(n.Content) {
			n, line = n.Content[idx], n.Content[idx].Line
		}
	}
	return line
}

func hasField(root *yaml.Node, path string) bool {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, part := range strings.Split(path, ".") {
		if n = mappingValue(n, part); n == nil {
			return false
		}
	}
	return true
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
