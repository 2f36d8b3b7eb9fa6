package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/guard"
)

// RemediateRegion keeps the agent healthy on every instance of a region
// (or of the given instances). It reads like the data flow of a run in
// docs/design.md:
//
//  1. lock: one acting run per region, granted by the region's guard;
//     another run ends at once as "skipped: region busy with <run>";
//  2. scan: a cursor that stays exact while instances come and go, every
//     instance classified once;
//  3. controls: exclusions, quarantine, and the fleet-wide short-circuit,
//     before anything is touched;
//  4. pipeline: batches of at most 20 within the blast radius, verified
//     with shared calls, the error budget, pause/resume/abort/retune, and
//     continue-as-new carrying the queue;
//  5. report.
//
// Cancelling it stops the scan and starts no new batch; batches already
// running finish and every reboot sent is verified. The run then closes as
// cancelled with the report as the cancellation's details.
func RemediateRegion(ctx workflow.Context, in RegionInput) (Report, error) {
	switch {
	case in.State != nil:
		return remediateRegionV2(ctx, in, in.State.Engine)
	case in.Carry != nil:
		return remediateRegionV1(ctx, in)
	}
	if workflow.GetVersion(ctx, engineChange, workflow.DefaultVersion, engineV2) == workflow.DefaultVersion {
		return remediateRegionV1(ctx, in)
	}
	engine := engineV2
	if workflow.GetVersion(ctx, fencedLock, workflow.DefaultVersion, 1) == 1 {
		engine = engineV3
		if workflow.GetVersion(ctx, fenceEachBatch, workflow.DefaultVersion, 1) == 1 {
			engine = engineV4
		}
	}
	return remediateRegionV2(ctx, in, engine)
}

func remediateRegionV2(ctx workflow.Context, in RegionInput, engine int) (Report, error) {
	in = in.WithDefaults()
	if engine < engineV3 && in.MaxReportBytes > MaxMaxReportBytes {
		// Runs recorded before the bound was lowered go on with the new one.
		in.MaxReportBytes = MaxMaxReportBytes
	}
	// The marker is asked for only when the zone is another region's, so
	// no other run's history changes; a continued run's input was checked
	// when it started.
	zoneCheck := in.State == nil && in.zoneOutsideRegion() &&
		workflow.GetVersion(ctx, zoneInRegion, workflow.DefaultVersion, 1) == 1
	if err := in.validate(zoneCheck); err != nil {
		return Report{}, invalidInput(guard.RunWorkflowType, err)
	}
	if in.Plan != nil && (engine < engineV3 || workflow.GetVersion(ctx, pinnedPlan, workflow.DefaultVersion, 1) == workflow.DefaultVersion) {
		return Report{}, invalidInput(guard.RunWorkflowType, errors.New("plan: this run's engine cannot apply a plan"))
	}
	r := newRun(ctx, in, engine)
	if err := r.register(ctx); err != nil {
		return Report{}, err
	}
	if in.Plan != nil && in.State == nil {
		// Too old a plan is refused before the region is even asked for.
		r.startPlan()
		if why := r.planStale(ctx); why != "" {
			return r.refusePlan(ctx, why, ReasonPlanStale)
		}
	}

	// 1. One acting run per region: granted by the guard once the last
	// holder and all its batches are closed; what that holder rebooted and
	// never verified is verified here before it is repaired.
	if !in.DryRun && !r.st.Locked {
		holder, err := r.acquire(ctx)
		if next, ok := r.continueAsNew(ctx, err); ok {
			return Report{}, next
		}
		if err != nil {
			return r.fail(ctx, "could not ask the region's guard for the region", err)
		}
		if holder != "" {
			return r.skipped(ctx, holder)
		}
		if ctx.Err() != nil {
			return r.cancelled(ctx)
		}
	}

	// 2. Scan the region.
	if err := r.scan(ctx); err != nil {
		if next, ok := r.continueAsNew(ctx, err); ok {
			return Report{}, next
		}
		if ctx.Err() != nil {
			return r.cancelled(ctx)
		}
		return r.fail(ctx, "scan of "+in.Region+" failed, nothing was repaired", err)
	}
	if why := r.nothingAnswered(); why != "" {
		return r.fail(ctx, why, nil)
	}

	// 3. Controls before anything is touched. A run given instance IDs
	// skips the fleet-wide short-circuit: the operator chose them, and the
	// fleet-wide picture is the region scans'.
	if !r.st.Checked {
		if in.Plan != nil {
			// The plan's check: after the run's own scan, before the first install.
			if why, reason := r.checkPlan(ctx); why != "" {
				return r.refusePlan(ctx, why, reason)
			}
		}
		if err := r.applyLedger(ctx); err != nil {
			return r.fail(ctx, "could not read the quarantine ledger of "+in.Region, err)
		}
		if err := r.measureRegion(ctx); err != nil {
			return r.fail(ctx, "could not measure the health of "+in.Region+" for the fleet-wide short-circuit", err)
		}
		r.shortCircuit()
		r.pinQueue()
		r.resolveLimits()
		r.startRollout(ctx)
		r.st.Checked = true
	}
	if in.DryRun {
		r.plan()
		return r.done(ctx)
	}

	// 4. Repair.
	if err := r.pipeline(ctx); err != nil {
		if next, ok := r.continueAsNew(ctx, err); ok {
			return Report{}, next
		}
		return Report{}, err
	}
	if ctx.Err() != nil {
		return r.cancelled(ctx)
	}
	if r.st.StopCode != "" {
		return r.fail(ctx, r.st.Stopped, nil)
	}

	// 5. Report.
	return r.done(ctx)
}

