// Package broker runs the embedded Kafka-protocol broker that `kairos demo`
// and `kairos serve` without --brokers use: franz-go's kfake, a real Kafka
// wire-protocol implementation (consumer groups, idempotent and
// transactional produce, compaction), persisted to disk so that a restart
// keeps topics, records and committed offsets.
//
// The engine talks to it over TCP exactly as it talks to a Kafka cluster;
// nothing in the engine knows the broker is embedded.
package broker

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config configures the embedded broker.
type Config struct {
	// Listen is the TCP address to listen on. Default "127.0.0.1:9092";
	// port 0 picks a free one.
	Listen string
	// DataDir persists topics, records and group offsets. Empty keeps
	// everything in memory (tests).
	DataDir string
	// Partitions is the default partition count of auto-created topics.
	// Default 8.
	Partitions int
	// SyncWrites fsyncs every produced batch. Default false: records
	// survive a process crash (they are in the OS page cache) but not a
	// power loss, as with Kafka's default flush settings.
	SyncWrites bool
}

// Broker is a running embedded broker.
type Broker struct {
	c    *kfake.Cluster
	addr string
}

// Start starts the broker.
func Start(cfg Config) (*Broker, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:9092"
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 8
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w (is another broker or kairos already running? pick another address with --broker-listen)", cfg.Listen, err)
	}
	used := false
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.ClusterID("kairos-embedded"),
		// kfake asks for one listener per broker; hand it the one we
		// opened so the requested address (and a port-0 choice) holds.
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			if used {
				return nil, errors.New("embedded broker: only one listener")
			}
			used = true
			return ln, nil
		}),
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			ln.Close()
			return nil, fmt.Errorf("embedded broker: data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{c: c, addr: ln.Addr().String()}, nil
}

// Addr returns the address clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Cluster exposes the kfake cluster to tests (fault injection, compaction).
func (b *Broker) Cluster() *kfake.Cluster { return b.c }

// Close stops the broker, persisting its state when it has a data dir.
func (b *Broker) Close() { b.c.Close() }
