package activities

import (
	"context"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// CheckInput names instances to re-check.
type CheckInput struct {
	Region      string   `json:"region"`
	InstanceIDs []string `json:"instance_ids"`
	// ExcludeTag, when set, reads the tags too: instances that carry it now
	// are Excluded.
	ExcludeTag string `json:"exclude_tag,omitempty"`
}

// CheckResult is fresh facts, one per requested instance, in request order.
type CheckResult struct {
	Instances []Facts `json:"instances"`
}

// CheckInstances reads fresh state and agent status for a batch, so that a
// batch acts on facts from now, not from the page scanned minutes ago.
func (a *Activities) CheckInstances(ctx context.Context, in CheckInput) (CheckResult, error) {
	if len(in.InstanceIDs) == 0 {
		return CheckResult{}, temporal.NewNonRetryableApplicationError("CheckInstances: InstanceIDs is empty, need 1 or more", "fleetmend.InvalidInput", nil)
	}
	c, err := a.client(in.Region)
	if err != nil {
		return CheckResult{}, err
	}
	fs, err := facts(ctx, c, in.InstanceIDs, in.ExcludeTag, plainBeat(ctx))
	if err != nil {
		return CheckResult{}, err
	}
	return CheckResult{Instances: fs}, nil
}

func joinIDs(ids []string) string {
	const show = 3
	if len(ids) <= show {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:show], ", ") + fmt.Sprintf(" and %d more", len(ids)-show)
}
