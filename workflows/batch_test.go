package workflows

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/fleetmend/fleetmend/ecs"
)

func batchEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *fleetModel) {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(quietLogger())
	env := ts.NewTestWorkflowEnvironment()
	m := newFleetModel()
	m.wire(env)
	return env, m
}

func batchOf(policy string, ids ...string) BatchInput {
	in := BatchInput{Region: "cn-hangzhou", WorkflowID: "test", Number: 1, RebootPolicy: policy,
		RebootGrace: Duration(30 * time.Second), VerifyDeadline: Duration(time.Minute), VerifyPollInterval: Duration(time.Second)}
	for _, id := range ids {
		in.Instances = append(in.Instances, BatchTarget{InstanceID: id, Problem: ProblemAgentMissing})
	}
	return in
}

func runBatch(t *testing.T, env *testsuite.TestWorkflowEnvironment, in BatchInput) BatchResult {
	t.Helper()
	env.ExecuteWorkflow(RemediateBatch, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res BatchResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Len(t, res.Rows, len(in.Instances), "one row per instance")
	return res
}

func rowOf(t *testing.T, res BatchResult, id string) Row {
	t.Helper()
	for _, r := range res.Rows {
		if r.InstanceID == id {
			return r
		}
	}
	t.Fatalf("no row for %s", id)
	return Row{}
}

func TestIfNeededRebootsOnlyThoseStillUnhealthyAfterGrace(t *testing.T) {
	env, m := batchEnv(t)
	m.add(1, ecs.StateRunning, false, false)
	m.add(2, ecs.StateRunning, false, false).healOnGrace = true // agent starts by itself after install
	m.add(3, ecs.StateRunning, false, true)
	var timers []time.Duration
	env.SetOnTimerScheduledListener(func(_ string, d time.Duration) { timers = append(timers, d) })

	res := runBatch(t, env, batchOf(RebootIfNeeded, modelID(1), modelID(2), modelID(3)))

	require.Equal(t, []time.Duration{30 * time.Second}, timers, "one grace period before the reboot decision")
	require.ElementsMatch(t, []string{modelID(1), modelID(3)}, m.rebootedIDs())
	require.Equal(t, OutcomeRemediated, rowOf(t, res, modelID(2)).Outcome)
	require.Contains(t, rowOf(t, res, modelID(2)).Action, "healthy without reboot")
	require.Equal(t, "installed, rebooted, verified", rowOf(t, res, modelID(1)).Action)
	require.Equal(t, 3, res.Installed)
	require.Equal(t, 2, res.Rebooted)
	require.ElementsMatch(t, []string{modelID(1), modelID(3)}, m.verifies[0], "the healthy one needs no verify")
}

func TestAlwaysRebootsWithoutGraceButNeverAHealthyAgent(t *testing.T) {
	env, m := batchEnv(t)
	m.add(1, ecs.StateRunning, false, false)
	m.add(2, ecs.StateRunning, false, false).healOnGrace = true
	timers := 0
	env.SetOnTimerScheduledListener(func(string, time.Duration) { timers++ })
	res := runBatch(t, env, batchOf(RebootAlways, modelID(1), modelID(2)))
	require.Zero(t, timers)
	require.Equal(t, []string{modelID(1)}, m.rebootedIDs(), "the reboot activity re-checks and skips a healthy agent")
	require.Equal(t, OutcomeRemediated, rowOf(t, res, modelID(2)).Outcome)
}

func TestNeverInstallsAndVerifiesWithoutReboot(t *testing.T) {
	env, m := batchEnv(t)
	m.add(1, ecs.StateRunning, false, false)
	m.add(2, ecs.StateRunning, false, false).healOnGrace = true
	res := runBatch(t, env, batchOf(RebootNever, modelID(1), modelID(2)))
	require.Empty(t, m.reboots, "policy never sends no reboot")
	require.Equal(t, OutcomeRemediated, rowOf(t, res, modelID(2)).Outcome)
	r1 := rowOf(t, res, modelID(1))
	require.Equal(t, OutcomeFailed, r1.Outcome)
	require.Equal(t, ReasonNoHeartbeat, r1.Reason)
	require.Contains(t, r1.Detail, "reboot policy never")
}

// TestUnconfirmedRebootIsReportedNotRetried: when a worker died between
// storing the reboot intent and hearing ECS, the instance is not rebooted
// again, and if its agent does not come back the row says why, rather than
// blaming the install.
func TestUnconfirmedRebootIsReportedNotRetried(t *testing.T) {
	env, m := batchEnv(t)
	m.add(1, ecs.StateRunning, false, false).lostReboot = true
	m.add(2, ecs.StateRunning, false, false)
	res := runBatch(t, env, batchOf(RebootIfNeeded, modelID(1), modelID(2)))
	r1 := rowOf(t, res, modelID(1))
	require.Equal(t, OutcomeFailed, r1.Outcome)
	require.Equal(t, ReasonRebootUnconfirmed, r1.Reason)
	require.Contains(t, r1.Detail, "not rebooted again")
	require.Equal(t, "installed, reboot unconfirmed", r1.Action)
	require.Equal(t, OutcomeRemediated, rowOf(t, res, modelID(2)).Outcome)
	require.Equal(t, 1, res.Rebooted, "only the confirmed reboot counts")
	require.Equal(t, []string{modelID(2)}, m.rebootedIDs())

	var c Counts
	for _, r := range res.Rows {
		c.addOutcome(r)
	}
	require.Equal(t, 1, c.RebootUnconfirmed)
	require.Equal(t, 1, c.Failed)
	require.Zero(t, c.NoHeartbeat)
}

func TestInstanceStoppedAfterRecheckIsNotRunningNotFailed(t *testing.T) {
	env, m := batchEnv(t)
	m.add(1, ecs.StateRunning, false, false)
	m.add(2, ecs.StateRunning, false, false)
	// Stop instance 2 after the re-check, before the install.
	m.afterChk = func() {
		m.mu.Lock()
		m.byID[modelID(2)].state = ecs.StateStopped
		m.mu.Unlock()
	}
	res := runBatch(t, env, batchOf(RebootIfNeeded, modelID(1), modelID(2)))
	require.Equal(t, OutcomeNotRunning, rowOf(t, res, modelID(2)).Outcome)
	require.Equal(t, OutcomeRemediated, rowOf(t, res, modelID(1)).Outcome)
	require.NotContains(t, m.rebootedIDs(), modelID(2))
}

func TestPermanentInstallErrorFailsInstancesNotTheBatch(t *testing.T) {
	env, m := batchEnv(t)
	m.add(1, ecs.StateRunning, false, false)
	m.add(2, ecs.StateRunning, true, true)
	m.failInst = temporal.NewNonRetryableApplicationError("install agent: ecs InstallCloudAssistant: Forbidden.RAM (HTTP 403)", "Forbidden.RAM", nil)
	res := runBatch(t, env, batchOf(RebootIfNeeded, modelID(1), modelID(2)))
	r1 := rowOf(t, res, modelID(1))
	require.Equal(t, OutcomeFailed, r1.Outcome)
	require.Equal(t, ReasonInstallFailed, r1.Reason)
	require.Contains(t, r1.Detail, "Forbidden.RAM")
	require.Equal(t, OutcomeAlreadyHealthy, rowOf(t, res, modelID(2)).Outcome)
	require.Empty(t, m.reboots)
}

func TestBatchRejectsMoreThanTwentyInstances(t *testing.T) {
	env, _ := batchEnv(t)
	var ids []string
	for i := range 21 {
		ids = append(ids, modelID(i))
	}
	env.ExecuteWorkflow(RemediateBatch, batchOf(RebootIfNeeded, ids...))
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	require.True(t, appErr.NonRetryable())
	require.Contains(t, appErr.Error(), "instances has 21 entries, allowed range is 1..20")
}
