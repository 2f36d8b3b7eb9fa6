package ecssim

import (
	"strconv"
	"strings"
	"time"
)

// instance is one simulated ECS instance. Its state is stored as of the last
// transition and brought up to date lazily by Sim.advance, so no goroutine
// or timer exists per instance: 100,000 idle instances cost only memory.
type instance struct {
	id        string
	seq       uint64 // creation order; listings and NextToken follow it
	region    string
	zone      string
	clusterID string
	osType    string

	// managed: a server outside ECS registered with Cloud Assistant (an
	// "mi-" ID). DescribeCloudAssistantStatus knows it; no ECS action does.
	// Its state stays Running (the server is up; its agent may not be).
	managed bool

	state string
	// transitionAt is when the current transient state (Pending, Starting,
	// Stopping) ends; zero for stable states.
	transitionAt time.Time
	// rebooting tells where Stopping leads: Starting (reboot) or Stopped.
	rebooting bool

	agentInstalled bool
	agentVersion   string
	agentHung      bool // installed but silent: no heartbeats until restarted by a boot

	// Heartbeats are arithmetic: while beating, the agent beats at
	// hbAnchor + k·hbInterval for k ≥ 0. When it stops beating, the last beat
	// is frozen into lastHB, which also answers for times before hbAnchor.
	beating    bool
	hbAnchor   time.Time
	hbInterval time.Duration
	lastHB     time.Time

	pendingInstall     bool
	installAlwaysFails bool
	beatsOnce          bool // after each boot: one heartbeat, then hung
	lastInvoked        time.Time
	invocationCount    int64

	vanishAt   time.Time // zero: never
	vanished   bool
	vanishedAt time.Time      // when it vanished; zero while alive
	lists      []*orderedList // listings this instance appears in, for lazy removal

	tags      map[string]string // nil: no tags
	createdAt time.Time
	bootedAt  time.Time // last time it became Running; zero if never during the simulation

	initialProblem string
	vanishes       bool

	installs             int
	reboots              int
	installsWhileHealthy int
	rebootsWhileHealthy  int
	refusedInstalls      int
	refusedReboots       int
	listed               int         // times a DescribeCloudAssistantStatus listing named it
	described            int         // by-ID DescribeInstances and DescribeInstanceStatus calls that named it
	installTimes         []time.Time // accepted installs, as many as installs
	rebootTimes          []time.Time // reboots performed, as many as reboots
}

// lastHeartbeat is the time of the most recent heartbeat at or before now,
// zero if the agent never beat.
func (in *instance) lastHeartbeat(now time.Time) time.Time {
	if in.beating && !now.Before(in.hbAnchor) {
		k := now.Sub(in.hbAnchor) / in.hbInterval
		return in.hbAnchor.Add(k * in.hbInterval)
	}
	return in.lastHB
}

// healthy is the documented meaning of CloudAssistantStatus "true": a
// heartbeat within the last two minutes. It deliberately looks only at the
// heartbeat, like the real service: an agent that was just stopped or removed
// still counts as healthy until its last heartbeat is two minutes old.
func (in *instance) healthy(now time.Time) bool {
	hb := in.lastHeartbeat(now)
	return !hb.IsZero() && now.Sub(hb) <= HeartbeatFreshness
}

// stopBeating freezes the heartbeat as of t.
func (in *instance) stopBeating(t time.Time) {
	if in.beating {
		in.lastHB = in.lastHeartbeat(t)
		in.beating = false
	}
}

// startBeating makes the agent beat from first on. Beats before first keep
// answering with the frozen lastHB.
func (in *instance) startBeating(first time.Time) {
	in.beating = true
	in.hbAnchor = first
}

// agentRuns says whether the agent would be heartbeating now-ish: installed,
// not hung, on a Running instance.
func (in *instance) agentRuns() bool {
	return in.agentInstalled && !in.agentHung && in.state == StateRunning
}

// supportsSessionManager applies the documented version thresholds.
func supportsSessionManager(osType, version string) bool {
	v, ok := parseVersion(version)
	if !ok {
		return false
	}
	minimum := []int{2, 2, 3, 189}
	if osType == OSWindows {
		minimum = []int{2, 1, 3, 189}
	}
	return compareVersions(v, minimum) >= 0
}

// parseVersion splits "2.2.3.256" into numbers.
func parseVersion(s string) ([]int, bool) {
	if s == "" {
		return nil, false
	}
	parts := strings.Split(s, ".")
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

func compareVersions(a, b []int) int {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// orderedList is a listing (a region, or a region filtered by zone, OS or
// cluster) in creation order. Vanished instances are removed lazily: the
// list only counts them as dead and compacts before the next page is cut,
// so a vanish costs O(1) and a listing O(page) except right after a vanish.
type orderedList struct {
	items []*instance
	dead  int
}

func (l *orderedList) live() []*instance {
	if l.dead > 0 {
		kept := l.items[:0]
		for _, in := range l.items {
			if !in.vanished {
				kept = append(kept, in)
			}
		}
		clear(l.items[len(kept):]) // let the vanished instances' pointers go
		l.items = kept
		l.dead = 0
	}
	return l.items
}

// vanishQueue is a min-heap of instances by vanishAt, so due vanishes are
// found in O(log n) instead of scanning the fleet on every request.
type vanishQueue []*instance

func (q vanishQueue) Len() int           { return len(q) }
func (q vanishQueue) Less(i, j int) bool { return q[i].vanishAt.Before(q[j].vanishAt) }
func (q vanishQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *vanishQueue) Push(x any)        { *q = append(*q, x.(*instance)) }
func (q *vanishQueue) Pop() any {
	old := *q
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	*q = old[:n-1]
	return it
}
