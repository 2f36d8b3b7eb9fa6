package ecssim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// TestManagedShareKeepsTheRestOfTheFleet: a spec that gains a Managed
// share keeps every other instance's ID and problem; the managed ones are
// exactly round(share × size), made from the IDs healthy instances had,
// without a zone, a fifth of them offline.
func TestManagedShareKeepsTheRestOfTheFleet(t *testing.T) {
	clock := ecssim.NewManualClock(testStart())
	base := ecssim.FleetSpec{Region: ecssim.DefaultRegion, Size: 1000, Seed: 4, Missing: 0.1, Silent: 0.05, Stopped: 0.02,
		OSWeights: map[string]float64{ecssim.OSLinux: 0.8, ecssim.OSWindows: 0.2}}
	with := base
	with.Managed = 0.05
	before := newFleetSim(t, clock, base).Truth()
	after := newFleetSim(t, clock, with).Truth()
	require.Len(t, after.Instances, 1000)

	was := map[string]ecssim.InstanceTruth{}
	for _, it := range before.Instances {
		was[it.ID] = it
	}
	managed, offline := 0, 0
	for _, it := range after.Instances {
		if !it.Managed {
			old, ok := was[it.ID]
			require.True(t, ok, "%s is new", it.ID)
			require.Equal(t, old.InitialProblem, it.InitialProblem, it.ID)
			require.Equal(t, old.LastHeartbeat, it.LastHeartbeat, it.ID)
			require.NotEqual(t, ecssim.ProblemManaged, it.InitialProblem)
			continue
		}
		managed++
		require.Regexp(t, `^mi-bp[a-z0-9]{18}$`, it.ID)
		old, ok := was["i-"+strings.TrimPrefix(it.ID, "mi-")]
		require.True(t, ok, "%s is not made from an ID of the fleet", it.ID)
		require.Equal(t, ecssim.ProblemHealthy, old.InitialProblem, "a managed instance takes a healthy one's place")
		require.Equal(t, ecssim.ProblemManaged, it.InitialProblem)
		require.Empty(t, it.Zone)
		require.Equal(t, ecssim.StateRunning, it.State)
		require.True(t, it.AgentInstalled)
		require.Equal(t, ecssim.DefaultAgentVersion, it.AgentVersion)
		if !it.AgentHealthy {
			offline++
			require.Greater(t, after.Now.Sub(it.LastHeartbeat), 2*time.Minute)
		}
	}
	require.Equal(t, 50, managed)
	require.Equal(t, 10, offline, "ManagedOfflineShare of them")

	sim := newFleetSim(t, clock, with)
	require.Len(t, sim.InstanceIDs(ecssim.DefaultRegion), 950, "the ECS listing leaves managed instances out")
	require.Len(t, sim.ManagedInstanceIDs(ecssim.DefaultRegion), 50)
}

