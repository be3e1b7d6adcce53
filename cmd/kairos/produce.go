package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/event"
)

func cmdProduce(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("produce", "produce --brokers HOST:PORT[,...] --topic T [--file events.jsonl] < events.jsonl", stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka seed brokers")
	topic := fs.String("topic", "", "topic to publish into (required), e.g. kairos.orders")
	file := fs.String("file", "", "JSON-lines file to read instead of standard input")
	streamName := fs.String("stream", "", "event stream the topic carries (clickstream, orders, email); guessed from the topic name when empty")
	maxSize := fs.Int("max-size", 64<<10, "largest event accepted, in bytes")
	partitions := fs.Int("partitions", 8, "partitions per topic if the topics do not exist yet")
	create := fs.Bool("create-topics", true, "create the Kairos topics if they do not exist")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *topic == "" {
		fmt.Fprintln(stderr, "--topic is required")
		fs.Usage()
		return errUsage
	}
	st, err := streamOf(*streamName, *topic)
	if err != nil {
		return err
	}
	in := stdin
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*brokers, ",")...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	if *create {
		var extra []string
		d := stream.DefaultTopics()
		switch *topic {
		case d.Clickstream, d.Orders, d.Email, d.Rekey, d.DeadLetter:
		default:
			extra = append(extra, *topic)
		}
		if _, err := stream.EnsureTopics(ctx, cl, d, int32(*partitions), -1, extra...); err != nil {
			return err
		}
	}
	res, err := produceLines(ctx, cl, *topic, st, in, *maxSize, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "published %d events to %s; rejected %d lines\n", res.published, *topic, res.rejected)
	if res.rejected > 0 {
		return fmt.Errorf("%d of %d lines rejected (see above)", res.rejected, res.published+res.rejected)
	}
	return nil
}

func streamOf(name, topic string) (state.Stream, error) {
	if name == "" {
		for _, s := range []string{"clickstream", "orders", "email"} {
			if strings.Contains(topic, s) {
				name = s
			}
		}
	}
	switch name {
	case "clickstream":
		return state.StreamClickstream, nil
	case "orders":
		return state.StreamOrders, nil
	case "email":
		return state.StreamEmail, nil
	case "":
		return 0, nil
	}
	return 0, fmt.Errorf("--stream %q: use clickstream, orders or email", name)
}

type produceResult struct{ published, rejected int }

// produceLines validates each line as the engine would and publishes the
// valid ones keyed by the event's primary id, so they land on the partition
// that owns the contact. Bad lines are reported with their number.
func produceLines(ctx context.Context, cl *kgo.Client, topic string, st state.Stream, in io.Reader, maxSize int, stderr io.Writer) (produceResult, error) {
	var res produceResult
	dec := event.NewDecoder(event.Config{MaxSize: maxSize})
	var ev event.Event
	r := bufio.NewReaderSize(in, 1<<20)
	var mu sync.Mutex
	var produceErr error
	for line := 1; ; line++ {
		data, err := readLine(r, maxSize)
		if errors.Is(err, io.EOF) && len(data) == 0 {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errLineTooLong) {
			return res, fmt.Errorf("read line %d: %w", line, err)
		}
		if errors.Is(err, errLineTooLong) {
			fmt.Fprintf(stderr, "line %d: %s: larger than %d bytes\n", line, event.ReasonTooLarge, maxSize)
			res.rejected++
			continue
		}
		if len(strings.TrimSpace(string(data))) == 0 {
			continue
		}
		if derr := dec.Decode(data, st, &ev); derr != nil {
			fmt.Fprintf(stderr, "line %d: %v\n", line, derr)
			res.rejected++
			continue
		}
		rec := &kgo.Record{Topic: topic, Key: []byte(ev.PrimaryKey().Value()), Value: append([]byte(nil), data...)}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				produceErr = errors.Join(produceErr, err)
				mu.Unlock()
			}
		})
		res.published++
	}
	if err := cl.Flush(ctx); err != nil {
		return res, err
	}
	mu.Lock()
	defer mu.Unlock()
	if produceErr != nil {
		return res, fmt.Errorf("publish: %w", produceErr)
	}
	return res, nil
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its newline. A line longer than
// max is consumed and reported as errLineTooLong, so one huge line does not
// stop the file.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > max+1 {
			// Skip to the end of the line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return nil, errLineTooLong
		}
		buf = append(buf, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = []byte(strings.TrimRight(string(buf), "\r\n"))
		return buf, err
	}
}