// RunState is what one run of the pipelined engine hands the next at
// continue-as-new. It is bounded: cursors, counts, at most MaxQueue
// candidates, the instances being verified (at most the blast radius and
// those waiting out their deadline), the capped rows.
type RunState struct {
	StartedAt time.Time `json:"started_at"`
	Runs      int       `json:"runs"`
	Phase     string    `json:"phase"`
	// Engine is 3 for runs that hold their region the fenced way (see
	// fencedLock), 2 (or 0, before it was kept) for runs recorded before.
	Engine int `json:"engine,omitempty"`
	// RampOnFirstBeat: this run's ramp steps widen on first heartbeats
	// (rampOnFirstBeat); the canary and the outcomes wait for lasting ones.
	RampOnFirstBeat bool `json:"ramp_first_beat,omitempty"`
	// Locked: this run holds its region (the guard knows it by workflow ID,
	// which continue-as-new keeps, and by Lease).
	Locked bool `json:"locked,omitempty"`
	// Lease is the execution (Temporal run ID) the region was granted to;
	// continue-as-new carries it, a Reset to before the grant does not.
	Lease string `json:"lease,omitempty"`
	// Unverified: a reboot this run sent or inherited was decided without
	// a poll that read its agent (an account error, polls failing past its
	// deadline, a batch that failed, an inherit that could not be read or
	// waited out): its release leaves them to the next holder (engine 4).
	Unverified bool `json:"unverified,omitempty"`
	// Fenced is the highest batch number the guard was told of.
	Fenced int `json:"fenced,omitempty"`
	// LastProgressAt is when the run last got something done: a scan
	// segment, a batch, a poll. A holder silent for long is reported stuck.
	LastProgressAt time.Time `json:"last_progress_at,omitzero"`
	// Inherited counts the instances taken over to verify from runs that
	// closed without verifying them.
	Inherited int `json:"inherited,omitempty"`
	// Rollout is the run's waves: canary, ramp, full (engine 3).
	Rollout Rollout   `json:"rollout,omitzero"`
	Scan    ScanState `json:"scan"`
	// Checked: exclusions, quarantine and short-circuit have been applied.
	Checked bool                   `json:"checked,omitempty"`
	Counts  Counts                 `json:"counts"`
	Zones   []activities.ZoneCount `json:"zones,omitempty"`
	// RegionZones is the whole region's health, measured by an apply
	// (engine 4), whose own scan is of the planned instances only: the
	// fleet-wide short-circuit judges the region, not the plan.
	RegionZones []activities.ZoneCount `json:"region_zones,omitempty"`
	Total       int                    `json:"total"`
	// Queue is the candidates not yet handed to a batch, in scan order.
	Queue     Queue       `json:"queue,omitempty"`
	Verifying []Verifying `json:"verifying,omitempty"`
	// HadRecords are queued instances with failures in the ledger: if
	// repaired, their record is cleared.
	HadRecords []string `json:"had_records,omitempty"`
	NextBatch  int      `json:"next_batch"`
	BatchesRun int      `json:"batches_done"`
	Controls   Controls `json:"controls"`
	// BudgetLimit is the error budget resolved against the queue.
	BudgetLimit int `json:"budget_limit"`
	// Stopped says why no further batch starts (short-circuit, budget,
	// abort, account error); StopCode is the ECS code of an account error.
	Stopped    string         `json:"stopped,omitempty"`
	StopCode   string         `json:"stop_code,omitempty"`
	StopReason string         `json:"stop_reason,omitempty"`
	Rows       rowBook        `json:"rows"`
	Plan       []PlannedBatch `json:"plan,omitempty"`
	PlanIDs    int            `json:"plan_ids,omitempty"`
	PlanOmit   int            `json:"plan_omitted,omitempty"`
	// WouldStop (dry runs) is why a real run would have short-circuited.
	WouldStop string `json:"would_stop,omitempty"`
	// Applied is the plan a pinned run applies, and PlanLeft the instances
	// left of each of its planned batches still queued (see plan.go).
	Applied  *AppliedPlan `json:"applied,omitempty"`
	PlanLeft []int        `json:"plan_left,omitempty"`
	Warnings []string     `json:"warnings,omitempty"`
	SACounts [3]int64     `json:"sa_counts"`
	// Ledger is what the run has not yet written to the guard;
	// LedgerWrites numbers the writes, for their idempotency IDs.
	Ledger       guard.RecordRequest `json:"ledger"`
	LedgerWrites int                 `json:"ledger_writes,omitempty"`
	// Waiting says what the run waits for before it may act.
	Waiting string `json:"waiting,omitempty"`
	// PeakInRepair is the most instances in repair at once.
	PeakInRepair int `json:"peak_in_repair"`
	// Attempted is how many instances were handed to batches.
	Attempted int `json:"attempted"`
	// ScannedAt is when the scan ended.
	ScannedAt time.Time `json:"scanned_at,omitzero"`
	// Agents is the agent versions the scan read (see agents.go).
	Agents activities.AgentScan `json:"agents,omitzero"`
}

