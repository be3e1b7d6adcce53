package population_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/models/lead"
	"github.com/kairos-engine/kairos/models/scoring"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/broker"
	"github.com/kairos-engine/kairos/stream/population"
)

// cdnowDir is the reference data beside the project (see
// /work/shared/data/README.md).
var cdnowDir = filepath.Join("..", "..", "..", "shared", "data", "cdnow")

// TestCDNOWThroughEngine replays CDNOW's calibration period (1997-01-01 to
// 1997-09-30) as order_placed events through Kafka into the engine, fits
// the population models on what the engine folded, and checks the
// published estimates (Fader, Hardie & Lee 2005; Fader & Hardie 2013): every
// BG/NBD and Gamma-Gamma parameter within 1%, and P(alive) = 0.9689 for the
// customer with x = 26, t_x = 30.857, T = 31 weeks. It proves the whole
// path: decoding, purchase days in the fold, the partition scan, the merge
// of partition summaries and the fit.
func TestCDNOWThroughEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 4,000 orders through the engine")
	}
	path := filepath.Join(cdnowDir, "CDNOW_sample.txt")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("CDNOW reference data not found at %s (see /work/shared/data/README.md): %v", cdnowDir, err)
	}
	defer f.Close()
	calibrationEnd := time.Date(1997, time.September, 30, 0, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			t.Fatalf("%s:%d: want 5 fields, have %d", path, line, len(fs))
		}
		day, err := time.Parse("20060102", fs[2])
		if err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		if day.After(calibrationEnd) {
			continue
		}
		cds, err1 := strconv.Atoi(fs[3])
		dollars, err2 := strconv.ParseFloat(fs[4], 64)
		if err1 != nil || err2 != nil || cds <= 0 {
			t.Fatalf("%s:%d: bad quantity or amount", path, line)
		}
		id := "cdnow-" + strings.TrimLeft(fs[1], "0")
		v := fmt.Sprintf(`{"id":"cdnow-line-%d","type":"order_placed","contact_id":%q,"timestamp":%q,`+
			`"properties":{"order_id":"o-%d","items":[{"sku":"cd","category":"music","quantity":%d,"price":%.2f}],"total":%s,"currency":"USD"}}`,
			line, id, day.Add(12*time.Hour).Format(time.RFC3339), line, cds, dollars/float64(cds), fs[4])
		recs = append(recs, &kgo.Record{Topic: "kairos.orders", Key: []byte(id), Value: []byte(v)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	const partitions = 4
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := stream.EnsureTopics(t.Context(), cl, stream.DefaultTopics(), partitions, -1); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	st, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	plan, err := lead.Default()
	if err != nil {
		t.Fatal(err)
	}
	initial, err := scoring.New(plan, scoring.Config{}, scoring.Population{})
	if err != nil {
		t.Fatal(err)
	}
	models := new(atomic.Pointer[scoring.Models])
	models.Store(initial)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := stream.New(stream.Config{
		Brokers: []string{b.Addr()}, Group: "kairos-cdnow", Partitions: partitions,
		Store: st, Models: models, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine: %v", err)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for eng.InputsCommitted() < int64(len(recs)) {
		if time.Now().After(deadline) {
			t.Fatalf("engine folded %d of %d orders within 60s", eng.InputsCommitted(), len(recs))
		}
		time.Sleep(20 * time.Millisecond)
	}

	svc, err := population.New(population.Config{Store: st, Models: models, Partitions: eng.Assigned, Total: eng.Partitions, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := svc.At(t.Context(), calibrationEnd.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Population
	if got := rep.Summary.Churn.Len(); got != 2357 {
		t.Errorf("customers fitted: %d, want CDNOW's 2,357", got)
	}
	if got := rep.Summary.Churn.RepeatCustomers(); got != 946 {
		t.Errorf("repeat customers: %d, want 946", got)
	}
	if !p.BGFitted || !p.GGFitted {
		t.Fatalf("fits missing: BG/NBD %v (%v), Gamma-Gamma %v (%v)", p.BGFitted, rep.BGErr, p.GGFitted, rep.GGErr)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"r", p.BG.R, 0.243}, {"alpha", p.BG.Alpha, 4.414}, {"a", p.BG.A, 0.793}, {"b", p.BG.B, 2.426},
		{"p", p.GG.P, 6.25}, {"q", p.GG.Q, 3.74}, {"gamma", p.GG.Gamma, 15.44},
	} {
		if rel := math.Abs(c.got-c.want) / c.want; rel > 0.01 {
			t.Errorf("%s = %.4f, published %.4f: %.2f%% off (limit 1%%)", c.name, c.got, c.want, 100*rel)
		}
	}
	if math.Abs(p.BGInfo.LogLikelihood-(-9582.4)) > 1 {
		t.Errorf("BG/NBD log-likelihood %.2f, published -9582.4", p.BGInfo.LogLikelihood)
	}
	t.Logf("through the engine: BG/NBD r=%.4f alpha=%.4f a=%.4f b=%.4f (LL %.2f); Gamma-Gamma p=%.4f q=%.4f gamma=%.4f (LL %.2f); fit %v",
		p.BG.R, p.BG.Alpha, p.BG.A, p.BG.B, p.BGInfo.LogLikelihood, p.GG.P, p.GG.Q, p.GG.Gamma, p.GGInfo.LogLikelihood, p.FitDuration)

	// The named customer, served as the API serves it: its scores at the
	// end of calibration with the fitted models.
	m := models.Load().WithPopulation(p)
	found := 0
	for part := range int32(partitions) {
		pt, err := st.Partition(part)
		if err != nil {
			t.Fatal(err)
		}
		err = pt.Contacts(func(c *state.Contact) error {
			s := m.Evaluate(c, calibrationEnd.UnixMilli(), nil)
			cu := s.Churn.Customer
			if !s.HasChurn || cu.X != 26 {
				return nil
			}
			found++
			if math.Abs(cu.Tx-30.857) > 0.001 || cu.T != 31 {
				t.Errorf("%s: t_x=%.3f T=%.3f, want 30.857 and 31 weeks", c.Key, cu.Tx, cu.T)
			}
			if math.Abs(s.Churn.PAlive-0.9689) > 0.0005 {
				t.Errorf("%s: P(alive) %.4f, published 0.9689", c.Key, s.Churn.PAlive)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if found != 1 {
		t.Errorf("%d customers with x = 26, want the one the data README names", found)
	}
}
