package rollout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/workflows"
)

// rolloutInput is the e2e input with the rollout at its defaults (a canary
// of one batch, a ramp of 2, 80% to go on) and the fleet-wide
// short-circuit out of the way.
func rolloutInput() workflows.RegionInput {
	in := e2e.Input()
	in.MaxUnhealthyPercent = 100
	in.ErrorBudget = "100%" // the gates, not the budget, are on trial
	return in
}

func reboots(truth ecssim.Truth) int {
	n := 0
	for _, i := range truth.Instances {
		n += i.Reboots
	}
	return n
}

// TestNoAgentComesBackCostsTheCanary: 2,000 unhealthy instances whose
// repaired agents never come back (every install fails). The run reboots
// the canary and nothing more, judged at the early signal, and stops with
// one line; the rest are not-attempted for the canary.
func TestNoAgentComesBackCostsTheCanary(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 5000, Seed: 171, InstallFails: 0.4})
	in := rolloutInput()
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/broken-package", in, nil)
	truth := st.Sim.Truth()
	require.Equal(t, 2000, rep.Counts.Unhealthy())
	require.LessOrEqual(t, reboots(truth), 20+40, "at most the canary and the first ramp step")
	require.Equal(t, 20, reboots(truth), "the canary's gate held: nothing beyond it")
	require.Contains(t, rep.Stopped, "stopped: canary failed: 0 of 20 healed (80% needed to go on); first failures: ")
	require.NotContains(t, rep.Stopped, "\n")
	require.Equal(t, 1980, rep.Counts.NotAttempted)
	for _, r := range rep.Rows {
		if r.Outcome == workflows.OutcomeNotAttempted {
			require.Equal(t, workflows.ReasonCanary, r.Reason)
		}
	}
	e2e.RequireNothingTwice(t, truth)
	t.Logf("broken package: %d rebooted of %d unhealthy; %s", reboots(truth), rep.Counts.Unhealthy(), rep.Stopped)
}

// TestCanaryThresholdDecides: 30% of the unhealthy instances' installs
// never take effect. The canary is the first batch in scan order; whether
// it passes is what the share of its healers against 80% says (computed
// here from the simulator's truth), and with a threshold of 60% the run
// goes through every wave to the end.
func TestCanaryThresholdDecides(t *testing.T) {
	e2e.SkipShort(t)
	spec := ecssim.FleetSpec{Size: 1000, Seed: 173, Missing: 0.14, InstallFails: 0.06}
	st := e2e.SafetyStack(t, spec)
	ids := e2e.UnhealthyIDs(st.Sim)
	healers := 0
	for _, id := range ids[:20] {
		if tr, _ := st.Sim.Instance(id); tr.InitialProblem != ecssim.ProblemInstallFails {
			healers++
		}
	}
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/canary-80", rolloutInput(), nil)
	if healers*100 >= 80*20 {
		require.NotContains(t, rep.Stopped, "canary failed", "%d of 20 heal", healers)
	} else {
		require.Contains(t, rep.Stopped, "stopped: canary failed: ", "%d of 20 heal", healers)
		require.Equal(t, 20, reboots(st.Sim.Truth()))
	}
	t.Logf("canary at 80%%: %d of 20 heal: %q", healers, rep.Stopped)

	again := e2e.SafetyStack(t, spec)
	in := rolloutInput()
	in.CanarySuccess = 60
	full := e2e.RunToReport(t, again, "fleetmend/cn-hangzhou/canary-60", in, nil)
	require.Empty(t, full.Stopped, "every wave passes at 60%")
	require.Equal(t, 200, full.Counts.Remediated+full.Counts.NoHeartbeat)
	require.GreaterOrEqual(t, len(full.Waves), 2)
	e2e.CheckAgainstTruth(t, again.Sim, full)
	t.Logf("canary at 60%%: waves %+v", full.Waves)
}

