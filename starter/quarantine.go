package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/workflows"
)

// quarantineCommand lists and clears a region's quarantine: the instances
// whose repair failed QuarantineAfter times within the window, which runs
// leave alone. The ledger lives in the region's guard workflow.
func (a *app) quarantineCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quarantine",
		Short: "List or clear the instances a region's runs leave alone after repeated failed repairs",
		Long: `An instance whose repair failed --quarantine-after times (default 2) within --quarantine-window
(default 168h) is quarantined: runs report it and do not touch it until the window passes, or
until it is cleared here. The ledger is kept by the region's guard workflow
(fleetmend/<region>/guard), so it is in Temporal and its history.`,
	}
	cmd.AddCommand(a.quarantineListCommand(), a.quarantineClearCommand())
	return cmd
}

func (a *app) quarantineListCommand() *cobra.Command {
	var region string
	var after int
	var window time.Duration
	var all bool
	cmd := &cobra.Command{
		Use:   "list --region R",
		Short: "The quarantined instances of a region, with their failed repairs",
		Example: `  starter quarantine list --region cn-hangzhou
  starter quarantine list --region cn-hangzhou --all --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := (scheduleTarget{region: region}).validate(); err != nil {
				return err
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			// A region no run has acted on has nothing quarantined.
			view, err := (guard.Client{Temporal: c}).Ledger(ctx, region, a.now().UTC(), after, window)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			var recs []guard.InstanceRecord
			for _, r := range view.Records {
				if all || r.Quarantined {
					recs = append(recs, r)
				}
			}
			return writeList(a, recs, "no instance of "+region+" is quarantined",
				"INSTANCE\tQUARANTINED\tUNTIL\tFAILED REPAIRS", func(r guard.InstanceRecord) string {
					until := "-"
					if r.Quarantined {
						until = r.Until.UTC().Format(time.RFC3339)
					}
					var fails []string
					for _, at := range r.Attempts {
						f := at.At.UTC().Format(time.RFC3339) + " " + at.Reason
						if at.WorkflowID != "" {
							f += " (" + at.WorkflowID + ")" // the guard keeps the run of the last failure
						}
						fails = append(fails, f)
					}
					return fmt.Sprintf("%s\t%v\t%s\t%s", r.InstanceID, r.Quarantined, until, strings.Join(fails, "; "))
				})
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "ECS region ID (required)")
	cmd.Flags().BoolVar(&all, "all", false, "also list instances with failed repairs that are not (yet) quarantined")
	numVar(cmd.Flags(), numflag.NewInt(&after, "quarantine-after", workflows.DefaultQuarantineAfter, numflag.Range[int]{Min: 1, Max: workflows.MaxQuarantineAfter}),
		"failed repairs within the window that quarantine an instance (as the runs use it)")
	numVar(cmd.Flags(), numflag.NewDuration(&window, "quarantine-window", workflows.DefaultQuarantineWindow,
		numflag.Range[time.Duration]{Min: workflows.MinQuarantineWindow, Max: workflows.MaxQuarantineWindow}),
		"the window failed repairs count in")
	return cmd
}

func (a *app) quarantineClearCommand() *cobra.Command {
	var region, reason string
	var instances []string
	var all bool
	cmd := &cobra.Command{
		Use:   "clear --region R (--instance ID ... | --all) --reason <why>",
		Short: "Forget the failed repairs of instances, so the next run tries them again",
		Example: `  starter quarantine clear --region cn-hangzhou --instance i-bp1aaaaaaaaaaaaaaaaa --reason "image fixed"
  starter quarantine clear --region cn-hangzhou --all --reason "agent package rolled back"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := (scheduleTarget{region: region}).validate(); err != nil {
				return err
			}
			if all == (len(instances) > 0) {
				return usageErr("give --instance (repeatable) or --all")
			}
			if err := ecs.ValidateInstanceIDs("--instance", instances); err != nil {
				return usageErr("%v", err)
			}
			if strings.TrimSpace(reason) == "" {
				return usageErr("--reason is required: say why the quarantine is lifted (it is kept in the guard's history)")
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			// A region no run has acted on has nothing to clear.
			res, err := (guard.Client{Temporal: c}).Clear(ctx, region, guard.ClearRequest{InstanceIDs: instances, By: a.username(), Reason: reason})
			if err != nil {
				return usageErr("clear the quarantine of %s: %s", region, updateErrText(err))
			}
			if a.jsonOut {
				if res.Cleared == nil {
					res.Cleared = []string{}
				}
				return writeJSON(a.out, res)
			}
			if len(res.Cleared) == 0 {
				fmt.Fprintf(a.out, "nothing to clear in %s\n", region)
				return nil
			}
			fmt.Fprintf(a.out, "cleared %d instances of %s: %s; the next run tries them again\n", len(res.Cleared), region, strings.Join(res.Cleared, ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "ECS region ID (required)")
	cmd.Flags().StringArrayVar(&instances, "instance", nil, "instance ID to clear (repeatable)")
	cmd.Flags().BoolVar(&all, "all", false, "clear every instance of the region")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; kept in the guard's history)")
	return cmd
}
