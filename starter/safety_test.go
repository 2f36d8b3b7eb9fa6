package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

func safetyCLI(t *testing.T, fleets ...ecssim.FleetSpec) *cli {
	t.Helper()
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "none.toml"))
	t.Setenv("TEMPORAL_ADDRESS", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		IP: "127.0.0.1", UIPort: -1, TimeScale: 60, SimSeed: 7, Worker: true, Logger: zap.NewNop(),
		Region: fleets[0].Region, Fleet: fleets[0], MoreFleets: fleets[1:],
	})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return &cli{t: t, st: st}
}

// TestOneActingRunPerRegionWhateverStartsThem: two schedules of one region
// are triggered and a CLI run is started at the same moment, ten times.
// In every round exactly one run acts; the others end as skipped, naming
// it; no instance is installed or rebooted by two runs.
func TestOneActingRunPerRegionWhateverStartsThem(t *testing.T) {
	e2e.SkipShort(t)
	const region = "cn-shanghai"
	c := safetyCLI(t, ecssim.FleetSpec{Region: region, Size: 60, Seed: 31})
	for _, name := range []string{"a", "b"} {
		r := c.run(append([]string{"schedule", "create", "--region", region, "--name", name, "--every", "24h", "--paused",
			"--max-unhealthy-percent", "100"}, fast[:10]...)...)
		require.Equal(t, exitOK, r.code, r.err)
	}
	ctx := context.Background()
	sim := c.st.Sim
	ids := sim.InstanceIDs(region)
	for round := range 10 {
		// Break a few agents, so every round has something to repair. Their
		// last heartbeats go stale two simulated minutes later.
		broken := ids[round*5 : round*5+5]
		for _, id := range broken {
			require.NoError(t, sim.RemoveAgent(id))
		}
		require.Eventually(t, func() bool {
			for _, id := range broken {
				if tr, _ := sim.Instance(id); tr.AgentHealthy {
					return false
				}
			}
			return true
		}, time.Minute, 20*time.Millisecond)
		sim.ResetCounters()
		before := map[string]int{}
		for _, name := range []string{"a", "b"} {
			d, err := c.st.Client.ScheduleClient().GetHandle(ctx, "fleetmend-"+region+"-"+name).Describe(ctx)
			require.NoError(t, err)
			before[name] = d.Info.NumActions
		}
		var wg sync.WaitGroup
		var cliRun result
		start := make(chan struct{})
		for _, name := range []string{"a", "b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				h := c.st.Client.ScheduleClient().GetHandle(ctx, "fleetmend-"+region+"-"+name)
				require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}))
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			cliRun = c.run(append([]string{"run", "--region", region, "--json", "--max-unhealthy-percent", "100",
				"--id", fmt.Sprintf("fleetmend/%s/manual-round-%d", region, round)}, fast[:10]...)...)
		}()
		close(start)
		wg.Wait()

		runIDs := []string{fmt.Sprintf("fleetmend/%s/manual-round-%d", region, round)}
		for _, name := range []string{"a", "b"} {
			h := c.st.Client.ScheduleClient().GetHandle(ctx, "fleetmend-"+region+"-"+name)
			id, err := waitTriggered(ctx, h, before[name], 1<<30)
			require.NoError(t, err)
			runIDs = append(runIDs, id)
		}
		acting, skipped := "", 0
		for _, id := range runIDs {
			var rep workflows.Report
			require.NoError(t, c.st.Client.GetWorkflow(ctx, id, "").Get(ctx, &rep), id)
			if rep.Skipped {
				skipped++
				require.Contains(t, rep.Stopped, "skipped: region "+region+" busy with ")
				continue
			}
			require.Empty(t, acting, "round %d: two runs acted: %s and %s", round, acting, id)
			acting = id
			require.Positive(t, rep.Counts.Remediated, "round %d: the acting run repaired", round)
		}
		require.Equal(t, 2, skipped, "round %d", round)
		for _, id := range runIDs {
			var rep workflows.Report
			require.NoError(t, c.st.Client.GetWorkflow(ctx, id, "").Get(ctx, &rep))
			if rep.Skipped {
				require.Equal(t, acting, rep.SkippedFor, "round %d: %s says why, naming the acting run", round, id)
			}
		}
		if !strings.HasSuffix(acting, fmt.Sprintf("round-%d", round)) {
			require.Equal(t, exitUsage, cliRun.code, "round %d: the CLI's run was skipped and says so: %s", round, cliRun.err)
			require.Contains(t, cliRun.err, "refused: skipped: region "+region+" busy with "+acting)
		}
		for _, in := range sim.Truth().Instances {
			require.LessOrEqual(t, in.Installs, 1, "round %d: %s installed twice", round, in.ID)
			require.LessOrEqual(t, in.Reboots, 1, "round %d: %s rebooted twice", round, in.ID)
		}
	}
}

