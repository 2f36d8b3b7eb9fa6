// Command bench measures fleetmend against a model of the physical lower
// bound and against an OOS-style loop, side by side in one run, on the
// simulator with a latency model:
//
//	go run ./bench                                  # 10,000 instances, 10% unhealthy, 1% never healing, 50 ms
//	go run ./bench --size 100000 --dry-run          # the scan alone: calls and wall time against the plan
//
// It starts the embedded Temporal server and the simulator in this
// process, and the worker as a separate process (built from ./worker), so
// the worker's peak RSS is its own. Time runs --time-scale times faster in
// the simulator, and fleetmend's waits (grace, verify deadline, poll) are
// scaled the same way, as are the OOS loop's.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fleetmend/fleetmend/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	res, err := run(ctx, o, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		return
	}
	printResult(os.Stdout, o, res)
}

type options struct {
	size                            int
	missing, silent, neverHeal, off float64
	latency                         time.Duration
	timeScale                       float64
	dryRun, oos, json               bool
	oosConcurrency                  int
	seed                            int64
	ecsConcurrency                  int
	canary                          bool
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.IntVar(&o.size, "size", 10000, "instances, 1..200000")
	fs.Float64Var(&o.missing, "missing", 0.06, "share without an agent")
	fs.Float64Var(&o.silent, "silent", 0.03, "share with a silent agent")
	fs.Float64Var(&o.neverHeal, "never-heal", 0.01, "share whose install never takes effect (unhealthy, never heal)")
	fs.Float64Var(&o.off, "stopped", 0.02, "share of stopped instances")
	fs.DurationVar(&o.latency, "latency", 50*time.Millisecond, "added to every ECS call, 0s..5s")
	fs.Float64Var(&o.timeScale, "time-scale", 60, "simulated seconds per real second (fleetmend's and the loop's waits scale with it), 1..600")
	fs.BoolVar(&o.dryRun, "dry-run", false, "measure a dry run: the scan and the plan only")
	fs.BoolVar(&o.oos, "oos", true, "also run the OOS-style loop (real runs only)")
	fs.IntVar(&o.oosConcurrency, "oos-concurrency", 10, "the loop's concurrency (OOS's default is 10), 1..100")
	fs.Int64Var(&o.seed, "seed", 1, "fleet seed")
	fs.IntVar(&o.ecsConcurrency, "ecs-concurrency", 8, "the worker's --ecs-concurrency, 1..256")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	fs.BoolVar(&o.canary, "canary", true, "the rollout at its defaults (a canary of one batch, a ramp of 2); false: no canary and no ramp")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *showVersion {
		fmt.Fprintln(out, "fleetmend bench", version.String())
		return o, flag.ErrHelp
	}
	switch {
	case o.size < 1 || o.size > 200000:
		return o, fmt.Errorf("--size is %d, allowed range is 1..200000", o.size)
	case o.latency < 0 || o.latency > 5*time.Second:
		return o, fmt.Errorf("--latency is %s, allowed range is 0s..5s", o.latency)
	case o.timeScale < 1 || o.timeScale > 600:
		return o, fmt.Errorf("--time-scale is %g, allowed range is 1..600", o.timeScale)
	case o.oosConcurrency < 1 || o.oosConcurrency > 100:
		return o, fmt.Errorf("--oos-concurrency is %d, allowed range is 1..100", o.oosConcurrency)
	case o.ecsConcurrency < 1 || o.ecsConcurrency > 256:
		return o, fmt.Errorf("--ecs-concurrency is %d, allowed range is 1..256", o.ecsConcurrency)
	}
	for _, sh := range []struct {
		name string
		v    float64
	}{{"--missing", o.missing}, {"--silent", o.silent}, {"--never-heal", o.neverHeal}, {"--stopped", o.off}} {
		if sh.v < 0 || sh.v > 1 {
			return o, fmt.Errorf("%s is %g, allowed range is 0..1", sh.name, sh.v)
		}
	}
	if o.missing+o.silent+o.neverHeal+o.off > 1 {
		return o, fmt.Errorf("--missing + --silent + --never-heal + --stopped is %g, must be at most 1", o.missing+o.silent+o.neverHeal+o.off)
	}
	return o, nil
}
