package ecssim

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Protocol constants the real ECS endpoint expects.
const (
	// APIVersion is the only ECS API version the simulator speaks.
	APIVersion = "2014-05-26"
	// TimestampTolerance is how far a request Timestamp may be from wall-clock now.
	TimestampTolerance = 15 * time.Minute
	// NonceWindow is how long a SignatureNonce is remembered (wall time).
	NonceWindow = 15 * time.Minute
	// HeartbeatFreshness is the documented rule for CloudAssistantStatus "true".
	HeartbeatFreshness = 2 * time.Minute
)

// Default credentials, region and behaviour. The credentials are not secret:
// the simulator is a local test double.
const (
	DefaultAccessKeyID         = "ecssim-access-key-id"
	DefaultAccessKeySecret     = "ecssim-access-key-secret"
	DefaultRegion              = "cn-hangzhou"
	DefaultAgentVersion        = "2.2.3.256"
	DefaultStopDuration        = 10 * time.Second
	DefaultStartDuration       = 20 * time.Second
	DefaultPendingDuration     = 10 * time.Second
	DefaultFirstHeartbeatDelay = 5 * time.Second
	DefaultVanishAfterMin      = 5 * time.Minute
	DefaultVanishAfterMax      = 60 * time.Minute
	DefaultMaxNonces           = 200_000
	// DefaultTagKey and DefaultTagValue are the tag FleetSpec.Tagged puts on
	// instances: fleetmend's opt-out tag.
	DefaultTagKey   = "fleetmend:exclude"
	DefaultTagValue = "true"
)

// Tag limits of ECS: at most 20 tags per resource, keys and values of at
// most 128 characters.
const (
	MaxTagsPerInstance = 20
	MaxTagKeyLength    = 128
	MaxTagValueLength  = 128
)

// Outdated agent versions given to "outdated" instances: older than the
// Session Manager thresholds (2.2.3.189 Linux/FreeBSD, 2.1.3.189 Windows).
const (
	OutdatedAgentVersion        = "2.2.0.106"
	OutdatedWindowsAgentVersion = "2.1.0.106"
)

// Instance states as ECS names them.
const (
	StatePending  = "Pending"
	StateStarting = "Starting"
	StateRunning  = "Running"
	StateStopping = "Stopping"
	StateStopped  = "Stopped"
)

// Operating system types as DescribeCloudAssistantStatus names them.
const (
	OSLinux   = "Linux"
	OSWindows = "Windows"
	OSFreeBSD = "FreeBSD"
)

// Initial problems a generated (or hand-made) instance starts with.
const (
	ProblemHealthy      = "healthy"
	ProblemMissing      = "missing"
	ProblemSilent       = "silent"
	ProblemStopped      = "stopped"
	ProblemInstallFails = "install-fails"
	// ProblemFlaky: agent missing; once installed and rebooted it sends one
	// heartbeat and hangs (a package that starts and crashes).
	ProblemFlaky    = "flaky"
	ProblemOutdated = "outdated"
	// ProblemManaged: a managed instance (see FleetSpec.Managed), not an
	// ECS instance at all.
	ProblemManaged = "managed"
)

// ManagedOfflineShare is the share of a generated fleet's managed instances
// whose agent is offline (no heartbeat for 10 minutes to 3 days: the server
// is down or cut off); the others heartbeat like healthy ECS instances.
const ManagedOfflineShare = 0.2

// Action names the simulator implements.
const (
	ActionDescribeInstanceStatus       = "DescribeInstanceStatus"
	ActionDescribeCloudAssistantStatus = "DescribeCloudAssistantStatus"
	ActionDescribeInstances            = "DescribeInstances"
	ActionInstallCloudAssistant        = "InstallCloudAssistant"
	ActionRebootInstance               = "RebootInstance"
	ActionRebootInstances              = "RebootInstances"
	ActionDescribeRegions              = "DescribeRegions"
)

// Actions returns the names of the implemented actions, sorted.
func Actions() []string {
	return []string{
		ActionDescribeCloudAssistantStatus,
		ActionDescribeInstanceStatus,
		ActionDescribeInstances,
		ActionDescribeRegions,
		ActionInstallCloudAssistant,
		ActionRebootInstance,
		ActionRebootInstances,
	}
}

func isAction(name string) bool {
	switch name {
	case ActionDescribeInstanceStatus, ActionDescribeCloudAssistantStatus, ActionDescribeInstances,
		ActionInstallCloudAssistant, ActionRebootInstance, ActionRebootInstances, ActionDescribeRegions:
		return true
	}
	return false
}

