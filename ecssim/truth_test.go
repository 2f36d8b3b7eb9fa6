package ecssim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

func TestTruthCounters(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	healthy := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true})
	missing := addInstance(t, e.sim, ecssim.InstanceSpec{})
	stopped := addInstance(t, e.sim, ecssim.InstanceSpec{State: ecssim.StateStopped, AgentInstalled: true})
	c := e.client(t)

	require.NoError(t, install(c, healthy, missing))
	requireServerError(t, install(c, healthy, stopped), http.StatusForbidden, "IncorrectInstanceStatus")
	requireServerError(t, install(c, append(fakeIDs(20), missing)...), http.StatusForbidden, "InstanceIds.ExceedLimit")
	require.NoError(t, reboot(c, healthy))
	requireServerError(t, reboot(c, stopped), http.StatusForbidden, "IncorrectInstanceStatus")
	dry := ecs.CreateRebootInstanceRequest()
	dry.InstanceId = missing
	dry.DryRun = requests.NewBoolean(true)
	_, err := c.RebootInstance(dry)
	requireServerError(t, err, http.StatusBadRequest, "DryRunOperation")
	r := ecs.CreateRebootInstancesRequest()
	r.InstanceId = ids(missing, missing) // duplicates count once
	_, err = c.RebootInstances(r)
	require.NoError(t, err)
	_, err = assistantStatus(c, healthy, missing, stopped)
	require.NoError(t, err)

	got := map[string]ecssim.InstanceTruth{}
	for _, id := range []string{healthy, missing, stopped} {
		got[id] = truthOf(t, e.sim, id)
	}
	assert.Equal(t, 1, got[healthy].Installs)
	assert.Equal(t, 1, got[healthy].InstallsWhileHealthy)
	assert.Equal(t, 1, got[healthy].RefusedInstalls)
	assert.Equal(t, 1, got[healthy].Reboots)
	assert.Equal(t, 1, got[healthy].RebootsWhileHealthy)

	assert.Equal(t, 1, got[missing].Installs)
	assert.Zero(t, got[missing].InstallsWhileHealthy)
	assert.Equal(t, 1, got[missing].RefusedInstalls, "named in the 21-ID call")
	assert.Equal(t, 1, got[missing].Reboots)
	assert.Zero(t, got[missing].RebootsWhileHealthy)
	assert.Zero(t, got[missing].RefusedReboots, "a dry run is not a refusal")

	assert.Zero(t, got[stopped].Installs)
	assert.Equal(t, 1, got[stopped].RefusedInstalls)
	assert.Zero(t, got[stopped].Reboots)
	assert.Equal(t, 1, got[stopped].RefusedReboots)

	actions := e.sim.Truth().Actions
	assert.Equal(t, ecssim.ActionTruth{Calls: 3, Errors: 2, MaxInstanceIDs: 21}, actions[ecssim.ActionInstallCloudAssistant])
	assert.Equal(t, ecssim.ActionTruth{Calls: 3, Errors: 2, MaxInstanceIDs: 1}, actions[ecssim.ActionRebootInstance])
	assert.Equal(t, ecssim.ActionTruth{Calls: 1, Errors: 0, MaxInstanceIDs: 2}, actions[ecssim.ActionRebootInstances])
	assert.Equal(t, ecssim.ActionTruth{Calls: 1, Errors: 0, MaxInstanceIDs: 3}, actions[ecssim.ActionDescribeCloudAssistantStatus])
	assert.Equal(t, ecssim.ActionTruth{}, actions[ecssim.ActionDescribeInstanceStatus], "every action is listed")

	e.sim.ResetCounters()
	tr := e.sim.Truth()
	for _, it := range tr.Instances {
		assert.Zero(t, it.Installs+it.Reboots+it.InstallsWhileHealthy+it.RebootsWhileHealthy+it.RefusedInstalls+it.RefusedReboots, it.ID)
	}
	for name, a := range tr.Actions {
		assert.Equal(t, ecssim.ActionTruth{}, a, name)
	}
	assert.True(t, tr.Instances[0].ID < tr.Instances[1].ID && tr.Instances[1].ID < tr.Instances[2].ID, "sorted by ID")
}

