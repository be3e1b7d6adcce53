package main

import (
	"net"

	"bufio"
	"errors"
	"fmt"
	"github.com/valyala/fasthttp"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// The split mode runs the server side of the http benchmark in a child
// process so that the load client's goroutines do not queue behind the
// engine's in one Go scheduler, as they would not in production. The two
// talk over the child's stdin and stdout: the child prints its URL once
// it is ready, then one "mark" line (inputs committed, CPU used) for every
// line it reads, and exits when its stdin closes.

// runServer is the child: in-process broker, engine and API until stdin
// closes; with floor, only a fasthttp server that answers every request
// with a fixed next-best-action-sized body, the floor any API on this
// machine and this client stands on.
func runServer(so serverOpts) error {
	start := startInProcess
	if so.floor {
		start = startFloor
	}
	url, committed, stop, err := start(so)
	if err != nil {
		return err
	}
	defer stop()
	signal.Ignore(syscall.SIGINT) // the parent decides when to stop
	fmt.Printf("url %s\n", url)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Printf("mark %d %d\n", committed(), cpuNow().Nanoseconds())
	}
	return in.Err()
}

type child struct {
	url   string
	cmd   *exec.Cmd
	stdin interface {
		Write([]byte) (int, error)
		Close() error
	}
	out *bufio.Scanner
}

// startChild runs `nba server` from this very binary and waits for it to
// listen.
func startChild(so serverOpts) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	cmd := exec.Command(exe, "server", "-actions", fmt.Sprint(so.actions), "-ingest", fmt.Sprint(so.ingest),
		"-floor="+fmt.Sprint(so.floor), "-learned="+fmt.Sprint(so.learned))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("split: start server child: %w", err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	if !c.out.Scan() {
		c.stop()
		return nil, errors.New("split: server child exited before listening")
	}
	url, ok := strings.CutPrefix(c.out.Text(), "url ")
	if !ok {
		c.stop()
		return nil, fmt.Errorf("split: server child said %q, want its url", c.out.Text())
	}
	c.url = url
	return c, nil
}

// mark asks the child for its committed inputs and CPU time.
func (c *child) mark() (int64, time.Duration, error) {
	if _, err := c.stdin.Write([]byte("mark\n")); err != nil {
		return 0, 0, err
	}
	if !c.out.Scan() {
		return 0, 0, errors.New("server child exited")
	}
	var committed, cpu int64
	if _, err := fmt.Sscanf(c.out.Text(), "mark %d %d", &committed, &cpu); err != nil {
		return 0, 0, fmt.Errorf("server child said %q: %w", c.out.Text(), err)
	}
	return committed, time.Duration(cpu), nil
}

func (c *child) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// startFloor serves a fixed answer on 127.0.0.1: the cost of HTTP on
// loopback alone.
func startFloor(serverOpts) (string, func() int64, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	body := []byte(`{"decision_id":"0123456789abcdef0123456789abcdef","placement":"homepage","policy":"thompson","catalogue_version":"0123456789abcdef","fallback":null,"actions":[` +
		`{"id":"newsletter-signup","rank":1,"score":0.1234,"propensity":0.0456,"value":2,"description":"Sign up to the newsletter","reason":"thompson: p=0.0456 × weight 1 × value 2 × lever 1"}]}`)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	stop := func() { _ = srv.Shutdown(); <-done }
	return "http://" + ln.Addr().String(), func() int64 { return 0 }, stop, nil
}
