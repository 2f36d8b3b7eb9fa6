// Command starter is fleetmend's operator CLI: it starts remediation runs
// (or dry runs) and follows them, manages one Temporal Schedule per region,
// and answers "what happened" from Temporal itself: a run's progress and
// report, and which runs and batches touched an instance.
//
// Exit codes: 0 all good, 1 the run found failures (or did not complete),
// 2 a usage or connection error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	"golang.org/x/term"

	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/internal/logging"
	"github.com/fleetmend/fleetmend/internal/version"
)

// Exit codes scripts can rely on.
const (
	exitOK       = 0
	exitFailures = 1
	exitUsage    = 2
)

// exitError carries an exit code; err may be nil when the output already
// said everything (e.g. a report with failures).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func failures() error { return &exitError{code: exitFailures} }

// app holds what every command shares. Tests build one with their own
// writers and run commands in-process.
type app struct {
	out, errOut io.Writer
	temporal    config.Temporal
	taskQueue   string
	jsonOut     bool
	logLevel    string
	// username is who starts runs, for the run's summary and input.
	username func() string
	now      func() time.Time
	// terminal says whether out is a terminal (a progress bar rewritten
	// in place, rather than lines; a report fitted to it) and its size
	// (height 0 when unknown).
	terminal func() (width, height int, ok bool)

	client client.Client
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs the CLI and returns the exit code.
func execute(ctx context.Context, args []string, out, errOut io.Writer) int {
	return newApp(out, errOut).execute(ctx, args)
}

func (a *app) execute(ctx context.Context, args []string) int {
	errOut := a.errOut
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if a.client != nil {
		a.client.Close()
	}
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(errOut, "error:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(errOut, "error:", err)
	return exitUsage
}

func newApp(out, errOut io.Writer) *app {
	return &app{
		out: out, errOut: errOut,
		username: currentUser,
		now:      time.Now,
		terminal: func() (int, int, bool) { return terminalSize(out) },
	}
}

// terminalSize is the width and height of w when w is a terminal (80
// columns and an unknown height when it does not say). A character device
// is not enough (/dev/null is one): it must answer terminal ioctls.
func terminalSize(w io.Writer) (int, int, bool) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, 0, false
	}
	width, height, err := term.GetSize(int(f.Fd()))
	if err != nil || width <= 0 {
		return 80, 0, true
	}
	return width, max(height, 0), true
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "starter",
		Short: "Start, schedule, follow and audit fleetmend remediation runs",
		Long: `starter is fleetmend's operator CLI. It talks to Temporal only: runs are RemediateRegion
workflows executed by fleetmend's worker, schedules are Temporal Schedules, and every answer
(progress, report, audit) comes from Temporal's visibility and history.

Connection: Temporal's environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE, the TOML config file), or the flags below.

Exit codes: 0 all good, 1 the run found failures, 2 usage or connection error.`,
		Example: `  starter run --region cn-hangzhou --dry-run --wait
  starter run --region cn-hangzhou --instance-ids i-bp1aaaaaaaaaaaaaaaaa,i-bp1bbbbbbbbbbbbbbbbb --wait
  starter schedule create --region cn-hangzhou --every 6h --jitter 10m
  starter list --region cn-hangzhou --status failed
  starter status fleetmend/cn-hangzhou/manual-20261122T101500Z
  starter audit --instance i-bp1aaaaaaaaaaaaaaaaa`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
		// Numeric flags take any value while parsing and are checked here,
		// before any command runs or connects, so every bad value gets the
		// same message: the flag, what was given, the allowed range.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return checkFlags(cmd) },
	}
	root.SetVersionTemplate(version.Line("starter") + "\n")
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	pf := root.PersistentFlags()
	pf.StringVar(&a.temporal.Address, "temporal-address", "", "Temporal frontend host:port (default: TEMPORAL_ADDRESS, the config file, or localhost:7233)")
	pf.StringVar(&a.temporal.Namespace, "temporal-namespace", "", "Temporal namespace (default: TEMPORAL_NAMESPACE, the config file, or \"default\")")
	pf.StringVar(&a.taskQueue, "task-queue", config.Env("FLEETMEND_TASK_QUEUE", config.DefaultTaskQueue), "base name of fleetmend's task queues: region R's runs go to <task-queue>-R (FLEETMEND_TASK_QUEUE)")
	pf.BoolVar(&a.jsonOut, "json", false, "print JSON instead of text")
	pf.StringVar(&a.logLevel, "log-level", "error", "log level of the Temporal client: debug, info, warn, error")
	// Usage errors (bad flags, missing arguments) are exit code 2.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: exitUsage, err: err} })

	root.AddCommand(a.runCommand(), a.listCommand(), a.scheduleCommand(), a.statusCommand(), a.reportCommand(), a.cancelCommand(), a.auditCommand(),
		a.setCommand(), a.quarantineCommand(), a.unlockCommand(), a.applyCommand())
	root.AddCommand(a.controlCommands()...)
	return root
}

// checkFlags returns the first bad value of cmd's range-checked flags as
// a usage error.
func checkFlags(cmd *cobra.Command) error {
	var first error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if c, ok := f.Value.(numflag.Checker); ok && first == nil {
			if err := c.Check(); err != nil {
				first = &exitError{code: exitUsage, err: err}
			}
		}
	})
	return first
}

// numVar adds a range-checked flag to fs; its help ends with the range.
func numVar[T numflag.Number](fs *pflag.FlagSet, n *numflag.Num[T], usage string) {
	fs.Var(n, n.Name(), numflag.Usage(n, usage))
}

// connect dials Temporal once per invocation.
func (a *app) connect() (client.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	zl, err := logging.New(a.logLevel)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	opts, err := a.temporal.ClientOptions(logging.NewTemporal(zl))
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	c, err := client.Dial(opts)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("connect to Temporal at %s (namespace %s): %w", opts.HostPort, opts.Namespace, err)}
	}
	a.client = c
	return c, nil
}

// usageErr is a usage error (exit 2).
func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}