func httpJSON(t *testing.T, method, url string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

func TestTruthHTTP(t *testing.T) {
	e := newEnv(t, ecssim.Config{Fleets: []ecssim.FleetSpec{{Size: 5, Seed: 1}}})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true})
	base := e.srv.URL() + "/_sim"

	var truth ecssim.Truth
	require.Equal(t, http.StatusOK, httpJSON(t, http.MethodGet, base+"/truth", &truth))
	assert.Equal(t, e.sim.Truth(), truth, "the HTTP truth is the Go truth")
	assert.Len(t, truth.Instances, 6)

	var one ecssim.InstanceTruth
	require.Equal(t, http.StatusOK, httpJSON(t, http.MethodGet, base+"/truth?instance="+id, &one))
	assert.Equal(t, id, one.ID)
	assert.True(t, one.AgentHealthy)
	assert.Equal(t, http.StatusNotFound, httpJSON(t, http.MethodGet, base+"/truth?instance=i-nope", nil))

	op := func(name string) ecssim.InstanceTruth {
		var it ecssim.InstanceTruth
		require.Equal(t, http.StatusOK, httpJSON(t, http.MethodPost, base+"/instances/"+id+"/"+name, &it), name)
		return it
	}
	it := op("silence")
	assert.True(t, it.AgentInstalled)
	e.clock.Advance(3 * time.Minute)
	assert.False(t, truthOf(t, e.sim, id).AgentHealthy)
	it = op("heal")
	assert.True(t, it.AgentHealthy)
	it = op("remove-agent")
	assert.False(t, it.AgentInstalled)
	assert.Empty(t, it.AgentVersion)
	it = op("stop")
	assert.Equal(t, ecssim.StateStopped, it.State)
	it = op("start")
	assert.Equal(t, ecssim.StateRunning, it.State)
	it = op("vanish")
	assert.True(t, it.Vanished)

	assert.Equal(t, http.StatusConflict, httpJSON(t, http.MethodPost, base+"/instances/"+id+"/heal", nil), "vanished")
	assert.Equal(t, http.StatusNotFound, httpJSON(t, http.MethodPost, base+"/instances/i-nope/heal", nil))
	assert.Equal(t, http.StatusNotFound, httpJSON(t, http.MethodPost, base+"/instances/"+id+"/explode", nil))
	assert.Equal(t, http.StatusNotFound, httpJSON(t, http.MethodGet, base+"/nothing-here", nil))

	var advanced map[string]time.Time
	require.Equal(t, http.StatusOK, httpJSON(t, http.MethodPost, base+"/clock/advance?by=90s", &advanced))
	assert.Equal(t, testStart().Add(3*time.Minute+90*time.Second), advanced["now"])
	assert.Equal(t, http.StatusBadRequest, httpJSON(t, http.MethodPost, base+"/clock/advance?by=later", nil))

	_, err := assistantStatus(e.client(t))
	require.NoError(t, err)
	assert.Equal(t, 1, e.sim.Truth().Actions[ecssim.ActionDescribeCloudAssistantStatus].Calls)
	assert.Equal(t, http.StatusNoContent, httpJSON(t, http.MethodPost, base+"/reset-counters", nil))
	assert.Zero(t, e.sim.Truth().Actions[ecssim.ActionDescribeCloudAssistantStatus].Calls)
}

func TestTruthHTTPClockNeedsManualClock(t *testing.T) {
	clk, err := ecssim.NewScaledClock(testStart(), 60)
	require.NoError(t, err)
	e := newEnv(t, ecssim.Config{Clock: clk})
	assert.Equal(t, http.StatusConflict, httpJSON(t, http.MethodPost, e.srv.URL()+"/_sim/clock/advance?by=1m", nil))
}

func TestGoAPIErrors(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	missing := addInstance(t, e.sim, ecssim.InstanceSpec{})
	require.ErrorIs(t, e.sim.Vanish("i-nope"), ecssim.ErrUnknownInstance)
	require.ErrorIs(t, e.sim.SilenceAgent(missing), ecssim.ErrNoAgent)
	require.Error(t, e.sim.SetState(missing, "Exploded"))
	require.NoError(t, e.sim.Vanish(missing))
	require.ErrorIs(t, e.sim.HealAgent(missing), ecssim.ErrVanished)
	_, err := e.sim.AddInstance(ecssim.InstanceSpec{ID: missing})
	require.Error(t, err, "IDs are unique, vanished ones included")
	_, err = e.sim.AddInstance(ecssim.InstanceSpec{Region: "cn-nowhere"})
	require.Error(t, err)
	_, err = e.sim.AddInstance(ecssim.InstanceSpec{OSType: "Plan9"})
	require.Error(t, err)
	require.Error(t, e.sim.SetFaults(ecssim.Faults{DropRate: 1.5}))
}

// TestScaledClock: with a real (scaled) clock the simulator runs on its
// own; the reboot completes within real time of about 35 s / scale.
func TestScaledClock(t *testing.T) {
	clk, err := ecssim.NewScaledClock(time.Now(), 1000)
	require.NoError(t, err)
	e := newEnv(t, ecssim.Config{Clock: clk})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{})
	c := e.client(t)
	require.NoError(t, install(c, id))
	require.NoError(t, reboot(c, id))
	require.Eventually(t, func() bool {
		return oneStatus(t, c, id).CloudAssistantStatus == "true"
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, ecssim.StateRunning, instanceState(t, c, id))
}

func TestServerAddressesAndShutdown(t *testing.T) {
	sim, err := ecssim.New(ecssim.Config{})
	require.NoError(t, err)
	srv, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	assert.Regexp(t, `^127\.0\.0\.1:\d+$`, srv.Endpoint())
	assert.Equal(t, "http://"+srv.Endpoint(), srv.URL())
	assert.Same(t, sim, srv.Sim())

	require.NoError(t, srv.Shutdown(context.Background()))
	require.NoError(t, srv.Close(), "closing twice is harmless")
	_, err = http.Get(srv.URL() + "/_sim/truth")
	require.Error(t, err, "no longer listening")
}
