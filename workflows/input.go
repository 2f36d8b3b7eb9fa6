package workflows

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
)

// Reboot policies.
const (
	// RebootIfNeeded waits RebootGrace after the install and reboots only the
	// instances whose agent is still not healthy. The default.
	RebootIfNeeded = "if-needed"
	// RebootAlways reboots right after the install without a grace period.
	// It still never reboots an instance whose agent is healthy at that moment.
	RebootAlways = "always"
	// RebootNever installs and verifies but never reboots; on ECS the agent
	// normally takes effect only after a reboot, so expect no-heartbeat failures.
	RebootNever = "never"
)

// Run kinds, shown in the summary and the FleetmendKind search attribute.
const (
	KindManual    = "manual"
	KindScheduled = "scheduled"
)

// Limits and defaults of RegionInput. Each is named in the error a bad
// value gets.
const (
	DefaultBatchSize          = ecs.MaxInstallIDs
	MaxConcurrentBatches      = 1000
	DefaultRebootGrace        = 30 * time.Second
	MaxRebootGrace            = 10 * time.Minute
	DefaultVerifyDeadline     = 10 * time.Minute
	MinVerifyDeadline         = 10 * time.Second
	MaxVerifyDeadline         = guard.MaxVerifyDeadline
	DefaultVerifyPollInterval = 15 * time.Second
	MinVerifyPollInterval     = 100 * time.Millisecond
	MaxVerifyPollInterval     = 5 * time.Minute
	DefaultPagesPerRun        = 200
	MaxPagesPerRun            = 1000
	MaxExplicitInstanceIDs    = 5000
	MaxExcludedInstanceIDs    = 5000
	DefaultMaxReportRows      = 2000
	MaxReportRows             = 5000
	ScanPageSize              = ecs.MaxPageSize
	// The blast radius: instances in repair at once (installing,
	// rebooting, or rebooted and not yet seen Running again). The default
	// is a share of the region's Running instances with a floor, so a
	// small region still repairs a batch at a time.
	DefaultBlastRadius         = "5%"
	MinDefaultBlastRadius      = 20
	MaxBlastRadius             = 100000
	DefaultErrorBudget         = "10%"
	DefaultMaxUnhealthyPct     = 50
	MinZoneForShortCircuit     = 10 // zones with fewer Running instances are judged with the region only
	DefaultExcludeTag          = "fleetmend:exclude"
	DefaultQuarantineAfter     = 2
	MaxQuarantineAfter         = guard.MaxQuarantineAfter
	DefaultQuarantineWindow    = 7 * 24 * time.Hour
	MinQuarantineWindow        = time.Hour
	MaxQuarantineWindow        = guard.MaxQuarantineWindow
	DefaultCanarySuccess       = 80
	DefaultRamp                = 2.0
	MaxRamp                    = 100.0
	DefaultEarlySignal         = 3 * time.Minute // three of the agent's 60 s heartbeats
	MinEarlySignal             = time.Second
	DefaultStableFor           = time.Minute // one heartbeat interval
	MaxStableFor               = 10 * time.Minute
	DefaultStuckAfter          = time.Hour
	MinStuckAfter              = 10 * time.Second
	MaxStuckAfter              = 7 * 24 * time.Hour
	DefaultEventsPerRun        = 8000
	MinEventsPerRun            = guard.MinEventsPerRun
	MaxEventsPerRun            = 10000
	MaxQueue                   = 10000
	ErrInvalidInput            = "fleetmend.InvalidInput"
	maxInstanceIDsInMessage    = 3
	defaultActivityMaxAttempts = 10
)

