package activities

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/fleetmend/fleetmend/ecs"
)

// Facts is what ECS says about one instance at one moment.
type Facts struct {
	InstanceID string            `json:"instance_id"`
	Exists     bool              `json:"exists"`
	State      ecs.InstanceState `json:"state,omitempty"`
	// Healthy is the agent's CloudAssistantStatus: a heartbeat in the last 2 minutes.
	Healthy       bool      `json:"healthy"`
	AgentVersion  string    `json:"agent_version,omitempty"`
	LastHeartbeat time.Time `json:"last_heartbeat,omitzero"`
	OSType        string    `json:"os_type,omitempty"`
	// SessionManager is false for agents too old for Session Manager.
	SessionManager bool `json:"session_manager,omitempty"`
	// Matched is false when an OS filter left the instance out.
	Matched bool `json:"matched"`
	// Unknown is true when ECS's agent status answer left the instance out,
	// even when asked about it alone: its agent is neither healthy nor
	// broken as far as anyone knows, and it is never acted on.
	Unknown bool `json:"unknown,omitempty"`
	// Excluded: it carries the run's opt-out tag now (read when the facts
	// were asked with one), whatever it carried at the scan.
	Excluded bool `json:"excluded,omitempty"`
	// StartTime and Seen are the instance's last start (to the minute) and
	// ECS's clock, when the state came from DescribeInstances.
	StartTime time.Time `json:"start_time,omitzero"`
	Seen      time.Time `json:"seen,omitzero"`
}

// plainBeat heartbeats without details, for activities that keep none.
func plainBeat(ctx context.Context) func() {
	return func() { activity.RecordHeartbeat(ctx) }
}

// Running reports whether the instance exists and is Running.
func (f Facts) Running() bool { return f.Exists && f.State == ecs.StateRunning }

// Actionable reports whether the facts justify acting on the instance: it
// exists, is Running, its agent status is known and it is not healthy.
func (f Facts) Actionable() bool { return f.Running() && !f.Unknown && !f.Healthy }

// describeChunk is how many IDs one DescribeInstanceStatus call carries: a
// full page, so one call answers for all of them.
const describeChunk = ecs.MaxPageSize

// maxIsolationRounds bounds how often facts re-reads the instance list when
// instances keep vanishing between its two calls.
const maxIsolationRounds = 5

// facts reads state and agent status for ids (any number), in calls within
// the documented limits. An instance that vanishes between the two calls
// fails DescribeCloudAssistantStatus for everyone (404 for the whole call),
// so facts looks up which instances still exist and asks again without the
// missing ones: one bad instance never hides the others.
//
// With an opt-out tag spec, the states come from DescribeInstances, which
// answers each instance's tags with its state in the same call: an
// instance tagged since the scan is Excluded.
//
// beat is called between API calls; it must heartbeat the caller's current
// details, because a heartbeat replaces the details stored on the server.
func facts(ctx context.Context, c *ecs.Client, ids []string, excludeTag string, beat func()) ([]Facts, error) {
	if excludeTag != "" {
		return instanceFacts(ctx, c, ids, excludeTag, beat)
	}
	out, index := blankFacts(ids)
	states := func(ids []string) error { return describeStates(ctx, c, ids, out, index, beat) }
	if err := states(ids); err != nil {
		return nil, err
	}
	return withAgents(ctx, c, out, index, "", beat, states)
}

// instanceFacts is facts with the states, tags and start times read by
// DescribeInstances, then the agent status: the agent is the last thing
// read, so a decision on these facts rests on the freshest health.
func instanceFacts(ctx context.Context, c *ecs.Client, ids []string, excludeTag string, beat func()) ([]Facts, error) {
	out, index := blankFacts(ids)
	states := func(ids []string) error { return describeStatesAndTags(ctx, c, ids, excludeTag, out, index, beat) }
	if err := states(ids); err != nil {
		return nil, err
	}
	return withAgents(ctx, c, out, index, "", beat, states)
}

func blankFacts(ids []string) ([]Facts, map[string]int) {
	out := make([]Facts, len(ids))
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		out[i] = Facts{InstanceID: id}
		index[id] = i
	}
	return out, index
}

// describeStatesAndTags reads the states and tags of ids with
// DescribeInstances (≤ 100 a call), marking those with the opt-out tag.
func describeStatesAndTags(ctx context.Context, c *ecs.Client, ids []string, excludeTag string, out []Facts, index map[string]int, beat func()) error {
	for chunk := range slices.Chunk(ids, ecs.MaxDescribeInstancesIDs) {
		beat()
		infos, _, err := describeInstances(ctx, c, chunk)
		if err != nil {
			return err
		}
		for _, id := range chunk {
			info, ok := infos[id]
			f := &out[index[id]]
			f.Exists = ok
			if ok {
				f.State = info.State
				f.Excluded = HasTag(info.Tags, excludeTag)
				f.StartTime, f.Seen = info.StartTime, info.Seen
			}
		}
	}
	return nil
}

