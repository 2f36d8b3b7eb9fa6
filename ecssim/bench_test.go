package ecssim_test

import (
	"sync/atomic"
	"testing"

	ecsv2 "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/fleetmend/fleetmend/ecssim"
)

// benchFleetSize is the fleet the simulator must serve without slowing
// down: per-request work depends on the page, not on the fleet.
const benchFleetSize = 100_000

// BenchmarkSDKRequests measures requests per second the simulator serves to
// the real SDKs over HTTP on loopback, with one SDK client per goroutine
// (the V1 client is not safe for concurrent use; each V2 client gets its own
// http.Client, see v2HTTP). The figure includes the SDK's own cost (signing,
// reflection, JSON), which is what a fleetmend worker sees. The V1 SDK's
// sub-benchmarks are unprefixed, the V2 SDK's start with "V2-".
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
	b.Run("V2-DescribeCloudAssistantStatus-50IDs", func(b *testing.B) {
		var next atomic.Int64
		b.SetParallelism(2)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			c := e.v2Client(b)
			for pb.Next() {
				p := int(next.Add(1)) % pages
				resp, err := c.DescribeCloudAssistantStatus(&ecsv2.DescribeCloudAssistantStatusRequest{
					RegionId: dara.String(ecssim.DefaultRegion), InstanceId: strs(all[p*50 : p*50+50]...)})
				if err != nil {
					b.Error(err)
					return
				}
				if n := len(resp.Body.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus); n != 50 {
					b.Errorf("got %d statuses, want 50", n)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})

	b.Run("V2-DescribeInstanceStatus-PageSize50", func(b *testing.B) {
		var next atomic.Int64
		b.SetParallelism(2)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			c := e.v2Client(b)
			for pb.Next() {
				resp, err := c.DescribeInstanceStatus(&ecsv2.DescribeInstanceStatusRequest{RegionId: dara.String(ecssim.DefaultRegion),
					PageSize: dara.Int32(50), PageNumber: dara.Int32(int32(1 + int(next.Add(1))%pages))})
				if err != nil {
					b.Error(err)
					return
				}
				if dara.Int32Value(resp.Body.TotalCount) != benchFleetSize || len(resp.Body.InstanceStatuses.InstanceStatus) != 50 {
					b.Errorf("TotalCount %d, %d statuses", dara.Int32Value(resp.Body.TotalCount), len(resp.Body.InstanceStatuses.InstanceStatus))
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}
