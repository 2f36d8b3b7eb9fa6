package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// cli runs the starter in-process against one stack.
type cli struct {
	t     *testing.T
	st    *stack.Stack
	clock time.Time
}

type result struct {
	code     int
	out, err string
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	full := append([]string{"--temporal-address", c.st.Server.FrontendHostPort(), "--temporal-namespace", c.st.Server.Namespace()}, args...)
	code := execute(ctx, full, &out, &errOut)
	return result{code: code, out: out.String(), err: errOut.String()}
}

// fast are run settings sized for the simulator's 60x clock.
// fast is the run flags sized for the simulator's 60x clock (the first 10
// go to schedules too; --progress-interval is the run command's).
var fast = []string{"--reboot-grace", "1s", "--verify-deadline", "10s", "--verify-poll-interval", "250ms", "--stable-for", "1s", "--early-signal", "3s",
	"--progress-interval", "200ms"}

func fleet(region string, size int, seed int64) ecssim.FleetSpec {
	return ecssim.FleetSpec{Region: region, Size: size, Seed: seed, Missing: 0.15, Silent: 0.05, Stopped: 0.05, InstallFails: 0.02}
}

// TestStarterAgainstRealTemporal drives every command of the CLI against
// devstack's stack: a real Temporal server, the worker, the simulator. Each
// scenario has its own simulated region so they do not see each other's
// repairs.
func TestStarterAgainstRealTemporal(t *testing.T) {
	e2e.SkipShort(t)
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "none.toml"))
	t.Setenv("TEMPORAL_ADDRESS", "")
	// The subtests share it; a loaded 2-core machine needs the margin.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		IP: "127.0.0.1", UIPort: -1, TimeScale: 60, SimSeed: 3, Worker: true, Logger: zap.NewNop(),
		Region: "cn-hangzhou", Fleet: fleet("cn-hangzhou", 200, 1),
		MoreFleets: []ecssim.FleetSpec{
			fleet("cn-beijing", 400, 2), fleet("cn-shanghai", 200, 3), fleet("cn-shenzhen", 80, 4), fleet("cn-chengdu", 300, 5),
		},
	})
	require.NoError(t, err)
	defer st.Close()
	c := &cli{t: t, st: st}

	t.Run("usage errors exit 2 and name the flag", func(t *testing.T) {
		r := c.run("run")
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.err, "--region is required")
		r = c.run("run", "--region", "cn-hangzhou", "--batch-size", "21")
		require.Equal(t, exitUsage, r.code)
		require.Equal(t, "error: --batch-size is 21, allowed range is 1..20\n", r.err)
		r = c.run("run", "--region", "cn-hangzhou", "--batch-size", "0")
		require.Equal(t, "error: --batch-size is 0, allowed range is 1..20\n", r.err, "a 0 is refused with the range, never taken as the default")
		r = c.run("run", "--region", "cn-hangzhou", "--reboot-policy", "sometimes")
		require.Contains(t, r.err, "--reboot-policy: reboot_policy is \"sometimes\", allowed values are if-needed, always, never")
		r = c.run("run", "--region", "cn-hangzhou", "--no-such-flag")
		require.Equal(t, exitUsage, r.code)
		r = c.run("audit", "--instance", "web-01")
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.err, "is not an ECS instance ID")
		r = c.run("audit")
		require.Equal(t, exitUsage, r.code)
		require.Equal(t, "error: --instance is required (an ECS instance ID such as i-bp1aaaaaaaaaaaaaaaaa)\n", r.err)
		r = c.run("list", "--kind", "nightly")
		require.Equal(t, exitUsage, r.code)
		require.Equal(t, "error: --kind is \"nightly\", allowed values are manual, scheduled\n", r.err)
		r = c.run("list", "--status", "done")
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.err, "--status is \"done\", allowed values are running, completed, failed, canceled, terminated, timed-out, continued-as-new")
		r = c.run("list", "--region", "Hangzhou")
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.err, "--region: region \"Hangzhou\" is not an ECS region ID")
		r = c.run("schedule", "create", "--region", "cn-hangzhou", "--cron", "0 * * * *", "--offset", "5m")
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.err, "--offset only goes with --every")
		r = c.run("schedule", "create", "--region", "cn-hangzhou", "--every", "1h", "--offset", "1h")
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.err, "--offset is 1h, allowed range is 0s up to less than --every (1h)")
		r = c.run("schedule", "create", "--region", "cn-hangzhou")
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.err, "give exactly one of --cron or --every")
		var out, errOut bytes.Buffer
		code := execute(context.Background(), []string{"--temporal-address", "127.0.0.1:1", "status", "x"}, &out, &errOut)
		require.Equal(t, exitUsage, code, "a connection error is exit 2: %s", errOut.String())
	})

	var remediatedRun string
	var remediatedReport workflows.Report
	t.Run("run --wait prints the report; failures exit 1; report --json matches the truth", func(t *testing.T) {
		r := c.run(append([]string{"run", "--region", "cn-hangzhou", "--wait", "--concurrent-batches", "8"}, fast...)...)
		require.Equal(t, exitFailures, r.code, "the fleet has install-always-fails instances: %s %s", r.out, r.err)
		require.Contains(t, r.out, "started fleetmend/cn-hangzhou/manual-")
		require.Contains(t, r.out, "outcome: ")
		require.Contains(t, r.out, "INSTANCE")
		remediatedRun = strings.TrimSpace(strings.TrimPrefix(strings.Split(r.out, "\n")[0], "started "))

		r = c.run("report", remediatedRun, "--json")
		require.Equal(t, exitFailures, r.code)
		var rep workflows.Report
		require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
		require.Equal(t, remediatedRun, rep.WorkflowID)
		remediatedReport = rep
		want := map[string]int{}
		for _, in := range st.Sim.Truth().Instances {
			if in.Region != "cn-hangzhou" {
				continue
			}
			switch in.InitialProblem {
			case "missing", "silent":
				require.True(t, in.AgentHealthy, "%s", in.ID)
				want[workflows.OutcomeRemediated]++
			case "install-fails":
				want[workflows.ReasonNoHeartbeat]++
			case "stopped":
				want[workflows.OutcomeNotRunning]++
			}
			require.LessOrEqual(t, in.Reboots, 1)
			require.Zero(t, in.RebootsWhileHealthy)
		}
		require.Equal(t, want[workflows.OutcomeRemediated], rep.Counts.Remediated)
		require.Equal(t, want[workflows.ReasonNoHeartbeat], rep.Counts.NoHeartbeat)
		require.Equal(t, want[workflows.ReasonNoHeartbeat], rep.Counts.Failed)
		require.Equal(t, want[workflows.OutcomeNotRunning], rep.Counts.NotRunning)
		for _, row := range rep.Rows {
			tr, ok := st.Sim.Instance(row.InstanceID)
			require.True(t, ok)
			switch row.Outcome {
			case workflows.OutcomeRemediated:
				require.True(t, tr.AgentHealthy)
			case workflows.OutcomeFailed:
				require.True(t, tr.InstallAlwaysFails)
			case workflows.OutcomeNotRunning:
				require.Equal(t, "Stopped", tr.State)
			}
		}
		r = c.run("report", remediatedRun, "--csv")
		require.Equal(t, exitFailures, r.code)
		require.Equal(t, len(rep.Rows)+1, strings.Count(r.out, "\n"), "a header and one line per row")

		// audit finds the batch and outcome of a remediated instance.
		var target workflows.Row
		for _, row := range rep.Rows {
			if row.Outcome == workflows.OutcomeRemediated {
				target = row
				break
			}
		}
		r = c.run("audit", "--instance", target.InstanceID, "--json")
		require.Equal(t, exitOK, r.code, r.err)
		var rows []auditRow
		require.NoError(t, json.Unmarshal([]byte(r.out), &rows))
		require.Len(t, rows, 1)
		require.Equal(t, fmt.Sprintf("%s/batch-%d", remediatedRun, target.Batch), rows[0].Batch)
		require.Equal(t, remediatedRun, rows[0].Run)
		require.Equal(t, workflows.OutcomeRemediated, rows[0].Outcome)
		require.Contains(t, rows[0].Action, "rebooted")
		require.Equal(t, "completed", rows[0].Status)
		r = c.run("audit", "--instance", target.InstanceID)
		require.Contains(t, r.out, remediatedRun)
		r = c.run("audit", "--instance", "i-neverseen0000000000")
		require.Contains(t, r.out, "no fleetmend batch has touched")
		// A managed instance's ID is taken: no batch ever acts on one.
		r = c.run("audit", "--instance", "mi-hz018jrc1o0aaaaa")
		require.Equal(t, exitOK, r.code, r.err)
		require.Equal(t, "no fleetmend batch has touched mi-hz018jrc1o0aaaaa (a managed instance: runs report it as managed with its agent, and never repair it)\n", r.out)
	})

	t.Run("dry run makes no mutating call and plans batches of at most 20", func(t *testing.T) {
		before := st.Sim.Truth().Actions
		r := c.run(append([]string{"run", "--region", "cn-shanghai", "--dry-run", "--wait", "--json"}, fast...)...)
		require.Equal(t, exitOK, r.code, r.err)
		var rep workflows.Report
		require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
		require.True(t, rep.DryRun)
		after := st.Sim.Truth().Actions
		for _, a := range []string{ecs.ActionInstallCloudAssistant, ecs.ActionRebootInstances, ecs.ActionRebootInstance} {
			require.Equal(t, before[a].Calls, after[a].Calls, "%s called during a dry run", a)
		}
		require.NotEmpty(t, rep.Plan)
		planned := 0
		for _, b := range rep.Plan {
			require.LessOrEqual(t, len(b.InstanceIDs), 20)
			planned += len(b.InstanceIDs)
		}
		require.Equal(t, rep.Counts.AgentMissing+rep.Counts.AgentSilent, planned)
		for _, in := range st.Sim.Truth().Instances {
			if in.Region == "cn-shanghai" {
				require.Zero(t, in.Installs+in.Reboots, in.ID)
			}
		}
	})

	t.Run("second run refused, status during a run, cancel leaves nothing half-rebooted", func(t *testing.T) {
		args := append([]string{"run", "--region", "cn-beijing", "--concurrent-batches", "1", "--json"}, fast...)
		r := c.run(args...)
		require.Equal(t, exitOK, r.code, r.err)
		var started map[string]string
		require.NoError(t, json.Unmarshal([]byte(r.out), &started))
		id := started["workflow_id"]

		// Another run on the region (with its own ID: two starts in the same
		// second would otherwise share the default one).
		r = c.run(append([]string{"run", "--region", "cn-beijing", "--id", id + "-second"}, fast...)...)
		require.Equal(t, exitUsage, r.code, "out %s err %s", r.out, r.err)
		require.Contains(t, r.err, "refused: skipped: region cn-beijing busy with "+id)
		r = c.run(append([]string{"run", "--region", "cn-beijing", "--id", id}, fast...)...)
		require.Equal(t, exitUsage, r.code, "the same ID twice is refused: %s", r.out)
		require.Contains(t, r.err, "a run with ID "+id+" is already running")
		r = c.run("run", "--region", "cn-beijing", "--dry-run")
		require.Equal(t, exitOK, r.code, "dry runs change nothing and are allowed: %s", r.err)

		var p struct {
			Status string `json:"status"`
			workflows.Progress
		}
		require.Eventually(t, func() bool {
			r := c.run("status", id, "--json")
			if r.code != exitOK || json.Unmarshal([]byte(r.out), &p) != nil {
				return false
			}
			return p.BatchesInFlight > 0
		}, time.Minute, 100*time.Millisecond)
		require.Equal(t, "running", p.Status)
		require.Equal(t, 400, p.Total)
		require.Contains(t, c.run("status", id).out, "scanned ")

		r = c.run("cancel", id, "--json")
		require.Equal(t, exitFailures, r.code, "a cancelled run is not all good: %s", r.err)
		var rep workflows.Report
		require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
		require.True(t, rep.Cancelled)
		require.Positive(t, rep.Counts.NotAttempted, "later batches never started")
		for _, in := range st.Sim.Truth().Instances {
			if in.Region != "cn-beijing" || in.Reboots == 0 {
				continue
			}
			require.Equal(t, "Running", in.State, "%s was left mid-reboot", in.ID)
			require.Equal(t, 1, in.Reboots)
		}
		rebooted := 0
		for _, row := range rep.Rows {
			if strings.Contains(row.Action, "rebooted") {
				rebooted++
				require.NotEmpty(t, row.Outcome)
				require.NotEqual(t, workflows.OutcomeNotAttempted, row.Outcome)
			}
		}
		require.Positive(t, rebooted, "the batch in flight finished its reboots and verify")
		r = c.run("report", id)
		require.Equal(t, exitFailures, r.code)
		require.Contains(t, r.out, "CANCELLED")
		r = c.run("cancel", id)
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.err, "is not running (canceled)")
	})

	t.Run("of two simultaneous runs on a region exactly one survives", func(t *testing.T) {
		results := make(chan result, 2)
		for i := range 2 {
			go func() {
				results <- c.run(append([]string{"run", "--region", "cn-beijing", "--json", "--id", fmt.Sprintf("fleetmend/cn-beijing/race-%d", i)}, fast...)...)
			}()
		}
		codes := map[int]int{}
		var survivor string
		for range 2 {
			r := <-results
			codes[r.code]++
			if r.code == exitOK {
				var started map[string]string
				require.NoError(t, json.Unmarshal([]byte(r.out), &started))
				survivor = started["workflow_id"]
			} else {
				require.Contains(t, r.err, "refused: skipped: region cn-beijing busy with fleetmend/cn-beijing/race-")
			}
		}
		require.Equal(t, map[int]int{exitOK: 1, exitUsage: 1}, codes)
		r := c.run("cancel", survivor, "--json")
		require.Contains(t, []int{exitOK, exitFailures}, r.code, r.err)
	})

	t.Run("schedules", func(t *testing.T) {
		r := c.run(append([]string{"schedule", "create", "--region", "cn-shenzhen", "--every", "1h"}, fast[:10]...)...)
		require.Equal(t, exitOK, r.code, r.err)
		require.Contains(t, r.out, "schedule fleetmend-cn-shenzhen created")
		r = c.run(append([]string{"schedule", "create", "--region", "cn-shenzhen", "--cron", "30 2 * * *", "--time-zone", "Asia/Shanghai", "--jitter", "5m"}, fast[:10]...)...)
		require.Equal(t, exitOK, r.code, r.err)
		require.Contains(t, r.out, "updated (it existed)")

		r = c.run("schedule", "list", "--json")
		require.Equal(t, exitOK, r.code, r.err)
		var list []scheduleView
		require.NoError(t, json.Unmarshal([]byte(r.out), &list))
		n := 0
		for _, s := range list {
			if s.ID == "fleetmend-cn-shenzhen" {
				n++
			}
		}
		require.Equal(t, 1, n, "create twice leaves one schedule")

		var v scheduleView
		r = c.run("schedule", "describe", "--region", "cn-shenzhen", "--json")
		require.Equal(t, exitOK, r.code, r.err)
		require.NoError(t, json.Unmarshal([]byte(r.out), &v))
		require.Empty(t, v.Every, "the second create replaced the interval")
		require.Len(t, v.Cron, 1)
		require.Contains(t, v.Cron[0], "minute=30 hour=2")
		require.Equal(t, "Asia/Shanghai", v.TimeZone)
		require.Equal(t, "5m0s", v.Jitter)
		require.Equal(t, "skip", v.Overlap)

		r = c.run("schedule", "pause", "--region", "cn-shenzhen", "--note", "INC-4711 change freeze")
		require.Equal(t, exitOK, r.code, r.err)
		r = c.run("schedule", "describe", "--region", "cn-shenzhen", "--json")
		require.NoError(t, json.Unmarshal([]byte(r.out), &v))
		require.True(t, v.Paused)
		require.Equal(t, "INC-4711 change freeze", v.Note)
		require.Contains(t, c.run("schedule", "list").out, "paused")
		r = c.run("schedule", "unpause", "--region", "cn-shenzhen", "--note", "freeze over")
		require.Equal(t, exitOK, r.code, r.err)
		r = c.run("schedule", "describe", "--region", "cn-shenzhen", "--json")
		require.NoError(t, json.Unmarshal([]byte(r.out), &v))
		require.False(t, v.Paused)
		require.Equal(t, "freeze over", v.Note)

		r = c.run("schedule", "trigger", "--region", "cn-shenzhen", "--wait", "--progress-interval", "200ms")
		require.Contains(t, []int{exitOK, exitFailures}, r.code, r.err)
		require.Contains(t, r.out, "triggered: fleetmend/cn-shenzhen/scheduled-")
		require.Contains(t, r.out, "(scheduled) in cn-shenzhen")
		healthy := 0
		for _, in := range st.Sim.Truth().Instances {
			if in.Region == "cn-shenzhen" && (in.InitialProblem == "missing" || in.InitialProblem == "silent") {
				require.True(t, in.AgentHealthy, "%s not remediated by the scheduled run", in.ID)
				healthy++
			}
		}
		require.Positive(t, healthy)
		r = c.run("schedule", "describe", "--region", "cn-shenzhen", "--json")
		require.NoError(t, json.Unmarshal([]byte(r.out), &v))
		require.Len(t, v.RecentRuns, 1)
		require.Equal(t, int64(1), v.ActionsTaken)

		r = c.run("schedule", "delete", "--region", "cn-shenzhen")
		require.Equal(t, exitOK, r.code, r.err)
		r = c.run("schedule", "describe", "--region", "cn-shenzhen")
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.err, "no schedule fleetmend-cn-shenzhen")
	})

	t.Run("list: finished and running runs with their counts, newest first, and the filters", func(t *testing.T) {
		// A running run whose counts are known: parked on a task queue no
		// worker polls, with the count attributes as a run in the middle of
		// its repairs has them.
		const parked = "fleetmend/cn-qingdao/manual-list-test"
		_, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: parked, TaskQueue: "fleetmend-list-test-no-worker",
			TypedSearchAttributes: temporal.NewSearchAttributes(
				workflows.SARegion().ValueSet("cn-qingdao"), workflows.SAKind().ValueSet(workflows.KindManual), workflows.SADryRun().ValueSet(false),
				workflows.SAUnhealthy().ValueSet(7), workflows.SARemediated().ValueSet(3), workflows.SAFailed().ValueSet(1)),
		}, workflows.RemediateRegion, workflows.RegionInput{Region: "cn-qingdao"})
		require.NoError(t, err)
		defer func() { _ = st.Client.TerminateWorkflow(context.Background(), parked, "", "list test done") }()

		list := func(args ...string) []listedRun {
			t.Helper()
			r := c.run(append([]string{"list", "--json"}, args...)...)
			require.Equal(t, exitOK, r.code, r.err)
			var runs []listedRun
			require.NoError(t, json.Unmarshal([]byte(r.out), &runs), r.out)
			return runs
		}
		find := func(runs []listedRun, id string) *listedRun {
			for i := range runs {
				if runs[i].WorkflowID == id {
					return &runs[i]
				}
			}
			return nil
		}
		counts := func(r *listedRun) [3]int64 {
			require.NotNil(t, r.Unhealthy)
			require.NotNil(t, r.Remediated)
			require.NotNil(t, r.Failed)
			return [3]int64{*r.Unhealthy, *r.Remediated, *r.Failed}
		}
		// Visibility is written asynchronously: poll until it lists the run.
		var running *listedRun
		require.Eventually(t, func() bool {
			running = find(list("--region", "cn-qingdao"), parked)
			return running != nil
		}, 30*time.Second, 100*time.Millisecond)
		require.Equal(t, "running", running.Status)
		require.Equal(t, [3]int64{7, 3, 1}, counts(running))
		require.Equal(t, workflows.KindManual, running.Kind)
		require.True(t, running.Closed.IsZero())

		finished := find(list("--region", "cn-hangzhou"), remediatedRun)
		require.NotNil(t, finished, "the run of the first subtest")
		require.Equal(t, "completed", finished.Status)
		require.NotEmpty(t, finished.Trend, "a finished run's trend since the region's previous run (its memo)")
		require.Empty(t, running.Trend, "a running run has none yet")
		rc := remediatedReport.Counts
		require.Equal(t, [3]int64{int64(rc.Unhealthy()), int64(rc.Remediated), int64(rc.Failed)}, counts(finished), "the report's counts")
		require.Positive(t, rc.Remediated)
		require.Positive(t, rc.Failed)
		require.Equal(t, numflag.FormatDuration(finished.Closed.Sub(finished.Started).Round(time.Second)), finished.DurationText)

		// Newest first, over every region and kind.
		all := list("--limit", "1000")
		require.NotNil(t, find(all, remediatedRun))
		require.NotNil(t, find(all, parked))
		for i := 1; i < len(all); i++ {
			require.False(t, all[i].Started.After(all[i-1].Started), "not newest first: %s before %s", all[i-1].WorkflowID, all[i].WorkflowID)
		}
		newest := list("--limit", "1")
		require.Len(t, newest, 1)
		require.Equal(t, all[0].WorkflowID, newest[0].WorkflowID)
		require.Len(t, list("--limit", "2"), 2)

		// Filters.
		for _, r := range list("--status", "running", "--limit", "1000") {
			require.Equal(t, "running", r.Status)
		}
		require.NotNil(t, find(list("--status", "running"), parked))
		require.Nil(t, find(list("--status", "running"), remediatedRun))
		require.NotNil(t, find(list("--status", "completed", "--region", "cn-hangzhou"), remediatedRun))
		require.Nil(t, find(list("--status", "completed"), parked))
		canceled := list("--status", "canceled", "--region", "cn-beijing")
		require.NotEmpty(t, canceled, "the run cancelled in an earlier subtest")
		for _, r := range canceled {
			require.Equal(t, "canceled", r.Status)
			require.Equal(t, "cn-beijing", r.Region)
		}
		scheduled := list("--kind", "scheduled")
		require.NotEmpty(t, scheduled, "the triggered schedule's run")
		for _, r := range scheduled {
			require.Equal(t, workflows.KindScheduled, r.Kind)
			require.True(t, strings.HasPrefix(r.WorkflowID, "fleetmend/cn-shenzhen/scheduled-"), r.WorkflowID)
		}
		manual := list("--kind", "manual", "--region", "cn-shanghai")
		require.NotEmpty(t, manual)
		for _, r := range manual {
			require.True(t, r.DryRun, "cn-shanghai only had a dry run: %+v", r)
		}
		require.Empty(t, list("--region", "cn-wulanchabu"))

		// The table.
		r := c.run("list", "--region", "cn-qingdao")
		require.Equal(t, exitOK, r.code, r.err)
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		require.Len(t, lines, 2, r.out)
		require.Equal(t, []string{"STARTED", "WORKFLOW", "ID", "KIND", "STATUS", "UNHEALTHY", "REMEDIATED", "FAILED", "DURATION", "TREND"}, strings.Fields(lines[0]))
		require.Equal(t, []string{parked, "manual", "running", "7", "3", "1"}, strings.Fields(lines[1])[1:7])
		require.Equal(t, "-", strings.Fields(lines[1])[len(strings.Fields(lines[1]))-1], "no trend while it runs")
		r = c.run("list", "--region", "cn-shanghai")
		require.Contains(t, r.out, "manual (dry run)")
		r = c.run("list", "--region", "cn-wulanchabu")
		require.Equal(t, "no fleetmend runs match\n", r.out)
	})

	t.Run("run --wait on a terminal: one line rewritten in place that fits the width, then a report that fits the screen", func(t *testing.T) {
		var out, errOut bytes.Buffer
		a := newApp(&out, &errOut)
		a.terminal = func() (int, int, bool) { return 80, 24, true }
		// Its own deadline: the test's is mostly spent by the subtests
		// before this one on a loaded machine.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		code := a.execute(ctx, append([]string{"--temporal-address", st.Server.FrontendHostPort(), "--temporal-namespace", st.Server.Namespace(),
			"run", "--region", "cn-chengdu", "--wait", "--progress-interval", "100ms", "--concurrent-batches", "2"}, fast[:10]...))
		require.Contains(t, []int{exitOK, exitFailures}, code, errOut.String())
		started, rest, _ := strings.Cut(out.String(), "\n")
		require.Contains(t, started, "started fleetmend/cn-chengdu/manual-")
		progress, report, ok := strings.Cut(rest, "\x1b[K\n")
		require.True(t, ok, "the last progress line is ended before the report: %q", out.String())
		require.True(t, strings.HasPrefix(progress, "\r"), "%q", progress)
		require.Contains(t, report, "outcome: ")
		updates := strings.Split(strings.TrimPrefix(progress, "\r"), "\x1b[K\r")
		require.Greater(t, len(updates), 2, "progress was shown while the run went: %q", progress)
		for _, u := range updates {
			require.LessOrEqual(t, utf8.RuneCountInString(u), 79, "%q does not fit an 80-column terminal", u)
			require.NotContains(t, u, "\n")
			require.True(t, strings.HasPrefix(u, "["), "a bar: %q", u)
		}
		// The report: no line wider than the screen, at most a screenful
		// of rows (24 lines less the header, the blank line before it and
		// a two-line footer), and the footer says how many more there are
		// and the command that prints them, which prints them all.
		id := strings.TrimSpace(strings.TrimPrefix(started, "started "))
		lines := strings.Split(strings.TrimSuffix(report, "\n"), "\n")
		header := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "INSTANCE ") })
		require.GreaterOrEqual(t, header, 0, report)
		for _, l := range lines {
			require.LessOrEqual(t, utf8.RuneCountInString(l), 79, "%q does not fit an 80-column terminal", l)
		}
		shown := 0
		for _, l := range lines[header+1:] {
			if !strings.HasPrefix(l, "i-") {
				break
			}
			shown++
		}
		csv := c.run("report", id, "--csv")
		all := strings.Count(strings.TrimSuffix(csv.out, "\n"), "\n") // less the header line
		require.Equal(t, min(all, 20), shown, report)
		footer := strings.Join(strings.Fields(strings.Join(lines[header+1+shown:], " ")), " ")
		if all > 20 {
			require.Contains(t, footer, fmt.Sprintf("... %d more rows (failures are shown first)", all-20), report)
			require.Contains(t, footer, "starter report "+id+" --csv prints every row and column", report)
		}
	})

	t.Run("run --regions --wait on a terminal: one line per region, rewritten in place, each fitting the width", func(t *testing.T) {
		var out, errOut bytes.Buffer
		a := newApp(&out, &errOut)
		a.terminal = func() (int, int, bool) { return 60, 24, true }
		code := a.execute(ctx, append([]string{"--temporal-address", st.Server.FrontendHostPort(), "--temporal-namespace", st.Server.Namespace(),
			"run", "--regions", "cn-beijing,cn-shenzhen", "--dry-run", "--wait", "--progress-interval", "100ms"}, fast[:10]...))
		require.Equal(t, exitOK, code, "a dry run over two regions: %s %s", out.String(), errOut.String())
		started, rest, _ := strings.Cut(out.String(), "\n")
		require.Contains(t, started, "started fleet run fleetmend/fleet/dryrun-")
		progress, summary, ok := strings.Cut(rest, "\nFleet run ")
		require.True(t, ok, "the summary follows the lines: %q", out.String())
		require.Contains(t, progress, "\x1b[2A", "the two lines are redrawn in place")
		for _, l := range strings.Split(progress, "\n") {
			l = strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(l, "\x1b[2A"), "\x1b[K"), "\r")
			require.LessOrEqual(t, utf8.RuneCountInString(l), 59, "%q does not fit a 60-column terminal", l)
		}
		require.Contains(t, summary, "regions: 2 completed, 0 skipped, 0 failed")
		require.Regexp(t, `cn-beijing\s+completed\s+400\s`, summary)
		require.Regexp(t, `cn-shenzhen\s+completed\s+80\s`, summary)
	})
}

func TestHelpHasExamplesOnEveryCommand(t *testing.T) {
	root := newApp(&bytes.Buffer{}, &bytes.Buffer{}).rootCommand()
	for _, cmd := range allCommands(root) {
		if cmd.Runnable() {
			require.NotEmpty(t, cmd.Example, "%q has no examples in its help", cmd.CommandPath())
		}
	}
}

func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommands(sub)...)
	}
	return out
}
