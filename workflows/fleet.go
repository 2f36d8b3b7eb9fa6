package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
)

// What became of one region of a fleet run.
const (
	FleetPending   = "pending"
	FleetRunning   = "running"
	FleetCompleted = "completed"
	FleetSkipped   = "skipped"
	FleetFailed    = "failed"
	FleetCancelled = "cancelled"
)

// MaxFleetRegions bounds a fleet run: one child run per region, all in
// flight at once, and one row per region in its summary. Alibaba Cloud
// has about 30 regions.
const MaxFleetRegions = 100

// maxFleetDetail bounds the one line a region's row says about it.
const maxFleetDetail = 300

// FleetInput is RemediateFleet's input: the regions (or every region of
// the account) and the settings of each region's run.
type FleetInput struct {
	Regions []string `json:"regions,omitempty"`
	// AllRegions: every region DescribeRegions lists, resolved when the
	// fleet run starts (so a schedule's firings follow the account).
	AllRegions bool `json:"all_regions,omitempty"`
	// Run is each region's RemediateRegion input; its Region is set per
	// region, and it takes no instance list and no zone (both are a
	// region's).
	Run RegionInput `json:"run"`
	// OverrideRegions are the regions whose runs Run.OverrideMaxUnhealthy
	// lets go ahead above the short-circuit's threshold: an override is
	// for the regions its reason is about, never every region of a fleet
	// run. Required with an override.
	OverrideRegions []string `json:"override_regions,omitempty"`
}

// Validate names the first field that is not acceptable.
func (in FleetInput) Validate() error { return in.validate(true) }

// validate is Validate; overrides says whether an override must name its
// regions (fleet runs recorded before it took one for every region).
func (in FleetInput) validate(overrides bool) error {
	if overrides {
		if err := in.validateOverride(); err != nil {
			return err
		}
	}
	switch {
	case len(in.Regions) > 0 && in.AllRegions:
		return errors.New("give regions or all_regions, not both")
	case len(in.Regions) == 0 && !in.AllRegions:
		return errors.New("regions is required (a list of ECS region IDs), or all_regions")
	case len(in.Regions) > MaxFleetRegions:
		return fmt.Errorf("regions has %d entries, allowed at most %d", len(in.Regions), MaxFleetRegions)
	case in.Run.Region != "":
		return errors.New("run.region must be empty: the fleet run sets it for each region")
	case len(in.Run.InstanceIDs) > 0:
		return errors.New("instance_ids: a fleet run takes no instance list (instance IDs belong to one region)")
	case in.Run.ZoneID != "":
		return errors.New("zone_id: a fleet run takes no zone (a zone belongs to one region)")
	case in.Run.State != nil || in.Run.Carry != nil:
		return errors.New("run.state and run.carry are the engine's, callers leave them empty")
	}
	for i, r := range in.Regions {
		if slices.Contains(in.Regions[:i], r) {
			return fmt.Errorf("regions lists %q twice", r)
		}
		if err := in.regionInput(r).Validate(); err != nil {
			return fmt.Errorf("regions[%d]: %w", i, err)
		}
	}
	if in.AllRegions {
		// Every setting but the region is checked now, on a stand-in.
		if err := in.regionInput(ecs.DefaultAskRegion).Validate(); err != nil {
			return err
		}
	}
	return nil
}

// validateOverride checks that an override names its regions, each one of
// the fleet run's.
func (in FleetInput) validateOverride() error {
	over := in.Run.OverrideMaxUnhealthy != ""
	switch {
	case over && len(in.OverrideRegions) == 0:
		return errors.New("override_max_unhealthy: a fleet run's override must name the regions it is for (override_regions): it lets those regions' runs go ahead above max_unhealthy_percent, never every region's")
	case !over && len(in.OverrideRegions) > 0:
		return errors.New("override_regions: name regions only with override_max_unhealthy (the reason)")
	}
	for i, r := range in.OverrideRegions {
		if !in.AllRegions && !slices.Contains(in.Regions, r) {
			return fmt.Errorf("override_regions[%d] %q is not one of the fleet run's regions (%s)", i, r, strings.Join(in.Regions, ", "))
		}
		if !regionPattern.MatchString(r) {
			return fmt.Errorf("override_regions[%d] %q is not a region ID (e.g. cn-hangzhou)", i, r)
		}
	}
	return nil
}

