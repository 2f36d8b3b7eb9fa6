package deploy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// healingFleet is 1,000 instances whose every unhealthy agent can be
// repaired: a clean run fails nothing, so anything a deploy turns into a
// failure shows.
func healingFleet() ecssim.FleetSpec {
	return ecssim.FleetSpec{Size: 1000, Seed: 61, Missing: 0.15, Silent: 0.05, Stopped: 0.05,
		OSWeights: map[string]float64{"Linux": 0.7, "Windows": 0.3}}
}

// binaryStack is a stack whose worker is the real binary, started by the test.
func binaryStack(t *testing.T, fleet ecssim.FleetSpec) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, Fleet: fleet, TimeScale: 60, SimSeed: 5, Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

// retriedActivities counts, in the histories of a run and its batches,
// the activity attempts after the first, by activity type.
func retriedActivities(t *testing.T, st *stack.Stack, id string) map[string]int {
	t.Helper()
	ctx := context.Background()
	out := map[string]int{}
	resp, err := st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowId STARTS_WITH '" + id + "'", PageSize: 1000})
	require.NoError(t, err)
	for _, e := range resp.GetExecutions() {
		it := st.Client.GetWorkflowHistory(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		scheduled := map[int64]string{}
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(t, err)
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				scheduled[ev.GetEventId()] = a.GetActivityType().GetName()
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
				out[scheduled[a.GetScheduledEventId()]] += int(a.GetAttempt()) - 1
			}
		}
	}
	return out
}

// TestRollingDeployCostsNothing: a 1,000-instance run during which the
// worker binary is replaced ten times the way a rolling deploy does it (a
// new worker starts, the old one gets SIGTERM with a 1 s stop timeout),
// with 300 ms added to every ECS call so that calls are cut off mid-way.
// Every instance ends with the outcome it has in a clean run of the same
// fleet; nothing is install-failed, batch-error or unconfirmed; the
// ledger is empty and the budget unspent; the cut-off work was handed on
// (retried) rather than failed.
func TestRollingDeployCostsNothing(t *testing.T) {
	e2e.SkipShort(t)
	clean := e2e.SafetyStack(t, healingFleet())
	in := e2e.Input()
	in.MaxUnhealthyPercent = 100
	cleanRep := e2e.RunToReport(t, clean, "fleetmend/cn-hangzhou/clean", in, nil)
	cleanOutcomes := e2e.CheckAgainstTruth(t, clean.Sim, cleanRep)
	require.Zero(t, cleanRep.Counts.Failed, "the fleet heals entirely")

	bin := e2e.BuildWorker(t)
	st := binaryStack(t, healingFleet())
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{Latency: 300 * time.Millisecond}))
	args := []string{"--regions", e2e.Region, "--stop-timeout", "1s"}
	worker := e2e.StartWorkerWith(t, bin, st, args...)
	id := "fleetmend/cn-hangzhou/rolling-deploy"
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	run, err := st.StartRun(ctx, id, in)
	require.NoError(t, err)
	done := make(chan error, 1)
	var rep workflows.Report
	go func() { done <- run.Get(ctx, &rep) }()
	deploys := 0
	for deploys < 10 {
		select {
		case err := <-done:
			require.NoError(t, err)
			t.Fatalf("the run ended after %d deploys; it must outlive ten", deploys)
		case <-time.After(1500 * time.Millisecond): // the deploy's pace, not a synchronisation
		}
		next := e2e.StartWorkerWith(t, bin, st, args...)
		e2e.StopWorker(t, worker)
		worker = next
		deploys++
	}
	require.NoError(t, <-done)
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{}))

	outcomes := e2e.CheckAgainstTruth(t, st.Sim, rep)
	require.Equal(t, cleanOutcomes, outcomes, "same fleet, same outcome per instance, deploys or not")
	c := rep.Counts
	require.Zero(t, c.InstallFailed+c.BatchError+c.RebootUnconfirmed+c.Unverified, "%+v", c)
	require.Zero(t, c.BudgetFailures(), "the budget is unspent")
	v, err := st.Client.QueryWorkflow(ctx, guard.WorkflowID(e2e.Region), "", guard.QueryLedger,
		guard.LedgerQuery{Now: time.Now().UTC(), After: 1, Window: workflows.DefaultQuarantineWindow})
	require.NoError(t, err)
	var ledger guard.LedgerView
	require.NoError(t, v.Get(&ledger))
	require.Empty(t, ledger.Records, "nothing written to the quarantine ledger")
	retried := retriedActivities(t, st, id)
	total := 0
	for _, n := range retried {
		total += n
	}
	require.Positive(t, total, "the deploys cut work off, and it was handed on")
	t.Logf("10 rolling deploys: %+v; activity attempts handed on: %v", c, retried)
}

