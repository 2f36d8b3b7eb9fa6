package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/guard"
)

// Update names of a run: an operator pauses, resumes, aborts or retunes a
// run while it goes. Each takes a reason and who gives it, is validated
// before it is accepted, and answers with the run's progress afterwards.
const (
	UpdatePause  = "pause"
	UpdateResume = "resume"
	UpdateAbort  = "abort"
	UpdateSet    = "set"
	// UpdateUnlock ends the run the safe way, to free its region: no new
	// batch; batches in flight are resumed if paused, finish their install
	// and reboot, and every reboot is verified; then the run releases the
	// region and closes. `starter unlock` sends it.
	UpdateUnlock = "unlock"
)

// maxReasonChars bounds a control's reason: it is kept in the report.
const maxReasonChars = 500

// ControlRequest is the argument of pause, resume and abort.
type ControlRequest struct {
	Reason string `json:"reason"`
	By     string `json:"by,omitempty"`
}

// SetRequest retunes a run: the blast radius ("40" or "5%", of the
// region's Running instances) and/or the batches in flight (0 for no limit
// but the blast radius). Unset fields keep their value.
type SetRequest struct {
	BlastRadius       string `json:"blast_radius,omitempty"`
	ConcurrentBatches *int   `json:"concurrent_batches,omitempty"`
	Reason            string `json:"reason"`
	By                string `json:"by,omitempty"`
}

func validateReason(reason string) error {
	switch {
	case strings.TrimSpace(reason) == "":
		return errors.New("reason is required: say why, it is kept in the run's history and report")
	case len(reason) > maxReasonChars:
		return fmt.Errorf("reason is %d characters, allowed at most %d", len(reason), maxReasonChars)
	}
	return nil
}

// registerControls installs the update handlers.
func (r *run) registerControls(ctx workflow.Context) error {
	acting := func() error {
		switch {
		case r.in.DryRun:
			return errors.New("a dry run changes nothing; there is nothing to pause or retune")
		case r.st.Controls.Aborted:
			return errors.New("the run is aborted")
		case r.st.Phase == "done" || r.st.Phase == "skipped" || r.st.Phase == "failed" || r.st.Phase == "cancelled":
			return fmt.Errorf("the run is %s", r.st.Phase)
		}
		return nil
	}
	handlers := []struct {
		name     string
		validate func(ControlRequest) error
		apply    func(workflow.Context, ControlRequest)
	}{
		{UpdatePause, func(c ControlRequest) error {
			if err := acting(); err != nil {
				return err
			}
			if r.st.Controls.Paused {
				return errors.New("the run is already paused")
			}
			return validateReason(c.Reason)
		}, r.pause},
		{UpdateResume, func(c ControlRequest) error {
			if err := acting(); err != nil {
				return err
			}
			if !r.st.Controls.Paused {
				return errors.New("the run is not paused")
			}
			return validateReason(c.Reason)
		}, r.resume},
		{UpdateAbort, func(c ControlRequest) error {
			if r.st.Controls.Aborted {
				return errors.New("the run is already aborted")
			}
			if err := acting(); err != nil && !r.in.DryRun {
				return err
			}
			return validateReason(c.Reason)
		}, r.abort},
		{UpdateUnlock, func(c ControlRequest) error {
			switch {
			case r.in.DryRun:
				return errors.New("a dry run holds no region")
			case r.st.Controls.Unlocked:
				return errors.New("the run is already unlocking its region")
			}
			return validateReason(c.Reason)
		}, r.unlock},
	}
	for _, h := range handlers {
		apply := h.apply
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name,
			func(ctx workflow.Context, c ControlRequest) (Progress, error) {
				apply(ctx, c)
				return r.progress(), nil
			},
			workflow.UpdateHandlerOptions{Validator: h.validate}); err != nil {
			return fmt.Errorf("register %s: %w", h.name, err)
		}
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateSet,
		func(ctx workflow.Context, s SetRequest) (Progress, error) {
			r.set(ctx, s)
			return r.progress(), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(s SetRequest) error {
			if err := acting(); err != nil {
				return err
			}
			if s.BlastRadius == "" && s.ConcurrentBatches == nil {
				return errors.New("nothing to set: give blast_radius and/or concurrent_batches")
			}
			if s.BlastRadius != "" {
				if _, err := ParseAmount("blast_radius", s.BlastRadius, 1, MaxBlastRadius); err != nil {
					return err
				}
			}
			if c := s.ConcurrentBatches; c != nil && (*c < 0 || *c > MaxConcurrentBatches) {
				return fmt.Errorf("concurrent_batches is %d, allowed range is 1..%d (or 0 for no limit but the blast radius)", *c, MaxConcurrentBatches)
			}
			return validateReason(s.Reason)
		}})
	if err != nil {
		return fmt.Errorf("register set: %w", err)
	}
	return nil
}

