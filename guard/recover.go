package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// A guard that is terminated, cancelled or deleted is started again, empty,
// by the next run that needs it. Temporal is the only store, so the new
// guard recovers from Temporal: the previous guard run's state, by a query
// (Temporal answers queries of closed runs by replaying their history,
// which holds every update the guard took), or failing that its start input
// (the state as of its last continue-as-new); and the runs of the region
// that are open, from visibility and their own progress. RecoverGuard does
// the reading; the guard decides.

// RecoverInput names the guard that is starting (Self is its run ID).
type RecoverInput struct {
	Region string `json:"region"`
	Self   string `json:"self"`
}

// OpenRun is a run of the region that visibility lists as open and that
// says it holds the region.
type OpenRun struct {
	WorkflowID string     `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Execution  string     `json:"execution"`
	Current    string     `json:"current"`
	Batches    BatchRange `json:"batches"`
	// Unanswered: the run did not answer its progress query (its workflow
	// tasks may be failing), so it may hold the region.
	Unanswered bool `json:"unanswered,omitempty"`
}

// RecoverResult is what RecoverGuard found. State is the previous guard's
// state as JSON (the workflow package owns its type), empty when there was
// none to recover; Lost says what could not be recovered.
type RecoverResult struct {
	From       string          `json:"from,omitempty"` // previous guard run ID
	FromStatus string          `json:"from_status,omitempty"`
	State      json.RawMessage `json:"state,omitempty"`
	Lost       string          `json:"lost,omitempty"`
	Holders    []OpenRun       `json:"holders,omitempty"`
}

// holderProbe is the part of a run's progress a recovering guard reads.
type holderProbe struct {
	Region  string     `json:"region"`
	DryRun  bool       `json:"dry_run"`
	Locked  bool       `json:"locked,omitempty"`
	Lease   string     `json:"lease,omitempty"`
	Batches BatchRange `json:"open_batches,omitzero"`
}

// RecoverGuard finds the guard run that the starting one replaces, reads
// its last state, and lists the region's open runs that hold the region.
func (a *Activities) RecoverGuard(ctx context.Context, in RecoverInput) (RecoverResult, error) {
	if _, err := a.client(); err != nil {
		return RecoverResult{}, err
	}
	var res RecoverResult
	prev, status, err := a.previousGuard(ctx, in)
	if err != nil {
		return RecoverResult{}, err
	}
	if prev != "" {
		res.From, res.FromStatus = prev, statusText(status)
		res.State, res.Lost = a.lastState(ctx, WorkflowID(in.Region), prev)
	}
	res.Holders, err = a.openHolders(ctx, in.Region)
	if err != nil {
		return RecoverResult{}, err
	}
	return res, nil
}

// previousGuard is the last closed run of the guard's workflow ID before
// Self: the newest run visibility lists, followed along its continue-as-new
// chain (visibility may not show the newest runs yet; Describe does).
func (a *Activities) previousGuard(ctx context.Context, in RecoverInput) (string, enumspb.WorkflowExecutionStatus, error) {
	id := WorkflowID(in.Region)
	resp, err := a.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s'", id), PageSize: 100,
	})
	if err != nil {
		return "", 0, temporal.NewApplicationError(fmt.Sprintf("list the runs of %s: %v", id, err), "fleetmend.GuardUnavailable")
	}
	var newest *commonpb.WorkflowExecution
	var newestStart int64
	for _, e := range resp.GetExecutions() {
		if e.GetExecution().GetRunId() == in.Self {
			continue
		}
		if t := e.GetStartTime().AsTime().UnixNano(); newest == nil || t > newestStart {
			newest, newestStart = e.GetExecution(), t
		}
	}
	if newest == nil {
		return "", 0, nil
	}
	runID := newest.GetRunId()
	for range maxChainHops {
		d, err := a.Client.DescribeWorkflowExecution(ctx, id, runID)
		if err != nil {
			return "", 0, temporal.NewApplicationError(fmt.Sprintf("describe %s run %s: %v", id, runID, err), "fleetmend.GuardUnavailable")
		}
		status := d.GetWorkflowExecutionInfo().GetStatus()
		if status != enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			return runID, status, nil
		}
		next, err := a.continuedAs(ctx, id, runID)
		if err != nil {
			return "", 0, err
		}
		if next == in.Self {
			return "", 0, nil // we are its successor: nothing was lost
		}
		runID = next
		activity.RecordHeartbeat(ctx)
	}
	return "", 0, temporal.NewApplicationError(id+" continued as new too often to follow", "fleetmend.GuardUnavailable")
}

// lastState is a closed guard run's state: its answer to the state query,
// or, if it cannot answer (its history does not replay on this code), its
// start input, in which case the updates it took since are lost.
func (a *Activities) lastState(ctx context.Context, id, runID string) (json.RawMessage, string) {
	v, qerr := a.Client.QueryWorkflow(ctx, id, runID, QueryState)
	if qerr == nil {
		var raw json.RawMessage
		if err := v.Get(&raw); err == nil {
			return raw, ""
		}
	}
	it := a.Client.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if it.HasNext() {
		if first, err := it.Next(); err == nil {
			if p := first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads(); len(p) > 0 {
				var raw json.RawMessage
				if err := converter.GetDefaultDataConverter().FromPayload(p[0], &raw); err == nil {
					return raw, fmt.Sprintf("run %s did not answer its state query (%v); recovered its state as of its start, updates since then are lost", runID, oneLine(qerr))
				}
			}
		}
	}
	return nil, fmt.Sprintf("run %s could not be read: its state is lost", runID)
}

// openHolders asks the region's open runs whether they hold the region:
// the truth a guard that lost its state must learn before it grants it.
// It pages through every open run of the region, found by the region's
// search attribute, and through the open runs that carry none (started
// without it, by the SDK or on a cluster where it is not registered),
// whose region their start input says. A run that does not answer is
// taken as holding the region if its input names the region, whatever
// its workflow ID: a custom ID is as much a holder as a fleetmend/… one.
func (a *Activities) openHolders(ctx context.Context, region string) ([]OpenRun, error) {
	base := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", RunWorkflowType)
	byRegion := fmt.Sprintf("%s AND %s = '%s'", base, RegionAttribute, region)
	unmarked := fmt.Sprintf("%s AND %s IS NULL", base, RegionAttribute)
	var out []OpenRun
	err := a.eachOpenRun(ctx, byRegion, func(ex *commonpb.WorkflowExecution) error {
		return a.probeHolder(ctx, ex, region, true, &out)
	})
	if isUnknownAttribute(err) {
		// The attribute is not registered: no run carries it, so every
		// open run is asked (and, if it does not answer, its input read).
		unmarked = base
		err = nil
	}
	if err != nil {
		return nil, err
	}
	err = a.eachOpenRun(ctx, unmarked, func(ex *commonpb.WorkflowExecution) error {
		return a.probeHolder(ctx, ex, region, false, &out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachOpenRun calls fn for every execution query lists, page by page.
func (a *Activities) eachOpenRun(ctx context.Context, query string, fn func(*commonpb.WorkflowExecution) error) error {
	var token []byte
	for {
		resp, err := a.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: query, PageSize: openRunsPage, NextPageToken: token,
		})
		if err != nil {
			var invalid *serviceerror.InvalidArgument
			if errors.As(err, &invalid) {
				return err
			}
			return temporal.NewApplicationError(fmt.Sprintf("list the open runs (%s): %v", query, err), "fleetmend.GuardUnavailable")
		}
		for _, e := range resp.GetExecutions() {
			activity.RecordHeartbeat(ctx)
			if err := fn(e.GetExecution()); err != nil {
				return err
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return nil
		}
	}
}

// isUnknownAttribute says whether a visibility query failed because the
// region's search attribute is not registered on the cluster.
func isUnknownAttribute(err error) bool {
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &invalid)
}

// openRunsPage is the page size of the listing of open runs; probeTimeout
// is how long a recovering guard waits for one run's answer.
const (
	openRunsPage = 200
	probeTimeout = 10 * time.Second
)

// probeHolder asks one open run whether it holds region and adds it to out
// if it does, or may (it does not answer). marked: visibility already says
// the run is of region.
func (a *Activities) probeHolder(ctx context.Context, ex *commonpb.WorkflowExecution, region string, marked bool, out *[]OpenRun) error {
	// A run no worker serves never answers: it must not hold up the
	// recovery of every other run's region.
	qctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	v, err := a.Client.QueryWorkflow(qctx, ex.GetWorkflowId(), ex.GetRunId(), QueryRunProgress)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return nil // closed since it was listed
	case err != nil:
		// It cannot say, so it may hold the region: the guard must treat
		// it as holding it until it closes, if it is of this region.
		of, acting, rerr := a.startedFor(ctx, ex)
		if rerr != nil {
			return rerr
		}
		if (marked || of == region) && acting {
			*out = append(*out, OpenRun{WorkflowID: ex.GetWorkflowId(), Current: ex.GetRunId(), Unanswered: true})
		}
		return nil
	}
	var p holderProbe
	if err := v.Get(&p); err != nil || p.Region != region || p.DryRun || !p.Locked {
		return nil
	}
	*out = append(*out, OpenRun{WorkflowID: ex.GetWorkflowId(), Execution: p.Lease, Current: ex.GetRunId(), Batches: p.Batches})
	return nil
}

// runStart is the part of a run's input startedFor reads.
type runStart struct {
	Region string `json:"region"`
	DryRun bool   `json:"dry_run"`
}

// startedFor reads a run's region, and whether it may act (not a dry
// run), from its start input: the first event of its history.
func (a *Activities) startedFor(ctx context.Context, ex *commonpb.WorkflowExecution) (string, bool, error) {
	it := a.Client.GetWorkflowHistory(ctx, ex.GetWorkflowId(), ex.GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return "", true, nil
	}
	first, err := it.Next()
	if err != nil {
		return "", false, temporal.NewApplicationError(fmt.Sprintf("read the input of %s: %v", ex.GetWorkflowId(), err), "fleetmend.GuardUnavailable")
	}
	var in runStart
	if p := first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads(); len(p) > 0 {
		if err := converter.GetDefaultDataConverter().FromPayload(p[0], &in); err != nil {
			// An input that cannot be read cannot be ruled out.
			return "", true, nil
		}
	}
	return in.Region, !in.DryRun, nil
}
