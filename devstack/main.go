// Command devstack runs all of fleetmend in one process, with nothing to
// download and no Docker: a real Temporal server (SQLite in a file, so a
// restart resumes runs) with the real Temporal Web UI, the ECS simulator
// with a seeded fleet, and the fleetmend worker.
//
//	go run ./devstack --demo
//
// starts one remediation over a ~500-instance fleet, shows its progress and
// prints the report, then keeps the UI up until Ctrl-C (or exits with --exit).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/logging"
	"github.com/fleetmend/fleetmend/internal/render"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(2)
	}
}

type cliOptions struct {
	stackOpts stack.Options
	demo      bool
	exit      bool
	ephemeral bool
	logLevel  string
}

func parseFlags(args []string, out io.Writer) (cliOptions, error) {
	var o cliOptions
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: devstack [flags]\n\n"+
			"Runs a Temporal server + Web UI, the ECS simulator and the fleetmend worker in one process.\n\n"+
			"Examples:\n"+
			"  go run ./devstack --demo          # remediate a simulated 500-instance fleet, watch it in the UI\n"+
			"  go run ./devstack --demo --exit   # same, exit when the report is printed\n"+
			"  go run ./devstack                 # just the stack; start runs with the starter CLI\n\nFlags:\n")
		fs.PrintDefaults()
	}
	s := &o.stackOpts
	fs.BoolVar(&o.demo, "demo", false, "start one remediation run, show its progress and print its report")
	fs.BoolVar(&o.exit, "exit", false, "with --demo: exit after the report instead of keeping the UI up")
	fs.StringVar(&s.DataDir, "data-dir", ".fleetmend", "directory of the Temporal SQLite database (kept across restarts)")
	fs.BoolVar(&o.ephemeral, "ephemeral", false, "keep the Temporal database in memory (nothing survives a restart)")
	fs.StringVar(&s.IP, "ip", "127.0.0.1", "address to listen on")
	fs.IntVar(&s.FrontendPort, "port", 7233, "Temporal frontend (gRPC) port, 0 picks a free one")
	fs.IntVar(&s.UIPort, "ui-port", 8233, "Temporal Web UI port, 0 picks a free one, -1 disables the UI")
	fs.IntVar(&s.SimPort, "sim-port", 8300, "ECS simulator port, 0 picks a free one")
	fs.StringVar(&s.Namespace, "namespace", "default", "Temporal namespace")
	fs.StringVar(&s.Region, "region", ecssim.DefaultRegion, "simulated region")
	fs.IntVar(&s.Fleet.Size, "fleet-size", 500, "simulated instances, 0..100000")
	fs.Int64Var(&s.Fleet.Seed, "seed", 1, "fleet seed: the same seed gives the same fleet")
	fs.Float64Var(&s.Fleet.Missing, "missing", 0.15, "share of instances without the agent, 0..1")
	fs.Float64Var(&s.Fleet.Silent, "silent", 0.05, "share with a silent (hung) agent, 0..1")
	fs.Float64Var(&s.Fleet.Stopped, "stopped", 0.05, "share of stopped instances, 0..1")
	fs.Float64Var(&s.Fleet.InstallFails, "install-fails", 0.01, "share whose install never takes effect, 0..1")
	fs.Float64Var(&s.Fleet.Vanish, "vanish", 0.004, "share that vanish during the first simulated hour, 0..1")
	fs.Float64Var(&s.TimeScale, "time-scale", 60, "simulated seconds per real second (60: a reboot takes half a second)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.ephemeral {
		s.DataDir = ""
	}
	if s.Fleet.Size < 0 || s.Fleet.Size > 100000 {
		return o, fmt.Errorf("--fleet-size is %d, allowed range is 0..100000", s.Fleet.Size)
	}
	if s.TimeScale <= 0 || s.TimeScale > 3600 {
		return o, fmt.Errorf("--time-scale is %g, allowed range is (0, 3600]", s.TimeScale)
	}
	for _, p := range []struct {
		name string
		port int
		min  int
	}{{"--port", s.FrontendPort, 0}, {"--ui-port", s.UIPort, -1}, {"--sim-port", s.SimPort, 0}} {
		if p.port < p.min || p.port > 65535 {
			return o, fmt.Errorf("%s is %d, allowed range is %d..65535", p.name, p.port, p.min)
		}
	}
	if err := (workflows.RegionInput{Region: s.Region}).WithDefaults().Validate(); err != nil {
		return o, fmt.Errorf("--region: %w", err)
	}
	sum := 0.0
	for _, sh := range []struct {
		name string
		v    float64
	}{{"--missing", s.Fleet.Missing}, {"--silent", s.Fleet.Silent}, {"--stopped", s.Fleet.Stopped},
		{"--install-fails", s.Fleet.InstallFails}, {"--vanish", s.Fleet.Vanish}} {
		if sh.v < 0 || sh.v > 1 {
			return o, fmt.Errorf("%s is %g, allowed range is 0..1", sh.name, sh.v)
		}
		if sh.name != "--vanish" {
			sum += sh.v
		}
	}
	if sum > 1 {
		return o, fmt.Errorf("--missing + --silent + --stopped + --install-fails is %g, must be at most 1", sum)
	}
	if o.exit && !o.demo {
		return o, errors.New("--exit only makes sense with --demo")
	}
	// Vanishing instances go during the run, not before it starts.
	s.Fleet.VanishAfterMin = 2 * time.Minute
	s.Fleet.VanishAfterMax = 30 * time.Minute
	s.Fleet.OSWeights = map[string]float64{"Linux": 0.8, "Windows": 0.2}
	s.Worker = true
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	zl, err := logging.New(o.logLevel)
	if err != nil {
		return err
	}
	defer func() { _ = zl.Sync() }()
	o.stackOpts.Logger = zl
	fmt.Fprintln(out, "devstack: starting Temporal server, Web UI, ECS simulator and worker ...")
	st, err := stack.Start(ctx, o.stackOpts)
	if err != nil {
		return err
	}
	defer st.Close()
	db := "in memory"
	if o.stackOpts.DataDir != "" {
		db = o.stackOpts.DataDir + "/temporal.db"
	}
	fmt.Fprintf(out, "\n  Temporal frontend  %s   (namespace %q, database %s)\n", st.Server.FrontendHostPort(), st.Server.Namespace(), db)
	if ui := st.Server.UIURL(); ui != "" {
		fmt.Fprintf(out, "  Temporal Web UI    %s\n", ui)
	}
	fmt.Fprintf(out, "  ECS simulator      %s   (region %s, %d instances, access key %s / %s, truth at %s/_sim/truth)\n",
		st.SimServer.Endpoint(), o.stackOpts.Region, o.stackOpts.Fleet.Size, ecssim.DefaultAccessKeyID, ecssim.DefaultAccessKeySecret, st.SimServer.URL())
	fmt.Fprintf(out, "  Worker             task queue fleetmend\n\n")
	fmt.Fprintf(out, "  Start a run from another terminal:\n    TEMPORAL_ADDRESS=%s go run ./starter run --region %s --wait\n\n", st.Server.FrontendHostPort(), o.stackOpts.Region)

	if o.demo {
		if err := demo(ctx, st, o.stackOpts.Region, out); err != nil {
			return err
		}
		if o.exit {
			return nil
		}
		fmt.Fprintln(out, "\nThe UI stays up to look at the run's history. Ctrl-C to stop.")
	} else {
		fmt.Fprintln(out, "Ready. Ctrl-C to stop.")
	}
	<-ctx.Done()
	fmt.Fprintln(out, "devstack: stopping")
	return nil
}

