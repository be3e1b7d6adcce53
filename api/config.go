package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-engine/kairos/api/auth"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
)

// Sentinel errors of the package.
var (
	// ErrInvalidConfig is wrapped by New when the Config cannot work; the
	// message names the field.
	ErrInvalidConfig = errors.New("api: invalid config")
	// ErrAlreadyRunning is returned by Run when the server was started
	// before: a Server serves one listener once.
	ErrAlreadyRunning = errors.New("api: server already started")
)

// Default values of Config.
const (
	DefaultAddr               = "127.0.0.1:8080"
	DefaultMaxRequestBodySize = 1 << 20
	DefaultReadTimeout        = 5 * time.Second
	DefaultWriteTimeout       = 5 * time.Second
	DefaultIdleTimeout        = 60 * time.Second
	DefaultShutdownTimeout    = 10 * time.Second
)

// Config configures a Server. Store and PartitionOf are required; every
// other field has a default applied by New.
type Config struct {
	// Addr is the TCP listen address. Default DefaultAddr (loopback only);
	// port 0 picks a free port, which Server.Addr reports.
	Addr string
	// Store is the state the API reads. Required.
	Store *state.Store
	// PartitionOf maps a contact id value (a Key's Value) to its partition:
	// the engine's placement. Required.
	PartitionOf func(id string) int32
	// Ready reports whether the engine serves current state: nil when
	// ready, otherwise an error whose text says what it is waiting for
	// ("restoring partition 3 from the changelog"). It is called on every
	// /v1 request and must be cheap (an atomic load). Default: always ready.
	Ready func() error
	// Gatherer is exposed on GET /metrics. Default nil: /metrics is 404.
	Gatherer prometheus.Gatherer
	// Registerer receives the API's own metrics. Default nil: none.
	Registerer prometheus.Registerer
	// Logger receives server errors. Default slog.Default().
	Logger *slog.Logger
	// MaxRequestBodySize bounds request bodies; a larger one is answered
	// 413 before routing. Default DefaultMaxRequestBodySize (1 MiB).
	MaxRequestBodySize int
	// ReadTimeout bounds reading one request, WriteTimeout writing one
	// response, IdleTimeout waiting for the next request on a keep-alive
	// connection. Defaults 5s, 5s, 60s.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown when Run's context is
	// cancelled: requests in flight get this long to finish. Default 10s.
	ShutdownTimeout time.Duration
	// Now is the clock of read-time scores (decay to "now"). Default
	// time.Now.
	Now func() time.Time
	// Models is the scoring snapshot profiles are scored with; nil: no
	// "scores" object.
	Models *atomic.Pointer[scoring.Models]
	// Erase asks the owner of a contact to erase it (GDPR erasure);
	// stream.Engine.RequestErase. nil: DELETE answers 503.
	Erase func(ctx context.Context, key state.Key) error
	// Population serves /v1/segments, /v1/models/churn and fits at past
	// instants for ?at=; nil: those routes answer 503.
	Population Population
	// Learned are the bring-your-own models served as scores.models in
	// profiles (learned.go); nil: no "models" object.
	Learned LearnedModels
	// Reload reloads what POST /v1/admin/reload reloads (kairos serve:
	// the models directory); nil: that route answers 503.
	Reload func() error

	// Security: keys, CORS, rate and connection limits (cors.go,
	// limits.go, package auth).

	// Keys are the API keys the server accepts; Server.SetKeys swaps them
	// on reload. nil turns authentication, CORS and rate limiting off:
	// every route is open to anyone. That is for tests and embedding
	// only; kairos serve and demo always pass keys, and New logs a
	// warning without them.
	Keys *auth.Keyring
	// Routes is the route → scope table. Default auth.DefaultRoutes().
	Routes []auth.Route
	// RateLimit is the average number of requests per second a key may
	// make and RateBurst how many it may make at once, unless the key sets
	// its own. Defaults DefaultRateLimit and DefaultRateBurst.
	RateLimit float64
	RateBurst int
	// MaxRateLimitedKeys bounds the rate limiter's memory: the number of
	// keys with a bucket. Default DefaultMaxRateLimitedKeys.
	MaxRateLimitedKeys int
	// CORSMaxAge is how long a browser may cache a preflight answer.
	// Default DefaultCORSMaxAge.
	CORSMaxAge time.Duration
	// MaxHeaderSize bounds the request line and headers together (the
	// fasthttp read buffer); larger ones are answered 431. Default
	// DefaultMaxHeaderSize (8 KiB).
	MaxHeaderSize int
	// Concurrency is the most connections served at once; beyond it
	// fasthttp answers 503 and closes. Default DefaultConcurrency.
	Concurrency int
	// MaxConnsPerIP caps concurrent connections from one client address.
	// Default 0, no cap: behind a load balancer or a NAT every
	// connection comes from few addresses; set it when clients connect
	// directly.
	MaxConnsPerIP int
	// NBA configures next-best-action, send time and decision outcomes
	// (nba.go); its zero value leaves those routes answering 503.
	NBA NBA
	// Triggers serves /v1/contacts/{id}/timers and /pressure from the
	// trigger engine (triggers.go); nil: those routes answer 503.
	Triggers Triggers
}

// withDefaults returns cfg with every unset field defaulted.
func (cfg Config) withDefaults() Config {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Ready == nil {
		cfg.Ready = func() error { return nil }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRequestBodySize == 0 {
		cfg.MaxRequestBodySize = DefaultMaxRequestBodySize
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg.withSecurityDefaults()
}

// Validate reports the first field that cannot work, wrapping
// ErrInvalidConfig. Zero values that have a default are valid.
func (cfg Config) Validate() error {
	switch {
	case cfg.Store == nil:
		return fmt.Errorf("%w: Store is nil; open the state store first and pass it", ErrInvalidConfig)
	case cfg.PartitionOf == nil:
		return fmt.Errorf("%w: PartitionOf is nil; pass the engine's placement function", ErrInvalidConfig)
	case cfg.MaxRequestBodySize < 0:
		return fmt.Errorf("%w: MaxRequestBodySize is %d; use a positive size or 0 for the default",
			ErrInvalidConfig, cfg.MaxRequestBodySize)
	case cfg.ReadTimeout < 0, cfg.WriteTimeout < 0, cfg.IdleTimeout < 0, cfg.ShutdownTimeout < 0:
		return fmt.Errorf("%w: negative timeout (read %s, write %s, idle %s, shutdown %s); use a positive duration or 0 for the default",
			ErrInvalidConfig, cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout, cfg.ShutdownTimeout)
	}
	return cfg.validateSecurity()
}
