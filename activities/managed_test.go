package activities_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
)

func (f *fixture) segment(t *testing.T, in activities.SegmentInput) activities.SegmentResult {
	t.Helper()
	v, err := f.env().ExecuteActivity(f.acts.ScanSegment, in)
	require.NoError(t, err)
	var res activities.SegmentResult
	require.NoError(t, v.Get(&res))
	return res
}

// TestScanClassifiesManagedInstancesWithoutAskingECS: managed instances in
// the listing are reported managed with their agent, never candidates,
// never counted Running or in a zone, and never named in a DescribeInstances
// call; ECS instances of the same pages are classified as always.
func TestScanClassifiesManagedInstancesWithoutAskingECS(t *testing.T) {
	f := newFixture(t)
	var managed, offline []string
	for i := range 25 {
		spec := ecssim.InstanceSpec{Managed: true, AgentInstalled: true, OSType: ecssim.OSWindows}
		if i%5 == 0 {
			spec.AgentSilent, spec.LastHeartbeat = true, f.clock.Now().Add(-time.Hour)
		}
		id := f.add(t, spec)
		managed = append(managed, id)
		if spec.AgentSilent {
			offline = append(offline, id)
		}
	}
	healthy := f.add(t, ecssim.InstanceSpec{AgentInstalled: true})
	missing := f.add(t, ecssim.InstanceSpec{})
	stopped := f.add(t, ecssim.InstanceSpec{State: "Stopped", Zone: "cn-hangzhou-b"})

	res := f.segment(t, activities.SegmentInput{Region: region, MaxPages: 10})
	require.True(t, res.Done)
	c := res.Counts
	require.Equal(t, 28, c.Listed)
	require.Equal(t, 25, c.Managed)
	require.Equal(t, len(offline), c.ManagedUnhealthy)
	require.Equal(t, 2, c.Running, "managed instances are not Running ECS instances")
	require.Equal(t, 1, c.Healthy)
	require.Equal(t, 1, c.Missing)
	require.Equal(t, 1, c.NotRunning)
	require.Zero(t, c.Unknown)
	require.Equal(t, []activities.ZoneCount{{Zone: "cn-hangzhou-a", Running: 2, Unhealthy: 1}}, res.Zones)
	require.Equal(t, []activities.Candidate{{ID: missing, Zone: "cn-hangzhou-a", Problem: activities.ProblemAgentMissing}}, res.Candidates)
	seen := map[string]activities.Skipped{}
	for _, sk := range res.Skipped {
		seen[sk.ID] = sk
	}
	require.Equal(t, activities.SkipNotRunning, seen[stopped].Why)
	require.NotContains(t, seen, healthy)
	for _, id := range managed {
		sk := seen[id]
		require.Equal(t, activities.SkipManaged, sk.Why, id)
		require.NotNil(t, sk.Agent, id)
		require.Equal(t, ecssim.OSWindows, sk.Agent.OSType)
		require.Empty(t, sk.Zone)
		if sk.Agent.Healthy {
			require.Equal(t, ecssim.DefaultAgentVersion, sk.Agent.Version)
		} else {
			require.Contains(t, offline, id)
			require.Empty(t, sk.Agent.Version, "documented: no version while the agent is not running")
			require.Equal(t, f.clock.Now().Add(-time.Hour), sk.Agent.LastHeartbeat)
		}
		require.Zero(t, f.truth(t, id).Described, "%s was named in a DescribeInstances call", id)
	}
	require.Equal(t, 1, f.sim.Truth().Actions[ecs.ActionDescribeInstances].Calls, "one lookup, for the three ECS instances")
}

// TestManagedOnlyPagesAreNoMissingPermission: a region whose listing is
// all managed instances makes no DescribeInstances call, so the rule that
// an answer covering none of 20 or more instances means a missing
// permission cannot be tripped by them; with a zone filter they are
// filtered out (they have no zone).
func TestManagedOnlyPagesAreNoMissingPermission(t *testing.T) {
	f := newFixture(t)
	for range 120 {
		f.add(t, ecssim.InstanceSpec{Managed: true, AgentInstalled: true})
	}
	res := f.segment(t, activities.SegmentInput{Region: region, OSType: ecs.OSLinux, MaxPages: 10})
	require.True(t, res.Done)
	require.Equal(t, 120, res.Counts.Managed)
	require.Zero(t, res.Counts.Running)
	require.Empty(t, res.Zones)
	require.Empty(t, res.Candidates)
	require.Zero(t, f.sim.Truth().Actions[ecs.ActionDescribeInstances].Calls)
	require.Equal(t, 3, res.Calls, "three listing pages, no lookup")

	res = f.segment(t, activities.SegmentInput{Region: region, OSType: ecs.OSLinux, MaxPages: 10, ZoneID: "cn-hangzhou-a"})
	require.Equal(t, 120, res.Counts.FilteredOut)
	require.Zero(t, res.Counts.Managed)
	require.Empty(t, res.Skipped)
}

func TestScanOfExplicitIDsRefusesAManagedInstance(t *testing.T) {
	f := newFixture(t)
	ecsID := f.add(t, ecssim.InstanceSpec{})
	mi := f.add(t, ecssim.InstanceSpec{Managed: true, AgentInstalled: true})
	_, err := f.env().ExecuteActivity(f.acts.ScanSegment, activities.SegmentInput{Region: region, InstanceIDs: []string{ecsID, mi}})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.True(t, appErr.NonRetryable())
	require.Contains(t, appErr.Error(), `InstanceIDs[1] "`+mi+`" is a managed instance, not an ECS instance: fleetmend cannot repair it`)
	require.Zero(t, f.sim.Truth().Actions[ecs.ActionDescribeInstances].Calls, "refused before any call")
}
