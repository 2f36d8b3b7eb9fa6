package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
)

// InstallInput names up to 20 instances to install the agent on.
type InstallInput struct {
	Region      string   `json:"region"`
	InstanceIDs []string `json:"instance_ids"`
	// ExcludeTag is the run's opt-out tag: an instance that carries it when
	// re-checked right before the call is left alone.
	ExcludeTag string `json:"exclude_tag,omitempty"`
}

// Rejection is an instance an action was not carried out on, and why.
type Rejection struct {
	InstanceID string            `json:"instance_id"`
	Code       string            `json:"code"` // ECS error code, or a fleetmend reason
	Reason     string            `json:"reason"`
	State      ecs.InstanceState `json:"state,omitempty"`
	Vanished   bool              `json:"vanished,omitempty"`
	// Recovered: the agent was healthy when checked right before the call.
	Recovered bool `json:"recovered,omitempty"`
	// Unknown: ECS's answer did not cover the instance's agent status.
	Unknown bool `json:"unknown,omitempty"`
	// Excluded: it carried the opt-out tag when re-checked.
	Excluded bool `json:"excluded,omitempty"`
}

// InstallResult says which instances took the install call.
type InstallResult struct {
	Installed []string    `json:"installed"`
	Rejected  []Rejection `json:"rejected,omitempty"`
	Calls     int         `json:"calls"`
}

// rejectFromFacts says why fresh facts forbid acting on an instance, or
// returns ok=false when they allow it.
func rejectFromFacts(f Facts) (Rejection, bool) {
	switch {
	case !f.Exists:
		return Rejection{InstanceID: f.InstanceID, Code: "InvalidInstance.NotFound", Reason: "instance no longer exists", Vanished: true}, true
	case f.State != ecs.StateRunning:
		return Rejection{InstanceID: f.InstanceID, Code: "IncorrectInstanceStatus", Reason: "instance is " + string(f.State), State: f.State}, true
	case f.Excluded:
		return Rejection{InstanceID: f.InstanceID, Code: "fleetmend.Excluded", Reason: "carries the opt-out tag when checked right before the call; never touched", State: f.State, Excluded: true}, true
	case f.Unknown:
		return Rejection{InstanceID: f.InstanceID, Code: "fleetmend.Unanswered", Reason: "ECS did not answer for its agent status; not acted on", State: f.State, Unknown: true}, true
	case f.Healthy:
		return Rejection{InstanceID: f.InstanceID, Code: "fleetmend.Recovered", Reason: "agent healthy when checked right before the call", State: f.State, Recovered: true}, true
	}
	return Rejection{}, false
}

// InstallAgents calls InstallCloudAssistant for the batch. Right before
// every call (and so at the start of every retried attempt) it re-checks
// the instances and installs only on those seen Running with an unhealthy
// agent: an instance that recovered, stopped or vanished since the batch's
// check is left alone. ECS fails the whole call when one instance is
// missing or not Running; the next round's re-check then finds the culprit,
// and if it does not, the install falls back to one call per instance.
// Installing twice is harmless (the agent takes effect at the next reboot
// either way), so a retried attempt may install again on the same instances.
func (a *Activities) InstallAgents(ctx context.Context, in InstallInput) (InstallResult, error) {
	if n := len(in.InstanceIDs); n < 1 || n > ecs.MaxInstallIDs {
		return InstallResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("InstallAgents: %d InstanceIDs, allowed range is 1..%d", n, ecs.MaxInstallIDs), "fleetmend.InvalidInput", nil)
	}
	c, err := a.client(in.Region)
	if err != nil {
		return InstallResult{}, err
	}
	var res InstallResult
	pending := append([]string(nil), in.InstanceIDs...)
	refusedWith := -1 // how many instances the last refused call carried
	for len(pending) > 0 {
		keep, err := recheck(ctx, c, pending, in.ExcludeTag, &res.Rejected)
		if err != nil {
			return InstallResult{}, err
		}
		if len(keep) == 0 {
			return res, nil
		}
		if len(keep) == refusedWith {
			// The re-check does not explain the refusal: ask one at a time.
			return a.installOneByOne(ctx, c, keep, in.ExcludeTag, res)
		}
		activity.RecordHeartbeat(ctx)
		res.Calls++
		_, err = c.InstallAgent(ctx, keep)
		if err == nil {
			count(ctx, MetricInstalls, in.Region, len(keep))
			res.Installed = append(res.Installed, keep...)
			return res, nil
		}
		if !ecs.IsInstanceLevel(err) {
			return InstallResult{}, appError("install agent", err)
		}
		refusedWith = len(keep)
		pending = keep
	}
	return res, nil
}

// recheck reads fresh facts for ids, appends a rejection for every instance
// that must not be acted on, and returns the others.
func recheck(ctx context.Context, c *ecs.Client, ids []string, excludeTag string, rejected *[]Rejection) ([]string, error) {
	fs, err := facts(ctx, c, ids, excludeTag, plainBeat(ctx))
	if err != nil {
		return nil, err
	}
	var keep []string
	for _, f := range fs {
		if r, no := rejectFromFacts(f); no {
			*rejected = append(*rejected, r)
			continue
		}
		keep = append(keep, f.InstanceID)
	}
	return keep, nil
}

func (a *Activities) installOneByOne(ctx context.Context, c *ecs.Client, ids []string, excludeTag string, res InstallResult) (InstallResult, error) {
	for _, id := range ids {
		keep, err := recheck(ctx, c, []string{id}, excludeTag, &res.Rejected)
		if err != nil {
			return InstallResult{}, err
		}
		if len(keep) == 0 {
			continue
		}
		activity.RecordHeartbeat(ctx)
		res.Calls++
		_, err = c.InstallAgent(ctx, keep)
		switch {
		case err == nil:
			count(ctx, MetricInstalls, c.Region(), 1)
			res.Installed = append(res.Installed, id)
		case ecs.IsInstanceLevel(err):
			res.Rejected = append(res.Rejected, Rejection{InstanceID: id, Code: ecs.CodeOf(err), Reason: ecs.Explain(err), Vanished: isNotFound(ecs.CodeOf(err))})
		default:
			return InstallResult{}, appError("install agent", err)
		}
	}
	return res, nil
}

func isNotFound(code string) bool {
	return code == "InvalidInstance.NotFound" || code == "InvalidInstanceId.NotFound"
}
