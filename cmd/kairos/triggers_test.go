package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
	"github.com/kairos-engine/kairos/stream/broker"
	"github.com/kairos-engine/kairos/stream/trigger"
)

func TestTriggerConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badRules := write("bad.yaml", "version: \"1\"\nrules:\n  - id: x\n    journey: nowhere\n")
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"defaults", "triggers: {}\n", ""},
		{"off", "triggers: {enabled: false, rules: /does/not/exist}\n", ""},
		{"negative lateness", "triggers:\n  lateness: -1s\n", ":2: triggers.lateness: must not be negative"},
		{"tiny tick", "triggers:\n  tick: 1ms\n", ":2: triggers.tick: must be at least 10ms"},
		{"unknown field", "triggers:\n  rule: x.yaml\n", "field rule not found"},
		{"missing rules", "triggers: {rules: " + filepath.Join(dir, "none.yaml") + "}\n", "triggers.rules:"},
		{"bad rule", "triggers: {rules: " + badRules + "}\n", badRules + ":4: rules[x].journey: unknown journey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write("kairos.yaml", tc.yaml)
			fc, err := loadConfig(path)
			if err == nil {
				_, err = fc.triggerSetup()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// steadyRules writes the shipped rules without quiet hours and with caps
// no test reaches: what fires then does not depend on the hour the test
// runs at.
func steadyRules(t *testing.T, dir string) string {
	t.Helper()
	y := string(trigger.DefaultRulesYAML())
	for old, repl := range map[string]string{
		`quiet_hours: {start: "21:00", end: "08:00"}`:   `quiet_hours: {start: "00:00", end: "00:00"}`,
		`email: [{max: 1, per: 1d}, {max: 3, per: 7d}]`: `email: [{max: 16, per: 1d}]`,
	} {
		if !strings.Contains(y, old) {
			t.Fatalf("shipped rules changed: %q not found; update the test", old)
		}
		y = strings.Replace(y, old, repl, 1)
	}
	rules := filepath.Join(dir, "rules.yaml")
	cfg := filepath.Join(dir, "kairos.yaml")
	if err := os.WriteFile(rules, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("triggers:\n  rules: "+rules+"\n  idle: 2s\n  tick: 50ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// triggerLog is a real consumer of the trigger topics.
type triggerLog struct {
	mu  sync.Mutex
	ids map[string]string // trigger id → contact:rule
	n   int               // records read, duplicates included
}

func consumeTriggers(t *testing.T, addr string) *triggerLog {
	t.Helper()
	d := trigger.DefaultTopics()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(d.Email, d.SMS, d.Push, d.Sales),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	l := &triggerLog{ids: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				var p struct {
					TriggerID string `json:"trigger_id"`
					ContactID string `json:"contact_id"`
					Rule      string `json:"rule"`
				}
				if err := json.Unmarshal(r.Value, &p); err != nil {
					t.Errorf("trigger payload %s: %v", r.Value, err)
					return
				}
				l.mu.Lock()
				what := p.ContactID + ":" + p.Rule
				if prev, ok := l.ids[p.TriggerID]; ok && prev != what {
					t.Errorf("trigger id %s names %s and %s", p.TriggerID, prev, what)
				}
				l.ids[p.TriggerID] = what
				l.n++
				l.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return l
}

func (l *triggerLog) has(what string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.ids {
		if w == what {
			return true
		}
	}
	return false
}

func (l *triggerLog) snapshot() (map[string]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.ids))
	for k, v := range l.ids {
		out[k] = v
	}
	return out, l.n
}

// wev is one input event of contact (or anonymous visitor) key at time at.
func wev(id, typ, key, ids string, at time.Time, props string) *kgo.Record {
	topic := "kairos.clickstream"
	switch {
	case strings.HasPrefix(typ, "order_"):
		topic = "kairos.orders"
	case typ == "sent" || typ == "opened" || typ == "clicked":
		topic = "kairos.email"
	}
	v := fmt.Sprintf(`{"id":%q,"type":%q,%s,"timestamp":%q,"properties":{%s}}`, id, typ, ids, at.Format(time.RFC3339Nano), props)
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(v), Timestamp: at}
}

// TestTriggerTimersSurviveKill arms an abandoned-cart timer, SIGKILLs
// `kairos serve` while it is pending, and restarts it: the timer is on
// disk after the kill, fires once its deadline passes (by wall clock, the
// partition being idle), and is listed by GET /v1/contacts/{id}/timers
// until then.
func TestTriggerTimersSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: crashPartitions})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	addr, dataDir := b.Addr(), t.TempDir()
	cfg := steadyRules(t, t.TempDir())
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := stream.EnsureTopics(t.Context(), cl, stream.DefaultTopics(), crashPartitions, -1); err != nil {
		t.Fatal(err)
	}
	log := consumeTriggers(t, addr)
	const wait = 12 * time.Second
	due := time.Now().Add(wait)
	rec := wev("k1", "add_to_cart", "kill-cart", `"contact_id":"kill-cart","email":"kill@example.com"`, due.Add(-time.Hour),
		`"sku":"SKU-1","quantity":1,"price":5`)
	if err := cl.ProduceSync(t.Context(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}

	p := startServe(t, addr, dataDir, "--config", cfg)
	api := p.waitAPI(t)
	waitReady(t, api)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(getBody(t, "http://"+api+"/v1/contacts/kill-cart/timers"), `"rule":"abandoned-cart"`) {
		if time.Now().After(deadline) {
			t.Fatal("the cart timer is not listed within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill(t)
	if time.Now().After(due) || log.has("kill-cart:abandoned-cart") {
		t.Fatal("the timer came due before the kill; the test proves nothing on a machine this slow")
	}
	st, err := state.Open(filepath.Join(dataDir, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := st.Partition(stream.PartitionOf("kill-cart", crashPartitions))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := pt.ContactTimers(state.MakeKey(state.IDContact, "kill-cart"))
	st.Close()
	if err != nil || len(ts) == 0 {
		t.Fatalf("after kill -9 the store holds %d timers of kill-cart (%v)", len(ts), err)
	}

	p = startServe(t, addr, dataDir, "--config", cfg)
	api = p.waitAPI(t)
	defer func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.exited
	}()
	deadline = due.Add(30 * time.Second)
	for !log.has("kill-cart:abandoned-cart") {
		if time.Now().After(deadline) {
			t.Fatal("the cart timer did not fire within 30s of its deadline after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if time.Now().Before(due) {
		t.Error("fired before its deadline")
	}
	if body := getBody(t, "http://"+api+"/v1/contacts/kill-cart/timers"); strings.Contains(body, "abandoned-cart") {
		t.Errorf("fired timer still listed: %s", body)
	}
}

func getBody(t *testing.T, u string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testReadKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// triggerWorkload is a day of journeys for n contacts, one story each,
// starting at base and sorted by event time (each topic-partition then
// arrives in event-time order, as from producers with synchronised
// clocks). Every contact's own events span a few minutes, well inside its
// waits, so that what a timer finds when it fires does not depend on how
// the records were cut into batches.
func triggerWorkload(base time.Time, n int) []*kgo.Record {
	var recs []*kgo.Record
	step := time.Hour / time.Duration(n)
	for i := range n {
		id := fmt.Sprintf("tc-%d", i)
		known := fmt.Sprintf(`"contact_id":%q,"email":"%s@example.com"`, id, id)
		at := base.Add(time.Duration(i) * step)
		e := func(j int, typ string, d time.Duration, props string) *kgo.Record {
			return wev(fmt.Sprintf("%s-%d", id, j), typ, id, known, at.Add(d), props)
		}
		order := func(j int, d time.Duration) *kgo.Record {
			return e(j, "order_placed", d, fmt.Sprintf(`"order_id":"%s-o%d","total":20,"items":[{"sku":"SKU-%d","quantity":1,"price":20,"category":"shoes"}]`, id, j, i%7))
		}
		cart := `"sku":"SKU-1","quantity":1,"price":20`
		switch i % 8 {
		case 0: // sign-up, content download
			recs = append(recs, e(0, "identify", 0, `"traits":{"name":"T"}`),
				e(1, "form_submit", 2*time.Minute, `"form":"ebook","content":"guide"`))
		case 1: // abandoned cart
			recs = append(recs, e(0, "page_view", 0, `"url":"https://shop.example/"`), e(1, "add_to_cart", time.Minute, cart))
		case 2: // cart, then the order
			recs = append(recs, e(0, "add_to_cart", 0, cart), order(1, 5*time.Minute))
		case 3: // email sent and opened
			recs = append(recs, e(0, "sent", 0, `"campaign":"c"`), e(1, "opened", 5*time.Minute, `"campaign":"c"`))
		case 4: // three orders
			recs = append(recs, order(0, 0), order(1, 2*time.Minute), order(2, 4*time.Minute))
		case 5: // an order shipped
			recs = append(recs, order(0, 0), e(1, "order_shipped", 3*time.Minute, fmt.Sprintf(`"order_id":"%s-o0"`, id)))
		case 6: // browsing without a cart
			for j := range 3 {
				recs = append(recs, e(j, "product_view", time.Duration(j)*time.Minute, fmt.Sprintf(`"sku":"SKU-%d","category":"shoes"`, j)))
			}
		case 7: // an anonymous visitor signs up: profiles merge across partitions
			anon := "anon-" + id
			recs = append(recs,
				wev(id+"-0", "page_view", anon, fmt.Sprintf(`"anonymous_id":%q`, anon), at, `"url":"https://shop.example/p"`),
				wev(id+"-1", "identify", id, fmt.Sprintf(`"anonymous_id":%q,%s`, anon, known), at.Add(2*time.Minute), `"traits":{"name":"A"}`))
		}
	}
	sort.SliceStable(recs, func(a, b int) bool { return recs[a].Timestamp.Before(recs[b].Timestamp) })
	return recs
}

// triggerRun is one broker with the workload and a `kairos serve` data
// directory consuming it.
type triggerRun struct {
	addr, dataDir, cfg string
	log                *triggerLog
	cl                 *kgo.Client
}

func newTriggerRun(t *testing.T, recs []*kgo.Record, cfg string) *triggerRun {
	t.Helper()
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: crashPartitions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := stream.EnsureTopics(t.Context(), cl, stream.DefaultTopics(), crashPartitions, -1); err != nil {
		t.Fatal(err)
	}
	// The same records in the same order: every run's inputs sit at the
	// same offsets, which trigger ids derive from.
	for c := range slices.Chunk(recs, 2000) {
		cp := make([]*kgo.Record, len(c))
		for i, r := range c {
			cp[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
		}
		if err := cl.ProduceSync(t.Context(), cp...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return &triggerRun{addr: b.Addr(), dataDir: t.TempDir(), cfg: cfg, log: consumeTriggers(t, b.Addr()), cl: cl}
}

// finish runs the engine until no trigger has arrived for a while (the
// timers due by now fire by wall clock once the partitions idle), stops it
// cleanly, and starts it again while its stored offsets show input or
// re-key records not yet folded.
func (r *triggerRun) finish(t *testing.T) {
	t.Helper()
	for range 8 {
		p := startServe(t, r.addr, r.dataDir, "--config", r.cfg)
		api := p.waitAPI(t)
		waitReady(t, api)
		_, last := r.log.snapshot()
		folded := recordsFolded(t, api)
		started, quiet := time.Now(), time.Now()
		// Quiet: nothing folded and no trigger for 4s (the idle time
		// of 2s, then the ticks that fire what came due). On a loaded
		// machine a restart can take longer than that to commit its
		// first batch, so quiet counts only once something was folded,
		// or after 20s (nothing was left to fold).
		for time.Since(quiet) < 4*time.Second || (folded == 0 && time.Since(started) < 20*time.Second) {
			time.Sleep(100 * time.Millisecond)
			_, n := r.log.snapshot()
			f := recordsFolded(t, api)
			if n != last || f != folded {
				last, folded, quiet = n, f, time.Now()
			}
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.exited:
			if err != nil {
				t.Errorf("clean shutdown: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("no clean shutdown within 60s")
		}
		if r.caughtUp(t) {
			return
		}
	}
	t.Fatal("inputs not folded after 8 runs")
}

// caughtUp reports whether the stopped engine's stored offsets reach the
// end of every input and re-key partition.
func (r *triggerRun) caughtUp(t *testing.T) bool {
	t.Helper()
	topics := stream.DefaultTopics()
	ends, err := kadm.NewClient(r.cl).ListEndOffsets(t.Context(), topics.Clickstream, topics.Orders, topics.Email, topics.Rekey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(r.dataDir, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		pt, err := st.Partition(o.Partition)
		if err != nil {
			t.Fatal(err)
		}
		offs, err := pt.Offsets()
		if err != nil {
			t.Fatal(err)
		}
		if offs[o.Topic] < o.Offset {
			ok = false
		}
	})
	return ok
}

// TestCrashTriggerIDs extends the crash test to triggers: the same
// workload is folded once cleanly and once with `kairos serve` SIGKILLed
// repeatedly while it catches up; the sets of distinct trigger ids
// emitted are equal. Nothing is lost (every id of the clean run arrives),
// and nothing is invented (a replay after a kill republishes the same ids).
func TestCrashTriggerIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary several times")
	}
	now := time.Now().UTC()
	// Within one UTC day, so that no contact's daily RFM snapshot moves
	// with the population fit's timing, and more than two hours back, so
	// that every wait is due.
	base := now.Add(-3*time.Hour - 30*time.Minute)
	if day := base.Truncate(24 * time.Hour); base.Add(75 * time.Minute).After(day.Add(24 * time.Hour)) {
		base = day.Add(24*time.Hour - 80*time.Minute)
	}
	recs := triggerWorkload(base, 32_000)
	cfg := steadyRules(t, t.TempDir())
	seed := uint64(now.UnixNano())
	t.Logf("seed %d, %d records", seed, len(recs))
	rng := rand.New(rand.NewPCG(seed, 7))

	clean := newTriggerRun(t, recs, cfg)
	crash := newTriggerRun(t, recs, cfg)
	start := time.Now()
	clean.finish(t)
	t.Logf("clean run: %s", time.Since(start).Round(time.Millisecond))

	// Kill until three kills landed mid-stream (some input folded, not
	// all), at most eight times: a kill before the first batch commits is
	// a crash too, but proves less.
	const maxKills = 8
	partial, kills := 0, 0
	done, total := int64(0), int64(len(recs))
	for k := 0; k < maxKills && partial < 3 && done < total; k++ {
		kills++
		p := startServe(t, crash.addr, crash.dataDir, "--config", cfg)
		api := p.waitAPI(t)
		// Kill after a random share of what is left is folded: the
		// backlog folds in well under a second, too fast to aim at
		// with a delay.
		waitRecords(t, api, int64(float64(total-done)*(0.2+0.7*rng.Float64())))
		p.kill(t)
		done, total = progress(t, crash.cl, crash.dataDir)
		t.Logf("kill %d: %d of %d input records folded", k+1, done, total)
		if done > 0 && done < total {
			partial++
		}
	}
	if partial < 2 {
		t.Fatalf("only %d of %d kills landed mid-stream; the test did not exercise crashes during folding", partial, kills)
	}
	crash.finish(t)

	want, _ := clean.log.snapshot()
	got, n := crash.log.snapshot()
	if len(want) < 1000 {
		t.Fatalf("the clean run emitted only %d triggers; the workload exercises too little", len(want))
	}
	var lost, invented []string
	for id, what := range want {
		if _, ok := got[id]; !ok {
			lost = append(lost, what)
		}
	}
	for id, what := range got {
		if _, ok := want[id]; !ok {
			invented = append(invented, what)
		}
	}
	if len(lost) > 0 || len(invented) > 0 {
		slices.Sort(lost)
		slices.Sort(invented)
		t.Fatalf("after %d kills: %d trigger ids of the clean run missing (%v), %d not in the clean run (%v)",
			kills, len(lost), head(lost), len(invented), head(invented))
	}
	rules := map[string]int{}
	for _, what := range want {
		rules[what[strings.IndexByte(what, ':')+1:]]++
	}
	t.Logf("%d distinct trigger ids in both runs (%d records read after the kills); by rule %v; total %s",
		len(want), n, rules, time.Since(start).Round(time.Millisecond))
}

func head(s []string) []string { return s[:min(len(s), 10)] }

// waitRecords waits until the engine has decoded n input records since it
// started.
func waitRecords(t *testing.T, api string, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if recordsFolded(t, api) >= n {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("engine did not fold %d records within 30s", n)
}

// recordsFolded is kairos_stream_records_total summed over topics and
// types: the records decoded since the engine started.
func recordsFolded(t *testing.T, api string) int64 {
	t.Helper()
	var sum float64
	for _, line := range strings.Split(getBody(t, "http://"+api+"/metrics"), "\n") {
		if rest, ok := strings.CutPrefix(line, "kairos_stream_records_total{"); ok {
			var v float64
			if _, err := fmt.Sscan(rest[strings.IndexByte(rest, '}')+1:], &v); err == nil {
				sum += v
			}
		}
	}
	return int64(sum)
}
