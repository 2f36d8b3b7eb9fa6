package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"
)

// Operator Updates: pause, resume, abort, retune (set) and unlock a run
// while it goes, each validated before it is accepted and recorded with
// who gave it and why.

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
