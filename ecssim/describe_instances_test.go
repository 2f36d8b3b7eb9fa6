package ecssim_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

func instanceIdsJSON(t testing.TB, list ...string) string {
	t.Helper()
	b, err := json.Marshal(list)
	require.NoError(t, err)
	return string(b)
}

func describeInstancesByID(t testing.TB, c *ecs.Client, list ...string) *ecs.DescribeInstancesResponse {
	t.Helper()
	r := ecs.CreateDescribeInstancesRequest()
	r.InstanceIds = instanceIdsJSON(t, list...)
	r.PageSize = requests.NewInteger(100)
	resp, err := c.DescribeInstances(r)
	require.NoError(t, err)
	return resp
}

func instanceIDsOf(resp *ecs.DescribeInstancesResponse) []string {
	var out []string
	for _, in := range resp.Instances.Instance {
		out = append(out, in.InstanceId)
	}
	return out
}

func TestSDKDescribeInstances(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	linux := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true, Zone: "cn-hangzhou-h",
		Tags: map[string]string{"team": "payments", ecssim.DefaultTagKey: "true"}})
	e.clock.Advance(90 * time.Second)
	windows := addInstance(t, e.sim, ecssim.InstanceSpec{OSType: ecssim.OSWindows, State: ecssim.StateStopped})
	freebsd := addInstance(t, e.sim, ecssim.InstanceSpec{OSType: ecssim.OSFreeBSD, ClusterID: "c-1"})
	gone := addInstance(t, e.sim, ecssim.InstanceSpec{})
	require.NoError(t, e.sim.Vanish(gone))
	c := e.client(t)

	resp := describeInstancesByID(t, c, freebsd, "i-nosuchinstance00000", linux, gone, windows)
	assert.NotEmpty(t, resp.RequestId)
	assert.Equal(t, 3, resp.TotalCount, "unknown and vanished IDs are simply absent")
	assert.Equal(t, 1, resp.PageNumber)
	assert.Equal(t, 100, resp.PageSize)
	assert.Empty(t, resp.NextToken)
	require.Equal(t, []string{linux, windows, freebsd}, instanceIDsOf(resp), "creation order, whatever the order asked")

	byID := map[string]ecs.Instance{}
	for _, in := range resp.Instances.Instance {
		byID[in.InstanceId] = in
	}
	l := byID[linux]
	assert.Equal(t, ecssim.DefaultRegion, l.RegionId)
	assert.Equal(t, "cn-hangzhou-h", l.ZoneId)
	assert.Equal(t, "Running", l.Status)
	assert.Equal(t, "linux", l.OSType, "DescribeInstances writes the OS type in lowercase")
	assert.NotEmpty(t, l.OSName)
	assert.Equal(t, "2025-03-01T08:00Z", l.CreationTime)
	assert.Equal(t, "2025-03-01T08:00Z", l.StartTime)
	assert.Equal(t, []ecs.Tag{{TagKey: ecssim.DefaultTagKey, TagValue: "true"}, {TagKey: "team", TagValue: "payments"}},
		l.Tags.Tag, "tags sorted by key")
	assert.Equal(t, "windows", byID[windows].OSType)
	assert.Equal(t, "Stopped", byID[windows].Status)
	assert.Empty(t, byID[windows].StartTime, "a stopped instance has no start time")
	assert.Equal(t, "2025-03-01T08:01Z", byID[windows].CreationTime)
	assert.Empty(t, byID[windows].Tags.Tag)
	assert.Equal(t, "freebsd", byID[freebsd].OSType)
	assert.Equal(t, "c-1", byID[freebsd].ClusterId)

	t.Run("the state follows the lifecycle", func(t *testing.T) {
		require.NoError(t, reboot(c, linux))
		assert.Equal(t, "Stopping", describeInstancesByID(t, c, linux).Instances.Instance[0].Status)
		e.clock.Advance(ecssim.DefaultStopDuration)
		assert.Equal(t, "Starting", describeInstancesByID(t, c, linux).Instances.Instance[0].Status)
	})

	t.Run("an empty array selects nothing", func(t *testing.T) {
		resp := describeInstancesByID(t, c)
		assert.Zero(t, resp.TotalCount)
		assert.Empty(t, resp.Instances.Instance)
	})

	t.Run("the default page is 10, IDs or not", func(t *testing.T) {
		many := make([]string, 12)
		for i := range many {
			many[i] = addInstance(t, e.sim, ecssim.InstanceSpec{})
		}
		r := ecs.CreateDescribeInstancesRequest()
		r.InstanceIds = instanceIdsJSON(t, many...)
		resp, err := c.DescribeInstances(r)
		require.NoError(t, err)
		assert.Equal(t, 12, resp.TotalCount)
		assert.Len(t, resp.Instances.Instance, 10)
	})

	t.Run("another region's instance is absent", func(t *testing.T) {
		e2 := newEnv(t, ecssim.Config{Regions: []string{"cn-hangzhou", "cn-beijing"}})
		there := addInstance(t, e2.sim, ecssim.InstanceSpec{Region: "cn-beijing"})
		assert.Empty(t, describeInstancesByID(t, e2.client(t), there).Instances.Instance)
		assert.Len(t, describeInstancesByID(t, e2.regionClient(t, "cn-beijing"), there).Instances.Instance, 1)
	})
}

