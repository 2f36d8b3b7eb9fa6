package ecssim_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

func TestLifecycleInstallThenReboot(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{})
	c := e.client(t)

	st := oneStatus(t, c, id)
	assert.Equal(t, "false", st.CloudAssistantStatus)
	assert.Empty(t, st.CloudAssistantVersion)
	assert.Empty(t, st.LastHeartbeatTime, "never heartbeated")
	assert.False(t, st.SupportSessionManager)

	require.NoError(t, install(c, id))
	e.clock.Advance(10 * time.Minute)
	assert.Equal(t, "false", oneStatus(t, c, id).CloudAssistantStatus, "an install takes effect only after a reboot")
	assert.Equal(t, ecssim.StateRunning, instanceState(t, c, id))

	require.NoError(t, reboot(c, id))
	bootAt := e.clock.Now().Add(ecssim.DefaultStopDuration + ecssim.DefaultStartDuration)
	steps := []struct {
		advance time.Duration
		state   string
		status  string
	}{
		{0, ecssim.StateStopping, "false"},
		{ecssim.DefaultStopDuration - time.Second, ecssim.StateStopping, "false"},
		{time.Second, ecssim.StateStarting, "false"},
		{ecssim.DefaultStartDuration - time.Second, ecssim.StateStarting, "false"},
		{time.Second, ecssim.StateRunning, "false"},                                     // booted, agent not yet heartbeating
		{ecssim.DefaultFirstHeartbeatDelay - time.Second, ecssim.StateRunning, "false"}, // one second before the first heartbeat
		{time.Second, ecssim.StateRunning, "true"},                                      // first heartbeat
	}
	for i, s := range steps {
		e.clock.Advance(s.advance)
		assert.Equal(t, s.state, instanceState(t, c, id), "step %d", i)
		assert.Equal(t, s.status, oneStatus(t, c, id).CloudAssistantStatus, "step %d", i)
	}
	st = oneStatus(t, c, id)
	assert.Equal(t, ecssim.DefaultAgentVersion, st.CloudAssistantVersion)
	assert.True(t, st.SupportSessionManager)
	firstBeat := bootAt.Add(ecssim.DefaultFirstHeartbeatDelay)
	assert.Equal(t, firstBeat.Format(time.RFC3339), st.LastHeartbeatTime)

	// Then a heartbeat every interval (60 s for hand-made instances).
	e.clock.Advance(59 * time.Second)
	assert.Equal(t, firstBeat.Format(time.RFC3339), oneStatus(t, c, id).LastHeartbeatTime)
	e.clock.Advance(time.Second)
	assert.Equal(t, firstBeat.Add(time.Minute).Format(time.RFC3339), oneStatus(t, c, id).LastHeartbeatTime)

	it := truthOf(t, e.sim, id)
	assert.True(t, it.AgentInstalled)
	assert.True(t, it.AgentHealthy)
	assert.False(t, it.PendingInstall)
	assert.Equal(t, 1, it.Installs)
	assert.Equal(t, 1, it.Reboots)
	assert.Zero(t, it.InstallsWhileHealthy)
	assert.Zero(t, it.RebootsWhileHealthy)
}

func TestLifecycleSilentAgent(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	lastHB := testStart().Add(-5 * time.Minute)
	id := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true, AgentSilent: true, LastHeartbeat: lastHB})
	c := e.client(t)
	for range 3 {
		st := oneStatus(t, c, id)
		assert.Equal(t, "false", st.CloudAssistantStatus)
		assert.Empty(t, st.CloudAssistantVersion, "documented: empty when the agent is not running")
		assert.Equal(t, lastHB.Format(time.RFC3339), st.LastHeartbeatTime)
		e.clock.Advance(time.Hour)
	}
	// A reboot restarts a hung agent, no install needed.
	require.NoError(t, reboot(c, id))
	e.clock.Advance(ecssim.DefaultStopDuration + ecssim.DefaultStartDuration + ecssim.DefaultFirstHeartbeatDelay)
	assert.Equal(t, "true", oneStatus(t, c, id).CloudAssistantStatus)
}

func TestLifecycleHeartbeatGoesStaleAfterTwoMinutes(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true})
	c := e.client(t)
	e.clock.Advance(30 * time.Second)
	require.NoError(t, e.sim.SilenceAgent(id)) // last heartbeat: testStart
	e.clock.Set(testStart().Add(ecssim.HeartbeatFreshness))
	assert.Equal(t, "true", oneStatus(t, c, id).CloudAssistantStatus, "exactly 2 minutes old still counts")
	e.clock.Advance(time.Second)
	st := oneStatus(t, c, id)
	assert.Equal(t, "false", st.CloudAssistantStatus)
	assert.Equal(t, testStart().Format(time.RFC3339), st.LastHeartbeatTime)
	assert.False(t, truthOf(t, e.sim, id).AgentHealthy)

	require.NoError(t, e.sim.HealAgent(id))
	st = oneStatus(t, c, id)
	assert.Equal(t, "true", st.CloudAssistantStatus)
	assert.Equal(t, e.clock.Now().Format(time.RFC3339), st.LastHeartbeatTime)
}

