package ecssim_test

import (
	"bytes"
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

// scanWindow is what a scan from start to end must have listed and may
// have listed, according to the truth.
type scanWindow struct {
	mustList map[string]bool // existed from before the first call to after the last
	mayList  map[string]bool // existed at some moment of the scan
}

func windowOf(truth ecssim.Truth, start, end time.Time) scanWindow {
	w := scanWindow{mustList: map[string]bool{}, mayList: map[string]bool{}}
	for _, it := range truth.Instances {
		if it.Region != ecssim.DefaultRegion {
			continue
		}
		alive := func(at time.Time) bool {
			return !it.CreatedAt.After(at) && (it.VanishedAt.IsZero() || it.VanishedAt.After(at))
		}
		if alive(start) && (it.VanishedAt.IsZero() || it.VanishedAt.After(end)) {
			w.mustList[it.ID] = true
		}
		if !it.CreatedAt.After(end) && (it.VanishedAt.IsZero() || !it.VanishedAt.Before(start)) {
			w.mayList[it.ID] = true
		}
	}
	return w
}

// scan pages through the region with one of the listings, advancing the
// clock a second before each call so that churn times are distinct.
func scan(t *testing.T, e *env, c *ecs.Client, action string) []string {
	t.Helper()
	var got []string
	token := ""
	for page := 1; ; page++ {
		e.clock.Advance(time.Second)
		var ids []string
		switch action {
		case ecssim.ActionDescribeCloudAssistantStatus:
			r := ecs.CreateDescribeCloudAssistantStatusRequest()
			r.MaxResults = "50"
			r.NextToken = token
			resp, err := c.DescribeCloudAssistantStatus(r)
			require.NoError(t, err)
			for _, s := range resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus {
				ids = append(ids, s.InstanceId)
			}
			token = resp.NextToken
		case ecssim.ActionDescribeInstances:
			r := ecs.CreateDescribeInstancesRequest()
			r.MaxResults = "100"
			r.NextToken = token
			resp, err := c.DescribeInstances(r)
			require.NoError(t, err)
			ids = instanceIDsOf(resp)
			token = resp.NextToken
		case ecssim.ActionDescribeInstanceStatus:
			resp, err := describeStatus(c, page, 50)
			require.NoError(t, err)
			for _, s := range resp.InstanceStatuses.InstanceStatus {
				ids = append(ids, s.InstanceId)
			}
			if len(ids) > 0 {
				token = "more"
			} else {
				token = ""
			}
		}
		got = append(got, ids...)
		if token == "" {
			return got
		}
	}
}

// TestChurnDuringTokenScan: with instances deleted and created before every
// page, a NextToken scan lists every instance that lived through the whole
// scan exactly once, and nothing that never existed during it.
func TestChurnDuringTokenScan(t *testing.T) {
	for _, action := range []string{ecssim.ActionDescribeCloudAssistantStatus, ecssim.ActionDescribeInstances} {
		t.Run(action, func(t *testing.T) {
			e := newEnv(t, ecssim.Config{Fleets: []ecssim.FleetSpec{{Size: 1000, Seed: 8, Missing: 0.1}}})
			c := e.client(t)
			require.NoError(t, e.sim.SetChurn(ecssim.Churn{DeletePerCall: 4, CreatePerCall: 3, Seed: 1}))
			start := e.clock.Now()
			got := scan(t, e, c, action)
			end := e.clock.Now()
			w := windowOf(e.sim.Truth(), start, end)

			seen := map[string]int{}
			for _, id := range got {
				seen[id]++
				assert.Equal(t, 1, seen[id], "%s listed twice", id)
				assert.True(t, w.mayList[id], "%s did not exist during the scan", id)
			}
			for id := range w.mustList {
				assert.Equal(t, 1, seen[id], "%s lived through the scan but was not listed", id)
			}
			assert.Less(t, len(w.mustList), 1000, "instances were deleted during the scan")
			assert.Greater(t, len(w.mayList), 1000, "instances were created during the scan")
			created, deleted := 0, 0
			for _, it := range e.sim.Truth().Instances {
				if it.CreatedAt.After(start) {
					created++
				}
				if !it.VanishedAt.IsZero() {
					deleted++
				}
			}
			calls := e.sim.Truth().Actions[action].Calls
			assert.Equal(t, 3*calls, created, "CreatePerCall per listing call")
			assert.Equal(t, 4*calls, deleted, "DeletePerCall per listing call")
		})
	}
}

// TestChurnBreaksPageNumbers: the same churn makes a PageNumber scan skip
// instances that lived through it, which is why fleetmend scans by token.
func TestChurnBreaksPageNumbers(t *testing.T) {
	e := newEnv(t, ecssim.Config{Fleets: []ecssim.FleetSpec{{Size: 1000, Seed: 8}}})
	c := e.client(t)
	require.NoError(t, e.sim.SetChurn(ecssim.Churn{DeletePerCall: 4, Seed: 1}))
	start := e.clock.Now()
	got := scan(t, e, c, ecssim.ActionDescribeInstanceStatus)
	w := windowOf(e.sim.Truth(), start, e.clock.Now())
	seen := map[string]bool{}
	for _, id := range got {
		seen[id] = true
	}
	skipped := 0
	for id := range w.mustList {
		if !seen[id] {
			skipped++
		}
	}
	assert.Positive(t, skipped, "deleting behind the page cursor shifts later pages")
}

func TestChurnOnlyListingsOfItsRegionAndActions(t *testing.T) {
	e := newEnv(t, ecssim.Config{Regions: []string{"cn-hangzhou", "cn-beijing"},
		Fleets: []ecssim.FleetSpec{{Size: 20, Seed: 1}, {Region: "cn-beijing", Size: 20, Seed: 2}}})
	c := e.client(t)
	ids := e.sim.InstanceIDs("cn-hangzhou")
	count := func() int { return len(e.sim.InstanceIDs("cn-hangzhou")) }
	require.NoError(t, e.sim.SetChurn(ecssim.Churn{DeletePerCall: 1, Actions: []string{ecssim.ActionDescribeInstances}}))

	_, err := describeStatus(c, 1, 10)
	require.NoError(t, err)
	assert.Equal(t, 20, count(), "DescribeInstanceStatus is not among Actions")
	describeInstancesByID(t, c, ids[:3]...)
	assert.Equal(t, 20, count(), "a by-ID call is not a listing")
	_, err = e.regionClient(t, "cn-beijing").DescribeInstances(ecs.CreateDescribeInstancesRequest())
	require.NoError(t, err)
	assert.Equal(t, 20, count(), "another region's listing")
	assert.Len(t, e.sim.InstanceIDs("cn-beijing"), 20, "and the other region does not churn")
	_, err = c.DescribeInstances(ecs.CreateDescribeInstancesRequest())
	require.NoError(t, err)
	assert.Equal(t, 19, count())

	require.NoError(t, e.sim.SetChurn(ecssim.Churn{}))
	_, err = c.DescribeInstances(ecs.CreateDescribeInstancesRequest())
	require.NoError(t, err)
	assert.Equal(t, 19, count(), "Churn{} stops it")

	// Deleting more than there is empties the region and stops.
	require.NoError(t, e.sim.SetChurn(ecssim.Churn{DeletePerCall: 1000}))
	r := ecs.CreateDescribeInstancesRequest()
	r.MaxResults = requests.NewInteger(10)
	resp, err := c.DescribeInstances(r)
	require.NoError(t, err)
	assert.Empty(t, resp.Instances.Instance)
	assert.Zero(t, count())
}

func TestChurnCreatesHealthyAndMissing(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	require.NoError(t, e.sim.SetChurn(ecssim.Churn{CreatePerCall: 10, Missing: 0.3, Zones: []string{"cn-hangzhou-j"}, Seed: 4}))
	e.clock.Advance(time.Minute)
	all, err := assistantStatus(c)
	require.NoError(t, err)
	require.EqualValues(t, 10, all.TotalCount, "the instances created before the call are in its answer")
	healthy := 0
	for _, it := range e.sim.Truth().Instances {
		assert.Equal(t, e.clock.Now(), it.CreatedAt)
		assert.Equal(t, e.clock.Now(), it.BootedAt)
		assert.Equal(t, ecssim.StateRunning, it.State)
		assert.Equal(t, "cn-hangzhou-j", it.Zone)
		if it.AgentHealthy {
			healthy++
			assert.Equal(t, ecssim.ProblemHealthy, it.InitialProblem)
		} else {
			assert.False(t, it.AgentInstalled)
			assert.Equal(t, ecssim.ProblemMissing, it.InitialProblem)
		}
	}
	assert.Equal(t, 7, healthy, "exactly 30% of the created instances miss their agent")

	// The same seed creates the same IDs.
	first := e.sim.InstanceIDs(ecssim.DefaultRegion)
	e2 := newEnv(t, ecssim.Config{})
	require.NoError(t, e2.sim.SetChurn(ecssim.Churn{CreatePerCall: 10, Missing: 0.3, Zones: []string{"cn-hangzhou-j"}, Seed: 4}))
	_, err = assistantStatus(e2.client(t))
	require.NoError(t, err)
	assert.Equal(t, first, e2.sim.InstanceIDs(ecssim.DefaultRegion))
}

func TestChurnValidationAndHTTP(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	for name, bad := range map[string]ecssim.Churn{
		"unknown region":   {Region: "cn-nowhere", DeletePerCall: 1},
		"negative deletes": {DeletePerCall: -1},
		"negative creates": {CreatePerCall: -1},
		"missing above 1":  {CreatePerCall: 1, Missing: 1.5},
		"not a listing":    {DeletePerCall: 1, Actions: []string{ecssim.ActionRebootInstances}},
		"empty zone":       {CreatePerCall: 1, Zones: []string{""}},
	} {
		assert.Error(t, e.sim.SetChurn(bad), name)
	}

	put := func(body string) (int, ecssim.Churn) {
		req, err := http.NewRequest(http.MethodPut, e.srv.URL()+"/_sim/churn", bytes.NewBufferString(body))
		require.NoError(t, err)
		var got ecssim.Churn
		status := doJSON(t, req, &got)
		return status, got
	}
	status, got := put(`{"delete_per_call":2,"create_per_call":1,"missing":0.5,"seed":3}`)
	require.Equal(t, http.StatusOK, status)
	want := ecssim.Churn{Region: ecssim.DefaultRegion, DeletePerCall: 2, CreatePerCall: 1, Missing: 0.5,
		Zones: []string{"cn-hangzhou-a", "cn-hangzhou-b"}, Seed: 3,
		Actions: []string{ecssim.ActionDescribeCloudAssistantStatus, ecssim.ActionDescribeInstanceStatus, ecssim.ActionDescribeInstances}}
	assert.Equal(t, want, got, "the answer shows the defaults")
	var read ecssim.Churn
	require.Equal(t, http.StatusOK, httpJSON(t, http.MethodGet, e.srv.URL()+"/_sim/churn", &read))
	assert.Equal(t, want, read)
	assert.Equal(t, want, e.sim.Churn())

	status, _ = put(`{"delete_per_call":-1}`)
	assert.Equal(t, http.StatusBadRequest, status)
	status, _ = put(`{"delete_per_cal":1}`)
	assert.Equal(t, http.StatusBadRequest, status, "a misspelt field is refused, not ignored")
	assert.Equal(t, want, e.sim.Churn(), "refused updates change nothing")
}

// doJSON sends req and decodes a 200 answer into out.
func doJSON(t *testing.T, req *http.Request, out any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}