// ScanState is the scan's cursors.
type ScanState struct {
	Chains    []ChainState `json:"chains,omitempty"`
	NextIndex int          `json:"next_index,omitempty"` // explicit instance IDs
	Done      bool         `json:"done,omitempty"`
	Segments  int          `json:"segments,omitempty"`
}

// ChainState is one NextToken cursor.
type ChainState struct {
	OSType    string `json:"os_type,omitempty"`
	NextToken string `json:"next_token,omitempty"`
	Done      bool   `json:"done,omitempty"`
}

// Verifying is an instance whose agent the run is waiting for.
type Verifying struct {
	VerifyTarget
	Batch    int       `json:"b"`
	Deadline time.Time `json:"d"`
	// Released: no longer counted in the blast radius (back Running after
	// its reboot, or never rebooted).
	Released bool `json:"x,omitempty"`
	// SeenDown: seen Stopping or Starting since its reboot.
	SeenDown bool `json:"down,omitempty"`
	// From is the run whose batch rebooted it, when this run inherited it
	// (that run closed without verifying it).
	From string `json:"from,omitempty"`
	// ReleasedAt is when it was seen Running again after its reboot; Early
	// is set once it has been for the early signal with no heartbeat (it
	// then counts as failed for the waves' gates and the error budget).
	ReleasedAt time.Time `json:"released_at,omitzero"`
	Early      bool      `json:"early,omitempty"`
	// HealthyAt is when its agent was first seen healthy, and Beat its
	// heartbeat then: it is remediated once a later heartbeat is seen at
	// least StableFor after (engine 3).
	HealthyAt time.Time `json:"healthy_at,omitzero"`
	Beat      time.Time `json:"beat,omitzero"`
	// Relapsed: its agent reported after the reboot, then went silent.
	Relapsed bool `json:"relapsed,omitempty"`
}

// Controls are the operator's knobs as they stand.
type Controls struct {
	Paused  bool `json:"paused,omitempty"`
	Aborted bool `json:"aborted,omitempty"`
	// Unlocked: an operator unlocked the region (see UpdateUnlock).
	Unlocked bool `json:"unlocked,omitempty"`
	// BlastRadius is the resolved limit; BlastRadiusSpec what it came from.
	BlastRadius       int            `json:"blast_radius"`
	BlastRadiusSpec   string         `json:"blast_radius_spec"`
	ConcurrentBatches int            `json:"concurrent_batches,omitempty"`
	Events            []ControlEvent `json:"events,omitempty"`
}

