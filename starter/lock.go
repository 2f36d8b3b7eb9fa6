package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/workflows"
)

// regionLock is what `status --region` shows of a region's lock: its
// holder as the guard knows it, the holder's own state and progress, the
// holder's batches still open, and the batches of closed runs whose
// reboots the next holder verifies first.
type regionLock struct {
	Region       string              `json:"region"`
	Free         bool                `json:"free"`
	Holder       *guard.Holder       `json:"holder,omitempty"`
	HolderStatus string              `json:"holder_status,omitempty"`
	Progress     *workflows.Progress `json:"progress,omitempty"`
	ProgressErr  string              `json:"progress_error,omitempty"`
	OpenBatches  []string            `json:"open_batches,omitempty"`
	Reboots      []guard.RebootRef   `json:"reboots,omitempty"`
	Recovering   bool                `json:"recovering,omitempty"`
	Log          []string            `json:"log,omitempty"`
}

// readLock reads a region's lock.
func (a *app) readLock(ctx context.Context, c client.Client, region string) (regionLock, error) {
	lock := regionLock{Region: region, Free: true}
	gc := guard.Client{Temporal: c}
	view, err := gc.Holder(ctx, region) // a region no run has acted on is free
	if err != nil {
		return lock, &exitError{code: exitUsage, err: fmt.Errorf("%w (is a fleetmend worker running?)", err)}
	}
	lock.Reboots, lock.Recovering, lock.Log = view.Reboots, view.Recovering, view.Log
	if view.Holder == nil {
		return lock, nil
	}
	h := *view.Holder
	lock.Free, lock.Holder = false, &h
	if d, err := c.DescribeWorkflowExecution(ctx, h.WorkflowID, ""); err == nil {
		lock.HolderStatus = statusName(d.GetWorkflowExecutionInfo().GetStatus())
	} else {
		lock.HolderStatus = "not found"
	}
	if lock.HolderStatus == "running" {
		qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if pv, err := c.QueryWorkflow(qctx, h.WorkflowID, "", workflows.QueryProgress); err != nil {
			lock.ProgressErr = strings.Join(strings.Fields(err.Error()), " ")
		} else {
			var p workflows.Progress
			if err := pv.Get(&p); err == nil {
				lock.Progress = &p
			}
		}
	}
	open, err := gc.OpenBatches(ctx, h.WorkflowID, h.Batches)
	if err != nil {
		return lock, &exitError{code: exitUsage, err: err}
	}
	lock.OpenBatches = open
	return lock, nil
}

