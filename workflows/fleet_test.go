package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
)

const (
	fleetTestID   = "fleetmend/fleet/manual-20261202T013000Z"
	testTaskQueue = "fleetmend"
)

func testStartOptions(id string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{ID: id, TaskQueue: testTaskQueue}
}

// fleetEnv is a fleet run's test environment: cn-hangzhou's run is the
// real RemediateRegion on the fleet model (5 instances, 2 with a missing
// agent), cn-shanghai's guard says another run holds it, cn-shenzhen's
// run fails on a refused credential, and no worker serves cn-chengdu.
// A test's child, when given, answers every region's run instead.
func fleetEnv(t *testing.T, child func(workflow.Context, RegionInput) (Report, error)) (*testsuite.TestWorkflowEnvironment, *fleetModel, *[]RegionInput) {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(quietLogger())
	env := ts.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(testStartOptions(fleetTestID))
	m := newFleetModel()
	for i := range 5 {
		m.add(i, ecs.StateRunning, i >= 2, i >= 2)
	}
	env.RegisterWorkflow(RemediateFleet)
	m.wire(env)
	m.grant = func(in guard.AcquireInput) guard.AcquireResult {
		if in.Region == "cn-shanghai" {
			return guard.AcquireResult{Holder: guard.Holder{WorkflowID: "fleetmend/cn-shanghai/manual-other"}}
		}
		return guard.AcquireResult{Granted: true, Holder: guard.Holder{WorkflowID: in.Request.WorkflowID}}
	}
	var a *activities.Activities
	env.OnActivity(a.FleetRegions, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FleetRegionsInput) (activities.FleetRegionsResult, error) {
		regions := in.Regions
		if in.All {
			regions = []string{"cn-hangzhou", "cn-shanghai", "cn-shenzhen", "cn-chengdu"}
		}
		var out activities.FleetRegionsResult
		for _, r := range regions {
			out.Regions = append(out.Regions, activities.FleetRegion{Region: r, TaskQueue: activities.RegionTaskQueue(in.TaskQueue, r), Unserved: r == "cn-chengdu"})
		}
		return out, nil
	})
	var started []RegionInput
	env.OnWorkflow(RemediateRegion, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in RegionInput) (Report, error) {
		started = append(started, in)
		require.Equal(t, guard.FleetChildID(fleetTestID, in.Region), workflow.GetInfo(ctx).WorkflowExecution.ID)
		require.Equal(t, activities.RegionTaskQueue(testTaskQueue, in.Region), workflow.GetInfo(ctx).TaskQueueName, "each region's run on its own queue")
		if child != nil {
			return child(ctx, in)
		}
		if in.Region == "cn-shenzhen" {
			// What a run whose scan is refused ends with: its report so far
			// as the failure's details.
			return Report{}, temporal.NewApplicationErrorWithOptions(
				"scan of cn-shenzhen failed, nothing was repaired: DescribeCloudAssistantStatus: Forbidden.RAM (403): not allowed\nsecond line",
				"fleetmend.RunFailed", temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{Report{Region: in.Region, Counts: Counts{Scanned: 0}}}})
		}
		return RemediateRegion(ctx, in)
	})
	return env, m, &started
}

func fleetQuick() RegionInput {
	in := quick("")
	in.Region = ""
	return in
}

