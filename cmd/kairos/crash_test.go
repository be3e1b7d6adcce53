package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/bench/synth"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/broker"
)

// TestMain lets the test binary stand in for the kairos binary: with
// KAIROS_TEST_MAIN=1 it runs main's command dispatch on its arguments, so
// the crash test kills and restarts the real program, not a test double.
func TestMain(m *testing.M) {
	if os.Getenv("KAIROS_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

const crashPartitions = 4

// testReadKey is the read-scope API key the subprocess engines accept
// (through KAIROS_READ_KEYS, as deployments pass keys).
const testReadKey = "kairos-test-read-key-0123456789abcdef0123"

// engineProc is a kairos serve subprocess.
type engineProc struct {
	cmd     *exec.Cmd
	apiAddr chan string
	exited  chan error
}

func startServe(t *testing.T, brokerAddr, dataDir string, extra ...string) *engineProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve",
		"--brokers", brokerAddr,
		"--data-dir", dataDir,
		"--http", "127.0.0.1:0",
		"--partitions", strconv.Itoa(crashPartitions),
		"--group", "kairos-crash",
		"--log-format", "text"}, extra...)...)
	cmd.Env = append(os.Environ(), "KAIROS_TEST_MAIN=1", "KAIROS_READ_KEYS="+testReadKey)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &engineProc{cmd: cmd, apiAddr: make(chan string, 1), exited: make(chan error, 1)}
	apiRe := regexp.MustCompile(`api=http://(\S+)`)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if m := apiRe.FindStringSubmatch(line); m != nil {
				p.apiAddr <- m[1]
			}
			if testing.Verbose() {
				t.Log(line)
			}
		}
		p.exited <- cmd.Wait()
	}()
	return p
}

func (p *engineProc) waitAPI(t *testing.T) string {
	t.Helper()
	select {
	case a := <-p.apiAddr:
		return a
	case err := <-p.exited:
		t.Fatalf("kairos serve exited before serving: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("kairos serve did not start within 60s")
	}
	return ""
}

func (p *engineProc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("killed process did not exit")
	}
}