// TestRebootHeldPastTheHeartbeatTimeout: the simulator holds
// RebootInstances for 40 s, longer than the activity's 30 s heartbeat
// timeout, with two workers serving the region. The client gives up on the
// call first (its read timeout), without knowing whether ECS will carry it
// out; the attempt is retried (on either worker), and the retry does not
// send the reboot again: the instances are verified, reported
// reboot-unconfirmed when the reboot never happened, and the next run
// repairs them. The simulator is the judge: one RebootInstances call in
// the first run, no instance rebooted twice, an instance reported
// unconfirmed never rebooted by it, each rebooted exactly once by the next.
func TestRebootHeldPastTheHeartbeatTimeout(t *testing.T) {
	e2e.SkipShort(t)
	bin := e2e.BuildWorker(t)
	st := binaryStack(t, ecssim.FleetSpec{Size: 100, Seed: 71, Missing: 0.2})
	e2e.StartWorker(t, bin, st)
	e2e.StartWorker(t, bin, st)
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{Latency: 40 * time.Second, Actions: []string{ecs.ActionRebootInstances}}))
	in := e2e.Input()
	in.MaxUnhealthyPercent = 100
	id := "fleetmend/cn-hangzhou/held-reboot"
	rep := e2e.RunToReport(t, st, id, in, nil)
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{}))
	truth := st.Sim.Truth()
	require.Equal(t, 1, truth.Actions[ecs.ActionRebootInstances].Calls, "the retry did not send the reboot again")
	require.Positive(t, retriedActivities(t, st, id)["RebootIfStillUnhealthy"], "the reboot activity was retried")
	e2e.CheckAgainstTruth(t, st.Sim, rep) // at most one reboot each; unconfirmed means not rebooted
	require.Equal(t, rep.Counts.Unhealthy(), rep.Counts.Remediated+rep.Counts.RebootUnconfirmed, "%+v", rep.Counts)
	repaired := e2e.RepairUnconfirmed(t, st, rep)
	require.Len(t, repaired, rep.Counts.RebootUnconfirmed)
	t.Logf("reboot held 40 s: %d remediated, %d unconfirmed (repaired by the next run, one reboot each)", rep.Counts.Remediated, len(repaired))
}

// TestLateRecoveryAndLateTagAreLeftAlone: an agent that recovers while its
// batch waits out the grace period is not rebooted, and an instance a team
// tags fleetmend:exclude after the scan is neither installed on nor
// rebooted: state, health and tag are read right before each act.
func TestLateRecoveryAndLateTagAreLeftAlone(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 100, Seed: 73, Missing: 0.4})
	ids := e2e.UnhealthyIDs(st.Sim)
	require.GreaterOrEqual(t, len(ids), 30)
	recovers, tagged := ids[0], ids[len(ids)-1] // the first batch, and the last
	in := e2e.Input()
	in.BlastRadius = "20"
	in.MaxUnhealthyPercent = 100
	grace := workflows.Duration(4 * time.Second)
	in.RebootGrace = &grace
	acted := false
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/late-changes", in, func(p workflows.Progress) {
		if acted || st.Sim.Truth().Actions[ecs.ActionInstallCloudAssistant].Calls == 0 {
			return
		}
		acted = true
		require.NoError(t, st.Sim.HealAgent(recovers))
		require.NoError(t, st.Sim.SetTag(tagged, "fleetmend:exclude", "team-db"))
	})
	require.True(t, acted)
	r, _ := st.Sim.Instance(recovers)
	require.Zero(t, r.Reboots, "an agent that came back during the grace period is not rebooted")
	tg, _ := st.Sim.Instance(tagged)
	require.Zero(t, tg.Installs+tg.Reboots, "an instance tagged after the scan is never touched")
	rows := map[string]workflows.Row{}
	for _, row := range rep.Rows {
		rows[row.InstanceID] = row
	}
	require.Equal(t, workflows.OutcomeExcluded, rows[tagged].Outcome, "%+v", rows[tagged])
	require.Contains(t, []string{workflows.OutcomeRemediated, workflows.OutcomeAlreadyHealthy}, rows[recovers].Outcome, "%+v", rows[recovers])
	e2e.RequireNothingTwice(t, st.Sim.Truth())
}

