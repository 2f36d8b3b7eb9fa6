package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
)

// MaxPollIDs bounds one PollAgents call: every instance a run is verifying
// at once, whatever batch it came from.
const MaxPollIDs = 10000

// PollInput names the instances a run is waiting to hear from.
type PollInput struct {
	Region      string   `json:"region"`
	InstanceIDs []string `json:"instance_ids"`
}

// Waiting is an instance whose agent has not reported yet.
type Waiting struct {
	ID            string            `json:"i"`
	State         ecs.InstanceState `json:"s"`
	LastHeartbeat time.Time         `json:"h,omitzero"`
	Unknown       bool              `json:"u,omitempty"`
}

// PollResult is one look at the instances being verified. Healthy ones are
// only named; the others come with what a report needs to explain them.
type PollResult struct {
	Healthy []string `json:"healthy,omitempty"`
	// Fresh are the healthy ones with their last heartbeat, so the run
	// can tell one heartbeat from a lasting agent.
	Fresh   []Waiting `json:"fresh,omitempty"`
	Gone    []string  `json:"gone,omitempty"`
	Waiting []Waiting `json:"waiting,omitempty"`
}

// PollAgents looks once at the agents of every instance a run is
// verifying, sharing calls across batches: DescribeCloudAssistantStatus
// with up to 100 IDs, then DescribeInstanceStatus only for the instances
// whose agent is not healthy yet (their state says whether their reboot is
// over). It is short and is called again every poll interval by the run,
// which keeps the deadlines.
func (a *Activities) PollAgents(ctx context.Context, in PollInput) (PollResult, error) {
	if n := len(in.InstanceIDs); n < 1 || n > MaxPollIDs {
		return PollResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("PollAgents: %d InstanceIDs, allowed range is 1..%d", n, MaxPollIDs), "fleetmend.InvalidInput", nil)
	}
	c, err := a.client(in.Region)
	if err != nil {
		return PollResult{}, err
	}
	out := make([]Facts, len(in.InstanceIDs))
	index := make(map[string]int, len(in.InstanceIDs))
	for i, id := range in.InstanceIDs {
		out[i] = Facts{InstanceID: id, Exists: true}
		index[id] = i
	}
	beat := plainBeat(ctx)
	if err := agentStates(ctx, c, in.InstanceIDs, "", out, index, beat); err != nil {
		if !ecs.IsInstanceLevel(err) {
			return PollResult{}, appError("describe agent status", err)
		}
		// Someone vanished and failed the shared call: the full facts
		// isolate them.
		fs, err := facts(ctx, c, in.InstanceIDs, "", beat)
		if err != nil {
			return PollResult{}, err
		}
		return pollResult(fs), nil
	}
	var notHealthy []string
	for i := range out {
		if out[i].Exists && !out[i].Healthy {
			out[i].Exists = false // until the state lookup finds it
			notHealthy = append(notHealthy, out[i].InstanceID)
		}
	}
	if err := describeStates(ctx, c, notHealthy, out, index, beat); err != nil {
		return PollResult{}, err
	}
	return pollResult(out), nil
}

func pollResult(fs []Facts) PollResult {
	var r PollResult
	for _, f := range fs {
		switch {
		case !f.Exists:
			r.Gone = append(r.Gone, f.InstanceID)
		case f.Healthy && !f.Unknown:
			r.Healthy = append(r.Healthy, f.InstanceID)
			r.Fresh = append(r.Fresh, Waiting{ID: f.InstanceID, State: f.State, LastHeartbeat: f.LastHeartbeat})
		default:
			r.Waiting = append(r.Waiting, Waiting{ID: f.InstanceID, State: f.State, LastHeartbeat: f.LastHeartbeat, Unknown: f.Unknown})
		}
	}
	return r
}