// printLock writes a region's lock as text.
func printLock(w io.Writer, lock regionLock, now time.Time) {
	if lock.Free {
		fmt.Fprintf(w, "region %s: free (no run holds it)\n", lock.Region)
	} else {
		h := lock.Holder
		by := h.Kind
		if h.StartedBy != "" {
			by += ", started by " + h.StartedBy
		}
		fmt.Fprintf(w, "region %s: held by %s (%s) since %s (%s)\n", lock.Region, h.WorkflowID, by,
			h.Since.UTC().Format(time.RFC3339), now.Sub(h.Since).Round(time.Second))
		fmt.Fprintf(w, "  holder: %s", lock.HolderStatus)
		switch p := lock.Progress; {
		case p != nil:
			fmt.Fprintf(w, ", phase %s", p.Phase)
			if !p.LastProgressAt.IsZero() {
				fmt.Fprintf(w, ", last progress %s (%s ago)", p.LastProgressAt.UTC().Format(time.RFC3339), now.Sub(p.LastProgressAt).Round(time.Second))
			}
			if p.Paused {
				fmt.Fprint(w, ", paused")
			}
			if p.Waiting != "" {
				fmt.Fprintf(w, "; %s", p.Waiting)
			}
		case lock.ProgressErr != "":
			fmt.Fprintf(w, ", does not answer its progress query (%s): if its workflow tasks fail, `starter unlock --force` frees the region", lock.ProgressErr)
		case lock.HolderStatus != "running":
			fmt.Fprint(w, ": closed without releasing the region; the next run takes it over once its open batches close")
		}
		fmt.Fprintln(w)
		if len(lock.OpenBatches) > 0 {
			fmt.Fprintf(w, "  open batches (%d): %s\n", len(lock.OpenBatches), strings.Join(lock.OpenBatches, ", "))
		} else {
			fmt.Fprintln(w, "  open batches: none")
		}
	}
	for _, r := range lock.Reboots {
		fmt.Fprintf(w, "  to verify before repairing: batches %d..%d of %s, until %s\n", r.Batches.From, r.Batches.To, r.WorkflowID, r.Until.UTC().Format(time.RFC3339))
	}
	if lock.Recovering {
		fmt.Fprintln(w, "  the guard is recovering the state of the guard it replaces")
	}
	const lastLines = 5
	if n := len(lock.Log); n > 0 {
		fmt.Fprintln(w, "  guard log:")
		for _, l := range lock.Log[max(0, n-lastLines):] {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
}

// unlockCommand frees a region whose holder is stuck or forgotten.
func (a *app) unlockCommand() *cobra.Command {
	var region, reason string
	var force bool
	cmd := &cobra.Command{
		Use:   "unlock --region R --reason <why> [--force]",
		Short: "Free a region whose run is stuck or forgotten, the safe way",
		Long: `Free a region held by a run that is stuck (paused and forgotten, or making no progress).
Without --force the holder is told to stop (an "unlock" Update): it starts no new batch, its
batches in flight (resumed if paused) finish their install and reboot, every reboot is
verified, then it releases the region and closes. With --force the holder is terminated at
once (for a holder whose workflow tasks fail after a bad deploy); its open batches are told
to act no further, and the region stays held until they close: the next run then takes it
over and verifies what the holder rebooted. Who unlocked it and why go into the guard's log
and the run's history.`,
		Example: `  starter unlock --region cn-hangzhou --reason "INC-4711: run paused since Friday"
  starter unlock --region cn-hangzhou --force --reason "holder's workflow tasks fail after deploy 1.4.2"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := (scheduleTarget{region: region}).validate(); err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return usageErr("--reason is required: say why (it is kept in the guard's log and the run's history)")
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			return a.unlock(cmd.Context(), c, region, reason, force)
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "ECS region ID (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; kept in the guard's log and the run's history)")
	cmd.Flags().BoolVar(&force, "force", false, "terminate the holder at once (its open batches act no further; the region frees when they close)")
	return cmd
}

func (a *app) unlock(ctx context.Context, c client.Client, region, reason string, force bool) error {
	lock, err := a.readLock(ctx, c, region)
	if err != nil {
		return err
	}
	if lock.Free {
		fmt.Fprintf(a.out, "region %s is free: nothing to unlock\n", region)
		return nil
	}
	h := lock.Holder
	by := a.username()
	var did []string
	switch {
	case lock.HolderStatus == "running" && !force:
		uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		uh, err := c.UpdateWorkflow(uctx, client.UpdateWorkflowOptions{WorkflowID: h.WorkflowID, UpdateName: workflows.UpdateUnlock,
			Args: []any{workflows.ControlRequest{Reason: reason, By: by}}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = uh.Get(uctx, nil)
		}
		if err != nil {
			return usageErr("%s did not take the unlock: %s; if its workflow tasks fail, use --force", h.WorkflowID, updateErrText(err))
		}
		did = append(did, fmt.Sprintf("%s starts no new batch; its %d open batches finish their reboot and are verified; the region is free when it closes", h.WorkflowID, len(lock.OpenBatches)))
	case lock.HolderStatus == "running":
		a.tellBatches(ctx, c, lock.OpenBatches, workflows.BatchControl{Aborted: true, Reason: "unlock --force by " + by + ": " + reason})
		if err := c.TerminateWorkflow(ctx, h.WorkflowID, "", "unlock --force by "+by+": "+reason); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("terminate %s: %w", h.WorkflowID, err)}
		}
		did = append(did, fmt.Sprintf("terminated %s; its %d open batches act no further; the region is free when they close (the next run then verifies what it rebooted)", h.WorkflowID, len(lock.OpenBatches)))
	default:
		// Closed already: what holds the region is its open batches. A
		// paused one would wait for ever for the run that paused it.
		ctl := workflows.BatchControl{Reason: "unlock by " + by + ": " + reason}
		if force {
			ctl.Aborted = true
		}
		a.tellBatches(ctx, c, lock.OpenBatches, ctl)
		what := "resumed: they finish their reboot"
		if force {
			what = "told to act no further"
		}
		did = append(did, fmt.Sprintf("%s is %s; its %d open batches were %s; the next run takes the region over when they close", h.WorkflowID, lock.HolderStatus, len(lock.OpenBatches), what))
	}
	note := "unlock"
	if force {
		note += " --force"
	}
	if err := a.noteGuard(ctx, c, region, by, note+": "+reason+" ("+strings.Join(did, "; ")+")"); err != nil {
		return err
	}
	if a.jsonOut {
		return writeJSON(a.out, struct {
			Region string   `json:"region"`
			Holder string   `json:"holder"`
			Done   []string `json:"done"`
		}{region, h.WorkflowID, did})
	}
	for _, d := range did {
		fmt.Fprintln(a.out, d)
	}
	return nil
}

// tellBatches signals batch control to open batches; a batch that closed
// meanwhile cannot be told and needs not be.
func (a *app) tellBatches(ctx context.Context, c client.Client, ids []string, ctl workflows.BatchControl) {
	for _, id := range ids {
		if err := c.SignalWorkflow(ctx, id, "", workflows.SignalBatchControl, ctl); err != nil {
			fmt.Fprintf(a.errOut, "could not tell %s: %v\n", id, err)
		}
	}
}

// noteGuard writes who unlocked the region and why in the guard's log.
func (a *app) noteGuard(ctx context.Context, c client.Client, region, by, note string) error {
	const maxNote = 500
	if len(note) > maxNote {
		note = strings.ToValidUTF8(note[:maxNote-3], "") + "..."
	}
	if err := (guard.Client{Temporal: c}).Note(ctx, region, guard.NoteRequest{By: by, Note: note}); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("note the unlock in the guard of %s: %w", region, err)}
	}
	return nil
}
