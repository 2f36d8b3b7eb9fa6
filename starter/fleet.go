package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/render"
	"github.com/fleetmend/fleetmend/workflows"
)

// fleetFlags are --regions and --all-regions: a fleet run (or schedule)
// over many regions instead of one run of --region.
type fleetFlags struct {
	regions string
	all     bool
	// overrideRegions are the regions a fleet run's
	// --override-max-unhealthy is for.
	overrideRegions string
}

func (f *fleetFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.regions, "regions", "", "comma-separated region IDs: one fleet run starts a run in each (instead of --region)")
	fs.BoolVar(&f.all, "all-regions", false, "one fleet run over every region of the account, as DescribeRegions lists them when it starts (instead of --region)")
	fs.StringVar(&f.overrideRegions, "override-regions", "", "with --regions/--all-regions and --override-max-unhealthy: the comma-separated regions the override is for (required: an override never applies to every region of a fleet run)")
}

func (f fleetFlags) set() bool { return f.regions != "" || f.all }

// input builds and validates the fleet run's input from the run flags.
func (f fleetFlags) input(run *runFlags, kind, startedBy string, dryRun bool) (workflows.FleetInput, error) {
	regions := config.SplitList(f.regions)
	all := f.all
	if len(regions) == 1 && regions[0] == "all" {
		regions, all = nil, true // the worker's spelling
	}
	switch {
	case run.region != "":
		return workflows.FleetInput{}, usageErr("give --region, or --regions / --all-regions, not both")
	case f.all && f.regions != "":
		return workflows.FleetInput{}, usageErr("give --regions or --all-regions, not both")
	case f.regions != "" && len(regions) == 0 && !all:
		return workflows.FleetInput{}, usageErr("--regions %q names no region (e.g. cn-hangzhou,cn-shanghai)", f.regions)
	case run.instanceIDs != "" || run.instanceIDsFile != "":
		return workflows.FleetInput{}, usageErr("--instance-ids: a fleet run takes no instance list (instance IDs belong to one region); use --region")
	case run.zone != "":
		return workflows.FleetInput{}, usageErr("--zone: a fleet run takes no zone (a zone belongs to one region); use --region")
	}
	// The run settings are checked like a run's, on a stand-in region
	// (the regions are checked below), then handed on without it.
	run.region = ecs.DefaultAskRegion
	in, err := run.input(kind, startedBy, dryRun)
	run.region = ""
	if err != nil {
		return workflows.FleetInput{}, err
	}
	in.Region = ""
	fin := workflows.FleetInput{Regions: regions, AllRegions: all, Run: in, OverrideRegions: config.SplitList(f.overrideRegions)}
	switch {
	case in.OverrideMaxUnhealthy != "" && len(fin.OverrideRegions) == 0:
		return fin, usageErr("--override-max-unhealthy on a fleet run must name the regions it is for: add --override-regions R1,R2 (an override never applies to every region), or run one region with --region")
	case in.OverrideMaxUnhealthy == "" && len(fin.OverrideRegions) > 0:
		return fin, usageErr("--override-regions goes with --override-max-unhealthy <reason>")
	}
	if err := fin.Validate(); err != nil {
		return fin, usageErr("--regions: %v", err)
	}
	return fin, nil
}

// fleetWorkflowID is a fleet run's default ID: fleetmend/fleet/<kind>-<UTC
// time>; its region runs are fleetmend/<region>/fleet-<kind>-<time>.
func fleetWorkflowID(dryRun bool, now time.Time) string {
	kind := "manual"
	if dryRun {
		kind = "dryrun"
	}
	return guard.FleetWorkflowID(kind, now)
}

// fleetSearchAttributes are the run attributes a fleet run has: it is
// of no one region.
func fleetSearchAttributes(kind string, dryRun bool) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(workflows.SAKind().ValueSet(kind), workflows.SADryRun().ValueSet(dryRun))
}

func fleetRegions(in workflows.FleetInput) string {
	if in.AllRegions {
		return "every region"
	}
	return strings.Join(in.Regions, ", ")
}

// fleetDetails are a region run's details with the fleet's regions.
func fleetDetails(in workflows.FleetInput) string {
	d := runDetails(in.Run)
	if rest, ok := strings.CutPrefix(d, "**region**   \n"); ok {
		return "**regions** " + fleetRegions(in) + "  \n" + rest
	}
	return d
}

