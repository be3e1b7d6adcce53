package api

import (
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kairos-engine/kairos/api/auth"
)

// Default values of the security fields of Config.
const (
	// DefaultRateLimit and DefaultRateBurst: per key. A public key is
	// shared by every browser of a site, so the default is generous;
	// give a busy site's key its own rate in the keys file.
	DefaultRateLimit          = 1000
	DefaultRateBurst          = 2000
	DefaultMaxRateLimitedKeys = 10_000
	DefaultCORSMaxAge         = 10 * time.Minute
	// DefaultMaxHeaderSize holds a bearer token, a browser's usual
	// headers and an id-sized query with room to spare, and is what
	// common proxies allow per header line.
	DefaultMaxHeaderSize = 8 << 10
	// DefaultConcurrency: each connection holds a read buffer of
	// MaxHeaderSize and a 4 KiB write buffer, so 10,000 connections cost
	// about 120 MiB at most.
	DefaultConcurrency = 10_000
)

func (cfg Config) withSecurityDefaults() Config {
	if cfg.Routes == nil {
		cfg.Routes = auth.DefaultRoutes()
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = DefaultRateBurst
	}
	if cfg.MaxRateLimitedKeys == 0 {
		cfg.MaxRateLimitedKeys = DefaultMaxRateLimitedKeys
	}
	if cfg.CORSMaxAge == 0 {
		cfg.CORSMaxAge = DefaultCORSMaxAge
	}
	if cfg.MaxHeaderSize == 0 {
		cfg.MaxHeaderSize = DefaultMaxHeaderSize
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	return cfg
}

func (cfg Config) validateSecurity() error {
	switch {
	case math.IsNaN(cfg.RateLimit) || cfg.RateLimit < 0:
		return fmt.Errorf("%w: RateLimit is %v; use a positive number of requests per second, math.Inf(1) for no limit, or 0 for the default",
			ErrInvalidConfig, cfg.RateLimit)
	case cfg.RateBurst < 0:
		return fmt.Errorf("%w: RateBurst is %d; use a positive number of requests or 0 for the default", ErrInvalidConfig, cfg.RateBurst)
	case cfg.MaxRateLimitedKeys < 0:
		return fmt.Errorf("%w: MaxRateLimitedKeys is %d; use a positive number or 0 for the default", ErrInvalidConfig, cfg.MaxRateLimitedKeys)
	case cfg.CORSMaxAge < 0:
		return fmt.Errorf("%w: CORSMaxAge is %s; use a positive duration or 0 for the default", ErrInvalidConfig, cfg.CORSMaxAge)
	case cfg.MaxHeaderSize < 0 || cfg.MaxHeaderSize > 0 && cfg.MaxHeaderSize < 1024:
		return fmt.Errorf("%w: MaxHeaderSize is %d; use at least 1024 bytes (a bearer token and the usual headers), or 0 for the default",
			ErrInvalidConfig, cfg.MaxHeaderSize)
	case cfg.Concurrency < 0:
		return fmt.Errorf("%w: Concurrency is %d; use a positive number of connections or 0 for the default", ErrInvalidConfig, cfg.Concurrency)
	case cfg.MaxConnsPerIP < 0:
		return fmt.Errorf("%w: MaxConnsPerIP is %d; use a positive number, or 0 for no cap", ErrInvalidConfig, cfg.MaxConnsPerIP)
	}
	if _, err := auth.NewRouteTable(cfg.Routes); err != nil {
		return fmt.Errorf("%w: Routes: %w", ErrInvalidConfig, err)
	}
	return nil
}

// ConfigureServer applies the limits of cfg (with defaults applied) to a
// fasthttp.Server, so that slow or malformed clients cannot exhaust it:
// body size (413), request line and header size (431), read, write and
// idle timeouts (a slow client is cut off after ReadTimeout for the whole
// request), the number of connections served at once and per client
// address. It also keeps request bytes out of fasthttp's error texts,
// which otherwise quote the start of a malformed request, Authorization
// header included, into the log and the 400 answer.
func (cfg Config) ConfigureServer(srv *fasthttp.Server) {
	srv.MaxRequestBodySize = cfg.MaxRequestBodySize
	srv.ReadBufferSize = cfg.MaxHeaderSize
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.IdleTimeout = cfg.IdleTimeout
	srv.Concurrency = cfg.Concurrency
	srv.MaxConnsPerIP = cfg.MaxConnsPerIP
	srv.SecureErrorLogMessage = true
	// Requests are read whole (bounded by MaxRequestBodySize) before
	// the handler runs; never hand a handler a half-read stream.
	srv.StreamRequestBody = false
}

// rateLimiter holds one token bucket per key id. Its memory is bounded:
// at most maxKeys buckets. When a shard is full, a bucket that has
// refilled completely is dropped first (it is indistinguishable from a
// new one, so nothing is lost); failing that, the fullest of a sample,
// which grants that key at most one extra burst.
type rateLimiter struct {
	seed     maphash.Seed
	perShard int
	epoch    time.Time
	now      func() time.Duration // since epoch; a test clock in tests
	shards   [limiterShards]limiterShard
}

const (
	limiterShards = 16
	// evictSample is how many buckets a full shard looks at to choose
	// one to drop.
	evictSample = 8
)

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	_       [40]byte // keep shards on separate cache lines
}

