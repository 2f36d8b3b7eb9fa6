package activities

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
)

// VerifyInput names instances to watch until their agent reports healthy.
type VerifyInput struct {
	Region      string   `json:"region"`
	InstanceIDs []string `json:"instance_ids"`
	// Deadline is absolute, so a retried attempt keeps the original deadline.
	Deadline     time.Time     `json:"deadline"`
	PollInterval time.Duration `json:"poll_interval"`
}

// VerifyResult splits the instances by what the last look showed.
type VerifyResult struct {
	Healthy  []string `json:"healthy,omitempty"`
	Vanished []string `json:"vanished,omitempty"`
	// Unhealthy are still without a fresh heartbeat at the deadline, with
	// the last facts seen.
	Unhealthy []Facts `json:"unhealthy,omitempty"`
	Polls     int     `json:"polls"`
}

// verifyProgress is the heartbeat detail: a retried attempt keeps what an
// earlier one already saw healthy or gone.
type verifyProgress struct {
	Healthy  []string `json:"healthy"`
	Vanished []string `json:"vanished"`
}

// VerifyAgents polls agent status until every instance reports a heartbeat
// within the last two minutes, or the deadline passes. It heartbeats every
// poll, so a dead worker is noticed within the heartbeat timeout.
func (a *Activities) VerifyAgents(ctx context.Context, in VerifyInput) (VerifyResult, error) {
	if len(in.InstanceIDs) == 0 {
		return VerifyResult{}, temporal.NewNonRetryableApplicationError("VerifyAgents: InstanceIDs is empty, need 1 or more", "fleetmend.InvalidInput", nil)
	}
	if in.PollInterval <= 0 {
		return VerifyResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("VerifyAgents: PollInterval is %s, must be positive", in.PollInterval), "fleetmend.InvalidInput", nil)
	}
	c, err := a.client(in.Region)
	if err != nil {
		return VerifyResult{}, err
	}
	var progress verifyProgress
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &progress) // unreadable progress only costs a re-check
	}
	res := VerifyResult{Healthy: progress.Healthy, Vanished: progress.Vanished}
	remaining := slices.DeleteFunc(slices.Clone(in.InstanceIDs), func(id string) bool {
		return slices.Contains(progress.Healthy, id) || slices.Contains(progress.Vanished, id)
	})
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return VerifyResult{}, appError("verify agents", ctx.Err())
		case <-timer.C:
		}
		if len(remaining) == 0 {
			return res, nil
		}
		res.Polls++
		fs, err := facts(ctx, c, remaining, "", func() {
			activity.RecordHeartbeat(ctx, verifyProgress{Healthy: res.Healthy, Vanished: res.Vanished})
		})
		if err != nil {
			if ecs.IsRetryable(err) && time.Now().Before(in.Deadline) {
				// A throttled poll is not a verdict; look again next round.
				timer.Reset(in.PollInterval)
				continue
			}
			return VerifyResult{}, err
		}
		var still []Facts
		for _, f := range fs {
			switch {
			case !f.Exists:
				res.Vanished = append(res.Vanished, f.InstanceID)
			case f.Healthy:
				res.Healthy = append(res.Healthy, f.InstanceID)
			default:
				still = append(still, f)
			}
		}
		activity.RecordHeartbeat(ctx, verifyProgress{Healthy: res.Healthy, Vanished: res.Vanished})
		remaining = remaining[:0]
		for _, f := range still {
			remaining = append(remaining, f.InstanceID)
		}
		if len(still) == 0 {
			return res, nil
		}
		if !time.Now().Before(in.Deadline) {
			res.Unhealthy = still
			return res, nil
		}
		timer.Reset(min(in.PollInterval, time.Until(in.Deadline)))
	}
}
