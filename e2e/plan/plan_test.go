package plan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// Each scenario has its own simulated region: 30 healthy instances and,
// added by the test, the unhealthy ones the plan is about.
const (
	regionApply = "cn-hangzhou"
	regionDrift = "cn-shanghai"
	regionStale = "cn-beijing"
	// regionOutage has 100 healthy instances: most of their agents go
	// silent between the plan and its apply.
	regionOutage = "cn-shenzhen"
)

// fast are the settings sized for the simulator's 60x clock: the dry
// run's (which its plan keeps) and the apply's.
var (
	dryFast   = []string{"--reboot-grace", "1s", "--verify-deadline", "10s", "--max-unhealthy-percent", "100"}
	applyFast = []string{"--verify-poll-interval", "250ms", "--stable-for", "1s", "--early-signal", "3s", "--canary", "0", "--progress-interval", "200ms"}
)

type starter struct {
	t    *testing.T
	bin  string
	st   *stack.Stack
	home string
}

type result struct {
	code     int
	out, err string
}

// run runs the real starter binary against the stack.
func (s *starter) run(args ...string) result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"--temporal-address", s.st.Server.FrontendHostPort(), "--temporal-namespace", s.st.Server.Namespace()}, args...)
	cmd := exec.CommandContext(ctx, s.bin, full...)
	cmd.Env = append(os.Environ(), "TEMPORAL_CONFIG_FILE="+filepath.Join(s.home, "none.toml"), "TEMPORAL_ADDRESS=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		require.ErrorAs(s.t, err, &ee, "starter %v: %s", args, errOut.String())
		code = ee.ExitCode()
	}
	return result{code: code, out: out.String(), err: errOut.String()}
}

func report(t *testing.T, r result) workflows.Report {
	t.Helper()
	var rep workflows.Report
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep), "stdout: %s\nstderr: %s", r.out, r.err)
	return rep
}

// addBroken adds n Running instances without an agent to region.
func addBroken(t *testing.T, sim *ecssim.Sim, region string, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		id, err := sim.AddInstance(ecssim.InstanceSpec{Region: region})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	return ids
}

// dryRun plans region with the CLI and returns the plan's report.
func (s *starter) dryRun(region, id string, extra ...string) workflows.Report {
	s.t.Helper()
	r := s.run(append(append([]string{"run", "--region", region, "--dry-run", "--wait", "--json", "--id", id}, dryFast...), extra...)...)
	require.Equal(s.t, 0, r.code, "%s%s", r.out, r.err)
	rep := report(s.t, r)
	require.True(s.t, rep.DryRun)
	require.NotNil(s.t, rep.PlanSettings)
	return rep
}

func planned(rep workflows.Report) []string {
	var ids []string
	for _, b := range rep.Plan {
		ids = append(ids, b.InstanceIDs...)
	}
	return ids
}

// touched are the instances of region the truth says were installed on
// or rebooted, and whether any install or reboot call was made at all.
func touched(sim *ecssim.Sim, region string) (ids []string, calls int) {
	truth := sim.Truth()
	for _, in := range truth.Instances {
		if in.Region == region && in.Installs+in.Reboots+in.RefusedInstalls+in.RefusedReboots > 0 {
			ids = append(ids, in.ID)
		}
	}
	return ids, truth.Actions[ecs.ActionInstallCloudAssistant].Calls + truth.Actions[ecs.ActionRebootInstances].Calls
}