type bucket struct {
	tokens float64
	last   time.Duration // when tokens was computed
	rate   float64
	burst  float64
}

// refill brings the bucket to now.
func (b *bucket) refill(now time.Duration) {
	if now > b.last {
		b.tokens = min(b.burst, b.tokens+b.rate*(now-b.last).Seconds())
		b.last = now
	}
}

func newRateLimiter(maxKeys int) *rateLimiter {
	l := &rateLimiter{
		seed:     maphash.MakeSeed(),
		perShard: max(1, (maxKeys+limiterShards-1)/limiterShards),
		epoch:    time.Now(),
	}
	l.now = func() time.Duration { return time.Since(l.epoch) }
	for i := range l.shards {
		l.shards[i].buckets = make(map[string]*bucket)
	}
	return l
}

// allow takes one token from id's bucket, creating it full. rate is in
// tokens per second (+Inf: no limit), burst the bucket's size. When the
// bucket is empty it reports false and how long until a token is back.
// A change of rate or burst (a key redefined on reload) applies at once.
func (l *rateLimiter) allow(id string, rate float64, burst int) (bool, time.Duration) {
	if math.IsInf(rate, 1) {
		return true, 0
	}
	now := l.now()
	sh := &l.shards[maphash.String(l.seed, id)%limiterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.buckets[id]
	if b == nil {
		if len(sh.buckets) >= l.perShard {
			sh.evict(now)
		}
		b = &bucket{tokens: float64(burst), last: now}
		sh.buckets[id] = b
	}
	b.rate, b.burst = rate, float64(burst)
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / rate * float64(time.Second))
	return false, wait
}

// evict drops one bucket of a full shard; the caller holds the lock.
func (sh *limiterShard) evict(now time.Duration) {
	var (
		victim string
		best   = -1.0
		n      = 0
	)
	// Map iteration starts at a random place: a cheap random sample.
	for id, b := range sh.buckets {
		b.refill(now)
		if b.tokens >= b.burst {
			victim = id
			break
		}
		if fill := b.tokens / b.burst; fill > best {
			victim, best = id, fill
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(sh.buckets, victim)
}

// len returns the number of buckets, for tests.
func (l *rateLimiter) len() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].buckets)
		l.shards[i].mu.Unlock()
	}
	return n
}

// retryAfterSeconds is the Retry-After value for a wait: whole seconds,
// rounded up, at least 1.
func retryAfterSeconds(wait time.Duration) int {
	s := int((wait + time.Second - 1) / time.Second)
	return max(1, s)
}
