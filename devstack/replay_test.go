package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/fleetworker"
	"github.com/fleetmend/fleetmend/internal/logging"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// updateHistoriesEnv, when set to 1, makes TestReplayRecordedHistories also
// write the histories it records to workflows/testdata, where the
// workflows package's replay test keeps replaying them.
const updateHistoriesEnv = "FLEETMEND_UPDATE_HISTORIES"

// TestReplayRecordedHistories runs a small region (continuing as new every
// 50 events, with every kind of problem) on the real server, fetches the
// histories of its runs, of a batch and of the region's guard, and replays
// them with worker.WorkflowReplayer: a workflow change that breaks
// determinism fails here. With FLEETMEND_UPDATE_HISTORIES=1 it writes them
// to workflows/testdata/v5 (the current engine's; v1 to v4 are kept as
// recorded, for runs of the engines before).
func TestReplayRecordedHistories(t *testing.T) {
	e2e.SkipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, TimeScale: 60, SimSeed: 9, Worker: true, Logger: zap.NewNop(),
		Fleet: ecssim.FleetSpec{Size: 120, Seed: 8, Missing: 0.15, Silent: 0.1, Stopped: 0.05, InstallFails: 0.02, Outdated: 0.05},
	})
	require.NoError(t, err)
	defer st.Close()

	in := e2e.Input()
	in.EventsPerRun = workflows.MinEventsPerRun
	in.BatchSize = 10
	id := "fleetmend/cn-hangzhou/replay"
	run, err := st.StartRun(ctx, id, in)
	require.NoError(t, err)
	firstRunID := run.GetRunID() // Get follows continue-as-new and moves the run ID on
	var rep workflows.Report
	require.NoError(t, run.Get(ctx, &rep))
	require.GreaterOrEqual(t, rep.Runs, 2, "continued as new at least once")

	dry := in
	dry.DryRun = true
	dryRun, err := st.StartRun(ctx, id+"-dry", dry)
	require.NoError(t, err)
	var dryRep workflows.Report
	require.NoError(t, dryRun.Get(ctx, &dryRep))

	// A fleet run over every region the account has (this one), planning:
	// the parent, its DescribeRegions and its child.
	fleetIn := dry
	fleetIn.Region = ""
	fleetID := "fleetmend/fleet/replay"
	fleet, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fleetID, TaskQueue: config.DefaultTaskQueue},
		workflows.RemediateFleet, workflows.FleetInput{AllRegions: true, Run: fleetIn})
	require.NoError(t, err)
	var summary workflows.FleetReport
	require.NoError(t, fleet.Get(ctx, &summary))

	// An apply of the dry run's plan: a pinned run's history (its plan
	// checks and its measure of the region).
	plan := in
	plan.InstanceIDs = nil
	for _, b := range dryRep.Plan {
		plan.InstanceIDs = append(plan.InstanceIDs, b.InstanceIDs...)
		plan.Plan = appendBatch(plan.Plan, len(b.InstanceIDs))
	}
	require.NotEmpty(t, plan.InstanceIDs, "the dry run planned something to apply")
	plan.Plan.WorkflowID, plan.Plan.PlannedAt = id+"-dry", dryRep.ScannedAt
	plan.Plan.MaxAge, plan.Plan.MaxDriftPercent = workflows.Duration(time.Hour), 100
	apply, err := st.StartRun(ctx, id+"-apply", plan)
	require.NoError(t, err)
	require.NoError(t, apply.Get(ctx, &workflows.Report{}))

	histories := map[string]*historypb.History{
		"region-apply.json":     fetchHistory(ctx, t, st.Client, id+"-apply", ""),
		"region-first-run.json": fetchHistory(ctx, t, st.Client, id, firstRunID),
		"region-last-run.json":  fetchHistory(ctx, t, st.Client, id, ""),
		"batch.json":            fetchHistory(ctx, t, st.Client, id+"/batch-1", ""),
		"region-dry-run.json":   fetchHistory(ctx, t, st.Client, id+"-dry", ""),
		"guard.json":            fetchHistory(ctx, t, st.Client, guard.WorkflowID(e2e.Region), ""),
		"fleet.json":            fetchHistory(ctx, t, st.Client, fleetID, ""),
	}
	logger := logging.NewTemporal(zap.NewNop())
	update := os.Getenv(updateHistoriesEnv) == "1"
	for name, h := range histories {
		require.NoError(t, fleetworker.ReplayHistory(logger, h), "replay %s", name)
		if update {
			b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join("..", "workflows", "testdata", "v5", name), b, 0o644))
		}
	}
}

func fetchHistory(ctx context.Context, t *testing.T, c client.Client, workflowID, runID string) *historypb.History {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err, "history of %s", workflowID)
		h.Events = append(h.Events, ev)
	}
	require.NotEmpty(t, h.Events, fmt.Sprintf("history of %s/%s", workflowID, runID))
	return h
}

// appendBatch adds a planned batch of n instances to a plan.
func appendBatch(p *workflows.PlanInput, n int) *workflows.PlanInput {
	if p == nil {
		p = &workflows.PlanInput{}
	}
	p.Batches = append(p.Batches, n)
	return p
}