func TestFleetSummarySaysWhatBecameOfEachRegion(t *testing.T) {
	env, m, started := fleetEnv(t, nil)
	env.ExecuteWorkflow(RemediateFleet, FleetInput{AllRegions: true, Run: fleetQuick()})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "a failed and a skipped region do not fail the fleet run")
	var rep FleetReport
	require.NoError(t, env.GetWorkflowResult(&rep))

	require.Len(t, *started, 3, "no run is started where no worker would pick it up")
	require.Equal(t, fleetTestID, rep.FleetID)
	require.Len(t, rep.Regions, 4)
	byRegion := map[string]FleetRegionResult{}
	for _, g := range rep.Regions {
		byRegion[g.Region] = g
	}
	done := byRegion["cn-hangzhou"]
	require.Equal(t, FleetCompleted, done.Outcome)
	require.Equal(t, "fleetmend/cn-hangzhou/fleet-manual-20261202T013000Z", done.WorkflowID)
	require.Equal(t, FleetCounts{Scanned: 5, Unhealthy: 2, Remediated: 2, Installed: 2, Rebooted: 2}, done.Counts)
	require.Empty(t, done.Detail)
	require.Len(t, m.installs, 1, "only the completed region's run installed")

	busy := byRegion["cn-shanghai"]
	require.Equal(t, FleetSkipped, busy.Outcome)
	require.Equal(t, "fleetmend/cn-shanghai/manual-other", busy.SkippedFor)
	require.Contains(t, busy.Detail, "busy with fleetmend/cn-shanghai/manual-other")

	failed := byRegion["cn-shenzhen"]
	require.Equal(t, FleetFailed, failed.Outcome)
	require.Equal(t, "scan of cn-shenzhen failed, nothing was repaired: DescribeCloudAssistantStatus: Forbidden.RAM (403): not allowed", failed.Detail,
		"one line, without Temporal's wrapping")

	unserved := byRegion["cn-chengdu"]
	require.Equal(t, FleetSkipped, unserved.Outcome)
	require.Empty(t, unserved.WorkflowID)
	require.Contains(t, unserved.Detail, "no worker serves cn-chengdu (nobody polls task queue "+testTaskQueue+"-cn-chengdu)")

	require.Equal(t, 1, rep.Completed)
	require.Equal(t, 2, rep.Skipped)
	require.Equal(t, 1, rep.Failed)
	require.Equal(t, FleetCounts{Scanned: 5, Unhealthy: 2, Remediated: 2, Installed: 2, Rebooted: 2}, rep.Totals)
	require.False(t, rep.AllGood())
}

func TestFleetTotalsAddUpTheRegions(t *testing.T) {
	env, _, started := fleetEnv(t, func(_ workflow.Context, in RegionInput) (Report, error) {
		n := len(in.Region) // a different count per region
		return Report{Region: in.Region, Counts: Counts{Scanned: 10 * n, AgentMissing: n, AgentSilent: 1, Remediated: n, Failed: 1,
			NoHeartbeat: 1, Installed: n + 1, Rebooted: n + 1}}, nil
	})
	env.ExecuteWorkflow(RemediateFleet, FleetInput{Regions: []string{"cn-hangzhou", "cn-beijing"}, Run: fleetQuick()})
	require.NoError(t, env.GetWorkflowError())
	var rep FleetReport
	require.NoError(t, env.GetWorkflowResult(&rep))
	require.Len(t, *started, 2)
	require.Equal(t, 2, rep.Completed)
	h, b := len("cn-hangzhou"), len("cn-beijing")
	require.Equal(t, FleetCounts{Scanned: 10 * (h + b), Unhealthy: h + b + 2, Remediated: h + b, Failed: 2, Installed: h + b + 2, Rebooted: h + b + 2}, rep.Totals)
	require.False(t, rep.AllGood(), "failed instances are not all good")
}

func TestFleetInputIsValidated(t *testing.T) {
	for _, c := range []struct {
		in   FleetInput
		want string
	}{
		{FleetInput{}, "regions is required"},
		{FleetInput{Regions: []string{"cn-hangzhou"}, AllRegions: true}, "not both"},
		{FleetInput{Regions: []string{"cn-hangzhou", "cn-hangzhou"}}, `regions lists "cn-hangzhou" twice`},
		{FleetInput{Regions: []string{"cn-hangzhou", "Hangzhou"}}, `regions[1]: region "Hangzhou" is not an ECS region ID`},
		{FleetInput{AllRegions: true, Run: RegionInput{InstanceIDs: []string{"i-1"}}}, "takes no instance list"},
		{FleetInput{AllRegions: true, Run: RegionInput{ZoneID: "cn-hangzhou-h"}}, "takes no zone"},
		{FleetInput{AllRegions: true, Run: RegionInput{BatchSize: 21}}, "batch_size is 21"},
		{FleetInput{Regions: []string{"cn-hangzhou"}, Run: RegionInput{Region: "cn-beijing"}}, "run.region must be empty"},
		{FleetInput{Regions: []string{"cn-hangzhou"}, Run: RegionInput{OverrideMaxUnhealthy: "INC-1"}}, "must name the regions it is for (override_regions)"},
		{FleetInput{Regions: []string{"cn-hangzhou"}, OverrideRegions: []string{"cn-hangzhou"}}, "override_regions: name regions only with override_max_unhealthy"},
		{FleetInput{Regions: []string{"cn-hangzhou"}, OverrideRegions: []string{"cn-beijing"}, Run: RegionInput{OverrideMaxUnhealthy: "INC-1"}},
			`override_regions[0] "cn-beijing" is not one of the fleet run's regions`},
	} {
		err := c.in.Validate()
		require.Error(t, err, "%+v", c.in)
		require.Contains(t, err.Error(), c.want)
	}
	require.NoError(t, FleetInput{AllRegions: true}.Validate())
}

