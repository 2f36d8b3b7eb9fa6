package lock_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// lockFleet is the fleet, at 800 instances (so the package stays
// inside go test's default timeout under -race): 20% with the agent
// missing, 5% silent, and 15% whose install never takes effect.
func lockFleet(seed int64) ecssim.FleetSpec {
	return ecssim.FleetSpec{Size: 800, Seed: seed, Missing: 0.2, Silent: 0.05, InstallFails: 0.15}
}

// lockInput is a run with a blast radius of 200 (ten batches at once), a
// grace period long enough to catch its batches between install and
// reboot, a verify deadline of 20 s (20 simulated minutes), and no error
// budget to stop it, nor a rollout: the lock is under test, and the
// waves' gates would stop a run whose every sixth instance never heals.
func lockInput() workflows.RegionInput {
	in := e2e.Input()
	in.Canary = new(int)
	grace := workflows.Duration(4 * time.Second)
	in.RebootGrace = &grace
	in.BlastRadius = "200"
	in.ConcurrentBatches = 0
	in.VerifyDeadline = workflows.Duration(20 * time.Second)
	in.MaxUnhealthyPercent = 100
	in.ErrorBudget = "100%" // a sixth of the fleet never heals, by design
	n := workflows.MaxReportRows
	in.MaxReportRows = &n
	in.MaxReportBytes = workflows.MaxMaxReportBytes
	return in
}

// TestEndedRunLeavesNoSecondReboot ends a run the ways operators end runs,
// while ten of its batches are between install and reboot, and a second
// run starts at once. Judged on the simulator's truth: no instance is
// rebooted twice within its verify deadline, none is installed on by the
// second run while a reboot the first sent is within its deadline, nothing
// is done to a healthy agent; the second run's report says what it waited
// for and which instances it only verified.
func TestEndedRunLeavesNoSecondReboot(t *testing.T) {
	e2e.SkipShort(t)
	cases := []struct {
		name string
		// end ends the first run; it returns the ID of the run that takes
		// over (the second run, or the reset run itself).
		end          func(t *testing.T, st *stack.Stack, first client.WorkflowRun) string
		eventsPerRun int
	}{
		{name: "terminate", end: terminateAndStart},
		{name: "terminate-after-continue-as-new", end: terminateAndStart, eventsPerRun: 100},
		{name: "reset-to-first-workflow-task", end: resetToFirstTask},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := e2e.SafetyStack(t, lockFleet(int64(131+i)))
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
			defer cancel()
			in := lockInput()
			if tc.eventsPerRun > 0 {
				// Four waves of five batches, so that it continues as new
				// between waves, before the one it is terminated in.
				in.EventsPerRun = tc.eventsPerRun
				in.BlastRadius = "100"
			}
			first, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/first", in)
			require.NoError(t, err)
			e2e.Eventually(t, 2*time.Minute, "batches between install and reboot", func() bool {
				p, ok := e2e.ProgressOf(ctx, st.Client, first.GetID())
				if !ok || p.BatchesInFlight < 5 || (tc.eventsPerRun > 0 && p.ContinuedAsNew < 1) {
					return false
				}
				return e2e.BetweenInstallAndReboot(st.Sim, 60)
			})
			second := tc.end(t, st, first)
			// The second run is granted the region only once every batch of
			// the first has closed: installs after this are the second's.
			var granted time.Time
			e2e.Eventually(t, 3*time.Minute, "the second run granted the region", func() bool {
				p, ok := e2e.ProgressOf(ctx, st.Client, second)
				granted = st.Sim.Clock().Now()
				return ok && p.Locked && p.Phase != "waiting"
			})
			rep, err := stack.WaitProgress(ctx, st.Client, st.Client.GetWorkflow(ctx, second, ""), 200*time.Millisecond, nil)
			require.NoError(t, err)
			truth := st.Sim.Truth()
			again := e2e.RequireNoSecondRepairWithinDeadline(t, truth, granted, 60*in.VerifyDeadline.D())

			firstID := first.GetID()
			require.False(t, rep.Skipped, "the second run acts once the first run's batches have closed")
			warnings := strings.Join(rep.Warnings, "\n")
			require.Contains(t, warnings, "waiting for "+firstID+"/batch-", "the second run says what it waited for")
			require.Contains(t, warnings, "took the region over from "+firstID)
			require.Contains(t, warnings, "that "+firstID+" (batches ")
			verified := 0
			for _, r := range rep.Rows {
				if strings.Contains(r.Action, " of "+firstID) {
					verified++
					require.Contains(t, []string{workflows.OutcomeRemediated, workflows.OutcomeFailed, workflows.OutcomeAlreadyHealthy}, r.Outcome, "%+v", r)
					if r.Outcome == workflows.OutcomeFailed {
						require.Contains(t, []string{workflows.ReasonInheritedNoHeartbeat, workflows.ReasonVanished}, r.Reason, "%+v", r)
					}
				}
			}
			require.Positive(t, verified, "the second run verified what the first rebooted")
			// Every instance that can be fixed is healthy: what the first run
			// rebooted was verified by the second, the rest it repaired.
			for _, in := range truth.Instances {
				if in.InitialProblem == ecssim.ProblemMissing || in.InitialProblem == ecssim.ProblemSilent {
					require.True(t, in.AgentHealthy, "%s (%s) not healthy at the end", in.ID, in.InitialProblem)
				}
			}
			t.Logf("%s: second run %s waited and verified %d instances the first rebooted; %d remediated, %d inherited-no-heartbeat, %d no-heartbeat; %d reboots in all, %d instances repaired again past their deadline",
				tc.name, second, verified, rep.Counts.Remediated, rep.Counts.InheritedNoHeartbeat, rep.Counts.NoHeartbeat, rebootsOf(truth), again)
		})
	}
}