func (in FleetInput) regionInput(region string) RegionInput {
	r := in.Run
	r.Region = region
	if len(in.OverrideRegions) > 0 && !slices.Contains(in.OverrideRegions, region) {
		r.OverrideMaxUnhealthy = "" // the override is for the regions it names
	}
	return r.WithDefaults()
}

// FleetCounts are the counts of a fleet's summary, per region and in all.
type FleetCounts struct {
	Scanned        int `json:"scanned"`
	Unhealthy      int `json:"unhealthy"`
	Remediated     int `json:"remediated"`
	AlreadyHealthy int `json:"already_healthy"`
	Failed         int `json:"failed"`
	NotRunning     int `json:"not_running"`
	NotAttempted   int `json:"not_attempted"`
	Planned        int `json:"planned"`
	Installed      int `json:"installed"`
	Rebooted       int `json:"rebooted"`
}

func fleetCounts(c Counts) FleetCounts {
	return FleetCounts{Scanned: c.Scanned, Unhealthy: c.Unhealthy(), Remediated: c.Remediated, AlreadyHealthy: c.AlreadyHealthy,
		Failed: c.Failed, NotRunning: c.NotRunning, NotAttempted: c.NotAttempted, Planned: c.Planned,
		Installed: c.Installed, Rebooted: c.Rebooted}
}

func (t *FleetCounts) add(c FleetCounts) {
	t.Scanned += c.Scanned
	t.Unhealthy += c.Unhealthy
	t.Remediated += c.Remediated
	t.AlreadyHealthy += c.AlreadyHealthy
	t.Failed += c.Failed
	t.NotRunning += c.NotRunning
	t.NotAttempted += c.NotAttempted
	t.Planned += c.Planned
	t.Installed += c.Installed
	t.Rebooted += c.Rebooted
}

// FleetRegionResult is one region's row of a fleet summary.
type FleetRegionResult struct {
	Region string `json:"region"`
	// RunID is the region's RemediateRegion (a child of the fleet run),
	// fleetmend/<region>/fleet-<fleet run's name>; empty when none was
	// started.
	WorkflowID string `json:"run_id,omitempty"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Outcome    string `json:"outcome"`
	// SkippedFor names the run that held the region busy.
	SkippedFor string `json:"skipped_for,omitempty"`
	// Detail is one line: why it was skipped or failed, or why a completed
	// run stopped early (short-circuit, error budget, abort).
	Detail string      `json:"detail,omitempty"`
	Counts FleetCounts `json:"counts"`
}

// FleetReport is a fleet run's summary: a row per region and the totals.
// The progress query answers it too, with the regions still running.
type FleetReport struct {
	FleetID    string              `json:"fleet_id"`
	Kind       string              `json:"kind"`
	DryRun     bool                `json:"dry_run"`
	AllRegions bool                `json:"all_regions,omitempty"`
	StartedAt  time.Time           `json:"started_at"`
	FinishedAt time.Time           `json:"finished_at,omitzero"`
	Regions    []FleetRegionResult `json:"regions"`
	// Regions by outcome.
	Completed int `json:"completed"`
	Skipped   int `json:"skipped"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled,omitempty"`
	Running   int `json:"running,omitempty"`
	// Totals add up the regions' counts.
	Totals FleetCounts `json:"totals"`
}