func TestSDKDescribeInstancesFilters(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	excludedA := addInstance(t, e.sim, ecssim.InstanceSpec{Zone: "cn-hangzhou-a", Tags: map[string]string{"fleetmend:exclude": "true"}})
	optedBack := addInstance(t, e.sim, ecssim.InstanceSpec{Zone: "cn-hangzhou-a", Tags: map[string]string{"fleetmend:exclude": "false"}})
	excludedB := addInstance(t, e.sim, ecssim.InstanceSpec{Zone: "cn-hangzhou-b",
		Tags: map[string]string{"fleetmend:exclude": "true", "team": "web"}})
	plainB := addInstance(t, e.sim, ecssim.InstanceSpec{Zone: "cn-hangzhou-b", State: ecssim.StateStopped})

	list := func(mod func(r *ecs.DescribeInstancesRequest)) []string {
		t.Helper()
		r := ecs.CreateDescribeInstancesRequest()
		mod(r)
		resp, err := c.DescribeInstances(r)
		require.NoError(t, err)
		return instanceIDsOf(resp)
	}
	tag := func(kv ...string) *[]ecs.DescribeInstancesTag {
		var out []ecs.DescribeInstancesTag
		for i := 0; i < len(kv); i += 2 {
			out = append(out, ecs.DescribeInstancesTag{Key: kv[i], Value: kv[i+1]})
		}
		return &out
	}

	assert.Equal(t, []string{excludedA, optedBack, excludedB, plainB}, list(func(*ecs.DescribeInstancesRequest) {}))
	assert.Equal(t, []string{excludedA, excludedB}, list(func(r *ecs.DescribeInstancesRequest) { r.Tag = tag("fleetmend:exclude", "true") }),
		"the value must match exactly")
	assert.Equal(t, []string{excludedA, optedBack, excludedB}, list(func(r *ecs.DescribeInstancesRequest) { r.Tag = tag("fleetmend:exclude", "") }),
		"a key alone matches any value")
	assert.Empty(t, list(func(r *ecs.DescribeInstancesRequest) { r.Tag = tag("fleetmend:exclude", "TRUE") }), "no case folding")
	assert.Equal(t, []string{excludedB}, list(func(r *ecs.DescribeInstancesRequest) {
		r.Tag = tag("fleetmend:exclude", "true", "team", "web")
	}), "several tags: all must match")
	assert.Equal(t, []string{excludedB, plainB}, list(func(r *ecs.DescribeInstancesRequest) { r.ZoneId = "cn-hangzhou-b" }))
	assert.Equal(t, []string{plainB}, list(func(r *ecs.DescribeInstancesRequest) { r.Status = "Stopped" }))
	assert.Equal(t, []string{excludedA}, list(func(r *ecs.DescribeInstancesRequest) {
		r.ZoneId = "cn-hangzhou-a"
		r.Tag = tag("fleetmend:exclude", "true")
	}))
	assert.Equal(t, []string{excludedB}, list(func(r *ecs.DescribeInstancesRequest) {
		r.InstanceIds = instanceIdsJSON(t, excludedA, excludedB, plainB)
		r.ZoneId = "cn-hangzhou-b"
		r.Tag = tag("fleetmend:exclude", "true")
	}), "filters apply to an ID list too")

	r := ecs.CreateDescribeInstancesRequest()
	r.Tag = tag("fleetmend:exclude", "true")
	r.PageSize = "1"
	r.PageNumber = "2"
	resp, err := c.DescribeInstances(r)
	require.NoError(t, err)
	assert.Equal(t, 2, resp.TotalCount, "TotalCount counts the matches")
	assert.Equal(t, []string{excludedB}, instanceIDsOf(resp))
}

