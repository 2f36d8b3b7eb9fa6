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
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/internal/fleetworker"
	"github.com/fleetmend/fleetmend/internal/logging"
	"github.com/fleetmend/fleetmend/internal/metrics"
	"github.com/fleetmend/fleetmend/internal/version"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
}

type options struct {
	temporal    config.Temporal
	worker      fleetworker.Config
	regions     string
	logLevel    string
	metricsAddr string
	version     bool
}

// newFlagSet registers every flag of the worker into o. FLEETMEND_*
// variables are read here, as the flags' defaults.
func newFlagSet(o *options) *flag.FlagSet {
	// Ranges of the numeric flags. The ECS timeouts stay within the activities'
	// 30 s heartbeat timeout: activities heartbeat between ECS calls, so a
	// longer call would look like a dead worker. The SDK panics on one
	// concurrent workflow task (it would only ever poll the sticky queue).
	ecsConcurrencyRange := numflag.Range[int]{Min: 1, Max: ecs.MaxPoolSize}
	ecsTimeoutRange := numflag.Range[time.Duration]{Min: 100 * time.Millisecond, Max: 30 * time.Second}
	concurrentActivityRange := numflag.Range[int]{Min: 1, Max: 1000}
	concurrentWorkflowRange := numflag.Range[int]{Min: 2, Max: 1000}
	activitiesPerSecondRange := numflag.Range[float64]{Min: 0, Max: 100000}
	stopTimeoutRange := numflag.Range[time.Duration]{Min: time.Second, Max: time.Hour}
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: worker [flags]\n\nRuns fleetmend's Temporal worker. Example, against the simulator:\n"+
			"  ALIBABA_CLOUD_ACCESS_KEY_ID=... ALIBABA_CLOUD_ACCESS_KEY_SECRET=... \\\n"+
			"  worker --ecs-endpoint 127.0.0.1:8300 --ecs-scheme HTTP\n\nFlags:\n")
		numflag.PrintFlags(fs.Output(), fs)
	}
	o.temporal.RegisterFlags(fs)
	w := &o.worker
	fs.StringVar(&w.TaskQueue, "task-queue", config.Env("FLEETMEND_TASK_QUEUE", config.DefaultTaskQueue), "task queue to poll (FLEETMEND_TASK_QUEUE)")
	fs.StringVar(&o.regions, "regions", config.Env("FLEETMEND_REGIONS", ""), "comma-separated regions this worker serves, required; it polls their task queues <task-queue>-<region>; all: every region DescribeRegions lists at start (FLEETMEND_REGIONS)")
	fs.StringVar(&w.ECS.Endpoint, "ecs-endpoint", config.Env("FLEETMEND_ECS_ENDPOINT", ""), "ECS endpoint host:port override, e.g. the simulator's 127.0.0.1:8300; empty uses Alibaba Cloud's endpoint for the region (FLEETMEND_ECS_ENDPOINT)")
	fs.StringVar(&w.ECS.Scheme, "ecs-scheme", config.Env("FLEETMEND_ECS_SCHEME", "HTTPS"), "HTTPS, or HTTP (only with --ecs-endpoint) (FLEETMEND_ECS_SCHEME)")
	numflag.Register(fs, numflag.NewInt(&w.ECS.PoolSize, "ecs-concurrency", ecs.DefaultPoolSize, ecsConcurrencyRange).FromEnv("FLEETMEND_ECS_CONCURRENCY"),
		"ECS requests in flight at once per region, one SDK client each")
	numflag.Register(fs, numflag.NewDuration(&w.ECS.ConnectTimeout, "ecs-connect-timeout", ecs.DefaultConnectTimeout, ecsTimeoutRange).FromEnv("FLEETMEND_ECS_CONNECT_TIMEOUT"),
		"connect timeout of each ECS request (at most the activities' 30s heartbeat timeout)")
	numflag.Register(fs, numflag.NewDuration(&w.ECS.ReadTimeout, "ecs-read-timeout", ecs.DefaultReadTimeout, ecsTimeoutRange).FromEnv("FLEETMEND_ECS_READ_TIMEOUT"),
		"read timeout of each ECS request (at most the activities' 30s heartbeat timeout)")
	numflag.Register(fs, numflag.NewInt(&w.MaxConcurrentActivities, "max-concurrent-activities", 20, concurrentActivityRange).FromEnv("FLEETMEND_MAX_CONCURRENT_ACTIVITIES"),
		"activities running at once on this worker")
	numflag.Register(fs, numflag.NewInt(&w.MaxConcurrentWorkflowTasks, "max-concurrent-workflow-tasks", 10, concurrentWorkflowRange).FromEnv("FLEETMEND_MAX_CONCURRENT_WORKFLOW_TASKS"),
		"workflow tasks at once on this worker (the Temporal SDK needs at least 2)")
	numflag.Register(fs, numflag.NewFloat(&w.ActivitiesPerSecond, "activities-per-second", 0, activitiesPerSecondRange).FromEnv("FLEETMEND_ACTIVITIES_PER_SECOND"),
		"activity starts per second on this worker (0: no limit)")
	numflag.Register(fs, numflag.NewFloat(&w.TaskQueueActivitiesPerSecond, "task-queue-activities-per-second", 0, activitiesPerSecondRange).FromEnv("FLEETMEND_TASK_QUEUE_ACTIVITIES_PER_SECOND"),
		"activity starts per second across all workers of the task queue, enforced by the server (0: no limit)")
	numflag.Register(fs, numflag.NewDuration(&w.StopTimeout, "stop-timeout", 30*time.Second, stopTimeoutRange).FromEnv("FLEETMEND_STOP_TIMEOUT"),
		"on SIGTERM, how long running activities may finish before the worker exits")
	fs.StringVar(&o.logLevel, "log-level", config.Env("FLEETMEND_LOG_LEVEL", "info"), "debug, info, warn or error (FLEETMEND_LOG_LEVEL)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", config.Env("FLEETMEND_METRICS_ADDR", ""), "serve Prometheus /metrics and /healthz on host:port, e.g. :9464; empty: off (FLEETMEND_METRICS_ADDR)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	return fs
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := newFlagSet(&o)
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
		return o, fmt.Errorf("unexpected arguments %q; all settings are flags", strings.Join(fs.Args(), " "))
	}
	o.worker.Regions = config.SplitList(o.regions)
	if len(o.worker.Regions) == 1 && strings.EqualFold(o.worker.Regions[0], "all") {
		// Resolved by DescribeRegions once the worker starts.
		o.worker.Regions, o.worker.AllRegions = nil, true
	}
	if len(o.worker.Regions) == 0 && !o.worker.AllRegions {
		return o, errors.New("--regions is required (FLEETMEND_REGIONS): the regions this worker serves, e.g. cn-hangzhou,cn-shanghai; it polls the task queue <task-queue>-<region> of each")
	}
	if o.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(o.metricsAddr); err != nil {
			return o, fmt.Errorf("--metrics-addr %q is not host:port (e.g. :9464 or 127.0.0.1:9464)", o.metricsAddr)
		}
	}
	if err := o.worker.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