func TestLifecycleInstallAlwaysFails(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{InstallAlwaysFails: true})
	c := e.client(t)
	for round := range 2 {
		require.NoError(t, install(c, id), "the call is accepted")
		require.NoError(t, reboot(c, id))
		e.clock.Advance(5 * time.Minute)
		assert.Equal(t, ecssim.StateRunning, instanceState(t, c, id))
		assert.Equal(t, "false", oneStatus(t, c, id).CloudAssistantStatus, "round %d", round)
	}
	it := truthOf(t, e.sim, id)
	assert.False(t, it.AgentInstalled)
	assert.True(t, it.InstallAlwaysFails)
	assert.Equal(t, ecssim.ProblemInstallFails, it.InitialProblem)
	assert.Equal(t, 2, it.Installs)
	assert.Equal(t, 2, it.Reboots)
}

func TestLifecycleSupportSessionManager(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	for _, tc := range []struct {
		os, version string
		want        bool
	}{
		{ecssim.OSLinux, "2.2.3.189", true},
		{ecssim.OSLinux, "2.2.3.188", false},
		{ecssim.OSLinux, "2.2.2.999", false},
		{ecssim.OSLinux, "2.10.0.1", true}, // numeric, not lexical, comparison
		{ecssim.OSLinux, "2.1.3.189", false},
		{ecssim.OSFreeBSD, "2.2.3.189", true},
		{ecssim.OSFreeBSD, "2.1.9.999", false},
		{ecssim.OSWindows, "2.1.3.189", true},
		{ecssim.OSWindows, "2.1.3.188", false},
		{ecssim.OSWindows, "2.2.0.1", true},
		{ecssim.OSWindows, ecssim.OutdatedWindowsAgentVersion, false},
		{ecssim.OSLinux, ecssim.OutdatedAgentVersion, false},
		{ecssim.OSLinux, ecssim.DefaultAgentVersion, true},
	} {
		t.Run(fmt.Sprintf("%s %s", tc.os, tc.version), func(t *testing.T) {
			id := addInstance(t, e.sim, ecssim.InstanceSpec{OSType: tc.os, AgentInstalled: true, AgentVersion: tc.version})
			st := oneStatus(t, c, id)
			assert.Equal(t, tc.want, st.SupportSessionManager)
			assert.Equal(t, tc.version, st.CloudAssistantVersion)
			assert.Equal(t, tc.os, st.OSType)
		})
	}
}

func TestLifecycleStoppedStaysStopped(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true})
	c := e.client(t)
	require.NoError(t, e.sim.SetState(id, ecssim.StateStopped))
	e.clock.Advance(24 * time.Hour)
	assert.Equal(t, ecssim.StateStopped, instanceState(t, c, id))
	assert.Equal(t, "false", oneStatus(t, c, id).CloudAssistantStatus)
	requireServerError(t, reboot(c, id), http.StatusForbidden, "IncorrectInstanceStatus")
	requireServerError(t, install(c, id), http.StatusForbidden, "IncorrectInstanceStatus")

	// Starting it is a boot: the agent heartbeats again.
	require.NoError(t, e.sim.SetState(id, ecssim.StateRunning))
	e.clock.Advance(ecssim.DefaultFirstHeartbeatDelay)
	assert.Equal(t, "true", oneStatus(t, c, id).CloudAssistantStatus)

	// Stopping passes through Stopping, then stays Stopped.
	require.NoError(t, e.sim.SetState(id, ecssim.StateStopping))
	assert.Equal(t, ecssim.StateStopping, instanceState(t, c, id))
	e.clock.Advance(ecssim.DefaultStopDuration)
	assert.Equal(t, ecssim.StateStopped, instanceState(t, c, id))
}

func TestLifecyclePendingInstanceBoots(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{State: ecssim.StatePending, AgentInstalled: true})
	c := e.client(t)
	assert.Equal(t, ecssim.StatePending, instanceState(t, c, id))
	e.clock.Advance(ecssim.DefaultPendingDuration)
	assert.Equal(t, ecssim.StateStarting, instanceState(t, c, id))
	e.clock.Advance(ecssim.DefaultStartDuration)
	assert.Equal(t, ecssim.StateRunning, instanceState(t, c, id))
	e.clock.Advance(ecssim.DefaultFirstHeartbeatDelay)
	assert.Equal(t, "true", oneStatus(t, c, id).CloudAssistantStatus)
}