func (r *run) control(ctx workflow.Context, action, by, reason, detail string) {
	r.st.Controls.Events = append(r.st.Controls.Events, ControlEvent{At: workflow.Now(ctx), Action: action, By: by, Reason: reason, Detail: detail})
	if n := len(r.st.Controls.Events); n > maxControlEvents {
		// The history keeps every one (each is an Update); the report the last.
		r.st.Controls.Events = slices.Clone(r.st.Controls.Events[n-maxControlEvents:])
	}
	workflow.GetLogger(ctx).Info("operator control", "Action", action, "By", by, "Reason", reason, "Detail", detail)
}

func (r *run) pause(ctx workflow.Context, c ControlRequest) {
	r.st.Controls.Paused = true
	r.control(ctx, UpdatePause, c.By, c.Reason, "no new install or reboot starts; batches in flight wait before their next one")
	r.tellBatches(ctx)
}

func (r *run) resume(ctx workflow.Context, c ControlRequest) {
	r.st.Controls.Paused = false
	r.control(ctx, UpdateResume, c.By, c.Reason, "")
	r.tellBatches(ctx)
}

func (r *run) abort(ctx workflow.Context, c ControlRequest) {
	r.st.Controls.Aborted = true
	r.control(ctx, UpdateAbort, c.By, c.Reason, "no new install or reboot; reboots already sent are verified")
	who := c.By
	if who == "" {
		who = "an operator"
	}
	r.stop(ctx, fmt.Sprintf("aborted by %s: %s", who, c.Reason), "", ReasonAborted)
}

func (r *run) unlock(ctx workflow.Context, c ControlRequest) {
	r.st.Controls.Unlocked = true
	r.st.Controls.Paused = false
	r.control(ctx, UpdateUnlock, c.By, c.Reason, "no new batch; batches in flight finish their reboot and are verified; the region is released when the run closes")
	who := c.By
	if who == "" {
		who = "an operator"
	}
	r.stop(ctx, fmt.Sprintf("unlocked by %s: %s", who, c.Reason), "", ReasonUnlocked)
}

func (r *run) set(ctx workflow.Context, s SetRequest) {
	var parts []string
	if s.BlastRadius != "" {
		r.st.Controls.BlastRadiusSpec = s.BlastRadius
		if r.st.Checked {
			r.st.Controls.BlastRadius = r.blastRadius()
		}
		parts = append(parts, fmt.Sprintf("blast radius %s (%d instances)", s.BlastRadius, r.st.Controls.BlastRadius))
	}
	if s.ConcurrentBatches != nil {
		r.st.Controls.ConcurrentBatches = *s.ConcurrentBatches
		parts = append(parts, fmt.Sprintf("concurrent batches %d", *s.ConcurrentBatches))
	}
	r.control(ctx, UpdateSet, s.By, s.Reason, strings.Join(parts, ", "))
}

// tellBatches passes pause, resume and abort on to the batches in flight,
// which check them before every install and reboot.
func (r *run) tellBatches(ctx workflow.Context) {
	c := BatchControl{Paused: r.st.Controls.Paused, Aborted: r.st.Controls.Aborted}
	if n := len(r.st.Controls.Events); n > 0 {
		c.Reason = r.st.Controls.Events[n-1].Reason
	}
	for _, f := range r.inFlight {
		// Fire and forget: a batch that already finished cannot be told,
		// and needs not be.
		workflow.SignalExternalWorkflow(ctx, f.id, "", SignalBatchControl, c)
	}
}

