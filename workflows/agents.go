package workflows

import (
	"cmp"
	"slices"

	"github.com/fleetmend/fleetmend/activities"
)

// maxTopVersions is how many versions a report names; the rest are summed.
const maxTopVersions = 10

// AgentVersions is the agent versions a run's scan read: the most common
// versions with their counts, and the instances whose agent is too old for
// Session Manager (Linux below 2.2.3.189, Windows below 2.1.3.189, compared
// number by number). They are reported, never acted on: an agent that
// heartbeats is healthy whatever its version. ECS reports a version only
// for an agent that is installed and running, so Reported counts the
// Running instances whose agent answered healthy at the scan.
type AgentVersions struct {
	Reported int `json:"reported"`
	// Top is the most common versions, most instances first.
	Top []AgentVersion `json:"top"`
	// Distinct counts the versions seen (by OS type); Others the
	// instances of the versions not in Top.
	Distinct int `json:"distinct"`
	Others   int `json:"others,omitempty"`
	// TooOld names at most activities.MaxTooOldListed of the TooOldCount
	// instances whose agent is too old for Session Manager.
	TooOldCount int        `json:"too_old_count"`
	TooOld      []OldAgent `json:"too_old,omitempty"`
}

// AgentVersion is one version and how many instances run it.
type AgentVersion struct {
	OSType    string `json:"os_type"`
	Version   string `json:"version"`
	Instances int    `json:"instances"`
}

// OldAgent is an instance whose agent is too old for Session Manager.
type OldAgent struct {
	InstanceID string `json:"instance_id"`
	OSType     string `json:"os_type"`
	Version    string `json:"version"`
}

// agentVersions turns the scan's tally into the report's view; nil when
// no agent reported a version (e.g. runs recorded before it was kept).
func agentVersions(s activities.AgentScan) *AgentVersions {
	if len(s.Versions) == 0 && s.TooOldCount == 0 {
		return nil
	}
	out := &AgentVersions{Reported: s.Reported(), Distinct: len(s.Versions), TooOldCount: s.TooOldCount}
	byCount := slices.Clone(s.Versions)
	slices.SortStableFunc(byCount, func(a, b activities.VersionCount) int { return cmp.Compare(b.Count, a.Count) })
	for i, v := range byCount {
		if i >= maxTopVersions {
			out.Others += v.Count
			continue
		}
		out.Top = append(out.Top, AgentVersion{OSType: v.OSType, Version: v.Version, Instances: v.Count})
	}
	for _, o := range s.TooOld {
		out.TooOld = append(out.TooOld, OldAgent{InstanceID: o.ID, OSType: o.OSType, Version: o.Version})
	}
	return out
}
