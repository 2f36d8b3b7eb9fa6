package workflows

import (
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
)

// pipeline repairs the queue. What bounds it is the blast radius: the
// instances in repair at once, from the moment they are handed to a batch
// until they are back Running after their reboot (or decided without one).
// A batch ends after its reboot call; the run verifies the agents of every
// batch with shared calls and frees an instance's place as soon as it is
// back up. So an instance waiting out its verify deadline holds nothing
// another instance needs, and one that never heals delays nobody.
//
// It returns errHandOn to continue as new: no batch is then in flight (they
// are short), and the instances being verified go on in the state.
func (r *run) pipeline(ctx workflow.Context) error {
	if len(r.st.Queue) > 0 || len(r.st.Verifying) > 0 {
		r.st.Phase = "repairing"
	}
	// Batches and verification run on a disconnected context: a cancelled
	// run must still verify every reboot it sent.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	stopPolls := false
	workflow.Go(dctx, func(ctx workflow.Context) { r.verifier(ctx, &stopPolls) })
	handOn := func() bool {
		return r.wantContinueAsNew(ctx) && len(r.inFlight) == 0 && !r.polling && workflow.AllHandlersFinished(ctx)
	}
	for {
		r.roundFenced = false
		for r.canDispatch(ctx) && r.fence(ctx) && r.canDispatch(ctx) {
			r.dispatch(ctx, dctx)
		}
		if r.finished() {
			// Candidates queued after a stop (a scan segment that was under
			// way) are reported like the rest of the queue.
			r.notAttempted(r.st.StopReason, r.st.Stopped)
			return nil
		}
		if handOn() {
			stopPolls = true
			return errHandOn
		}
		if r.fenced() && len(r.st.Ledger.Failed)+len(r.st.Ledger.Healed) >= maxPendingLedger {
			r.finishLedger(ctx) // the ledger waiting to be written stays small
		}
		err := workflow.Await(ctx, func() bool { return r.canDispatch(ctx) || r.finished() || handOn() })
		if err != nil {
			// Cancelled: start nothing, let what was started finish.
			r.draining = true
			r.st.Phase = "cancelling"
			_ = workflow.Await(dctx, func() bool { return len(r.inFlight) == 0 && len(r.st.Verifying) == 0 && !r.polling })
			stopPolls = true
			return nil
		}
	}
}

// finished: nothing queued (or the run stopped), nothing in flight,
// nothing left to verify.
func (r *run) finished() bool {
	return (len(r.st.Queue) == 0 || r.st.Stopped != "") && len(r.inFlight) == 0 && len(r.st.Verifying) == 0
}

// nextSize is the size of the next batch: at most BatchSize, and never
// more than the blast radius allows in one go.
func (r *run) nextSize() int {
	if r.fenced() {
		return r.cohortRoom(min(r.in.BatchSize, len(r.st.Queue), r.inRepairLimit(), r.planRoom()))
	}
	return min(r.in.BatchSize, len(r.st.Queue), max(1, r.st.Controls.BlastRadius), r.planRoom())
}

// canDispatch says whether the next batch may start now.
func (r *run) canDispatch(ctx workflow.Context) bool {
	c := r.st.Controls
	switch {
	case r.draining, c.Paused, c.Aborted, r.st.Stopped != "", len(r.st.Queue) == 0, ctx.Err() != nil:
		return false
	case c.ConcurrentBatches > 0 && len(r.inFlight) >= c.ConcurrentBatches:
		return false
	case r.wantContinueAsNew(ctx):
		return false
	case r.fenced() && (!r.carryLimits() || !r.rolloutAllows()):
		return false
	case r.fenced():
		return r.inRepair()+r.nextSize() <= r.inRepairLimit()
	}
	return r.inRepair()+r.nextSize() <= max(1, c.BlastRadius)
}

