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
	"strings"
	"syscall"
	"time"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/internal/devserver"
	"github.com/fleetmend/fleetmend/internal/logging"
	"github.com/fleetmend/fleetmend/internal/render"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/internal/version"
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
	version   bool
}

// newFlagSet registers every flag of devstack into o.
func newFlagSet(o *cliOptions, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: devstack [flags]\n\n"+
			"Runs a Temporal server + Web UI, the ECS simulator and the fleetmend worker in one process.\n\n"+
			"Examples:\n"+
			"  go run ./devstack --demo          # remediate a simulated 500-instance fleet, watch it in the UI\n"+
			"  go run ./devstack --demo --exit   # same, exit when the report is printed\n"+
			"  go run ./devstack                 # just the stack; start runs with the starter CLI\n"+
			"  go run ./devstack --postgres postgres://fleetmend:secret@db.example:5432/fleetmend?sslmode=require\n"+
			"                                    # the same stack, its state in a shared PostgreSQL\n\nFlags:\n")
		numflag.PrintFlags(fs.Output(), fs)
	}
	s := &o.stackOpts
	port := numflag.Range[int]{Min: 0, Max: 65535}
	share := numflag.Range[float64]{Min: 0, Max: 1}
	fs.BoolVar(&o.demo, "demo", false, "start one remediation run, show its progress and print its report")
	fs.BoolVar(&o.exit, "exit", false, "with --demo: exit after the report instead of keeping the UI up")
	fs.StringVar(&s.DataDir, "data-dir", ".fleetmend", "directory of the Temporal SQLite database (kept across restarts)")
	fs.BoolVar(&o.ephemeral, "ephemeral", false, "keep the Temporal database in memory (nothing survives a restart)")
	fs.StringVar(&s.Postgres, "postgres", "", "keep Temporal's state in this PostgreSQL database instead of SQLite, e.g.\n"+
		"postgres://user:password@db.example:5432/fleetmend?sslmode=require (schema set up if missing)")
	fs.StringVar(&s.IP, "ip", "127.0.0.1", "address to listen on")
	numflag.Register(fs, numflag.NewInt(&s.FrontendPort, "port", 7233, port), "Temporal frontend (gRPC) port (0: any free port)")
	numflag.Register(fs, numflag.NewInt(&s.UIPort, "ui-port", 8233, numflag.Range[int]{Min: -1, Max: 65535}), "Temporal Web UI port (0: any free port, -1: no UI)")
	numflag.Register(fs, numflag.NewInt(&s.SimPort, "sim-port", 8300, port), "ECS simulator port (0: any free port)")
	fs.StringVar(&s.Namespace, "namespace", "default", "Temporal namespace")
	fs.StringVar(&s.Region, "region", ecssim.DefaultRegion, "simulated region")
	numflag.Register(fs, numflag.NewInt(&s.Fleet.Size, "fleet-size", 500, numflag.Range[int]{Min: 1, Max: 100000}), "simulated instances")
	// A fleet seed of 0 means "derive one" to the simulator, which would
	// quietly turn --seed 0 into another seed; so seeds start at 1.
	numflag.Register(fs, numflag.NewInt64(&s.Fleet.Seed, "seed", 1, numflag.Range[int64]{Min: 1, Max: 1<<31 - 1}), "fleet seed: the same seed gives the same fleet")
	numflag.Register(fs, numflag.NewFloat(&s.Fleet.Missing, "missing", 0.15, share), "share of instances without the agent")
	numflag.Register(fs, numflag.NewFloat(&s.Fleet.Silent, "silent", 0.05, share), "share with a silent (hung) agent")
	numflag.Register(fs, numflag.NewFloat(&s.Fleet.Stopped, "stopped", 0.05, share), "share of stopped instances")
	numflag.Register(fs, numflag.NewFloat(&s.Fleet.InstallFails, "install-fails", 0.01, share), "share whose install never takes effect")
	numflag.Register(fs, numflag.NewFloat(&s.Fleet.Vanish, "vanish", 0.004, share), "share that vanish during the first simulated hour")
	numflag.Register(fs, numflag.NewFloat(&s.Fleet.Managed, "managed", 0, share),
		"share of managed instances (mi- IDs, servers outside ECS): reported, never repaired")
	numflag.Register(fs, numflag.NewFloat(&s.TimeScale, "time-scale", 60, numflag.Range[float64]{Min: 0, Max: 3600, OpenMin: true}),
		"simulated seconds per real second (60: a reboot takes half a second)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	return fs
}

