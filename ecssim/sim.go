package ecssim

import (
	"container/heap"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sim is an ECS + Cloud Assistant simulator. All of its methods are safe for
// concurrent use; one mutex guards the model, which is enough because every
// request does work proportional to its page or ID list, never to the fleet.
type Sim struct {
	cfg   Config // normalized; read-only after New
	clock Clock
	wall  Clock

	mu          sync.Mutex
	byID        map[string]*instance
	lists       map[listKey]*orderedList
	vanishQ     vanishQueue
	nextSeq     uint64
	idRng       *rand.Rand // IDs of hand-made instances
	faults      *faultState
	actionStats map[string]*ActionTruth
	churn       churnState
	userAgents  map[string]int
	// rebooting and rebootingByZone measure the blast radius as the fleet
	// felt it: reboots in progress at once.
	rebooting       occupancy
	rebootingByZone map[string]*occupancy
	hooks           []Hook // Times is what is left of each

	nonces *nonceCache // has its own lock: auth never waits for the model

	requestSalt uint64
	requestSeq  atomic.Uint64
}

// listKey names one listing: a whole region (kind ""), or a region filtered
// by zone, OS type or cluster. The region's and the zone and cluster
// listings hold ECS instances only (what DescribeInstances and
// DescribeInstanceStatus list); the OS listings and the assistant listing
// (kind listAssistant) are DescribeCloudAssistantStatus's, which hold the
// managed instances too.
type listKey struct {
	region, kind, value string
}

const listAssistant = "assistant"

// New builds a simulator and generates its fleets. It does not listen; use
// Handler or Start.
func New(cfg Config) (*Sim, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Sim{
		cfg:         c,
		clock:       c.Clock,
		wall:        c.WallClock,
		byID:        make(map[string]*instance),
		lists:       make(map[listKey]*orderedList),
		idRng:       rand.New(rand.NewPCG(uint64(c.Seed), 0x1d5_0f_1d5)),
		actionStats: make(map[string]*ActionTruth),
		userAgents:  make(map[string]int),
		nonces:      newNonceCache(c.MaxNonces),
		// Request IDs must differ between runs even with the same seed, so
		// they are the one thing not derived from it.
		requestSalt: rand.Uint64(),
	}
	for _, a := range Actions() {
		s.actionStats[a] = &ActionTruth{}
	}
	s.faults = newFaultState(c.Faults, c.Seed, s.wall.Now())
	// Whole seconds, so generated heartbeat times print exactly as the API
	// formats them.
	start := s.clock.Now().Truncate(time.Second)
	for i, f := range c.Fleets {
		s.generateFleet(i, f, start)
	}
	return s, nil
}

// Clock returns the clock that drives simulated time. With a ManualClock in
// Config, tests advance it directly.
func (s *Sim) Clock() Clock { return s.clock }

// Regions returns the configured regions.
func (s *Sim) Regions() []string { return slices.Clone(s.cfg.Regions) }

func (s *Sim) knownRegion(r string) bool { return slices.Contains(s.cfg.Regions, r) }

// addInstance registers a new instance in the index, the listings and the
// vanish queue. Callers hold s.mu.
func (s *Sim) addInstance(in *instance) {
	s.nextSeq++
	in.seq = s.nextSeq
	s.byID[in.id] = in
	keys := []listKey{
		{region: in.region, kind: listAssistant},
		{region: in.region, kind: "os", value: in.osType},
	}
	if !in.managed {
		keys = append(keys, listKey{region: in.region}, listKey{region: in.region, kind: "zone", value: in.zone})
	}
	if in.clusterID != "" {
		keys = append(keys, listKey{region: in.region, kind: "cluster", value: in.clusterID})
	}
	for _, k := range keys {
		l := s.lists[k]
		if l == nil {
			l = &orderedList{}
			s.lists[k] = l
		}
		l.items = append(l.items, in)
		in.lists = append(in.lists, l)
	}
	if !in.vanishAt.IsZero() {
		heap.Push(&s.vanishQ, in)
	}
}

// newID draws an instance ID shaped like ECS's: "i-" + 20 lowercase
// alphanumerics, starting with the region's usual two-character prefix.
// Callers hold s.mu.
func (s *Sim) newID(region string, rng *rand.Rand) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	prefix := regionIDPrefix(region)
	for {
		b := make([]byte, 0, 22)
		b = append(b, "i-"...)
		b = append(b, prefix...)
		for len(b) < 22 {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		id := string(b)
		if _, taken := s.byID[id]; !taken {
			return id
		}
	}
}

func regionIDPrefix(region string) string {
	switch region {
	case "cn-hangzhou":
		return "bp"
	case "cn-shanghai":
		return "uf"
	case "cn-beijing":
		return "2z"
	case "cn-shenzhen":
		return "wz"
	case "cn-qingdao":
		return "m5"
	case "cn-zhangjiakou":
		return "8v"
	case "ap-southeast-1":
		return "t4"
	case "us-west-1":
		return "rj"
	case "eu-central-1":
		return "gw"
	}
	return ""
}

// now reads the simulated clock and applies every vanish that is due, so
// listings never show an instance that a direct lookup would call gone.
// Callers hold s.mu.
func (s *Sim) now() time.Time {
	now := s.clock.Now()
	for len(s.vanishQ) > 0 && !now.Before(s.vanishQ[0].vanishAt) {
		in := heap.Pop(&s.vanishQ).(*instance)
		s.advance(in, now)
	}
	return now
}

// advance applies every transition of in that is due at now, in time order,
// so the result does not depend on how often the instance was looked at.
// Callers hold s.mu.
func (s *Sim) advance(in *instance, now time.Time) {
	if in.vanished {
		return
	}
	for !in.transitionAt.IsZero() && !now.Before(in.transitionAt) {
		if !in.vanishAt.IsZero() && !in.vanishAt.After(in.transitionAt) {
			break // it vanished before this transition happened
		}
		s.transition(in)
	}
	if !in.vanishAt.IsZero() && !now.Before(in.vanishAt) {
		s.markVanished(in, in.vanishAt)
	}
}

// transitionEnd is when a state entered at t ends by itself: the configured
// duration for Pending, Starting and Stopping, zero for stable states.
func (s *Sim) transitionEnd(state string, t time.Time) time.Time {
	switch state {
	case StatePending:
		return t.Add(s.cfg.PendingDuration)
	case StateStarting:
		return t.Add(s.cfg.StartDuration)
	case StateStopping:
		return t.Add(s.cfg.StopDuration)
	}
	return time.Time{}
}

// transition ends the current transient state at in.transitionAt.
func (s *Sim) transition(in *instance) {
	t := in.transitionAt
	in.transitionAt = time.Time{}
	switch in.state {
	case StatePending:
		in.state = StateStarting
		in.transitionAt = s.transitionEnd(StateStarting, t)
	case StateStopping:
		if in.rebooting {
			in.state = StateStarting
			in.transitionAt = s.transitionEnd(StateStarting, t)
		} else {
			in.state = StateStopped
		}
		in.rebooting = false
	case StateStarting:
		s.boot(in, t)
	}
}

// boot makes in Running at t. Booting is when a pending install takes effect
// (the documented "install, then reboot") and when a hung agent restarts.
func (s *Sim) boot(in *instance, t time.Time) {
	in.state = StateRunning
	in.bootedAt = t
	in.transitionAt = time.Time{}
	in.rebooting = false
	if in.pendingInstall {
		in.pendingInstall = false
		if !in.installAlwaysFails {
			in.agentInstalled = true
			in.agentVersion = s.cfg.AgentVersion
		}
	}
	if in.agentInstalled {
		in.agentHung = false
		if in.beatsOnce {
			in.hbInterval = neverAgain // the first beat is the only one
		}
		in.startBeating(t.Add(s.cfg.FirstHeartbeatDelay))
	}
}

// neverAgain is the heartbeat interval of an agent that beats once.
const neverAgain = 100 * 365 * 24 * time.Hour

func (s *Sim) markVanished(in *instance, t time.Time) {
	if in.vanished {
		return
	}
	in.stopBeating(t)
	in.vanished = true
	in.vanishedAt = t
	in.transitionAt = time.Time{}
	for _, l := range in.lists {
		l.dead++
	}
}

// reboot starts a reboot at now. Callers checked that in is Running.
func (s *Sim) reboot(in *instance, now time.Time) {
	in.reboots++
	in.rebootTimes = append(in.rebootTimes, now)
	s.recordRebootOccupancy(in, now)
	if in.healthy(now) {
		in.rebootsWhileHealthy++
	}
	in.stopBeating(now)
	in.state = StateStopping
	in.rebooting = true
	in.transitionAt = s.transitionEnd(StateStopping, now)
}

// install records an accepted InstallCloudAssistant for in.
func (s *Sim) install(in *instance, now time.Time) {
	in.installs++
	in.installTimes = append(in.installTimes, now)
	if in.healthy(now) {
		in.installsWhileHealthy++
	}
	in.pendingInstall = true
}

// get returns the instance with id brought up to now. Callers hold s.mu.
func (s *Sim) get(id string, now time.Time) (*instance, error) {
	in := s.byID[id]
	if in == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownInstance, id)
	}
	s.advance(in, now)
	if in.vanished {
		return in, fmt.Errorf("%w: %q", ErrVanished, id)
	}
	return in, nil
}