// inFlight is a batch of this run that has not reported yet.
type inFlight struct {
	number  int
	targets []BatchTarget
	id      string
}

// run is one workflow run of the pipelined engine.
type run struct {
	in       RegionInput
	st       *RunState
	runID    string
	sa       bool
	inFlight []inFlight
	// polling: a PollAgents activity is under way.
	polling bool
	// draining: no batch may start (continue-as-new, cancel, end).
	draining bool
	// roundFenced: the guard was told of this round's batches.
	roundFenced bool
	// metrics is the worker's metrics handler, tagged with the region; it
	// emits nothing while the workflow replays.
	metrics client.MetricsHandler
	// trend is the comparison with the previous run, once made (trend.go).
	trend *Trend
}

func newRun(ctx workflow.Context, in RegionInput, engine int) *run {
	info := workflow.GetInfo(ctx)
	r := &run{in: in, runID: info.WorkflowExecution.ID,
		metrics: workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"region": in.Region})}
	if in.State != nil {
		r.st = in.State
	} else {
		r.st = &RunState{StartedAt: workflow.Now(ctx), NextBatch: 1, Phase: "starting", Engine: engine, LastProgressAt: workflow.Now(ctx)}
		r.st.Controls.ConcurrentBatches = in.ConcurrentBatches
		r.st.Controls.BlastRadiusSpec = in.BlastRadius
		if in.OverrideMaxUnhealthy != "" {
			r.st.Controls.Events = append(r.st.Controls.Events, ControlEvent{At: workflow.Now(ctx), Action: "override",
				By: in.StartedBy, Reason: in.OverrideMaxUnhealthy, Detail: fmt.Sprintf("max_unhealthy_percent %d does not apply to this run", in.MaxUnhealthyPercent)})
		}
	}
	r.in.State, r.in.Carry = nil, nil
	r.st.Runs++
	// Only the presence of the attribute is used: it was set at start and
	// never changes, so it reads the same in every replay.
	_, r.sa = workflow.GetTypedSearchAttributes(ctx).GetKeyword(SARegion())
	return r
}

// register answers the queries and takes the operator's updates.
func (r *run) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) { return r.progress(), nil }); err != nil {
		return fmt.Errorf("register progress query: %w", err)
	}
	if err := workflow.SetQueryHandler(ctx, QueryReport, func() (Report, error) { return r.report(ctx), nil }); err != nil {
		return fmt.Errorf("register report query: %w", err)
	}
	return r.registerControls(ctx)
}

// continueAsNew turns the pipeline's or the scan's request to hand on
// (errHandOn) into the error that continues the run as new.
func (r *run) continueAsNew(ctx workflow.Context, err error) (error, bool) {
	if !errors.Is(err, errHandOn) {
		return nil, false
	}
	if r.fenced() {
		// What the ledger must learn is written now, not carried.
		r.finishLedger(ctx)
		r.st.NextBatch = max(r.st.NextBatch, r.st.Fenced+1)
	}
	r.upsertCounts(ctx)
	next := r.in
	next.State = r.st
	if r.fenced() {
		r.fit(ctx, &next)
	}
	workflow.GetLogger(ctx).Info("continuing as new", "Phase", r.st.Phase, "Queued", len(r.st.Queue), "Verifying", len(r.st.Verifying))
	return workflow.NewContinueAsNewError(ctx, RemediateRegion, next), true
}

// errHandOn tells, from deep in the scan or the pipeline, that the history
// is long enough to hand the state on to a new run.
const errHandOn = handOn("history long enough: continue as new")

type handOn string

func (h handOn) Error() string { return string(h) }

// wantContinueAsNew says whether the history has grown enough to hand on.
func (r *run) wantContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetCurrentHistoryLength() >= r.in.EventsPerRun || info.GetContinueAsNewSuggested()
}