// stop starts no further batch: the queue is reported not attempted with
// reason. Batches in flight finish (an abort or an account error tells
// them to act no further), and reboots already sent are verified.
func (r *run) stop(ctx workflow.Context, why, code, reason string) {
	// An account-level error is what the run fails with, even after an
	// earlier stop: it is the line an operator must read.
	if r.st.Stopped == "" || (code != "" && r.st.StopCode == "") {
		r.st.Stopped, r.st.StopCode, r.st.StopReason = why, code, reason
	}
	r.notAttempted(reason, why)
	switch {
	case code != "":
		r.st.Phase = "failing"
		r.st.Controls.Aborted = true
		r.tellBatches(ctx)
	case reason == ReasonAborted:
		r.st.Phase = "aborted"
		r.tellBatches(ctx)
	case reason == ReasonUnlocked:
		r.st.Phase = "unlocking"
		r.tellBatches(ctx) // resumed, if they were paused: they finish
	default:
		r.st.Phase = "stopped"
	}
	workflow.SetCurrentDetails(ctx, why)
}

// checkBudget stops the run once its failures exceed the error budget.
func (r *run) checkBudget(ctx workflow.Context) {
	f := r.budgetFailures()
	if r.st.Stopped != "" || f <= r.st.BudgetLimit {
		return
	}
	r.stop(ctx, fmt.Sprintf("stopped: error budget exhausted (%d failed of %d attempted; budget %s = %d)",
		f, r.attempted(), r.in.ErrorBudget, r.st.BudgetLimit), "", ReasonErrorBudget)
}

// budgetFailures are the failures that spend the budget: those decided,
// and (engine 3) those past the early no-heartbeat signal, which are
// given back if they heal before their deadline.
func (r *run) budgetFailures() int {
	f := r.st.Counts.BudgetFailures()
	if r.fenced() {
		early, _ := r.earlyFailures(false)
		f += early
	}
	return f
}

// attempted is how many instances the run has handed to batches.
func (r *run) attempted() int { return r.st.Attempted }

// acquireRetry is how long a run waits before asking again for a region
// whose closed holder still has batches open.
const acquireRetry = 10 * time.Second

// acquire asks the region's guard for the region; it returns the holder
// when another run has it. An engine 3 run waits, saying so in its
// progress and history, while a closed holder's batches are still open,
// then takes over what that holder rebooted and never verified.
func (r *run) acquire(ctx workflow.Context) (string, error) {
	var ga *guard.Activities
	r.st.Phase = "acquiring"
	req := guard.AcquireRequest{WorkflowID: r.runID, Kind: r.in.Kind, StartedBy: r.in.StartedBy}
	if r.fenced() {
		req.Execution = workflow.GetInfo(ctx).WorkflowExecution.RunID
		req.VerifyDeadline = r.in.VerifyDeadline.D()
	}
	var res guard.AcquireResult
	for {
		err := workflow.ExecuteActivity(guardActivity(ctx, "ask the guard of "+r.in.Region+" for the region (one acting run at a time)"), ga.AcquireRegion,
			guard.AcquireInput{Region: r.in.Region, TaskQueue: workflow.GetInfo(ctx).TaskQueueName, Request: req, StuckAfter: r.in.StuckAfter.D()}).Get(ctx, &res)
		if err != nil {
			return "", err
		}
		if res.Granted {
			break
		}
		if !r.fenced() || len(res.WaitFor) == 0 {
			if res.Stuck != "" {
				r.warn(res.Stuck)
			}
			return res.Holder.WorkflowID, nil
		}
		r.st.Phase = "waiting"
		r.st.Waiting = fmt.Sprintf("waiting for %s of %s to finish before acting (that run closed without releasing the region)", shortList(res.WaitFor), res.Holder.WorkflowID)
		r.warnOnce("waited", r.st.Waiting)
		workflow.SetCurrentDetails(ctx, r.st.Waiting)
		workflow.GetLogger(ctx).Info("region held by a closed run's open batches; waiting", "Holder", res.Holder.WorkflowID, "Batches", res.WaitFor)
		if r.wantContinueAsNew(ctx) {
			return "", errHandOn
		}
		timer := workflow.NewTimerWithOptions(ctx, acquireRetry, workflow.TimerOptions{Summary: r.st.Waiting})
		if err := timer.Get(ctx, nil); err != nil {
			return "", nil // cancelled: the caller sees ctx.Err()
		}
	}
	r.st.Locked = true
	r.st.Lease = req.Execution
	r.st.Waiting = ""
	r.st.NextBatch = max(r.st.NextBatch, res.FirstBatch)
	if res.TookOver != "" {
		r.warn("took the region over from " + res.TookOver + ", which closed without releasing it")
	}
	if res.Recovered != "" {
		r.warn(res.Recovered)
	}
	if r.fenced() && len(res.Inherit) > 0 {
		return "", r.inherit(ctx, res.Inherit)
	}
	return "", nil
}