// AddInstance creates a hand-made instance and returns its ID.
func (s *Sim) AddInstance(spec InstanceSpec) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if spec.Region == "" {
		spec.Region = s.cfg.Regions[0]
	}
	if !s.knownRegion(spec.Region) {
		return "", fmt.Errorf("ecssim: add instance: region %q is not configured", spec.Region)
	}
	switch {
	case spec.ID == "" && spec.Managed:
		spec.ID = managedID(s.newID(spec.Region, s.idRng))
	case spec.ID == "":
		spec.ID = s.newID(spec.Region, s.idRng)
	case strings.HasPrefix(spec.ID, ManagedIDPrefix) != spec.Managed:
		return "", fmt.Errorf("ecssim: add instance: ID %q: managed instances, and only they, have IDs starting with %q", spec.ID, ManagedIDPrefix)
	}
	if _, taken := s.byID[spec.ID]; taken {
		return "", fmt.Errorf("ecssim: add instance: ID %q already exists", spec.ID)
	}
	if spec.Managed {
		if spec.Zone != "" || spec.ClusterID != "" || (spec.State != "" && spec.State != StateRunning) {
			return "", fmt.Errorf("ecssim: add instance: managed instance %q: no zone, no cluster, state Running (ECS knows none of them)", spec.ID)
		}
	} else if spec.Zone == "" {
		spec.Zone = spec.Region + "-a"
	}
	if spec.OSType == "" {
		spec.OSType = OSLinux
	}
	if !slices.Contains(osTypes(), spec.OSType) {
		return "", fmt.Errorf("ecssim: add instance: OSType %q; valid: Linux, Windows, FreeBSD", spec.OSType)
	}
	if spec.State == "" {
		spec.State = StateRunning
	}
	if !validState(spec.State) {
		return "", fmt.Errorf("ecssim: add instance: state %q; valid: Pending, Starting, Running, Stopping, Stopped", spec.State)
	}
	if spec.HeartbeatInterval < 0 {
		return "", fmt.Errorf("ecssim: add instance: HeartbeatInterval must not be negative, got %v", spec.HeartbeatInterval)
	}
	if spec.HeartbeatInterval == 0 {
		spec.HeartbeatInterval = 60 * time.Second
	}
	if spec.AgentInstalled && spec.AgentVersion == "" {
		spec.AgentVersion = s.cfg.AgentVersion
	}
	if spec.AgentInstalled {
		if _, ok := parseVersion(spec.AgentVersion); !ok {
			return "", fmt.Errorf("ecssim: add instance: AgentVersion %q is not a dotted version", spec.AgentVersion)
		}
	}
	if err := checkTags(spec.Tags); err != nil {
		return "", fmt.Errorf("ecssim: add instance: %w", err)
	}
	in := &instance{
		id: spec.ID, region: spec.Region, zone: spec.Zone, clusterID: spec.ClusterID, osType: spec.OSType,
		state: spec.State, hbInterval: spec.HeartbeatInterval,
		agentInstalled: spec.AgentInstalled, agentHung: spec.AgentInstalled && spec.AgentSilent,
		installAlwaysFails: spec.InstallAlwaysFails, beatsOnce: spec.BeatsOnce, vanishAt: spec.VanishAt,
		vanishes: !spec.VanishAt.IsZero(), createdAt: now, managed: spec.Managed,
	}
	if len(spec.Tags) > 0 {
		in.tags = maps.Clone(spec.Tags)
	}
	if spec.State == StateRunning {
		in.bootedAt = now
	}
	if spec.AgentInstalled {
		in.agentVersion = spec.AgentVersion
	}
	in.transitionAt = s.transitionEnd(spec.State, now)
	switch {
	case in.agentRuns():
		anchor := spec.LastHeartbeat
		if anchor.IsZero() {
			anchor = now
		}
		in.startBeating(anchor)
	case spec.AgentInstalled:
		in.lastHB = spec.LastHeartbeat
	}
	in.initialProblem = spec.InitialProblem
	if in.initialProblem == "" {
		in.initialProblem = deriveProblem(in)
	}
	s.addInstance(in)
	return in.id, nil
}