// TestFleetOverrideIsForTheRegionsItNames: a fleet run's override lets
// the runs of the regions it names go ahead above the threshold, and no
// other region's.
func TestFleetOverrideIsForTheRegionsItNames(t *testing.T) {
	in := FleetInput{Regions: []string{"cn-hangzhou", "cn-shanghai"}, OverrideRegions: []string{"cn-shanghai"},
		Run: RegionInput{OverrideMaxUnhealthy: "INC-7: the DNS outage in cn-shanghai is over, its agents need the repair"}}
	require.NoError(t, in.Validate())
	require.Empty(t, in.regionInput("cn-hangzhou").OverrideMaxUnhealthy)
	require.Equal(t, in.Run.OverrideMaxUnhealthy, in.regionInput("cn-shanghai").OverrideMaxUnhealthy)
	all := FleetInput{AllRegions: true, OverrideRegions: []string{"cn-shanghai"}, Run: in.Run}
	require.NoError(t, all.Validate(), "with every region, any region may be named")
	require.Empty(t, all.regionInput("cn-beijing").OverrideMaxUnhealthy)
}

func TestFleetChildIDAndOneLine(t *testing.T) {
	require.Equal(t, "fleetmend/cn-beijing/fleet-scheduled-2026-12-02T01:30:00Z", guard.FleetChildID("fleetmend/fleet/scheduled-2026-12-02T01:30:00Z", "cn-beijing"))
	require.Equal(t, "fleetmend/cn-beijing/fleet-ops-fleet-1", guard.FleetChildID("ops/fleet-1", "cn-beijing"))
	long := strings.Repeat("é", 400)
	got := oneLine(long)
	require.LessOrEqual(t, len(got), maxFleetDetail+len("…"))
	require.True(t, strings.HasSuffix(got, "…"))
}

// TestCancellingTheFleetCancelsEveryRegionsRun: a cancelled fleet run asks
// each region's run to stop (the real RemediateRegion on the fleet model,
// its batch in its grace period), waits for it, and closes as cancelled
// with the summary (the region's report so far) as the details.
func TestCancellingTheFleetCancelsEveryRegionsRun(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(quietLogger())
	env := ts.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(testStartOptions(fleetTestID))
	m := newFleetModel()
	for i := range 5 {
		m.add(i, ecs.StateRunning, i >= 2, i >= 2)
	}
	env.RegisterWorkflow(RemediateFleet)
	m.wire(env)
	var a *activities.Activities
	env.OnActivity(a.FleetRegions, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FleetRegionsInput) (activities.FleetRegionsResult, error) {
		return activities.FleetRegionsResult{Regions: []activities.FleetRegion{{Region: "cn-hangzhou", TaskQueue: activities.RegionTaskQueue(in.TaskQueue, "cn-hangzhou")}}}, nil
	})
	run := fleetQuick()
	grace := Duration(10 * time.Minute)
	run.RebootGrace = &grace
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)
	env.ExecuteWorkflow(RemediateFleet, FleetInput{Regions: []string{"cn-hangzhou"}, Run: run})
	require.True(t, env.IsWorkflowCompleted())
	var canceled *temporal.CanceledError
	require.ErrorAs(t, env.GetWorkflowError(), &canceled)
	var rep FleetReport
	require.NoError(t, canceled.Details(&rep))
	require.Equal(t, 1, rep.Cancelled, "%+v", rep)
	require.Zero(t, rep.Running)
	require.Equal(t, FleetCancelled, rep.Regions[0].Outcome)
	require.Equal(t, 5, rep.Totals.Scanned, "the region's report so far")
	require.Len(t, m.installs, 1, "its batch had installed")
	require.False(t, rep.FinishedAt.IsZero())
}