// demo runs one remediation with settings sized for a demo: short grace
// and verify times, because the simulator runs 60 times faster than life.
func demo(ctx context.Context, st *stack.Stack, region string, out io.Writer) error {
	grace := workflows.Duration(2 * time.Second)
	in := workflows.RegionInput{
		Region: region, RebootGrace: &grace,
		VerifyDeadline: workflows.Duration(20 * time.Second), VerifyPollInterval: workflows.Duration(time.Second),
		ConcurrentBatches: 8, StartedBy: "devstack --demo",
	}
	id := fmt.Sprintf("fleetmend/%s/demo-%s", region, time.Now().UTC().Format("20060102T150405Z"))
	run, err := st.StartRun(ctx, id, in)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Demo run %s started", id)
	if ui := st.Server.UIURL(); ui != "" {
		fmt.Fprintf(out, ": %s/namespaces/%s/workflows/%s", ui, st.Server.Namespace(), id)
	}
	fmt.Fprintln(out)
	last := ""
	rep, err := stack.WaitProgress(ctx, st.Client, run, time.Second, func(p workflows.Progress) {
		if line := render.ProgressLine(p); line != last {
			fmt.Fprintln(out, "  "+line)
			last = line
		}
	})
	if err != nil {
		return fmt.Errorf("demo run: %w", err)
	}
	fmt.Fprintln(out)
	return render.Report(out, rep)
}