// AllGood says whether every region completed with nothing failed and
// nothing stopped early.
func (r FleetReport) AllGood() bool {
	if r.Completed != len(r.Regions) || r.Totals.Failed > 0 {
		return false
	}
	for _, g := range r.Regions {
		if g.Detail != "" {
			return false
		}
	}
	return true
}

// RemediateFleet is one run over many regions: it resolves the regions
// (DescribeRegions for all of them), starts one RemediateRegion per
// region as a child workflow, each on its region's task queue and asking
// its region's guard exactly as a run started alone does, and ends with a
// summary. A region busy with another run is skipped (its run touches
// nothing), a region whose run fails is reported with one line, and
// neither stops the other regions. The fleet run itself completes unless
// its input is invalid or the regions cannot be listed.
//
// It runs on the base task queue, which every worker polls: it calls no
// region's ECS but for DescribeRegions. Cancelling it cancels every
// region's run (each stops cleanly, verifying what it rebooted) and waits
// for them.
func RemediateFleet(ctx workflow.Context, in FleetInput) (FleetReport, error) {
	overrides := in.Run.OverrideMaxUnhealthy != "" &&
		workflow.GetVersion(ctx, fleetOverrideRegions, workflow.DefaultVersion, 1) == 1
	if err := in.validate(overrides); err != nil {
		return FleetReport{}, invalidInput(guard.FleetWorkflowType, err)
	}
	info := workflow.GetInfo(ctx)
	run := in.Run.WithDefaults()
	f := &fleetRun{rep: FleetReport{FleetID: info.WorkflowExecution.ID, Kind: run.Kind, DryRun: run.DryRun,
		AllRegions: in.AllRegions, StartedAt: workflow.Now(ctx), Regions: []FleetRegionResult{}}}
	for _, q := range []string{QueryProgress, QueryReport} {
		if err := workflow.SetQueryHandler(ctx, q, func() (FleetReport, error) { return f.summary(), nil }); err != nil {
			return FleetReport{}, fmt.Errorf("register query %s: %w", q, err)
		}
	}

	// 1. The regions, and which of them a worker serves.
	what := strings.Join(in.Regions, ", ")
	if in.AllRegions {
		what = "every region of the account (DescribeRegions)"
	}
	var a *activities.Activities
	var plan activities.FleetRegionsResult
	err := workflow.ExecuteActivity(apiActivity(ctx, "list the fleet's regions: "+what+"; and which a worker serves"), a.FleetRegions,
		activities.FleetRegionsInput{Regions: in.Regions, All: in.AllRegions, TaskQueue: info.TaskQueueName}).Get(ctx, &plan)
	if err != nil {
		return f.summary(), temporal.NewApplicationErrorWithOptions("could not list the fleet's regions, nothing was started: "+oneLine(errorMessage(err)),
			"fleetmend.FleetRegions", temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{f.summary()}})
	}
	if len(plan.Regions) > MaxFleetRegions {
		return f.summary(), temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the account has %d regions, a fleet run takes at most %d", len(plan.Regions), MaxFleetRegions), ErrInvalidInput, nil)
	}

	// 2. One run per region, all at once: each region has its own task
	// queue, workers and guard.
	sel := workflow.NewSelector(ctx)
	started := 0
	for _, r := range plan.Regions {
		i := len(f.rep.Regions)
		row := FleetRegionResult{Region: r.Region, Outcome: FleetRunning}
		if r.Unserved {
			row.Outcome = FleetSkipped
			row.Detail = "skipped: no worker serves " + r.Region + " (nobody polls task queue " + r.TaskQueue + ")"
			f.rep.Regions = append(f.rep.Regions, row)
			continue
		}
		row.WorkflowID = guard.FleetChildID(info.WorkflowExecution.ID, r.Region)
		f.rep.Regions = append(f.rep.Regions, row)
		cin := run
		cin.Region = r.Region
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            row.WorkflowID,
			TaskQueue:             r.TaskQueue,
			TypedSearchAttributes: RunSearchAttributes(r.Region, run.Kind, run.DryRun),
			StaticSummary:         childSummary(run, r.Region, info.WorkflowExecution.ID),
			// The fleet run ending (cancelled, terminated, timed out)
			// asks each region's run to stop cleanly, never kills it.
			ParentClosePolicy:   enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
			WaitForCancellation: true,
		})
		fut := workflow.ExecuteChildWorkflow(cctx, RemediateRegion, cin)
		started++
		sel.AddFuture(fut, func(done workflow.Future) { f.settle(ctx, i, done) })
	}
	for range started {
		sel.Select(ctx)
	}
	f.rep.FinishedAt = workflow.Now(ctx)
	sum := f.summary()
	if ctx.Err() != nil {
		return sum, temporal.NewCanceledError(sum)
	}
	return sum, nil
}