// TestPagingDescribeInstances pages the 1,237-instance fleet by PageSize and
// by NextToken, the latter while instances vanish between pages.
func TestPagingDescribeInstances(t *testing.T) {
	e := pagingEnv(t)
	want := e.sim.InstanceIDs(ecssim.DefaultRegion)
	c := e.client(t)

	t.Run("PageSize 100", func(t *testing.T) {
		var got []string
		for page := 1; ; page++ {
			r := ecs.CreateDescribeInstancesRequest()
			r.PageNumber = requests.NewInteger(page)
			r.PageSize = "100"
			resp, err := c.DescribeInstances(r)
			require.NoError(t, err)
			require.Equal(t, pagingFleetSize, resp.TotalCount)
			if len(resp.Instances.Instance) == 0 {
				break
			}
			got = append(got, instanceIDsOf(resp)...)
		}
		requireEachOnce(t, want, got)
	})

	byToken := func(t *testing.T, maxResults int, mod func(r *ecs.DescribeInstancesRequest), between func(lastListed string)) []string {
		t.Helper()
		var got []string
		token := ""
		for {
			r := ecs.CreateDescribeInstancesRequest()
			r.MaxResults = requests.NewInteger(maxResults)
			r.NextToken = token
			if mod != nil {
				mod(r)
			}
			resp, err := c.DescribeInstances(r)
			require.NoError(t, err)
			require.Zero(t, resp.TotalCount, "TotalCount is not valid with NextToken paging")
			ids := instanceIDsOf(resp)
			got = append(got, ids...)
			if resp.NextToken == "" {
				require.NotEmpty(t, ids, "the token ends where the data ends")
				return got
			}
			require.Len(t, ids, maxResults, "only the last page may be short")
			token = resp.NextToken
			if between != nil {
				between(got[len(got)-1])
			}
		}
	}
	t.Run("MaxResults 100 and 7", func(t *testing.T) {
		requireEachOnce(t, want, byToken(t, 100, nil, nil))
		requireEachOnce(t, want, byToken(t, 7, nil, nil))
	})
	t.Run("NextToken with a Status filter", func(t *testing.T) {
		var running []string
		for _, id := range want {
			if truthOf(t, e.sim, id).State == ecssim.StateRunning {
				running = append(running, id)
			}
		}
		require.Less(t, len(running), len(want))
		requireEachOnce(t, running, byToken(t, 50, func(r *ecs.DescribeInstancesRequest) { r.Status = "Running" }, nil))
	})
	t.Run("a DescribeCloudAssistantStatus token is refused", func(t *testing.T) {
		r := ecs.CreateDescribeCloudAssistantStatusRequest()
		r.MaxResults = "10"
		resp, err := c.DescribeCloudAssistantStatus(r)
		require.NoError(t, err)
		di := ecs.CreateDescribeInstancesRequest()
		di.NextToken = resp.NextToken
		_, err = c.DescribeInstances(di)
		requireServerError(t, err, 400, "InvalidParameter.NextToken")
	})
	t.Run("NextToken while instances vanish", func(t *testing.T) {
		index := make(map[string]int, len(want))
		for i, id := range want {
			index[id] = i
		}
		vanishedUnlisted := map[string]bool{}
		got := byToken(t, 100, nil, func(lastListed string) {
			last := index[lastListed]
			for _, i := range []int{last - 2, last + 1, last + 4} { // behind, at and ahead of the cursor
				if i < len(want) && !truthOf(t, e.sim, want[i]).Vanished {
					require.NoError(t, e.sim.Vanish(want[i]))
					if i > last {
						vanishedUnlisted[want[i]] = true
					}
				}
			}
		})
		var survivors []string
		for _, id := range want {
			if !vanishedUnlisted[id] {
				survivors = append(survivors, id)
			}
		}
		requireEachOnce(t, survivors, got)
	})
}

func TestDescribeInstancesCountsIDs(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	describeInstancesByID(t, c, fakeIDs(42)...)
	assert.Equal(t, ecssim.ActionTruth{Calls: 1, MaxInstanceIDs: 42}, e.sim.Truth().Actions[ecssim.ActionDescribeInstances])
	assert.Contains(t, ecssim.Actions(), ecssim.ActionDescribeInstances)
}