// fenced says whether the run holds its region the fenced way (engine 3).
func (r *run) fenced() bool { return r.st.Engine >= engineV3 }

// strict says whether the run is of engine 4 (see fenceEachBatch).
func (r *run) strict() bool { return r.st.Engine >= engineV4 }

// inherit takes over, to verify, what runs that closed without verifying
// rebooted within their verify deadline: those instances are verified, not
// repaired, until that deadline passes. More than one run carries makes it
// wait out the deadline instead, repairing nothing before.
func (r *run) inherit(ctx workflow.Context, refs []guard.RebootRef) error {
	var ga *guard.Activities
	runs := make([]string, 0, len(refs))
	for _, ref := range refs {
		runs = append(runs, fmt.Sprintf("%s (batches %d..%d)", ref.WorkflowID, ref.Batches.From, ref.Batches.To))
	}
	var res guard.InheritResult
	// Until they are read (or waited out), what those runs rebooted is
	// not verified: a run that ends before leaves them to the next holder.
	r.st.Unverified = true
	err := workflow.ExecuteActivity(readActivity(ctx, engineV2, "read back what "+strings.Join(runs, ", ")+" rebooted and never verified"),
		ga.InheritReboots, guard.InheritInput{Refs: refs}).Get(ctx, &res)
	if err != nil {
		return err
	}
	if res.Over {
		r.st.Phase = "waiting"
		r.st.Waiting = fmt.Sprintf("waiting until %s: %s rebooted more instances within their verify deadline than one run takes over to verify, so none of the region is repaired before then",
			res.NotBefore.UTC().Format(time.RFC3339), strings.Join(runs, ", "))
		workflow.SetCurrentDetails(ctx, r.st.Waiting)
		r.warn(r.st.Waiting)
		timer := workflow.NewTimerWithOptions(ctx, res.NotBefore.Sub(workflow.Now(ctx)), workflow.TimerOptions{Summary: r.st.Waiting})
		if err := timer.Get(ctx, nil); err == nil {
			r.st.Unverified = false // waited out: every deadline has passed
		}
		r.st.Waiting = ""
		return nil
	}
	r.st.Unverified = false // read: they are in Verifying, decided by polls
	known := make(map[string]bool, len(r.st.Verifying))
	for _, v := range r.st.Verifying {
		known[v.ID] = true
	}
	for _, in := range res.Instances {
		if known[in.ID] {
			continue
		}
		known[in.ID] = true
		t := in.VerifyTarget
		t.Action = strings.TrimPrefix(t.Action+", ", ", ") + fmt.Sprintf("by batch %d of %s", in.Batch, in.WorkflowID)
		// Released: its reboot is another run's, long sent; it does not
		// take a place of this run's blast radius.
		r.st.Verifying = append(r.st.Verifying, Verifying{VerifyTarget: t, Deadline: in.Deadline, Released: true, From: in.WorkflowID})
		r.st.Inherited++
	}
	msg := fmt.Sprintf("verifying %d instances that %s rebooted (or may have) within their verify deadline and never verified; they are not repaired before their deadline",
		r.st.Inherited, strings.Join(runs, ", "))
	r.warn(msg)
	workflow.GetLogger(ctx).Info("took over instances to verify", "Instances", r.st.Inherited, "From", runs)
	return nil
}

// release gives the region back. It runs on a disconnected context so a
// cancelled run releases too; a run that is terminated cannot, and the next
// run takes the region over once it sees that one and its batches closed.
// Verified says every reboot this run sent or inherited has been verified.
func (r *run) release(ctx workflow.Context) {
	var ga *guard.Activities
	if !r.st.Locked {
		return
	}
	err := workflow.ExecuteActivity(guardActivity(ctx, "give "+r.in.Region+" back to its guard"), ga.ReleaseRegion,
		guard.ReleaseInput{Input: r.guardInput(ctx), WorkflowID: r.runID, Execution: r.st.Lease,
			Verified: r.verified()}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("could not release the region; the next run will take it over", "Error", err)
		return
	}
	r.st.Locked = false
}

// verified says whether every reboot this run sent or inherited has been
// decided by a poll that read the agent: only then may the guard forget
// the reboots of the runs it took over. Nothing left to verify is not
// enough (engine 4): a cancel during an inherited wait, an account error,
// polls that failed past a deadline or a batch that failed clear the list
// without anyone having looked.
func (r *run) verified() bool {
	done := r.fenced() && len(r.st.Verifying) == 0 && len(r.inFlight) == 0
	if r.strict() {
		return done && !r.st.Unverified
	}
	return done
}

