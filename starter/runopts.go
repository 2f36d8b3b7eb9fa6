package main

import (
	"bufio"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/workflows"
)

// runFlags are the settings of a run, shared by `run` and `schedule create`.
type runFlags struct {
	region             string
	instanceIDs        string
	instanceIDsFile    string
	zone               string
	osType             string
	batchSize          int
	concurrentBatches  int
	rebootPolicy       string
	rebootGrace        time.Duration
	verifyDeadline     time.Duration
	verifyPollInterval time.Duration
	maxReportRows      int
	maxReportBytes     int
	// The safety controls.
	blastRadius          string
	errorBudget          string
	maxUnhealthyPercent  int
	overrideMaxUnhealthy string
	excludeTag           string
	excludeIDs           string
	excludeIDsFile       string
	quarantineAfter      int
	quarantineWindow     time.Duration
	stuckAfter           time.Duration
	// The rollout.
	canary           int
	canarySuccess    int
	ramp             float64
	pauseAfterCanary bool
	earlySignal      time.Duration
	stableFor        time.Duration
}

// register adds the run flags; a schedule registers its own --region and
// takes no instance list.
func (f *runFlags) register(fs *pflag.FlagSet, forRun bool) {
	if forRun {
		fs.StringVar(&f.region, "region", "", "ECS region ID, e.g. cn-hangzhou (required)")
		fs.StringVar(&f.instanceIDs, "instance-ids", "", "comma-separated instance IDs: only these instances (up to 5000)")
		fs.StringVar(&f.instanceIDsFile, "instance-ids-file", "", "file with one instance ID per line (# comments allowed); '-' reads stdin")
	}
	fs.StringVar(&f.zone, "zone", "", "only instances in this zone, e.g. cn-hangzhou-h")
	fs.StringVar(&f.osType, "os-type", "", "only Linux, Windows or FreeBSD instances")
	numVar(fs, numflag.NewInt(&f.batchSize, "batch-size", workflows.DefaultBatchSize, numflag.Range[int]{Min: 1, Max: ecs.MaxInstallIDs}),
		"instances per batch (InstallCloudAssistant takes at most 20)")
	numVar(fs, numflag.NewInt(&f.concurrentBatches, "concurrent-batches", 0, numflag.Range[int]{Min: 0, Max: workflows.MaxConcurrentBatches}),
		"batches in flight (0: as many as the blast radius allows)")
	fs.StringVar(&f.rebootPolicy, "reboot-policy", workflows.RebootIfNeeded, "if-needed (reboot only those still unhealthy after --reboot-grace), always (no grace; never a healthy agent), never")
	numVar(fs, numflag.NewDuration(&f.rebootGrace, "reboot-grace", workflows.DefaultRebootGrace, numflag.Range[time.Duration]{Min: 0, Max: workflows.MaxRebootGrace}),
		"if-needed: wait after install before deciding who to reboot (0s: no wait)")
	numVar(fs, numflag.NewDuration(&f.verifyDeadline, "verify-deadline", workflows.DefaultVerifyDeadline,
		numflag.Range[time.Duration]{Min: workflows.MinVerifyDeadline, Max: workflows.MaxVerifyDeadline}),
		"how long to wait for a fresh heartbeat after the reboot")
	numVar(fs, numflag.NewDuration(&f.verifyPollInterval, "verify-poll-interval", workflows.DefaultVerifyPollInterval,
		numflag.Range[time.Duration]{Min: workflows.MinVerifyPollInterval, Max: workflows.MaxVerifyPollInterval}),
		"agent status poll interval while verifying")
	numVar(fs, numflag.NewInt(&f.maxReportRows, "max-report-rows", workflows.DefaultMaxReportRows, numflag.Range[int]{Min: 0, Max: workflows.MaxReportRows}),
		"rows kept in the report (0: counts only; counts are always complete)")
	numVar(fs, numflag.NewInt(&f.maxReportBytes, "max-report-bytes", workflows.DefaultMaxReportBytes,
		numflag.Range[int]{Min: workflows.MinMaxReportBytes, Max: workflows.MaxMaxReportBytes}),
		"bytes of rows kept in the report (failures are kept before skips)")
	fs.StringVar(&f.blastRadius, "blast-radius", "", "most instances in repair at once: a count (40) or a share of the region's Running instances (10%); default 5%, at least 20")
	fs.StringVar(&f.errorBudget, "error-budget", workflows.DefaultErrorBudget, "stop starting batches once more instances than this failed: a count (5) or a share of those to repair (10%)")
	numVar(fs, numflag.NewInt(&f.maxUnhealthyPercent, "max-unhealthy-percent", workflows.DefaultMaxUnhealthyPct, numflag.Range[int]{Min: 1, Max: 100}),
		"touch nothing when more than this share of the Running instances of the region, or of a zone, have an unhealthy agent (a systemic cause); 100: never")
	if forRun {
		fs.StringVar(&f.overrideMaxUnhealthy, "override-max-unhealthy", "", "repair even above --max-unhealthy-percent, for this run; the value is the reason, kept in the run's history and report")
	}
	fs.StringVar(&f.excludeTag, "exclude-tag", workflows.DefaultExcludeTag, "opt-out tag: instances with this tag key (or key=value) are never touched")
	fs.StringVar(&f.excludeIDs, "exclude-ids", "", "comma-separated instance IDs never to touch")
	fs.StringVar(&f.excludeIDsFile, "exclude-ids-file", "", "file with instance IDs never to touch, one per line (# comments allowed)")
	numVar(fs, numflag.NewInt(&f.quarantineAfter, "quarantine-after", workflows.DefaultQuarantineAfter, numflag.Range[int]{Min: 1, Max: workflows.MaxQuarantineAfter}),
		"failed repairs of an instance within --quarantine-window that quarantine it (left alone until the window passes, or until starter quarantine clear)")
	numVar(fs, numflag.NewDuration(&f.quarantineWindow, "quarantine-window", workflows.DefaultQuarantineWindow,
		numflag.Range[time.Duration]{Min: workflows.MinQuarantineWindow, Max: workflows.MaxQuarantineWindow}),
		"the window --quarantine-after counts failures in")
	numVar(fs, numflag.NewDuration(&f.stuckAfter, "stuck-after", workflows.DefaultStuckAfter,
		numflag.Range[time.Duration]{Min: workflows.MinStuckAfter, Max: workflows.MaxStuckAfter}),
		"when the region is busy, report its holder stuck if it made no progress for this long (paused runs excepted)")
	numVar(fs, numflag.NewInt(&f.canary, "canary", workflows.DefaultBatchSize, numflag.Range[int]{Min: 0, Max: workflows.MaxBlastRadius}),
		"the first wave: this many instances are repaired and judged before anything else is touched (0: no canary and no ramp)")
	numVar(fs, numflag.NewInt(&f.canarySuccess, "canary-success", workflows.DefaultCanarySuccess, numflag.Range[int]{Min: 1, Max: 100}),
		"percent of a wave's repaired instances that must heal for the next wave to start")
	numVar(fs, numflag.NewFloat(&f.ramp, "ramp", workflows.DefaultRamp, numflag.Range[float64]{Min: 1.1, Max: workflows.MaxRamp}),
		"factor by which the instances in repair grow from wave to wave, up to the blast radius")
	fs.BoolVar(&f.pauseAfterCanary, "pause-after-canary", false, "pause once the canary passed; starter resume approves, starter abort rejects")
	numVar(fs, numflag.NewDuration(&f.earlySignal, "early-signal", 0,
		numflag.Range[time.Duration]{Min: 0, Max: workflows.MaxVerifyDeadline}),
		"an instance Running again after its reboot with no heartbeat for this long counts as failed for the waves and the error budget (0: 3m, or --verify-deadline if shorter)")
	numVar(fs, numflag.NewDuration(&f.stableFor, "stable-for", workflows.DefaultStableFor,
		numflag.Range[time.Duration]{Min: 0, Max: workflows.MaxStableFor}),
		"remediated once a later heartbeat is seen this long after the first one after the reboot (0: the first fresh heartbeat)")
}

