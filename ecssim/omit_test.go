package ecssim_test

import (
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// answeredByID asks each of the three by-ID calls about list and returns
// the IDs each one answered for, keyed by action.
func answeredByID(t *testing.T, c *ecs.Client, list []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}

	// Its pages hold 50 at most, ID list or not: one request per page.
	for from := 0; from < len(list); from += 50 {
		chunk := list[from:min(len(list), from+50)]
		st := ecs.CreateDescribeInstanceStatusRequest()
		st.InstanceId = &chunk
		st.PageSize = "50"
		stResp, err := c.DescribeInstanceStatus(st)
		require.NoError(t, err, "an omission is not an error")
		for _, s := range stResp.InstanceStatuses.InstanceStatus {
			out[ecssim.ActionDescribeInstanceStatus] = append(out[ecssim.ActionDescribeInstanceStatus], s.InstanceId)
		}
	}

	ca, err := assistantStatus(c, list...)
	require.NoError(t, err)
	for _, s := range ca.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus {
		out[ecssim.ActionDescribeCloudAssistantStatus] = append(out[ecssim.ActionDescribeCloudAssistantStatus], s.InstanceId)
	}

	out[ecssim.ActionDescribeInstances] = instanceIDsOf(describeInstancesByID(t, c, list...))
	return out
}

func TestOmitIDs(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	a := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true})
	b := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true})
	x := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true})

	require.NoError(t, e.sim.SetFaults(ecssim.Faults{OmitIDs: []string{b}}))
	for action, got := range answeredByID(t, c, []string{a, b, x}) {
		assert.Equal(t, []string{a, x}, got, "%s leaves the omitted instance out", action)
	}

	// Listings are not by-ID requests: the instance is there.
	resp, err := describeStatus(c, 1, 50)
	require.NoError(t, err)
	assert.Len(t, resp.InstanceStatuses.InstanceStatus, 3)
	all, err := assistantStatus(c)
	require.NoError(t, err)
	assert.Len(t, all.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus, 3)

	// An omission never hides an error: one unknown ID still fails the call.
	require.NoError(t, e.sim.SetFaults(ecssim.Faults{OmitIDs: []string{"i-nosuchinstance00000"}}))
	_, err = assistantStatus(c, a, "i-nosuchinstance00000")
	requireServerError(t, err, 404, "InvalidInstance.NotFound")

	// Actions restricts the omissions like the other faults.
	require.NoError(t, e.sim.SetFaults(ecssim.Faults{OmitIDs: []string{b}, Actions: []string{ecssim.ActionDescribeInstances}}))
	got := answeredByID(t, c, []string{a, b, x})
	assert.Equal(t, []string{a, x}, got[ecssim.ActionDescribeInstances])
	assert.Equal(t, []string{a, b, x}, got[ecssim.ActionDescribeInstanceStatus])
	assert.Equal(t, []string{a, b, x}, got[ecssim.ActionDescribeCloudAssistantStatus])

	// Omitted instances do not count in TotalCount either: the answer is
	// consistent with itself.
	require.NoError(t, e.sim.SetFaults(ecssim.Faults{OmitIDs: []string{a}}))
	st := ecs.CreateDescribeInstanceStatusRequest()
	st.InstanceId = &[]string{a, b, x}
	st.PageSize = requests.NewInteger(1)
	stResp, err := c.DescribeInstanceStatus(st)
	require.NoError(t, err)
	assert.Equal(t, 2, stResp.TotalCount)
	assert.Equal(t, b, stResp.InstanceStatuses.InstanceStatus[0].InstanceId)
}

func TestOmitRate(t *testing.T) {
	e := newEnv(t, ecssim.Config{Fleets: []ecssim.FleetSpec{{Size: 100, Seed: 3}}})
	c := e.client(t)
	all := e.sim.InstanceIDs(ecssim.DefaultRegion)

	run := func() map[string][]string {
		require.NoError(t, e.sim.SetFaults(ecssim.Faults{OmitRate: 0.3, Seed: 11}))
		return answeredByID(t, c, all)
	}
	first := run()
	for action, got := range first {
		missing := len(all) - len(got)
		assert.InDelta(t, 30, missing, 15, "%s: about 30%% left out, got %d", action, missing)
		assert.Subset(t, all, got, "%s answers only for instances it was asked about", action)
	}
	assert.NotEqual(t, first[ecssim.ActionDescribeInstances], first[ecssim.ActionDescribeInstanceStatus],
		"each request draws its own omissions")
	assert.Equal(t, first, run(), "the same seed leaves out the same instances")

	require.NoError(t, e.sim.SetFaults(ecssim.Faults{OmitRate: 1}))
	for action, got := range answeredByID(t, c, all[:5]) {
		assert.Empty(t, got, action)
	}
	require.NoError(t, e.sim.SetFaults(ecssim.Faults{}))
	for action, got := range answeredByID(t, c, all[:5]) {
		assert.Equal(t, all[:5], got, action)
	}
}

func TestOmitFaultsHTTP(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	got := putFaults(t, e, `{"omit_rate":0.25,"omit_ids":["i-a","i-b"],"actions":["DescribeInstances"]}`)
	want := ecssim.Faults{OmitRate: 0.25, OmitIDs: []string{"i-a", "i-b"}, Actions: []string{"DescribeInstances"}}
	assert.Equal(t, want, got)
	assert.Equal(t, want, e.sim.Faults())
	require.Error(t, e.sim.SetFaults(ecssim.Faults{OmitRate: 1.5}))
	require.Error(t, e.sim.SetFaults(ecssim.Faults{OmitIDs: []string{""}}))
}
