package workflows

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/fleetmend/fleetmend/ecs"
)

// TestEngineTwoBatchHandsItsRebootsToTheRun: a pipelined batch stops after
// the reboot and lists what the run must verify, with when the wait starts.
func TestEngineTwoBatchHandsItsRebootsToTheRun(t *testing.T) {
	env, m := batchEnv(t)
	m.add(1, ecs.StateRunning, false, false)
	m.add(2, ecs.StateRunning, false, false).healOnGrace = true
	m.add(3, ecs.StateStopped, false, false)
	in := batchOf(RebootIfNeeded, modelID(1), modelID(2), modelID(3))
	in.Engine = engineV2
	env.ExecuteWorkflow(RemediateBatch, in)
	require.NoError(t, env.GetWorkflowError())
	var res BatchResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Empty(t, m.verifies, "the batch does not verify by itself")
	require.Len(t, res.Verify, 1)
	v := res.Verify[0]
	require.Equal(t, modelID(1), v.ID)
	require.True(t, v.Rebooted)
	require.True(t, v.InTransit)
	require.Equal(t, "installed, rebooted", v.Action)
	require.False(t, v.Since.IsZero())
	rows := map[string]Row{}
	for _, r := range res.Rows {
		rows[r.InstanceID] = r
	}
	require.Len(t, rows, 2, "decided instances only")
	require.Equal(t, OutcomeRemediated, rows[modelID(2)].Outcome)
	require.Equal(t, OutcomeNotRunning, rows[modelID(3)].Outcome)
}

// TestBatchWaitsWhilePausedAndStopsOnAbort: a paused run's batch installs
// nothing until resumed; an abort after the install stops it before the
// reboot.
func TestBatchWaitsWhilePausedAndStopsOnAbort(t *testing.T) {
	env, m := batchEnv(t)
	m.add(1, ecs.StateRunning, false, false)
	in := batchOf(RebootIfNeeded, modelID(1))
	in.Engine = engineV2
	var installedAt time.Time
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == "InstallAgents" {
			installedAt = env.Now()
		}
	})
	start := env.Now()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalBatchControl, BatchControl{Paused: true}) }, 0)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalBatchControl, BatchControl{}) }, time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalBatchControl, BatchControl{Aborted: true, Reason: "stop now"})
	}, time.Hour+2*time.Second)
	env.ExecuteWorkflow(RemediateBatch, in)
	require.NoError(t, env.GetWorkflowError())
	var res BatchResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.GreaterOrEqual(t, installedAt.Sub(start), time.Hour, "no install while paused")
	require.Empty(t, m.reboots, "aborted before the reboot")
	require.True(t, res.Aborted)
	require.Len(t, res.Rows, 1)
	require.Equal(t, OutcomeNotAttempted, res.Rows[0].Outcome)
	require.Equal(t, ReasonAborted, res.Rows[0].Reason)
	require.Contains(t, res.Rows[0].Detail, "after install, before reboot: stop now")
	require.Equal(t, "installed", res.Rows[0].Action)
}

func TestUnansweredAgentIsUnknownAndNeverActedOn(t *testing.T) {
	env, m := batchEnv(t)
	m.add(1, ecs.StateRunning, false, false)
	m.add(2, ecs.StateRunning, false, false)
	m.beforeChk = func([]string) {}
	m.unknown = map[string]bool{modelID(1): true}
	in := batchOf(RebootIfNeeded, modelID(1), modelID(2))
	in.Engine = engineV2
	env.ExecuteWorkflow(RemediateBatch, in)
	require.NoError(t, env.GetWorkflowError())
	var res BatchResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, []string{modelID(2)}, m.installedIDs())
	require.Len(t, res.Rows, 1)
	require.Equal(t, OutcomeUnknown, res.Rows[0].Outcome)
	require.Contains(t, res.Rows[0].Detail, "did not answer")
}

// TestReportOfLongFailuresStaysUnderTheLimits: 5,000 rows of long
// failures (the Forbidden.RAM report of the issue) stay under 2 MB, keep
// failures before skips, and count what they left out.
func TestReportOfLongFailuresStaysUnderTheLimits(t *testing.T) {
	long := "install agent: Forbidden.RAM: the credentials are not allowed to call InstallCloudAssistant (ECS says \"User not authorized to operate on the specified resource, or this API doesn't support RAM.\", request 0DA4C8B9-1111-2222-3333-444455556666); " + strings.Repeat("grant ecs:InstallCloudAssistant ", 40)
	for _, maxBytes := range []int{DefaultMaxReportBytes, MaxMaxReportBytes} {
		var b rowBook
		var c Counts
		for i := range 5000 {
			row := Row{InstanceID: modelID(i), Outcome: OutcomeNotRunning, Detail: "instance is Stopped at scan; skipped, not touched"}
			if i%2 == 0 {
				row = Row{InstanceID: modelID(i), Outcome: OutcomeFailed, Reason: ReasonInstallFailed, Batch: i / 20, Detail: long, Problem: ProblemAgentMissing}
			}
			c.addOutcome(row)
			b.add(row, MaxReportRows, maxBytes)
		}
		rep := Report{Rows: b.Rows, RowsOmitted: b.Omitted, Counts: c}
		raw, err := json.Marshal(rep)
		require.NoError(t, err)
		require.Less(t, len(raw), 2<<20, "under Temporal's 2 MB payload limit")
		require.LessOrEqual(t, len(raw), maxBytes+maxBytes/10, "within the byte cap (and its estimate)")
		require.Equal(t, 5000, len(b.Rows)+b.Omitted, "every row kept or counted")
		if maxBytes == DefaultMaxReportBytes {
			require.Positive(t, b.Omitted, "the default keeps well under 512 KB")
		}
		failures, skips := 0, 0
		for _, r := range b.Rows {
			require.LessOrEqual(t, len(r.Detail), maxDetailLen)
			if r.Outcome == OutcomeFailed {
				failures++
			} else {
				skips++
			}
		}
		if failures < 2500 {
			require.Zero(t, skips, "a skip is never kept while a failure is left out")
		}
		require.Equal(t, 2500, c.InstallFailed, "counts stay complete")
	}
}

func TestAmountParsesCountsAndShares(t *testing.T) {
	a, err := ParseAmount("blast_radius", "5%", 1, 100)
	require.NoError(t, err)
	require.Equal(t, 50, a.Of(1000))
	require.Equal(t, 1, a.Of(3), "a share of a non-empty total is never zero")
	a, err = ParseAmount("blast_radius", "40", 1, 100)
	require.NoError(t, err)
	require.Equal(t, 40, a.Of(1000))
	for _, bad := range []string{"0", "101", "0%", "-5%", "abc", "5%%", ""} {
		_, err := ParseAmount("blast_radius", bad, 1, 100)
		require.ErrorContains(t, err, "blast_radius is", bad)
	}
	a, err = ParseAmount("error_budget", "0", 0, 100)
	require.NoError(t, err)
	require.Zero(t, a.Of(1000))
}
