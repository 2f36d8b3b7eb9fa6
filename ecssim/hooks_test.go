package ecssim_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// TestHookHealsRightBeforeAFailedInstall is the race of the brief: the
// agent recovers just before an install call, which fails once; the
// caller's retry then installs on a healthy agent, which the truth shows.
func TestHookHealsRightBeforeAFailedInstall(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	x := addInstance(t, e.sim, ecssim.InstanceSpec{})
	require.NoError(t, e.sim.AddHook(ecssim.Hook{Action: ecssim.ActionInstallCloudAssistant, InstanceID: x, Times: 1,
		HealAgent: true, FailCode: "ServiceUnavailable"}))

	requireServerError(t, install(c, x), http.StatusServiceUnavailable, "ServiceUnavailable")
	it := truthOf(t, e.sim, x)
	assert.True(t, it.AgentHealthy, "healed before the call was answered")
	assert.Zero(t, it.Installs, "the failed call did nothing")
	assert.Zero(t, it.RefusedInstalls, "an injected failure is not the instance's refusal")
	assert.Empty(t, e.sim.Hooks(), "spent")
	tr := e.sim.Truth().Actions[ecssim.ActionInstallCloudAssistant]
	assert.Equal(t, 1, tr.Calls)
	assert.Equal(t, 1, tr.Errors)

	require.NoError(t, install(c, x), "the retry goes through")
	it = truthOf(t, e.sim, x)
	assert.Equal(t, 1, it.Installs)
	assert.Equal(t, 1, it.InstallsWhileHealthy, "a caller that does not re-check installs on a healthy agent")
}

func TestHookStopsBeforeReboot(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	x := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true})
	y := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true})
	require.NoError(t, e.sim.AddHook(ecssim.Hook{Action: ecssim.ActionRebootInstances, InstanceID: x, StopInstance: true}))
	assert.Equal(t, []ecssim.Hook{{Action: ecssim.ActionRebootInstances, InstanceID: x, Times: 1, StopInstance: true}},
		e.sim.Hooks(), "Times 0 means once")

	r := ecs.CreateRebootInstancesRequest()
	r.InstanceId = ids(x, y)
	r.BatchOptimization = "SuccessFirst"
	resp, err := c.RebootInstances(r)
	require.NoError(t, err)
	codes := map[string]string{}
	for _, ir := range resp.InstanceResponses.InstanceResponse {
		codes[ir.InstanceId] = ir.Code
	}
	assert.Equal(t, map[string]string{x: "IncorrectInstanceStatus", y: "200"}, codes,
		"x was stopped between the decision and the call")
	assert.Equal(t, ecssim.StateStopped, truthOf(t, e.sim, x).State)
	assert.Zero(t, truthOf(t, e.sim, x).Reboots)
	assert.Equal(t, 1, truthOf(t, e.sim, y).Reboots)
}

