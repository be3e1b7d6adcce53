// Command nba evaluates and measures the next-best-action and send-time
// models (models/nba, models/sendtime) without the engine around them:
//
//	go run ./bench/nba regret   [-seeds 5] [-steps 100000] [-refresh 100]
//	go run ./bench/nba obd      [-data ../shared/data/obd]
//	go run ./bench/nba sendtime [-contacts 20000]
//	go run ./bench/nba load     [-rate 10000] [-duration 10s] [-actions 50]
//	go run ./bench/nba http     [-rate 10000] [-duration 10s] [-actions 50] [-ingest 5000] [-conns 64] [-split [-floor]] [-learned] [-url http://host:8080]
//	go run ./bench/nba server   [-actions 50] [-ingest 5000] [-learned] [-floor]
//
// regret: cumulative regret of Thompson sampling against the oracle and a
// uniformly random policy in a simulated shop with known conversion rates.
// obd: off-policy replay on the Open Bandit Dataset sample (skipped with a
// message when the data is absent). sendtime: chosen hour versus the best
// global hour and the oracle on a synthetic population, by history
// length. load: open-loop load of decisions at a fixed rate on every core,
// with latency percentiles. http: the same through HTTP on loopback against
// an in-process engine and API (or a running kairos serve) while the engine
// ingests; with -split the engine and API run in a child process (server)
// and only the load client in this one. server: the in-process engine and
// API on their own, for -split or for any other load generator. Results
// are recorded in bench/RESULTS.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: nba regret|obd|sendtime|load|http [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	var err error
	switch os.Args[1] {
	case "regret":
		seeds := fs.Int("seeds", 5, "simulated environments (the table shows means)")
		steps := fs.Int("steps", 100000, "decisions per run")
		refresh := fs.Int("refresh", 100, "decisions between policy rebuilds")
		_ = fs.Parse(os.Args[2:])
		err = runRegret(*seeds, *steps, *refresh)
	case "obd":
		dir := fs.String("data", "../shared/data/obd", "Open Bandit Dataset sample directory")
		runs := fs.Int("runs", 20, "replays with different decision seeds (the table shows their mean)")
		_ = fs.Parse(os.Args[2:])
		err = runOBD(*dir, *runs)
	case "sendtime":
		contacts := fs.Int("contacts", 20000, "synthetic contacts")
		seed := fs.Uint64("seed", 1, "population seed")
		_ = fs.Parse(os.Args[2:])
		err = runSendTime(*contacts, *seed)
	case "load":
		rate := fs.Int("rate", 10000, "decisions per second (open loop)")
		duration := fs.Duration("duration", 10*time.Second, "measurement time")
		actions := fs.Int("actions", 50, "actions in the catalogue")
		workers := fs.Int("workers", 0, "deciding goroutines (0: GOMAXPROCS)")
		_ = fs.Parse(os.Args[2:])
		err = runLoad(*rate, *duration, *actions, *workers)
	case "http":
		rate := fs.Int("rate", 10000, "requests per second (open loop), 9 next-best-action to 1 send-time")
		duration := fs.Duration("duration", 10*time.Second, "measurement time")
		actions := fs.Int("actions", 50, "actions in the catalogue (in-process only)")
		ingest := fs.Int("ingest", 5000, "events per second fed to the engine meanwhile (in-process only)")
		conns := fs.Int("conns", 64, "keep-alive connections")
		url := fs.String("url", "", "a running kairos serve to load instead of the in-process one")
		split := fs.Bool("split", false, "run broker, engine and API in a child process (nba server) so the load client does not share the server's Go scheduler")
		floor := fs.Bool("floor", false, "with split: load a server that answers a fixed body, the floor of HTTP on this machine")
		learned := fs.Bool("learned", false, "arbitrate with a propensity MLP and log feature vectors (in-process only)")
		cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the measurement to this file")
		traceOut := fs.String("trace", "", "write a runtime execution trace of the measurement to this file (go tool trace)")
		_ = fs.Parse(os.Args[2:])
		var stop func()
		if stop, err = profile(*cpuprofile, *traceOut); err != nil {
			break
		}
		defer stop()
		err = runHTTP(*url, *split, serverOpts{actions: *actions, ingest: *ingest, floor: *floor, learned: *learned}, *rate, *duration, *conns)
	case "server":
		actions := fs.Int("actions", 50, "actions in the catalogue")
		ingest := fs.Int("ingest", 5000, "events per second fed to the engine")
		cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the server's whole life to this file")
		floor := fs.Bool("floor", false, "serve a fixed answer instead: the cost of HTTP on loopback alone")
		learned := fs.Bool("learned", false, "arbitrate with a propensity MLP and log feature vectors")
		traceOut := fs.String("trace", "", "write a runtime execution trace of the server's whole life to this file (go tool trace)")
		_ = fs.Parse(os.Args[2:])
		var stop func()
		if stop, err = profile(*cpuprofile, *traceOut); err != nil {
			break
		}
		defer stop()
		err = runServer(serverOpts{actions: *actions, ingest: *ingest, floor: *floor, learned: *learned})
	default:
		err = fmt.Errorf("unknown command %q; use regret, obd, sendtime, load or http", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nba:", err)
		os.Exit(1)
	}
}

// profile starts a CPU profile and an execution trace into the files
// named ("" for none); stop ends and writes both.
func profile(cpu, tr string) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, f := range stops {
			f()
		}
	}
	if tr != "" {
		f, err := os.Create(tr)
		if err != nil {
			return stop, err
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			return stop, err
		}
		stops = append(stops, func() { trace.Stop(); f.Close() })
	}
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return stop, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, err
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	return stop, nil
}