// TestFailingPollsEndTheRunAtTheDeadline: once a batch has rebooted, every
// agent status call fails for good. The run does not wait for ever (and
// hold its region): at the verify deadline (and a minute's grace for the
// polls to come back) its instances are reported unverified, and it ends.
func TestFailingPollsEndTheRunAtTheDeadline(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 100, Seed: 75, Missing: 0.2})
	in := e2e.Input()
	in.MaxUnhealthyPercent = 100
	var broke time.Time
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/failing-polls", in, func(workflows.Progress) {
		if broke.IsZero() && st.Sim.Truth().Actions[ecs.ActionRebootInstances].Calls > 0 {
			broke = time.Now()
			require.NoError(t, st.Sim.SetFaults(ecssim.Faults{ErrorRate: 1, Actions: []string{ecs.ActionDescribeCloudAssistantStatus}}))
		}
	})
	require.False(t, broke.IsZero())
	took := time.Since(broke)
	require.Equal(t, rep.Counts.Unhealthy(), rep.Counts.Unverified+rep.Counts.Remediated, "%+v", rep.Counts)
	require.Positive(t, rep.Counts.Unverified)
	// The deadline, a minute's grace for polls to come back, one poll's
	// retries (15 s), and a margin.
	require.Less(t, took, in.VerifyDeadline.D()+2*time.Minute, "the run ended at the deadline, not when the polls would have come back")
	for _, r := range rep.Rows {
		if r.Reason == workflows.ReasonUnverified {
			require.Contains(t, r.Detail, "could not be read by its verify deadline (10s) and for 1m0s after")
		}
	}
	t.Logf("polls failing from the first reboot on: the run ended %s later; %+v", took.Round(time.Second), rep.Counts)
}

// TestEmptyDescribeInstancesFailsTheRun: DescribeInstances answers an
// empty list, as ECS does to a RAM user without ecs:DescribeInstances. The
// run fails with one line naming the permission and touches nothing.
func TestEmptyDescribeInstancesFailsTheRun(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 200, Seed: 77, Missing: 0.2})
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{OmitRate: 1, Actions: []string{ecs.ActionDescribeInstances}}))
	err := e2e.RunToError(t, st, "fleetmend/cn-hangzhou/empty-describe", e2e.Input())
	require.Contains(t, err.Error(), "ecs:DescribeInstances")
	require.NotContains(t, err.Error(), "\n")
	for _, i := range st.Sim.Truth().Instances {
		require.Zero(t, i.Installs+i.Reboots, i.ID)
	}
}

// TestDryRunUnderFivexxStaysNearTheMinimumCalls: a 30,000-instance dry run
// with 3% of DescribeCloudAssistantStatus calls answered 5xx completes,
// each failed page read once more rather than its whole segment: the calls
// are within 1.1x of the minimum.
func TestDryRunUnderFivexxStaysNearTheMinimumCalls(t *testing.T) {
	e2e.SkipShort(t)
	const size = 30000
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: size, Seed: 79, Missing: 0.05, OSWeights: map[string]float64{"Linux": 0.8, "Windows": 0.2}})
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{ErrorRate: 0.03, Actions: []string{ecs.ActionDescribeCloudAssistantStatus}, Seed: 3}))
	in := e2e.Input()
	in.DryRun = true
	in.MaxUnhealthyPercent = 100
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/dry-5xx", in, nil)
	require.Equal(t, size, rep.Counts.Scanned)
	truth := st.Sim.Truth()
	calls := truth.Actions[ecs.ActionDescribeCloudAssistantStatus].Calls + truth.Actions[ecs.ActionDescribeInstances].Calls
	linux, windows := 0, 0
	for _, i := range truth.Instances {
		if i.OSType == ecs.OSLinux {
			linux++
		} else {
			windows++
		}
	}
	pages := func(n, per int) int { return (n + per - 1) / per }
	minimum := pages(linux, 50) + pages(windows, 50) + 1 + pages(linux, 100) + pages(windows, 100) // +1: the empty FreeBSD chain
	ratio := float64(calls) / float64(minimum)
	t.Logf("30,000-instance dry run with 3%% 5xx: %d calls for a minimum of %d (%.3fx); %d errors injected",
		calls, minimum, ratio, truth.Actions[ecs.ActionDescribeCloudAssistantStatus].Errors)
	require.Positive(t, truth.Actions[ecs.ActionDescribeCloudAssistantStatus].Errors)
	require.LessOrEqual(t, ratio, 1.1)
}
