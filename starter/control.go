package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/internal/render"
	"github.com/fleetmend/fleetmend/workflows"
)

// controlCommands are pause, resume and abort: Temporal Updates of a run,
// validated by the run before they are accepted, answered with the run's
// state after them. The reason and who gave it go into the run's history
// (the update's input) and its report.
func (a *app) controlCommands() []*cobra.Command {
	specs := []struct {
		use, short, long, example string
		update                    string
	}{
		{"pause", "Pause a run: no new install or reboot starts until it is resumed",
			`Pause a run. No new batch starts, and the batches in flight wait before their next install or
reboot; reboots already sent are still verified. The run stays paused until resumed (or aborted).`,
			`  starter pause fleetmend/cn-hangzhou/manual-20261122T101500Z --reason "INC-4711: change freeze"`, workflows.UpdatePause},
		{"resume", "Resume a paused run", "Resume a paused run: batches start again within the blast radius.",
			`  starter resume fleetmend/cn-hangzhou/manual-20261122T101500Z --reason "freeze over"`, workflows.UpdateResume},
		{"abort", "Abort a run: nothing more is installed or rebooted; reboots already sent are verified",
			`Abort a run. No new batch starts; batches in flight install and reboot nothing more; every
reboot already sent is verified before the run closes. What was not attempted is reported so,
with the reason.`,
			`  starter abort fleetmend/cn-hangzhou/manual-20261122T101500Z --reason "wrong region"`, workflows.UpdateAbort},
	}
	var cmds []*cobra.Command
	for _, sp := range specs {
		var reason string
		cmd := &cobra.Command{
			Use: sp.use + " <run-id> --reason <why>", Short: sp.short, Long: sp.long, Example: sp.example,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if _, err := runIDArg(args); err != nil {
					return err
				}
				if strings.TrimSpace(reason) == "" {
					return usageErr("--reason is required: say why (it is kept in the run's history and report)")
				}
				return a.update(cmd, args[0], sp.update, workflows.ControlRequest{Reason: reason, By: a.username()})
			},
		}
		cmd.Flags().StringVar(&reason, "reason", "", "why (required; kept in the run's history and report)")
		cmds = append(cmds, cmd)
	}
	return cmds
}

// setCommand retunes a run while it goes.
func (a *app) setCommand() *cobra.Command {
	var reason, blastRadius string
	var batches int
	cmd := &cobra.Command{
		Use:   "set <run-id> [--blast-radius N|P%] [--concurrent-batches N] --reason <why>",
		Short: "Retune a run while it goes: its blast radius and batches in flight",
		Long: `Change how much a run repairs at once: --blast-radius is the most instances in repair at once (a
count, or a share of the region's Running instances), --concurrent-batches the most batches in
flight (0: as many as the blast radius allows). The new values apply to the next batch;
` + "`starter status`" + ` shows them.`,
		Example: `  starter set fleetmend/cn-hangzhou/manual-20261122T101500Z --blast-radius 10% --reason "night window, more capacity"
  starter set fleetmend/cn-hangzhou/manual-20261122T101500Z --concurrent-batches 1 --reason "slow down: API quota"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := runIDArg(args); err != nil {
				return err
			}
			req := workflows.SetRequest{BlastRadius: blastRadius, Reason: reason, By: a.username()}
			if cmd.Flags().Changed("concurrent-batches") {
				req.ConcurrentBatches = &batches
			}
			if req.BlastRadius == "" && req.ConcurrentBatches == nil {
				return usageErr("nothing to set: give --blast-radius and/or --concurrent-batches")
			}
			if blastRadius != "" {
				if _, err := workflows.ParseAmount("--blast-radius", blastRadius, 1, workflows.MaxBlastRadius); err != nil {
					return usageErr("%v", err)
				}
			}
			if strings.TrimSpace(reason) == "" {
				return usageErr("--reason is required: say why (it is kept in the run's history and report)")
			}
			return a.update(cmd, args[0], workflows.UpdateSet, req)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; kept in the run's history and report)")
	cmd.Flags().StringVar(&blastRadius, "blast-radius", "", "most instances in repair at once: a count (40) or a share of the region's Running instances (10%)")
	numVar(cmd.Flags(), numflag.NewInt(&batches, "concurrent-batches", 0, numflag.Range[int]{Min: 0, Max: workflows.MaxConcurrentBatches}),
		"most batches in flight (0: as many as the blast radius allows)")
	return cmd
}

// update sends one control update to a run and prints its answer.
func (a *app) update(cmd *cobra.Command, id, name string, arg any) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if _, err := describeRun(ctx, c, id); err != nil {
		return err
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		var p workflows.Progress
		if err = h.Get(ctx, &p); err == nil {
			if a.jsonOut {
				return writeJSON(a.out, p)
			}
			fmt.Fprintf(a.out, "%s: %s\n%s\n", id, name+" accepted", render.ProgressLine(p))
			return nil
		}
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return usageErr("run %s is not running", id)
	}
	return usageErr("%s refused by %s: %s", name, id, updateErrText(err))
}

// updateErrText is the run's own reason for refusing an update: its
// validator's message, without the SDK's wrapping.
func updateErrText(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}
