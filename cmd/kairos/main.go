// Command kairos is the one Kairos binary: `serve` runs the engine and the
// API, `demo` runs everything in one process with synthetic traffic,
// `produce` publishes a JSON-lines file of events, `version` says which
// build this is. This file and its siblings only parse flags and wire the
// packages together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // time zones resolve the same in a container without zoneinfo
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `kairos: real-time personalisation and scoring for marketing automation.

Usage:
  kairos demo     [flags]   run everything in one process with synthetic shop traffic
  kairos serve    [flags]   run the engine and the HTTP API
  kairos produce  [flags]   publish a JSON-lines file of events into a topic
  kairos train propensity [flags]
                            train the propensity model on the decision log
  kairos version            print the version

Run 'kairos <command> --help' for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code. A first
// SIGINT or SIGTERM cancels the command's context for an orderly shutdown;
// a second one exits at once.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(stderr, "kairos: shutting down (signal again to force)")
		cancel()
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "kairos: forced exit")
			os.Exit(1)
		case <-ctx.Done():
		}
	}()

	var err error
	switch args[0] {
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout, stderr)
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "produce":
		err = cmdProduce(ctx, args[1:], stdin, stdout, stderr)
	case "train":
		err = cmdTrain(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "kairos: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "kairos %s: %v\n", args[0], err)
		return 1
	}
}

// errUsage marks a command-line mistake already explained to the user.
var errUsage = errors.New("usage")

func versionString() string {
	v := "kairos " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

// newFlagSet returns a flag set whose errors and --help go to stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kairos "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: kairos %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}