// RegionInput is what a run of RemediateRegion is asked to do. Zero values
// mean the documented defaults.
type RegionInput struct {
	// Region is the ECS region ID. Required.
	Region string `json:"region"`
	// InstanceIDs limits the run to these instances (up to 5000) instead of
	// the whole region.
	InstanceIDs []string `json:"instance_ids,omitempty"`
	// ZoneID limits the scan to one zone.
	ZoneID string `json:"zone_id,omitempty"`
	// OSType limits the run to Linux, Windows or FreeBSD instances.
	OSType string `json:"os_type,omitempty"`
	// BatchSize is instances per RemediateBatch, 1..20 (default 20).
	BatchSize int `json:"batch_size,omitempty"`
	// ConcurrentBatches bounds the batches in flight, 1..1000; 0 (the
	// default) leaves it to the blast radius.
	ConcurrentBatches int `json:"concurrent_batches,omitempty"`
	// RebootPolicy is if-needed (default), always or never.
	RebootPolicy string `json:"reboot_policy,omitempty"`
	// RebootGrace is how long if-needed waits after the install before
	// deciding who to reboot, 0..10m (default 30s).
	RebootGrace *Duration `json:"reboot_grace,omitempty"`
	// VerifyDeadline bounds the wait for a fresh heartbeat after the
	// reboot, 10s..2h (default 10m).
	VerifyDeadline Duration `json:"verify_deadline,omitempty"`
	// VerifyPollInterval is the time between agent status polls while
	// verifying, 100ms..5m (default 15s).
	VerifyPollInterval Duration `json:"verify_poll_interval,omitempty"`
	// DryRun scans and plans, and calls no mutating API.
	DryRun bool `json:"dry_run,omitempty"`
	// Kind is manual (default) or scheduled; StartedBy is who started it.
	Kind      string `json:"kind,omitempty"`
	StartedBy string `json:"started_by,omitempty"`
	// PagesPerRun is how many scan pages one run of the previous engine
	// read before it continued as new, 1..1000 (default 200). The pipelined
	// engine continues as new by history length (EventsPerRun) instead.
	PagesPerRun int `json:"pages_per_run,omitempty"`
	// MaxReportRows caps the per-instance rows of the report, 0..5000
	// (default 2000); counts are always complete, and every instance's
	// outcome is in its batch's result.
	MaxReportRows *int `json:"max_report_rows,omitempty"`
	// MaxReportBytes caps the rows in bytes, 16 KiB..1.5 MiB (default
	// 256 KiB, under Temporal's 512 KB payload warning): failures are kept
	// before skips.
	MaxReportBytes int `json:"max_report_bytes,omitempty"`

	// BlastRadius bounds the instances in repair at once: a count ("40")
	// or a share of the region's Running instances ("10%"). Empty is the
	// default, 5% of the Running instances and at least 20. An operator can
	// change it while the run goes (update "set").
	BlastRadius string `json:"blast_radius,omitempty"`
	// ErrorBudget stops the run from starting batches once more instances
	// than this have failed: a count ("5") or a share of the instances the
	// run set out to repair ("10%", the default).
	ErrorBudget string `json:"error_budget,omitempty"`
	// MaxUnhealthyPercent short-circuits the run before it touches anything
	// when more than this share of the Running instances of the region, or
	// of a zone, have an unhealthy agent: a systemic cause (network, DNS, a
	// bad image) is more likely than broken agents. 1..100, default 50;
	// 100 never short-circuits.
	MaxUnhealthyPercent int `json:"max_unhealthy_percent,omitempty"`
	// OverrideMaxUnhealthy, when set, is why this one run repairs even
	// above MaxUnhealthyPercent; it is recorded in the report and the history.
	OverrideMaxUnhealthy string `json:"override_max_unhealthy,omitempty"`
	// ExcludeTag is the opt-out tag: "key" (any value) or "key=value".
	// Instances carrying it are never touched. Default fleetmend:exclude.
	ExcludeTag string `json:"exclude_tag,omitempty"`
	// ExcludeInstanceIDs are never touched either (up to 5000).
	ExcludeInstanceIDs []string `json:"exclude_instance_ids,omitempty"`
	// QuarantineAfter failed repairs of an instance within QuarantineWindow
	// quarantine it: later runs report it and leave it alone until the
	// window passes or an operator clears it. 1..20 (default 2), window
	// 1h..2160h (default 168h).
	QuarantineAfter  int      `json:"quarantine_after,omitempty"`
	QuarantineWindow Duration `json:"quarantine_window,omitempty"`
	// EventsPerRun is the history length at which the run continues as
	// new, 50..10000 (default 8000, under Temporal's 10,240 warning; low
	// values are for tests). Temporal's own suggestion (by default at 4,096
	// events or 4 MB) is followed too.
	EventsPerRun int `json:"events_per_run,omitempty"`
	// Canary is the first wave's size: that many instances are repaired and
	// judged before anything else is touched (nil: one batch; 0: no
	// canary, and no ramp). 0..100000.
	Canary *int `json:"canary,omitempty"`
	// CanarySuccess is the share (percent) of a wave's repaired instances
	// that must heal for the next wave to start, 1..100 (default 80).
	CanarySuccess int `json:"canary_success,omitempty"`
	// Ramp is the factor by which the instances in repair may grow from
	// one wave to the next, up to the blast radius, each widening gated on
	// the previous wave's result; 1.1..100 (default 2).
	Ramp float64 `json:"ramp,omitempty"`
	// PauseAfterCanary pauses the run once the canary passed: an operator
	// approves (resume) or rejects (abort) with a reason.
	PauseAfterCanary bool `json:"pause_after_canary,omitempty"`
	// EarlySignal: an instance back Running after its reboot with no
	// heartbeat for this long counts as failed for the waves' gates and the
	// error budget (it is still verified until its deadline, and given back
	// if it heals); 1s..verify_deadline (default 3m).
	EarlySignal Duration `json:"early_signal,omitempty"`
	// StableFor: an agent is remediated once a heartbeat newer than the
	// first one after its reboot is seen at least this long after it;
	// 0s..10m (default 1m, one heartbeat interval; 0: the first fresh
	// heartbeat).
	StableFor *Duration `json:"stable_for,omitempty"`
	// StuckAfter is how long the holder of a busy region may go without
	// progress (paused runs excepted) before this run, finding the region
	// busy, reports it stuck; 10s..168h (default 1h).
	StuckAfter Duration `json:"stuck_after,omitempty"`
	// Plan pins the run to a dry run's plan (starter apply): InstanceIDs
	// are the plan's instances, and the run refuses the plan, before
	// touching anything, when it is too old or too many of its instances
	// changed since (see plan.go).
	Plan *PlanInput `json:"plan,omitempty"`

	// Carry is the state handed from one run of the previous engine to the
	// next at continue-as-new; State is the pipelined engine's. Callers
	// leave both nil.
	Carry *Carry    `json:"carry,omitempty"`
	State *RunState `json:"state,omitempty"`
}

