package ecssim_test

import (
	"sync/atomic"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/fleetmend/fleetmend/ecssim"
)

// benchFleetSize is the fleet the simulator must serve without slowing
// down: per-request work depends on the page, not on the fleet.
const benchFleetSize = 100_000

// BenchmarkSDKRequests measures requests per second the simulator serves to
// the real SDK over HTTP on loopback, with one SDK client per goroutine (the
// client is not safe for concurrent use). The figure includes the SDK's own
// cost (signing, reflection, JSON), which is what a fleetmend worker sees.
func BenchmarkSDKRequests(b *testing.B) {
	e := newEnv(b, ecssim.Config{Fleets: []ecssim.FleetSpec{{
		Size: benchFleetSize, Seed: 1, Missing: 0.1, Silent: 0.05, Stopped: 0.02, Outdated: 0.05,
		OSWeights: map[string]float64{ecssim.OSLinux: 0.85, ecssim.OSWindows: 0.12, ecssim.OSFreeBSD: 0.03},
	}}})
	all := e.sim.InstanceIDs(ecssim.DefaultRegion)
	pages := len(all) / 50

	b.Run("DescribeCloudAssistantStatus-50IDs", func(b *testing.B) {
		var next atomic.Int64
		b.SetParallelism(2)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			c := e.client(b)
			for pb.Next() {
				p := int(next.Add(1)) % pages
				batch := all[p*50 : p*50+50]
				r := ecs.CreateDescribeCloudAssistantStatusRequest()
				r.InstanceId = &batch
				resp, err := c.DescribeCloudAssistantStatus(r)
				if err != nil {
					b.Error(err)
					return
				}
				if n := len(resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus); n != 50 {
					b.Errorf("got %d statuses, want 50", n)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})

	b.Run("DescribeInstanceStatus-PageSize50", func(b *testing.B) {
		var next atomic.Int64
		b.SetParallelism(2)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			c := e.client(b)
			for pb.Next() {
				r := ecs.CreateDescribeInstanceStatusRequest()
				r.PageSize = "50"
				r.PageNumber = requests.NewInteger(1 + int(next.Add(1))%pages)
				resp, err := c.DescribeInstanceStatus(r)
				if err != nil {
					b.Error(err)
					return
				}
				if resp.TotalCount != benchFleetSize || len(resp.InstanceStatuses.InstanceStatus) != 50 {
					b.Errorf("TotalCount %d, %d statuses", resp.TotalCount, len(resp.InstanceStatuses.InstanceStatus))
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}
