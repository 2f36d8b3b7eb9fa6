package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
)

// Carry is the state one run of the previous engine (remediateRegionV1) hands to the next when it
// continues as new. It is bounded: cursors, counts, at most two pages of
// IDs, one partial batch, and the capped report rows.
type Carry struct {
	StartedAt time.Time `json:"started_at"`
	Runs      int       `json:"runs"`
	// NextPage is the next DescribeInstanceStatus page; NextIndex the next
	// position in an explicit instance list.
	NextPage  int  `json:"next_page"`
	NextIndex int  `json:"next_index"`
	LastTotal int  `json:"last_total"`
	ScanDone  bool `json:"scan_done"`
	// PrevPageIDs and LastPageIDs are the last two pages' instance IDs: when
	// the fleet changes during the scan, pages shift, and these let the
	// scan re-read a page without counting anyone twice.
	PrevPageIDs []string       `json:"prev_page_ids,omitempty"`
	LastPageIDs []string       `json:"last_page_ids,omitempty"`
	Pending     []BatchTarget  `json:"pending,omitempty"`
	NextBatch   int            `json:"next_batch"`
	BatchesDone int            `json:"batches_done"`
	Counts      Counts         `json:"counts"`
	Rows        []Row          `json:"rows,omitempty"`
	RowsOmitted int            `json:"rows_omitted,omitempty"`
	Plan        []PlannedBatch `json:"plan,omitempty"`
	PlanIDs     int            `json:"plan_ids,omitempty"`
	PlanOmitted int            `json:"plan_omitted,omitempty"`
	Warnings    []string       `json:"warnings,omitempty"`
	// SACounts are the count search attributes as last upserted. They live
	// here, not read back from the run's search attributes: the server
	// reports current values in the started event, so reading them would
	// make replays diverge.
	SACounts [3]int64 `json:"sa_counts"`
}

// legacyConcurrentBatches was the default number of batches in flight.
const legacyConcurrentBatches = 4

// maxShiftPages is how many pages the scan steps back when the fleet
// shrinks under it; it equals the two pages of IDs kept for de-duplication.
const maxShiftPages = 2

type legacyFlight struct {
	number  int
	targets []BatchTarget
	future  workflow.ChildWorkflowFuture
}

type legacyRun struct {
	in       RegionInput
	st       *Carry
	runID    string
	inFlight []legacyFlight
	phase    string
	// sa is true when the run was started with fleetmend's search
	// attributes, which tells that the cluster has them registered.
	sa bool
}

