package release_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/fleetworker"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// releaseInput is a run with a grace long enough to catch its batches
// between install and reboot, a 20 s verify deadline (20 simulated
// minutes), and no rollout, budget or short-circuit in the way: a third of
// these fleets' installs never take effect, by design.
func releaseInput(blast string) workflows.RegionInput {
	in := e2e.Input()
	in.Canary = new(int)
	grace := workflows.Duration(4 * time.Second)
	in.RebootGrace = &grace
	in.BlastRadius = blast
	in.ConcurrentBatches = 0
	in.VerifyDeadline = workflows.Duration(20 * time.Second)
	in.MaxUnhealthyPercent = 100
	in.ErrorBudget = "100%"
	return in
}

// stackWith is a stack whose in-process worker takes over at most
// maxInherited instances to verify (0: the default).
func stackWith(t *testing.T, fleet ecssim.FleetSpec, maxInherited int) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, Fleet: fleet, TimeScale: 60, SimSeed: 13,
		Worker: true, WorkerCfg: fleetworker.Config{MaxInherited: maxInherited}, Logger: zap.NewNop(),
	})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

// closed waits until run id has closed.
func closed(ctx context.Context, t *testing.T, st *stack.Stack, id string) {
	t.Helper()
	e2e.Eventually(t, 2*time.Minute, id+" closed", func() bool {
		d, err := st.Client.DescribeWorkflowExecution(ctx, id, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	})
}

// grantedTo waits until run id holds the region and acts, and returns the
// simulator's time then.
func grantedTo(ctx context.Context, t *testing.T, st *stack.Stack, id string) time.Time {
	t.Helper()
	var at time.Time
	e2e.Eventually(t, 3*time.Minute, id+" granted the region", func() bool {
		p, ok := e2e.ProgressOf(ctx, st.Client, id)
		at = st.Sim.Clock().Now()
		return ok && p.Locked && p.Phase != "waiting" && p.Phase != "acquiring"
	})
	return at
}

// TestCancelDuringTheInheritedWaitLeavesTheRebootsVerified: run A is
// terminated with ten batches between install and reboot. Run B takes the
// region over and, A having rebooted more instances than B's worker takes
// over to verify, waits out their deadline; it is cancelled during that
// wait. Run C starts at once: it must not repair what A rebooted before
// its deadline, so B's release must not have told the guard those reboots
// were verified.
func TestCancelDuringTheInheritedWaitLeavesTheRebootsVerified(t *testing.T) {
	e2e.SkipShort(t)
	st := stackWith(t, ecssim.FleetSpec{Size: 800, Seed: 231, Missing: 0.2, Silent: 0.05, InstallFails: 0.15}, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	in := releaseInput("200")
	a, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/a", in)
	require.NoError(t, err)
	e2e.Eventually(t, 2*time.Minute, "A's batches between install and reboot", func() bool {
		p, ok := e2e.ProgressOf(ctx, st.Client, a.GetID())
		return ok && p.BatchesInFlight >= 5 && e2e.BetweenInstallAndReboot(st.Sim, 60)
	})
	require.NoError(t, st.Client.TerminateWorkflow(ctx, a.GetID(), "", "operator: terminate from the UI"))
	b, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/b", in)
	require.NoError(t, err)
	e2e.Eventually(t, 3*time.Minute, "B waiting out A's reboots", func() bool {
		p, ok := e2e.ProgressOf(ctx, st.Client, b.GetID())
		return ok && strings.Contains(p.Waiting, "than one run takes over to verify")
	})
	require.NoError(t, st.Client.CancelWorkflow(ctx, b.GetID(), ""))
	closed(ctx, t, st, b.GetID())
	c, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/c", in)
	require.NoError(t, err)
	granted := grantedTo(ctx, t, st, c.GetID())
	rep, err := stack.WaitProgress(ctx, st.Client, c, 200*time.Millisecond, nil)
	require.NoError(t, err)
	again := e2e.RequireNoSecondRepairWithinDeadline(t, st.Sim.Truth(), granted, 60*in.VerifyDeadline.D())
	require.Contains(t, strings.Join(rep.Warnings, "\n"), a.GetID(), "C took over A's reboots, which B never verified")
	t.Logf("cancel during the inherited wait: C %d remediated, %d no-heartbeat; %d instances repaired again past their deadline", rep.Counts.Remediated, rep.Counts.NoHeartbeat, again)
}

// TestAccountErrorDuringVerifyLeavesTheRebootsVerified: run A's agent
// status polls meet an account-level error (an access key deleted) right
// after its first reboots. A stops with it. The key is fixed and run B
// starts at once: it verifies what A rebooted, and reboots none of it again
// within its deadline.
func TestAccountErrorDuringVerifyLeavesTheRebootsVerified(t *testing.T) {
	e2e.SkipShort(t)
	st := stackWith(t, ecssim.FleetSpec{Size: 400, Seed: 232, Missing: 0.15, InstallFails: 0.4}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	in := releaseInput("40")
	grace := workflows.Duration(time.Second)
	in.RebootGrace = &grace
	a, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/a", in)
	require.NoError(t, err)
	e2e.Eventually(t, 2*time.Minute, "A's first reboots", func() bool {
		n := 0
		for _, i := range st.Sim.Truth().Instances {
			n += i.Reboots
		}
		return n >= 20
	})
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{ErrorRate: 1, ErrorCode: "InvalidAccessKeyId.NotFound",
		Actions: []string{"DescribeCloudAssistantStatus"}}))
	err = a.Get(ctx, nil)
	require.ErrorContains(t, err, "InvalidAccessKeyId.NotFound", "A stops on the account error")
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{}))
	b, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/b", in)
	require.NoError(t, err)
	granted := grantedTo(ctx, t, st, b.GetID())
	rep, err := stack.WaitProgress(ctx, st.Client, b, 200*time.Millisecond, nil)
	require.NoError(t, err)
	again := e2e.RequireNoSecondRepairWithinDeadline(t, st.Sim.Truth(), granted, 60*in.VerifyDeadline.D())
	verified := 0
	for _, r := range rep.Rows {
		if strings.Contains(r.Action, " of "+a.GetID()) {
			verified++
		}
	}
	require.Positive(t, verified, "B verified what A rebooted")
	t.Logf("account error during verify: B verified %d instances A rebooted; %d remediated, %d inherited-no-heartbeat; %d repaired again past their deadline",
		verified, rep.Counts.Remediated, rep.Counts.InheritedNoHeartbeat, again)
}