// childSummary is a region run's summary in the UI, like a run started
// alone has, naming the fleet run it is part of.
func childSummary(run RegionInput, region, fleetID string) string {
	what := "run"
	if run.DryRun {
		what = "dry run"
	}
	by := ""
	if run.StartedBy != "" {
		by = " by " + run.StartedBy
	}
	return fmt.Sprintf("fleetmend %s %s of %s%s, part of fleet run %s", run.Kind, what, region, by, fleetID)
}

type fleetRun struct {
	rep FleetReport
}

// settle records what a region's run ended with.
func (f *fleetRun) settle(ctx workflow.Context, i int, done workflow.Future) {
	row := &f.rep.Regions[i]
	var rep Report
	err := done.Get(ctx, &rep)
	var canceled *temporal.CanceledError
	var appErr *temporal.ApplicationError
	switch {
	case err == nil && rep.Skipped:
		row.Outcome, row.SkippedFor, row.Detail = FleetSkipped, rep.SkippedFor, oneLine(rep.Stopped)
	case err == nil:
		row.Outcome, row.Detail = FleetCompleted, oneLine(rep.Stopped)
	case errors.As(err, &canceled):
		row.Outcome, row.Detail = FleetCancelled, "cancelled"
		if canceled.HasDetails() {
			_ = canceled.Details(&rep) // a cancellation without a report has its counts at zero
		}
	default:
		row.Outcome, row.Detail = FleetFailed, oneLine(errorMessage(err))
		if errors.As(err, &appErr) && appErr.HasDetails() {
			_ = appErr.Details(&rep) // a failure without a report has its counts at zero
		}
	}
	row.Counts = fleetCounts(rep.Counts)
}

// summary is the report with its tallies and totals brought up to date.
func (f *fleetRun) summary() FleetReport {
	r := f.rep
	r.Regions = slices.Clone(f.rep.Regions)
	r.Completed, r.Skipped, r.Failed, r.Cancelled, r.Running = 0, 0, 0, 0, 0
	r.Totals = FleetCounts{}
	for _, g := range r.Regions {
		switch g.Outcome {
		case FleetCompleted:
			r.Completed++
		case FleetSkipped:
			r.Skipped++
		case FleetFailed:
			r.Failed++
		case FleetCancelled:
			r.Cancelled++
		default:
			r.Running++
		}
		r.Totals.add(g.Counts)
	}
	return r
}

// errorMessage is what went wrong, without the wrappers Temporal puts
// around a child's or an activity's error (their IDs are in the row).
func errorMessage(err error) string {
	var appErr *temporal.ApplicationError
	var terminated *temporal.TerminatedError
	var timeout *temporal.TimeoutError
	switch {
	case errors.As(err, &appErr):
		return appErr.Message()
	case errors.As(err, &terminated):
		return "terminated"
	case errors.As(err, &timeout):
		return "timed out (" + strings.ToLower(strings.TrimPrefix(timeout.TimeoutType().String(), "TIMEOUT_TYPE_")) + ")"
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// oneLine is s cut at its first line break and bounded in length.
func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > maxFleetDetail {
		cut := maxFleetDetail
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