// WithDefaults fills the zero values.
func (in RegionInput) WithDefaults() RegionInput {
	if in.BatchSize == 0 {
		in.BatchSize = DefaultBatchSize
	}
	if in.RebootPolicy == "" {
		in.RebootPolicy = RebootIfNeeded
	}
	if in.RebootGrace == nil {
		g := Duration(DefaultRebootGrace)
		in.RebootGrace = &g
	}
	if in.VerifyDeadline == 0 {
		in.VerifyDeadline = Duration(DefaultVerifyDeadline)
	}
	if in.VerifyPollInterval == 0 {
		in.VerifyPollInterval = Duration(DefaultVerifyPollInterval)
	}
	if in.Kind == "" {
		in.Kind = KindManual
	}
	if in.PagesPerRun == 0 {
		in.PagesPerRun = DefaultPagesPerRun
	}
	if in.MaxReportRows == nil {
		n := DefaultMaxReportRows
		in.MaxReportRows = &n
	}
	if in.MaxReportBytes == 0 {
		in.MaxReportBytes = DefaultMaxReportBytes
	}
	if in.ErrorBudget == "" {
		in.ErrorBudget = DefaultErrorBudget
	}
	if in.MaxUnhealthyPercent == 0 {
		in.MaxUnhealthyPercent = DefaultMaxUnhealthyPct
	}
	if in.ExcludeTag == "" {
		in.ExcludeTag = DefaultExcludeTag
	}
	if in.QuarantineAfter == 0 {
		in.QuarantineAfter = DefaultQuarantineAfter
	}
	if in.QuarantineWindow == 0 {
		in.QuarantineWindow = Duration(DefaultQuarantineWindow)
	}
	if in.EventsPerRun == 0 {
		in.EventsPerRun = DefaultEventsPerRun
	}
	if in.StuckAfter == 0 {
		in.StuckAfter = Duration(DefaultStuckAfter)
	}
	if in.Canary == nil {
		n := in.BatchSize // one batch
		in.Canary = &n
	}
	if in.CanarySuccess == 0 {
		in.CanarySuccess = DefaultCanarySuccess
	}
	if in.Ramp == 0 {
		in.Ramp = DefaultRamp
	}
	if in.EarlySignal == 0 {
		in.EarlySignal = Duration(min(DefaultEarlySignal, in.VerifyDeadline.D()))
	}
	if in.StableFor == nil {
		d := Duration(DefaultStableFor)
		in.StableFor = &d
	}
	if in.Plan != nil && in.Plan.MaxAge == 0 {
		p := *in.Plan
		p.MaxAge = Duration(DefaultMaxPlanAge)
		in.Plan = &p
	}
	return in
}

