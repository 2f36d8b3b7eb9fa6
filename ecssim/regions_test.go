package ecssim_test

import (
	"net/http"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// TestDescribeRegionsWithTheV1SDK: the unmodified V1 SDK reads the
// simulated regions from DescribeRegions, in the order configured, with
// local names in the language asked for; a RegionId that does not exist is
// refused like on every other action.
func TestDescribeRegionsWithTheV1SDK(t *testing.T) {
	e := newEnv(t, ecssim.Config{Regions: []string{"cn-hangzhou", "cn-shanghai", "xx-test-1"}})
	resp, err := e.client(t).DescribeRegions(ecs.CreateDescribeRegionsRequest())
	require.NoError(t, err)
	require.NotEmpty(t, resp.RequestId)
	require.Equal(t, []ecs.Region{
		{RegionId: "cn-hangzhou", LocalName: "华东1（杭州）", RegionEndpoint: "ecs.cn-hangzhou.aliyuncs.com", Status: "available"},
		{RegionId: "cn-shanghai", LocalName: "华东2（上海）", RegionEndpoint: "ecs.cn-shanghai.aliyuncs.com", Status: "available"},
		{RegionId: "xx-test-1", LocalName: "xx-test-1", RegionEndpoint: "ecs.xx-test-1.aliyuncs.com", Status: "available"},
	}, resp.Regions.Region)

	r := ecs.CreateDescribeRegionsRequest()
	r.AcceptLanguage = "en-US"
	resp, err = e.regionClient(t, "cn-shanghai").DescribeRegions(r)
	require.NoError(t, err)
	require.Equal(t, "China (Hangzhou)", resp.Regions.Region[0].LocalName)

	_, err = e.regionClient(t, "xx-nowhere-1").DescribeRegions(ecs.CreateDescribeRegionsRequest())
	requireServerError(t, err, http.StatusNotFound, "InvalidRegionId.NotFound")
	require.Equal(t, 3, e.sim.Truth().Actions[ecssim.ActionDescribeRegions].Calls)
}

// TestForbiddenRegions: a key refused in one region (a RAM policy naming
// only the others) gets 403 Forbidden.RAM for every call there, and is
// answered everywhere else, DescribeRegions included.
func TestForbiddenRegions(t *testing.T) {
	e := newEnv(t, ecssim.Config{
		Regions: []string{"cn-hangzhou", "cn-shenzhen"},
		Fleets:  []ecssim.FleetSpec{{Region: "cn-hangzhou", Size: 3}, {Region: "cn-shenzhen", Size: 3}},
		Credentials: map[string]ecssim.Credential{
			ecssim.DefaultAccessKeyID: {Secret: ecssim.DefaultAccessKeySecret, ForbiddenRegions: []string{"cn-shenzhen"}},
		},
	})
	_, err := e.regionClient(t, "cn-shenzhen").DescribeInstanceStatus(ecs.CreateDescribeInstanceStatusRequest())
	requireServerError(t, err, http.StatusForbidden, "Forbidden.RAM")
	r := ecs.CreateRebootInstanceRequest()
	r.InstanceId = e.sim.InstanceIDs("cn-shenzhen")[0]
	_, err = e.regionClient(t, "cn-shenzhen").RebootInstance(r)
	requireServerError(t, err, http.StatusForbidden, "Forbidden.RAM")
	require.Zero(t, e.sim.Truth().Instances[0].Reboots+e.sim.Truth().Instances[3].Reboots)

	resp, err := e.client(t).DescribeInstanceStatus(ecs.CreateDescribeInstanceStatusRequest())
	require.NoError(t, err)
	require.Len(t, resp.InstanceStatuses.InstanceStatus, 3)
	regions, err := e.client(t).DescribeRegions(ecs.CreateDescribeRegionsRequest())
	require.NoError(t, err)
	require.Len(t, regions.Regions.Region, 2, "the refused region is still one of the account's")

	_, err = ecssim.New(ecssim.Config{Credentials: map[string]ecssim.Credential{
		"k": {Secret: "s", ForbiddenRegions: []string{"cn-nowhere"}},
	}})
	require.ErrorContains(t, err, `ForbiddenRegions names "cn-nowhere", which is not in Regions`)
}
