package safety_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/workflows"
)

// TestScanUnderChurnSeesEachInstanceOnce: instances are deleted and
// created before every listing call of the scan, anywhere in the region
// (so behind the cursor too). A dry run must scan every instance that
// lived through the scan exactly once and plan no instance twice; a real
// run on the churning fleet installs and reboots nothing twice.
func TestScanUnderChurnSeesEachInstanceOnce(t *testing.T) {
	e2e.SkipShort(t)
	size := 20000
	if testing.Short() {
		size = 5000
	}
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: size, Seed: 21, Missing: 0.1, Silent: 0.05, Stopped: 0.03,
		OSWeights: map[string]float64{"Linux": 0.7, "Windows": 0.3}})
	start := st.Sim.Clock().Now()
	require.NoError(t, st.Sim.SetChurn(ecssim.Churn{DeletePerCall: 3, CreatePerCall: 3, Missing: 0.2, Seed: 5}))
	in := e2e.Input()
	in.DryRun = true
	n := 5000
	in.MaxReportRows = &n
	in.MaxReportBytes = workflows.MaxMaxReportBytes
	in.MaxUnhealthyPercent = 100
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/churn-dry", in, nil)
	require.NoError(t, st.Sim.SetChurn(ecssim.Churn{}))
	end := st.Sim.Clock().Now()
	truth := st.Sim.Truth()

	existed, throughout, deleted := 0, 0, 0
	for _, i := range truth.Instances {
		if i.CreatedAt.After(end) {
			continue
		}
		existed++
		lived := !i.CreatedAt.After(start) && (i.VanishedAt.IsZero() || i.VanishedAt.After(end))
		if lived {
			throughout++
			require.Equal(t, 1, i.Listed, "%s lived through the scan and was listed %d times", i.ID, i.Listed)
		}
		if !i.VanishedAt.IsZero() {
			deleted++
		}
		require.LessOrEqual(t, i.Listed, 1, "%s listed twice", i.ID)
	}
	require.Positive(t, deleted, "the churn deleted instances during the scan")
	require.LessOrEqual(t, rep.Counts.Scanned, existed, "scanned at most the instances that existed")
	require.GreaterOrEqual(t, rep.Counts.Scanned, throughout)
	planned := map[string]bool{}
	for _, b := range rep.Plan {
		for _, id := range b.InstanceIDs {
			require.False(t, planned[id], "%s planned twice", id)
			planned[id] = true
		}
	}
	for _, r := range rep.Rows {
		if r.Outcome == workflows.OutcomePlanned {
			require.True(t, planned[r.InstanceID] || rep.PlanOmitted > 0)
		}
	}
	t.Logf("dry run of %d instances with churn: scanned %d (existed %d, lived through %d, deleted %d), planned %d in %d batches",
		size, rep.Counts.Scanned, existed, throughout, deleted, rep.Counts.Planned, rep.Counts.Batches)

	// The real run on a churning fleet of 5,000.
	st2 := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 5000, Seed: 22, Missing: 0.06, Silent: 0.03, InstallFails: 0.005})
	require.NoError(t, st2.Sim.SetChurn(ecssim.Churn{DeletePerCall: 5, CreatePerCall: 2, Missing: 0.3, Seed: 6}))
	real := e2e.Input()
	real.MaxUnhealthyPercent = 100
	rep2 := e2e.RunToReport(t, st2, "fleetmend/cn-hangzhou/churn-real", real, nil)
	require.NoError(t, st2.Sim.SetChurn(ecssim.Churn{}))
	e2e.RequireNothingTwice(t, st2.Sim.Truth())
	require.Positive(t, rep2.Counts.Remediated)
	t.Logf("real run on 5,000 churning instances: %+v", rep2.Counts)
}

// TestUnansweredInstancesAreNeverActedOn: with IDs left out of the by-ID
// answers (some always, the rest at random), no instance absent from an
// answer is installed on or rebooted, and an instance that recovers right
// before its install (failing that call once) is not installed on when the
// call is retried.
func TestUnansweredInstancesAreNeverActedOn(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 400, Seed: 23, Missing: 0.15, Silent: 0.05})
	bad := e2e.UnhealthyIDs(st.Sim)
	always := bad[:6]
	recovers := bad[10]
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{OmitIDs: always, OmitRate: 0.05, Seed: 3,
		Actions: []string{ecs.ActionDescribeCloudAssistantStatus, ecs.ActionDescribeInstances, ecs.ActionDescribeInstanceStatus}}))
	require.NoError(t, st.Sim.AddHook(ecssim.Hook{Action: ecs.ActionInstallCloudAssistant, InstanceID: recovers, HealAgent: true, FailCode: "ServiceUnavailable"}))
	in := e2e.Input()
	in.MaxUnhealthyPercent = 100
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/omit", in, nil)
	truth := st.Sim.Truth()
	e2e.RequireNothingTwice(t, truth)
	rows := map[string]workflows.Row{}
	for _, r := range rep.Rows {
		rows[r.InstanceID] = r
	}
	for _, id := range always {
		tr, _ := st.Sim.Instance(id)
		require.Zero(t, tr.Installs, "%s was never answered for, yet installed on", id)
		require.Zero(t, tr.Reboots, "%s was never answered for, yet rebooted", id)
		require.Equal(t, workflows.OutcomeUnknown, rows[id].Outcome, "%s: %+v", id, rows[id])
	}
	tr, _ := st.Sim.Instance(recovers)
	require.Zero(t, tr.Installs, "recovered right before the install call")
	require.Zero(t, tr.InstallsWhileHealthy)
	require.Equal(t, workflows.OutcomeAlreadyHealthy, rows[recovers].Outcome, "%+v", rows[recovers])
	require.GreaterOrEqual(t, rep.Counts.Unknown, len(always))
	require.Positive(t, rep.Counts.Remediated)
	t.Logf("omit faults: %+v", rep.Counts)
}