func deriveProblem(in *instance) string {
	switch {
	case in.managed:
		return ProblemManaged
	case in.state == StateStopped:
		return ProblemStopped
	case in.installAlwaysFails:
		return ProblemInstallFails
	case in.beatsOnce:
		return ProblemFlaky
	case !in.agentInstalled:
		return ProblemMissing
	case in.agentHung:
		return ProblemSilent
	case !supportsSessionManager(in.osType, in.agentVersion):
		return ProblemOutdated
	}
	return ProblemHealthy
}

// modify runs fn on a live instance under the lock.
func (s *Sim) modify(id string, fn func(in *instance, now time.Time) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	in, err := s.get(id, now)
	if err != nil {
		return err
	}
	return fn(in, now)
}

// Vanish makes the instance disappear now: 404 for it, gone from listings,
// still in Truth with Vanished set.
func (s *Sim) Vanish(id string) error {
	return s.modify(id, func(in *instance, now time.Time) error {
		// vanishAt stays as it was: it is the key of the vanish heap, and
		// changing it in place would break the heap's order.
		s.markVanished(in, now)
		return nil
	})
}

// HealAgent installs (if needed) and restarts the agent with a heartbeat at
// the current time. On an instance that is not Running the agent beats again
// once it boots.
func (s *Sim) HealAgent(id string) error {
	return s.modify(id, func(in *instance, now time.Time) error {
		s.healAgent(in, now)
		return nil
	})
}