// remediateRegionV1 is RemediateRegion as it was before the pipeline:
// page-numbered scan, batches that verify themselves, a fixed number of
// them in flight. It is kept, unchanged in what it asks Temporal to do, so
// that runs recorded by (or still running on) the previous version replay
// and finish on this one; new runs take the pipelined engine.
func remediateRegionV1(ctx workflow.Context, in RegionInput) (Report, error) {
	if in.ConcurrentBatches == 0 {
		in.ConcurrentBatches = legacyConcurrentBatches
	}
	in = in.WithDefaults()
	if err := in.validate(false); err != nil {
		return Report{}, invalidInput(guard.RunWorkflowType, err)
	}
	info := workflow.GetInfo(ctx)
	r := &legacyRun{in: in, runID: info.WorkflowExecution.ID, phase: "scanning"}
	if in.Carry != nil {
		r.st = in.Carry
	} else {
		r.st = &Carry{StartedAt: workflow.Now(ctx), NextPage: 1, NextBatch: 1}
	}
	r.in.Carry = nil
	r.st.Runs++
	// Only the presence of the attribute is used: it was set at start and
	// never changes, so it reads the same in every replay.
	_, r.sa = workflow.GetTypedSearchAttributes(ctx).GetKeyword(SARegion())
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) { return r.progress(), nil }); err != nil {
		return Report{}, fmt.Errorf("register progress query: %w", err)
	}
	if err := workflow.SetQueryHandler(ctx, QueryReport, func() (Report, error) { return r.report(ctx), nil }); err != nil {
		return Report{}, fmt.Errorf("register report query: %w", err)
	}
	logger := workflow.GetLogger(ctx)

	pages := 0
	for !r.st.ScanDone && ctx.Err() == nil {
		if pages >= in.PagesPerRun || info.GetContinueAsNewSuggested() {
			r.drain(ctx)
			if ctx.Err() != nil {
				break
			}
			r.upsertCounts(ctx)
			next := r.in
			next.Carry = r.st
			logger.Info("continuing as new", "PagesThisRun", pages, "NextPage", r.st.NextPage, "Scanned", r.st.Counts.Scanned)
			return Report{}, workflow.NewContinueAsNewError(ctx, RemediateRegion, next)
		}
		if err := r.scanNext(ctx); err != nil {
			if temporal.IsCanceledError(err) || ctx.Err() != nil {
				break
			}
			r.phase = "failed"
			r.drain(ctx)
			r.upsertCounts(ctx)
			return Report{}, fmt.Errorf("scan of %s failed, no further batches started: %w", in.Region, err)
		}
		pages++
	}
	if ctx.Err() == nil && len(r.st.Pending) > 0 {
		targets := r.st.Pending
		r.st.Pending = nil
		r.dispatch(ctx, targets)
	}
	if ctx.Err() != nil {
		r.phase = "cancelling"
	} else {
		r.phase = "draining"
	}
	r.drain(ctx)
	if ctx.Err() != nil {
		for _, t := range r.st.Pending {
			r.addRow(Row{InstanceID: t.InstanceID, Problem: t.Problem, Outcome: OutcomeNotAttempted, Reason: ReasonCancelled,
				Detail: "run cancelled before this instance's batch started"})
		}
		r.st.Pending = nil
		r.phase = "cancelled"
		rep := r.report(ctx)
		rep.Cancelled = true
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		r.upsertCounts(dctx)
		return Report{}, temporal.NewCanceledError(rep)
	}
	r.phase = "done"
	r.upsertCounts(ctx)
	return r.report(ctx), nil
}

// scanNext reads the next page (or the next chunk of an explicit list) and
// feeds its unhealthy running instances into batches.
func (r *legacyRun) scanNext(ctx workflow.Context) error {
	var a *activities.Activities
	in := ScanInputFor(r.in, r.st)
	var summary string
	if len(r.in.InstanceIDs) > 0 {
		summary = fmt.Sprintf("scan instances %d..%d of the %d given", r.st.NextIndex+1, r.st.NextIndex+len(in.InstanceIDs), len(r.in.InstanceIDs))
	} else {
		summary = fmt.Sprintf("scan page %d of %s (%d instances a page)", in.PageNumber, r.in.Region, in.PageSize)
	}
	var res activities.ScanResult
	if err := workflow.ExecuteActivity(apiActivity(ctx, summary), a.ScanPage, in).Get(ctx, &res); err != nil {
		return err
	}
	if len(r.in.InstanceIDs) > 0 {
		r.st.NextIndex += len(in.InstanceIDs)
		r.st.LastTotal = len(r.in.InstanceIDs)
		r.st.ScanDone = r.st.NextIndex >= len(r.in.InstanceIDs)
		for _, id := range res.NotFound {
			r.addRow(Row{InstanceID: id, Outcome: OutcomeFailed, Reason: ReasonNotFound, Detail: "no such instance in " + r.in.Region})
		}
		r.take(ctx, res.Instances)
		return nil
	}
	if r.st.LastTotal > 0 && res.TotalCount < r.st.LastTotal && r.st.NextPage > 1 {
		// Instances were deleted while we paged. If they were behind the
		// cursor, later instances moved to earlier pages that we have already
		// read: step back and re-read, the de-duplication window drops repeats.
		shrink := r.st.LastTotal - res.TotalCount
		back := (shrink + ScanPageSize - 1) / ScanPageSize
		if back > maxShiftPages {
			r.warn(fmt.Sprintf("the fleet shrank by %d instances during the scan of page %d; up to %d instances may have been skipped and will be seen by the next run",
				shrink, r.st.NextPage, shrink-maxShiftPages*ScanPageSize))
			back = maxShiftPages
		}
		r.st.LastTotal = res.TotalCount
		r.st.NextPage = max(1, r.st.NextPage-back)
		return nil
	}
	r.st.LastTotal = res.TotalCount
	r.take(ctx, res.Instances)
	ids := make([]string, 0, len(res.Instances))
	for _, f := range res.Instances {
		ids = append(ids, f.InstanceID)
	}
	r.st.PrevPageIDs, r.st.LastPageIDs = r.st.LastPageIDs, ids
	r.st.NextPage++
	r.st.ScanDone = (r.st.NextPage-1)*ScanPageSize >= res.TotalCount
	return nil
}

