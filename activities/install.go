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
}

// Rejection is an instance an action was not carried out on, and why.
type Rejection struct {
	InstanceID string            `json:"instance_id"`
	Code       string            `json:"code"` // ECS error code, or a fleetmend reason
	Reason     string            `json:"reason"`
	State      ecs.InstanceState `json:"state,omitempty"`
	Vanished   bool              `json:"vanished,omitempty"`
}

// InstallResult says which instances took the install call.
type InstallResult struct {
	Installed []string    `json:"installed"`
	Rejected  []Rejection `json:"rejected,omitempty"`
	Calls     int         `json:"calls"`
}

// InstallAgents calls InstallCloudAssistant for the batch. ECS fails the
// whole call when one instance is missing or not Running, so on such an
// error it finds the culprits (by state), reports them, and installs the
// rest; if the culprit is not visible in the state, it falls back to one
// call per instance. Installing twice is harmless (the agent takes effect at
// the next reboot either way), so a retried attempt simply installs again.
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
	for len(pending) > 0 {
		activity.RecordHeartbeat(ctx)
		res.Calls++
		_, err := c.InstallAgent(ctx, pending)
		if err == nil {
			res.Installed = append(res.Installed, pending...)
			return res, nil
		}
		if !ecs.IsInstanceLevel(err) {
			return InstallResult{}, appError("install agent", err)
		}
		fs, ferr := facts(ctx, c, pending, "", plainBeat(ctx))
		if ferr != nil {
			return InstallResult{}, ferr
		}
		var keep []string
		for _, f := range fs {
			switch {
			case !f.Exists:
				res.Rejected = append(res.Rejected, Rejection{InstanceID: f.InstanceID, Code: "InvalidInstance.NotFound", Reason: "instance no longer exists", Vanished: true})
			case f.State != ecs.StateRunning:
				res.Rejected = append(res.Rejected, Rejection{InstanceID: f.InstanceID, Code: "IncorrectInstanceStatus", Reason: "instance is " + string(f.State), State: f.State})
			default:
				keep = append(keep, f.InstanceID)
			}
		}
		if len(keep) == len(pending) {
			// State does not explain the refusal: ask one instance at a time.
			return a.installOneByOne(ctx, c, keep, res)
		}
		pending = keep
	}
	return res, nil
}

func (a *Activities) installOneByOne(ctx context.Context, c *ecs.Client, ids []string, res InstallResult) (InstallResult, error) {
	for _, id := range ids {
		activity.RecordHeartbeat(ctx)
		res.Calls++
		_, err := c.InstallAgent(ctx, []string{id})
		switch {
		case err == nil:
			res.Installed = append(res.Installed, id)
		case ecs.IsInstanceLevel(err):
			res.Rejected = append(res.Rejected, Rejection{InstanceID: id, Code: ecs.CodeOf(err), Reason: err.Error(), Vanished: isNotFound(ecs.CodeOf(err))})
		default:
			return InstallResult{}, appError("install agent", err)
		}
	}
	return res, nil
}

func isNotFound(code string) bool {
	return code == "InvalidInstance.NotFound" || code == "InvalidInstanceId.NotFound"
}
