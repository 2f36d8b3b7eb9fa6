package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/internal/render"
	"github.com/fleetmend/fleetmend/workflows"
)

// describeRun says whether a run exists and whether it is still running.
func describeRun(ctx context.Context, c client.Client, id string) (enumspb.WorkflowExecutionStatus, error) {
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return 0, usageErr("no run with ID %s", id)
		}
		return 0, &exitError{code: exitUsage, err: fmt.Errorf("describe %s: %w", id, err)}
	}
	return d.GetWorkflowExecutionInfo().GetStatus(), nil
}

// statusName is a workflow status as the CLI shows it and `list --status`
// takes it: running, completed, timed-out, continued-as-new, ...
func statusName(s enumspb.WorkflowExecutionStatus) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_")), "_", "-")
}

func (a *app) statusCommand() *cobra.Command {
	var region string
	cmd := &cobra.Command{
		Use:   "status <run-id> | --region R",
		Short: "Show a run's live progress, or who holds a region",
		Long: `Ask a run for its progress (the "progress" query): instances scanned of the total, unhealthy
found, batches done and in flight, and the outcome counts so far. Works while the run is going
and after it has closed (as long as a worker is up to answer).

With --region, show the region's lock instead: the run that holds it, since when, its last
progress, its open batches, and the batches of closed runs whose reboots are verified before
their instances are repaired again.`,
		Example: `  starter status fleetmend/cn-hangzhou/manual-20261122T101500Z
  starter status fleetmend/cn-hangzhou/manual-20261122T101500Z --json | jq .counts
  starter status --region cn-hangzhou`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if region != "" {
				if len(args) > 0 {
					return usageErr("give a run ID or --region, not both")
				}
				if err := (scheduleTarget{region: region}).validate(); err != nil {
					return err
				}
				c, err := a.connect()
				if err != nil {
					return err
				}
				lock, err := a.readLock(cmd.Context(), c, region)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return writeJSON(a.out, lock)
				}
				printLock(a.out, lock, a.now())
				return nil
			}
			id, err := runIDArg(args)
			if err != nil {
				return err
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			fleet, status, err := isFleet(ctx, c, id)
			if err != nil {
				return err
			}
			if fleet {
				return a.fleetStatus(ctx, c, id, status)
			}
			v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("query progress of %s (is a fleetmend worker running?): %w", id, err)}
			}
			var p workflows.Progress
			if err := v.Get(&p); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("decode progress: %w", err)}
			}
			if a.jsonOut {
				return writeJSON(a.out, struct {
					Status string `json:"status"`
					workflows.Progress
				}{statusName(status), p})
			}
			fmt.Fprintf(a.out, "%s: %s\n%s\n", id, statusName(status), render.ProgressLine(p))
			return nil
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "show who holds this region instead of a run's progress")
	return cmd
}

// runIDArg is the one run ID a command takes, refused when missing or blank.
func runIDArg(args []string) (string, error) {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return "", usageErr("a run ID is required (the workflow ID `starter run` printed, e.g. fleetmend/cn-hangzhou/manual-20261122T101500Z)")
	}
	return args[0], nil
}

