package sendtime

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
)

// FilterConfig is the rule that calls an open machine-generated: mail
// privacy proxies and security scanners fetch the tracking pixel at
// delivery, whatever the person does, and would teach the model that
// everybody engages the second a message arrives.
type FilterConfig struct {
	// MinDelay: an open sooner than this after delivery (or send) is a
	// machine's. Default 10s; negative disables the rule.
	MinDelay time.Duration `yaml:"min_delay"`
	// UserAgents: an open whose user agent contains one of these
	// (ASCII case-insensitive) is a machine's. Default DefaultUserAgents.
	UserAgents []string `yaml:"user_agents"`
	// Networks: an open from an address in one of these CIDR prefixes is
	// a machine's. Default none (publish your provider's proxy ranges).
	Networks []string `yaml:"networks"`
}

// DefaultUserAgents are known image proxies and link scanners.
var DefaultUserAgents = []string{"GoogleImageProxy", "YahooMailProxy", "Barracuda", "Mimecast", "Proofpoint", "Symantec", "Forcepoint"}

// Verdict is why Filter.Check called an open machine-generated.
type Verdict uint8

// Verdicts; Human is the zero value.
const (
	Human Verdict = iota
	MachineFast
	MachineUserAgent
	MachineNetwork
	numVerdicts
)

var verdictNames = [numVerdicts]string{"human", "too_fast", "user_agent", "network"}

func (v Verdict) String() string {
	if v < numVerdicts {
		return verdictNames[v]
	}
	return "unknown"
}

// Verdicts returns every verdict, for pre-registering metric labels.
func Verdicts() []Verdict { return []Verdict{Human, MachineFast, MachineUserAgent, MachineNetwork} }

// Filter applies a FilterConfig and counts its verdicts. It is safe for
// concurrent use (the counts are atomic), so all partition workers can
// share one.
type Filter struct {
	minDelay int64    // ms; < 0 disabled
	agents   [][]byte // lower-case
	nets     []netip.Prefix
	counts   [numVerdicts]atomic.Uint64
}

// NewFilter validates a configuration. Zero fields take their defaults.
func NewFilter(cfg FilterConfig) (*Filter, error) {
	f := &Filter{minDelay: (10 * time.Second).Milliseconds()}
	if cfg.MinDelay != 0 {
		f.minDelay = cfg.MinDelay.Milliseconds()
		if cfg.MinDelay < 0 {
			f.minDelay = -1
		}
	}
	agents := cfg.UserAgents
	if agents == nil {
		agents = DefaultUserAgents
	}
	for i, a := range agents {
		a = strings.TrimSpace(a)
		if a == "" || len(a) > 128 {
			return nil, fmt.Errorf("sendtime filter: user_agents[%d]: must be 1 to 128 bytes", i)
		}
		f.agents = append(f.agents, []byte(strings.ToLower(a)))
	}
	for i, n := range cfg.Networks {
		p, err := netip.ParsePrefix(strings.TrimSpace(n))
		if err != nil {
			return nil, fmt.Errorf("sendtime filter: networks[%d]: %q is not a CIDR prefix like 17.0.0.0/8: %w", i, n, err)
		}
		f.nets = append(f.nets, p.Masked())
	}
	return f, nil
}

// Check classifies one open: deliveredAt and openedAt are Unix ms
// (deliveredAt 0 when unknown; use the send time when no delivery was
// seen), userAgent and ip as the tracking pixel's request carried them
// ("" when unknown). The fold calls it before adding an open to the
// histogram and skips the open unless the verdict is Human. Each verdict
// is counted. It allocates nothing for user agents up to 512 bytes.
func (f *Filter) Check(deliveredAt, openedAt int64, userAgent, ip string) Verdict {
	v := f.check(deliveredAt, openedAt, userAgent, ip)
	f.counts[v].Add(1)
	return v
}

func (f *Filter) check(deliveredAt, openedAt int64, userAgent, ip string) Verdict {
	if f.minDelay >= 0 && deliveredAt > 0 && openedAt >= deliveredAt && openedAt-deliveredAt < f.minDelay {
		return MachineFast
	}
	if userAgent != "" && len(f.agents) > 0 {
		var buf [512]byte
		ua := buf[:0]
		for i := 0; i < len(userAgent) && i < len(buf); i++ {
			c := userAgent[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			ua = append(ua, c)
		}
		for _, a := range f.agents {
			if bytes.Contains(ua, a) {
				return MachineUserAgent
			}
		}
	}
	if ip != "" && len(f.nets) > 0 {
		if addr, err := netip.ParseAddr(ip); err == nil {
			addr = addr.Unmap()
			for _, p := range f.nets {
				if p.Contains(addr) {
					return MachineNetwork
				}
			}
		}
	}
	return Human
}

// Count returns how many opens got a verdict.
func (f *Filter) Count(v Verdict) uint64 {
	if v >= numVerdicts {
		return 0
	}
	return f.counts[v].Load()
}