// Validate checks a defaulted input and names the first bad field with its
// allowed range.
func (in RegionInput) Validate() error { return in.validate(true) }

// validate is Validate; checkZone also refuses a zone of another region.
// Runs recorded before that check took such a zone and scanned a region
// where nothing matched, and replay as they ran (see RemediateRegion).
func (in RegionInput) validate(checkZone bool) error {
	bad := func(format string, args ...any) error { return fmt.Errorf(format, args...) }
	switch {
	case in.Region == "":
		return bad("region is required (an ECS region ID such as cn-hangzhou)")
	case !regionPattern.MatchString(in.Region):
		return bad("region %q is not an ECS region ID (lowercase words joined by '-', such as cn-hangzhou)", in.Region)
	case len(in.InstanceIDs) > MaxExplicitInstanceIDs:
		return bad("instance_ids has %d entries, allowed at most %d", len(in.InstanceIDs), MaxExplicitInstanceIDs)
	case in.BatchSize < 1 || in.BatchSize > ecs.MaxInstallIDs:
		return bad("batch_size is %d, allowed range is 1..%d", in.BatchSize, ecs.MaxInstallIDs)
	case in.ConcurrentBatches < 0 || in.ConcurrentBatches > MaxConcurrentBatches:
		return bad("concurrent_batches is %d, allowed range is 1..%d (or 0 for no limit but the blast radius)", in.ConcurrentBatches, MaxConcurrentBatches)
	case in.RebootPolicy != RebootIfNeeded && in.RebootPolicy != RebootAlways && in.RebootPolicy != RebootNever:
		return bad("reboot_policy is %q, allowed values are if-needed, always, never", in.RebootPolicy)
	case in.RebootGrace.D() < 0 || in.RebootGrace.D() > MaxRebootGrace:
		return bad("reboot_grace is %s, allowed range is 0s..%s", in.RebootGrace, MaxRebootGrace)
	case in.VerifyDeadline.D() < MinVerifyDeadline || in.VerifyDeadline.D() > MaxVerifyDeadline:
		return bad("verify_deadline is %s, allowed range is %s..%s", in.VerifyDeadline, MinVerifyDeadline, MaxVerifyDeadline)
	case in.VerifyPollInterval.D() < MinVerifyPollInterval || in.VerifyPollInterval.D() > MaxVerifyPollInterval:
		return bad("verify_poll_interval is %s, allowed range is %s..%s", in.VerifyPollInterval, MinVerifyPollInterval, MaxVerifyPollInterval)
	case in.OSType != "" && in.OSType != ecs.OSLinux && in.OSType != ecs.OSWindows && in.OSType != ecs.OSFreeBSD:
		return bad("os_type is %q, allowed values are Linux, Windows, FreeBSD (or empty for all)", in.OSType)
	case in.ZoneID != "" && !regionPattern.MatchString(in.ZoneID):
		return bad("zone_id %q is not an ECS zone ID (such as cn-hangzhou-h)", in.ZoneID)
	case checkZone && in.zoneOutsideRegion():
		return bad("zone_id %q is not a zone of region %s: a zone ID starts with its region's ID (such as %s-h)", in.ZoneID, in.Region, in.Region)
	case in.Kind != KindManual && in.Kind != KindScheduled:
		return bad("kind is %q, allowed values are manual, scheduled", in.Kind)
	case in.PagesPerRun < 1 || in.PagesPerRun > MaxPagesPerRun:
		return bad("pages_per_run is %d, allowed range is 1..%d", in.PagesPerRun, MaxPagesPerRun)
	case *in.MaxReportRows < 0 || *in.MaxReportRows > MaxReportRows:
		return bad("max_report_rows is %d, allowed range is 0..%d", *in.MaxReportRows, MaxReportRows)
	case in.MaxReportBytes < MinMaxReportBytes || in.MaxReportBytes > MaxMaxReportBytes:
		return bad("max_report_bytes is %d, allowed range is %d..%d", in.MaxReportBytes, MinMaxReportBytes, MaxMaxReportBytes)
	case in.MaxUnhealthyPercent < 1 || in.MaxUnhealthyPercent > 100:
		return bad("max_unhealthy_percent is %d, allowed range is 1..100", in.MaxUnhealthyPercent)
	case len(in.OverrideMaxUnhealthy) > 500:
		return bad("override_max_unhealthy is %d characters, allowed at most 500", len(in.OverrideMaxUnhealthy))
	case in.QuarantineAfter < 1 || in.QuarantineAfter > MaxQuarantineAfter:
		return bad("quarantine_after is %d, allowed range is 1..%d", in.QuarantineAfter, MaxQuarantineAfter)
	case in.QuarantineWindow.D() < MinQuarantineWindow || in.QuarantineWindow.D() > MaxQuarantineWindow:
		return bad("quarantine_window is %s, allowed range is %s..%s", in.QuarantineWindow, MinQuarantineWindow, MaxQuarantineWindow)
	case in.EventsPerRun < MinEventsPerRun || in.EventsPerRun > MaxEventsPerRun:
		return bad("events_per_run is %d, allowed range is %d..%d", in.EventsPerRun, MinEventsPerRun, MaxEventsPerRun)
	case *in.Canary < 0 || *in.Canary > MaxBlastRadius:
		return bad("canary is %d, allowed range is 0..%d (0: no canary and no ramp)", *in.Canary, MaxBlastRadius)
	case in.CanarySuccess < 1 || in.CanarySuccess > 100:
		return bad("canary_success is %d, allowed range is 1..100 (percent)", in.CanarySuccess)
	case in.Ramp < 1.1 || in.Ramp > MaxRamp || math.IsNaN(in.Ramp):
		return bad("ramp is %g, allowed range is 1.1..%g", in.Ramp, MaxRamp)
	case in.EarlySignal.D() < MinEarlySignal || in.EarlySignal.D() > in.VerifyDeadline.D():
		return bad("early_signal is %s, allowed range is %s..verify_deadline (%s)", in.EarlySignal, Duration(MinEarlySignal), in.VerifyDeadline)
	case in.StableFor.D() < 0 || in.StableFor.D() > MaxStableFor:
		return bad("stable_for is %s, allowed range is 0s..%s", *in.StableFor, Duration(MaxStableFor))
	case in.StuckAfter.D() < MinStuckAfter || in.StuckAfter.D() > MaxStuckAfter:
		return bad("stuck_after is %s, allowed range is %s..%s", in.StuckAfter, MinStuckAfter, MaxStuckAfter)
	case len(in.ExcludeInstanceIDs) > MaxExcludedInstanceIDs:
		return bad("exclude_instance_ids has %d entries, allowed at most %d", len(in.ExcludeInstanceIDs), MaxExcludedInstanceIDs)
	}
	if in.BlastRadius != "" {
		if _, err := ParseAmount("blast_radius", in.BlastRadius, 1, MaxBlastRadius); err != nil {
			return err
		}
	}
	if _, err := ParseAmount("error_budget", in.ErrorBudget, 0, MaxBlastRadius); err != nil {
		return err
	}
	if err := validateTag(in.ExcludeTag); err != nil {
		return err
	}
	if err := ecs.ValidateInstanceIDs("exclude_instance_ids", in.ExcludeInstanceIDs); err != nil {
		return err
	}
	if err := in.validatePlan(); err != nil {
		return err
	}
	return ecs.ValidateInstanceIDs("instance_ids", in.InstanceIDs)
}