func osTypes() []string { return []string{OSLinux, OSWindows, OSFreeBSD} }

func validState(s string) bool {
	switch s {
	case StatePending, StateStarting, StateRunning, StateStopping, StateStopped:
		return true
	}
	return false
}

// Credential is one access key the simulator accepts.
type Credential struct {
	Secret string
	// SecurityToken, when set, must be sent as the SecurityToken parameter
	// (STS credentials).
	SecurityToken string
	// Forbidden keys sign correctly but every call is refused with
	// 403 Forbidden.RAM, like a RAM user without the ECS policy.
	Forbidden bool
	// ForbiddenActions refuses only the named actions with Forbidden.RAM.
	ForbiddenActions []string
	// ForbiddenRegions refuses every call naming one of these regions
	// (its RegionId, or for RebootInstance without one the instance's
	// region) with 403 Forbidden.RAM: a RAM policy whose Resource names
	// only the other regions (acs:ecs:cn-hangzhou:*:*). DescribeRegions
	// without a RegionId names no region and is answered.
	ForbiddenRegions []string
}

// Config configures a simulator. The zero value is usable: one region
// (cn-hangzhou), the default credential pair, real-time clock, no fleet.
type Config struct {
	// Regions the simulated account has. Default: [DefaultRegion].
	Regions []string
	// ApiNotSupportedRegions answer DescribeCloudAssistantStatus with
	// 400 RegionId.ApiNotSupported. They must also be in Regions.
	ApiNotSupportedRegions []string
	// Credentials maps AccessKeyId to its credential. Default:
	// DefaultAccessKeyID → DefaultAccessKeySecret.
	Credentials map[string]Credential

	// Clock drives simulated time. Default: a ScaledClock starting at the
	// current wall time (whole seconds) running TimeScale times real time.
	Clock Clock
	// TimeScale is simulated seconds per real second when Clock is nil. Default 1.
	TimeScale float64
	// WallClock is the real time used for the Timestamp check, the nonce
	// memory and the throttling bucket. Default: time.Now. Tests replace it
	// to make throttling exact.
	WallClock Clock

	// Seed drives everything random that is not covered by a FleetSpec's own
	// seed: IDs of hand-made instances and fault injection. (Request IDs are
	// random per process, so they stay unique across runs.)
	Seed int64
	// Fleets are generated at New, in order.
	Fleets []FleetSpec
	// Faults active from the start.
	Faults Faults

	// StopDuration is how long a rebooting instance stays Stopping. Default 10 s.
	StopDuration time.Duration
	// StartDuration is how long a booting instance stays Starting. Default 20 s.
	StartDuration time.Duration
	// PendingDuration is how long a Pending instance takes to reach Starting. Default 10 s.
	PendingDuration time.Duration
	// FirstHeartbeatDelay is the time from reaching Running to the agent's
	// first heartbeat. Default 5 s.
	FirstHeartbeatDelay time.Duration
	// AgentVersion is what InstallCloudAssistant installs and what healthy
	// generated instances run. Default DefaultAgentVersion.
	AgentVersion string
	// MaxNonces caps the remembered nonces so memory stays bounded (about
	// 25 MB at the default) even at rates where 15 minutes of nonces would
	// not fit; beyond it the oldest are forgotten early. Default 200,000.
	MaxNonces int
}

// FleetSpec describes a generated fleet in one region. Shares are fractions
// of Size in [0,1]; the problem shares (Missing, Silent, Stopped,
// InstallFails, Outdated, Flaky, Managed) are exclusive and must add up to at most 1, the
// rest is healthy. Vanish and Tagged are independent of them. Each count is
// round(share × Size), so tests can count exactly.
type FleetSpec struct {
	Region string
	// Zones instances are spread over round-robin. Default: <region>-a, <region>-b.
	Zones []string
	Size  int
	// Seed makes the fleet reproducible: the same spec and seed give the same
	// IDs and the same problems. 0 derives a seed from Config.Seed and the
	// fleet's position.
	Seed int64

	Missing      float64 // agent not installed
	Silent       float64 // agent installed but hung: no heartbeats
	Stopped      float64 // instance Stopped (agent installed)
	InstallFails float64 // agent missing and every install fails
	Outdated     float64 // healthy agent, version older than the Session Manager threshold
	Flaky        float64 // agent missing; after its repair it heartbeats once, then hangs
	// Managed instances are servers outside ECS registered with Cloud
	// Assistant ("mi-" IDs, made from the IDs the fleet would have drawn):
	// DescribeCloudAssistantStatus lists them with the ECS instances, by
	// InstanceId.N too, with an agent (ManagedOfflineShare of them offline);
	// DescribeInstances and DescribeInstanceStatus leave them out, and
	// InstallCloudAssistant and RebootInstance(s) answer them as unknown
	// IDs. They have no zone.
	Managed float64
	Vanish  float64 // vanish at a random time in [start+VanishAfterMin, start+VanishAfterMax]

	VanishAfterMin time.Duration // default 5 min
	VanishAfterMax time.Duration // default 60 min

	// OSWeights is the relative share of each OS type ("Linux", "Windows",
	// "FreeBSD"). Default: Linux only.
	OSWeights map[string]float64

	// Tagged is the share of instances that carry the tag TagKey=TagValue
	// (default DefaultTagKey=DefaultTagValue, fleetmend's opt-out), exactly
	// round(Tagged × Size) of them. They are drawn from a random stream of
	// their own, so adding tags to a spec keeps its IDs and problems.
	Tagged   float64
	TagKey   string
	TagValue string
}