// TestCrashRecovery runs `kairos serve` against a broker that outlives it,
// SIGKILLs it at random moments while it folds a known event file,
// restarts it each time, and finally compares every contact served by the
// API with an independent fold of the same events: order counts and revenue
// to the cent, emails sent, opened and clicked, page views. Equality means
// no event was lost or counted twice across the crashes.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test starts the real binary several times")
	}
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: crashPartitions})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	addr := b.Addr()
	dataDir := t.TempDir()

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	gen := synth.New(synth.Config{Contacts: 2000, Seed: 5, BadRate: 0.002})
	const waves, perWave = 5, 60_000
	var all [][]byte

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := stream.EnsureTopics(t.Context(), cl, stream.DefaultTopics(), crashPartitions, -1); err != nil {
		t.Fatal(err)
	}
	// Each round starts the engine and publishes a wave of events while it
	// runs, in chunks; after a random chunk the engine is killed, and the
	// rest of the wave is published while it is down, as traffic keeps
	// coming in production. A kill counts as mid-stream when the engine's
	// stored offsets show some but not all input folded.
	const minMidStream, maxKills, chunks = 3, 15, 20
	partial, kills := 0, 0
	produceChunk := func(recs []synth.Record) {
		krs := make([]*kgo.Record, len(recs))
		for i, r := range recs {
			krs[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
			if !r.Bad {
				all = append(all, r.Value)
			}
		}
		if err := cl.ProduceSync(t.Context(), krs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for wave := 0; wave < waves || (partial < minMidStream && kills < maxKills); wave++ {
		p := startServe(t, addr, dataDir)
		api := p.waitAPI(t)
		waitReady(t, api)
		var recs []synth.Record
		if wave < waves {
			recs = gen.Batch(perWave)
		}
		killAt := 3 + rng.IntN(chunks-6)
		per := len(recs) / chunks
		for c := 0; c < chunks; c++ {
			if per > 0 {
				produceChunk(recs[c*per : (c+1)*per])
			}
			if c == killAt {
				waitBatch(t, api)
				time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
				p.kill(t)
				kills++
			}
		}
		if wave >= waves {
			// No new traffic: kill while it catches up on the backlog.
			waitBatch(t, api)
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
			p.kill(t)
			kills++
		}
		done, total := progress(t, cl, dataDir)
		t.Logf("kill %d: %d of %d input records folded", kills, done, total)
		if done > 0 && done < total {
			partial++
		}
	}
	if partial < minMidStream {
		t.Fatalf("only %d of %d kills landed mid-stream; the test did not exercise crashes during folding", partial, kills)
	}

	want := synth.Expect(all)
	p := startServe(t, addr, dataDir)
	api := p.waitAPI(t)
	deadline := time.Now().Add(90 * time.Second)
	var diff error
	for time.Now().Before(deadline) {
		if diff = compareAPI(api, want); diff == nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if diff != nil {
		t.Fatalf("after %d kills the served state differs from an independent fold: %v", kills, diff)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("clean shutdown exited with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no clean shutdown within 60s")
	}
	// One record per person: nothing folded into a stray duplicate.
	st, err := state.Open(filepath.Join(dataDir, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	for part := range int32(crashPartitions) {
		pt, err := st.Partition(part)
		if err != nil {
			t.Fatal(err)
		}
		if err := pt.ContactKeys(func(state.Key) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n != len(want) {
		t.Errorf("store holds %d contact records, the independent fold %d people", n, len(want))
	}
	t.Logf("%d events, %d contacts, %d kills (%d mid-stream): state equals one clean fold", len(all), len(want), kills, partial)
}

// waitBatch waits until the engine has committed at least one batch since
// it started (kairos_stream_batch_records_count > 0), so that a kill lands
// while it folds, not before it began.
func waitBatch(t *testing.T, api string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + api + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(body), "\n") {
				if v, ok := strings.CutPrefix(line, "kairos_stream_batch_records_count "); ok && v != "0" {
					return
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("engine committed no batch within 30s")
}

// waitReady waits until the engine owns its partitions (GET /readyz).
func waitReady(t *testing.T, api string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + api + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("engine not ready within 60s")
}

// progress reads, from the dead engine's store, how many input records its
// stored offsets cover, against the topics' end offsets.
func progress(t *testing.T, cl *kgo.Client, dataDir string) (done, total int64) {
	t.Helper()
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), "kairos.clickstream", "kairos.orders", "kairos.email")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	st, err := state.Open(filepath.Join(dataDir, "state"), state.Options{})
	if err != nil {
		t.Fatalf("state after kill -9 does not open: %v", err)
	}
	defer st.Close()
	for part := range int32(crashPartitions) {
		pt, err := st.Partition(part)
		if err != nil {
			t.Fatal(err)
		}
		offs, err := pt.Offsets()
		if err != nil {
			t.Fatal(err)
		}
		for topic, o := range offs {
			if topic != "kairos.rekey" {
				done += o
			}
		}
	}
	return done, total
}

type servedContact struct {
	ContactID  string `json:"contact_id"`
	Aggregates struct {
		Orders        int         `json:"orders"`
		Revenue       json.Number `json:"revenue"`
		PageViews     int         `json:"page_views"`
		EmailsSent    int         `json:"emails_sent"`
		EmailsOpened  int         `json:"emails_opened"`
		EmailsClicked int         `json:"emails_clicked"`
	} `json:"aggregates"`
}

func compareAPI(api string, want map[string]synth.Totals) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for k, w := range want {
		key := state.Key(k)
		var u string
		switch key.Kind() {
		case state.IDContact:
			u = "http://" + api + "/v1/contacts/" + url.PathEscape(key.Value())
		case state.IDEmail:
			u = "http://" + api + "/v1/contacts?email=" + url.QueryEscape(key.Value())
		default:
			u = "http://" + api + "/v1/contacts?anonymous_id=" + url.QueryEscape(key.Value())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+testReadKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %d %s", k, resp.StatusCode, body)
		}
		var c servedContact
		if err := json.Unmarshal(body, &c); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if c.ContactID != key.Value() {
			return fmt.Errorf("%s: served contact_id %q", k, c.ContactID)
		}
		a := c.Aggregates
		wantRevenue := fmt.Sprintf("%d.%02d", w.RevenueCents/100, w.RevenueCents%100)
		if w.RevenueCents < 0 {
			wantRevenue = "-" + strings.TrimPrefix(fmt.Sprintf("%d.%02d", -w.RevenueCents/100, -w.RevenueCents%100), "-")
		}
		if a.Orders != w.Orders || string(a.Revenue) != wantRevenue || a.PageViews != w.PageViews ||
			a.EmailsSent != w.EmailsSent || a.EmailsOpened != w.EmailsOpened || a.EmailsClicked != w.EmailsClicked {
			return fmt.Errorf("%s: served orders=%d revenue=%s page_views=%d sent=%d opened=%d clicked=%d; want %+v (revenue %s)",
				k, a.Orders, a.Revenue, a.PageViews, a.EmailsSent, a.EmailsOpened, a.EmailsClicked, w, wantRevenue)
		}
	}
	return nil
}