// ScanInputFor is the ScanPage input for the run's next page. Exported for
// the starter's dry-run explanation and for tests.
func ScanInputFor(in RegionInput, st *Carry) activities.ScanInput {
	si := activities.ScanInput{Region: in.Region, ZoneID: in.ZoneID, OSType: in.OSType, PageSize: ScanPageSize}
	if len(in.InstanceIDs) > 0 {
		end := min(st.NextIndex+ScanPageSize, len(in.InstanceIDs))
		si.PageNumber = 1
		si.InstanceIDs = in.InstanceIDs[st.NextIndex:end]
		return si
	}
	si.PageNumber = st.NextPage
	return si
}

// take classifies one page's instances and dispatches every full batch.
func (r *legacyRun) take(ctx workflow.Context, fs []activities.Facts) {
	for _, f := range fs {
		if slices.Contains(r.st.LastPageIDs, f.InstanceID) || slices.Contains(r.st.PrevPageIDs, f.InstanceID) {
			continue // seen on a page that shifted
		}
		if !f.Matched {
			r.st.Counts.FilteredOut++
			continue
		}
		r.st.Counts.Scanned++
		switch {
		case f.State != ecs.StateRunning:
			r.addRow(Row{InstanceID: f.InstanceID, Problem: ProblemNotRunning, Outcome: OutcomeNotRunning,
				Detail: "instance is " + string(f.State) + " at scan; skipped, not touched"})
		case f.Healthy:
			r.st.Counts.Healthy++
			if !f.SessionManager {
				r.st.Counts.Outdated++
			}
		case f.LastHeartbeat.IsZero():
			r.st.Counts.AgentMissing++
			r.st.Pending = append(r.st.Pending, BatchTarget{InstanceID: f.InstanceID, Problem: ProblemAgentMissing})
		default:
			r.st.Counts.AgentSilent++
			r.st.Pending = append(r.st.Pending, BatchTarget{InstanceID: f.InstanceID, Problem: ProblemAgentSilent})
		}
	}
	for len(r.st.Pending) >= r.in.BatchSize && ctx.Err() == nil {
		targets := slices.Clone(r.st.Pending[:r.in.BatchSize])
		r.st.Pending = slices.Clone(r.st.Pending[r.in.BatchSize:])
		r.dispatch(ctx, targets)
	}
}

// dispatch starts one batch, waiting for a free slot first; a dry run
// only records the plan.
func (r *legacyRun) dispatch(ctx workflow.Context, targets []BatchTarget) {
	ids := make([]string, len(targets))
	for i, t := range targets {
		ids[i] = t.InstanceID
	}
	if r.in.DryRun {
		n := r.st.NextBatch
		r.st.NextBatch++
		r.st.Counts.Batches++
		if r.st.PlanIDs+len(ids) <= *r.in.MaxReportRows {
			r.st.Plan = append(r.st.Plan, PlannedBatch{Number: n, InstanceIDs: ids})
			r.st.PlanIDs += len(ids)
		} else {
			r.st.PlanOmitted += len(ids)
		}
		for _, t := range targets {
			r.addRow(Row{InstanceID: t.InstanceID, Problem: t.Problem, Outcome: OutcomePlanned, Batch: n, Action: r.plannedAction()})
		}
		return
	}
	for len(r.inFlight) >= r.in.ConcurrentBatches {
		if err := workflow.Await(ctx, r.anyReady); err != nil {
			// Cancelled while waiting: these never started.
			r.st.Pending = append(targets, r.st.Pending...)
			return
		}
		r.collect(ctx)
	}
	n := r.st.NextBatch
	r.st.NextBatch++
	r.st.Counts.Batches++
	opts := batchOptions(r.runID, r.in, n, ids, r.sa)
	// A cancelled run must not cancel its batches: a reboot that was sent
	// must be verified. So children run on a disconnected context.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	fut := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(dctx, opts), RemediateBatch, BatchInput{
		Region: r.in.Region, WorkflowID: r.runID, Number: n, BatchStart: guard.BatchStart{Instances: targets},
		RebootPolicy: r.in.RebootPolicy, RebootGrace: *r.in.RebootGrace,
		VerifyDeadline: r.in.VerifyDeadline, VerifyPollInterval: r.in.VerifyPollInterval,
	})
	r.inFlight = append(r.inFlight, legacyFlight{number: n, targets: targets, future: fut})
}