// nothingAnswered says why a run whose scan listed instances and could
// look up none of them must not "succeed" having done nothing (engine 3):
// DescribeInstances' documents say a caller without the permission gets an
// empty list, not an error. Managed instances are not in Scanned (they are
// never looked up), so a region of them alone is no such case.
func (r *run) nothingAnswered() string {
	c := r.st.Counts
	if !r.fenced() || c.Scanned == 0 || c.Unknown < c.Scanned || len(r.in.InstanceIDs) > 0 {
		return ""
	}
	return fmt.Sprintf("scan of %s: DescribeInstances answered for none of the %d instances DescribeCloudAssistantStatus listed: its documents say a RAM user or role without ecs:DescribeInstances gets an empty list instead of an error; grant ecs:DescribeInstances to the worker's RAM user or role (see the README's RAM policy)", r.in.Region, c.Scanned)
}

// skipped ends a run that found the region held by another.
func (r *run) skipped(ctx workflow.Context, holder string) (Report, error) {
	r.st.Phase = "skipped"
	r.st.Stopped = "skipped: region " + r.in.Region + " busy with " + holder
	workflow.SetCurrentDetails(ctx, r.st.Stopped)
	workflow.GetLogger(ctx).Warn("region busy; run skipped", "Holder", holder)
	rep := r.report(ctx)
	rep.Skipped, rep.SkippedFor = true, holder
	return rep, nil
}

// done finishes a run that went to its end.
func (r *run) done(ctx workflow.Context) (Report, error) {
	r.finishLedger(ctx)
	r.release(ctx)
	switch r.st.Phase {
	case "short-circuited", "stopped", "aborted":
	case "unlocking":
		r.st.Phase = "unlocked"
	default:
		r.st.Phase = "done"
	}
	r.compareWithPrevious(ctx)
	r.upsertCounts(ctx)
	if r.st.Stopped != "" {
		workflow.SetCurrentDetails(ctx, r.st.Stopped)
	}
	return r.report(ctx), nil
}

// cancelled finishes a cancelled run: nothing more starts, the queue is
// reported not attempted, the report is the cancellation's details.
func (r *run) cancelled(ctx workflow.Context) (Report, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	r.notAttempted(ReasonCancelled, "run cancelled before this instance's batch started")
	r.finishLedger(dctx)
	r.release(dctx)
	r.st.Phase = "cancelled"
	rep := r.report(dctx)
	rep.Cancelled = true
	r.upsertCounts(dctx)
	return Report{}, temporal.NewCanceledError(rep)
}

// fail ends the run with one clear line and its report so far as the
// failure's details (the "report" query answers with it too).
func (r *run) fail(ctx workflow.Context, what string, err error) (Report, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	line := what
	if err != nil {
		line += ": " + errText(err)
	}
	if r.st.Stopped == "" {
		r.st.Stopped = line
	}
	r.notAttempted(ReasonStopped, line)
	r.finishLedger(dctx)
	r.release(dctx)
	r.st.Phase = "failed"
	r.upsertCounts(dctx)
	workflow.SetCurrentDetails(dctx, line)
	code := "fleetmend.RunFailed"
	if r.st.StopCode != "" {
		code = r.st.StopCode
	} else if c, ok := accountLevel(err); ok {
		code = c
	}
	return Report{}, temporal.NewNonRetryableApplicationError(line, code, nil, r.report(dctx))
}

// notAttempted reports every queued instance as not attempted.
func (r *run) notAttempted(reason, detail string) {
	for _, c := range r.st.Queue {
		r.addRow(Row{InstanceID: c.ID, Problem: c.Problem, Outcome: OutcomeNotAttempted, Reason: reason, Detail: detail})
	}
	r.st.Queue = nil
}

func (r *run) addRow(row Row) {
	r.tally(row)
	r.countOnly(row)
	r.st.Rows.add(row, *r.in.MaxReportRows, r.in.MaxReportBytes)
}

// countOnly counts a row's outcome without keeping the row.
func (r *run) countOnly(row Row) {
	r.st.Counts.addOutcome(row)
	r.metrics.WithTags(map[string]string{"outcome": row.Outcome, "reason": row.Reason}).Counter(MetricInstanceOutcomes).Inc(1)
}

func (r *run) warn(msg string) {
	const maxWarnings = 20
	if len(r.st.Warnings) < maxWarnings {
		r.st.Warnings = append(r.st.Warnings, msg)
	}
}