func rebootsOf(truth ecssim.Truth) int {
	n := 0
	for _, in := range truth.Instances {
		n += in.Reboots
	}
	return n
}

// terminateAndStart terminates the run, as the Web UI's Terminate does,
// and starts another at once.
func terminateAndStart(t *testing.T, st *stack.Stack, first client.WorkflowRun) string {
	ctx := context.Background()
	require.NoError(t, st.Client.TerminateWorkflow(ctx, first.GetID(), "", "operator: terminate from the UI"))
	second, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/second", lockInput())
	require.NoError(t, err)
	return second.GetID()
}

// resetToFirstTask resets the run to its first workflow task, as the Web
// UI's Reset does: the reset run starts over under the same workflow ID.
func resetToFirstTask(t *testing.T, st *stack.Stack, first client.WorkflowRun) string {
	ctx := context.Background()
	d, err := st.Client.DescribeWorkflowExecution(ctx, first.GetID(), "")
	require.NoError(t, err)
	runID := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	it := st.Client.GetWorkflowHistory(ctx, first.GetID(), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var firstTask int64
	for it.HasNext() && firstTask == 0 {
		e, err := it.Next()
		require.NoError(t, err)
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			firstTask = e.GetEventId()
		}
	}
	_, err = st.Client.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 st.Server.Namespace(),
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: first.GetID(), RunId: runID},
		Reason:                    "operator: reset to the first workflow task",
		WorkflowTaskFinishEventId: firstTask,
		RequestId:                 "reset-" + runID,
	})
	require.NoError(t, err)
	return first.GetID()
}