// healAgent is HealAgent on a live instance. Callers hold s.mu.
func (s *Sim) healAgent(in *instance, now time.Time) {
	if !in.agentInstalled {
		in.agentInstalled = true
		in.agentVersion = s.cfg.AgentVersion
	}
	in.agentHung = false
	if in.state == StateRunning {
		in.startBeating(now)
	} else {
		in.lastHB = now
	}
}

// SilenceAgent hangs the agent: installed, but no more heartbeats until a
// reboot or HealAgent.
func (s *Sim) SilenceAgent(id string) error {
	return s.modify(id, func(in *instance, now time.Time) error {
		if !in.agentInstalled {
			return fmt.Errorf("silence agent of %q: %w", id, ErrNoAgent)
		}
		in.stopBeating(now)
		in.agentHung = true
		return nil
	})
}

// RemoveAgent uninstalls the agent. Its last heartbeat stays on record.
func (s *Sim) RemoveAgent(id string) error {
	return s.modify(id, func(in *instance, now time.Time) error {
		in.stopBeating(now)
		in.agentInstalled = false
		in.agentVersion = ""
		in.agentHung = false
		return nil
	})
}

// SetState puts the instance into state now. Running counts as a boot (a
// pending install takes effect, a hung agent restarts); Pending, Starting
// and Stopping move on by themselves after the configured durations
// (Stopping leads to Stopped).
func (s *Sim) SetState(id, state string) error {
	if !validState(state) {
		return fmt.Errorf("ecssim: set state: %q; valid: Pending, Starting, Running, Stopping, Stopped", state)
	}
	return s.modify(id, func(in *instance, now time.Time) error {
		s.setState(in, state, now)
		return nil
	})
}

