package main

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kairos-engine/kairos/bench/synth"
	"github.com/kairos-engine/kairos/models/propensity"
	"github.com/kairos-engine/kairos/stream/broker"
)

const testAdminKey = "kairos-test-admin-key-0123456789abcdef012"

// torchBuild reports whether this binary was built with -tags torch.
func torchBuild() bool {
	_, _, err := propensity.Train(nil, nil, propensity.TrainConfig{})
	return !errors.Is(err, propensity.ErrTorchUnavailable)
}

// logLines collects a subprocess's stderr.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *logLines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// TestSystemModels runs `kairos serve` with a models directory holding a
// TorchScript model (the linear fixture of models/torch). The pure build
// logs that it cannot load it (ErrTorchUnavailable) and serves profiles
// with an empty scores.models; the torch build serves its output, and
// keeps serving it when the file turns bad and is reloaded (SIGHUP, POST
// /v1/admin/reload).
func TestSystemModels(t *testing.T) {
	if testing.Short() {
		t.Skip("system test starts the real binary")
	}
	dir := t.TempDir()
	modelsDir := filepath.Join(dir, "models")
	os.MkdirAll(modelsDir, 0o755)
	pt, err := os.ReadFile("../../models/torch/testdata/linear.pt")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(modelsDir, "linear.pt"), pt, 0o644)
	os.WriteFile(filepath.Join(modelsDir, "linear.yaml"), []byte("name: linear\nmodel: linear.pt\nfeature_version: 1\noutput: score\ndescription: fixture\n"), 0o644)
	cfgPath := filepath.Join(dir, "kairos.yaml")
	os.WriteFile(cfgPath, []byte("models:\n  dir: "+modelsDir+"\n"), 0o644)

	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cmd, api, logs := serveForTest(t, b.Addr(), dir, "--config", cfgPath)
	torch := torchBuild()
	if !torch && !strings.Contains(logs.text(), "-tags torch") {
		t.Fatalf("pure build: no ErrTorchUnavailable message at start:\n%s", logs.text())
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var contact string
	for _, r := range synth.New(synth.Config{Contacts: 20, Seed: 3}).Batch(300) {
		if r.Topic == synth.TopicOrders && contact == "" {
			contact = string(r.Key)
		}
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	call := func(method, path, key string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+api+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	var body string
	for deadline := time.Now().Add(60 * time.Second); ; {
		var status int
		if status, body = call("GET", "/v1/contacts/"+url.PathEscape(contact), testReadKey); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("contact %s not served within 60s: %d %s", contact, status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	hasValue := regexp.MustCompile(`"models":\{"linear":\{"value":-?[0-9.e-]+,"output":"score"\}\}`)
	if torch {
		if !hasValue.MatchString(body) {
			t.Fatalf("torch build: no linear score in %s", body)
		}
	} else if !strings.Contains(body, `"models":{}`) {
		t.Fatalf("pure build: want an empty models object in %s", body)
	}

	status, rb := call("POST", "/v1/admin/reload", testReadKey)
	if status != 403 {
		t.Fatalf("reload with a read key: %d %s", status, rb)
	}
	status, rb = call("POST", "/v1/admin/reload", testAdminKey)
	if torch && status != 200 || !torch && (status != 422 || !strings.Contains(rb, "-tags torch")) {
		t.Fatalf("reload: %d %s", status, rb)
	}
	if !torch {
		return
	}
	// A bad new file: the previous version keeps serving, through SIGHUP
	// and through the admin route.
	os.WriteFile(filepath.Join(modelsDir, "linear.pt"), []byte("not a TorchScript file"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(logs.text(), "bring-your-own model reload failed"); {
		if time.Now().After(deadline) {
			t.Fatal("no reload error logged after SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}
	status, rb = call("POST", "/v1/admin/reload", testAdminKey)
	if status != 422 || !strings.Contains(rb, "linear.yaml") || !strings.Contains(rb, `"name":"linear"`) {
		t.Fatalf("reload of a bad file: %d %s", status, rb)
	}
	if _, body = call("GET", "/v1/contacts/"+url.PathEscape(contact), testReadKey); !hasValue.MatchString(body) {
		t.Fatalf("previous model no longer served: %s", body)
	}
}

// serveForTest runs `kairos serve` (this test binary as main) against the
// broker with its data under dir, waits until it is ready, and stops it
// with SIGTERM when the test ends, failing the test on an unclean
// shutdown and printing its log when the test failed.
func serveForTest(t *testing.T, brokers, dir string, args ...string) (*exec.Cmd, string, *logLines) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--brokers", brokers, "--data-dir", filepath.Join(dir, "data"), "--http", "127.0.0.1:0",
		"--partitions", "2", "--log-format", "text"}, args...)...)
	cmd.Env = append(os.Environ(), "KAIROS_TEST_MAIN=1", "KAIROS_READ_KEYS="+testReadKey, "KAIROS_ADMIN_KEYS="+testAdminKey)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &logLines{}
	apiAddr := make(chan string, 1)
	exited := make(chan error, 1)
	go func() {
		apiRe := regexp.MustCompile(`api=http://(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.add(sc.Text())
			if m := apiRe.FindStringSubmatch(sc.Text()); m != nil {
				apiAddr <- m[1]
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("shutdown: %v", err)
			}
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Error("no clean shutdown within 60s")
		}
		if t.Failed() {
			t.Log(logs.text())
		}
	})
	var api string
	select {
	case api = <-apiAddr:
	case err := <-exited:
		t.Fatalf("serve exited: %v\n%s", err, logs.text())
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start within 60s")
	}
	waitReady(t, api)
	return cmd, api, logs
}