// TestForbiddenRebootStopsTheRunWithOneLine: RebootInstances refused for
// the whole account (a RAM policy without it) stops the run within its
// first batch, with one line that says what to do.
func TestForbiddenRebootStopsTheRunWithOneLine(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 300, Seed: 24, Missing: 0.2})
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{ErrorRate: 1, ErrorCode: "Forbidden.RAM", Actions: []string{ecs.ActionRebootInstances}}))
	in := e2e.Input()
	in.BlastRadius = "20"
	in.MaxUnhealthyPercent = 100
	err := e2e.RunToError(t, st, "fleetmend/cn-hangzhou/forbidden", in)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, "Forbidden.RAM", appErr.Type())
	msg := appErr.Message()
	require.NotContains(t, msg, "\n", "one line")
	require.Contains(t, msg, "Forbidden.RAM: the credentials are not allowed to call RebootInstances")
	require.Contains(t, msg, "request ")
	require.Contains(t, msg, "grant ecs:RebootInstances")
	require.Equal(t, 1, strings.Count(msg, "Forbidden.RAM:"), "said once: %s", msg)
	var rep workflows.Report
	require.NoError(t, appErr.Details(&rep))
	require.Equal(t, 1, rep.Counts.Batches, "no batch after the first")
	require.Equal(t, 20, rep.Counts.AccountError)
	require.Equal(t, 40, rep.Counts.NotAttempted)
	truth := st.Sim.Truth()
	installed := 0
	for _, i := range truth.Instances {
		installed += i.Installs
		require.Zero(t, i.Reboots)
	}
	require.Equal(t, 20, installed, "only the first batch was installed on")
	require.Equal(t, 1, truth.Actions[ecs.ActionRebootInstances].Calls, "one refused reboot call, not retried")
}

// TestErrorBudgetStopsNewBatches: 20 instances whose install ECS refuses,
// batches of 5 one at a time, budget 5: the second batch exhausts the
// budget and no batch starts after it.
func TestErrorBudgetStopsNewBatches(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 300, Seed: 25, Missing: 0.2})
	bad := e2e.UnhealthyIDs(st.Sim)
	for _, id := range bad[:20] {
		require.NoError(t, st.Sim.AddHook(ecssim.Hook{Action: ecs.ActionInstallCloudAssistant, InstanceID: id, Times: 1000, FailCode: "IncorrectInstanceStatus"}))
	}
	in := e2e.Input()
	in.BatchSize, in.BlastRadius, in.ErrorBudget = 5, "5", "5"
	in.MaxUnhealthyPercent = 100
	in.Canary = new(int) // the budget is under test; a failed canary would stop the run first (e2e/rollout)
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/budget", in, nil)
	require.Contains(t, rep.Stopped, "stopped: error budget exhausted (10 failed of 10 attempted; budget 5 = 5)")
	require.Equal(t, 2, rep.Counts.Batches)
	require.Equal(t, 10, rep.Counts.InstallFailed)
	require.Equal(t, 50, rep.Counts.NotAttempted)
	for _, id := range bad[10:] {
		tr, _ := st.Sim.Instance(id)
		require.Zero(t, tr.Installs+tr.RefusedInstalls, "%s was in no batch after the budget ran out", id)
	}
}