// setState is SetState on a live instance. Callers hold s.mu.
func (s *Sim) setState(in *instance, state string, now time.Time) {
	if state == in.state && in.transitionAt.IsZero() {
		return
	}
	if state == StateRunning {
		s.boot(in, now)
		return
	}
	in.stopBeating(now)
	in.state = state
	in.rebooting = false
	in.transitionAt = s.transitionEnd(state, now)
}

// AdvanceClock moves a ManualClock forward; it fails with ErrNotManualClock
// otherwise. It exists for the HTTP path of out-of-process tests.
func (s *Sim) AdvanceClock(d time.Duration) (time.Time, error) {
	mc, ok := s.clock.(*ManualClock)
	if !ok {
		return time.Time{}, ErrNotManualClock
	}
	return mc.Advance(d), nil
}

// SetFaults replaces the injected faults.
func (s *Sim) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("ecssim: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.set(f, s.wall.Now())
	return nil
}

// Faults returns the injected faults.
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults.cfg
	f.Actions = slices.Clone(f.Actions)
	f.OmitIDs = slices.Clone(f.OmitIDs)
	return f
}

// ResetCounters zeroes every per-instance and per-action counter (with the
// install and reboot times), the user agents and the rebooting-at-once
// maxima, e.g. between the warm-up and the measured part of a benchmark.
func (s *Sim) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.byID {
		in.installs, in.reboots = 0, 0
		in.installsWhileHealthy, in.rebootsWhileHealthy = 0, 0
		in.refusedInstalls, in.refusedReboots = 0, 0
		in.listed, in.described = 0, 0
		in.installTimes, in.rebootTimes = nil, nil
	}
	for _, a := range s.actionStats {
		*a = ActionTruth{}
	}
	clear(s.userAgents)
	// The reboots in progress stay in progress: only the maxima restart, so
	// the next reboot counts the ones still going on.
	s.rebooting.max = 0
	for _, z := range s.rebootingByZone {
		z.max = 0
	}
}

// Truth is the simulator's ground truth, for tests and benchmarks.
type Truth struct {
	Now       time.Time              `json:"now"`
	Instances []InstanceTruth        `json:"instances"` // sorted by ID, vanished ones included with Vanished=true
	Actions   map[string]ActionTruth `json:"actions"`   // key: action name; all implemented actions present
	// UserAgents counts the RPC requests by their User-Agent header (at most
	// MaxUserAgents distinct values; the rest count under OtherUserAgents).
	UserAgents map[string]int `json:"user_agents"`
	// MaxRebootingAtOnce is the blast radius as the fleet felt it: the most
	// instances that were, at one simulated moment, between a reboot call
	// and being Running again, counting each reboot as lasting
	// StopDuration+StartDuration from its call. ByZone is the same per zone
	// (only zones that rebooted since the last reset). Reset by
	// ResetCounters; reboots in progress then still count for the next.
	MaxRebootingAtOnce       int            `json:"max_rebooting_at_once"`
	MaxRebootingAtOnceByZone map[string]int `json:"max_rebooting_at_once_by_zone"`
}