// TestGuardEndedMidRunKeepsRegionAndLedger terminates, then (in a second
// case) cancels the region's guard while a run holds the region; another
// run is started at once. The guard started anew by the next update
// recovers the old one's state: the second run finds the region busy and
// acts on nothing, the first run finishes, the ledger is intact.
func TestGuardEndedMidRunKeepsRegionAndLedger(t *testing.T) {
	e2e.SkipShort(t)
	for i, end := range []string{"terminate", "cancel"} {
		t.Run(end, func(t *testing.T) {
			st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 600, Seed: int64(141 + i), Missing: 0.15, Silent: 0.05, InstallFails: 0.03})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			region := e2e.Region
			guardID := guard.WorkflowID(region)
			marked := []string{"i-ledger0000000001", "i-ledger0000000002"}
			recordLedger(ctx, t, st, marked)

			in := lockInput()
			in.BlastRadius = "40"
			first, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/holder", in)
			require.NoError(t, err)
			e2e.Eventually(t, 2*time.Minute, "the holder repairing", func() bool {
				p, ok := e2e.ProgressOf(ctx, st.Client, first.GetID())
				return ok && p.BatchesStarted >= 2 && p.Queued > 0
			})
			if end == "terminate" {
				require.NoError(t, st.Client.TerminateWorkflow(ctx, guardID, "", "operator: terminate the guard"))
			} else {
				require.NoError(t, st.Client.CancelWorkflow(ctx, guardID, ""))
				e2e.Eventually(t, time.Minute, "the guard closed", func() bool {
					d, err := st.Client.DescribeWorkflowExecution(ctx, guardID, "")
					return err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
				})
			}
			second, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/second", lockInput())
			require.NoError(t, err)
			var secondRep workflows.Report
			if err := second.Get(ctx, &secondRep); err != nil {
				t.Fatalf("second run: %v\nguard log:\n%s", err, strings.Join(holderView(ctx, t, st).Log, "\n"))
			}
			require.True(t, secondRep.Skipped, "the second run must not act while the holder runs: %s", secondRep.Stopped)
			require.Equal(t, first.GetID(), secondRep.SkippedFor)
			_, err = st.Client.DescribeWorkflowExecution(ctx, guard.BatchWorkflowID(second.GetID(), 1), "")
			var nf *serviceerror.NotFound
			require.ErrorAs(t, err, &nf, "the second run started no batch")

			var rep workflows.Report
			require.NoError(t, first.Get(ctx, &rep))
			require.Empty(t, rep.Stopped, "the holder went on as if nothing happened")
			e2e.RequireNothingTwice(t, st.Sim.Truth())

			view := holderView(ctx, t, st)
			require.Nil(t, view.Holder, "released at the end")
			log := strings.Join(view.Log, "\n")
			require.Contains(t, log, "recovered from run", "the new guard says what it recovered")
			ledger := readLedger(ctx, t, st)
			for _, id := range marked {
				require.Contains(t, ledger, id, "the ledger survived the guard's %s", end)
				require.Len(t, ledger[id].Attempts, 2, "%s keeps both its failures", id)
			}
			t.Logf("guard %s mid-run: second run skipped (busy with %s); guard log: %s", end, secondRep.SkippedFor, view.Log[len(view.Log)-1])
		})
	}
}

// recordLedger writes two failures of each instance into the region's
// ledger, as runs do.
func recordLedger(ctx context.Context, t *testing.T, st *stack.Stack, ids []string) {
	t.Helper()
	now := time.Now().UTC()
	var failed []guard.FailedAttempt
	for _, id := range ids {
		for k := range 2 {
			failed = append(failed, guard.FailedAttempt{InstanceID: id,
				Attempt: guard.Attempt{WorkflowID: "fleetmend/cn-hangzhou/earlier", At: now.Add(-time.Duration(k+1) * time.Hour), Reason: workflows.ReasonNoHeartbeat}})
		}
	}
	update(ctx, t, st, guard.Start{Region: e2e.Region}, guard.UpdateRecord, "", guard.RecordRequest{Failed: failed}, nil)
}

// update sends one update to the region's guard, starting it if needed.
func update(ctx context.Context, t *testing.T, st *stack.Stack, start guard.Start, name, id string, arg, result any) {
	t.Helper()
	h, err := st.Client.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: st.Client.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID: guard.WorkflowID(e2e.Region), TaskQueue: config.RegionTaskQueue(config.DefaultTaskQueue, e2e.Region),
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, guard.WorkflowType, start),
		UpdateOptions: client.UpdateWorkflowOptions{UpdateID: id, UpdateName: name, WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{arg}},
	})
	require.NoError(t, err)
	require.NoError(t, h.Get(ctx, result))
}