func (r *legacyRun) plannedAction() string { return plannedAction(r.in) }

func (r *legacyRun) anyReady() bool {
	for _, f := range r.inFlight {
		if f.future.IsReady() {
			return true
		}
	}
	return false
}

// collect merges every finished batch, in start order.
func (r *legacyRun) collect(ctx workflow.Context) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	still := r.inFlight[:0]
	changed := false
	for _, f := range r.inFlight {
		if !f.future.IsReady() {
			still = append(still, f)
			continue
		}
		changed = true
		var res BatchResult
		if err := f.future.Get(dctx, &res); err != nil {
			for _, t := range f.targets {
				r.addRow(Row{InstanceID: t.InstanceID, Problem: t.Problem, Batch: f.number, Outcome: OutcomeFailed,
					Reason: ReasonBatchError, Detail: errText(err)})
			}
		} else {
			r.st.Counts.Installed += res.Installed
			r.st.Counts.Rebooted += res.Rebooted
			for _, row := range res.Rows {
				r.addRow(row)
			}
		}
		r.st.BatchesDone++
	}
	r.inFlight = still
	if changed {
		r.upsertCounts(dctx)
	}
}

// drain waits for every batch in flight, even when the run is cancelled.
func (r *legacyRun) drain(ctx workflow.Context) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	for len(r.inFlight) > 0 {
		_ = workflow.Await(dctx, r.anyReady) // a disconnected context is never cancelled
		r.collect(dctx)
	}
}

func (r *legacyRun) addRow(row Row) {
	r.st.Counts.addOutcome(row)
	if len(r.st.Rows) < *r.in.MaxReportRows {
		r.st.Rows = append(r.st.Rows, row)
	} else {
		r.st.RowsOmitted++
	}
}

func (r *legacyRun) warn(msg string) {
	const maxWarnings = 20
	if len(r.st.Warnings) < maxWarnings {
		r.st.Warnings = append(r.st.Warnings, msg)
	}
}

func (r *legacyRun) upsertCounts(ctx workflow.Context) {
	if r.sa {
		upsertCounts(ctx, r.st.Counts, &r.st.SACounts)
	}
}

func (r *legacyRun) progress() Progress {
	return Progress{
		WorkflowID: r.runID, Region: r.in.Region, DryRun: r.in.DryRun, Phase: r.phase,
		Scanned: r.st.Counts.Scanned, Total: r.st.LastTotal, Unhealthy: r.st.Counts.Unhealthy(),
		BatchesStarted: r.st.Counts.Batches, BatchesDone: r.st.BatchesDone, BatchesInFlight: len(r.inFlight),
		Counts: r.st.Counts, ContinuedAsNew: r.st.Runs - 1, PendingInBatch: len(r.st.Pending),
		LastPageNumber: r.st.NextPage - 1, ExplicitInstance: len(r.in.InstanceIDs) > 0,
	}
}

func (r *legacyRun) report(ctx workflow.Context) Report {
	return Report{
		WorkflowID: r.runID, Region: r.in.Region, Kind: r.in.Kind, DryRun: r.in.DryRun,
		StartedAt: r.st.StartedAt, FinishedAt: workflow.Now(ctx), TotalInstances: r.st.LastTotal,
		Counts: r.st.Counts, Rows: slices.Clone(r.st.Rows), RowsOmitted: r.st.RowsOmitted,
		Plan: slices.Clone(r.st.Plan), PlanOmitted: r.st.PlanOmitted, Warnings: slices.Clone(r.st.Warnings), Runs: r.st.Runs,
	}
}
