package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/api/adminservice/v1"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/fleetmend/fleetmend/ecssim"
	fmconfig "github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/logging"
	"github.com/fleetmend/fleetmend/internal/pgschema"
	"github.com/fleetmend/fleetmend/internal/pgtest"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/internal/temporalcfg"
	"github.com/fleetmend/fleetmend/workflows"
)

const (
	fleetSize = 2000
	runID     = "fleetmend/" + e2e.Region + "/cluster"
	// Timeouts of the steps; each is far above what it takes here, for a
	// loaded CI machine.
	formTimeout   = 2 * time.Minute
	rejoinTimeout = 90 * time.Second
	runTimeout    = 6 * time.Minute
	listTimeout   = time.Minute
)

// TestClusterOnPostgres: fleetmend on a Temporal cluster of separate server
// processes (a frontend, a matching host, two history hosts, a worker
// service) on PostgreSQL, with two worker binaries and a 2,000-instance
// fleet. In the middle of the run the history host that owns the run's
// shard is SIGKILLed and restarted, and later PostgreSQL itself is
// restarted under the cluster. The run completes, and the simulator's
// truth says: every fixable instance healthy, nothing rebooted twice,
// nothing healthy or stopped touched. `starter list` and `starter status`
// show the completed run with the report's counts, once SQL visibility has
// caught up.
func TestClusterOnPostgres(t *testing.T) {
	e2e.SkipShort(t)
	began := time.Now()
	phase := func(what string, since time.Time) { t.Logf("%-40s %6.1fs", what, time.Since(since).Seconds()) }
	hosts := Topology{temporalcfg.Frontend: 1, temporalcfg.Matching: 1, temporalcfg.History: 2, temporalcfg.Worker: 1}
	pg := pgtest.Start(t, pgtest.Options{MaxConnections: temporalcfg.MaxConnections(5)})
	phase("PostgreSQL up", began)

	step := time.Now()
	bins := buildAll(t, map[string]string{
		"temporalsvc": "./internal/temporalsvc",
		"worker":      "github.com/fleetmend/fleetmend/worker",
		"starter":     "github.com/fleetmend/fleetmend/starter",
	})
	phase("binaries built", step)

	// A fresh database for each store, schema from the server module's own
	// files with its own tool, as the compose stack's schema job does.
	step = time.Now()
	conn := config.SQL{ConnectAddr: pg.Addr(), User: pgtest.User, Password: pg.Password(),
		ConnectAttributes: map[string]string{"sslmode": "disable"}}
	for _, st := range []pgschema.Store{
		pgschema.Persistence(conn, temporalcfg.Database),
		pgschema.Visibility(conn, temporalcfg.VisibilityDatabase),
	} {
		res, err := pgschema.Setup(st, log.NewNoopLogger())
		require.NoError(t, err)
		require.True(t, res.Created, "%s is a fresh database", res.Database)
		require.Equal(t, st.Want, res.After)
	}
	phase("schema set up", step)

	step = time.Now()
	cl := StartCluster(t, bins["temporalsvc"], pg, hosts)
	phase("cluster formed (5 processes)", step)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	desc, err := cl.Admin.DescribeCluster(ctx, &adminservice.DescribeClusterRequest{})
	require.NoError(t, err)
	require.EqualValues(t, temporalcfg.NumHistoryShards, desc.GetHistoryShardCount())
	require.Equal(t, temporalcfg.SQLPlugin, desc.GetPersistenceStore())
	require.Equal(t, temporalcfg.SQLPlugin, desc.GetVisibilityStore())

	step = time.Now()
	c, err := client.DialContext(ctx, client.Options{HostPort: cl.FrontendAddr(), Namespace: temporalcfg.Namespace,
		Logger: logging.NewTemporal(zap.NewNop())})
	require.NoError(t, err)
	defer c.Close()
	registerNamespace(ctx, t, c)
	phase("namespace and search attributes", step)

	fleet := e2e.Fleet()
	fleet.Size, fleet.Region = fleetSize, e2e.Region
	sim, err := ecssim.New(ecssim.Config{Regions: []string{e2e.Region}, Fleets: []ecssim.FleetSpec{fleet}, TimeScale: 60, Seed: 5})
	require.NoError(t, err)
	simSrv, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = simSrv.Close() })
	for range 2 {
		e2e.StartWorkerAt(t, bins["worker"], cl.FrontendAddr(), temporalcfg.Namespace, simSrv.Endpoint(), "--regions", e2e.Region)
	}

	step = time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    runID,
		TaskQueue:             fmconfig.RegionTaskQueue(fmconfig.DefaultTaskQueue, e2e.Region),
		TypedSearchAttributes: workflows.RunSearchAttributes(e2e.Region, workflows.KindManual, false),
		StaticSummary:         "fleetmend manual run of " + e2e.Region + " (cluster test)",
	}, workflows.RemediateRegion, e2e.Input())
	require.NoError(t, err)
	var killed *Host
	killedAt, restartedPG := 0, false
	rep, err := stack.WaitProgress(ctx, c, run, 200*time.Millisecond, func(p workflows.Progress) {
		switch {
		case killed == nil && p.BatchesDone >= 1:
			// The host that owns the run's shard: its in-memory state of
			// the run and of the shard's timers and tasks goes with it.
			ms, err := cl.Admin.DescribeMutableState(ctx, &adminservice.DescribeMutableStateRequest{
				Namespace: temporalcfg.Namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: runID},
			})
			require.NoError(t, err)
			killed, killedAt = cl.HostAt(ms.GetHistoryAddr()), p.BatchesDone
			var survivor *Host
			for _, h := range cl.Hosts(temporalcfg.History) {
				if h != killed {
					survivor = h
				}
			}
			t.Logf("SIGKILL %s (owns shard %s of the run) after %d of %d batches", killed.Name, ms.GetShardId(), p.BatchesDone, p.BatchesStarted)
			cl.Kill(killed)
			down := time.Now()
			// The ring notices the loss and the survivor takes every shard
			// over, while the run goes on; then the host comes back and
			// takes its share again.
			all := func(n int) bool { return n == temporalcfg.NumHistoryShards }
			cl.WaitShards(survivor, "owns every shard", all, rejoinTimeout)
			phase("shards failed over to "+survivor.Name, down)
			back := time.Now()
			cl.Restart(killed, rejoinTimeout)
			shards := cl.WaitShards(killed, "owns shards again", func(n int) bool { return n > 0 }, rejoinTimeout)
			phase(fmt.Sprintf("%s restarted, owns shards %v", killed.Name, shards), back)
		case killed != nil && !restartedPG && p.BatchesDone >= killedAt+3:
			restartedPG = true
			t.Logf("restart PostgreSQL after %d batches", p.BatchesDone)
			down := time.Now()
			pg.Restart()
			phase("PostgreSQL restarted", down)
		}
	})
	require.NoError(t, err)
	phase(fmt.Sprintf("run of %d instances", fleetSize), step)
	require.NotNil(t, killed, "the run ended before a history host could be killed")
	require.True(t, restartedPG, "the run ended before PostgreSQL could be restarted")

	// The simulator's truth.
	e2e.CheckAgainstTruth(t, sim, rep)
	e2e.RequireNothingTwice(t, sim.Truth())
	repaired := repairUnconfirmed(ctx, t, c, sim, rep)
	t.Logf("report: %+v; reboot-unconfirmed repaired by a follow-up run: %d", rep.Counts, len(repaired))

	// The real CLI, through SQL visibility (which lags the run's close).
	step = time.Now()
	requireStarterShows(t, bins["starter"], cl.FrontendAddr(), rep)
	phase("starter list and status show the run", step)
	phase("whole test", began)
}

