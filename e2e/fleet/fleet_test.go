package fleet

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
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
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// fast are the run flags sized for the simulator's 60x clock, with no
// rollout waves (the fleets are small) and no short-circuit (they are
// mostly broken on purpose).
var fast = []string{"--reboot-grace", "1s", "--verify-deadline", "10s", "--verify-poll-interval", "250ms", "--stable-for", "1s",
	"--early-signal", "3s", "--canary", "0", "--max-unhealthy-percent", "100"}

func fleetStack(t *testing.T, creds map[string]ecssim.Credential, fleets ...ecssim.FleetSpec) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		IP: "127.0.0.1", UIPort: -1, TimeScale: 60, SimSeed: 21, Worker: true, Logger: zap.NewNop(),
		Region: fleets[0].Region, Fleet: fleets[0], MoreFleets: fleets[1:], Credentials: creds,
	})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

type result struct {
	code     int
	out, err string
}

// starter runs the real starter binary against st.
func starter(t *testing.T, bin string, st *stack.Stack, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	full := append([]string{"--temporal-address", st.Server.FrontendHostPort(), "--temporal-namespace", st.Server.Namespace()}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	// Only the flags say where Temporal is and which queues to use.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEMPORAL_") && !strings.HasPrefix(kv, "FLEETMEND_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "TEMPORAL_CONFIG_FILE="+filepath.Join(t.TempDir(), "none.toml"))
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "starter %v: %s", args, errOut.String())
		code = ee.ExitCode()
	}
	return result{code: code, out: out.String(), err: errOut.String()}
}

func regionTruth(sim *ecssim.Sim, region string) []ecssim.InstanceTruth {
	var out []ecssim.InstanceTruth
	for _, in := range sim.Truth().Instances {
		if in.Region == region {
			out = append(out, in)
		}
	}
	return out
}