// room is how many batches could start now: what the blast radius, the
// batches in flight and the queue allow.
func (r *run) room() int {
	c := r.st.Controls
	size := max(1, r.nextSize())
	limit := max(1, c.BlastRadius)
	if r.fenced() {
		limit = r.inRepairLimit()
	}
	n := (limit - r.inRepair()) / size
	n = min(n, (len(r.st.Queue)+size-1)/size)
	if c.ConcurrentBatches > 0 {
		n = min(n, c.ConcurrentBatches-len(r.inFlight))
	}
	if r.fenced() {
		n = min(n, maxBatchesInFlight-len(r.inFlight), (maxVerifying-r.verifyingSoon())/size)
	}
	return max(0, n)
}

// dispatch starts the next batch as a child workflow.
func (r *run) dispatch(ctx, dctx workflow.Context) {
	n := r.nextSize()
	targets := make([]BatchTarget, n)
	ids := make([]string, n)
	for i, c := range r.st.Queue[:n] {
		targets[i] = BatchTarget{InstanceID: c.ID, Problem: c.Problem}
		ids[i] = c.ID
	}
	r.st.Queue = slices.Clone(r.st.Queue[n:])
	r.tookPlanned(n)
	num := r.st.NextBatch
	r.st.NextBatch++
	r.joinCohort(num, n)
	r.st.Counts.Batches++
	r.st.Attempted += n
	opts := batchOptions(r.runID, r.in, num, ids, r.sa)
	id := opts.WorkflowID
	engine, tag := engineV2, ""
	if r.fenced() {
		engine, tag = engineV3, r.in.ExcludeTag
	}
	if r.strict() {
		// A batch ID names one set of installs and reboots: a closed
		// batch's ID is refused rather than run again on other instances.
		engine = engineV4
		opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	}
	fut := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(dctx, opts), RemediateBatch, BatchInput{
		Region: r.in.Region, WorkflowID: r.runID, Number: num, BatchStart: guard.BatchStart{Instances: targets},
		RebootPolicy: r.in.RebootPolicy, RebootGrace: *r.in.RebootGrace,
		VerifyDeadline: r.in.VerifyDeadline, VerifyPollInterval: r.in.VerifyPollInterval, Engine: engine, Lease: r.st.Lease, ExcludeTag: tag,
	})
	r.inFlight = append(r.inFlight, inFlight{number: num, targets: targets, id: id})
	r.st.PeakInRepair = max(r.st.PeakInRepair, r.inRepair())
	workflow.Go(dctx, func(ctx workflow.Context) {
		var res BatchResult
		err := fut.Get(ctx, &res)
		r.onBatch(ctx, num, targets, res, err)
	})
}