// startUnserved starts a RemediateRegion of region that no worker serves:
// it stays open and never answers a query, like a run whose workflow
// tasks fail.
func startUnserved(ctx context.Context, t *testing.T, st *stack.Stack, id, region string) {
	t.Helper()
	_, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: "fleetmend-nobody-serves-this",
		TypedSearchAttributes: workflows.RunSearchAttributes(region, workflows.KindManual, false),
	}, workflows.RemediateRegion, workflows.RegionInput{Region: region})
	require.NoError(t, err)
}

// restartGuardAndRun terminates the region's guard and starts another run,
// which the guard started anew answers once it has recovered; it returns
// that run's report.
func restartGuardAndRun(ctx context.Context, t *testing.T, st *stack.Stack, id string) workflows.Report {
	t.Helper()
	require.NoError(t, st.Client.TerminateWorkflow(ctx, guard.WorkflowID(e2e.Region), "", "operator: terminate the guard"))
	run, err := st.StartRun(ctx, id, releaseInput("40"))
	require.NoError(t, err)
	var rep workflows.Report
	require.NoError(t, run.Get(ctx, &rep))
	return rep
}

// TestRecoveryFindsEveryHolder: a guard started anew after one was
// terminated learns who holds the region from the region's open runs. It
// finds the holder behind 210 open runs of another region (more than one
// page of them), and a holder with a custom workflow ID that does not
// answer its query: in both cases the next run is skipped, touching
// nothing.
func TestRecoveryFindsEveryHolder(t *testing.T) {
	e2e.SkipShort(t)
	t.Run("behind-210-open-runs-of-another-region", func(t *testing.T) {
		st := stackWith(t, ecssim.FleetSpec{Size: 200, Seed: 233, Missing: 0.3}, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		const holder = "nightly-hz"
		h, err := st.StartRun(ctx, holder, releaseInput("20"))
		require.NoError(t, err)
		e2e.Eventually(t, time.Minute, "the holder repairing", func() bool {
			p, ok := e2e.ProgressOf(ctx, st.Client, h.GetID())
			return ok && p.Locked && p.BatchesStarted > 0
		})
		upd, err := st.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: holder, UpdateName: workflows.UpdatePause,
			Args: []any{workflows.ControlRequest{Reason: "hold the region for the test", By: "test"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
		require.NoError(t, err)
		require.NoError(t, upd.Get(ctx, nil))
		for i := range 210 {
			startUnserved(ctx, t, st, fmt.Sprintf("fleetmend/cn-shanghai/other-%03d", i), "cn-shanghai")
		}
		before := st.Sim.Truth()
		rep := restartGuardAndRun(ctx, t, st, "fleetmend/cn-hangzhou/second")
		require.True(t, rep.Skipped, "the recovered guard knows the holder: %s", rep.Stopped)
		require.Equal(t, holder, rep.SkippedFor)
		requireUntouchedSince(t, before, st.Sim.Truth())
	})
	t.Run("a-custom-id-that-does-not-answer", func(t *testing.T) {
		st := stackWith(t, ecssim.FleetSpec{Size: 100, Seed: 234, Missing: 0.3}, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// The guard exists before the holder-to-be: a run has used it.
		first := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/first", releaseInput("40"), nil)
		require.Empty(t, first.Stopped)
		const holder = "adhoc-hz-7"
		startUnserved(ctx, t, st, holder, e2e.Region)
		before := st.Sim.Truth()
		rep := restartGuardAndRun(ctx, t, st, "fleetmend/cn-hangzhou/second")
		require.True(t, rep.Skipped, "a run of the region that does not answer may hold it: %s", rep.Stopped)
		require.Equal(t, holder, rep.SkippedFor)
		requireUntouchedSince(t, before, st.Sim.Truth())
	})
}

// requireUntouchedSince asserts that no install or reboot happened
// between two looks at the truth.
func requireUntouchedSince(t *testing.T, before, after ecssim.Truth) {
	t.Helper()
	was := map[string][2]int{}
	for _, in := range before.Instances {
		was[in.ID] = [2]int{in.Installs, in.Reboots}
	}
	for _, in := range after.Instances {
		require.Equal(t, was[in.ID], [2]int{in.Installs, in.Reboots}, "%s was touched by the skipped run", in.ID)
	}
}