// TestPauseResumeSetAbortFromTheCLI: pausing a run stops installs and
// reboots (the simulator sees none while it is paused), set changes the
// batches in flight (status shows it), resume goes on, abort stops the run
// with every reboot it sent verified.
func TestPauseResumeSetAbortFromTheCLI(t *testing.T) {
	e2e.SkipShort(t)
	const region = "cn-chengdu"
	c := safetyCLI(t, ecssim.FleetSpec{Region: region, Size: 400, Seed: 32, Missing: 0.25})
	sim := c.st.Sim
	id := "fleetmend/" + region + "/manual-controls"
	r := c.run("run", "--region", region, "--id", id, "--json", "--blast-radius", "20", "--reboot-grace", "5s",
		"--verify-deadline", "10s", "--verify-poll-interval", "250ms", "--stable-for", "1s", "--early-signal", "3s")
	require.Equal(t, exitOK, r.code, r.err)
	calls := func(action string) int { return sim.Truth().Actions[action].Calls }

	// Pause while the first batch waits out its grace period: installed,
	// not yet rebooted.
	require.Eventually(t, func() bool { return calls(ecs.ActionInstallCloudAssistant) >= 1 }, time.Minute, 20*time.Millisecond)
	require.Zero(t, calls(ecs.ActionRebootInstances), "the grace period is 5s")
	r = c.run("pause", id)
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.err, "--reason is required")
	r = c.run("pause", id, "--reason", "INC-4711 change freeze")
	require.Equal(t, exitOK, r.code, r.err)
	require.Contains(t, r.out, "pause accepted")
	installs := calls(ecs.ActionInstallCloudAssistant)
	// Longer than the grace period: without the pause the batch would reboot.
	require.Never(t, func() bool {
		return calls(ecs.ActionRebootInstances) > 0 || calls(ecs.ActionInstallCloudAssistant) > installs
	}, 8*time.Second, 50*time.Millisecond, "no install or reboot starts while paused")
	r = c.run("pause", id, "--reason", "again")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.err, "pause refused by "+id+": the run is already paused")

	r = c.run("set", id, "--concurrent-batches", "1", "--blast-radius", "40", "--reason", "one batch at a time, wider radius")
	require.Equal(t, exitOK, r.code, r.err)
	var p struct {
		Status string `json:"status"`
		workflows.Progress
	}
	r = c.run("status", id, "--json")
	require.Equal(t, exitOK, r.code, r.err)
	require.NoError(t, json.Unmarshal([]byte(r.out), &p))
	require.True(t, p.Paused)
	require.Equal(t, 1, p.ConcurrentBatches)
	require.Equal(t, 40, p.BlastRadius)

	r = c.run("resume", id, "--reason", "freeze over")
	require.Equal(t, exitOK, r.code, r.err)
	require.Eventually(t, func() bool { return calls(ecs.ActionRebootInstances) >= 1 }, time.Minute, 20*time.Millisecond, "resumed: the batch reboots")
	require.Eventually(t, func() bool { return calls(ecs.ActionInstallCloudAssistant) >= 2 }, time.Minute, 20*time.Millisecond)
	r = c.run("abort", id, "--reason", "enough for today")
	require.Equal(t, exitOK, r.code, r.err)

	var rep workflows.Report
	require.NoError(t, c.st.Client.GetWorkflow(context.Background(), id, "").Get(context.Background(), &rep))
	require.Contains(t, rep.Stopped, "aborted by ")
	require.Contains(t, rep.Stopped, "enough for today")
	require.Positive(t, rep.Counts.NotAttempted)
	var actions []string
	for _, e := range rep.Controls {
		actions = append(actions, e.Action+": "+e.Reason)
	}
	require.Equal(t, []string{"pause: INC-4711 change freeze", "set: one batch at a time, wider radius", "resume: freeze over", "abort: enough for today"}, actions)
	rows := map[string]workflows.Row{}
	for _, row := range rep.Rows {
		rows[row.InstanceID] = row
	}
	// Every reboot sent was verified: each rebooted instance has a final
	// outcome, and none is left mid-reboot.
	for _, in := range sim.Truth().Instances {
		require.LessOrEqual(t, in.Reboots, 1)
		if in.Reboots == 1 {
			require.Equal(t, "Running", in.State, in.ID)
			require.Contains(t, []string{workflows.OutcomeRemediated, workflows.OutcomeFailed}, rows[in.ID].Outcome, "%s: %+v", in.ID, rows[in.ID])
		}
	}
}