// onBatch takes a batch's result: rows for what it decided, the rest to
// verify, and a stop when it met an account-level error.
func (r *run) onBatch(ctx workflow.Context, num int, targets []BatchTarget, res BatchResult, err error) {
	r.inFlight = slices.DeleteFunc(r.inFlight, func(f inFlight) bool { return f.number == num })
	r.st.BatchesRun++
	r.st.LastProgressAt = workflow.Now(ctx)
	switch {
	case err != nil && r.strict() && temporal.IsWorkflowExecutionAlreadyStartedError(err):
		// Its ID was used before (a Reset the guard did not catch): it
		// never ran, and neither may any batch after it.
		why := fmt.Sprintf("stopped: batch %d was not started: its ID %s was used before (was the run reset to a point after it acquired the region?)", num, guard.BatchWorkflowID(r.runID, num))
		for _, t := range targets {
			r.addRow(Row{InstanceID: t.InstanceID, Problem: t.Problem, Batch: num, Outcome: OutcomeNotAttempted, Reason: ReasonRegionLost, Detail: why})
		}
		r.stop(ctx, why, "", ReasonRegionLost)
	case err != nil:
		for _, t := range targets {
			r.addRow(Row{InstanceID: t.InstanceID, Problem: t.Problem, Batch: num, Outcome: OutcomeFailed,
				Reason: ReasonBatchError, Detail: errText(err)})
		}
		// It may have rebooted any of them before it failed (or was
		// terminated): nobody verified that.
		r.st.Unverified = true
	default:
		r.st.Counts.Installed += res.Installed
		r.st.Counts.Rebooted += res.Rebooted
		for _, row := range res.Rows {
			r.addRow(row)
			r.toLedger(ctx, row)
		}
		for _, v := range res.Verify {
			r.st.Verifying = append(r.st.Verifying, Verifying{VerifyTarget: v, Batch: num,
				Deadline: v.Since.Add(r.in.VerifyDeadline.D()), Released: !v.Rebooted})
		}
		if res.AccountError != "" && r.st.StopCode == "" {
			r.stop(ctx, "stopped: "+res.AccountError, res.AccountErrorCode, ReasonStopped)
		}
		if res.RegionLost != "" && r.st.StopCode == "" {
			r.lost(ctx, "batch "+fmt.Sprint(num)+": "+res.RegionLost)
		}
		if res.APIError != "" && r.strict() && r.st.Stopped == "" {
			r.stop(ctx, fmt.Sprintf("stopped: the ECS API kept failing in batch %d (%s): no new batch starts; its instances are api-error, not failed repairs, and the next run tries again", num, res.APIError), "", ReasonStopped)
		}
	}
	r.checkBudget(ctx)
	r.judge(ctx)
	r.upsertCounts(ctx)
}

// verifier polls the agents of every instance being verified, all batches
// together, every poll interval, until the pipeline hands on or ends.
func (r *run) verifier(ctx workflow.Context, stop *bool) {
	var a *activities.Activities
	for {
		if err := workflow.Await(ctx, func() bool { return len(r.st.Verifying) > 0 || *stop }); err != nil || *stop {
			return
		}
		if err := workflow.Sleep(ctx, r.in.VerifyPollInterval.D()); err != nil || *stop {
			return
		}
		ids := make([]string, 0, len(r.st.Verifying))
		for _, v := range r.st.Verifying {
			ids = append(ids, v.ID)
		}
		if len(ids) > activities.MaxPollIDs {
			ids = ids[:activities.MaxPollIDs]
		}
		r.polling = true
		var res activities.PollResult
		summary := fmt.Sprintf("verify the agents of %d instances (all batches): %s", len(ids), shortList(ids))
		actx := readActivity(ctx, engineV2, summary)
		if r.fenced() {
			actx = pollActivity(ctx, r.in.VerifyPollInterval.D(), summary)
		}
		err := workflow.ExecuteActivity(actx, a.PollAgents, activities.PollInput{Region: r.in.Region, InstanceIDs: ids}).Get(ctx, &res)
		r.polling = false
		if err != nil {
			if code, ok := accountLevel(err); ok {
				r.failVerifying(ctx, err)
				r.stop(ctx, "stopped: "+errText(err), code, ReasonStopped)
			} else {
				workflow.GetLogger(ctx).Warn("agent poll failed; polling again", "Error", err)
				if r.fenced() {
					r.expireUnverified(ctx, err)
				}
			}
			continue
		}
		r.onPoll(ctx, res)
	}
}