func fleetSummary(in workflows.FleetInput) string {
	regions := fleetRegions(in)
	by := ""
	if in.Run.StartedBy != "" {
		by = " by " + in.Run.StartedBy
	}
	what := "fleet run"
	if in.Run.DryRun {
		what = "fleet dry run"
	}
	return fmt.Sprintf("fleetmend %s %s of %s%s", in.Run.Kind, what, regions, by)
}

// runFleet is `run --regions/--all-regions`: it starts the fleet run on
// the base task queue (every worker polls it) and, with --wait, follows it.
func (a *app) runFleet(ctx context.Context, ff fleetFlags, f *runFlags, dryRun, wait bool, id string, interval time.Duration) error {
	in, err := ff.input(f, workflows.KindManual, a.username(), dryRun)
	if err != nil {
		return err
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	if id == "" {
		id = fleetWorkflowID(dryRun, a.now())
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                a.taskQueue,
		TypedSearchAttributes:                    fleetSearchAttributes(in.Run.Kind, in.Run.DryRun),
		StaticSummary:                            fleetSummary(in),
		StaticDetails:                            runDetails(in.Run),
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.RemediateFleet, in)
	if err != nil {
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) {
			return usageErr("a run with ID %s is already running", id)
		}
		return &exitError{code: exitUsage, err: fmt.Errorf("start fleet run: %w", err)}
	}
	if !wait {
		if a.jsonOut {
			return writeJSON(a.out, map[string]string{"workflow_id": id, "run_id": run.GetRunID()})
		}
		fmt.Fprintf(a.out, "started fleet run %s (run %s); each region's run is %s\nfollow it with: starter status %s   summary: starter report %s\n",
			id, run.GetRunID(), guard.FleetChildID(id, "<region>"), id, id)
		return nil
	}
	if !a.jsonOut {
		fmt.Fprintf(a.out, "started fleet run %s\n", id)
	}
	return a.followFleet(ctx, c, id, interval)
}

// isFleet says whether the workflow id is a fleet run, and its status.
func isFleet(ctx context.Context, c client.Client, id string) (bool, enumspb.WorkflowExecutionStatus, error) {
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return false, 0, usageErr("no run with ID %s", id)
		}
		return false, 0, &exitError{code: exitUsage, err: fmt.Errorf("describe %s: %w", id, err)}
	}
	info := d.GetWorkflowExecutionInfo()
	return info.GetType().GetName() == guard.FleetWorkflowType, info.GetStatus(), nil
}

// fleetLines asks the fleet run for its regions and each running region's
// run for its progress, and renders one line per region of at most width
// runes (0: no limit).
func fleetLines(ctx context.Context, c client.Client, id string, width int) (workflows.FleetReport, []string, map[string]workflows.Progress, error) {
	var rep workflows.FleetReport
	v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
	if err != nil {
		return rep, nil, nil, err
	}
	if err := v.Get(&rep); err != nil {
		return rep, nil, nil, fmt.Errorf("decode the fleet run's progress: %w", err)
	}
	progress := map[string]workflows.Progress{}
	lines := make([]string, 0, len(rep.Regions))
	for _, g := range rep.Regions {
		var pp *workflows.Progress
		if g.Outcome == workflows.FleetRunning && g.WorkflowID != "" {
			if pv, err := c.QueryWorkflow(ctx, g.WorkflowID, "", workflows.QueryProgress); err == nil {
				var p workflows.Progress
				if pv.Get(&p) == nil {
					pp = &p
					progress[g.Region] = p
				}
			}
		}
		lines = append(lines, render.FleetLine(g, pp, width))
	}
	return rep, lines, progress, nil
}