func (a *app) reportCommand() *cobra.Command {
	var csv, wait bool
	cmd := &cobra.Command{
		Use:   "report <run-id>",
		Short: "Print a run's report: counts and one row per touched or skipped instance",
		Long: `Print the report of a closed run: a table (default), --json or --csv. A cancelled run's report
is the one it closed with; a run that failed gets the report it had so far (from the "report"
query). Exit code 1 when the report has failures.`,
		Example: `  starter report fleetmend/cn-hangzhou/manual-20261122T101500Z
  starter report fleetmend/cn-hangzhou/manual-20261122T101500Z --csv > report.csv
  starter report fleetmend/cn-hangzhou/manual-20261122T101500Z --json | jq '.rows[] | select(.outcome=="failed")'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := runIDArg(args); err != nil {
				return err
			}
			if csv && a.jsonOut {
				return usageErr("use --json or --csv, not both")
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			id := args[0]
			fleet, status, err := isFleet(ctx, c, id)
			if err != nil {
				return err
			}
			if fleet {
				if csv {
					return usageErr("--csv: a fleet run's summary has no rows of instances; see each region's run with `starter report <run> --csv`")
				}
				return a.fleetReport(ctx, c, id, status, wait)
			}
			if status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && !wait {
				return usageErr("run %s is still running; see `starter status %s`, or add --wait", id, id)
			}
			var rep workflows.Report
			err = c.GetWorkflow(ctx, id, "").Get(ctx, &rep)
			format := "table"
			if csv {
				format = "csv"
			}
			if err == nil {
				if perr := a.printReport(rep, format); perr != nil {
					return perr
				}
				if rep.Counts.Failed > 0 {
					return failures()
				}
				return nil
			}
			if errors.Is(err, context.Canceled) {
				return &exitError{code: exitUsage, err: err}
			}
			// Cancelled: the report is the cancellation's details.
			var canceled *temporal.CanceledError
			if errors.As(err, &canceled) && canceled.HasDetails() && canceled.Details(&rep) == nil {
				if perr := a.printReport(rep, format); perr != nil {
					return perr
				}
				return failures()
			}
			// Failed or terminated: the report so far, from the query.
			v, qerr := c.QueryWorkflow(ctx, id, "", workflows.QueryReport)
			if qerr == nil && v.Get(&rep) == nil {
				fmt.Fprintf(a.errOut, "run %s did not complete (%v); report so far:\n", id, err)
				if perr := a.printReport(rep, format); perr != nil {
					return perr
				}
				return failures()
			}
			return &exitError{code: exitFailures, err: fmt.Errorf("run %s did not complete: %w", id, err)}
		},
	}
	cmd.Flags().BoolVar(&csv, "csv", false, "print the rows as CSV")
	cmd.Flags().BoolVar(&wait, "wait", false, "if the run is still going, wait for it")
	return cmd
}

func (a *app) cancelCommand() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "cancel <run-id>",
		Short: "Stop a run cleanly",
		Long: `Request cancellation of a run. It stops scanning and starts no new batch; batches already
running finish, so a reboot that was sent is always verified and no instance is left
half-rebooted. With --wait (the default) it waits for the run to close and prints its report.`,
		Example: `  starter cancel fleetmend/cn-hangzhou/manual-20261122T101500Z
  starter cancel fleetmend/cn-hangzhou/manual-20261122T101500Z --wait=false`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := runIDArg(args); err != nil {
				return err
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			id := args[0]
			fleet, status, err := isFleet(ctx, c, id)
			if err != nil {
				return err
			}
			if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				return usageErr("run %s is not running (%s)", id, statusName(status))
			}
			if err := c.CancelWorkflow(ctx, id, ""); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("cancel %s: %w", id, err)}
			}
			if !wait {
				if !a.jsonOut {
					fmt.Fprintf(a.out, "cancel requested for %s; running batches will finish\n", id)
				}
				return nil
			}
			if !a.jsonOut {
				fmt.Fprintf(a.out, "cancel requested for %s; waiting for its running batches to finish ...\n", id)
			}
			if fleet {
				// The fleet run cancels each region's run and waits for them.
				var rep workflows.FleetReport
				return a.finishFleet(rep, c.GetWorkflow(ctx, id, "").Get(ctx, &rep))
			}
			var rep workflows.Report
			return a.finish(rep, c.GetWorkflow(ctx, id, "").Get(ctx, &rep))
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until the run has closed and print its report")
	return cmd
}

// auditRow is one batch that touched the instance.
type auditRow struct {
	Run        string    `json:"run"`
	Batch      string    `json:"batch"`
	Started    time.Time `json:"started"`
	Closed     time.Time `json:"closed,omitzero"`
	Status     string    `json:"status"`
	Outcome    string    `json:"outcome,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Action     string    `json:"action,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	InstanceID string    `json:"instance_id"`
}

func (a *app) auditCommand() *cobra.Command {
	var instance string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit --instance <id>",
		Short: "Which runs and batches touched an instance, when, what was done, and the outcome",
		Long: `Find every batch workflow that acted on an instance, through Temporal visibility (the
FleetmendInstanceIds search attribute on each batch) and each batch's result in its history:
when it ran, what was done (installed, rebooted, verified) and the outcome. Newest first.
A managed instance (mi-...) is taken too: no batch ever acts on one, so its audit is empty.`,
		Example: `  starter audit --instance i-bp1aaaaaaaaaaaaaaaaa
  starter audit --instance i-bp1aaaaaaaaaaaaaaaaa --json
  starter audit --instance mi-hz018jrc1o0aaaaa`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if instance == "" {
				return usageErr("--instance is required (an ECS instance ID such as i-bp1aaaaaaaaaaaaaaaaa)")
			}
			if err := ecs.ValidateAuditID("--instance", instance); err != nil {
				return usageErr("%v", err)
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			rows, err := a.audit(cmd.Context(), c, instance, limit)
			if err != nil {
				return err
			}
			empty := "no fleetmend batch has touched " + instance
			if ecs.IsManagedInstanceID(instance) {
				empty += " (a managed instance: runs report it as managed with its agent, and never repair it)"
			}
			return writeList(a, rows, empty,
				"STARTED\tRUN\tBATCH\tSTATUS\tOUTCOME\tREASON\tACTION\tDETAIL", func(r auditRow) string {
					return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", r.Started.UTC().Format(time.RFC3339), r.Run, r.Batch, r.Status,
						render.Dash(r.Outcome), render.Dash(r.Reason), render.Dash(r.Action), render.Dash(r.Detail))
				})
		},
	}
	cmd.Flags().StringVar(&instance, "instance", "", "instance ID (required)")
	numVar(cmd.Flags(), numflag.NewInt(&limit, "limit", 100, numflag.Range[int]{Min: 1, Max: 1000}), "at most this many batches, newest first")
	return cmd
}

