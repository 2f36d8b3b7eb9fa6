package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/workflows"
)

// planFixed are the run flags `apply` does not take: the plan fixes them
// (its instances, its batches, and the settings it was reviewed with,
// among them the short-circuit's threshold: the apply measures the region
// again against it, and --override-max-unhealthy overrides it).
func planFixed() []string {
	return []string{"zone", "os-type", "batch-size", "reboot-policy", "reboot-grace", "verify-deadline", "exclude-tag",
		"exclude-ids", "exclude-ids-file", "max-unhealthy-percent"}
}

func (a *app) applyCommand() *cobra.Command {
	var f runFlags
	var fromRun, id string
	var wait bool
	var maxAge, interval time.Duration
	var maxDrift int
	cmd := &cobra.Command{
		Use:   "apply --from-run <dry-run-id> | apply <plan.json>",
		Short: "Apply a dry run's plan as it was reviewed: its instances, in its batches",
		Long: `Start a run that acts on exactly the instances of a dry run's plan, in its batches, with the
settings the dry run planned with (batch size, reboot policy and grace, verify deadline, opt-out
tag). The plan is the dry run's result, read from Temporal (--from-run), or a file written by
starter report <dry-run> --json ('-' reads stdin).

The run scans the planned instances itself and, before the first install, refuses the plan (and
touches nothing) when it is older than --max-plan-age or when more than --max-drift percent of its
instances changed since it was made: healthy now, gone, not Running, or tagged with the opt-out tag.
Those checks are the workflow's, so they hold however the apply is started. Every instance is still
re-checked right before its install and its reboot. Who applied it and the plan's run ID are in the
run's input and its report. A refused plan exits 1 with the report saying why.`,
		Example: `  starter run --region cn-hangzhou --dry-run --wait
  starter apply --from-run fleetmend/cn-hangzhou/dryrun-20261122T101500Z --wait
  starter report fleetmend/cn-hangzhou/dryrun-20261122T101500Z --json > plan.json
  starter apply plan.json --max-plan-age 2h --max-drift 5 --wait`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (fromRun == "") == (len(args) == 0) {
				return usageErr("give the plan: --from-run <dry-run ID> or a plan file (starter report <dry-run> --json), one of them")
			}
			ctx := cmd.Context()
			var rep workflows.Report
			var err error
			if fromRun != "" {
				rep, err = a.planFromRun(ctx, fromRun)
			} else {
				rep, err = planFromFile(args[0])
			}
			if err != nil {
				return err
			}
			in, err := f.planInput(rep, a.username(), maxAge, maxDrift)
			if err != nil {
				return err
			}
			if len(in.InstanceIDs) == 0 {
				fmt.Fprintf(a.out, "the plan of %s has no batches: nothing to apply\n", rep.WorkflowID)
				return nil
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			if id == "" {
				id = guard.RunWorkflowID(in.Region, "apply", a.now())
			}
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:                                       id,
				TaskQueue:                                config.RegionTaskQueue(a.taskQueue, in.Region),
				TypedSearchAttributes:                    workflows.RunSearchAttributes(in.Region, in.Kind, false),
				StaticSummary:                            runSummary(in) + ", applying the plan of " + rep.WorkflowID,
				StaticDetails:                            runDetails(in) + "  \n**plan** " + rep.WorkflowID,
				WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
				WorkflowExecutionErrorWhenAlreadyStarted: true,
			}, workflows.RemediateRegion, in)
			if err != nil {
				var already *serviceerror.WorkflowExecutionAlreadyStarted
				if errors.As(err, &already) {
					return usageErr("a run with ID %s is already running", id)
				}
				return &exitError{code: exitUsage, err: fmt.Errorf("start the apply of %s: %w", rep.WorkflowID, err)}
			}
			if err := a.awaitRegion(ctx, c, id); err != nil {
				return err
			}
			if closed, err := a.awaitPlanCheck(ctx, c, id); err != nil || closed {
				// Refused (or ended at once): the report says why, and the
				// exit code is the report's.
				if err != nil {
					return err
				}
				return a.follow(ctx, c, id, interval)
			}
			if !wait {
				if a.jsonOut {
					return writeJSON(a.out, map[string]string{"workflow_id": id, "run_id": run.GetRunID(), "plan_run_id": rep.WorkflowID})
				}
				fmt.Fprintf(a.out, "started %s (run %s), applying the plan of %s\nfollow it with: starter status %s   report: starter report %s\n",
					id, run.GetRunID(), rep.WorkflowID, id, id)
				return nil
			}
			if !a.jsonOut {
				fmt.Fprintf(a.out, "started %s, applying the plan of %s\n", id, rep.WorkflowID)
			}
			return a.follow(ctx, c, id, interval)
		},
	}
	// The run flags, less those the plan fixes.
	all := pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.register(all, false)
	fixed := map[string]bool{}
	for _, name := range planFixed() {
		fixed[name] = true
	}
	all.VisitAll(func(fl *pflag.Flag) {
		if !fixed[fl.Name] {
			cmd.Flags().AddFlag(fl)
		}
	})
	fs := cmd.Flags()
	fs.StringVar(&fromRun, "from-run", "", "the dry run whose plan to apply (its workflow ID); its result is read from Temporal")
	numVar(fs, numflag.NewDuration(&maxAge, "max-plan-age", workflows.DefaultMaxPlanAge,
		numflag.Range[time.Duration]{Min: workflows.MinMaxPlanAge, Max: workflows.MaxMaxPlanAge}),
		"refuse a plan older than this (from the end of the dry run's scan)")
	numVar(fs, numflag.NewInt(&maxDrift, "max-drift", workflows.DefaultMaxDrift, numflag.Range[int]{Min: 0, Max: 100}),
		"percent: refuse the plan, touching nothing, when more of its instances changed since it was made (healthy now, gone, not Running, opt-out tag)")
	fs.StringVar(&f.overrideMaxUnhealthy, "override-max-unhealthy", "", "apply a plan whose dry run found the fleet-wide short-circuit would stop a real run; the value is the reason, kept in the run's history and report")
	fs.BoolVar(&wait, "wait", false, "show progress until the run ends, then print the report")
	fs.StringVar(&id, "id", "", "workflow ID (default fleetmend/<region>/apply-<UTC time>)")
	progressIntervalFlag(fs, &interval)
	return cmd
}