// TestPinnedPlans: the three ways an apply of a plan goes, on one stack.
func TestPinnedPlans(t *testing.T) {
	e2e.SkipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	healthy := func(region string, seed int64) ecssim.FleetSpec {
		return ecssim.FleetSpec{Region: region, Size: 30, Seed: seed}
	}
	st, err := stack.Start(ctx, stack.Options{IP: "127.0.0.1", UIPort: -1, TimeScale: 60, SimSeed: 9, Worker: true, Logger: zap.NewNop(),
		Region: regionApply, Fleet: healthy(regionApply, 61), MoreFleets: []ecssim.FleetSpec{healthy(regionDrift, 62), healthy(regionStale, 63),
			{Region: regionOutage, Size: 100, Seed: 64}}})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	s := &starter{t: t, bin: e2e.BuildBinary(t, "github.com/fleetmend/fleetmend/starter"), st: st, home: t.TempDir()}
	sim := st.Sim

	// apply --from-run acts on exactly the planned instances, in the
	// planned batches, although the fleet has more unhealthy instances
	// now than when it was planned.
	t.Run("from-run acts on the planned instances only", func(t *testing.T) {
		s.t = t
		broken := addBroken(t, sim, regionApply, 8)
		const dry = "fleetmend/cn-hangzhou/dryrun-plan"
		plan := s.dryRun(regionApply, dry, "--batch-size", "3")
		require.ElementsMatch(t, broken, planned(plan))
		require.Len(t, plan.Plan, 3, "batches of 3, 3 and 2")

		// After the plan: four new instances without an agent, and three
		// healthy ones whose agent is removed (unhealthy once their last
		// heartbeat is two simulated minutes old).
		later := addBroken(t, sim, regionApply, 4)
		var removed []string
		for _, id := range sim.InstanceIDs(regionApply) {
			if !slices.Contains(broken, id) && !slices.Contains(later, id) && len(removed) < 3 {
				require.NoError(t, sim.RemoveAgent(id))
				removed = append(removed, id)
			}
		}
		require.Eventually(t, func() bool {
			for _, id := range removed {
				if tr, _ := sim.Instance(id); tr.AgentHealthy {
					return false
				}
			}
			return true
		}, time.Minute, 20*time.Millisecond)

		const id = "fleetmend/cn-hangzhou/apply-plan"
		r := s.run(append([]string{"apply", "--from-run", dry, "--wait", "--json", "--id", id}, applyFast...)...)
		require.Equal(t, 0, r.code, "%s%s", r.out, r.err)
		rep := report(t, r)

		// The truth: installs and reboots on the planned instances only,
		// each once, and each healthy now; the new unhealthy ones untouched.
		ids, _ := touched(sim, regionApply)
		require.ElementsMatch(t, broken, ids)
		for _, id := range broken {
			tr, _ := sim.Instance(id)
			require.Equal(t, 1, tr.Installs, id)
			require.Equal(t, 1, tr.Reboots, id)
			require.True(t, tr.AgentHealthy, id)
		}
		for _, id := range append(later, removed...) {
			tr, _ := sim.Instance(id)
			require.Zero(t, tr.Installs+tr.Reboots, "%s became unhealthy after the plan and was touched", id)
			require.False(t, tr.AgentHealthy)
		}
		require.Equal(t, 8, rep.Counts.Remediated)

		// The batches the run started (its history) are the planned ones.
		var want [][]string
		for _, b := range plan.Plan {
			want = append(want, sorted(b.InstanceIDs))
		}
		require.ElementsMatch(t, want, batchesOf(t, st, id))

		// Who applied which plan: in the report and in the run's input.
		me, err := user.Current()
		require.NoError(t, err)
		a := rep.AppliedPlan
		require.NotNil(t, a)
		require.Equal(t, dry, a.PlanWorkflowID)
		require.Equal(t, me.Username, a.AppliedBy)
		require.Zero(t, a.Drift.Drifted)
		in := firstInput(t, st, id)
		require.Equal(t, dry, in.Plan.WorkflowID)
		require.Equal(t, me.Username, in.StartedBy)
		require.Equal(t, planned(plan), in.InstanceIDs)
	})

	// A plan two of whose ten instances healed since (20%, above the
	// default 10%) is refused before anything is touched.
	t.Run("drifted plan touches nothing", func(t *testing.T) {
		s.t = t
		broken := addBroken(t, sim, regionDrift, 10)
		const dry = "fleetmend/cn-shanghai/dryrun-plan"
		plan := s.dryRun(regionDrift, dry)
		require.ElementsMatch(t, broken, planned(plan))
		for _, id := range broken[:2] {
			require.NoError(t, sim.HealAgent(id))
		}
		sim.ResetCounters()
		r := s.run(append([]string{"apply", "--from-run", dry, "--wait", "--json", "--id", "fleetmend/cn-shanghai/apply-plan"}, applyFast...)...)
		require.Equal(t, 1, r.code, "%s%s", r.out, r.err)
		rep := report(t, r)
		require.Contains(t, rep.Stopped, "refused: 2 of the 10 instances of the plan of "+dry+" (20%) changed since it was made, more than max_drift 10% (2 healthy now)")
		ids, calls := touched(sim, regionDrift)
		require.Empty(t, ids)
		require.Zero(t, calls, "no install or reboot call at all")
		require.Equal(t, 8, rep.Counts.NotAttempted)
		require.Equal(t, 2, rep.AppliedPlan.Drift.Healthy)
	})

	// A plan reviewed while the region was healthy, applied after 60 of
	// its 100 healthy agents went silent (an outage the plan's own
	// instances do not show): the apply measures the region, stops before
	// anything is touched, and says so, as any run would; the override is
	// the same flag with a reason.
	t.Run("plan applied into an outage touches nothing", func(t *testing.T) {
		s.t = t
		healthyIDs := sim.InstanceIDs(regionOutage)
		broken := addBroken(t, sim, regionOutage, 10)
		const dry = "fleetmend/cn-shenzhen/dryrun-plan"
		plan := s.dryRun(regionOutage, dry, "--max-unhealthy-percent", "50")
		require.ElementsMatch(t, broken, planned(plan))
		require.Empty(t, plan.PlanSettings.ShortCircuit, "the region was healthy when planned")
		silenced := healthyIDs[:60]
		for _, id := range silenced {
			require.NoError(t, sim.SilenceAgent(id))
		}
		require.Eventually(t, func() bool {
			for _, id := range silenced {
				if tr, _ := sim.Instance(id); tr.AgentHealthy {
					return false
				}
			}
			return true
		}, time.Minute, 20*time.Millisecond)
		sim.ResetCounters()
		r := s.run(append([]string{"apply", "--from-run", dry, "--wait", "--json", "--id", "fleetmend/cn-shenzhen/apply-outage"}, applyFast...)...)
		require.Equal(t, 1, r.code, "%s%s", r.out, r.err)
		rep := report(t, r)
		require.Contains(t, rep.Stopped, "short-circuited: 63% of the Running instances of "+regionOutage+" (70 of 110)")
		ids, calls := touched(sim, regionOutage)
		require.Empty(t, ids)
		require.Zero(t, calls, "no install or reboot call at all")
		require.Equal(t, 10, rep.Counts.NotAttempted)
		for _, row := range rep.Rows {
			require.Equal(t, workflows.ReasonShortCircuit, row.Reason, "%+v", row)
		}
	})

	// A plan file whose time says it is two days old is refused, as is one
	// older than a --max-plan-age; bad flag values are refused before
	// anything starts.
	t.Run("stale plan file is refused", func(t *testing.T) {
		s.t = t
		addBroken(t, sim, regionStale, 5)
		const dry = "fleetmend/cn-beijing/dryrun-plan"
		s.dryRun(regionStale, dry)
		r := s.run("report", dry, "--json")
		require.Equal(t, 0, r.code, r.err)
		var raw map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.out), &raw))
		raw["scanned_at"] = time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
		b, err := json.Marshal(raw)
		require.NoError(t, err)
		file := filepath.Join(t.TempDir(), "plan.json")
		require.NoError(t, os.WriteFile(file, b, 0o600))
		sim.ResetCounters()

		r = s.run(append([]string{"apply", file, "--wait", "--json", "--id", "fleetmend/cn-beijing/apply-stale"}, applyFast...)...)
		require.Equal(t, 1, r.code, "%s%s", r.out, r.err)
		rep := report(t, r)
		require.Contains(t, rep.Stopped, "refused: the plan of "+dry+" is 48h0m")
		require.Contains(t, rep.Stopped, "older than max_plan_age 24h0m0s")
		// Without --wait too, the refusal is heard, not just "started".
		r = s.run(append([]string{"apply", file, "--json", "--id", "fleetmend/cn-beijing/apply-stale-nowait"}, applyFast...)...)
		require.Equal(t, 1, r.code, "%s%s", r.out, r.err)
		require.Contains(t, report(t, r).Stopped, "older than max_plan_age 24h0m0s")
		ids, calls := touched(sim, regionStale)
		require.Empty(t, ids)
		require.Zero(t, calls)

		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"apply", file, "--max-plan-age", "30s"}, "--max-plan-age"},
			{[]string{"apply", file, "--max-plan-age", "721h"}, "1m..720h"},
			{[]string{"apply", file, "--max-drift", "101"}, "0..100"},
			{[]string{"apply", file, "--max-drift", "-1"}, "--max-drift"},
			{[]string{"apply"}, "give the plan: --from-run <dry-run ID> or a plan file"},
			{[]string{"apply", file, "--from-run", dry}, "one of them"},
			{[]string{"apply", file, "--batch-size", "5"}, "unknown flag: --batch-size"},
			{[]string{"apply", "--from-run", "fleetmend/cn-beijing/apply-stale"}, "is not a dry run"},
		} {
			r := s.run(tc.args...)
			require.Equal(t, 2, r.code, "%v: %s%s", tc.args, r.out, r.err)
			require.Contains(t, r.err, tc.want, "%v", tc.args)
		}
		_, calls = touched(sim, regionStale)
		require.Zero(t, calls)
	})
}

// firstInput is the input of a run's first workflow task: what the
// history says it was asked to do.
func firstInput(t *testing.T, st *stack.Stack, id string) workflows.RegionInput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := st.Client.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	require.True(t, it.HasNext())
	ev, err := it.Next()
	require.NoError(t, err)
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	require.NotNil(t, attrs)
	var in workflows.RegionInput
	require.NoError(t, json.Unmarshal(attrs.GetInput().GetPayloads()[0].GetData(), &in))
	require.True(t, strings.HasPrefix(in.Region, "cn-"))
	return in
}

// batchesOf is the instances of each batch a run started, from the
// child workflows' inputs in its history.
func batchesOf(t *testing.T, st *stack.Stack, id string) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out [][]string
	it := st.Client.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		attrs := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes()
		if attrs == nil {
			continue
		}
		var in workflows.BatchInput
		require.NoError(t, json.Unmarshal(attrs.GetInput().GetPayloads()[0].GetData(), &in))
		var ids []string
		for _, target := range in.Instances {
			ids = append(ids, target.InstanceID)
		}
		out = append(out, sorted(ids))
	}
	return out
}

func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