// factsFromPage is facts for instances whose state a DescribeInstanceStatus
// page has just given: it saves reading the states again.
func factsFromPage(ctx context.Context, c *ecs.Client, page []ecs.InstanceStatus, osType string, beat func()) ([]Facts, error) {
	out := make([]Facts, len(page))
	index := make(map[string]int, len(page))
	for i, s := range page {
		out[i] = Facts{InstanceID: s.InstanceID, Exists: true, State: s.State}
		index[s.InstanceID] = i
	}
	return withAgents(ctx, c, out, index, osType, beat, func(ids []string) error { return describeStates(ctx, c, ids, out, index, beat) })
}

// withAgents adds agent status to facts whose states are known, isolating
// instances that vanish in between; states re-reads who exists.
func withAgents(ctx context.Context, c *ecs.Client, out []Facts, index map[string]int, osType string, beat func(), states func([]string) error) ([]Facts, error) {
	for round := 0; ; round++ {
		var existing []string
		for _, f := range out {
			if f.Exists {
				existing = append(existing, f.InstanceID)
			}
		}
		err := agentStates(ctx, c, existing, osType, out, index, beat)
		if err == nil {
			return out, nil
		}
		if !ecs.IsInstanceLevel(err) || round >= maxIsolationRounds {
			return nil, appError("describe agent status", err)
		}
		// Someone vanished: refresh who exists and try again without them.
		for _, id := range existing {
			out[index[id]].Exists = false
		}
		if err := states(existing); err != nil {
			return nil, err
		}
	}
}

// describeStates reads the states of ids. An instance the answer leaves
// out is asked about once more, with the others that were left out: ECS
// leaves out instances that no longer exist, and an answer may also just be
// incomplete. What is still missing counts as not existing, which is never
// acted on.
func describeStates(ctx context.Context, c *ecs.Client, ids []string, out []Facts, index map[string]int, beat func()) error {
	var missing []string
	for chunk := range slices.Chunk(ids, describeChunk) {
		answered, err := describeChunkStates(ctx, c, chunk, out, index, beat)
		if err != nil {
			return err
		}
		for _, id := range chunk {
			if !answered[id] {
				missing = append(missing, id)
			}
		}
	}
	for chunk := range slices.Chunk(missing, describeChunk) {
		if _, err := describeChunkStates(ctx, c, chunk, out, index, beat); err != nil {
			return err
		}
	}
	return nil
}

func describeChunkStates(ctx context.Context, c *ecs.Client, chunk []string, out []Facts, index map[string]int, beat func()) (map[string]bool, error) {
	beat()
	page, err := c.ListInstanceStatus(ctx, ecs.ListInput{PageNumber: 1, PageSize: describeChunk, InstanceIDs: chunk})
	if err != nil {
		return nil, appError("describe instance status", err)
	}
	answered := make(map[string]bool, len(page.Instances))
	for _, s := range page.Instances {
		if i, ok := index[s.InstanceID]; ok {
			out[i].Exists = true
			out[i].State = s.State
			answered[s.InstanceID] = true
		}
	}
	return answered, nil
}

func agentStates(ctx context.Context, c *ecs.Client, ids []string, osType string, out []Facts, index map[string]int, beat func()) error {
	for chunk := range slices.Chunk(ids, ecs.MaxAgentStatusIDs) {
		beat()
		agents, err := c.AgentStatus(ctx, chunk, osType)
		if err != nil {
			return err
		}
		answered, err := applyAgents(agents, osType, out, index)
		if err != nil {
			return err
		}
		if osType != "" {
			// With an OS filter, an instance left out of the answer is of
			// another OS: that is what the filter is for.
			for _, id := range chunk {
				out[index[id]].Matched = answered[id]
			}
			continue
		}
		for _, id := range chunk {
			out[index[id]].Matched = true
			if !answered[id] {
				if err := askAlone(ctx, c, id, out, index, beat); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// askAlone asks about one instance that an answer left out. ECS answering
// for the others but not for it says nothing about its agent; it is asked
// once more on its own and stays Unknown if it is left out again. An
// instance that no longer exists fails the call with a not-found error.
func askAlone(ctx context.Context, c *ecs.Client, id string, out []Facts, index map[string]int, beat func()) error {
	beat()
	agents, err := c.AgentStatus(ctx, []string{id}, "")
	if ecs.IsInstanceLevel(err) {
		out[index[id]].Exists = false
		return nil
	}
	if err != nil {
		return err
	}
	answered, err := applyAgents(agents, "", out, index)
	if err != nil {
		return err
	}
	out[index[id]].Unknown = !answered[id]
	return nil
}

// applyAgents copies agent status into the facts and says which instances
// the answer covered.
func applyAgents(agents []ecs.AgentStatus, osType string, out []Facts, index map[string]int) (map[string]bool, error) {
	answered := make(map[string]bool, len(agents))
	for _, a := range agents {
		i, ok := index[a.InstanceID]
		if !ok {
			return nil, fmt.Errorf("DescribeCloudAssistantStatus answered for %s, which was not asked about", a.InstanceID)
		}
		answered[a.InstanceID] = true
		f := &out[i]
		f.Matched = true
		f.Unknown = false
		f.Healthy = a.Healthy
		f.AgentVersion = a.Version
		f.LastHeartbeat = a.LastHeartbeat
		f.OSType = a.OSType
		f.SessionManager = a.SupportSessionManager
	}
	return answered, nil
}
