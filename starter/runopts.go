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
}

// fieldFlags maps RegionInput's JSON fields (named in validation errors)
// to the flags that set them, so an error points at what to change.
func fieldFlags() [][2]string {
	return [][2]string{
		{"region", "--region"}, {"instance_ids", "--instance-ids"}, {"zone_id", "--zone"}, {"os_type", "--os-type"},
		{"batch_size", "--batch-size"}, {"concurrent_batches", "--concurrent-batches"}, {"reboot_policy", "--reboot-policy"},
		{"reboot_grace", "--reboot-grace"}, {"verify_deadline", "--verify-deadline"}, {"verify_poll_interval", "--verify-poll-interval"},
		{"max_report_rows", "--max-report-rows"},
	}
}

// input builds and validates the workflow input.
func (f *runFlags) input(kind, startedBy string, dryRun bool) (workflows.RegionInput, error) {
	ids, err := f.ids()
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
		Kind: kind, StartedBy: startedBy, MaxReportRows: &rows,
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

func (f *runFlags) ids() ([]string, error) {
	if f.instanceIDs != "" && f.instanceIDsFile != "" {
		return nil, usageErr("use --instance-ids or --instance-ids-file, not both")
	}
	if f.instanceIDs != "" {
		return config.SplitList(f.instanceIDs), nil
	}
	if f.instanceIDsFile == "" {
		return nil, nil
	}
	r := os.Stdin
	if f.instanceIDsFile != "-" {
		file, err := os.Open(f.instanceIDsFile)
		if err != nil {
			return nil, usageErr("--instance-ids-file: %v", err)
		}
		defer file.Close()
		r = file
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
		return nil, usageErr("--instance-ids-file: %v", err)
	}
	if len(ids) == 0 {
		return nil, usageErr("--instance-ids-file %s has no instance IDs", f.instanceIDsFile)
	}
	return ids, nil
}
