package managed_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// onlyManaged is a region whose listing holds managed instances alone.
const onlyManaged = "cn-qingdao"

// TestManagedInstancesAreReportedNeverTouched: a region of 1,000 listed
// instances, 5% of them managed (a fifth of those with their agent
// offline), the rest the usual mix of missing, silent, stopped and
// never-healing agents. The run succeeds; every managed instance is
// reported managed with its agent's state and counted apart; the
// simulator's truth shows none of them in an install, a reboot or a
// DescribeInstances/DescribeInstanceStatus call, and the ECS instances
// repaired as always. A zone filter leaves them out, and a region of
// managed instances alone is a run that succeeds having touched nothing
// (not "DescribeInstances answered for none of them").
func TestManagedInstancesAreReportedNeverTouched(t *testing.T) {
	e2e.SkipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, TimeScale: 60, SimSeed: 17, Worker: true, Logger: zap.NewNop(),
		Fleet: ecssim.FleetSpec{Size: 1000, Seed: 18, Managed: 0.05, Missing: 0.1, Silent: 0.05, Stopped: 0.03, InstallFails: 0.01,
			OSWeights: map[string]float64{"Linux": 0.8, "Windows": 0.2}},
		MoreFleets: []ecssim.FleetSpec{{Region: onlyManaged, Size: 150, Seed: 19, Managed: 1}},
	})
	require.NoError(t, err)
	t.Cleanup(st.Close)

	managed := map[string]ecssim.InstanceTruth{}
	ecsInstances, offline := 0, 0
	for _, in := range st.Sim.Truth().Instances {
		switch {
		case in.Region != e2e.Region:
		case in.Managed:
			managed[in.ID] = in
			if !in.AgentHealthy {
				offline++
			}
		default:
			ecsInstances++
		}
	}
	require.InDelta(t, 50, len(managed), 20, "about 5%% of the listing is managed")
	require.Positive(t, offline, "some managed agents are offline")
	require.Less(t, offline, len(managed))

	t.Run("a run reports them managed and never names them in an ECS call", func(t *testing.T) {
		in := e2e.Input()
		n := 5000
		in.MaxReportRows = &n
		in.MaxReportBytes = workflows.MaxMaxReportBytes
		rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/managed", in, nil)
		require.Empty(t, rep.Stopped)
		require.Positive(t, rep.Counts.Remediated, "the ECS instances were repaired as always")
		e2e.CheckAgainstTruth(t, st.Sim, rep)
		e2e.RequireNothingTwice(t, st.Sim.Truth())

		c := rep.Counts
		require.Equal(t, len(managed), c.Managed)
		require.Equal(t, offline, c.ManagedUnhealthy)
		require.Equal(t, ecsInstances, c.Scanned, "Scanned counts the ECS instances only")
		require.Equal(t, ecsInstances, rep.TotalInstances)
		rows := 0
		for _, row := range rep.Rows {
			tr, ok := managed[row.InstanceID]
			if !ok {
				require.False(t, ecs.IsManagedInstanceID(row.InstanceID), "%s", row.InstanceID)
				continue
			}
			rows++
			require.Equal(t, workflows.OutcomeManaged, row.Outcome)
			if tr.AgentHealthy {
				require.Contains(t, row.Detail, "agent healthy, version "+tr.AgentVersion)
			} else {
				require.Contains(t, row.Detail, "agent offline, last heartbeat ")
				require.Equal(t, workflows.ProblemAgentSilent, row.Problem)
			}
		}
		require.Equal(t, len(managed), rows)
		for _, tr := range st.Sim.Truth().Instances {
			if tr.Managed && tr.Region == e2e.Region {
				require.Equal(t, 1, tr.Listed, "%s: listed once by the scan", tr.ID)
			}
		}
	})

	t.Run("a run limited to a zone leaves them out", func(t *testing.T) {
		var zone string
		for _, tr := range st.Sim.Truth().Instances {
			if tr.Region == e2e.Region && !tr.Managed {
				zone = tr.Zone
				break
			}
		}
		require.NotEmpty(t, zone)
		in := e2e.Input()
		in.DryRun = true
		in.ZoneID = zone
		rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/managed-zone", in, nil)
		require.Zero(t, rep.Counts.Managed)
		for _, row := range rep.Rows {
			require.NotEqual(t, workflows.OutcomeManaged, row.Outcome, "%+v", row)
		}
		require.Positive(t, rep.Counts.FilteredOut)
	})

	t.Run("a region of managed instances alone succeeds having touched nothing", func(t *testing.T) {
		before := st.Sim.Truth().Actions
		in := e2e.Input()
		in.Region = onlyManaged
		rep := e2e.RunToReport(t, st, "fleetmend/"+onlyManaged+"/managed-only", in, nil)
		require.Empty(t, rep.Stopped)
		require.Equal(t, 150, rep.Counts.Managed)
		require.Zero(t, rep.Counts.Scanned)
		require.Len(t, rep.Rows, 150)
		after := st.Sim.Truth()
		for _, action := range []string{ecs.ActionInstallCloudAssistant, ecs.ActionRebootInstance, ecs.ActionRebootInstances, ecs.ActionDescribeInstances, ecs.ActionDescribeInstanceStatus} {
			require.Equal(t, before[action].Calls, after.Actions[action].Calls, "%s was called for a region of managed instances", action)
		}
		for _, tr := range after.Instances {
			if tr.Region == onlyManaged {
				require.True(t, tr.Managed)
				require.Zero(t, tr.Installs+tr.RefusedInstalls+tr.Reboots+tr.RefusedReboots+tr.Described, "%s", tr.ID)
			}
		}
	})
}