// fieldFlags maps RegionInput's JSON fields (named in validation errors)
// to the flags that set them, so an error points at what to change.
func fieldFlags() [][2]string {
	return [][2]string{
		{"region", "--region"}, {"instance_ids", "--instance-ids"}, {"zone_id", "--zone"}, {"os_type", "--os-type"},
		{"batch_size", "--batch-size"}, {"concurrent_batches", "--concurrent-batches"}, {"reboot_policy", "--reboot-policy"},
		{"reboot_grace", "--reboot-grace"}, {"verify_deadline", "--verify-deadline"}, {"verify_poll_interval", "--verify-poll-interval"},
		{"max_report_rows", "--max-report-rows"}, {"max_report_bytes", "--max-report-bytes"}, {"blast_radius", "--blast-radius"},
		{"error_budget", "--error-budget"}, {"max_unhealthy_percent", "--max-unhealthy-percent"},
		{"override_max_unhealthy", "--override-max-unhealthy"}, {"exclude_tag", "--exclude-tag"}, {"exclude_instance_ids", "--exclude-ids"},
		{"quarantine_after", "--quarantine-after"}, {"quarantine_window", "--quarantine-window"}, {"stuck_after", "--stuck-after"},
		{"canary", "--canary"}, {"canary_success", "--canary-success"}, {"ramp", "--ramp"}, {"early_signal", "--early-signal"}, {"stable_for", "--stable-for"},
	}
}