// parseFlags parses and checks every flag, so that a bad value stops
// devstack before it starts any server.
func parseFlags(args []string, out io.Writer) (cliOptions, error) {
	var o cliOptions
	fs := newFlagSet(&o, out)
	s := &o.stackOpts
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.version {
		return o, nil
	}
	if err := numflag.CheckFlags(fs); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if s.Postgres != "" {
		if _, err := devserver.ParsePostgresURL(s.Postgres); err != nil {
			return o, fmt.Errorf("--postgres: %w", err)
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, other := range []string{"ephemeral", "data-dir"} {
			if set[other] {
				return o, fmt.Errorf("--postgres and --%s exclude each other: the state is either in PostgreSQL or in SQLite", other)
			}
		}
		s.DataDir = ""
	}
	if o.ephemeral {
		s.DataDir = ""
	}
	if err := (workflows.RegionInput{Region: s.Region}).WithDefaults().Validate(); err != nil {
		return o, fmt.Errorf("--region: %w", err)
	}
	if sum := s.Fleet.Missing + s.Fleet.Silent + s.Fleet.Stopped + s.Fleet.InstallFails + s.Fleet.Managed; sum > 1 {
		return o, fmt.Errorf("--missing + --silent + --stopped + --install-fails + --managed is %.4g, must be at most 1", sum)
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
	if o.version {
		_, err := fmt.Fprintln(out, version.Line("devstack"))
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
	fmt.Fprintf(out, "\n  Temporal frontend  %s   (namespace %q, database %s)\n", st.Server.FrontendHostPort(), st.Server.Namespace(), st.Server.Database())
	if schema := st.Server.PostgresSchema(); schema != nil {
		var dbs []string
		for _, r := range schema {
			how := "found"
			switch {
			case r.Created:
				how = "created"
			case r.Before == "":
				how = "set up"
			case r.Before != r.After:
				how = "migrated from " + r.Before
			}
			dbs = append(dbs, fmt.Sprintf("%s %s (%s)", r.Database, r.After, how))
		}
		fmt.Fprintf(out, "  PostgreSQL schema  %s\n", strings.Join(dbs, ", "))
	}
	if ui := st.Server.UIURL(); ui != "" {
		fmt.Fprintf(out, "  Temporal Web UI    %s\n", ui)
	}
	fmt.Fprintf(out, "  ECS simulator      %s   (region %s, %d instances, access key %s / %s, truth at %s/_sim/truth)\n",
		st.SimServer.Endpoint(), o.stackOpts.Region, o.stackOpts.Fleet.Size, ecssim.DefaultAccessKeyID, ecssim.DefaultAccessKeySecret, st.SimServer.URL())
	fmt.Fprintf(out, "  Worker             task queues %s\n\n", strings.Join(st.Worker.Queues(), ", "))
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
	stable := workflows.Duration(time.Second) // one heartbeat interval on the simulator's clock
	in := workflows.RegionInput{
		Region: region, RebootGrace: &grace,
		VerifyDeadline: workflows.Duration(20 * time.Second), VerifyPollInterval: workflows.Duration(time.Second),
		StableFor: &stable, EarlySignal: workflows.Duration(3 * time.Second),
		ConcurrentBatches: 8, StartedBy: "devstack --demo",
	}
	id := guard.RunWorkflowID(region, "demo", time.Now())
	run, err := st.StartRun(ctx, id, in)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Demo run %s started\n", id)
	if ui := st.Server.UIURL(); ui != "" {
		fmt.Fprintf(out, "  its history in the Web UI: %s\n", HistoryURL(ui, st.Server.Namespace(), id, run.GetRunID()))
	}
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

// HistoryURL is the Web UI's page of one workflow run's event history:
// <ui>/namespaces/<ns>/workflows/<workflow ID>/<run ID>/history. The UI's
// router takes each path segment escaped as JavaScript's encodeURIComponent
// escapes it (the UI builds its own links that way), so the slashes of a
// fleetmend workflow ID become %2F instead of splitting the path, which
// would open a 404. Without the run ID the route does not match either.
func HistoryURL(ui, namespace, workflowID, runID string) string {
	return strings.TrimSuffix(ui, "/") + "/namespaces/" + escapeComponent(namespace) + "/workflows/" +
		escapeComponent(workflowID) + "/" + escapeComponent(runID) + "/history"
}

// escapeComponent is encodeURIComponent: every byte but ASCII letters,
// digits and -_.!~*'() is percent-encoded. (url.PathEscape leaves
// characters like : @ & = + $ , ; as they are, which the UI would read
// differently from its own links.)
func escapeComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