// TestShortCircuitWhenAZoneLooksSystemic: 60% of one zone's agents go
// silent: nothing is installed or rebooted; with the override, the same
// fleet is repaired.
func TestShortCircuitWhenAZoneLooksSystemic(t *testing.T) {
	e2e.SkipShort(t)
	// Zone a: 100 healthy instances. Zone b: 20, of which 12 (60%) have
	// agents that went silent an hour ago. The region is at 10%.
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 100, Seed: 26, Zones: []string{"cn-hangzhou-a"}})
	now := st.Sim.Clock().Now()
	for i := range 20 {
		_, err := st.Sim.AddInstance(ecssim.InstanceSpec{Zone: "cn-hangzhou-b", AgentInstalled: true,
			AgentSilent: i < 12, LastHeartbeat: now.Add(-time.Hour)})
		require.NoError(t, err)
	}
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/systemic", e2e.Input(), nil)
	require.Contains(t, rep.Stopped, "short-circuited: ")
	require.Contains(t, rep.Stopped, "zone cn-hangzhou-b")
	for _, i := range st.Sim.Truth().Instances {
		require.Zero(t, i.Installs, "%s installed on despite the short-circuit", i.ID)
		require.Zero(t, i.Reboots)
	}
	require.Positive(t, rep.Counts.NotAttempted)

	in := e2e.Input()
	in.OverrideMaxUnhealthy = "INC-77: a bad agent package, the network is fine"
	rep = e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/systemic-override", in, nil)
	require.Empty(t, rep.Stopped)
	require.Positive(t, rep.Counts.Remediated)
	require.Equal(t, "override", rep.Controls[0].Action)
	e2e.RequireNothingTwice(t, st.Sim.Truth())
}

// TestExcludedInstancesAreUntouched: instances with the opt-out tag, and
// those in the run's exclude list, are never installed on or rebooted and
// are counted as excluded.
func TestExcludedInstancesAreUntouched(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 300, Seed: 27, Missing: 0.2, Tagged: 0.1})
	bad := e2e.UnhealthyIDs(st.Sim)
	var tagged, listed []string
	for _, i := range st.Sim.Truth().Instances {
		if i.Tags[ecssim.DefaultTagKey] != "" && slices.Contains(bad, i.ID) {
			tagged = append(tagged, i.ID)
		}
	}
	for _, id := range bad {
		if !slices.Contains(tagged, id) && len(listed) < 5 {
			listed = append(listed, id)
		}
	}
	require.NotEmpty(t, tagged)
	in := e2e.Input()
	in.ExcludeInstanceIDs = listed
	in.MaxUnhealthyPercent = 100
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/excluded", in, nil)
	for _, id := range append(slices.Clone(tagged), listed...) {
		tr, _ := st.Sim.Instance(id)
		require.Zero(t, tr.Installs, "%s is excluded", id)
		require.Zero(t, tr.Reboots, "%s is excluded", id)
	}
	require.Equal(t, 30, rep.Counts.Excluded-len(listed), "every tagged instance counted (healthy or not)")
	require.GreaterOrEqual(t, rep.Counts.Excluded, len(tagged)+len(listed))
	require.Positive(t, rep.Counts.Remediated)
}

// TestChronicInstanceIsQuarantined: an instance whose install never takes
// effect is rebooted by the first two runs, then quarantined by the next
// three; clearing its record lets the sixth try again.
func TestChronicInstanceIsQuarantined(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 60, Seed: 28, Missing: 0.1, InstallFails: 0.05})
	var chronic []string
	for _, i := range st.Sim.Truth().Instances {
		if i.InitialProblem == ecssim.ProblemInstallFails {
			chronic = append(chronic, i.ID)
		}
	}
	require.Len(t, chronic, 3)
	in := e2e.Input()
	in.MaxUnhealthyPercent = 100
	for n := 1; n <= 5; n++ {
		rep := e2e.RunToReport(t, st, fmt.Sprintf("fleetmend/cn-hangzhou/chronic-%d", n), in, nil)
		rows := map[string]workflows.Row{}
		for _, r := range rep.Rows {
			rows[r.InstanceID] = r
		}
		for _, id := range chronic {
			if n <= workflows.DefaultQuarantineAfter {
				require.Equal(t, workflows.ReasonNoHeartbeat, rows[id].Reason, "run %d: %+v", n, rows[id])
			} else {
				require.Equal(t, workflows.OutcomeQuarantined, rows[id].Outcome, "run %d: %+v", n, rows[id])
				require.Contains(t, rows[id].Detail, "2 failed repairs within")
			}
		}
	}
	for _, id := range chronic {
		tr, _ := st.Sim.Instance(id)
		require.Equal(t, workflows.DefaultQuarantineAfter, tr.Reboots, "%s: at most N reboots across 5 runs", id)
	}

	// An operator clears the quarantine of one instance: the next run tries it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := st.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: guard.WorkflowID(e2e.Region), UpdateName: guard.UpdateClear,
		Args:         []any{guard.ClearRequest{InstanceIDs: chronic[:1], By: "test", Reason: "image rebuilt"}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	require.NoError(t, err)
	var cleared guard.ClearResult
	require.NoError(t, h.Get(ctx, &cleared))
	require.Equal(t, chronic[:1], cleared.Cleared)
	e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/chronic-6", in, nil)
	tr, _ := st.Sim.Instance(chronic[0])
	require.Equal(t, workflows.DefaultQuarantineAfter+1, tr.Reboots, "tried again after the clear")
	for _, id := range chronic[1:] {
		tr, _ := st.Sim.Instance(id)
		require.Equal(t, workflows.DefaultQuarantineAfter, tr.Reboots, "%s still quarantined", id)
	}
}