// input builds and validates the workflow input.
func (f *runFlags) input(kind, startedBy string, dryRun bool) (workflows.RegionInput, error) {
	ids, err := readIDs(f.instanceIDs, f.instanceIDsFile, "--instance-ids")
	if err != nil {
		return workflows.RegionInput{}, err
	}
	excluded, err := readIDs(f.excludeIDs, f.excludeIDsFile, "--exclude-ids")
	if err != nil {
		return workflows.RegionInput{}, err
	}
	grace := workflows.Duration(f.rebootGrace)
	rows := f.maxReportRows
	in := workflows.RegionInput{
		Region: f.region, InstanceIDs: ids, ZoneID: f.zone, OSType: f.osType,
		BatchSize: f.batchSize, ConcurrentBatches: f.concurrentBatches, RebootPolicy: f.rebootPolicy,
		RebootGrace: &grace, VerifyDeadline: workflows.Duration(f.verifyDeadline),
		VerifyPollInterval: workflows.Duration(f.verifyPollInterval), DryRun: dryRun,
		Kind: kind, StartedBy: startedBy, MaxReportRows: &rows, MaxReportBytes: f.maxReportBytes,
		BlastRadius: f.blastRadius, ErrorBudget: f.errorBudget, MaxUnhealthyPercent: f.maxUnhealthyPercent,
		OverrideMaxUnhealthy: f.overrideMaxUnhealthy, ExcludeTag: f.excludeTag, ExcludeInstanceIDs: excluded,
		QuarantineAfter: f.quarantineAfter, QuarantineWindow: workflows.Duration(f.quarantineWindow),
		StuckAfter: workflows.Duration(f.stuckAfter),
		Canary:     &f.canary, CanarySuccess: f.canarySuccess, Ramp: f.ramp, PauseAfterCanary: f.pauseAfterCanary,
		EarlySignal: workflows.Duration(f.earlySignal), StableFor: (*workflows.Duration)(&f.stableFor),
	}
	// The flags have refused anything outside their ranges; the workflow's
	// own validation stays the last word (e.g. for settings that depend on
	// each other) and its message is mapped to the flag.
	in = in.WithDefaults()
	if err := in.Validate(); err != nil {
		msg := err.Error()
		for _, ff := range fieldFlags() {
			if strings.HasPrefix(msg, ff[0]+" ") || strings.HasPrefix(msg, ff[0]+"[") {
				msg = ff[1] + ": " + msg
				break
			}
		}
		return in, usageErr("invalid run settings: %s", msg)
	}
	return in, nil
}

// readIDs reads instance IDs from a comma-separated flag or a file (one
// per line, # comments, "-" for stdin), named flag and flag+"-file".
func readIDs(list, file, flag string) ([]string, error) {
	if list != "" && file != "" {
		return nil, usageErr("use %s or %s-file, not both", flag, flag)
	}
	if list != "" {
		return config.SplitList(list), nil
	}
	if file == "" {
		return nil, nil
	}
	r := os.Stdin
	if file != "-" {
		fh, err := os.Open(file)
		if err != nil {
			return nil, usageErr("%s-file: %v", flag, err)
		}
		defer fh.Close()
		r = fh
	}
	var ids []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line != "" {
			ids = append(ids, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, usageErr("%s-file: %v", flag, err)
	}
	if len(ids) == 0 {
		return nil, usageErr("%s-file %s has no instance IDs", flag, file)
	}
	return ids, nil
}