// TestQuarantineListAndClear: the CLI lists the instances the region's
// ledger quarantines and clears them with a reason.
func TestQuarantineListAndClear(t *testing.T) {
	e2e.SkipShort(t)
	const region = "cn-shenzhen"
	c := safetyCLI(t, ecssim.FleetSpec{Region: region, Size: 20, Seed: 33, Missing: 0.2})
	ctx := context.Background()
	r := c.run("quarantine", "list", "--region", region)
	require.Equal(t, exitOK, r.code, r.err)
	require.Contains(t, r.out, "no instance of "+region+" is quarantined")

	// Two failed repairs of one instance, one of another, as runs record them.
	ids := c.st.Sim.InstanceIDs(region)
	now := time.Now().UTC()
	h, err := c.st.Client.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: c.st.Client.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID: guard.WorkflowID(region), TaskQueue: "fleetmend", WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, guard.WorkflowType, guard.Start{Region: region}),
		UpdateOptions: client.UpdateWorkflowOptions{UpdateName: guard.UpdateRecord, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{guard.RecordRequest{Failed: []guard.FailedAttempt{
				{InstanceID: ids[0], Attempt: guard.Attempt{WorkflowID: "r1", At: now.Add(-2 * time.Hour), Reason: workflows.ReasonNoHeartbeat}},
				{InstanceID: ids[0], Attempt: guard.Attempt{WorkflowID: "r2", At: now.Add(-time.Hour), Reason: workflows.ReasonNoHeartbeat}},
				{InstanceID: ids[1], Attempt: guard.Attempt{WorkflowID: "r2", At: now.Add(-time.Hour), Reason: workflows.ReasonInstallFailed}},
			}}}},
	})
	require.NoError(t, err)
	require.NoError(t, h.Get(ctx, nil))

	r = c.run("quarantine", "list", "--region", region, "--json")
	require.Equal(t, exitOK, r.code, r.err)
	var recs []guard.InstanceRecord
	require.NoError(t, json.Unmarshal([]byte(r.out), &recs))
	require.Len(t, recs, 1)
	require.Equal(t, ids[0], recs[0].InstanceID)
	require.Len(t, recs[0].Attempts, 2)
	r = c.run("quarantine", "list", "--region", region, "--all")
	require.Equal(t, exitOK, r.code, r.err)
	require.Contains(t, r.out, ids[1])
	require.Contains(t, r.out, "install-failed (r2)")

	r = c.run("quarantine", "clear", "--region", region, "--instance", ids[0])
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.err, "--reason is required")
	r = c.run("quarantine", "clear", "--region", region, "--instance", ids[0], "--reason", "image rebuilt")
	require.Equal(t, exitOK, r.code, r.err)
	require.Contains(t, r.out, "cleared 1 instances of "+region+": "+ids[0])
	r = c.run("quarantine", "list", "--region", region)
	require.Contains(t, r.out, "no instance of "+region+" is quarantined")
}

// TestScheduledDryRun: a schedule can run dry runs, which plan and touch nothing.
func TestScheduledDryRun(t *testing.T) {
	e2e.SkipShort(t)
	const region = "cn-qingdao"
	c := safetyCLI(t, ecssim.FleetSpec{Region: region, Size: 100, Seed: 34, Missing: 0.2})
	r := c.run(append([]string{"schedule", "create", "--region", region, "--every", "24h", "--paused", "--dry-run"}, fast[:10]...)...)
	require.Equal(t, exitOK, r.code, r.err)
	r = c.run("schedule", "trigger", "--region", region, "--wait", "--json")
	require.Equal(t, exitOK, r.code, "%s %s", r.out, r.err)
	var rep workflows.Report
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
	require.True(t, rep.DryRun)
	require.Equal(t, workflows.KindScheduled, rep.Kind)
	require.Equal(t, 20, rep.Counts.Planned)
	for _, in := range c.st.Sim.Truth().Instances {
		require.Zero(t, in.Installs+in.Reboots)
	}
}