// inRepair is the instances counted against the blast radius now: those
// in batches that have not reported, and those rebooted but not yet seen
// Running again.
func (r *run) inRepair() int {
	n := 0
	for _, f := range r.inFlight {
		n += len(f.targets)
	}
	for _, v := range r.st.Verifying {
		if !v.Released {
			n++
		}
	}
	return n
}

func (r *run) upsertCounts(ctx workflow.Context) {
	if r.sa {
		upsertCounts(ctx, r.st.Counts, &r.st.SACounts)
	}
}

// upsertCounts keeps the count search attributes of a run that has them
// current, and only when a count changed (each upsert is a history
// event). last is what was upserted before; both engines keep it in their
// state, so it survives continue-as-new and replays.
func upsertCounts(ctx workflow.Context, c Counts, last *[3]int64) {
	now := [3]int64{int64(c.Unhealthy()), int64(c.Remediated), int64(c.Failed)}
	if now == *last {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		SAUnhealthy().ValueSet(now[0]), SARemediated().ValueSet(now[1]), SAFailed().ValueSet(now[2])); err != nil {
		workflow.GetLogger(ctx).Warn("could not upsert search attributes", "Error", err)
		return
	}
	*last = now
}

func (r *run) progress() Progress {
	c := r.st.Controls
	verifying := len(r.st.Verifying)
	return Progress{
		WorkflowID: r.runID, Region: r.in.Region, DryRun: r.in.DryRun, Phase: r.st.Phase,
		Scanned: r.st.Counts.Scanned, Total: r.st.Total, Unhealthy: r.st.Counts.Unhealthy(),
		BatchesStarted: r.st.Counts.Batches, BatchesDone: r.st.BatchesRun, BatchesInFlight: len(r.inFlight),
		Counts: r.st.Counts, ContinuedAsNew: r.st.Runs - 1, ExplicitInstance: len(r.in.InstanceIDs) > 0,
		Queued: len(r.st.Queue), InRepair: r.inRepair(), Verifying: verifying,
		BlastRadius: c.BlastRadius, ConcurrentBatches: c.ConcurrentBatches, Paused: c.Paused, Aborted: c.Aborted,
		ErrorBudget: r.st.BudgetLimit, BudgetFailures: r.budgetFailures(), Stopped: r.st.Stopped,
		Rollout: r.st.Rollout.Phase, RolloutStep: r.st.Rollout.Step, RolloutLimit: r.inRepairLimit(),
		Locked: r.st.Locked, Lease: r.st.Lease, OpenBatches: guard.BatchRange{From: r.openFrom(), To: r.st.NextBatch - 1},
		InFlight: inFlightIDs(r.inFlight), Waiting: r.st.Waiting, LastProgressAt: r.st.LastProgressAt,
	}
}

func inFlightIDs(fs []inFlight) []string {
	const most = 20
	var ids []string
	for _, f := range fs[:min(len(fs), most)] {
		ids = append(ids, f.id)
	}
	return ids
}

func (r *run) report(ctx workflow.Context) Report {
	rows := r.st.Rows.Rows
	if rows == nil {
		rows = []Row{}
	}
	return Report{
		WorkflowID: r.runID, Region: r.in.Region, Kind: r.in.Kind, DryRun: r.in.DryRun,
		StartedAt: r.st.StartedAt, FinishedAt: workflow.Now(ctx), Stopped: r.st.Stopped, TotalInstances: r.st.Total,
		Counts: r.st.Counts, Rows: append([]Row(nil), rows...), RowsOmitted: r.st.Rows.Omitted,
		Plan: append([]PlannedBatch(nil), r.st.Plan...), PlanOmitted: r.st.PlanOmit,
		Warnings: append([]string(nil), r.st.Warnings...), Controls: append([]ControlEvent(nil), r.st.Controls.Events...),
		Zones: append([]activities.ZoneCount(nil), r.st.Zones...), BlastRadius: r.st.PeakInRepair,
		BlastRadiusLimit: r.st.Controls.BlastRadius, ErrorBudget: r.st.BudgetLimit, Runs: r.st.Runs, ScannedAt: r.st.ScannedAt,
		Rollout: r.st.Rollout.Phase, Waves: append([]WaveResult(nil), r.st.Rollout.Waves...),
		Agents: agentVersions(r.st.Agents), Trend: r.trend,
		PlanSettings: r.planSettings(), AppliedPlan: r.appliedPlan(),
	}
}