// planFromRun reads a closed dry run's result: its plan.
func (a *app) planFromRun(ctx context.Context, id string) (workflows.Report, error) {
	c, err := a.connect()
	if err != nil {
		return workflows.Report{}, err
	}
	status, err := describeRun(ctx, c, id)
	if err != nil {
		return workflows.Report{}, err
	}
	if status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return workflows.Report{}, usageErr("--from-run: %s is still running; apply its plan once it has completed", id)
	}
	var rep workflows.Report
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &rep); err != nil {
		return workflows.Report{}, usageErr("--from-run: %s did not complete, so it has no plan to apply: %v", id, err)
	}
	return rep, nil
}

// planFromFile reads a plan file: a dry run's report as `starter report
// --json` prints it.
func planFromFile(path string) (workflows.Report, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return workflows.Report{}, usageErr("plan file: %v", err)
		}
		defer fh.Close()
		r = fh
	}
	var rep workflows.Report
	dec := json.NewDecoder(r)
	if err := dec.Decode(&rep); err != nil {
		return workflows.Report{}, usageErr("plan file %s: not a dry run's report as `starter report <dry-run> --json` writes it: %v", path, err)
	}
	return rep, nil
}

// planInput turns a dry run's report into the input of the run that
// applies it, with the settings the plan was made with, or says why the
// report is no plan to apply.
func (f *runFlags) planInput(rep workflows.Report, by string, maxAge time.Duration, maxDrift int) (workflows.RegionInput, error) {
	name := rep.WorkflowID
	if name == "" {
		name = "the plan"
	}
	s := rep.PlanSettings
	switch {
	case !rep.DryRun:
		return workflows.RegionInput{}, usageErr("%s is not a dry run: only a dry run's plan can be applied", name)
	case s == nil:
		return workflows.RegionInput{}, usageErr("%s has no plan settings (a dry run made before plans could be applied): make a new dry run", name)
	case rep.Cancelled || rep.Stopped != "":
		why := rep.Stopped
		if rep.Cancelled {
			why = strings.TrimSpace("cancelled " + why)
		}
		return workflows.RegionInput{}, usageErr("%s ended early (%s): its plan is incomplete; make a new dry run", name, why)
	case rep.PlanOmitted > 0:
		return workflows.RegionInput{}, usageErr("%s left %d instances out of its plan (--max-report-rows): an incomplete plan is not applied; make a new dry run with --max-report-rows of at least %d",
			name, rep.PlanOmitted, rep.Counts.Planned)
	case s.ShortCircuit != "" && f.overrideMaxUnhealthy == "":
		return workflows.RegionInput{}, usageErr("%s found that a real run would stop before touching anything (%s); to apply its plan anyway give --override-max-unhealthy <reason>", name, s.ShortCircuit)
	}
	var ids []string
	var batches []int
	for _, b := range rep.Plan {
		ids = append(ids, b.InstanceIDs...)
		batches = append(batches, len(b.InstanceIDs))
	}
	plannedAt := rep.ScannedAt
	if plannedAt.IsZero() {
		plannedAt = rep.FinishedAt
	}
	f.region, f.zone, f.osType = rep.Region, "", ""
	f.batchSize, f.rebootPolicy, f.rebootGrace, f.verifyDeadline, f.excludeTag = s.BatchSize, s.RebootPolicy, s.RebootGrace.D(), s.VerifyDeadline.D(), s.ExcludeTag
	if s.MaxUnhealthyPercent > 0 {
		// The apply judges the region again, by the threshold the plan
		// was judged with (dry runs made before it kept none: the default).
		f.maxUnhealthyPercent = s.MaxUnhealthyPercent
	}
	f.instanceIDs, f.instanceIDsFile, f.excludeIDs, f.excludeIDsFile = "", "", "", ""
	in, err := f.input(workflows.KindManual, by, false)
	if err != nil {
		return in, err
	}
	if len(ids) == 0 {
		return in, nil
	}
	in.InstanceIDs = ids
	in.Plan = &workflows.PlanInput{WorkflowID: rep.WorkflowID, PlannedAt: plannedAt, Batches: batches,
		MaxAge: workflows.Duration(maxAge), MaxDriftPercent: maxDrift}
	if err := in.Validate(); err != nil {
		return in, usageErr("%s is not a plan that can be applied: %v", name, err)
	}
	return in, nil
}

// awaitPlanCheck waits until a just started apply has passed its plan's
// check (it is repairing) or has closed, so that a refused plan is heard
// here even without --wait. It gives up waiting (the run
// goes on) after checkWait, e.g. while the run waits for its region.
func (a *app) awaitPlanCheck(ctx context.Context, c client.Client, id string) (closed bool, err error) {
	const checkWait = 30 * time.Second
	deadline := time.Now().Add(checkWait)
	for time.Now().Before(deadline) {
		status, err := describeRun(ctx, c, id)
		if err != nil {
			return false, err
		}
		if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return true, nil
		}
		if v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgress); err == nil {
			var p workflows.Progress
			// Acting: the plan passed its check. A refused plan goes on
			// to close (its report is still being finished): wait for that.
			if v.Get(&p) == nil && (p.BatchesStarted > 0 || p.Phase == "repairing" || p.Phase == "awaiting approval") {
				return false, nil
			}
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return false, &exitError{code: exitUsage, err: ctx.Err()}
		}
	}
	return false, nil
}