// TestManagedInstancesAreListedButUnknownToECS: DescribeCloudAssistantStatus
// lists managed instances (in its listings, by OS type too, and by
// InstanceId.N) with the documented fields; every ECS action answers their
// IDs as it answers any unknown ID, and the truth counts what named them.
func TestManagedInstancesAreListedButUnknownToECS(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	ecsID := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true})
	mi := addInstance(t, e.sim, ecssim.InstanceSpec{Managed: true, AgentInstalled: true, OSType: ecssim.OSWindows})
	off := addInstance(t, e.sim, ecssim.InstanceSpec{Managed: true, AgentInstalled: true, AgentSilent: true, LastHeartbeat: testStart().Add(-time.Hour)})
	require.True(t, strings.HasPrefix(mi, "mi-"), mi)
	c := e.client(t)

	// Listings: every instance, managed ones in creation order with the rest.
	listed := func(osType string) []string {
		var ids []string
		token := ""
		for {
			r := ecs.CreateDescribeCloudAssistantStatusRequest()
			r.MaxResults = requests.NewInteger(1)
			r.NextToken = token
			r.OSType = osType
			resp, err := c.DescribeCloudAssistantStatus(r)
			require.NoError(t, err)
			for _, s := range resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus {
				ids = append(ids, s.InstanceId)
			}
			if token = resp.NextToken; token == "" {
				return ids
			}
		}
	}
	require.Equal(t, []string{ecsID, mi, off}, listed(""))
	require.Equal(t, []string{mi}, listed(ecssim.OSWindows))
	resp, err := assistantStatus(c)
	require.NoError(t, err)
	require.EqualValues(t, 3, resp.TotalCount, "page-number paging lists them too")

	// By InstanceId.N: the documented shape.
	s := oneStatus(t, c, mi)
	require.Equal(t, "true", s.CloudAssistantStatus)
	require.Equal(t, ecssim.DefaultAgentVersion, s.CloudAssistantVersion)
	require.Equal(t, ecssim.OSWindows, s.OSType)
	require.True(t, s.SupportSessionManager)
	require.Equal(t, testStart().Format("2006-01-02T15:04:05Z"), s.LastHeartbeatTime)
	s = oneStatus(t, c, off)
	require.Equal(t, "false", s.CloudAssistantStatus)
	require.Empty(t, s.CloudAssistantVersion, "documented: empty when the agent is not running")
	require.Equal(t, testStart().Add(-time.Hour).Format("2006-01-02T15:04:05Z"), s.LastHeartbeatTime)

	// DescribeInstances and DescribeInstanceStatus: absent, as unknown IDs are.
	di := ecs.CreateDescribeInstancesRequest()
	di.InstanceIds = `["` + ecsID + `","` + mi + `","` + off + `"]`
	dresp, err := c.DescribeInstances(di)
	require.NoError(t, err)
	require.Len(t, dresp.Instances.Instance, 1)
	require.Equal(t, ecsID, dresp.Instances.Instance[0].InstanceId)
	dresp, err = c.DescribeInstances(ecs.CreateDescribeInstancesRequest())
	require.NoError(t, err)
	require.Equal(t, 1, dresp.TotalCount, "the listing has ECS instances only")
	st := ecs.CreateDescribeInstanceStatusRequest()
	st.InstanceId = &[]string{mi, ecsID}
	sresp, err := c.DescribeInstanceStatus(st)
	require.NoError(t, err)
	require.Len(t, sresp.InstanceStatuses.InstanceStatus, 1)
	sresp, err = describeStatus(c, 1, 50)
	require.NoError(t, err)
	require.Equal(t, 1, sresp.TotalCount)

	// Install and reboot: not found, counted as refusals of the managed instance.
	requireServerError(t, install(c, ecsID, mi), 404, "InvalidInstance.NotFound")
	requireServerError(t, reboot(c, mi), 404, "InvalidInstanceId.NotFound")
	rb := ecs.CreateRebootInstancesRequest()
	rb.InstanceId = &[]string{mi}
	rb.BatchOptimization = "SuccessFirst"
	rresp, err := c.RebootInstances(rb)
	require.NoError(t, err)
	require.Len(t, rresp.InstanceResponses.InstanceResponse, 1)
	require.Equal(t, "InvalidInstanceId.NotFound", rresp.InstanceResponses.InstanceResponse[0].Code)

	tr := truthOf(t, e.sim, mi)
	require.True(t, tr.Managed)
	require.Zero(t, tr.Installs)
	require.Zero(t, tr.Reboots)
	require.Equal(t, 1, tr.RefusedInstalls)
	require.Equal(t, 2, tr.RefusedReboots)
	require.Equal(t, 2, tr.Described, "one DescribeInstances and one DescribeInstanceStatus named it")
	require.Equal(t, 2, truthOf(t, e.sim, ecsID).Described)
	require.Zero(t, truthOf(t, e.sim, ecsID).Installs, "the call failed as a whole")
	require.Equal(t, 1, truthOf(t, e.sim, off).Described, "the DescribeInstances call named it")
}

func TestAddManagedInstanceRefusesWhatECSWouldKnow(t *testing.T) {
	sim, err := ecssim.New(ecssim.Config{})
	require.NoError(t, err)
	for _, tc := range []struct {
		spec ecssim.InstanceSpec
		want string
	}{
		{ecssim.InstanceSpec{Managed: true, Zone: "cn-hangzhou-a"}, "no zone, no cluster, state Running"},
		{ecssim.InstanceSpec{Managed: true, State: ecssim.StateStopped}, "no zone, no cluster, state Running"},
		{ecssim.InstanceSpec{Managed: true, ID: "i-bp1aaaaaaaaaaaaaaaaa"}, `managed instances, and only they, have IDs starting with "mi-"`},
		{ecssim.InstanceSpec{ID: "mi-bp1aaaaaaaaaaaaaaaaa"}, `managed instances, and only they, have IDs starting with "mi-"`},
	} {
		_, err := sim.AddInstance(tc.spec)
		require.ErrorContains(t, err, tc.want, "%+v", tc.spec)
	}
	id, err := sim.AddInstance(ecssim.InstanceSpec{Managed: true, ID: "mi-hz018jrc1o0aaaa"})
	require.NoError(t, err)
	require.Equal(t, ecssim.ProblemManaged, truthOf(t, sim, id).InitialProblem)
}
