package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
)

// RegionTaskQueue is the task queue of region's runs, batches and
// activities: base-region. It is made here, below the workflows, because a
// fleet run names the queues of the regions it starts runs on;
// internal/config.RegionTaskQueue is this.
func RegionTaskQueue(base, region string) string { return base + "-" + region }

// pollerFreshness is how recently a worker must have polled a region's
// task queue for the region to count as served.
const pollerFreshness = 5 * time.Minute

// FleetRegionsInput is FleetRegions' input: the regions given, or All for
// every region of the account (DescribeRegions), and the base task queue.
type FleetRegionsInput struct {
	Regions   []string `json:"regions,omitempty"`
	All       bool     `json:"all,omitempty"`
	TaskQueue string   `json:"task_queue"`
}

// FleetRegion is one region of a fleet run and whether a worker serves it.
type FleetRegion struct {
	Region    string `json:"region"`
	LocalName string `json:"local_name,omitempty"`
	TaskQueue string `json:"task_queue"`
	// Unserved: no worker polled the region's task queue lately; a run
	// started there would wait for one, holding the fleet run open.
	Unserved bool `json:"unserved,omitempty"`
}

// FleetRegionsResult lists the fleet's regions in the order given (or
// DescribeRegions' order).
type FleetRegionsResult struct {
	Regions []FleetRegion `json:"regions"`
}

// FleetRegions resolves a fleet run's regions: with All, DescribeRegions
// asked at the endpoint of the first region this worker serves; then,
// for each region, whether any worker polls its task queue.
func (a *Activities) FleetRegions(ctx context.Context, in FleetRegionsInput) (FleetRegionsResult, error) {
	var out FleetRegionsResult
	names := map[string]string{}
	regions := in.Regions
	if in.All {
		list, err := a.DescribeRegions(ctx)
		if err != nil {
			return out, err
		}
		regions = nil
		for _, r := range list {
			regions = append(regions, r.RegionID)
			names[r.RegionID] = r.LocalName
		}
	}
	if a.Queues == nil {
		return out, temporal.NewNonRetryableApplicationError("activities have no task queue watcher configured (needed for a fleet run)", "fleetmend.Misconfigured", nil)
	}
	for _, r := range regions {
		// One call per region: heartbeat between them, as every activity
		// does between its calls.
		activity.RecordHeartbeat(ctx, r)
		q := RegionTaskQueue(in.TaskQueue, r)
		served, err := a.Queues.Served(ctx, q, pollerFreshness)
		if err != nil {
			return out, fmt.Errorf("describe task queue %s: %w", q, err)
		}
		out.Regions = append(out.Regions, FleetRegion{Region: r, LocalName: names[r], TaskQueue: q, Unserved: !served})
	}
	return out, nil
}

// DescribeRegions lists the account's regions, asked at the endpoint of
// the first region this worker serves. FleetRegions calls it; it is an
// activity of its own too, like every exported method.
func (a *Activities) DescribeRegions(ctx context.Context) ([]ecs.RegionInfo, error) {
	c, err := a.client(a.askRegion())
	if err != nil {
		return nil, err
	}
	list, err := c.DescribeRegions(ctx)
	if err != nil {
		return nil, appError("DescribeRegions", err)
	}
	if len(list) == 0 {
		return nil, temporal.NewNonRetryableApplicationError("DescribeRegions answered no region", "fleetmend.NoRegions", nil)
	}
	return list, nil
}

// askRegion is the region whose endpoint this worker asks about the
// account: the first it serves.
func (a *Activities) askRegion() string {
	if a.Regions != nil {
		if served := a.Regions.Allowed(); len(served) > 0 {
			return served[0]
		}
	}
	return ecs.DefaultAskRegion
}
