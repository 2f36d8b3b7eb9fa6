package fence_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// fenceInput is a run whose batches wait long enough between install and
// reboot (a 4 s grace) to be caught open, with a 20 s verify deadline (20
// simulated minutes), and neither the budget nor the short-circuit in the
// way: most of these fleets' installs never take effect, by design.
func fenceInput(canary int, blast string) workflows.RegionInput {
	in := e2e.Input()
	in.Canary = &canary
	grace := workflows.Duration(4 * time.Second)
	in.RebootGrace = &grace
	in.BlastRadius = blast
	in.ConcurrentBatches = 0
	in.VerifyDeadline = workflows.Duration(20 * time.Second)
	in.MaxUnhealthyPercent = 100
	in.ErrorBudget = "100%"
	n := workflows.MaxReportRows
	in.MaxReportRows = &n
	in.MaxReportBytes = workflows.MaxMaxReportBytes
	return in
}

// batchOpen says whether batch n of run id has started.
func batchOpen(ctx context.Context, c client.Client, id string, n int) bool {
	d, err := c.DescribeWorkflowExecution(ctx, guard.BatchWorkflowID(id, n), "")
	return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// TestTerminatedWithAnUnfencedBatchOpen terminates a run, as the Web UI
// does, right after a batch starts that an older engine started without
// telling the guard (the canary's second batch of a canary of 30; the 51st
// and later batches of a blast radius of 1,100), and starts the next run at
// once. Whatever the first run's batches still do, no instance is rebooted
// twice within its verify deadline, and none is installed on by both runs:
// the next run waits for every batch the first started and verifies what
// they rebooted.
func TestTerminatedWithAnUnfencedBatchOpen(t *testing.T) {
	e2e.SkipShort(t)
	cases := []struct {
		name   string
		fleet  ecssim.FleetSpec
		canary int
		blast  string
		// open is the batch whose start the test waits for.
		open int
	}{
		// The region at 1,500 instances: most of the unhealthy
		// ones' installs never take effect, so a repeated repair shows.
		{name: "canary-30", fleet: ecssim.FleetSpec{Size: 1500, Seed: 211, Missing: 0.08, InstallFails: 0.3}, canary: 30, blast: "200", open: 2},
		// 55 batches at once: more than the 50 one fence used to register.
		{name: "no-canary-blast-1100", fleet: ecssim.FleetSpec{Size: 1300, Seed: 212, Missing: 0.3, InstallFails: 0.6}, canary: 0, blast: "1100", open: 53},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := e2e.SafetyStack(t, tc.fleet)
			ctx, cancel := context.WithTimeout(context.Background(), 7*time.Minute)
			defer cancel()
			in := fenceInput(tc.canary, tc.blast)
			first, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/first", in)
			require.NoError(t, err)
			e2e.Eventually(t, 3*time.Minute, fmt.Sprintf("batch %d of the first run started", tc.open), func() bool {
				return batchOpen(ctx, st.Client, first.GetID(), tc.open)
			})
			require.NoError(t, st.Client.TerminateWorkflow(ctx, first.GetID(), "", "operator: terminate from the UI"))
			second, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/second", fenceInput(tc.canary, tc.blast))
			require.NoError(t, err)
			var granted time.Time
			e2e.Eventually(t, 3*time.Minute, "the second run granted the region", func() bool {
				p, ok := e2e.ProgressOf(ctx, st.Client, second.GetID())
				granted = st.Sim.Clock().Now()
				return ok && p.Locked && p.Phase != "waiting" && p.Phase != "acquiring"
			})
			rep, err := stack.WaitProgress(ctx, st.Client, second, 200*time.Millisecond, nil)
			require.NoError(t, err)
			truth := st.Sim.Truth()
			again := e2e.RequireNoSecondRepairWithinDeadline(t, truth, granted, 60*in.VerifyDeadline.D())

			// Every batch the first run started was waited for: the
			// second run says so, and verified what they rebooted.
			warnings := strings.Join(rep.Warnings, "\n")
			require.Contains(t, warnings, "took the region over from "+first.GetID())
			m := regexp.MustCompile(`\(batches (\d+)\.\.(\d+)\)`).FindStringSubmatch(warnings)
			require.NotNil(t, m, "the second run names the batches it took over: %s", warnings)
			last, err := strconv.Atoi(m[2])
			require.NoError(t, err)
			require.GreaterOrEqual(t, last, tc.open, "the batches taken over include the one open at the terminate")
			inherited := 0
			for _, r := range rep.Rows {
				if strings.Contains(r.Action, " of "+first.GetID()) {
					inherited++
				}
			}
			// It verified them, or (more than one run takes over) waited
			// out their deadline before repairing anything.
			waited := strings.Contains(warnings, "rebooted more instances within their verify deadline than one run takes over to verify")
			require.True(t, inherited > 0 || waited, "the second run verified what the first rebooted, or waited it out")
			t.Logf("%s: first run terminated with batch %d open; the second verified %d instances it rebooted (waited out instead: %v); %d remediated, %d no-heartbeat, %d inherited-no-heartbeat; %d instances rebooted again past their deadline",
				tc.name, tc.open, inherited, waited, rep.Counts.Remediated, rep.Counts.NoHeartbeat, rep.Counts.InheritedNoHeartbeat, again)
		})
	}
}