// followFleet shows one progress line per region until the fleet run
// closes (rewritten in place on a terminal, fitted to its width; on other
// outputs a region's line is printed when it changes), then prints the
// fleet summary and returns the exit code it deserves.
func (a *app) followFleet(ctx context.Context, c client.Client, id string, interval time.Duration) error {
	done := make(chan error, 1)
	var rep workflows.FleetReport
	go func() { done <- c.GetWorkflow(ctx, id, "").Get(ctx, &rep) }()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	_, _, tty := a.terminal()
	tty = tty && !a.jsonOut
	drawn := 0
	last := map[int]string{}
	for {
		select {
		case err := <-done:
			if tty && drawn > 0 {
				fmt.Fprintln(a.out)
			}
			return a.finishFleet(rep, err)
		case <-tick.C:
			if a.jsonOut {
				continue
			}
			width := 0
			if tty {
				// Asked every time: the terminal may have been resized. One
				// column is left free, as for a single run's bar.
				w, _, _ := a.terminal()
				width = w - 1
			}
			_, lines, _, err := fleetLines(ctx, c, id, width)
			if err != nil {
				continue // the worker is busy, or the run is just starting
			}
			if tty {
				if drawn > 0 {
					fmt.Fprintf(a.out, "\x1b[%dA", drawn)
				}
				for _, l := range lines {
					fmt.Fprint(a.out, "\r"+l+"\x1b[K\n")
				}
				drawn = len(lines)
				continue
			}
			for i, l := range lines {
				if last[i] != l {
					fmt.Fprintln(a.out, l)
					last[i] = l
				}
			}
		case <-ctx.Done():
			return &exitError{code: exitUsage, err: fmt.Errorf("stopped following %s (the fleet run goes on): %w", id, ctx.Err())}
		}
	}
}

// finishFleet prints a closed fleet run's summary and turns it into an
// exit code: 0 when every region completed with nothing failed or stopped
// early, 1 otherwise.
func (a *app) finishFleet(rep workflows.FleetReport, err error) error {
	if err != nil {
		var canceled *temporal.CanceledError
		var appErr *temporal.ApplicationError
		switch {
		case errors.As(err, &canceled) && canceled.HasDetails() && canceled.Details(&rep) == nil:
			if perr := a.printFleet(rep); perr != nil {
				return perr
			}
			return failures()
		case errors.As(err, &appErr):
			if appErr.HasDetails() && appErr.Details(&rep) == nil {
				if perr := a.printFleet(rep); perr != nil {
					return perr
				}
			}
			return &exitError{code: exitFailures, err: fmt.Errorf("fleet run failed: %s", appErr.Message())}
		}
		return &exitError{code: exitFailures, err: fmt.Errorf("fleet run did not complete: %w", err)}
	}
	if perr := a.printFleet(rep); perr != nil {
		return perr
	}
	if !rep.AllGood() {
		return failures()
	}
	return nil
}

func (a *app) printFleet(rep workflows.FleetReport) error {
	if a.jsonOut {
		return writeJSON(a.out, rep)
	}
	return render.FleetSummary(a.out, rep)
}

// fleetStatus is `status <fleet run>`: its status, then one line per
// region, then the tallies so far.
func (a *app) fleetStatus(ctx context.Context, c client.Client, id string, status enumspb.WorkflowExecutionStatus) error {
	rep, lines, progress, err := fleetLines(ctx, c, id, 0)
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("query progress of %s (is a fleetmend worker running?): %w", id, err)}
	}
	if a.jsonOut {
		return writeJSON(a.out, struct {
			Status string `json:"status"`
			workflows.FleetReport
			Progress map[string]workflows.Progress `json:"progress,omitempty"`
		}{statusName(status), rep, progress})
	}
	fmt.Fprintf(a.out, "%s: %s (fleet run over %d regions)\n", id, statusName(status), len(rep.Regions))
	for _, l := range lines {
		fmt.Fprintln(a.out, "  "+l)
	}
	t := rep.Totals
	fmt.Fprintf(a.out, "regions: %d completed, %d skipped, %d failed, %d running; so far: remediated %d, failed %d\n",
		rep.Completed, rep.Skipped, rep.Failed, rep.Running, t.Remediated, t.Failed)
	return nil
}

// fleetReport is `report <fleet run>`: the summary of a closed fleet run.
func (a *app) fleetReport(ctx context.Context, c client.Client, id string, status enumspb.WorkflowExecutionStatus, wait bool) error {
	if status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && !wait {
		return usageErr("fleet run %s is still running; see `starter status %s`, or add --wait", id, id)
	}
	var rep workflows.FleetReport
	err := c.GetWorkflow(ctx, id, "").Get(ctx, &rep)
	if errors.Is(err, context.Canceled) {
		return &exitError{code: exitUsage, err: err}
	}
	return a.finishFleet(rep, err)
}