// MaxUserAgents bounds the distinct User-Agent values Truth keeps, so a
// client that varies its header cannot grow the simulator's memory;
// requests beyond it count under OtherUserAgents.
const (
	MaxUserAgents   = 1000
	OtherUserAgents = "(other)"
)

// recordUserAgent counts one RPC request's User-Agent.
func (s *Sim) recordUserAgent(ua string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, known := s.userAgents[ua]; !known && len(s.userAgents) >= MaxUserAgents {
		ua = OtherUserAgents
	}
	s.userAgents[ua]++
}

// InstanceTruth is everything known about one instance.
type InstanceTruth struct {
	ID     string `json:"id"`
	Region string `json:"region"`
	Zone   string `json:"zone"`
	State  string `json:"state"`
	OSType string `json:"os_type"`

	AgentInstalled bool      `json:"agent_installed"`
	AgentVersion   string    `json:"agent_version"`
	AgentHealthy   bool      `json:"agent_healthy"` // a heartbeat within the last 2 minutes: CloudAssistantStatus "true"
	LastHeartbeat  time.Time `json:"last_heartbeat,omitzero"`
	PendingInstall bool      `json:"pending_install"` // an accepted install waits for the next boot

	Vanished           bool `json:"vanished"`
	InstallAlwaysFails bool `json:"install_always_fails"`

	Installs             int `json:"installs"`               // accepted InstallCloudAssistant calls that named this instance
	Reboots              int `json:"reboots"`                // reboots actually performed
	InstallsWhileHealthy int `json:"installs_while_healthy"` // installs accepted while its agent was healthy
	RebootsWhileHealthy  int `json:"reboots_while_healthy"`  // reboots performed while its agent was healthy
	RefusedInstalls      int `json:"refused_installs"`       // install calls that named it and that the action refused (limits, region, not found, state)
	RefusedReboots       int `json:"refused_reboots"`        // the same for reboot calls, and SuccessFirst entries that failed; dry runs excluded
	// Listed counts the DescribeCloudAssistantStatus listings (pages
	// without InstanceId.N) that named it: a scan that reads every instance
	// once leaves 1 on each instance that lived through it.
	Listed int `json:"listed"`
	// Described counts the DescribeInstances and DescribeInstanceStatus
	// calls that named it by ID, answered or not (a managed instance's
	// should stay 0: no ECS call knows it).
	Described int `json:"described"`
	// Managed: a managed instance (an "mi-" ID, outside ECS; see
	// FleetSpec.Managed). It has no zone.
	Managed bool `json:"managed,omitempty"`

	InitialProblem string `json:"initial_problem"` // healthy, missing, silent, stopped, install-fails, outdated, flaky, managed
	Vanishes       bool   `json:"vanishes"`        // generated (or added) with a vanish time

	Tags map[string]string `json:"tags,omitempty"`

	// CreatedAt is the simulated time the instance was created (the start
	// for generated fleets) and VanishedAt when it vanished (zero while it
	// lives): an instance existed throughout a scan from a to b if
	// CreatedAt <= a and (VanishedAt is zero or VanishedAt > b).
	CreatedAt  time.Time `json:"created_at"`
	VanishedAt time.Time `json:"vanished_at,omitzero"`
	// BootedAt is the last time the instance became Running (zero if it has
	// not been Running during the simulation, e.g. generated Stopped).
	BootedAt time.Time `json:"booted_at,omitzero"`
	// InstallTimes and RebootTimes are the simulated times of the accepted
	// installs and of the reboots performed, oldest first (reset with the
	// counters).
	InstallTimes []time.Time `json:"install_times,omitempty"`
	RebootTimes  []time.Time `json:"reboot_times,omitempty"`
}

