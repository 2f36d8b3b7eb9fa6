package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
)

// The previous engine's scan: a page of DescribeInstanceStatus numbered
// pages. Page numbers shift when instances are created or deleted during a
// scan, so the current engine reads NextToken chains instead (ScanSegment,
// segment.go). ScanPage stays, under the name its recorded histories call
// it by, only for runs of the previous engine (workflows/legacy.go) that
// were in flight during an upgrade; see workflows/versions.go for when it
// may go.

// ScanInput names one page of the region to read.
type ScanInput struct {
	Region     string `json:"region"`
	ZoneID     string `json:"zone_id,omitempty"`
	OSType     string `json:"os_type,omitempty"`
	PageNumber int    `json:"page_number"`
	PageSize   int    `json:"page_size"`
	// InstanceIDs, when set (≤ 50), reads exactly these instances instead of
	// a page of the region; PageNumber is then 1.
	InstanceIDs []string `json:"instance_ids,omitempty"`
}

// ScanResult is one page, each instance with its state and agent status.
type ScanResult struct {
	TotalCount int     `json:"total_count"`
	PageNumber int     `json:"page_number"`
	Instances  []Facts `json:"instances"`
	// NotFound lists requested InstanceIDs that do not exist.
	NotFound []string `json:"not_found,omitempty"`
}

// ScanPage reads one page of DescribeInstanceStatus and asks
// DescribeCloudAssistantStatus about that page's instances.
func (a *Activities) ScanPage(ctx context.Context, in ScanInput) (ScanResult, error) {
	if in.PageSize < 1 || in.PageSize > ecs.MaxPageSize {
		return ScanResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("ScanPage: PageSize is %d, allowed range is 1..%d", in.PageSize, ecs.MaxPageSize), "fleetmend.InvalidInput", nil)
	}
	if len(in.InstanceIDs) > in.PageSize {
		return ScanResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("ScanPage: %d InstanceIDs, allowed at most PageSize (%d)", len(in.InstanceIDs), in.PageSize), "fleetmend.InvalidInput", nil)
	}
	c, err := a.client(in.Region)
	if err != nil {
		return ScanResult{}, err
	}
	page, err := c.ListInstanceStatus(ctx, ecs.ListInput{
		PageNumber: in.PageNumber, PageSize: in.PageSize, ZoneID: in.ZoneID, InstanceIDs: in.InstanceIDs,
	})
	if err != nil {
		return ScanResult{}, appError("list instances", err)
	}
	ids := make([]string, 0, len(page.Instances))
	for _, s := range page.Instances {
		ids = append(ids, s.InstanceID)
	}
	res := ScanResult{TotalCount: page.TotalCount, PageNumber: page.PageNumber}
	if len(in.InstanceIDs) > 0 {
		found := make(map[string]bool, len(ids))
		for _, id := range ids {
			found[id] = true
		}
		for _, id := range in.InstanceIDs {
			if !found[id] {
				res.NotFound = append(res.NotFound, id)
			}
		}
	}
	if len(ids) == 0 {
		return res, nil
	}
	// The states the list call just read are fresh enough; states are read
	// again only if an instance vanishes before its agent status is asked.
	fs, err := factsFromPage(ctx, c, page.Instances, in.OSType, plainBeat(ctx))
	if err != nil {
		return ScanResult{}, err
	}
	for _, f := range fs {
		if f.Exists {
			res.Instances = append(res.Instances, f)
		} else if len(in.InstanceIDs) > 0 {
			res.NotFound = append(res.NotFound, f.InstanceID)
		}
	}
	return res, nil
}
