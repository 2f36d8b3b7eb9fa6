// Command worker runs fleetmend's Temporal worker: it polls the fleetmend
// task queue and runs the RemediateRegion and RemediateBatch workflows and
// their ECS activities.
//
// Temporal connection: Temporal's standard environment configuration
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
// TEMPORAL_PROFILE, the TOML config file), overridable by flags.
// Alibaba Cloud credentials: the SDK's default chain (ALIBABA_CLOUD_ACCESS_KEY_ID
// and _SECRET and _SECURITY_TOKEN, OIDC, the CLI profile, the ECS RAM role).
// Every flag can also be set by the FLEETMEND_* variable named in its help.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/fleetworker"
	"github.com/fleetmend/fleetmend/internal/logging"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
}

type options struct {
	temporal config.Temporal
	worker   fleetworker.Config
	regions  string
	logLevel string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: worker [flags]\n\nRuns fleetmend's Temporal worker. Example, against the simulator:\n"+
			"  ALIBABA_CLOUD_ACCESS_KEY_ID=... ALIBABA_CLOUD_ACCESS_KEY_SECRET=... \\\n"+
			"  worker --ecs-endpoint 127.0.0.1:8300 --ecs-scheme HTTP\n\nFlags:\n")
		fs.PrintDefaults()
	}
	o.temporal.RegisterFlags(fs)

	var errs []error
	envInt := func(name string, def int) int {
		v, err := config.EnvInt(name, def)
		errs = append(errs, err)
		return v
	}
	envFloat := func(name string, def float64) float64 {
		v, err := config.EnvFloat(name, def)
		errs = append(errs, err)
		return v
	}
	envDur := func(name string, def time.Duration) time.Duration {
		v, err := config.EnvDuration(name, def)
		errs = append(errs, err)
		return v
	}
	w := &o.worker
	fs.StringVar(&w.TaskQueue, "task-queue", config.Env("FLEETMEND_TASK_QUEUE", config.DefaultTaskQueue), "task queue to poll (FLEETMEND_TASK_QUEUE)")
	fs.StringVar(&o.regions, "regions", config.Env("FLEETMEND_REGIONS", ""), "comma-separated regions this worker serves; empty serves any (FLEETMEND_REGIONS)")
	fs.StringVar(&w.ECS.Endpoint, "ecs-endpoint", config.Env("FLEETMEND_ECS_ENDPOINT", ""), "ECS endpoint host:port override, e.g. the simulator's 127.0.0.1:8300; empty uses Alibaba Cloud's endpoint for the region (FLEETMEND_ECS_ENDPOINT)")
	fs.StringVar(&w.ECS.Scheme, "ecs-scheme", config.Env("FLEETMEND_ECS_SCHEME", "HTTPS"), "HTTPS, or HTTP (only with --ecs-endpoint) (FLEETMEND_ECS_SCHEME)")
	fs.IntVar(&w.ECS.PoolSize, "ecs-concurrency", envInt("FLEETMEND_ECS_CONCURRENCY", ecs.DefaultPoolSize), fmt.Sprintf("ECS requests in flight at once per region, 1..%d (FLEETMEND_ECS_CONCURRENCY)", ecs.MaxPoolSize))
	fs.DurationVar(&w.ECS.ConnectTimeout, "ecs-connect-timeout", envDur("FLEETMEND_ECS_CONNECT_TIMEOUT", ecs.DefaultConnectTimeout), "connect timeout of each ECS request (FLEETMEND_ECS_CONNECT_TIMEOUT)")
	fs.DurationVar(&w.ECS.ReadTimeout, "ecs-read-timeout", envDur("FLEETMEND_ECS_READ_TIMEOUT", ecs.DefaultReadTimeout), "read timeout of each ECS request (FLEETMEND_ECS_READ_TIMEOUT)")
	fs.IntVar(&w.MaxConcurrentActivities, "max-concurrent-activities", envInt("FLEETMEND_MAX_CONCURRENT_ACTIVITIES", 20), "activities running at once on this worker, 1..1000 (FLEETMEND_MAX_CONCURRENT_ACTIVITIES)")
	fs.IntVar(&w.MaxConcurrentWorkflowTasks, "max-concurrent-workflow-tasks", envInt("FLEETMEND_MAX_CONCURRENT_WORKFLOW_TASKS", 10), "workflow tasks at once on this worker, 1..1000 (FLEETMEND_MAX_CONCURRENT_WORKFLOW_TASKS)")
	fs.Float64Var(&w.ActivitiesPerSecond, "activities-per-second", envFloat("FLEETMEND_ACTIVITIES_PER_SECOND", 0), "activity starts per second on this worker, 0 for no limit (FLEETMEND_ACTIVITIES_PER_SECOND)")
	fs.Float64Var(&w.TaskQueueActivitiesPerSecond, "task-queue-activities-per-second", envFloat("FLEETMEND_TASK_QUEUE_ACTIVITIES_PER_SECOND", 0), "activity starts per second across all workers of the task queue, 0 for no limit (FLEETMEND_TASK_QUEUE_ACTIVITIES_PER_SECOND)")
	fs.DurationVar(&w.StopTimeout, "stop-timeout", envDur("FLEETMEND_STOP_TIMEOUT", 30*time.Second), "on SIGTERM, how long running activities may finish before the worker exits (FLEETMEND_STOP_TIMEOUT)")
	fs.StringVar(&o.logLevel, "log-level", config.Env("FLEETMEND_LOG_LEVEL", "info"), "debug, info, warn or error (FLEETMEND_LOG_LEVEL)")
	if err := errors.Join(errs...); err != nil {
		return o, err
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q; all settings are flags", strings.Join(fs.Args(), " "))
	}
	o.worker.Regions = config.SplitList(o.regions)
	if err := o.worker.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	zl, err := logging.New(o.logLevel)
	if err != nil {
		return err
	}
	defer func() { _ = zl.Sync() }()
	copts, err := o.temporal.ClientOptions(logging.NewTemporal(zl))
	if err != nil {
		return err
	}
	c, err := client.Dial(copts)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", copts.HostPort, err)
	}
	defer c.Close()
	w, err := fleetworker.New(c, o.worker)
	if err != nil {
		return err
	}
	zl.Info("fleetmend worker starting",
		zap.String("temporal_address", copts.HostPort), zap.String("namespace", copts.Namespace),
		zap.String("task_queue", o.worker.TaskQueue), zap.String("ecs_endpoint", endpointOrDefault(o.worker.ECS.Endpoint)),
		zap.Strings("regions", o.worker.Regions))
	// worker.InterruptCh closes on SIGINT or SIGTERM; Run then stops
	// polling and waits up to --stop-timeout for running activities.
	if err := w.Run(worker.InterruptCh()); err != nil {
		return fmt.Errorf("worker stopped: %w", err)
	}
	zl.Info("fleetmend worker stopped")
	return nil
}

func endpointOrDefault(e string) string {
	if e == "" {
		return "(Alibaba Cloud endpoint of each region)"
	}
	return e
}