func (a *app) audit(ctx context.Context, c client.Client, instance string, limit int) ([]auditRow, error) {
	q := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' ORDER BY StartTime DESC", guard.BatchWorkflowType, workflows.SAInstanceIDsName, instance)
	var rows []auditRow
	var token []byte
	reports := map[string]*workflows.Report{} // run workflow ID -> its report, nil while it runs
	for len(rows) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: int32(min(limit, 100)), NextPageToken: token})
		if err != nil && strings.Contains(err.Error(), "ORDER BY") {
			// Some visibility stores cannot sort; the order is then theirs.
			q = strings.TrimSuffix(q, " ORDER BY StartTime DESC")
			continue
		}
		if err != nil {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("search batches that touched %s: %w", instance, err)}
		}
		for _, e := range resp.GetExecutions() {
			if len(rows) >= limit {
				break
			}
			row := auditRow{
				InstanceID: instance,
				Batch:      e.GetExecution().GetWorkflowId(),
				Run:        e.GetParentExecution().GetWorkflowId(),
				Started:    e.GetStartTime().AsTime(),
				Status:     statusName(e.GetStatus()),
			}
			if e.GetCloseTime() != nil {
				row.Closed = e.GetCloseTime().AsTime()
			}
			if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				var res workflows.BatchResult
				if err := c.GetWorkflow(ctx, row.Batch, e.GetExecution().GetRunId()).Get(ctx, &res); err == nil {
					a.auditOutcome(ctx, c, &row, res, e.GetParentExecution().GetRunId(), reports)
				}
			}
			rows = append(rows, row)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	return rows, nil
}

// auditOutcome fills the row's outcome from a batch's result. A batch of
// the first engine verified its instances itself, so its rows are final.
// A batch of the pipelined engine hands the instances it installed on (and
// rebooted) to its run, which verifies them: their outcome is the run's
// report row, once the run has closed.
func (a *app) auditOutcome(ctx context.Context, c client.Client, row *auditRow, res workflows.BatchResult, runRunID string, reports map[string]*workflows.Report) {
	for _, r := range res.Rows {
		if r.InstanceID == row.InstanceID {
			row.Outcome, row.Reason, row.Action, row.Detail = r.Outcome, r.Reason, r.Action, r.Detail
			return
		}
	}
	for _, v := range res.Verify {
		if v.ID != row.InstanceID {
			continue
		}
		row.Action = v.Action
		rep, seen := reports[row.Run]
		if !seen {
			rep = runReport(ctx, c, row.Run, runRunID)
			reports[row.Run] = rep
		}
		if rep == nil {
			row.Detail = "handed to the run to verify; the run has not closed"
			return
		}
		for _, r := range rep.Rows {
			if r.InstanceID == row.InstanceID && r.Batch == res.Number {
				row.Outcome, row.Reason, row.Action, row.Detail = r.Outcome, r.Reason, r.Action, r.Detail
				return
			}
		}
		row.Detail = "verified by the run; its report has no row for it (max_report_rows)"
		return
	}
}

// runReport is the report of a closed run (its result, or a cancelled
// run's details), or nil while it runs or when there is none.
func runReport(ctx context.Context, c client.Client, id, runID string) *workflows.Report {
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil || d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return nil
	}
	var rep workflows.Report
	err = c.GetWorkflow(ctx, id, runID).Get(ctx, &rep)
	var canceled *temporal.CanceledError
	switch {
	case err == nil:
		return &rep
	case errors.As(err, &canceled) && canceled.HasDetails() && canceled.Details(&rep) == nil:
		return &rep
	}
	return nil
}