// onPoll decides what a poll settles: healthy agents are remediated,
// vanished instances failed, instances back Running leave the blast
// radius, and instances past their deadline fail.
func (r *run) onPoll(ctx workflow.Context, res activities.PollResult) {
	now := workflow.Now(ctx)
	r.st.LastProgressAt = now
	healthy, gone := setOf(res.Healthy), setOf(res.Gone)
	beats := make(map[string]time.Time, len(res.Fresh))
	for _, f := range res.Fresh {
		beats[f.ID] = f.LastHeartbeat
	}
	waiting := make(map[string]activities.Waiting, len(res.Waiting))
	for _, w := range res.Waiting {
		waiting[w.ID] = w
	}
	kept := r.st.Verifying[:0]
	for _, v := range r.st.Verifying {
		w, isWaiting := waiting[v.ID]
		switch {
		case isWaiting && w.Unknown && r.strict() && !now.Before(v.Deadline):
			// The answers left it out: nobody read its agent. It waits for
			// a poll that does, as long as one whose polls fail.
			if !now.Before(v.Deadline.Add(r.unverifiedGrace())) {
				r.decideUnverified(ctx, v, fmt.Sprintf("ECS's answers left it out of the agent status polls up to its verify deadline (%s) and for %s after: whether it healed is unknown", r.in.VerifyDeadline, r.unverifiedGrace()))
				continue
			}
			kept = append(kept, v)
		case healthy[v.ID] && r.stable(&v, beats[v.ID], now):
			r.decideVerified(ctx, v, OutcomeRemediated, "", "agent reports fresh heartbeats", "verified")
		case healthy[v.ID]:
			// Healthy once: looked at again for a later heartbeat. Its agent
			// reports, so it is up: its place in the blast radius is free.
			if !v.Released {
				v.Released, v.ReleasedAt = true, now
			}
			kept = append(kept, v)
		case gone[v.ID]:
			r.decideVerified(ctx, v, OutcomeFailed, ReasonVanished, "instance vanished while verifying", "")
		case isWaiting && !now.Before(v.Deadline) && v.From != "":
			r.decideVerified(ctx, v, OutcomeFailed, ReasonInheritedNoHeartbeat, inheritedDetail(v, w.State, r.in.Region), "")
		case isWaiting && !now.Before(v.Deadline):
			switch {
			case v.Unconfirmed:
				r.decideVerified(ctx, v, OutcomeFailed, ReasonRebootUnconfirmed, rebootUnconfirmedDetail(w.State, r.in.VerifyDeadline), "")
			case !v.HealthyAt.IsZero() || v.Relapsed:
				r.decideVerified(ctx, v, OutcomeFailed, ReasonNoHeartbeat, "its agent reported after the reboot, then went silent; "+noHeartbeatDetail(w.State, w.LastHeartbeat, r.in.VerifyDeadline, r.in.RebootPolicy), "")
			default:
				r.decideVerified(ctx, v, OutcomeFailed, ReasonNoHeartbeat, noHeartbeatDetail(w.State, w.LastHeartbeat, r.in.VerifyDeadline, r.in.RebootPolicy), "")
			}
		default:
			if isWaiting {
				if w.State == ecs.StateStopping || w.State == ecs.StateStarting {
					v.SeenDown = true
				}
				if w.State == ecs.StateRunning && (v.SeenDown || v.InTransit) && !v.Released {
					v.Released = true // back up: its place in the blast radius is free
					v.ReleasedAt = now
				}
				if r.fenced() {
					r.earlySignal(ctx, &v, now)
				}
			}
			kept = append(kept, v)
		}
	}
	r.st.Verifying = kept
	r.checkBudget(ctx)
	r.judge(ctx)
	r.upsertCounts(ctx)
}

// stable says whether a healthy agent has been healthy for a while
// (engine 3): a heartbeat newer than the one first seen after its reboot,
// seen at least StableFor after it. That costs one heartbeat interval
// (about 60 s with the defaults) per repair, and an agent that reports
// once and goes silent again is not remediated. Older runs, and a
// StableFor of 0, take the first fresh heartbeat.
func (r *run) stable(v *Verifying, beat, now time.Time) bool {
	if !r.fenced() || r.in.StableFor.D() == 0 {
		return true
	}
	if v.HealthyAt.IsZero() {
		v.HealthyAt, v.Beat = now, beat
		v.Early = false // it reported: the early signal no longer holds
		return false
	}
	if now.Before(v.HealthyAt.Add(r.in.StableFor.D())) {
		return false
	}
	// A later heartbeat, or healthy still more than two minutes after the
	// first look: CloudAssistantStatus is true only within two minutes of
	// a heartbeat, so there has been another since.
	return beat.After(v.Beat) || !now.Before(v.HealthyAt.Add(agentStatusWindow))
}