// TestUnlockAPausedHolderFromTheCLI: a run paused while its batches wait
// to reboot, and forgotten, holds its region; `status --region` names it
// and its open batches; `unlock` ends it the safe way (its batches finish
// their reboot, which is verified), and the next run acts; `unlock
// --force` terminates the next paused holder, whose batches act no
// further, and the run after it waits for them, then acts. Nothing is
// rebooted twice, nothing is done to a healthy agent.
func TestUnlockAPausedHolderFromTheCLI(t *testing.T) {
	e2e.SkipShort(t)
	const region = "cn-zhangjiakou"
	c := safetyCLI(t, ecssim.FleetSpec{Region: region, Size: 400, Seed: 35, Missing: 0.3})
	sim := c.st.Sim
	ctx := context.Background()
	calls := func(action string) int { return sim.Truth().Actions[action].Calls }
	start := func(id string) {
		t.Helper()
		r := c.run("run", "--region", region, "--id", id, "--json", "--blast-radius", "40", "--reboot-grace", "5s",
			"--verify-deadline", "10s", "--verify-poll-interval", "250ms", "--stable-for", "1s", "--early-signal", "3s", "--max-unhealthy-percent", "100")
		require.Equal(t, exitOK, r.code, r.err)
	}
	pauseMidBatch := func(id string) {
		t.Helper()
		installs := calls(ecs.ActionInstallCloudAssistant)
		reboots := calls(ecs.ActionRebootInstances)
		require.Eventually(t, func() bool { return calls(ecs.ActionInstallCloudAssistant) > installs }, time.Minute, 20*time.Millisecond)
		require.Equal(t, reboots, calls(ecs.ActionRebootInstances), "the grace period is 5s")
		r := c.run("pause", id, "--reason", "change freeze")
		require.Equal(t, exitOK, r.code, r.err)
	}

	holder := "fleetmend/" + region + "/manual-forgotten"
	start(holder)
	pauseMidBatch(holder)
	r := c.run("status", "--region", region)
	require.Equal(t, exitOK, r.code, r.err)
	require.Contains(t, r.out, "region "+region+": held by "+holder)
	require.Contains(t, r.out, "paused")
	require.Contains(t, r.out, holder+"/batch-1")
	r = c.run("unlock", "--region", region)
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.err, "--reason is required")
	reboots := calls(ecs.ActionRebootInstances)
	r = c.run("unlock", "--region", region, "--reason", "paused since Friday")
	require.Equal(t, exitOK, r.code, r.err)
	require.Contains(t, r.out, "starts no new batch")
	var rep workflows.Report
	require.NoError(t, c.st.Client.GetWorkflow(ctx, holder, "").Get(ctx, &rep))
	require.Contains(t, rep.Stopped, "unlocked by ")
	require.Greater(t, calls(ecs.ActionRebootInstances), reboots, "its paused batches finished their reboot")
	require.Positive(t, rep.Counts.Remediated, "and the reboots were verified")
	require.Positive(t, rep.Counts.NotAttempted)

	next := "fleetmend/" + region + "/manual-next"
	start(next)
	pauseMidBatch(next)
	r = c.run("unlock", "--region", region, "--force", "--reason", "workflow tasks fail after deploy 1.4.2")
	require.Equal(t, exitOK, r.code, r.err)
	require.Contains(t, r.out, "terminated "+next)
	d, err := c.st.Client.DescribeWorkflowExecution(ctx, next, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, d.GetWorkflowExecutionInfo().GetStatus())

	r = c.run(append([]string{"run", "--region", region, "--id", "fleetmend/" + region + "/manual-after", "--wait", "--json",
		"--max-unhealthy-percent", "100"}, fast[:10]...)...)
	require.Contains(t, []int{exitOK, exitFailures}, r.code, r.err)
	var after workflows.Report
	require.NoError(t, json.Unmarshal([]byte(r.out), &after))
	require.False(t, after.Skipped, "the region was freed")
	require.Positive(t, after.Counts.Remediated)
	for _, in := range sim.Truth().Instances {
		// An install the forced unlock cut off before its reboot is done
		// again by the next run (harmless: it takes effect at the reboot).
		require.LessOrEqual(t, in.Installs, 2, in.ID)
		require.LessOrEqual(t, in.Reboots, 1, in.ID)
		require.Zero(t, in.RebootsWhileHealthy, in.ID)
		require.Zero(t, in.InstallsWhileHealthy, in.ID)
	}
	r = c.run("status", "--region", region)
	require.Equal(t, exitOK, r.code, r.err)
	require.Contains(t, r.out, "region "+region+": free")
	require.Contains(t, r.out, "unlock --force: workflow tasks fail after deploy 1.4.2")
}
