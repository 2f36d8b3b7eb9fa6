package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
)

// Update names of a run: an operator pauses, resumes, aborts or retunes a
// run while it goes. Each takes a reason and who gives it, is validated
// before it is accepted, and answers with the run's progress afterwards.
const (
	UpdatePause  = "pause"
	UpdateResume = "resume"
	UpdateAbort  = "abort"
	UpdateSet    = "set"
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
	default:
		r.st.Phase = "stopped"
	}
	workflow.SetCurrentDetails(ctx, why)
}

// checkBudget stops the run once its failures exceed the error budget.
func (r *run) checkBudget(ctx workflow.Context) {
	f := r.st.Counts.BudgetFailures()
	if r.st.Stopped != "" || f <= r.st.BudgetLimit {
		return
	}
	r.stop(ctx, fmt.Sprintf("stopped: error budget exhausted (%d failed of %d attempted; budget %s = %d)",
		f, r.attempted(), r.in.ErrorBudget, r.st.BudgetLimit), "", ReasonErrorBudget)
}

// attempted is how many instances the run has handed to batches.
func (r *run) attempted() int { return r.st.Attempted }

// acquire asks the region's guard for the region; it returns the holder
// when another run has it.
func (r *run) acquire(ctx workflow.Context) (string, error) {
	r.st.Phase = "acquiring"
	var a *activities.Activities
	var res activities.AcquireResult
	err := workflow.ExecuteActivity(guardActivity(ctx, "ask the guard of "+r.in.Region+" for the region (one acting run at a time)"), a.AcquireRegion,
		activities.AcquireInput{Region: r.in.Region, TaskQueue: workflow.GetInfo(ctx).TaskQueueName,
			Request: activities.AcquireRequest{RunID: r.runID, Kind: r.in.Kind, StartedBy: r.in.StartedBy}}).Get(ctx, &res)
	if err != nil {
		return "", err
	}
	if !res.Granted {
		return res.Holder.RunID, nil
	}
	r.st.Locked = true
	if res.TookOver != "" {
		r.warn("took the region over from " + res.TookOver + ", which closed without releasing it")
	}
	return "", nil
}

// release gives the region back. It runs on a disconnected context so a
// cancelled run releases too; a run that is terminated cannot, and the next
// run takes the region over once it sees that one closed.
func (r *run) release(ctx workflow.Context) {
	if !r.st.Locked {
		return
	}
	var a *activities.Activities
	err := workflow.ExecuteActivity(guardActivity(ctx, "give "+r.in.Region+" back to its guard"), a.ReleaseRegion,
		activities.ReleaseInput{GuardInput: r.guardInput(ctx), RunID: r.runID}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("could not release the region; the next run will take it over", "Error", err)
		return
	}
	r.st.Locked = false
}

func (r *run) guardInput(ctx workflow.Context) activities.GuardInput {
	return activities.GuardInput{Region: r.in.Region, TaskQueue: workflow.GetInfo(ctx).TaskQueueName}
}

// applyLedger reads the region's ledger of failed repairs: queued
// instances with QuarantineAfter failures within the window are
// quarantined (reported with their history, not touched); the others with
// a record are remembered, to clear the record if this run repairs them.
func (r *run) applyLedger(ctx workflow.Context) error {
	if len(r.st.Queue) == 0 {
		return nil
	}
	var a *activities.Activities
	var view activities.LedgerView
	err := workflow.ExecuteActivity(guardActivity(ctx, "read the quarantine ledger of "+r.in.Region), a.ReadLedger,
		activities.LedgerInput{GuardInput: r.guardInput(ctx), After: r.in.QuarantineAfter, Window: r.in.QuarantineWindow.D()}).Get(ctx, &view)
	if err != nil {
		return err
	}
	records := make(map[string]activities.InstanceRecord, len(view.Records))
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
			r.st.HadRecords = append(r.st.HadRecords, c.ID)
			kept = append(kept, c)
		}
	}
	r.st.Queue = kept
	return nil
}

func quarantineDetail(rec activities.InstanceRecord, in RegionInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d failed repairs within %s:", len(rec.Attempts), in.QuarantineWindow)
	for i, a := range rec.Attempts {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s %s by %s", a.At.UTC().Format(time.RFC3339), a.Reason, a.RunID)
	}
	fmt.Fprintf(&b, ". Left alone until %s, or `starter quarantine clear --region %s --instance %s`",
		rec.Until.UTC().Format(time.RFC3339), in.Region, rec.InstanceID)
	return b.String()
}

// shortCircuit stops the run before it touches anything when the share of
// unhealthy agents among Running instances, in the region or in a zone, is
// above the threshold: that smells of a systemic cause, and rebooting
// would not fix it. An override (recorded) lets one run go ahead.
func (r *run) shortCircuit() {
	if len(r.in.InstanceIDs) > 0 {
		return
	}
	over := r.overThreshold()
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
		return
	}
	r.st.Stopped = why
	r.st.Phase = "short-circuited"
	r.notAttempted(ReasonShortCircuit, why)
}

// overThreshold describes the worst share above the threshold, region
// first, or returns "".
func (r *run) overThreshold() string {
	limit := r.in.MaxUnhealthyPercent
	running, unhealthy := 0, 0
	for _, z := range r.st.Zones {
		running += z.Running
		unhealthy += z.Unhealthy
	}
	above := func(u, n int) bool { return n > 0 && u*100 > limit*n }
	if above(unhealthy, running) {
		return fmt.Sprintf("%d%% of the Running instances of %s (%d of %d) have an unhealthy agent, above max_unhealthy_percent %d",
			unhealthy*100/running, r.in.Region, unhealthy, running, limit)
	}
	for _, z := range r.st.Zones {
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