// TestAllRegionsOneBusyOneRefused: `starter run --all-regions --wait` on
// three regions. cn-shanghai is held by a paused run: the fleet's run
// there is skipped, naming it, and installs and reboots nothing.
// cn-shenzhen refuses the worker's access key (a RAM policy naming only the
// other regions): its run fails, with one line, and nothing there is
// touched. cn-hangzhou is repaired. The summary says all of it; neither
// region stops the others.
func TestAllRegionsOneBusyOneRefused(t *testing.T) {
	e2e.SkipShort(t)
	bin := e2e.BuildBinary(t, "github.com/fleetmend/fleetmend/starter")
	st := fleetStack(t, map[string]ecssim.Credential{
		ecssim.DefaultAccessKeyID: {Secret: ecssim.DefaultAccessKeySecret, ForbiddenRegions: []string{"cn-shenzhen"}},
	},
		ecssim.FleetSpec{Region: "cn-hangzhou", Size: 60, Seed: 1, Missing: 0.25},
		ecssim.FleetSpec{Region: "cn-shanghai", Size: 40, Seed: 2, Missing: 0.25},
		ecssim.FleetSpec{Region: "cn-shenzhen", Size: 20, Seed: 3, Missing: 0.25},
	)
	ctx := context.Background()
	sim := st.Sim

	// Another run holds cn-shanghai: granted, then paused before it acts.
	holder := "fleetmend/cn-shanghai/manual-holder"
	in := e2e.Input()
	in.Region, in.Canary, in.MaxUnhealthyPercent = "cn-shanghai", new(int), 100
	_, err := st.StartRun(ctx, holder, in)
	require.NoError(t, err)
	h, err := st.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: holder, UpdateName: workflows.UpdatePause,
		Args: []any{workflows.ControlRequest{Reason: "change freeze", By: "bob"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	require.NoError(t, err)
	require.NoError(t, h.Get(ctx, nil))
	e2e.Eventually(t, time.Minute, "the holder is granted cn-shanghai", func() bool {
		v, err := st.Client.QueryWorkflow(ctx, holder, "", workflows.QueryProgress)
		var p workflows.Progress
		return err == nil && v.Get(&p) == nil && p.Phase != "" && p.Phase != "starting" && p.Phase != "acquiring"
	})
	for _, in := range regionTruth(sim, "cn-shanghai") {
		require.Zero(t, in.Installs+in.Reboots, "the paused holder has touched nothing yet")
	}

	started := time.Now()
	r := starter(t, bin, st, append([]string{"run", "--all-regions", "--wait", "--progress-interval", "200ms", "--id", "fleetmend/fleet/manual-e2e"}, fast...)...)
	t.Logf("fleet run took %s\n%s", time.Since(started).Round(time.Millisecond), r.out)
	require.Equal(t, 1, r.code, "a skipped and a failed region: exit 1\n%s\n%s", r.out, r.err)
	require.Contains(t, r.out, "started fleet run fleetmend/fleet/manual-e2e")
	require.Contains(t, r.out, "regions: 1 completed, 1 skipped, 1 failed")
	lines := map[string]string{}
	for _, l := range strings.Split(r.out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[0], "cn-") {
			lines[f[0]+" "+f[1]] = l // the summary's rows: region and outcome
		}
	}
	require.Contains(t, lines["cn-hangzhou completed"], "fleetmend/cn-hangzhou/fleet-manual-e2e")
	require.Contains(t, lines["cn-shanghai skipped"], "busy with "+holder)
	require.Contains(t, lines["cn-shenzhen failed"], "Forbidden.RAM")
	require.Contains(t, r.out, "skipped: busy with "+holder, "the progress lines say it as it happens")

	r = starter(t, bin, st, "report", "fleetmend/fleet/manual-e2e", "--json")
	require.Equal(t, 1, r.code, r.err)
	var rep workflows.FleetReport
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
	require.Len(t, rep.Regions, 3)
	by := map[string]workflows.FleetRegionResult{}
	for _, g := range rep.Regions {
		by[g.Region] = g
	}
	require.Equal(t, workflows.FleetSkipped, by["cn-shanghai"].Outcome)
	require.Equal(t, holder, by["cn-shanghai"].SkippedFor)
	require.Equal(t, workflows.FleetFailed, by["cn-shenzhen"].Outcome)
	require.NotContains(t, by["cn-shenzhen"].Detail, "\n")
	require.Equal(t, workflows.FleetCompleted, by["cn-hangzhou"].Outcome)

	// The truth. cn-hangzhou: every broken agent repaired once, nothing
	// healthy touched; the report's counts are what happened.
	broken := 0
	for _, in := range regionTruth(sim, "cn-hangzhou") {
		require.Zero(t, in.InstallsWhileHealthy+in.RebootsWhileHealthy, in.ID)
		switch in.InitialProblem {
		case "missing", "silent":
			broken++
			require.Equal(t, 1, in.Reboots, in.ID)
			require.True(t, in.AgentHealthy, in.ID)
		default:
			require.Zero(t, in.Installs+in.Reboots, in.ID)
		}
	}
	require.Equal(t, broken, by["cn-hangzhou"].Counts.Remediated)
	require.Equal(t, broken, rep.Totals.Remediated)
	require.Equal(t, 60, rep.Totals.Scanned, "only cn-hangzhou was scanned")
	// cn-shanghai: the fleet's run there touched nothing (its holder is
	// still paused, so nothing at all happened there).
	for _, in := range regionTruth(sim, "cn-shanghai") {
		require.Zero(t, in.Installs+in.Reboots+in.RefusedInstalls+in.RefusedReboots, "%s was touched during the fleet run", in.ID)
	}
	var skipped workflows.Report
	require.NoError(t, st.Client.GetWorkflow(ctx, by["cn-shanghai"].WorkflowID, "").Get(ctx, &skipped))
	require.True(t, skipped.Skipped)
	// cn-shenzhen: refused, never touched, never even listed.
	for _, in := range regionTruth(sim, "cn-shenzhen") {
		require.Zero(t, in.Installs+in.Reboots+in.Listed, in.ID)
	}

	// Each region's run is a child of the fleet run, found by its ID.
	d, err := st.Client.DescribeWorkflowExecution(ctx, by["cn-hangzhou"].WorkflowID, "")
	require.NoError(t, err)
	require.Equal(t, "fleetmend/fleet/manual-e2e", d.GetWorkflowExecutionInfo().GetParentExecution().GetWorkflowId())
	r = starter(t, bin, st, "status", "fleetmend/fleet/manual-e2e")
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "fleetmend/fleet/manual-e2e: completed (fleet run over 3 regions)")
	require.Contains(t, r.out, "skipped: busy with "+holder)
}

