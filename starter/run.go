package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/internal/render"
	"github.com/fleetmend/fleetmend/workflows"
)

func (a *app) runCommand() *cobra.Command {
	var f runFlags
	var ff fleetFlags
	var dryRun, wait bool
	var id string
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Start a remediation run (or a dry run) on a region now",
		Long: `Start a RemediateRegion run on fleetmend's worker. Without --wait it prints the run's ID and
returns; with --wait it shows live progress (a bar on a terminal, plain lines otherwise) and
ends with the report.

One run acts on a region at a time: the run asks the region's guard workflow for the region,
and if another run holds it, it ends at once as skipped and this command says which run holds it
(exit code 2). Dry runs are always allowed: they change nothing. --dry-run scans and plans the batches and calls no mutating API; the plan
is the run's result, in the report and in the Web UI.

With --regions (or --all-regions, every region DescribeRegions lists) one fleet run starts a run
in each region, each on its region's task queue and asking its region's guard like a run started
alone; a busy or failing region does not stop the others. --wait shows one line per region and
ends with the fleet summary (exit code 0 only when every region completed without failures).`,
		Example: `  starter run --region cn-hangzhou --wait
  starter run --region cn-hangzhou --dry-run --wait --json > plan.json
  starter run --region cn-hangzhou --instance-ids-file incident-4711.txt --reboot-policy always --wait
  starter run --region cn-hangzhou --os-type Windows --zone cn-hangzhou-h --concurrent-batches 10
  starter run --regions cn-hangzhou,cn-shanghai --wait
  starter run --all-regions --dry-run --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ff.set() {
				return a.runFleet(cmd.Context(), ff, &f, dryRun, wait, id, interval)
			}
			if f.region == "" {
				return usageErr("--region is required (an ECS region ID such as cn-hangzhou), or --regions / --all-regions for a fleet run")
			}
			in, err := f.input(workflows.KindManual, a.username(), dryRun)
			if err != nil {
				return err
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if id == "" {
				id = runWorkflowID(in, a.now())
			}
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:                    id,
				TaskQueue:             config.RegionTaskQueue(a.taskQueue, in.Region),
				TypedSearchAttributes: workflows.RunSearchAttributes(in.Region, in.Kind, in.DryRun),
				StaticSummary:         runSummary(in),
				StaticDetails:         runDetails(in),
				// A second start with the same ID is an error, never a silent join.
				WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
				WorkflowExecutionErrorWhenAlreadyStarted: true,
			}, workflows.RemediateRegion, in)
			if err != nil {
				var already *serviceerror.WorkflowExecutionAlreadyStarted
				if errors.As(err, &already) {
					return usageErr("a run with ID %s is already running", id)
				}
				return &exitError{code: exitUsage, err: fmt.Errorf("start run: %w", err)}
			}
			if !dryRun {
				// The run asks its region's guard for the region first; if
				// another run holds it, this one ends at once as skipped.
				// Wait for that answer, so the operator hears it here.
				if err := a.awaitRegion(ctx, c, id); err != nil {
					return err
				}
			}
			if !wait {
				if a.jsonOut {
					return writeJSON(a.out, map[string]string{"workflow_id": id, "run_id": run.GetRunID()})
				}
				fmt.Fprintf(a.out, "started %s (run %s)\nfollow it with: starter status %s   report: starter report %s\n", id, run.GetRunID(), id, id)
				return nil
			}
			if !a.jsonOut {
				fmt.Fprintf(a.out, "started %s\n", id)
			}
			return a.follow(ctx, c, id, interval)
		},
	}
	f.register(cmd.Flags(), true)
	ff.register(cmd.Flags())
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "scan and plan only: no install, no reboot")
	cmd.Flags().BoolVar(&wait, "wait", false, "show progress until the run ends, then print the report")
	cmd.Flags().StringVar(&id, "id", "", "workflow ID (default fleetmend/<region>/manual-<UTC time>, or dryrun-<time>; a fleet run's fleetmend/fleet/manual-<time>)")
	progressIntervalFlag(cmd.Flags(), &interval)
	return cmd
}

// progressIntervalFlag is --progress-interval of run and schedule trigger.
func progressIntervalFlag(fs *pflag.FlagSet, interval *time.Duration) {
	numVar(fs, numflag.NewDuration(interval, "progress-interval", 2*time.Second, numflag.Range[time.Duration]{Min: 100 * time.Millisecond, Max: time.Minute}),
		"with --wait: how often to ask for progress")
}

func runWorkflowID(in workflows.RegionInput, now time.Time) string {
	kind := "manual"
	if in.DryRun {
		kind = "dryrun"
	}
	return guard.RunWorkflowID(in.Region, kind, now)
}

func runSummary(in workflows.RegionInput) string {
	what := "run"
	if in.DryRun {
		what = "dry run"
	}
	scope := ""
	if len(in.InstanceIDs) > 0 {
		scope = fmt.Sprintf(", %d given instances", len(in.InstanceIDs))
	}
	by := ""
	if in.StartedBy != "" {
		by = " by " + in.StartedBy
	}
	return fmt.Sprintf("fleetmend %s %s of %s%s%s", in.Kind, what, in.Region, scope, by)
}

func runDetails(in workflows.RegionInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**region** %s  \n**kind** %s  \n**dry run** %v  \n", in.Region, in.Kind, in.DryRun)
	if in.StartedBy != "" {
		fmt.Fprintf(&b, "**started by** %s  \n", in.StartedBy)
	}
	inFlight := "as many in flight as the blast radius allows"
	if in.ConcurrentBatches > 0 {
		inFlight = fmt.Sprintf("%d in flight", in.ConcurrentBatches)
	}
	fmt.Fprintf(&b, "**reboot policy** %s (grace %s), verify within %s  \n**batches** %d instances, %s",
		in.RebootPolicy, in.RebootGrace, in.VerifyDeadline, in.BatchSize, inFlight)
	return b.String()
}

// awaitRegion waits until a just started run has been granted its region
// or has ended as skipped, and turns a skip into a refusal naming the run
// that holds the region. It gives up waiting (the run goes on) after
// regionWait, e.g. when no worker is polling yet.
func (a *app) awaitRegion(ctx context.Context, c client.Client, id string) error {
	const regionWait = 30 * time.Second
	deadline := time.Now().Add(regionWait)
	for time.Now().Before(deadline) {
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			var rep workflows.Report
			err := c.GetWorkflow(ctx, id, "").Get(ctx, &rep)
			switch {
			case err == nil && rep.Skipped:
				return usageErr("refused: %s; run %s ended without touching anything (follow the other with `starter status %s`)", rep.Stopped, id, rep.SkippedFor)
			case err != nil:
				return a.finish(rep, err) // it failed at once: say why
			}
			return nil
		}
		if v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgress); err == nil {
			var p workflows.Progress
			if v.Get(&p) == nil && p.Phase != "" && p.Phase != "starting" && p.Phase != "acquiring" && p.Phase != "skipped" {
				return nil
			}
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return &exitError{code: exitUsage, err: ctx.Err()}
		}
	}
	return nil
}

// follow shows progress until the run closes, then prints its report and
// returns the exit code the report deserves.
func (a *app) follow(ctx context.Context, c client.Client, id string, interval time.Duration) error {
	done := make(chan error, 1)
	run := c.GetWorkflow(ctx, id, "")
	var rep workflows.Report
	go func() { done <- run.Get(ctx, &rep) }()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	_, _, tty := a.terminal()
	tty = tty && !a.jsonOut
	last := ""
	for {
		select {
		case err := <-done:
			if tty && last != "" {
				fmt.Fprintln(a.out)
			}
			return a.finish(rep, err)
		case <-tick.C:
			if a.jsonOut {
				continue
			}
			v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
			if err != nil {
				continue // between two runs of a continue-as-new, or the worker is busy
			}
			var p workflows.Progress
			if v.Get(&p) != nil {
				continue
			}
			if tty {
				// Asked every time: the terminal may have been resized. One
				// column is left free, since a line that fills the last one
				// wraps on some terminals; \x1b[K clears what a longer line
				// before left behind.
				width, _, _ := a.terminal()
				last = render.ProgressBar(p, width-1)
				fmt.Fprint(a.out, "\r"+last+"\x1b[K")
			} else if line := render.ProgressLine(p); line != last {
				fmt.Fprintln(a.out, line)
				last = line
			}
		case <-ctx.Done():
			return &exitError{code: exitUsage, err: fmt.Errorf("stopped following %s (the run goes on): %w", id, ctx.Err())}
		}
	}
}

// finish prints a closed run's report (or why there is none) and turns it
// into an exit code.
func (a *app) finish(rep workflows.Report, err error) error {
	if err != nil {
		var canceled *temporal.CanceledError
		if errors.As(err, &canceled) && canceled.HasDetails() && canceled.Details(&rep) == nil {
			if perr := a.printReport(rep, "table"); perr != nil {
				return perr
			}
			return failures()
		}
		// A failed run carries its report so far and one line saying why.
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.HasDetails() && appErr.Details(&rep) == nil {
			if perr := a.printReport(rep, "table"); perr != nil {
				return perr
			}
			return &exitError{code: exitFailures, err: fmt.Errorf("run failed: %s", appErr.Message())}
		}
		return &exitError{code: exitFailures, err: fmt.Errorf("run did not complete: %w", err)}
	}
	if perr := a.printReport(rep, "table"); perr != nil {
		return perr
	}
	switch {
	case rep.Skipped:
		return &exitError{code: exitUsage}
	case rep.Counts.Failed > 0 || rep.Stopped != "":
		return failures()
	}
	return nil
}

// printReport prints a report as JSON, CSV or a table. On a terminal the
// table is fitted to it (its width, a screenful of rows, failures first)
// and names the command that prints it all; piped, it is complete.
func (a *app) printReport(rep workflows.Report, format string) error {
	switch {
	case a.jsonOut || format == "json":
		return writeJSON(a.out, rep)
	case format == "csv":
		return render.ReportCSV(a.out, rep)
	}
	width, height, tty := a.terminal()
	if !tty {
		return render.Report(a.out, rep)
	}
	// One column is left free: a line that fills the last one wraps on
	// some terminals.
	return render.ReportOnScreen(a.out, rep, render.Screen{Width: width - 1, Height: height,
		AllRows: fmt.Sprintf("starter report %s --csv", rep.WorkflowID)})
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeList prints what a listing command found: with --json the items
// (none is [], not null), else the empty message when there are none,
// else a table of the tab-separated header and one row per item.
func writeList[T any](a *app, items []T, empty, header string, row func(T) string) error {
	if a.jsonOut {
		if items == nil {
			items = []T{}
		}
		return writeJSON(a.out, items)
	}
	if len(items) == 0 {
		fmt.Fprintln(a.out, empty)
		return nil
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		fmt.Fprintln(tw, row(it))
	}
	return tw.Flush()
}
