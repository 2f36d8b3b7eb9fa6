package activities

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/fleetmend/fleetmend/ecs"
)

// The agent versions a scan reads. DescribeCloudAssistantStatus reports
// CloudAssistantVersion only for an agent that is installed and running,
// so the distribution is that of the agents that answered. Session Manager
// needs at least the versions its documents name; older agents are
// reported, never acted on.

// sessionManagerMinimum is the oldest agent that supports Session Manager
// on osType, as DescribeCloudAssistantStatus's documents give it, and
// false for an OS they name no minimum for (FreeBSD).
func sessionManagerMinimum(osType string) (string, bool) {
	switch strings.ToLower(osType) {
	case "linux":
		return "2.2.3.189", true
	case "windows":
		return "2.1.3.189", true
	}
	return "", false
}

// parseDotted splits "2.2.3.256" into its numbers; false when a part is
// not a number.
func parseDotted(v string) ([]int, bool) {
	if v == "" {
		return nil, false
	}
	parts := strings.Split(v, ".")
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// CompareVersions compares two dotted versions number by number (so
// 2.10.0.1 is newer than 2.2.3.189, which a string comparison gets
// wrong); a missing part counts as 0. ok is false when either is not a
// dotted version.
func CompareVersions(a, b string) (c int, ok bool) {
	x, okA := parseDotted(a)
	y, okB := parseDotted(b)
	if !okA || !okB {
		return 0, false
	}
	for i := range max(len(x), len(y)) {
		var p, q int
		if i < len(x) {
			p = x[i]
		}
		if i < len(y) {
			q = y[i]
		}
		if p != q {
			return cmp.Compare(p, q), true
		}
	}
	return 0, true
}

// TooOldForSessionManager says whether an agent of version on osType is
// older than Session Manager needs. A version that does not read as
// dotted numbers counts as too old: nothing shows it is new enough, and
// the answer is only reported. An OS without a documented minimum is
// never too old.
func TooOldForSessionManager(osType, version string) bool {
	minimum, known := sessionManagerMinimum(osType)
	if !known {
		return false
	}
	c, ok := CompareVersions(version, minimum)
	return !ok || c < 0
}

// Bounds of what one scan segment reports about agent versions: distinct
// versions beyond maxVersionsKept are counted together as OtherVersion,
// and at most MaxTooOldListed too-old agents are named (all are counted).
const (
	maxVersionsKept = 100
	MaxTooOldListed = 100
	// OtherVersion stands for the versions past the bound.
	OtherVersion = "other"
)

// VersionCount is how many Running instances' agents reported a version.
type VersionCount struct {
	OSType  string `json:"os"`
	Version string `json:"v"`
	Count   int    `json:"n"`
}

// OldAgent is an instance whose agent is too old for Session Manager.
type OldAgent struct {
	ID      string `json:"i"`
	OSType  string `json:"os"`
	Version string `json:"v"`
}

// AgentScan is what a scan segment read about agent versions.
type AgentScan struct {
	// Versions is sorted by OS type, then version (numerically).
	Versions []VersionCount `json:"versions,omitempty"`
	// TooOld names at most MaxTooOldListed; TooOldCount counts them all.
	TooOld      []OldAgent `json:"too_old,omitempty"`
	TooOldCount int        `json:"too_old_count,omitempty"`
}

// Reported is how many agents reported a version.
func (s AgentScan) Reported() int {
	n := 0
	for _, v := range s.Versions {
		n += v.Count
	}
	return n
}

// Add tallies one agent's version.
func (s *AgentScan) Add(id, osType, version string) {
	s.addCount(VersionCount{OSType: osType, Version: version, Count: 1})
	if TooOldForSessionManager(osType, version) {
		s.TooOldCount++
		if len(s.TooOld) < MaxTooOldListed {
			s.TooOld = append(s.TooOld, OldAgent{ID: id, OSType: osType, Version: version})
		}
	}
}

// Merge adds o's tallies to s, within the same bounds.
func (s *AgentScan) Merge(o AgentScan) {
	for _, v := range o.Versions {
		s.addCount(v)
	}
	s.TooOldCount += o.TooOldCount
	room := MaxTooOldListed - len(s.TooOld)
	s.TooOld = append(s.TooOld, o.TooOld[:min(room, len(o.TooOld))]...)
}

func (s *AgentScan) addCount(v VersionCount) {
	i, found := slices.BinarySearchFunc(s.Versions, v, compareVersionKey)
	if found {
		s.Versions[i].Count += v.Count
		return
	}
	if len(s.Versions) >= maxVersionsKept && v.Version != OtherVersion {
		s.addCount(VersionCount{OSType: v.OSType, Version: OtherVersion, Count: v.Count})
		return
	}
	s.Versions = slices.Insert(s.Versions, i, v)
}

// compareVersionKey orders by OS type, then version numerically (versions
// that do not parse after those that do, as strings).
func compareVersionKey(a, b VersionCount) int {
	if c := strings.Compare(a.OSType, b.OSType); c != 0 {
		return c
	}
	if c, ok := CompareVersions(a.Version, b.Version); ok {
		if c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version) // 2.2 and 2.2.0 stay apart
	}
	_, okA := parseDotted(a.Version)
	_, okB := parseDotted(b.Version)
	switch {
	case okA && !okB:
		return -1
	case !okA && okB:
		return 1
	}
	return strings.Compare(a.Version, b.Version)
}

// agentOS is the instance's OS type as DescribeCloudAssistantStatus
// writes it ("Linux"), from its answer or else DescribeInstances'.
func agentOS(a ecs.AgentStatus, info ecs.InstanceInfo) string {
	if a.OSType != "" {
		return a.OSType
	}
	switch strings.ToLower(info.OSType) {
	case "linux":
		return ecs.OSLinux
	case "windows":
		return ecs.OSWindows
	case "freebsd":
		return ecs.OSFreeBSD
	}
	return info.OSType
}