// Amount is a count ("40") or a share of some total ("5%").
type Amount struct {
	Count   int
	Percent float64 // > 0 when the amount is a share
}

// Of resolves the amount against total, rounding a share up so that a
// non-zero share of a non-empty total is never zero.
func (a Amount) Of(total int) int {
	if a.Percent > 0 {
		return int(math.Ceil(a.Percent * float64(total) / 100))
	}
	return a.Count
}

func (a Amount) String() string {
	if a.Percent > 0 {
		return strconv.FormatFloat(a.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(a.Count)
}

// ParseAmount reads "N" (lo..hi) or "P%" (0 < P ≤ 100, or 0 when lo is 0),
// naming field in the error.
func ParseAmount(field, s string, lo, hi int) (Amount, error) {
	if p, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || v < 0 || v > 100 || (v == 0 && lo > 0) {
			return Amount{}, fmt.Errorf("%s is %q, allowed is a count %d..%d or a share such as 5%% (%s..100%%)", field, s, lo, hi, pctLow(lo))
		}
		if v == 0 {
			return Amount{}, nil
		}
		return Amount{Percent: v}, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < lo || n > hi {
		return Amount{}, fmt.Errorf("%s is %q, allowed is a count %d..%d or a share such as 5%% (%s..100%%)", field, s, lo, hi, pctLow(lo))
	}
	return Amount{Count: n}, nil
}

func pctLow(lo int) string {
	if lo == 0 {
		return "0%"
	}
	return "more than 0%"
}

// validateTag checks an exclusion tag spec: "key" or "key=value", the key
// 1..128 characters as ECS allows.
func validateTag(spec string) error {
	key, value, _ := strings.Cut(spec, "=")
	switch {
	case strings.TrimSpace(key) == "":
		return fmt.Errorf("exclude_tag %q has an empty key; use key or key=value, e.g. %s", spec, DefaultExcludeTag)
	case len(key) > 128 || len(value) > 128:
		return fmt.Errorf("exclude_tag %q: key and value are at most 128 characters each", spec)
	}
	return nil
}

var regionPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)

// zoneOutsideRegion says whether the zone filter names a zone of another
// region: an ECS zone ID is its region's ID and a suffix (cn-hangzhou-h).
func (in RegionInput) zoneOutsideRegion() bool {
	return in.ZoneID != "" && !strings.HasPrefix(in.ZoneID, in.Region+"-")
}

// invalidInput is the non-retryable error that fails a run at once.
func invalidInput(workflow string, err error) error {
	return temporal.NewNonRetryableApplicationError(workflow+" input: "+err.Error(), ErrInvalidInput, nil)
}

func shortList(ids []string) string {
	if len(ids) <= maxInstanceIDsInMessage {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:maxInstanceIDsInMessage], ", ") + fmt.Sprintf(" and %d more", len(ids)-maxInstanceIDsInMessage)
}
