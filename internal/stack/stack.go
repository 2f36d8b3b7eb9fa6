// Package stack assembles fleetmend's one-process stack: the embedded
// Temporal server and Web UI, the ECS simulator and (optionally) the worker.
// devstack runs it for the quickstart; the end-to-end, CLI and browser
// tests run the very same assembly.
package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/devserver"
	"github.com/fleetmend/fleetmend/internal/fleetworker"
	"github.com/fleetmend/fleetmend/internal/logging"
	"github.com/fleetmend/fleetmend/workflows"
)

// Options configures the stack.
type Options struct {
	// DataDir holds the Temporal SQLite database; "" keeps it in memory.
	DataDir string
	// Postgres is a PostgreSQL URL to keep Temporal's state in instead
	// (devserver.Options.Postgres); DataDir is then unused.
	Postgres     string
	IP           string
	FrontendPort int
	UIPort       int // -1: no UI
	SimPort      int
	Namespace    string

	Region string
	Fleet  ecssim.FleetSpec
	// MoreFleets adds regions (each FleetSpec names its Region).
	MoreFleets []ecssim.FleetSpec
	// TimeScale is simulated seconds per real second.
	TimeScale float64
	// Credentials the simulator accepts; default: its built-in key pair.
	Credentials map[string]ecssim.Credential
	SimSeed     int64

	// Worker runs the fleetmend worker in this process.
	Worker    bool
	WorkerCfg fleetworker.Config

	Logger *zap.Logger
}

// Stack is a running stack.
type Stack struct {
	Server    *devserver.Server
	Sim       *ecssim.Sim
	SimServer *ecssim.Server
	Client    client.Client
	Worker    *fleetworker.Workers
	logger    *zap.Logger
	// serverOpts is how the server was started, to start it again.
	serverOpts devserver.Options
}

// RestartServer stops the Temporal server and starts it again on the same
// database file and frontend port, as an operator restarting it (or a
// crash and a supervisor) would. Clients and workers reconnect by
// themselves. The stack must have been started with a DataDir: an
// in-memory database does not survive a stop.
func (st *Stack) RestartServer(ctx context.Context) error {
	if st.serverOpts.DBFile == "" && st.serverOpts.Postgres == "" {
		return errors.New("restart needs a stack with a DataDir or PostgreSQL (the in-memory database does not survive a stop)")
	}
	_, port, err := net.SplitHostPort(st.Server.FrontendHostPort())
	if err != nil {
		return fmt.Errorf("frontend address: %w", err)
	}
	opts := st.serverOpts
	if opts.FrontendPort, err = strconv.Atoi(port); err != nil {
		return fmt.Errorf("frontend port %q: %w", port, err)
	}
	if err := st.Server.Stop(); err != nil {
		return fmt.Errorf("stop the Temporal server: %w", err)
	}
	srv, err := devserver.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("start the Temporal server again: %w", err)
	}
	st.Server = srv
	return nil
}

// SearchAttributes is fleetmend's custom search attributes in the form the
// dev server registers them.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	types := map[string]enumspb.IndexedValueType{
		"Keyword": enumspb.INDEXED_VALUE_TYPE_KEYWORD, "Bool": enumspb.INDEXED_VALUE_TYPE_BOOL,
		"Int": enumspb.INDEXED_VALUE_TYPE_INT, "KeywordList": enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
	}
	out := map[string]enumspb.IndexedValueType{}
	for _, sa := range workflows.SearchAttributeTypes() {
		out[sa[0]] = types[sa[1]]
	}
	return out
}

