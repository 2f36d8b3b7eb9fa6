package ecs

import (
	"strings"
	"time"
)

// Documented limits of the actions, from each action's API reference
// (ecssim enforces the same, with the documented errors). Batching code
// outside this package uses them too, so they are exported.
const (
	MaxPageSize          = 50  // DescribeInstanceStatus PageSize, DescribeCloudAssistantStatus PageSize/MaxResults
	MaxDescribeIDs       = 100 // DescribeInstanceStatus InstanceId.N
	MaxAgentStatusIDs    = 100 // DescribeCloudAssistantStatus InstanceId.N
	MaxInstallIDs        = 20  // InstallCloudAssistant InstanceId.N
	MaxRebootIDs         = 100 // RebootInstances InstanceId.N
	HeartbeatFreshWithin = 2 * time.Minute
)

// ManagedInstancePrefix starts the ID of a managed instance: a server
// outside ECS (on premises, another cloud) registered with Cloud Assistant.
// DescribeCloudAssistantStatus lists them with the region's ECS instances
// (its document: an instance "can be an Elastic Compute Service (ECS)
// instance or a managed instance"), but no ECS call knows them:
// DescribeInstances leaves them out, and they cannot be installed on or
// rebooted through ECS.
const ManagedInstancePrefix = "mi-"

// IsManagedInstanceID says whether id names a managed instance rather than
// an ECS instance (whose IDs start with "i-").
func IsManagedInstanceID(id string) bool { return strings.HasPrefix(id, ManagedInstancePrefix) }

// MaxDescribeInstancesIDs is DescribeInstances' limit on its InstanceIds JSON
// array. Its pages hold up to 100 instances too, so one call answers for all.
const MaxDescribeInstancesIDs = 100

// InstanceState is the lifecycle state ECS reports for an instance.
type InstanceState string

// The states DescribeInstanceStatus reports. StateUnknown stands for anything
// else, so a new state never looks like Running by accident.
const (
	StatePending  InstanceState = "Pending"
	StateStarting InstanceState = "Starting"
	StateRunning  InstanceState = "Running"
	StateStopping InstanceState = "Stopping"
	StateStopped  InstanceState = "Stopped"
	StateUnknown  InstanceState = "Unknown"
)

// ParseState maps the wire value to an InstanceState (case-insensitively).
func ParseState(s string) InstanceState {
	for _, st := range []InstanceState{StatePending, StateStarting, StateRunning, StateStopping, StateStopped} {
		if strings.EqualFold(s, string(st)) {
			return st
		}
	}
	return StateUnknown
}

// OS types accepted by DescribeCloudAssistantStatus's OSType filter.
const (
	OSLinux   = "Linux"
	OSWindows = "Windows"
	OSFreeBSD = "FreeBSD"
)

// InstanceStatus is one row of DescribeInstanceStatus.
type InstanceStatus struct {
	InstanceID string        `json:"instance_id"`
	State      InstanceState `json:"state"`
}

// InstancePage is one page of DescribeInstanceStatus.
type InstancePage struct {
	Instances  []InstanceStatus `json:"instances"`
	TotalCount int              `json:"total_count"`
	PageNumber int              `json:"page_number"`
	PageSize   int              `json:"page_size"`
	RequestID  string           `json:"request_id"`
}

// AgentStatus is what DescribeCloudAssistantStatus says about one instance,
// typed for decisions.
type AgentStatus struct {
	InstanceID string `json:"instance_id"`
	// Healthy is CloudAssistantStatus == "true": the agent sent a heartbeat in
	// the last two minutes. It is the service's verdict, computed on the
	// service's clock, so fleetmend decides on it rather than on LastHeartbeat.
	Healthy bool `json:"healthy"`
	// Version is empty when the agent is not installed or not running.
	Version               string    `json:"version,omitempty"`
	LastHeartbeat         time.Time `json:"last_heartbeat,omitzero"`
	LastInvoked           time.Time `json:"last_invoked,omitzero"`
	OSType                string    `json:"os_type,omitempty"`
	SupportSessionManager bool      `json:"support_session_manager"`
	ActiveTaskCount       int64     `json:"active_task_count"`
	InvocationCount       int64     `json:"invocation_count"`
}

// AgentPage is one NextToken page of DescribeCloudAssistantStatus.
type AgentPage struct {
	Agents    []AgentStatus `json:"agents"`
	NextToken string        `json:"next_token,omitempty"` // empty on the last page
	RequestID string        `json:"request_id"`
}

// Tag is one tag of an instance.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// InstanceInfo is what DescribeInstances says about one instance, reduced
// to what fleetmend decides on: where it is, its state, its OS and its
// tags (the opt-out tag among them).
type InstanceInfo struct {
	InstanceID string        `json:"instance_id"`
	ZoneID     string        `json:"zone_id"`
	State      InstanceState `json:"state"`
	// OSType is as DescribeInstances returns it: lowercase ("linux",
	// "windows", "freebsd"), unlike DescribeCloudAssistantStatus's "Linux".
	OSType string `json:"os_type"`
	Tags   []Tag  `json:"tags,omitempty"`
	// StartTime is when the instance last started (to the minute, as ECS
	// reports it); a reboot moves it on. Seen is the service's clock when
	// it answered (the response's Date header), zero when absent.
	StartTime time.Time `json:"start_time,omitzero"`
	Seen      time.Time `json:"seen,omitzero"`
}

// RebootResult is RebootInstances' answer for one instance
// (BatchOptimization=SuccessFirst gives every instance its own).
type RebootResult struct {
	InstanceID string        `json:"instance_id"`
	OK         bool          `json:"ok"`
	Code       string        `json:"code"`
	Message    string        `json:"message,omitempty"`
	Previous   InstanceState `json:"previous_state,omitempty"`
	Current    InstanceState `json:"current_state,omitempty"`
	// Class tells how to treat a failed row, as for a whole-call error.
	Class Class `json:"class,omitempty"`
}

// parseTime reads the service's UTC timestamps; an empty or odd value is the
// zero time rather than an error, because a missing heartbeat is data, not a fault.
func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{"2006-01-02T15:04:05Z", time.RFC3339, "2006-01-02T15:04Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