// agentStatusWindow is how long CloudAssistantStatus stays true after a
// heartbeat (DescribeCloudAssistantStatus' document).
const agentStatusWindow = 2 * time.Minute

// earlySignal marks an instance that has been Running again after its
// reboot for the early signal with no heartbeat: it counts as failed for
// the gates and the budget now, not at its deadline. One that reported
// and then went silent again starts over.
func (r *run) earlySignal(ctx workflow.Context, v *Verifying, now time.Time) {
	if !v.HealthyAt.IsZero() {
		// Healthy before, silent now: it starts over.
		v.HealthyAt, v.Beat, v.Relapsed = time.Time{}, time.Time{}, true
		v.ReleasedAt = now
	}
	if v.Early || v.From != "" || !v.Released {
		return
	}
	since := v.ReleasedAt
	if since.IsZero() {
		since = v.Since // never rebooted (policy never): from the install
	}
	if !now.Before(since.Add(r.in.EarlySignal.D())) {
		v.Early = true
		workflow.GetLogger(ctx).Info("no heartbeat at the early signal", "Instance", v.ID, "After", r.in.EarlySignal)
	}
}

// expireUnverified fails, as unverified, the instances whose verify
// deadline has passed, by unverifiedGrace, while the polls could not read
// their agents: the deadline holds whatever the polls do, so the run ends
// and frees its region instead of waiting for an answer for ever; the
// grace lets polls that fail for a while (throttling, a burst of 5xx) come
// back and decide as they would have.
func (r *run) expireUnverified(ctx workflow.Context, err error) {
	now := workflow.Now(ctx)
	grace := r.unverifiedGrace()
	kept := r.st.Verifying[:0]
	expired := 0
	for _, v := range r.st.Verifying {
		if now.Before(v.Deadline.Add(grace)) {
			kept = append(kept, v)
			continue
		}
		expired++
		r.decideUnverified(ctx, v, fmt.Sprintf("its agent could not be read by its verify deadline (%s) and for %s after: the agent status polls failed: %s", r.in.VerifyDeadline, grace, errText(err)))
	}
	r.st.Verifying = kept
	r.checkBudget(ctx)
	if r.strict() {
		// Every decided instance goes through the gate, unverified ones
		// too: a wave whose polls fail ends here instead of holding the
		// region for ever. A run that cannot see whether its repairs
		// work starts no more of them.
		r.judge(ctx)
		if expired > 0 && r.st.Stopped == "" {
			r.stop(ctx, fmt.Sprintf("stopped: the agent status polls failed past the verify deadline of %d instances (%s): no new batch starts while the run cannot see whether its repairs work; the next run tries again",
				expired, errText(err)), "", ReasonStopped)
		}
	}
	r.upsertCounts(ctx)
}

// decideUnverified decides an instance whose agent nobody could read by
// its deadline and grace: failed, unverified, and (engine 4) its reboot
// not called verified when the run releases the region.
func (r *run) decideUnverified(ctx workflow.Context, v Verifying, detail string) {
	r.st.Unverified = true
	r.decideVerified(ctx, v, OutcomeFailed, ReasonUnverified, detail, "")
}

// unverifiedGrace is how long after its deadline an instance waits for a
// poll that can read it: a minute, or four polls if that is longer.
func (r *run) unverifiedGrace() time.Duration {
	return max(time.Minute, 4*r.in.VerifyPollInterval.D())
}

func (r *run) decideVerified(ctx workflow.Context, v Verifying, outcome, reason, detail, step string) {
	action := v.Action
	if step != "" {
		if action != "" {
			action += ", "
		}
		action += step
	}
	row := Row{InstanceID: v.ID, Problem: v.Problem, Batch: v.Batch, Outcome: outcome, Reason: reason, Detail: detail, Action: action}
	r.addRow(row)
	r.toLedger(ctx, row)
}

