package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/devserver"
	"github.com/fleetmend/fleetmend/internal/fleetworker"
	"github.com/fleetmend/fleetmend/internal/logging"
	"github.com/fleetmend/fleetmend/workflows"
)

// stackOptions configures the one-process stack. The end-to-end tests use
// the same type, so what they test is what the quickstart runs.
type stackOptions struct {
	// DataDir holds the Temporal SQLite database; "" keeps it in memory.
	DataDir      string
	IP           string
	FrontendPort int
	UIPort       int // -1: no UI
	SimPort      int
	Namespace    string

	Region string
	Fleet  ecssim.FleetSpec
	// TimeScale is simulated seconds per real second.
	TimeScale float64
	SimSeed   int64

	// Worker runs the fleetmend worker in this process.
	Worker    bool
	WorkerCfg fleetworker.Config

	Logger *zap.Logger
}

type stack struct {
	server *devserver.Server
	sim    *ecssim.Sim
	simSrv *ecssim.Server
	client client.Client
	worker worker.Worker
	opts   stackOptions
}

// searchAttributes is fleetmend's custom search attributes in the form the
// dev server registers them.
func searchAttributes() map[string]enumspb.IndexedValueType {
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

func startStack(ctx context.Context, o stackOptions) (_ *stack, err error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	st := &stack{opts: o}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	dbFile := ""
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		dbFile = filepath.Join(o.DataDir, "temporal.db")
	}
	st.server, err = devserver.Start(ctx, devserver.Options{
		DBFile: dbFile, IP: o.IP, FrontendPort: o.FrontendPort, UIPort: o.UIPort,
		Namespace: o.Namespace, SearchAttributes: searchAttributes(), Logger: o.Logger.Named("temporal"),
	})
	if err != nil {
		return nil, fmt.Errorf("start Temporal server: %w", err)
	}
	o.Fleet.Region = o.Region
	st.sim, err = ecssim.New(ecssim.Config{
		Regions:   []string{o.Region},
		TimeScale: o.TimeScale,
		Seed:      o.SimSeed,
		Fleets:    []ecssim.FleetSpec{o.Fleet},
	})
	if err != nil {
		return nil, fmt.Errorf("create ECS simulator: %w", err)
	}
	ip := o.IP
	if ip == "" {
		ip = "127.0.0.1"
	}
	st.simSrv, err = st.sim.Start(fmt.Sprintf("%s:%d", ip, o.SimPort))
	if err != nil {
		return nil, err
	}
	st.client, err = client.Dial(client.Options{
		HostPort: st.server.FrontendHostPort(), Namespace: st.server.Namespace(),
		Logger: logging.NewTemporal(o.Logger.Named("sdk")),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to the embedded Temporal server: %w", err)
	}
	if o.Worker {
		wcfg := o.WorkerCfg
		wcfg.ECS = st.ECSConfig()
		st.worker, err = fleetworker.New(st.client, wcfg)
		if err != nil {
			return nil, err
		}
		if err := st.worker.Start(); err != nil {
			return nil, fmt.Errorf("start worker: %w", err)
		}
	}
	return st, nil
}

// ECSConfig is how a worker reaches this stack's simulator.
func (st *stack) ECSConfig() ecs.Config {
	return ecs.Config{
		Endpoint: st.simSrv.Endpoint(), Scheme: "HTTP",
		Credentials: &ecs.StaticCredentials{AccessKeyID: ecssim.DefaultAccessKeyID, AccessKeySecret: ecssim.DefaultAccessKeySecret},
		PoolSize:    8,
	}
}

// Close stops everything, worker first so no activity outlives its server.
func (st *stack) Close() {
	if st.worker != nil {
		st.worker.Stop()
	}
	if st.client != nil {
		st.client.Close()
	}
	if st.simSrv != nil {
		_ = st.simSrv.Close()
	}
	if st.server != nil {
		if err := st.server.Stop(); err != nil {
			st.opts.Logger.Warn("stopping the Temporal server", zap.Error(err))
		}
	}
}

// startRun starts one RemediateRegion with the search attributes and
// summary the starter would set.
func (st *stack) startRun(ctx context.Context, id string, in workflows.RegionInput) (client.WorkflowRun, error) {
	kind := in.Kind
	if kind == "" {
		kind = workflows.KindManual
	}
	run, err := st.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             "fleetmend",
		TypedSearchAttributes: workflows.RunSearchAttributes(in.Region, kind, in.DryRun),
		StaticSummary:         fmt.Sprintf("fleetmend %s run of %s (devstack)", kind, in.Region),
	}, workflows.RemediateRegion, in)
	if err != nil {
		return nil, fmt.Errorf("start RemediateRegion %s: %w", id, err)
	}
	return run, nil
}

// waitProgress queries progress every interval until the run ends, calling
// show with each answer, and returns the run's report.
func waitProgress(ctx context.Context, c client.Client, run client.WorkflowRun, interval time.Duration, show func(workflows.Progress)) (workflows.Report, error) {
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
