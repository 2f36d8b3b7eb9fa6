package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// A region is free only when its holder and every batch it started are
// closed. The guard knows the holder and, from the holder's fences, the
// range of batches it may have open; AcquireRegion looks them up when the
// guard refuses, because a workflow cannot ask Temporal about other
// workflows itself.

// DefaultStuckAfter is how long a holder may go without progress before a
// run that finds the region busy reports it stuck.
const DefaultStuckAfter = time.Hour

// maxChainHops bounds how far AcquireRegion follows a holder's
// continue-as-new chain from the last run the guard heard from.
const maxChainHops = 50

// MetricHolderStuck is a gauge per region: 1 while the region's holder
// has made no progress for longer than the stuck-after time (as the last
// run that found the region busy saw it), else 0.
const MetricHolderStuck = "fleetmend_region_holder_stuck"

// ProgressProbe is what AcquireRegion reads of a holder's progress.
type ProgressProbe struct {
	Phase          string    `json:"phase"`
	Paused         bool      `json:"paused,omitempty"`
	LastProgressAt time.Time `json:"last_progress_at,omitzero"`
}

// AcquireRegion asks the region's guard for the region. When another run
// holds it, AcquireRegion looks that run up: if it is open, the region is
// busy (and said to be stuck when it has made no progress for StuckAfter);
// if it has closed without releasing (terminated, timed out, reset), its
// batches are looked up, and the region is taken over once all of them
// have closed too. Until then the answer names what it waits for.
func (a *Activities) AcquireRegion(ctx context.Context, in AcquireInput) (AcquireResult, error) {
	g := Input{Region: in.Region, TaskQueue: in.TaskQueue}
	var res AcquireResult
	if err := a.updateGuard(ctx, g, UpdateAcquire, "", in.Request, &res); err != nil {
		return AcquireResult{}, err
	}
	if res.Granted || res.Holder.WorkflowID == "" {
		a.setStuck(ctx, in.Region, false)
		return res, nil
	}
	h := res.Holder
	open, err := a.chainOpen(ctx, h)
	if err != nil {
		return AcquireResult{}, err
	}
	if open {
		res.Stuck = a.stuckFor(ctx, h, in.StuckAfter)
		a.setStuck(ctx, in.Region, res.Stuck != "")
		return res, nil
	}
	a.setStuck(ctx, in.Region, false)
	waitFor, err := a.openBatches(ctx, h.WorkflowID, h.Batches)
	if err != nil {
		return AcquireResult{}, err
	}
	if len(waitFor) > 0 {
		res.WaitFor = waitFor
		return res, nil
	}
	req := in.Request
	req.TakeoverFrom = h.Execution
	if req.TakeoverFrom == "" {
		req.TakeoverFrom = h.WorkflowID
	}
	if err := a.updateGuard(ctx, g, UpdateAcquire, "", req, &res); err != nil {
		return AcquireResult{}, err
	}
	return res, nil
}

// chainOpen says whether the holder's run, or a continue-as-new successor
// of it, is still open. A holder known by workflow ID only (granted before
// executions were recorded) is looked up by its latest run.
func (a *Activities) chainOpen(ctx context.Context, h Holder) (bool, error) {
	c, err := a.client()
	if err != nil {
		return false, err
	}
	runID := h.Chain()
	for range maxChainHops {
		d, err := c.DescribeWorkflowExecution(ctx, h.WorkflowID, runID)
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return false, nil // gone past retention: closed long ago
		}
		if err != nil {
			return false, temporal.NewApplicationError(fmt.Sprintf("describe %s: %v", h.WorkflowID, err), "fleetmend.GuardUnavailable")
		}
		info := d.GetWorkflowExecutionInfo()
		switch info.GetStatus() {
		case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			return true, nil
		case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
			next, err := a.continuedAs(ctx, h.WorkflowID, info.GetExecution().GetRunId())
			if err != nil {
				return false, err
			}
			runID = next
		default:
			return false, nil
		}
		activity.RecordHeartbeat(ctx)
	}
	return false, temporal.NewApplicationError(fmt.Sprintf("%s continued as new more than %d times since the guard last heard from it", h.WorkflowID, maxChainHops), "fleetmend.GuardUnavailable")
}

