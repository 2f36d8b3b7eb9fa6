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
}

// plainBeat heartbeats without details, for activities that keep none.
func plainBeat(ctx context.Context) func() {
	return func() { activity.RecordHeartbeat(ctx) }
}

// Running reports whether the instance exists and is Running.
func (f Facts) Running() bool { return f.Exists && f.State == ecs.StateRunning }

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
// beat is called between API calls; it must heartbeat the caller's current
// details, because a heartbeat replaces the details stored on the server.
func facts(ctx context.Context, c *ecs.Client, ids []string, osType string, beat func()) ([]Facts, error) {
	out := make([]Facts, len(ids))
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		out[i] = Facts{InstanceID: id}
		index[id] = i
	}
	if err := describeStates(ctx, c, ids, out, index, beat); err != nil {
		return nil, err
	}
	return withAgents(ctx, c, out, index, osType, beat)
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
	return withAgents(ctx, c, out, index, osType, beat)
}

// withAgents adds agent status to facts whose states are known, isolating
// instances that vanish in between.
func withAgents(ctx context.Context, c *ecs.Client, out []Facts, index map[string]int, osType string, beat func()) ([]Facts, error) {
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
		if err := describeStates(ctx, c, existing, out, index, beat); err != nil {
			return nil, err
		}
	}
}

func describeStates(ctx context.Context, c *ecs.Client, ids []string, out []Facts, index map[string]int, beat func()) error {
	for chunk := range slices.Chunk(ids, describeChunk) {
		beat()
		page, err := c.ListInstanceStatus(ctx, ecs.ListInput{PageNumber: 1, PageSize: describeChunk, InstanceIDs: chunk})
		if err != nil {
			return appError("describe instance status", err)
		}
		for _, s := range page.Instances {
			if i, ok := index[s.InstanceID]; ok {
				out[i].Exists = true
				out[i].State = s.State
			}
		}
	}
	return nil
}

func agentStates(ctx context.Context, c *ecs.Client, ids []string, osType string, out []Facts, index map[string]int, beat func()) error {
	for chunk := range slices.Chunk(ids, ecs.MaxAgentStatusIDs) {
		beat()
		agents, err := c.AgentStatus(ctx, chunk, osType)
		if err != nil {
			return err
		}
		for _, id := range chunk {
			out[index[id]].Matched = osType == ""
		}
		for _, a := range agents {
			i, ok := index[a.InstanceID]
			if !ok {
				return fmt.Errorf("DescribeCloudAssistantStatus answered for %s, which was not asked about", a.InstanceID)
			}
			f := &out[i]
			f.Matched = true
			f.Healthy = a.Healthy
			f.AgentVersion = a.Version
			f.LastHeartbeat = a.LastHeartbeat
			f.OSType = a.OSType
			f.SessionManager = a.SupportSessionManager
		}
	}
	return nil
}
