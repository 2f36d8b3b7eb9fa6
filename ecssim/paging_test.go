package ecssim_test

import (
	"fmt"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

const pagingFleetSize = 1237

func pagingEnv(t *testing.T) *env {
	return newEnv(t, ecssim.Config{Fleets: []ecssim.FleetSpec{{
		Region: ecssim.DefaultRegion, Size: pagingFleetSize, Seed: 42,
		Missing: 0.1, Silent: 0.1, Stopped: 0.05, InstallFails: 0.01, Outdated: 0.05,
		OSWeights: map[string]float64{ecssim.OSLinux: 7, ecssim.OSWindows: 2, ecssim.OSFreeBSD: 1},
	}}})
}

// requireEachOnce asserts got lists exactly want, in the same order.
func requireEachOnce(t *testing.T, want, got []string) {
	t.Helper()
	seen := make(map[string]int, len(got))
	for _, id := range got {
		seen[id]++
	}
	for id, n := range seen {
		require.Equal(t, 1, n, "%s listed %d times", id, n)
	}
	require.Equal(t, want, got)
}

func TestPagingDescribeInstanceStatus(t *testing.T) {
	e := pagingEnv(t)
	want := e.sim.InstanceIDs(ecssim.DefaultRegion)
	require.Len(t, want, pagingFleetSize)
	c := e.client(t)
	for _, size := range []int{50, 7} {
		t.Run(fmt.Sprintf("PageSize %d", size), func(t *testing.T) {
			var got []string
			pages := 0
			for page := 1; ; page++ {
				resp, err := describeStatus(c, page, size)
				require.NoError(t, err)
				require.Equal(t, pagingFleetSize, resp.TotalCount)
				require.Equal(t, page, resp.PageNumber)
				require.Equal(t, size, resp.PageSize)
				if len(resp.InstanceStatuses.InstanceStatus) == 0 {
					break
				}
				pages++
				require.LessOrEqual(t, len(resp.InstanceStatuses.InstanceStatus), size)
				for _, st := range resp.InstanceStatuses.InstanceStatus {
					got = append(got, st.InstanceId)
				}
			}
			require.Equal(t, (pagingFleetSize+size-1)/size, pages)
			requireEachOnce(t, want, got)
		})
	}
}

func TestPagingDescribeCloudAssistantStatusPages(t *testing.T) {
	e := pagingEnv(t)
	want := e.sim.InstanceIDs(ecssim.DefaultRegion)
	c := e.client(t)
	for _, size := range []int{50, 7} {
		t.Run(fmt.Sprintf("PageSize %d", size), func(t *testing.T) {
			var got []string
			for page := 1; ; page++ {
				r := ecs.CreateDescribeCloudAssistantStatusRequest()
				r.PageNumber = requests.NewInteger(page)
				r.PageSize = requests.NewInteger(size)
				resp, err := c.DescribeCloudAssistantStatus(r)
				require.NoError(t, err)
				require.EqualValues(t, pagingFleetSize, resp.TotalCount)
				require.Empty(t, resp.NextToken)
				list := resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus
				if len(list) == 0 {
					break
				}
				for _, st := range list {
					got = append(got, st.InstanceId)
				}
			}
			requireEachOnce(t, want, got)
		})
	}
}

// listByToken pages DescribeCloudAssistantStatus with MaxResults/NextToken,
// calling between(lastListed) after each page but the last.
func listByToken(t *testing.T, c *ecs.Client, maxResults int, osType string, between func(lastListed string)) []string {
	t.Helper()
	var got []string
	token := ""
	for {
		r := ecs.CreateDescribeCloudAssistantStatusRequest()
		r.MaxResults = requests.NewInteger(maxResults)
		r.NextToken = token
		r.OSType = osType
		resp, err := c.DescribeCloudAssistantStatus(r)
		require.NoError(t, err)
		require.Zero(t, resp.TotalCount, "TotalCount is not valid with NextToken paging")
		list := resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus
		require.LessOrEqual(t, len(list), maxResults)
		for _, st := range list {
			got = append(got, st.InstanceId)
		}
		if resp.NextToken == "" {
			require.NotEmpty(t, list, "the last page is not empty: the token ends where the data ends")
			return got
		}
		require.Len(t, list, maxResults, "only the last page may be short")
		token = resp.NextToken
		if between != nil {
			between(got[len(got)-1])
		}
	}
}

func TestPagingDescribeCloudAssistantStatusTokens(t *testing.T) {
	e := pagingEnv(t)
	want := e.sim.InstanceIDs(ecssim.DefaultRegion)
	c := e.client(t)
	for _, size := range []int{50, 7} {
		t.Run(fmt.Sprintf("MaxResults %d", size), func(t *testing.T) {
			requireEachOnce(t, want, listByToken(t, c, size, "", nil))
		})
	}

	t.Run("OSType filter", func(t *testing.T) {
		var wantWindows []string
		for _, id := range want {
			if truthOf(t, e.sim, id).OSType == ecssim.OSWindows {
				wantWindows = append(wantWindows, id)
			}
		}
		require.NotEmpty(t, wantWindows)
		requireEachOnce(t, wantWindows, listByToken(t, c, 50, ecssim.OSWindows, nil))
	})

	t.Run("a token is bound to its filter", func(t *testing.T) {
		r := ecs.CreateDescribeCloudAssistantStatusRequest()
		r.MaxResults = "10"
		resp, err := c.DescribeCloudAssistantStatus(r)
		require.NoError(t, err)
		require.NotEmpty(t, resp.NextToken)
		r = ecs.CreateDescribeCloudAssistantStatusRequest()
		r.NextToken = resp.NextToken
		r.OSType = ecssim.OSLinux
		_, err = c.DescribeCloudAssistantStatus(r)
		requireServerError(t, err, 400, "InvalidParameter.NextToken")
	})
}

// TestPagingWhileInstancesVanish: instances that vanish between pages
// disappear from the rest of the listing, and no surviving instance is
// skipped or repeated: NextToken marks a position, not an offset.
func TestPagingWhileInstancesVanish(t *testing.T) {
	e := pagingEnv(t)
	all := e.sim.InstanceIDs(ecssim.DefaultRegion)
	c := e.client(t)
	index := make(map[string]int, len(all))
	for i, id := range all {
		index[id] = i
	}
	vanishedUnlisted := map[string]bool{}
	vanishedCount, page := 0, 0
	got := listByToken(t, c, 50, "", func(lastListed string) {
		page++
		last := index[lastListed]
		// Vanish one instance already listed and one not yet listed; on
		// even pages also the very instance the NextToken points at.
		victims := []int{last - 3, last + 5}
		if page%2 == 0 {
			victims = append(victims, last+1)
		}
		for _, i := range victims {
			if i >= len(all) || truthOf(t, e.sim, all[i]).Vanished {
				continue
			}
			require.NoError(t, e.sim.Vanish(all[i]))
			vanishedCount++
			if i > last {
				vanishedUnlisted[all[i]] = true
			}
		}
	})
	var want []string
	for _, id := range all {
		if !vanishedUnlisted[id] {
			want = append(want, id)
		}
	}
	requireEachOnce(t, want, got)
	assert.Less(t, len(got), len(all))

	resp, err := describeStatus(c, 1, 10)
	require.NoError(t, err)
	assert.Equal(t, len(all)-vanishedCount, resp.TotalCount)
}
