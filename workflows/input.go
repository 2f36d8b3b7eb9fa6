package workflows

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
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
	DefaultBatchSize           = ecs.MaxInstallIDs
	DefaultConcurrentBatches   = 4
	MaxConcurrentBatches       = 50
	DefaultRebootGrace         = 30 * time.Second
	MaxRebootGrace             = 10 * time.Minute
	DefaultVerifyDeadline      = 10 * time.Minute
	MinVerifyDeadline          = 10 * time.Second
	MaxVerifyDeadline          = 2 * time.Hour
	DefaultVerifyPollInterval  = 15 * time.Second
	MinVerifyPollInterval      = 100 * time.Millisecond
	MaxVerifyPollInterval      = 5 * time.Minute
	DefaultPagesPerRun         = 200
	MaxPagesPerRun             = 1000
	MaxExplicitInstanceIDs     = 5000
	DefaultMaxReportRows       = 2000
	MaxReportRows              = 5000
	ScanPageSize               = ecs.MaxPageSize
	ErrInvalidInput            = "fleetmend.InvalidInput"
	instanceIDPatternText      = `^i-[a-z0-9]{8,30}$`
	maxInstanceIDsInMessage    = 3
	defaultActivityMaxAttempts = 10
)

var instanceIDPattern = regexp.MustCompile(instanceIDPatternText)

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
	// ConcurrentBatches bounds the batches in flight, 1..50 (default 4).
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
	// PagesPerRun is how many scan pages one run reads before it continues
	// as new, 1..1000 (default 200). Temporal may suggest it earlier.
	PagesPerRun int `json:"pages_per_run,omitempty"`
	// MaxReportRows caps the per-instance rows of the report, 0..5000
	// (default 2000); counts are always complete, and every instance's
	// outcome is in its batch's result.
	MaxReportRows *int `json:"max_report_rows,omitempty"`

	// Carry is the state handed from one run to the next at continue-as-new.
	// Callers leave it nil.
	Carry *Carry `json:"carry,omitempty"`
}

// WithDefaults fills the zero values.
func (in RegionInput) WithDefaults() RegionInput {
	if in.BatchSize == 0 {
		in.BatchSize = DefaultBatchSize
	}
	if in.ConcurrentBatches == 0 {
		in.ConcurrentBatches = DefaultConcurrentBatches
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
	return in
}

// Validate checks a defaulted input and names the first bad field with its
// allowed range.
func (in RegionInput) Validate() error {
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
	case in.ConcurrentBatches < 1 || in.ConcurrentBatches > MaxConcurrentBatches:
		return bad("concurrent_batches is %d, allowed range is 1..%d", in.ConcurrentBatches, MaxConcurrentBatches)
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
	case in.Kind != KindManual && in.Kind != KindScheduled:
		return bad("kind is %q, allowed values are manual, scheduled", in.Kind)
	case in.PagesPerRun < 1 || in.PagesPerRun > MaxPagesPerRun:
		return bad("pages_per_run is %d, allowed range is 1..%d", in.PagesPerRun, MaxPagesPerRun)
	case *in.MaxReportRows < 0 || *in.MaxReportRows > MaxReportRows:
		return bad("max_report_rows is %d, allowed range is 0..%d", *in.MaxReportRows, MaxReportRows)
	}
	return ValidateInstanceIDs("instance_ids", in.InstanceIDs)
}

var regionPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)

// ValidateInstanceIDs checks the format of every ID (i-<8..30 lowercase
// letters or digits>) and that none repeats.
func ValidateInstanceIDs(field string, ids []string) error {
	seen := make(map[string]int, len(ids))
	for i, id := range ids {
		if !instanceIDPattern.MatchString(id) {
			return fmt.Errorf("%s[%d] %q is not an ECS instance ID (i- followed by 8..30 lowercase letters or digits)", field, i, id)
		}
		if j, dup := seen[id]; dup {
			return fmt.Errorf("%s[%d] %q repeats %s[%d]", field, i, id, field, j)
		}
		seen[id] = i
	}
	return nil
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