// TestLifecycleLazyStateIsPathIndependent: looking at an instance often or
// never gives the same answer, because transitions are applied in time order.
func TestLifecycleLazyStateIsPathIndependent(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	watched := addInstance(t, e.sim, ecssim.InstanceSpec{})
	unwatched := addInstance(t, e.sim, ecssim.InstanceSpec{})
	require.NoError(t, install(c, watched, unwatched))
	require.NoError(t, reboot(c, watched))
	require.NoError(t, reboot(c, unwatched))
	for range 40 {
		e.clock.Advance(time.Second)
		instanceState(t, c, watched)
	}
	a, b := truthOf(t, e.sim, watched), truthOf(t, e.sim, unwatched)
	assert.Equal(t, a.State, b.State)
	assert.Equal(t, a.LastHeartbeat, b.LastHeartbeat)
	assert.Equal(t, a.AgentHealthy, b.AgentHealthy)
	assert.True(t, a.AgentHealthy)
}

func TestLifecycleVanishAtTime(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	keep := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true})
	leaving := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true, VanishAt: testStart().Add(10 * time.Minute)})

	e.clock.Advance(10*time.Minute - time.Second)
	_, err := assistantStatus(c, keep, leaving)
	require.NoError(t, err)
	e.clock.Advance(time.Second)
	_, err = assistantStatus(c, keep, leaving)
	requireServerError(t, err, http.StatusNotFound, "InvalidInstance.NotFound")
	requireServerError(t, reboot(c, leaving), http.StatusNotFound, "InvalidInstanceId.NotFound")
	resp, err := describeStatus(c, 1, 50)
	require.NoError(t, err)
	assert.Equal(t, 1, resp.TotalCount)
	assert.Equal(t, keep, resp.InstanceStatuses.InstanceStatus[0].InstanceId)

	it := truthOf(t, e.sim, leaving)
	assert.True(t, it.Vanished)
	assert.True(t, it.Vanishes)
	assert.False(t, it.AgentHealthy)
}

// TestLifecycleGeneratedHeartbeats: generated healthy agents heartbeat every
// 55, 60 or 65 s (fixed per instance) and always look healthy.
func TestLifecycleGeneratedHeartbeats(t *testing.T) {
	e := newEnv(t, ecssim.Config{Fleets: []ecssim.FleetSpec{{Size: 60, Seed: 3}}})
	ids := e.sim.InstanceIDs(ecssim.DefaultRegion)
	beats := map[string][]time.Time{}
	for range 200 {
		for _, id := range ids {
			it := truthOf(t, e.sim, id)
			require.True(t, it.AgentHealthy, id)
			require.Less(t, e.clock.Now().Sub(it.LastHeartbeat), 66*time.Second)
			b := beats[id]
			if len(b) == 0 || !b[len(b)-1].Equal(it.LastHeartbeat) {
				beats[id] = append(b, it.LastHeartbeat)
			}
		}
		e.clock.Advance(time.Second)
	}
	intervals := map[time.Duration]int{}
	for id, b := range beats {
		require.GreaterOrEqual(t, len(b), 3, id)
		gap := b[2].Sub(b[1])
		for i := 2; i < len(b); i++ {
			require.Equal(t, gap, b[i].Sub(b[i-1]), "steady interval for %s", id)
		}
		intervals[gap]++
	}
	assert.Len(t, intervals, 3, "all three intervals occur: %v", intervals)
	for gap := range intervals {
		assert.Contains(t, []time.Duration{55 * time.Second, 60 * time.Second, 65 * time.Second}, gap)
	}
}

// TestLifecycleListingsAgreeWithTruth mixes scheduled and manual vanishes
// with clock jumps and checks after each step that the listing (lazy
// removal, vanish heap) and the truth (direct lookups) agree.
func TestLifecycleListingsAgreeWithTruth(t *testing.T) {
	e := newEnv(t, ecssim.Config{Fleets: []ecssim.FleetSpec{{
		Size: 300, Seed: 5, Vanish: 0.4, VanishAfterMin: time.Minute, VanishAfterMax: 30 * time.Minute,
	}}})
	c := e.client(t)
	rng := rand.New(rand.NewPCG(5, 5))
	for step := range 40 {
		e.clock.Advance(time.Duration(rng.IntN(90)) * time.Second)
		truth := e.sim.Truth()
		var live []string
		for _, it := range truth.Instances {
			if !it.Vanished {
				live = append(live, it.ID)
			}
		}
		if step%3 == 0 && len(live) > 0 {
			victim := live[rng.IntN(len(live))]
			require.NoError(t, e.sim.Vanish(victim))
			live = slices.DeleteFunc(live, func(id string) bool { return id == victim })
		}
		var listed []string
		for page := 1; ; page++ {
			resp, err := describeStatus(c, page, 50)
			require.NoError(t, err)
			require.Equal(t, len(live), resp.TotalCount, "step %d", step)
			if len(resp.InstanceStatuses.InstanceStatus) == 0 {
				break
			}
			for _, st := range resp.InstanceStatuses.InstanceStatus {
				listed = append(listed, st.InstanceId)
			}
		}
		slices.Sort(listed)
		require.Equal(t, live, listed, "step %d", step)
	}
	vanished := 0
	for _, it := range e.sim.Truth().Instances {
		if it.Vanished {
			vanished++
		}
	}
	assert.Greater(t, vanished, 120, "scheduled vanishes happened")
}