// continuedAs is the run that run runID of workflowID continued as.
func (a *Activities) continuedAs(ctx context.Context, workflowID, runID string) (string, error) {
	it := a.Client.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return "", temporal.NewApplicationError(fmt.Sprintf("read how %s ended: %v", workflowID, err), "fleetmend.GuardUnavailable")
		}
		if attrs := e.GetWorkflowExecutionContinuedAsNewEventAttributes(); attrs != nil {
			return attrs.GetNewExecutionRunId(), nil
		}
	}
	return "", temporal.NewApplicationError(fmt.Sprintf("%s run %s continued as new, but its close event does not say as what", workflowID, runID), "fleetmend.GuardUnavailable")
}

// openBatches names the batches of run runID that are still running.
func (a *Activities) openBatches(ctx context.Context, runID string, r BatchRange) ([]string, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	open, err := OpenBatches(ctx, c, runID, r, func() { activity.RecordHeartbeat(ctx) })
	if err != nil {
		return nil, temporal.NewApplicationError(err.Error(), "fleetmend.GuardUnavailable")
	}
	return open, nil
}

// OpenBatches names the batches of run runID that are still running. Every
// batch the run started is in r: the run fences its batches with the guard
// before it starts them (a batch never started is not found). Visibility
// is asked too, for a holder whose range a recovered guard could not learn;
// it may lag, which the range does not. beat is called between calls.
func OpenBatches(ctx context.Context, c client.Client, runID string, r BatchRange, beat func()) ([]string, error) {
	var open []string
	seen := map[string]bool{}
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query:    fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND WorkflowId STARTS_WITH '%s/batch-'", BatchWorkflowType, runID),
		PageSize: 1000,
	})
	if err != nil {
		return nil, fmt.Errorf("list the open batches of %s: %w", runID, err)
	}
	for _, e := range resp.GetExecutions() {
		id := e.GetExecution().GetWorkflowId()
		seen[id] = true
		open = append(open, id)
	}
	for n := r.From; n <= r.To; n++ {
		id := BatchWorkflowID(runID, n)
		if seen[id] {
			continue
		}
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			continue
		case err != nil:
			return nil, fmt.Errorf("describe %s: %w", id, err)
		}
		if d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			open = append(open, id)
		}
		beat()
	}
	return open, nil
}

// stuckFor says whether an open holder has made no progress for longer
// than after (paused runs excluded), or does not answer its progress query
// at all (its workflow tasks fail, e.g. after a bad deploy).
func (a *Activities) stuckFor(ctx context.Context, h Holder, after time.Duration) string {
	if after <= 0 {
		after = DefaultStuckAfter
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := a.Client.QueryWorkflow(qctx, h.WorkflowID, "", QueryRunProgress)
	if err != nil {
		return fmt.Sprintf("holder %s does not answer its progress query (its workflow tasks may be failing): %v", h.WorkflowID, oneLine(err))
	}
	var p ProgressProbe
	if err := v.Get(&p); err != nil || p.Paused || p.LastProgressAt.IsZero() {
		return ""
	}
	if idle := time.Since(p.LastProgressAt); idle > after {
		return fmt.Sprintf("holder %s made no progress for %s (phase %s, last progress %s); free it with `starter unlock --region <region> --reason <why>`",
			h.WorkflowID, idle.Round(time.Second), p.Phase, p.LastProgressAt.UTC().Format(time.RFC3339))
	}
	return ""
}

func (a *Activities) setStuck(ctx context.Context, region string, stuck bool) {
	v := 0.0
	if stuck {
		v = 1
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"region": region}).Gauge(MetricHolderStuck).Update(v)
}

// oneLine is an error's text on one line, for a message in a report.
func oneLine(err error) string {
	if err == nil {
		return "no error"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