// failVerifying gives up on every instance being verified: the agent
// status cannot be read any more.
func (r *run) failVerifying(ctx workflow.Context, err error) {
	if len(r.st.Verifying) > 0 {
		r.st.Unverified = true // decided without anyone reading their agents
	}
	for _, v := range r.st.Verifying {
		r.decideVerified(ctx, v, OutcomeFailed, ReasonAccountError, "agent status could not be read: "+errText(err), "")
	}
	r.st.Verifying = nil
}

// inheritedDetail explains an instance another run rebooted and this run
// verified in vain: it counts as one failed repair, and the next run
// repairs it (this one never reboots it before the deadline, and does not
// after it either: the ledger it read before may now quarantine it).
func inheritedDetail(v Verifying, state ecs.InstanceState, region string) string {
	return fmt.Sprintf("rebooted by %s, which closed without verifying it; no heartbeat by %s (instance %s); counted as a failed repair, the next run of %s repairs it unless it is quarantined",
		v.From, v.Deadline.UTC().Format(time.RFC3339), state, region)
}

// plan turns a dry run's queue into the batches a real run would start.
func (r *run) plan() {
	action := plannedAction(r.in)
	for len(r.st.Queue) > 0 {
		n := min(r.in.BatchSize, len(r.st.Queue))
		num := r.st.NextBatch
		r.st.NextBatch++
		r.st.Counts.Batches++
		ids := make([]string, n)
		for i, c := range r.st.Queue[:n] {
			ids[i] = c.ID
			r.addRow(Row{InstanceID: c.ID, Problem: c.Problem, Outcome: OutcomePlanned, Batch: num, Action: action})
		}
		if r.st.PlanIDs+n <= *r.in.MaxReportRows {
			r.st.Plan = append(r.st.Plan, PlannedBatch{Number: num, InstanceIDs: ids})
			r.st.PlanIDs += n
		} else {
			r.st.PlanOmit += n
		}
		r.st.Queue = r.st.Queue[n:]
	}
	r.st.Queue = nil
}

// plannedAction says what a real run would do to a planned instance.
func plannedAction(in RegionInput) string {
	switch in.RebootPolicy {
	case RebootNever:
		return fmt.Sprintf("re-check; install agent; no reboot (policy never); verify heartbeat within %s", in.VerifyDeadline)
	case RebootAlways:
		return fmt.Sprintf("re-check; install agent; reboot at once if still unhealthy and Running; verify heartbeat within %s", in.VerifyDeadline)
	}
	return fmt.Sprintf("re-check; install agent; after %s reboot if still unhealthy and Running; verify heartbeat within %s", *in.RebootGrace, in.VerifyDeadline)
}

// batchOptions are the options of batch num of a run (both engines): its
// workflow ID <run ID>/batch-<n>, a summary for the UI, the search
// attributes (when the run has them) that let the UI and `starter audit`
// find the batches that touched an instance, and ABANDON, so that an
// operator's terminate of the run does not cut a batch off mid-reboot.
func batchOptions(runID string, in RegionInput, num int, ids []string, sa bool) workflow.ChildWorkflowOptions {
	opts := workflow.ChildWorkflowOptions{
		WorkflowID:        guard.BatchWorkflowID(runID, num),
		StaticSummary:     fmt.Sprintf("%s batch %d: %d instances (%s)", in.Region, num, len(ids), shortList(ids)),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
	}
	if sa {
		opts.TypedSearchAttributes = temporal.NewSearchAttributes(
			SARegion().ValueSet(in.Region),
			SAKind().ValueSet(in.Kind),
			SADryRun().ValueSet(false),
			SAInstanceIDs().ValueSet(ids),
		)
	}
	return opts
}