// registerNamespace creates the namespace and registers fleetmend's search
// attributes in it, as the compose stack's setup job does, then waits
// until the frontend accepts a visibility query on them (it reads the
// attributes' columns from its namespace cache).
func registerNamespace(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: temporalcfg.Namespace, WorkflowExecutionRetentionPeriod: durationpb.New(temporalcfg.NamespaceRetention),
	})
	require.NoError(t, err)
	poll(t, formTimeout, "search attributes registered", func() error {
		_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: temporalcfg.Namespace, SearchAttributes: stack.SearchAttributes(),
		})
		return err
	})
	poll(t, formTimeout, "search attributes usable", func() error {
		_, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: temporalcfg.Namespace, Query: fmt.Sprintf("%s = '%s'", workflows.SARegionName, e2e.Region),
		})
		return err
	})
}

// repairUnconfirmed runs a follow-up run on the instances the run left
// reboot-unconfirmed, as an SRE would (see e2e.RepairUnconfirmed): each is
// then remediated with one reboot in all.
func repairUnconfirmed(ctx context.Context, t *testing.T, c client.Client, sim *ecssim.Sim, rep workflows.Report) []string {
	t.Helper()
	var ids []string
	for _, r := range rep.Rows {
		if r.Reason == workflows.ReasonRebootUnconfirmed {
			ids = append(ids, r.InstanceID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	in := e2e.Input()
	in.InstanceIDs = ids
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: runID + "-repair", TaskQueue: fmconfig.RegionTaskQueue(fmconfig.DefaultTaskQueue, e2e.Region),
		TypedSearchAttributes: workflows.RunSearchAttributes(e2e.Region, workflows.KindManual, false),
	}, workflows.RemediateRegion, in)
	require.NoError(t, err)
	var next workflows.Report
	require.NoError(t, run.Get(ctx, &next))
	var repaired []string
	for _, r := range next.Rows {
		tr, ok := sim.Instance(r.InstanceID)
		require.True(t, ok)
		if tr.InitialProblem == ecssim.ProblemInstallFails || tr.Vanished {
			continue
		}
		require.Equal(t, workflows.OutcomeRemediated, r.Outcome, "%+v", r)
		require.Equal(t, 1, tr.Reboots, r.InstanceID)
		require.True(t, tr.AgentHealthy, r.InstanceID)
		repaired = append(repaired, r.InstanceID)
	}
	return repaired
}

// requireStarterShows runs the starter binary until `list` shows the run
// completed with the report's counts (visibility is updated after the run
// closes), then `status`.
func requireStarterShows(t *testing.T, bin, frontend string, rep workflows.Report) {
	t.Helper()
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+frontend, "TEMPORAL_NAMESPACE="+temporalcfg.Namespace,
		"TEMPORAL_CONFIG_FILE="+filepath.Join(t.TempDir(), "none.toml"))
	starter := func(args ...string) ([]byte, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("starter %s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
		return out, nil
	}
	type listed struct {
		WorkflowID string `json:"workflow_id"`
		Status     string `json:"status"`
		Remediated *int64 `json:"remediated"`
		Failed     *int64 `json:"failed"`
	}
	poll(t, listTimeout, "starter list shows the completed run", func() error {
		out, err := starter("list", "--region", e2e.Region, "--json")
		if err != nil {
			return err
		}
		var runs []listed
		if err := json.Unmarshal(out, &runs); err != nil {
			return fmt.Errorf("starter list --json: %w: %s", err, out)
		}
		for _, r := range runs {
			if r.WorkflowID != runID {
				continue
			}
			if r.Status != "completed" || r.Remediated == nil || *r.Remediated != int64(rep.Counts.Remediated) ||
				r.Failed == nil || *r.Failed != int64(rep.Counts.Failed) {
				return fmt.Errorf("listed as %s, remediated %v, failed %v; the report has %d and %d",
					r.Status, deref(r.Remediated), deref(r.Failed), rep.Counts.Remediated, rep.Counts.Failed)
			}
			return nil
		}
		return fmt.Errorf("%s not listed yet (%d runs)", runID, len(runs))
	})
	out, err := starter("status", runID, "--json")
	require.NoError(t, err)
	var status struct {
		Status string           `json:"status"`
		Counts workflows.Counts `json:"counts"`
	}
	require.NoError(t, json.Unmarshal(out, &status), "%s", out)
	require.Equal(t, "completed", status.Status)
	require.Equal(t, rep.Counts.Remediated, status.Counts.Remediated)
	require.Equal(t, rep.Counts.Failed, status.Counts.Failed)
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// poll calls f until it returns nil, failing the test with f's last error
// when timeout passes first.
func poll(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		<-tick.C
	}
}

// buildAll builds the binaries (name → package) side by side into the
// test's temporary directory. temporalsvc links the whole Temporal server;
// the symbol tables are left out (-s -w), which the tests never read and
// which make the link slower.
func buildAll(t *testing.T, pkgs map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	errs := make(chan error, len(pkgs))
	var wg sync.WaitGroup
	for name, pkg := range pkgs {
		bin := filepath.Join(dir, name)
		out[name] = bin
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b, err := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, pkg).CombinedOutput(); err != nil {
				errs <- fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return out
}