func holderView(ctx context.Context, t *testing.T, st *stack.Stack) guard.HolderView {
	t.Helper()
	v, err := st.Client.QueryWorkflow(ctx, guard.WorkflowID(e2e.Region), "", guard.QueryHolder)
	require.NoError(t, err)
	var view guard.HolderView
	require.NoError(t, v.Get(&view))
	return view
}

func readLedger(ctx context.Context, t *testing.T, st *stack.Stack) map[string]guard.InstanceRecord {
	t.Helper()
	v, err := st.Client.QueryWorkflow(ctx, guard.WorkflowID(e2e.Region), "", guard.QueryLedger,
		guard.LedgerQuery{Now: time.Now().UTC(), After: 2, Window: workflows.DefaultQuarantineWindow})
	require.NoError(t, err)
	var view guard.LedgerView
	require.NoError(t, v.Get(&view))
	out := map[string]guard.InstanceRecord{}
	for _, r := range view.Records {
		out[r.InstanceID] = r
	}
	return out
}

// TestGuardContinuesAsNewWithItsLedger: a guard that continues as new
// every 50 events through hundreds of ledger updates and a run keeps every
// record, and its state stays small.
func TestGuardContinuesAsNewWithItsLedger(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 300, Seed: 151, Missing: 0.1, InstallFails: 0.02})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := guard.Start{Region: e2e.Region, EventsPerRun: workflows.MinEventsPerRun}
	now := time.Now().UTC()
	const instances = 60
	for i := range instances {
		id := fmt.Sprintf("i-cantest%010d", i)
		update(ctx, t, st, start, guard.UpdateRecord, fmt.Sprintf("test/%d", i), guard.RecordRequest{ID: fmt.Sprintf("test/%d", i),
			Failed: []guard.FailedAttempt{{InstanceID: id, Attempt: guard.Attempt{WorkflowID: "r", At: now.Add(-time.Minute), Reason: workflows.ReasonInstallFailed}}}}, nil)
	}
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/after-can", lockInput(), nil)
	require.Empty(t, rep.Stopped)
	e2e.RequireNothingTwice(t, st.Sim.Truth())

	resp, err := st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s' AND ExecutionStatus = 'ContinuedAsNew'", guard.WorkflowID(e2e.Region)), PageSize: 100,
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(resp.GetExecutions()), 3, "the guard continued as new several times")
	ledger := readLedger(ctx, t, st)
	for i := range instances {
		id := fmt.Sprintf("i-cantest%010d", i)
		require.Contains(t, ledger, id)
		require.Len(t, ledger[id].Attempts, 1, "%s recorded once", id)
	}
	t.Logf("guard continued as new %d times; %d ledger records intact", len(resp.GetExecutions()), len(ledger))
}

// TestRepeatedRecordUpdateRecordsOnce: RecordAttempts retried after its
// update completed (the same request, the same ID) records one attempt.
func TestRepeatedRecordUpdateRecordsOnce(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 20, Seed: 161})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(&guard.Activities{Client: st.Client})
	id := "i-record0000000001"
	in := guard.RecordInput{
		Input: guard.Input{Region: e2e.Region, TaskQueue: config.RegionTaskQueue(config.DefaultTaskQueue, e2e.Region)},
		Record: guard.RecordRequest{ID: "record/run-1/1", Failed: []guard.FailedAttempt{
			{InstanceID: id, Attempt: guard.Attempt{WorkflowID: "run-1", At: time.Now().UTC(), Reason: workflows.ReasonNoHeartbeat}}}},
	}
	for range 3 {
		_, err := env.ExecuteActivity((&guard.Activities{}).RecordAttempts, in)
		require.NoError(t, err)
	}
	ledger := readLedger(ctx, t, st)
	require.Len(t, ledger[id].Attempts, 1, "one attempt, however often the update is sent")
	other := in
	other.Record.ID = "record/run-1/2"
	_, err := env.ExecuteActivity((&guard.Activities{}).RecordAttempts, other)
	require.NoError(t, err)
	require.Len(t, readLedger(ctx, t, st)[id].Attempts, 2, "another update ID is another attempt")
}