// ActionTruth counts the calls of one action (requests naming it in Action
// with the right Version). Gateway refusals (signature, throttling, injected
// faults) count as calls and errors, but never as an instance's refusal.
type ActionTruth struct {
	Calls          int `json:"calls"`            // every request naming the action, answered or not
	Errors         int `json:"errors"`           // answered with a non-2xx status, or dropped
	MaxInstanceIDs int `json:"max_instance_ids"` // most InstanceId values seen in one call, refused calls included
}

func (s *Sim) truthOf(in *instance, now time.Time) InstanceTruth {
	s.advance(in, now)
	return InstanceTruth{
		ID: in.id, Region: in.region, Zone: in.zone, State: in.state, OSType: in.osType,
		AgentInstalled: in.agentInstalled, AgentVersion: in.agentVersion,
		AgentHealthy: !in.vanished && in.healthy(now), LastHeartbeat: in.lastHeartbeat(now),
		PendingInstall: in.pendingInstall,
		Vanished:       in.vanished, InstallAlwaysFails: in.installAlwaysFails,
		Installs: in.installs, Reboots: in.reboots,
		InstallsWhileHealthy: in.installsWhileHealthy, RebootsWhileHealthy: in.rebootsWhileHealthy,
		RefusedInstalls: in.refusedInstalls, RefusedReboots: in.refusedReboots, Listed: in.listed, Described: in.described, Managed: in.managed,
		InitialProblem: in.initialProblem, Vanishes: in.vanishes,
		Tags:      maps.Clone(in.tags),
		CreatedAt: in.createdAt, VanishedAt: in.vanishedAt, BootedAt: in.bootedAt,
		InstallTimes: slices.Clone(in.installTimes), RebootTimes: slices.Clone(in.rebootTimes),
	}
}

// Truth returns the state of every instance (as of now) and the per-action
// counters. It costs O(fleet log fleet): fine for tests and for a benchmark's
// final check, not for a hot loop.
func (s *Sim) Truth() Truth {
	s.mu.Lock()
	now := s.now()
	t := Truth{Now: now, Instances: make([]InstanceTruth, 0, len(s.byID)), Actions: make(map[string]ActionTruth, len(s.actionStats))}
	for _, in := range s.byID {
		t.Instances = append(t.Instances, s.truthOf(in, now))
	}
	for name, a := range s.actionStats {
		t.Actions[name] = *a
	}
	t.UserAgents = maps.Clone(s.userAgents)
	t.MaxRebootingAtOnce = s.rebooting.max
	t.MaxRebootingAtOnceByZone = make(map[string]int, len(s.rebootingByZone))
	for zone, z := range s.rebootingByZone {
		if z.max > 0 {
			t.MaxRebootingAtOnceByZone[zone] = z.max
		}
	}
	s.mu.Unlock()
	sort.Slice(t.Instances, func(i, j int) bool { return t.Instances[i].ID < t.Instances[j].ID })
	return t
}

// Instance returns the truth of one instance, vanished ones included.
func (s *Sim) Instance(id string) (InstanceTruth, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.byID[id]
	if in == nil {
		return InstanceTruth{}, false
	}
	return s.truthOf(in, s.now()), true
}

// InstanceIDs returns the IDs of the live ECS instances of region in
// creation order (the order of the listings); managed instances are not
// ECS instances and are left out (see ManagedInstanceIDs).
func (s *Sim) InstanceIDs(region string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now()
	l := s.lists[listKey{region: region}]
	if l == nil {
		return nil
	}
	items := l.live()
	ids := make([]string, len(items))
	for i, in := range items {
		ids[i] = in.id
	}
	return ids
}

// ManagedInstanceIDs returns the IDs of the live managed instances of
// region in creation order.
func (s *Sim) ManagedInstanceIDs(region string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now()
	l := s.lists[listKey{region: region, kind: listAssistant}]
	if l == nil {
		return nil
	}
	var ids []string
	for _, in := range l.live() {
		if in.managed {
			ids = append(ids, in.id)
		}
	}
	return ids
}