// InstanceSpec describes one hand-made instance (AddInstance).
type InstanceSpec struct {
	// ID is generated if empty; otherwise it must be unique.
	ID string
	// Region defaults to the first configured region.
	Region string
	// Zone defaults to <region>-a.
	Zone      string
	ClusterID string
	// OSType defaults to Linux.
	OSType string
	// State defaults to Running. Pending, Starting and Stopping move on by
	// themselves like after SetState.
	State string

	AgentInstalled bool
	// AgentVersion defaults to Config.AgentVersion when AgentInstalled.
	AgentVersion string
	// AgentSilent makes an installed agent hung: it stops heartbeating.
	AgentSilent bool
	// LastHeartbeat: for a heartbeating agent, the phase of its heartbeats
	// (default: a heartbeat at the current time); for a silent agent, its
	// last heartbeat (default: never).
	LastHeartbeat time.Time
	// HeartbeatInterval defaults to 60 s.
	HeartbeatInterval time.Duration

	InstallAlwaysFails bool
	// BeatsOnce: whenever the agent starts (after a boot), it sends one
	// heartbeat and hangs.
	BeatsOnce bool
	// VanishAt, if set, is when the instance disappears.
	VanishAt time.Time
	// InitialProblem labels the instance in Truth; derived from the other
	// fields when empty.
	InitialProblem string
	// Tags are the instance's tags (at most MaxTagsPerInstance).
	Tags map[string]string
	// Managed makes a managed instance (see FleetSpec.Managed): its ID is
	// "mi-…" (generated, or given with that prefix), it has no zone or
	// cluster, and it is Running; the agent fields apply as for others.
	Managed bool
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if len(out.Regions) == 0 {
		out.Regions = []string{DefaultRegion}
	}
	out.Regions = slices.Clone(out.Regions)
	for i, r := range out.Regions {
		if r == "" {
			return out, fmt.Errorf("ecssim: config: Regions[%d] is empty", i)
		}
		if slices.Contains(out.Regions[:i], r) {
			return out, fmt.Errorf("ecssim: config: region %q listed twice", r)
		}
	}
	for _, r := range out.ApiNotSupportedRegions {
		if !slices.Contains(out.Regions, r) {
			return out, fmt.Errorf("ecssim: config: ApiNotSupportedRegions names %q, which is not in Regions", r)
		}
	}
	if len(out.Credentials) == 0 {
		out.Credentials = map[string]Credential{DefaultAccessKeyID: {Secret: DefaultAccessKeySecret}}
	}
	creds := make(map[string]Credential, len(out.Credentials))
	for id, cr := range out.Credentials {
		if id == "" || cr.Secret == "" {
			return out, fmt.Errorf("ecssim: config: credential %q needs a non-empty AccessKeyId and Secret", id)
		}
		cr.ForbiddenActions = slices.Clone(cr.ForbiddenActions)
		for _, r := range cr.ForbiddenRegions {
			if !slices.Contains(out.Regions, r) {
				return out, fmt.Errorf("ecssim: config: credential %q: ForbiddenRegions names %q, which is not in Regions", id, r)
			}
		}
		cr.ForbiddenRegions = slices.Clone(cr.ForbiddenRegions)
		creds[id] = cr
	}
	out.Credentials = creds
	if out.TimeScale == 0 {
		out.TimeScale = 1
	}
	if !(out.TimeScale > 0) {
		return out, fmt.Errorf("ecssim: config: TimeScale must be > 0, got %v", out.TimeScale)
	}
	if out.Clock == nil {
		clk, err := NewScaledClock(time.Now().UTC().Truncate(time.Second), out.TimeScale)
		if err != nil {
			return out, err
		}
		out.Clock = clk
	}
	if out.WallClock == nil {
		out.WallClock = wallClock{}
	}
	durations := []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"StopDuration", &out.StopDuration, DefaultStopDuration},
		{"StartDuration", &out.StartDuration, DefaultStartDuration},
		{"PendingDuration", &out.PendingDuration, DefaultPendingDuration},
		{"FirstHeartbeatDelay", &out.FirstHeartbeatDelay, DefaultFirstHeartbeatDelay},
	}
	for _, d := range durations {
		if *d.d < 0 {
			return out, fmt.Errorf("ecssim: config: %s must not be negative, got %v", d.name, *d.d)
		}
		if *d.d == 0 {
			*d.d = d.def
		}
	}
	if out.AgentVersion == "" {
		out.AgentVersion = DefaultAgentVersion
	}
	if _, ok := parseVersion(out.AgentVersion); !ok {
		return out, fmt.Errorf("ecssim: config: AgentVersion %q is not a dotted version", out.AgentVersion)
	}
	if out.MaxNonces < 0 {
		return out, fmt.Errorf("ecssim: config: MaxNonces must not be negative, got %d", out.MaxNonces)
	}
	if out.MaxNonces == 0 {
		out.MaxNonces = DefaultMaxNonces
	}
	if err := out.Faults.validate(); err != nil {
		return out, fmt.Errorf("ecssim: config: %w", err)
	}
	out.Fleets = slices.Clone(out.Fleets)
	for i := range out.Fleets {
		if err := out.Fleets[i].normalize(out.Regions); err != nil {
			return out, fmt.Errorf("ecssim: config: Fleets[%d]: %w", i, err)
		}
	}
	return out, nil
}