func run(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(args[1:])
	}
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.version {
		_, err := fmt.Fprintln(stdout, version.Line("worker"))
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
	copts.Identity = identity()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var m *metrics.Set
	if o.metricsAddr != "" {
		if m, err = metrics.New(); err != nil {
			return err
		}
		defer func() { _ = m.Close() }()
		copts.MetricsHandler = m.Handler
		o.worker.ECS.Observe = m.ObserveECS
	}
	c, err := client.Dial(copts)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", copts.HostPort, err)
	}
	defer c.Close()
	o.worker.Logger = copts.Logger
	if err := o.worker.ResolveRegions(ctx); err != nil {
		return err
	}
	w, err := fleetworker.New(c, o.worker)
	if err != nil {
		return err
	}
	if m != nil {
		addr, err := m.Serve(ctx, o.metricsAddr, polling(c, w.Queues(), copts.Identity))
		if err != nil {
			return err
		}
		zl.Info("serving /metrics and /healthz", zap.String("addr", addr.String()))
	}
	zl.Info("fleetmend worker starting",
		zap.String("temporal_address", copts.HostPort), zap.String("namespace", copts.Namespace),
		zap.Strings("task_queues", w.Queues()), zap.String("ecs_endpoint", endpointOrDefault(o.worker.ECS.Endpoint)),
		zap.Strings("regions", o.worker.Regions), zap.String("identity", copts.Identity))
	// worker.InterruptCh closes on SIGINT or SIGTERM; Run then stops
	// polling and waits up to --stop-timeout for running activities.
	if err := w.Run(worker.InterruptCh()); err != nil {
		return fmt.Errorf("worker stopped: %w", err)
	}
	zl.Info("fleetmend worker stopped")
	return nil
}

// identity names this worker process in Temporal (pollers, activity
// attempts in the history) and in /healthz's check.
func identity() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("fleetmend-worker@%s:%d", host, os.Getpid())
}

// polling is /healthz's check: the server has seen this worker poll every
// one of its task queues within the last minute.
func polling(c client.Client, queues []string, identity string) metrics.Health {
	return func(ctx context.Context) error {
		for _, q := range queues {
			resp, err := c.DescribeTaskQueue(ctx, q, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
			if err != nil {
				return fmt.Errorf("describe task queue %s: %w", q, err)
			}
			seen := false
			for _, p := range resp.GetPollers() {
				if p.GetIdentity() == identity && time.Since(p.GetLastAccessTime().AsTime()) < time.Minute {
					seen = true
				}
			}
			if !seen {
				return fmt.Errorf("not polling task queue %s", q)
			}
		}
		return nil
	}
}

// healthcheck is `worker healthcheck`: the Docker health check of an image
// without a shell. It asks the worker's /healthz at --metrics-addr (or
// FLEETMEND_METRICS_ADDR) and exits 0 when it says ok.
func healthcheck(args []string) error {
	fs := flag.NewFlagSet("worker healthcheck", flag.ContinueOnError)
	addr := fs.String("metrics-addr", config.Env("FLEETMEND_METRICS_ADDR", ""), "the worker's --metrics-addr (FLEETMEND_METRICS_ADDR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" {
		return errors.New("healthcheck: --metrics-addr (or FLEETMEND_METRICS_ADDR) is required")
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("healthcheck: --metrics-addr %q is not host:port", *addr)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return metrics.Probe(ctx, net.JoinHostPort(host, port))
}

func endpointOrDefault(e string) string {
	if e == "" {
		return "(Alibaba Cloud endpoint of each region)"
	}
	return e
}
