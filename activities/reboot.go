package activities

import (
	"context"
	"fmt"
	"slices"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
)

// RebootInput names instances that may need a reboot.
type RebootInput struct {
	Region      string   `json:"region"`
	InstanceIDs []string `json:"instance_ids"`
}

// RebootOutcome is RebootIfStillUnhealthy's answer.
type RebootOutcome struct {
	// Rebooted were rebooted by this activity (in this or an earlier attempt).
	Rebooted []string `json:"rebooted,omitempty"`
	// Healthy had a healthy agent at the moment of decision: not rebooted.
	Healthy []string `json:"healthy,omitempty"`
	// Rejected were not rebooted: vanished, not Running, or refused by ECS.
	Rejected []Rejection `json:"rejected,omitempty"`
	// Unconfirmed were sent to ECS by an earlier attempt that stopped
	// before hearing the answer, and are not now Stopping or Starting:
	// whether that reboot happened cannot be told from the API.
	// They are not rebooted again (never twice); verify tells whether the
	// agent came back.
	Unconfirmed []string `json:"unconfirmed,omitempty"`
	// InTransit are rebooted instances that ECS answered as Stopping or
	// Starting: their reboot has visibly begun, so the next time they are
	// seen Running, the reboot is over.
	InTransit []string `json:"in_transit,omitempty"`
}

// rebootIntent is the heartbeat detail that makes the reboot at most once:
// every instance this activity is about to reboot is stored on the server
// before the call, and a retried attempt never reboots what an earlier
// attempt may already have rebooted. Once ECS answered, the instances it
// rebooted are stored as Confirmed, so a retry can tell "rebooted" from
// "the worker died between storing the intent and hearing ECS".
type rebootIntent struct {
	Attempted []string `json:"attempted"`
	Confirmed []string `json:"confirmed,omitempty"`
}

// RebootIfStillUnhealthy re-checks every instance right before acting and
// reboots only those that exist, are Running and whose agent is still not
// healthy. It never reboots an instance twice, even when a worker dies
// mid-call and Temporal retries the activity: see rebootIntent.
func (a *Activities) RebootIfStillUnhealthy(ctx context.Context, in RebootInput) (RebootOutcome, error) {
	if n := len(in.InstanceIDs); n < 1 || n > ecs.MaxRebootIDs {
		return RebootOutcome{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("RebootIfStillUnhealthy: %d InstanceIDs, allowed range is 1..%d", n, ecs.MaxRebootIDs), "fleetmend.InvalidInput", nil)
	}
	c, err := a.client(in.Region)
	if err != nil {
		return RebootOutcome{}, err
	}
	var prior rebootIntent
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &prior); err != nil {
			return RebootOutcome{}, temporal.NewNonRetryableApplicationError("read reboot intent of the previous attempt", "fleetmend.CorruptIntent", err)
		}
	}
	// Heartbeats during the re-check must carry the prior intent, or they
	// would erase it on the server.
	fs, err := facts(ctx, c, in.InstanceIDs, "", func() { activity.RecordHeartbeat(ctx, prior) })
	if err != nil {
		return RebootOutcome{}, err
	}
	var out RebootOutcome
	var toReboot []string
	for _, f := range fs {
		switch {
		case slices.Contains(prior.Confirmed, f.InstanceID):
			// ECS accepted the reboot in an earlier attempt: it has begun.
			out.Rebooted = append(out.Rebooted, f.InstanceID)
			out.InTransit = append(out.InTransit, f.InstanceID)
		case slices.Contains(prior.Attempted, f.InstanceID):
			// An earlier attempt may have sent the reboot without hearing
			// the answer. Rebooting again is exactly what must not happen.
			// An instance on its way down or up shows that the reboot
			// landed; a Running one could be either, and verify decides.
			if f.Exists && (f.State == ecs.StateStopping || f.State == ecs.StateStarting) {
				out.Rebooted = append(out.Rebooted, f.InstanceID)
				out.InTransit = append(out.InTransit, f.InstanceID)
			} else {
				out.Unconfirmed = append(out.Unconfirmed, f.InstanceID)
			}
		case f.Running() && !f.Unknown && f.Healthy:
			out.Healthy = append(out.Healthy, f.InstanceID)
		default:
			if r, no := rejectFromFacts(f); no {
				out.Rejected = append(out.Rejected, r)
				continue
			}
			toReboot = append(toReboot, f.InstanceID)
		}
	}
	if len(toReboot) == 0 {
		return out, nil
	}
	intent := rebootIntent{Attempted: append(slices.Clone(prior.Attempted), toReboot...)}
	if err := a.recordIntent(ctx, intent); err != nil {
		// Without a stored intent a retry could reboot twice; reboot nothing.
		return RebootOutcome{}, temporal.NewApplicationErrorWithCause("reboot not sent: "+err.Error(), "fleetmend.IntentNotRecorded", err)
	}
	results, err := c.RebootInstances(ctx, toReboot, false)
	if err != nil {
		if definitelyNotExecuted(err) {
			// ECS refused the whole call, so nothing was rebooted: withdraw
			// the intent so the retry may try these instances again. If the
			// withdrawal is not stored, the retry will leave them alone.
			_ = a.recordIntent(ctx, prior)
		}
		return RebootOutcome{}, appError("reboot "+joinIDs(toReboot), err)
	}
	answered := make(map[string]bool, len(results))
	var ok []string
	for _, r := range results {
		answered[r.InstanceID] = true
		switch {
		case r.OK:
			ok = append(ok, r.InstanceID)
			if r.Current == ecs.StateStopping || r.Current == ecs.StateStarting {
				out.InTransit = append(out.InTransit, r.InstanceID)
			}
		default:
			out.Rejected = append(out.Rejected, Rejection{
				InstanceID: r.InstanceID, Code: r.Code, Reason: r.Message, State: r.Current, Vanished: isNotFound(r.Code),
			})
		}
	}
	for _, id := range toReboot {
		if !answered[id] {
			return RebootOutcome{}, temporal.NewNonRetryableApplicationError(
				"RebootInstances gave no result for "+id, "fleetmend.IncompleteAnswer", nil)
		}
	}
	out.Rebooted = append(out.Rebooted, ok...)
	count(ctx, MetricReboots, in.Region, len(ok))
	// Store what ECS answered. Instances it refused were not rebooted and
	// leave the intent; if this record is lost, a retry still never
	// reboots twice, it only reports these as unconfirmed.
	_ = a.recordIntent(ctx, rebootIntent{
		Attempted: append(slices.Clone(prior.Attempted), ok...),
		Confirmed: append(slices.Clone(prior.Confirmed), ok...),
	})
	return out, nil
}