// TestPauseAfterCanary: the run pauses once the canary passed; nothing
// beyond the canary is installed or rebooted until an operator resumes
// (the simulator's truth, with the time between), and the approval is in
// the report. An abort instead ends the run with the canary verified.
func TestPauseAfterCanary(t *testing.T) {
	e2e.SkipShort(t)
	for _, approve := range []bool{true, false} {
		name := map[bool]string{true: "resume", false: "abort"}[approve]
		t.Run(name, func(t *testing.T) {
			st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 300, Seed: 175, Missing: 0.2})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			in := rolloutInput()
			in.PauseAfterCanary = true
			id := "fleetmend/cn-hangzhou/approve-" + name
			run, err := st.StartRun(ctx, id, in)
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				v, err := st.Client.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
				var p workflows.Progress
				return err == nil && v.Get(&p) == nil && p.Paused && p.Phase == "awaiting approval"
			}, 2*time.Minute, 50*time.Millisecond, "the run waits for approval after the canary")
			installed := func() int {
				n := 0
				for _, i := range st.Sim.Truth().Instances {
					n += i.Installs
				}
				return n
			}
			require.Equal(t, 20, installed())
			paused := st.Sim.Clock().Now()
			require.Never(t, func() bool { return installed() > 20 || reboots(st.Sim.Truth()) > 20 },
				3*time.Second, 100*time.Millisecond, "nothing beyond the canary while waiting for approval")
			update := workflows.UpdateAbort
			if approve {
				update = workflows.UpdateResume
			}
			h, err := st.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: update,
				Args: []any{workflows.ControlRequest{Reason: "canary reviewed", By: "alice"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
			require.NoError(t, err)
			require.NoError(t, h.Get(ctx, nil))
			var rep workflows.Report
			require.NoError(t, run.Get(ctx, &rep))
			var events []string
			for _, c := range rep.Controls {
				events = append(events, c.Action+" by "+c.By+": "+c.Reason)
			}
			require.Contains(t, events, update+" by alice: canary reviewed")
			truth := st.Sim.Truth()
			if !approve {
				require.Equal(t, 20, rep.Counts.Remediated, "the canary, verified")
				require.Equal(t, 40, rep.Counts.NotAttempted)
				require.Equal(t, 20, installed())
				return
			}
			require.Equal(t, 60, rep.Counts.Remediated)
			later := 0
			for _, i := range truth.Instances {
				for _, at := range i.InstallTimes {
					if at.After(paused) {
						later++
						require.GreaterOrEqual(t, at.Sub(paused), 3*60*time.Second, "installed only after the approval")
					}
				}
			}
			require.Equal(t, 40, later)
			e2e.RequireNothingTwice(t, truth)
		})
	}
}

// TestOneHeartbeatIsNotHealthy: agents that send one heartbeat after
// their repair and hang are not remediated: they fail no-heartbeat, and
// the report says they reported, then went silent.
func TestOneHeartbeatIsNotHealthy(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 200, Seed: 177, Missing: 0.1, Flaky: 0.05})
	in := rolloutInput()
	in.Canary = new(int) // no canary: every flaky agent gets its chance to fool the verify
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/flaky", in, nil)
	truth := st.Sim.Truth()
	rows := map[string]workflows.Row{}
	for _, r := range rep.Rows {
		rows[r.InstanceID] = r
	}
	flaky := 0
	for _, i := range truth.Instances {
		if i.InitialProblem != ecssim.ProblemFlaky {
			continue
		}
		flaky++
		require.Equal(t, 1, i.Reboots, i.ID)
		r := rows[i.ID]
		require.Equal(t, workflows.OutcomeFailed, r.Outcome, "%s heartbeated once and is not remediated: %+v", i.ID, r)
		require.Equal(t, workflows.ReasonNoHeartbeat, r.Reason)
		require.True(t, strings.Contains(r.Detail, "reported after the reboot, then went silent"), r.Detail)
	}
	require.Equal(t, 10, flaky)
	require.Equal(t, 20, rep.Counts.Remediated)
}

// TestPollsFailingFromTheCanarysFirstRebootEndTheRun: from the canary's
// first reboot on, DescribeCloudAssistantStatus answers 5xx for good. The
// run cannot see whether its repair works: its canary's instances are
// decided unverified a minute (the grace) past their verify deadline, the
// gate stops the run as inconclusive, and the run ends and frees the
// region. The bound a run holds its region with its polls failing is its
// last reboot plus the verify deadline, the grace and one failed poll
// (at most max(15 s, four poll intervals)); nothing beyond the canary is
// rebooted.
func TestPollsFailingFromTheCanarysFirstRebootEndTheRun(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, ecssim.FleetSpec{Size: 1000, Seed: 241, Missing: 0.2, Silent: 0.05})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	in := rolloutInput()
	run, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/polls-down", in)
	require.NoError(t, err)
	e2e.Eventually(t, 2*time.Minute, "the canary's first reboot", func() bool { return reboots(st.Sim.Truth()) > 0 })
	firstReboot := time.Now()
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{ErrorRate: 1, Actions: []string{"DescribeCloudAssistantStatus"}}))
	var rep workflows.Report
	require.NoError(t, run.Get(ctx, &rep))
	held := time.Since(firstReboot)

	const grace = time.Minute
	failedPoll := max(15*time.Second, 4*in.VerifyPollInterval.D())
	bound := in.VerifyDeadline.D() + grace + failedPoll + in.VerifyPollInterval.D()
	const slack = 20 * time.Second // the canary's batch rebooting after the first of its instances, a loaded machine
	require.Less(t, held, bound+slack, "the run held its region %s after its canary's first reboot with its polls failing (bound %s)", held, bound)
	require.Contains(t, rep.Stopped, "canary inconclusive")
	require.Equal(t, 20, rep.Counts.Unverified, "%+v", rep.Counts)
	truth := st.Sim.Truth()
	require.Equal(t, 20, reboots(truth), "nothing beyond the canary")
	e2e.RequireNothingTwice(t, truth)

	v, err := st.Client.QueryWorkflow(ctx, guard.WorkflowID(e2e.Region), "", guard.QueryHolder)
	require.NoError(t, err)
	var view guard.HolderView
	require.NoError(t, v.Get(&view))
	require.Nil(t, view.Holder, "the region is free")
	t.Logf("polls down from the canary's first reboot: the run ended %s later (bound %s + %s slack): %s", held.Round(time.Second), bound, slack, rep.Stopped)
}