// fence tells the guard, before a round of batches starts, which batches
// this run may now have open, and confirms it still holds the region
// (engine 3). It registers a few batch numbers ahead, as many as could
// start now. A refusal stops the run: it no longer holds the region.
//
// An engine 4 run fences again whenever the next batch's number is past
// what the guard knows, so no batch starts outside the fenced range
// whatever the canary, batch, blast radius, plan or retune sizes make the
// round; and it names the first number it will start (Next), so the guard
// can refuse a number used before.
func (r *run) fence(ctx workflow.Context) bool {
	var ga *guard.Activities
	if !r.fenced() {
		return true
	}
	if r.roundFenced && (!r.strict() || r.st.NextBatch <= r.st.Fenced) {
		return true
	}
	ahead := max(1, min(maxFenceAhead, r.room()))
	to := r.st.NextBatch + ahead - 1
	req := guard.FenceRequest{WorkflowID: r.runID, Execution: r.st.Lease, Current: workflow.GetInfo(ctx).WorkflowExecution.RunID,
		Batches: guard.BatchRange{From: r.openFrom(), To: to}}
	if r.strict() {
		req.Next = r.st.NextBatch
	}
	var res guard.FenceResult
	err := workflow.ExecuteLocalActivity(fenceActivity(ctx), ga.FenceBatches, guard.FenceInput{Input: r.guardInput(ctx),
		Fence: req}).Get(ctx, &res)
	switch {
	case err != nil:
		r.lost(ctx, "could not confirm with the guard that this run still holds the region: "+errText(err))
		return false
	case !res.OK:
		r.lost(ctx, res.Reason)
		return false
	}
	r.st.Fenced = max(r.st.Fenced, to)
	r.roundFenced = true
	return true
}

// maxFenceAhead bounds the batch numbers one fence registers.
const maxFenceAhead = 50

// lost stops a run that no longer holds its region: it starts nothing
// more and does not release what it does not hold.
func (r *run) lost(ctx workflow.Context, why string) {
	r.st.Locked = false
	r.stop(ctx, "stopped: lost the region "+r.in.Region+": "+why, "fleetmend.RegionLost", ReasonRegionLost)
}

// openFrom is the lowest batch number of this run that may still be open
// or have instances not verified yet.
func (r *run) openFrom() int {
	from := r.st.NextBatch
	for _, f := range r.inFlight {
		from = min(from, f.number)
	}
	for _, v := range r.st.Verifying {
		if v.From == "" && v.Batch > 0 {
			from = min(from, v.Batch)
		}
	}
	return from
}

func (r *run) guardInput(ctx workflow.Context) guard.Input {
	return guard.Input{Region: r.in.Region, TaskQueue: workflow.GetInfo(ctx).TaskQueueName}
}

// applyLedger reads the region's ledger of failed repairs: queued
// instances with QuarantineAfter failures within the window are
// quarantined (reported with their history, not touched); the others with
// a record are remembered, to clear the record if this run repairs them.
func (r *run) applyLedger(ctx workflow.Context) error {
	var ga *guard.Activities
	if len(r.st.Queue) == 0 {
		return nil
	}
	var view guard.LedgerView
	err := workflow.ExecuteActivity(guardActivity(ctx, "read the quarantine ledger of "+r.in.Region), ga.ReadLedger,
		guard.LedgerInput{Input: r.guardInput(ctx), After: r.in.QuarantineAfter, Window: r.in.QuarantineWindow.D()}).Get(ctx, &view)
	if err != nil {
		return err
	}
	records := make(map[string]guard.InstanceRecord, len(view.Records))
	for _, rec := range view.Records {
		records[rec.InstanceID] = rec
	}
	kept := r.st.Queue[:0]
	for _, c := range r.st.Queue {
		rec, ok := records[c.ID]
		switch {
		case !ok:
			kept = append(kept, c)
		case rec.Quarantined:
			r.addRow(Row{InstanceID: c.ID, Problem: c.Problem, Outcome: OutcomeQuarantined, Detail: quarantineDetail(rec, r.in)})
		default:
			if len(r.st.HadRecords) < maxHadRecords {
				// Beyond the bound a repaired instance's old record stays
				// until it leaves the window (it can only quarantine it
				// sooner if it fails again).
				r.st.HadRecords = append(r.st.HadRecords, c.ID)
			}
			kept = append(kept, c)
		}
	}
	r.st.Queue = kept
	return nil
}

