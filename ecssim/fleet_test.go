package ecssim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

func fleetSpec(seed int64) ecssim.FleetSpec {
	return ecssim.FleetSpec{
		Region: ecssim.DefaultRegion, Size: 1000, Seed: seed,
		Missing: 0.1, Silent: 0.05, Stopped: 0.02, InstallFails: 0.013, Outdated: 0.05, Vanish: 0.03,
		VanishAfterMin: 10 * time.Minute, VanishAfterMax: 20 * time.Minute,
		OSWeights: map[string]float64{ecssim.OSLinux: 0.85, ecssim.OSWindows: 0.12, ecssim.OSFreeBSD: 0.03},
	}
}

func newFleetSim(t *testing.T, clock ecssim.Clock, fleets ...ecssim.FleetSpec) *ecssim.Sim {
	t.Helper()
	regions := []string{}
	for _, f := range fleets {
		if !contains(regions, f.Region) {
			regions = append(regions, f.Region)
		}
	}
	sim, err := ecssim.New(ecssim.Config{Regions: regions, Clock: clock, Fleets: fleets})
	require.NoError(t, err)
	return sim
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestFleetCountsMatchShares(t *testing.T) {
	clock := ecssim.NewManualClock(testStart())
	sim := newFleetSim(t, clock, fleetSpec(1))
	truth := sim.Truth()
	require.Len(t, truth.Instances, 1000)

	problems := map[string]int{}
	oses := map[string]int{}
	vanishing := 0
	for _, it := range truth.Instances {
		problems[it.InitialProblem]++
		oses[it.OSType]++
		if it.Vanishes {
			vanishing++
		}
		assert.Regexp(t, `^i-bp[a-z0-9]{18}$`, it.ID)
		assert.Equal(t, ecssim.DefaultRegion, it.Region)
		assert.Contains(t, []string{"cn-hangzhou-a", "cn-hangzhou-b"}, it.Zone)

		switch it.InitialProblem {
		case ecssim.ProblemHealthy:
			assert.True(t, it.AgentHealthy, it.ID)
			assert.Equal(t, ecssim.DefaultAgentVersion, it.AgentVersion)
			assert.Less(t, truth.Now.Sub(it.LastHeartbeat), 65*time.Second, "a recent heartbeat")
		case ecssim.ProblemOutdated:
			assert.True(t, it.AgentHealthy, it.ID)
			assert.Contains(t, []string{ecssim.OutdatedAgentVersion, ecssim.OutdatedWindowsAgentVersion}, it.AgentVersion)
		case ecssim.ProblemMissing:
			assert.False(t, it.AgentInstalled)
			assert.False(t, it.AgentHealthy)
			assert.True(t, it.LastHeartbeat.IsZero())
		case ecssim.ProblemInstallFails:
			assert.False(t, it.AgentInstalled)
			assert.True(t, it.InstallAlwaysFails)
		case ecssim.ProblemSilent:
			assert.True(t, it.AgentInstalled)
			assert.False(t, it.AgentHealthy)
			assert.Greater(t, truth.Now.Sub(it.LastHeartbeat), ecssim.HeartbeatFreshness)
		case ecssim.ProblemStopped:
			assert.Equal(t, ecssim.StateStopped, it.State)
			assert.False(t, it.AgentHealthy)
		}
		if it.InitialProblem != ecssim.ProblemStopped {
			assert.Equal(t, ecssim.StateRunning, it.State)
		}
		if !it.InstallAlwaysFails {
			assert.NotEqual(t, ecssim.ProblemInstallFails, it.InitialProblem)
		}
	}
	assert.Equal(t, map[string]int{
		ecssim.ProblemMissing:      100,
		ecssim.ProblemSilent:       50,
		ecssim.ProblemStopped:      20,
		ecssim.ProblemInstallFails: 13,
		ecssim.ProblemOutdated:     50,
		ecssim.ProblemHealthy:      1000 - 100 - 50 - 20 - 13 - 50,
	}, problems)
	assert.Equal(t, map[string]int{ecssim.OSLinux: 850, ecssim.OSWindows: 120, ecssim.OSFreeBSD: 30}, oses)
	assert.Equal(t, 30, vanishing)
}

func TestFleetVanishWindow(t *testing.T) {
	clock := ecssim.NewManualClock(testStart())
	sim := newFleetSim(t, clock, fleetSpec(1))
	vanished := func() int {
		n := 0
		for _, it := range sim.Truth().Instances {
			if it.Vanished {
				require.True(t, it.Vanishes)
				n++
			}
		}
		return n
	}
	clock.Advance(10*time.Minute - time.Second)
	assert.Zero(t, vanished(), "nothing vanishes before VanishAfterMin")
	assert.Len(t, sim.InstanceIDs(ecssim.DefaultRegion), 1000)
	clock.Advance(5 * time.Minute)
	mid := vanished()
	assert.Greater(t, mid, 0)
	assert.Less(t, mid, 30)
	clock.Advance(5*time.Minute + time.Second)
	assert.Equal(t, 30, vanished(), "all gone after VanishAfterMax")
	assert.Len(t, sim.InstanceIDs(ecssim.DefaultRegion), 970)
}

func TestFleetDeterministic(t *testing.T) {
	idsOf := func(sim *ecssim.Sim) []string { return sim.InstanceIDs(ecssim.DefaultRegion) }
	a := newFleetSim(t, ecssim.NewManualClock(testStart()), fleetSpec(7))
	b := newFleetSim(t, ecssim.NewManualClock(testStart()), fleetSpec(7))
	assert.Equal(t, idsOf(a), idsOf(b))
	assert.Equal(t, a.Truth(), b.Truth(), "same seed, same fleet in every detail")

	c := newFleetSim(t, ecssim.NewManualClock(testStart()), fleetSpec(8))
	assert.NotEqual(t, idsOf(a), idsOf(c))

	// IDs depend on seed and size only, so a different mix keeps them.
	spec := fleetSpec(7)
	spec.Missing, spec.Silent = 0.3, 0
	d := newFleetSim(t, ecssim.NewManualClock(testStart()), spec)
	assert.Equal(t, idsOf(a), idsOf(d))
}

func TestFleetSeveralRegions(t *testing.T) {
	sh := fleetSpec(2)
	sh.Region = "cn-shanghai"
	sh.Size = 300
	sim := newFleetSim(t, ecssim.NewManualClock(testStart()), fleetSpec(1), sh)
	assert.Len(t, sim.InstanceIDs("cn-hangzhou"), 1000)
	shIDs := sim.InstanceIDs("cn-shanghai")
	assert.Len(t, shIDs, 300)
	assert.Regexp(t, `^i-uf[a-z0-9]{18}$`, shIDs[0])
	assert.Len(t, sim.Truth().Instances, 1300)
}

func TestFleetConfigErrors(t *testing.T) {
	for name, cfg := range map[string]ecssim.Config{
		"shares over 1":     {Fleets: []ecssim.FleetSpec{{Size: 10, Missing: 0.6, Silent: 0.5}}},
		"share above 1":     {Fleets: []ecssim.FleetSpec{{Size: 10, Vanish: 1.5}}},
		"negative share":    {Fleets: []ecssim.FleetSpec{{Size: 10, Stopped: -0.1}}},
		"unknown region":    {Fleets: []ecssim.FleetSpec{{Region: "cn-nowhere", Size: 10}}},
		"negative size":     {Fleets: []ecssim.FleetSpec{{Size: -1}}},
		"bad OS":            {Fleets: []ecssim.FleetSpec{{Size: 10, OSWeights: map[string]float64{"Plan9": 1}}}},
		"inverted window":   {Fleets: []ecssim.FleetSpec{{Size: 10, VanishAfterMin: time.Hour, VanishAfterMax: time.Minute}}},
		"duplicate region":  {Regions: []string{"cn-hangzhou", "cn-hangzhou"}},
		"unsupported list":  {ApiNotSupportedRegions: []string{"cn-beijing"}},
		"empty secret":      {Credentials: map[string]ecssim.Credential{"ak": {}}},
		"negative duration": {StopDuration: -time.Second},
		"bad time scale":    {TimeScale: -1},
		"bad faults":        {Faults: ecssim.Faults{ErrorRate: 2}},
		"bad agent version": {AgentVersion: "latest"},
		"tagged above 1":    {Fleets: []ecssim.FleetSpec{{Size: 10, Tagged: 1.2}}},
		"tag key too long":  {Fleets: []ecssim.FleetSpec{{Size: 10, Tagged: 0.5, TagKey: strings.Repeat("k", 129)}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ecssim.New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "ecssim: config")
		})
	}
}
