package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/workflows"
)

// listStatuses maps `list --status` to Temporal's ExecutionStatus names.
func listStatuses() [][2]string {
	return [][2]string{
		{"running", "Running"}, {"completed", "Completed"}, {"failed", "Failed"}, {"canceled", "Canceled"},
		{"terminated", "Terminated"}, {"timed-out", "TimedOut"}, {"continued-as-new", "ContinuedAsNew"},
	}
}

// listedRun is one row of `starter list`. The counts are fleetmend's search
// attributes, which the run keeps current as batches finish; they are
// absent (null) on a run started without them.
type listedRun struct {
	WorkflowID string        `json:"workflow_id"`
	RunID      string        `json:"run_id"`
	Region     string        `json:"region,omitempty"`
	Kind       string        `json:"kind,omitempty"`
	DryRun     bool          `json:"dry_run"`
	Status     string        `json:"status"`
	Started    time.Time     `json:"started"`
	Closed     time.Time     `json:"closed,omitzero"`
	Duration   time.Duration `json:"-"`
	// DurationText is Duration as people write it; running runs count to now.
	DurationText string `json:"duration"`
	Unhealthy    *int64 `json:"unhealthy"`
	Remediated   *int64 `json:"remediated"`
	Failed       *int64 `json:"failed"`
	// Trend is the run's comparison with the previous completed non-dry
	// run of its region, in one line (its memo, set when it finished).
	Trend string `json:"trend,omitempty"`
}

func (a *app) listCommand() *cobra.Command {
	var region, kind, status string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List recent runs with their counts, newest first",
		Long: `List recent RemediateRegion runs from Temporal visibility, newest first: when each started, its
workflow ID, kind (a dry run is marked), status, the unhealthy / remediated / failed counts
(fleetmend's search attributes, kept current while a run goes), how long it took or has
been going, and what changed since the region's previous completed non-dry run ("+3 new −12
fixed 4 chronic", set when a run finishes). A run that continued as new is listed once per
execution.`,
		Example: `  starter list
  starter list --region cn-hangzhou --status running
  starter list --kind scheduled --status failed --limit 10
  starter list --region cn-hangzhou --json | jq '.[] | select(.failed > 0) | .workflow_id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			query, err := listQuery(region, kind, status)
			if err != nil {
				return err
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			runs, err := a.listRuns(cmd.Context(), c, query, limit)
			if err != nil {
				return err
			}
			return writeList(a, runs, "no fleetmend runs match",
				"STARTED\tWORKFLOW ID\tKIND\tSTATUS\tUNHEALTHY\tREMEDIATED\tFAILED\tDURATION\tTREND", func(r listedRun) string {
					kind := r.Kind
					if kind == "" {
						kind = "-"
					}
					if r.DryRun {
						kind += " (dry run)"
					}
					trend := r.Trend
					if trend == "" {
						trend = "-"
					}
					return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", r.Started.UTC().Format(time.RFC3339), r.WorkflowID, kind, r.Status,
						count(r.Unhealthy), count(r.Remediated), count(r.Failed), r.DurationText, trend)
				})
		},
	}
	var statuses []string
	for _, s := range listStatuses() {
		statuses = append(statuses, s[0])
	}
	cmd.Flags().StringVar(&region, "region", "", "only runs of this region")
	cmd.Flags().StringVar(&kind, "kind", "", "only manual or scheduled runs")
	cmd.Flags().StringVar(&status, "status", "", "only runs in this status: "+strings.Join(statuses, ", "))
	numVar(cmd.Flags(), numflag.NewInt(&limit, "limit", 20, numflag.Range[int]{Min: 1, Max: 1000}), "at most this many runs")
	return cmd
}

// listQuery is the visibility query of the filters. Every value is
// checked against a fixed set or the region pattern first, so nothing the
// user typed can change the query's meaning.
func listQuery(region, kind, status string) (string, error) {
	conds := []string{fmt.Sprintf("WorkflowType = '%s'", guard.RunWorkflowType)}
	if region != "" {
		if err := (workflows.RegionInput{Region: region}).WithDefaults().Validate(); err != nil {
			return "", usageErr("--region: %v", err)
		}
		conds = append(conds, fmt.Sprintf("%s = '%s'", workflows.SARegionName, region))
	}
	switch kind {
	case "":
	case workflows.KindManual, workflows.KindScheduled:
		conds = append(conds, fmt.Sprintf("%s = '%s'", workflows.SAKindName, kind))
	default:
		return "", usageErr("--kind is %q, allowed values are %s, %s", kind, workflows.KindManual, workflows.KindScheduled)
	}
	if status != "" {
		var names []string
		found := ""
		for _, s := range listStatuses() {
			names = append(names, s[0])
			if s[0] == status {
				found = s[1]
			}
		}
		if found == "" {
			return "", usageErr("--status is %q, allowed values are %s", status, strings.Join(names, ", "))
		}
		conds = append(conds, fmt.Sprintf("ExecutionStatus = '%s'", found))
	}
	return strings.Join(conds, " AND "), nil
}

func (a *app) listRuns(ctx context.Context, c client.Client, query string, limit int) ([]listedRun, error) {
	q := query + " ORDER BY StartTime DESC"
	var runs []listedRun
	var token []byte
	now := a.now()
	for len(runs) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: int32(min(limit, 100)), NextPageToken: token})
		if err != nil && strings.Contains(err.Error(), "ORDER BY") && q != query {
			// SQL visibility cannot sort by start time; it lists the most
			// recent runs first by its own order, and they are sorted below.
			q, token = query, nil
			continue
		}
		if err != nil {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("list runs (are fleetmend's search attributes registered? see README): %w", err)}
		}
		for _, e := range resp.GetExecutions() {
			if len(runs) >= limit {
				break
			}
			r := listedRun{
				WorkflowID: e.GetExecution().GetWorkflowId(),
				RunID:      e.GetExecution().GetRunId(),
				Status:     statusName(e.GetStatus()),
				Started:    e.GetStartTime().AsTime(),
			}
			end := now
			if e.GetCloseTime() != nil {
				r.Closed = e.GetCloseTime().AsTime()
				end = r.Closed
			}
			r.Duration = max(end.Sub(r.Started), 0)
			r.DurationText = numflag.FormatDuration(r.Duration.Round(time.Second))
			sa := e.GetSearchAttributes().GetIndexedFields()
			decodeSA(sa, workflows.SARegionName, &r.Region)
			decodeSA(sa, workflows.SAKindName, &r.Kind)
			decodeSA(sa, workflows.SADryRunName, &r.DryRun)
			r.Unhealthy = decodeCount(sa, workflows.SAUnhealthyName)
			r.Remediated = decodeCount(sa, workflows.SARemediatedName)
			r.Failed = decodeCount(sa, workflows.SAFailedName)
			decodeSA(e.GetMemo().GetFields(), workflows.MemoTrend, &r.Trend)
			runs = append(runs, r)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	slices.SortStableFunc(runs, func(x, y listedRun) int { return y.Started.Compare(x.Started) })
	return runs, nil
}

// decodeSA decodes one search attribute into v; a missing or undecodable
// one leaves v as it is (a run started without fleetmend's attributes).
func decodeSA(sa map[string]*commonpb.Payload, name string, v any) bool {
	p, ok := sa[name]
	return ok && converter.GetDefaultDataConverter().FromPayload(p, v) == nil
}

func decodeCount(sa map[string]*commonpb.Payload, name string) *int64 {
	var n int64
	if !decodeSA(sa, name, &n) {
		return nil
	}
	return &n
}

func count(n *int64) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}