func TestHookMatching(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	x := addInstance(t, e.sim, ecssim.InstanceSpec{})
	other := addInstance(t, e.sim, ecssim.InstanceSpec{})
	fail := func(action string, times int) {
		t.Helper()
		require.NoError(t, e.sim.AddHook(ecssim.Hook{Action: action, InstanceID: x, Times: times, FailCode: "Throttling.User"}))
	}

	fail(ecssim.ActionDescribeInstances, 2)
	describeInstancesByID(t, c, other) // another instance: no fire
	_, err := describeStatus(c, 1, 10) // another action: no fire
	require.NoError(t, err)
	for range 2 {
		r := ecs.CreateDescribeInstancesRequest()
		r.InstanceIds = instanceIdsJSON(t, other, x)
		_, err := c.DescribeInstances(r)
		requireServerError(t, err, 400, "Throttling.User")
	}
	describeInstancesByID(t, c, x) // Times spent
	assert.Empty(t, e.sim.Hooks())

	fail(ecssim.ActionRebootInstance, 1)
	bad := newClient(t, e.srv.Endpoint(), ecssim.DefaultRegion,
		credentials.NewStaticAKCredentialsProvider(ecssim.DefaultAccessKeyID, "wrong-secret"))
	requireServerError(t, reboot(bad, x), 400, "SignatureDoesNotMatch")
	assert.Len(t, e.sim.Hooks(), 1, "a request refused at the gateway never reaches the hook")
	requireServerError(t, reboot(c, x), 400, "Throttling.User")
	assert.Zero(t, truthOf(t, e.sim, x).Reboots)

	fail(ecssim.ActionDescribeCloudAssistantStatus, 1)
	_, err = assistantStatus(c) // a listing names nobody
	require.NoError(t, err)
	_, err = assistantStatus(c, x)
	requireServerError(t, err, 400, "Throttling.User")

	// Several hooks on one request all fire, in order; the first FailCode answers.
	require.NoError(t, e.sim.AddHook(ecssim.Hook{Action: ecssim.ActionInstallCloudAssistant, InstanceID: x, HealAgent: true}))
	require.NoError(t, e.sim.AddHook(ecssim.Hook{Action: ecssim.ActionInstallCloudAssistant, InstanceID: other, FailCode: "OperationConflict"}))
	require.NoError(t, e.sim.AddHook(ecssim.Hook{Action: ecssim.ActionInstallCloudAssistant, InstanceID: x, FailCode: "InternalError"}))
	requireServerError(t, install(c, x, other), 409, "OperationConflict")
	assert.True(t, truthOf(t, e.sim, x).AgentHealthy)
	assert.Empty(t, e.sim.Hooks())

	// A hook on a vanished instance still answers its FailCode.
	require.NoError(t, e.sim.AddHook(ecssim.Hook{Action: ecssim.ActionRebootInstance, InstanceID: other, HealAgent: true,
		FailCode: "ServiceUnavailable"}))
	require.NoError(t, e.sim.Vanish(other))
	requireServerError(t, reboot(c, other), 503, "ServiceUnavailable")
}

func TestHooksValidationAndHTTP(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	for name, bad := range map[string]ecssim.Hook{
		"unknown action": {Action: "ReleaseEverything", InstanceID: "i-x", HealAgent: true},
		"no instance":    {Action: ecssim.ActionRebootInstance, HealAgent: true},
		"negative times": {Action: ecssim.ActionRebootInstance, InstanceID: "i-x", Times: -1, HealAgent: true},
		"unknown code":   {Action: ecssim.ActionRebootInstance, InstanceID: "i-x", FailCode: "Teapot"},
		"does nothing":   {Action: ecssim.ActionRebootInstance, InstanceID: "i-x"},
	} {
		assert.Error(t, e.sim.AddHook(bad), name)
	}
	assert.Empty(t, e.sim.Hooks())

	base := e.srv.URL() + "/_sim/hooks"
	post := func(body string) (int, []ecssim.Hook) {
		req, err := http.NewRequest(http.MethodPost, base, bytes.NewBufferString(body))
		require.NoError(t, err)
		var got []ecssim.Hook
		return doJSON(t, req, &got), got
	}
	var list []ecssim.Hook
	require.Equal(t, http.StatusOK, httpJSON(t, http.MethodGet, base, &list))
	assert.Empty(t, list)
	status, got := post(`{"action":"InstallCloudAssistant","instance_id":"i-x","times":2,"heal_agent":true,"fail_code":"ServiceUnavailable"}`)
	require.Equal(t, http.StatusOK, status)
	want := []ecssim.Hook{{Action: "InstallCloudAssistant", InstanceID: "i-x", Times: 2, HealAgent: true, FailCode: "ServiceUnavailable"}}
	assert.Equal(t, want, got)
	assert.Equal(t, want, e.sim.Hooks())
	status, _ = post(`{"action":"RebootInstance","instance_id":"i-x","stop_instance":true,"fail_code":"Nope"}`)
	assert.Equal(t, http.StatusBadRequest, status)
	status, _ = post(`{"action":"RebootInstance","instance":"i-x","stop_instance":true}`)
	assert.Equal(t, http.StatusBadRequest, status, "a misspelt field is refused")
	assert.Equal(t, want, e.sim.Hooks())

	assert.Equal(t, http.StatusNoContent, httpJSON(t, http.MethodDelete, base, nil))
	assert.Empty(t, e.sim.Hooks())
}