func quarantineDetail(rec guard.InstanceRecord, in RegionInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d failed repairs within %s:", len(rec.Attempts), in.QuarantineWindow)
	for i, a := range rec.Attempts {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s %s", a.At.UTC().Format(time.RFC3339), a.Reason)
		if a.WorkflowID != "" {
			fmt.Fprintf(&b, " by %s", a.WorkflowID)
		}
	}
	fmt.Fprintf(&b, ". Left alone until %s, or `starter quarantine clear --region %s --instance %s`",
		rec.Until.UTC().Format(time.RFC3339), in.Region, rec.InstanceID)
	return b.String()
}

// shortCircuit stops the run before it touches anything when the share of
// unhealthy agents among Running instances, in the region or in a zone, is
// above the threshold: that smells of a systemic cause, and rebooting
// would not fix it. An override (recorded) lets one run go ahead.
//
// A run given instance IDs is the operator's choice and skips it, but an
// apply (engine 4) does not: a plan reviewed before an outage must not be
// applied into it. Its own scan is of the planned instances, so it judges
// the region's health measured for it (measureRegion).
func (r *run) shortCircuit() {
	zones := r.st.Zones
	switch {
	case r.in.Plan != nil && r.strict():
		zones = r.st.RegionZones
	case len(r.in.InstanceIDs) > 0:
		return
	}
	over := r.overThreshold(zones)
	if over == "" {
		return
	}
	if r.in.OverrideMaxUnhealthy != "" {
		r.warn(over + "; repairing anyway, overridden: " + r.in.OverrideMaxUnhealthy)
		return
	}
	why := "short-circuited: " + over + ": a systemic cause (network, DNS, a bad image) is more likely than broken agents, so nothing was touched; " +
		"fix the cause, or repair anyway for one run with --override-max-unhealthy <reason>"
	if r.in.DryRun {
		r.warn("a real run would stop here: " + why)
		r.st.WouldStop = why
		return
	}
	r.st.Stopped = why
	r.st.Phase = "short-circuited"
	r.notAttempted(ReasonShortCircuit, why)
}

// overThreshold describes the worst share above the threshold, region
// first, or returns "".
func (r *run) overThreshold(zones []activities.ZoneCount) string {
	limit := r.in.MaxUnhealthyPercent
	running, unhealthy := 0, 0
	for _, z := range zones {
		running += z.Running
		unhealthy += z.Unhealthy
	}
	above := func(u, n int) bool { return n > 0 && u*100 > limit*n }
	if above(unhealthy, running) {
		return fmt.Sprintf("%d%% of the Running instances of %s (%d of %d) have an unhealthy agent, above max_unhealthy_percent %d",
			unhealthy*100/running, r.in.Region, unhealthy, running, limit)
	}
	for _, z := range zones {
		if z.Running >= MinZoneForShortCircuit && above(z.Unhealthy, z.Running) {
			return fmt.Sprintf("%d%% of the Running instances of zone %s (%d of %d) have an unhealthy agent, above max_unhealthy_percent %d",
				z.Unhealthy*100/z.Running, z.Zone, z.Unhealthy, z.Running, limit)
		}
	}
	return ""
}

// resolveLimits turns the blast radius and the error budget into counts,
// now that the scan knows the Running instances and the queue.
func (r *run) resolveLimits() {
	r.st.Controls.BlastRadius = r.blastRadius()
	budget, _ := ParseAmount("error_budget", r.in.ErrorBudget, 0, MaxBlastRadius)
	r.st.BudgetLimit = budget.Of(len(r.st.Queue))
}

// blastRadius resolves the current spec against the Running instances.
// The default share has a floor, so a small region still repairs a batch
// at a time; a share an operator gives is taken as given.
func (r *run) blastRadius() int {
	running := 0
	for _, z := range r.st.Zones {
		running += z.Running
	}
	spec := r.st.Controls.BlastRadiusSpec
	if spec == "" {
		return max(MinDefaultBlastRadius, mustAmount(DefaultBlastRadius).Of(running))
	}
	return max(1, mustAmount(spec).Of(running))
}

func mustAmount(s string) Amount {
	a, err := ParseAmount("blast_radius", s, 1, MaxBlastRadius)
	if err != nil {
		return Amount{Count: 1} // validated on the way in; the smallest radius if not
	}
	return a
}