// TestScheduleOverTwoRegionsFiresTwice: a schedule created with
// --regions fires twice; each firing runs each region once, and each run
// repairs what broke since the last firing, once.
func TestScheduleOverTwoRegionsFiresTwice(t *testing.T) {
	e2e.SkipShort(t)
	bin := e2e.BuildBinary(t, "github.com/fleetmend/fleetmend/starter")
	regions := []string{"cn-beijing", "cn-qingdao"}
	st := fleetStack(t, nil,
		ecssim.FleetSpec{Region: regions[0], Size: 30, Seed: 4},
		ecssim.FleetSpec{Region: regions[1], Size: 30, Seed: 5},
	)
	ctx := context.Background()
	sim := st.Sim
	r := starter(t, bin, st, append([]string{"schedule", "create", "--regions", strings.Join(regions, ","), "--every", "24h", "--paused"}, fast...)...)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "schedule fleetmend-fleet created")
	hd := st.Client.ScheduleClient().GetHandle(ctx, "fleetmend-fleet")

	for firing := range 2 {
		// Break three agents per region; their heartbeats go stale two
		// simulated minutes later.
		var broken []string
		for _, region := range regions {
			broken = append(broken, sim.InstanceIDs(region)[firing*3:firing*3+3]...)
		}
		for _, id := range broken {
			require.NoError(t, sim.RemoveAgent(id))
		}
		e2e.Eventually(t, time.Minute, "the broken agents look broken", func() bool {
			for _, id := range broken {
				if tr, _ := sim.Instance(id); tr.AgentHealthy {
					return false
				}
			}
			return true
		})
		before := sim.Truth()
		d, err := hd.Describe(ctx)
		require.NoError(t, err)
		n := d.Info.NumActions
		require.NoError(t, hd.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP}))
		var id string
		e2e.Eventually(t, 30*time.Second, "the firing starts its fleet run", func() bool {
			d, err := hd.Describe(ctx)
			require.NoError(t, err)
			if d.Info.NumActions > n && len(d.Info.RecentActions) > 0 {
				id = d.Info.RecentActions[len(d.Info.RecentActions)-1].StartWorkflowResult.WorkflowID
			}
			return id != ""
		})
		require.True(t, strings.HasPrefix(id, "fleetmend/fleet/scheduled-"), id)
		var rep workflows.FleetReport
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		require.NoError(t, st.Client.GetWorkflow(wctx, id, "").Get(wctx, &rep))
		cancel()
		t.Logf("firing %d: fleet run %s took %s", firing, id, rep.FinishedAt.Sub(rep.StartedAt).Round(time.Millisecond))
		require.Equal(t, workflows.KindScheduled, rep.Kind)
		require.Equal(t, 2, rep.Completed, "firing %d: %+v", firing, rep)
		require.True(t, rep.AllGood(), "firing %d: %+v", firing, rep)
		for _, g := range rep.Regions {
			require.Equal(t, guard.FleetChildID(id, g.Region), g.WorkflowID)
			require.Equal(t, 3, g.Counts.Remediated, "firing %d, %s", firing, g.Region)
		}
		// The truth: in this firing each broken instance was installed and
		// rebooted once, nothing else was touched.
		after := sim.Truth()
		for i, in := range after.Instances {
			was := before.Instances[i]
			require.Equal(t, was.ID, in.ID)
			installs, reboots := in.Installs-was.Installs, in.Reboots-was.Reboots
			if contains(broken, in.ID) {
				require.Equal(t, 1, installs, "firing %d: %s", firing, in.ID)
				require.Equal(t, 1, reboots, "firing %d: %s", firing, in.ID)
				require.True(t, in.AgentHealthy, in.ID)
			} else {
				require.Zero(t, installs+reboots, "firing %d: %s was healthy", firing, in.ID)
			}
		}
	}
	d, err := hd.Describe(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, d.Info.NumActions)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
