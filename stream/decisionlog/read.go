package decisionlog

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/models/nba"
)

// ErrNoTopic: the decision log topic does not exist.
var ErrNoTopic = errors.New("decisionlog: the decision log topic does not exist; next-best-action creates it when it logs its first decision")

// ReadConfig says where the decision log is.
type ReadConfig struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// Topic is the decision log. Default nba.DecisionsTopic.
	Topic string
	// ClientOpts are extra franz-go options (TLS, SASL).
	ClientOpts []kgo.Opt
}

// Read feeds every record of the decision log, from each partition's
// start offset to its end offset at the time of the call, to add (Builder.Add;
// its errors are counted there, not returned). Records produced during
// the read are left for the next one. It returns the number of records
// read.
func Read(ctx context.Context, cfg ReadConfig, add func(value []byte) error) (int, error) {
	if len(cfg.Brokers) == 0 {
		return 0, errors.New("decisionlog: no brokers: give --brokers or kafka.brokers")
	}
	topic := cfg.Topic
	if topic == "" {
		topic = nba.DecisionsTopic
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.ClientOpts...)
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("decisionlog: %w", err)
	}
	adm := kadm.NewClient(admCl)
	starts, ends, err := listOffsets(ctx, adm, topic)
	admCl.Close()
	if err != nil {
		return 0, err
	}
	from := map[int32]kgo.Offset{}
	until := map[int32]int64{}
	for p, end := range ends[topic] {
		start, _ := starts.Lookup(topic, p)
		if end.Offset > start.Offset {
			from[p] = kgo.NewOffset().At(start.Offset)
			until[p] = end.Offset
		}
	}
	if len(from) == 0 {
		return 0, nil
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))...)
	if err != nil {
		return 0, fmt.Errorf("decisionlog: %w", err)
	}
	defer cl.Close()
	n := 0
	for len(until) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return n, err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("decisionlog: fetch %s[%d]: %w", t, p, err))
		})
		if ferr != nil {
			return n, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := until[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			n++
			_ = add(r.Value) // counted by the Builder
			if r.Offset+1 >= end {
				delete(until, r.Partition)
			}
		})
	}
	return n, nil
}

// listOffsets returns the start and end offsets of every partition of
// topic.
func listOffsets(ctx context.Context, adm *kadm.Client, topic string) (starts, ends kadm.ListedOffsets, err error) {
	for _, list := range []struct {
		fn  func(context.Context, ...string) (kadm.ListedOffsets, error)
		dst *kadm.ListedOffsets
	}{{adm.ListStartOffsets, &starts}, {adm.ListEndOffsets, &ends}} {
		l, err := list.fn(ctx, topic)
		if err != nil {
			return nil, nil, fmt.Errorf("decisionlog: list offsets of %s: %w", topic, err)
		}
		if _, missing := l.Lookup(topic, -1); missing || len(l[topic]) == 0 {
			return nil, nil, fmt.Errorf("%w: %s", ErrNoTopic, topic)
		}
		if err := l.Error(); err != nil {
			return nil, nil, fmt.Errorf("decisionlog: list offsets of %s: %w", topic, err)
		}
		*list.dst = l
	}
	return starts, ends, nil
}