// TestResetNeverReusesABatchID resets a run, as the Web UI's Reset does,
// while its batches are open: to its first workflow task right after the
// canary's second batch started (a canary of 30, batches of 20), and to
// the first workflow task after it acquired the region once it has
// started batches in three rounds or more (an apply whose plan's batches
// shrink unevenly, 1 then 20s, so its first fence registered many more
// numbers than it used). The reset run may not start a batch number used
// before: Temporal's record has each batch ID once, and the truth has no
// instance rebooted twice within its verify deadline.
func TestResetNeverReusesABatchID(t *testing.T) {
	e2e.SkipShort(t)
	t.Run("to-the-first-task-with-the-canary-open", func(t *testing.T) {
		st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 600, Seed: 222, Missing: 0.1, InstallFails: 0.3})
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		in := fenceInput(30, "200")
		run, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/reset-canary", in)
		require.NoError(t, err)
		e2e.Eventually(t, 3*time.Minute, "the canary's second batch started", func() bool {
			return batchOpen(ctx, st.Client, run.GetID(), 2)
		})
		resetTo(ctx, t, st, run.GetID(), firstTask)
		rep, err := stack.WaitProgress(ctx, st.Client, st.Client.GetWorkflow(ctx, run.GetID(), ""), 200*time.Millisecond, nil)
		require.NoError(t, err)
		n := requireEachBatchOnce(ctx, t, st, run.GetID())
		e2e.RequireNoSecondRepairWithinDeadline(t, st.Sim.Truth(), time.Time{}, 60*in.VerifyDeadline.D())
		t.Logf("reset to the first task with the canary open: %d batch IDs, each run once; the reset run: %d remediated, stopped %q", n, rep.Counts.Remediated, rep.Stopped)
	})
	t.Run("two-rounds-back", func(t *testing.T) {
		st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 300, Seed: 221, Missing: 0.5, InstallFails: 0.1})
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		ids := e2e.UnhealthyIDs(st.Sim)
		require.Greater(t, len(ids), 100)
		in := fenceInput(0, "40")
		in.InstanceIDs = ids[:101]
		in.Plan = &workflows.PlanInput{WorkflowID: "fleetmend/cn-hangzhou/dryrun", PlannedAt: time.Now().UTC(), Batches: []int{1, 20, 20, 20, 20, 20},
			MaxAge: workflows.Duration(time.Hour), MaxDriftPercent: 100}
		run, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/reset-rounds", in)
		require.NoError(t, err)
		e2e.Eventually(t, 3*time.Minute, "batches of three rounds started", func() bool {
			return batchOpen(ctx, st.Client, run.GetID(), 4) || batchOpen(ctx, st.Client, run.GetID(), 5)
		})
		resetTo(ctx, t, st, run.GetID(), taskAfterAcquire)
		_, err = stack.WaitProgress(ctx, st.Client, st.Client.GetWorkflow(ctx, run.GetID(), ""), 200*time.Millisecond, nil)
		// The reset run does not hold the region its predecessor was
		// granted: it stops, acting on nothing.
		require.ErrorContains(t, err, "lost the region")
		n := requireEachBatchOnce(ctx, t, st, run.GetID())
		e2e.RequireNoSecondRepairWithinDeadline(t, st.Sim.Truth(), time.Time{}, 60*in.VerifyDeadline.D())
		t.Logf("reset two rounds back: %d batch IDs, each run once; the reset run stopped: %v", n, err)
	})
}

// requireEachBatchOnce asserts on Temporal's record that every batch ID
// of run id names one execution, and returns how many there are.
func requireEachBatchOnce(ctx context.Context, t *testing.T, st *stack.Stack, id string) int {
	t.Helper()
	resp, err := st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowType = '%s' AND WorkflowId STARTS_WITH '%s/batch-'", guard.BatchWorkflowType, id), PageSize: 1000,
	})
	require.NoError(t, err)
	seen := map[string]int{}
	for _, e := range resp.GetExecutions() {
		seen[e.GetExecution().GetWorkflowId()]++
	}
	require.NotEmpty(t, seen)
	for id, n := range seen {
		require.Equal(t, 1, n, "%s ran %d times", id, n)
	}
	return len(seen)
}

// resetTo resets the run's current execution to the workflow task event
// point picks from its history.
func resetTo(ctx context.Context, t *testing.T, st *stack.Stack, id string, point func(context.Context, *testing.T, client.Client, string, string) int64) {
	t.Helper()
	desc, err := st.Client.DescribeWorkflowExecution(ctx, id, "")
	require.NoError(t, err)
	runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	_, err = st.Client.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 st.Server.Namespace(),
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: id, RunId: runID},
		Reason:                    "operator: reset",
		WorkflowTaskFinishEventId: point(ctx, t, st.Client, id, runID),
		RequestId:                 "reset-" + runID,
	})
	require.NoError(t, err)
}

// firstTask is the event ID of the run's first completed workflow task.
func firstTask(ctx context.Context, t *testing.T, c client.Client, id, runID string) int64 {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			return e.GetEventId()
		}
	}
	t.Fatalf("%s: no completed workflow task", id)
	return 0
}

// taskAfterAcquire is the event ID of the first workflow task completed
// after the run's AcquireRegion activity completed.
func taskAfterAcquire(ctx context.Context, t *testing.T, c client.Client, id, runID string) int64 {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	acquire, acquired := int64(0), false
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		switch {
		case e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
			e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == "AcquireRegion":
			acquire = e.GetEventId()
		case e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED && acquire > 0 &&
			e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId() == acquire:
			acquired = true
		case e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED && acquired:
			return e.GetEventId()
		}
	}
	t.Fatalf("%s: no workflow task after the region was acquired", id)
	return 0
}