func (f *FleetSpec) normalize(regions []string) error {
	if f.Region == "" {
		f.Region = regions[0]
	}
	if !slices.Contains(regions, f.Region) {
		return fmt.Errorf("region %q is not in Config.Regions", f.Region)
	}
	if f.Size < 0 {
		return fmt.Errorf("Size must not be negative, got %d", f.Size)
	}
	if len(f.Zones) == 0 {
		f.Zones = []string{f.Region + "-a", f.Region + "-b"}
	}
	f.Zones = slices.Clone(f.Zones)
	shares := []struct {
		name string
		v    float64
	}{
		{"Missing", f.Missing}, {"Silent", f.Silent}, {"Stopped", f.Stopped},
		{"InstallFails", f.InstallFails}, {"Outdated", f.Outdated}, {"Flaky", f.Flaky}, {"Managed", f.Managed},
		{"Vanish", f.Vanish}, {"Tagged", f.Tagged},
	}
	sum := 0.0
	for _, s := range shares {
		if !(s.v >= 0 && s.v <= 1) {
			return fmt.Errorf("share %s must be in [0,1], got %v", s.name, s.v)
		}
		if s.name != "Vanish" && s.name != "Tagged" {
			sum += s.v
		}
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("shares Missing+Silent+Stopped+InstallFails+Outdated+Flaky+Managed add up to %v, more than 1", sum)
	}
	if f.VanishAfterMin == 0 && f.VanishAfterMax == 0 {
		f.VanishAfterMin, f.VanishAfterMax = DefaultVanishAfterMin, DefaultVanishAfterMax
	}
	if f.VanishAfterMin < 0 || f.VanishAfterMax < f.VanishAfterMin {
		return fmt.Errorf("vanish window [%v, %v] is not a valid range", f.VanishAfterMin, f.VanishAfterMax)
	}
	if f.TagKey == "" {
		f.TagKey = DefaultTagKey
	}
	if f.TagValue == "" {
		f.TagValue = DefaultTagValue
	}
	if err := checkTag(f.TagKey, f.TagValue); err != nil {
		return err
	}
	if len(f.OSWeights) == 0 {
		f.OSWeights = map[string]float64{OSLinux: 1}
	}
	total := 0.0
	weights := make(map[string]float64, len(f.OSWeights))
	for os, w := range f.OSWeights {
		if !slices.Contains(osTypes(), os) {
			return fmt.Errorf("OSWeights names %q; valid: Linux, Windows, FreeBSD", os)
		}
		if !(w >= 0) {
			return fmt.Errorf("OSWeights[%s] must not be negative, got %v", os, w)
		}
		total += w
		weights[os] = w
	}
	if !(total > 0) {
		return errors.New("OSWeights must have a positive total")
	}
	f.OSWeights = weights
	return nil
}