// Start brings the stack up; on error, whatever started is stopped again.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	st := &Stack{logger: o.Logger}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	dbFile := ""
	if o.DataDir != "" && o.Postgres == "" {
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		dbFile = filepath.Join(o.DataDir, "temporal.db")
	}
	st.serverOpts = devserver.Options{
		DBFile: dbFile, Postgres: o.Postgres, IP: o.IP, FrontendPort: o.FrontendPort, UIPort: o.UIPort,
		Namespace: o.Namespace, SearchAttributes: SearchAttributes(), Logger: o.Logger.Named("temporal"),
	}
	st.Server, err = devserver.Start(ctx, st.serverOpts)
	if err != nil {
		return nil, fmt.Errorf("start Temporal server: %w", err)
	}
	o.Fleet.Region = o.Region
	simCfg := ecssim.Config{Regions: []string{o.Region}, TimeScale: o.TimeScale, Seed: o.SimSeed, Credentials: o.Credentials}
	if o.Fleet.Size > 0 {
		simCfg.Fleets = []ecssim.FleetSpec{o.Fleet}
	}
	for _, f := range o.MoreFleets {
		simCfg.Regions = append(simCfg.Regions, f.Region)
		simCfg.Fleets = append(simCfg.Fleets, f)
	}
	st.Sim, err = ecssim.New(simCfg)
	if err != nil {
		return nil, fmt.Errorf("create ECS simulator: %w", err)
	}
	ip := o.IP
	if ip == "" {
		ip = "127.0.0.1"
	}
	st.SimServer, err = st.Sim.Start(fmt.Sprintf("%s:%d", ip, o.SimPort))
	if err != nil {
		return nil, err
	}
	st.Client, err = client.Dial(client.Options{
		HostPort: st.Server.FrontendHostPort(), Namespace: st.Server.Namespace(),
		Logger: logging.NewTemporal(o.Logger.Named("sdk")),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to the embedded Temporal server: %w", err)
	}
	if o.Worker {
		wcfg := o.WorkerCfg
		wcfg.ECS = st.ECSConfig()
		if len(wcfg.Regions) == 0 {
			wcfg.Regions = simCfg.Regions // the stack's worker serves every simulated region
		}
		st.Worker, err = fleetworker.New(st.Client, wcfg)
		if err != nil {
			return nil, err
		}
		if err := st.Worker.Start(); err != nil {
			return nil, fmt.Errorf("start worker: %w", err)
		}
	}
	return st, nil
}

// ECSConfig is how a worker reaches this stack's simulator.
func (st *Stack) ECSConfig() ecs.Config {
	return ecs.Config{
		Endpoint: st.SimServer.Endpoint(), Scheme: "HTTP",
		Credentials: &ecs.StaticCredentials{AccessKeyID: ecssim.DefaultAccessKeyID, AccessKeySecret: ecssim.DefaultAccessKeySecret},
		PoolSize:    8,
	}
}

// Close stops everything, worker first so no activity outlives its server.
func (st *Stack) Close() {
	if st.Worker != nil {
		st.Worker.Stop()
	}
	if st.Client != nil {
		st.Client.Close()
	}
	if st.SimServer != nil {
		_ = st.SimServer.Close()
	}
	if st.Server != nil {
		if err := st.Server.Stop(); err != nil {
			st.logger.Warn("stopping the Temporal server", zap.Error(err))
		}
	}
}

// StartRun starts one RemediateRegion with the search attributes and
// summary the starter would set.
func (st *Stack) StartRun(ctx context.Context, id string, in workflows.RegionInput) (client.WorkflowRun, error) {
	kind := in.Kind
	if kind == "" {
		kind = workflows.KindManual
	}
	run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             config.RegionTaskQueue(config.DefaultTaskQueue, in.Region),
		TypedSearchAttributes: workflows.RunSearchAttributes(in.Region, kind, in.DryRun),
		StaticSummary:         fmt.Sprintf("fleetmend %s run of %s (devstack)", kind, in.Region),
	}, workflows.RemediateRegion, in)
	if err != nil {
		return nil, fmt.Errorf("start RemediateRegion %s: %w", id, err)
	}
	return run, nil
}

// WaitProgress queries progress every interval until the run ends, calling
// show with each answer, and returns the run's report.
func WaitProgress(ctx context.Context, c client.Client, run client.WorkflowRun, interval time.Duration, show func(workflows.Progress)) (workflows.Report, error) {
	done := make(chan error, 1)
	var rep workflows.Report
	go func() { done <- run.Get(ctx, &rep) }()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return rep, err
		case <-tick.C:
			v, err := c.QueryWorkflow(ctx, run.GetID(), "", workflows.QueryProgress)
			if err != nil {
				continue // e.g. between continue-as-new runs
			}
			var p workflows.Progress
			if v.Get(&p) == nil && show != nil {
				show(p)
			}
		case <-ctx.Done():
			return rep, errors.Join(ctx.Err(), errors.New("stopped waiting for the run"))
		}
	}
}
