package guard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// A run compares itself with the previous completed non-dry run of its
// region (the workflow package's trend.go): PreviousRun finds that run in
// visibility and reads its report. It is here, with the guard's other
// reads of Temporal, because it is what the region's runs know of each
// other; the activities package talks to ECS only.

// Bounds of the comparison's reads.
const (
	// maxPreviousListed is how many of the newest completed runs are
	// listed, and maxPreviousRead how many reports are read to find one
	// that is not a skip (a run that found the region busy did nothing).
	maxPreviousListed = 20
	maxPreviousRead   = 10
)

// PreviousInput asks for the newest run of Region that Query lists (the
// workflow package writes it: it owns the search attributes' names).
type PreviousInput struct {
	Region string `json:"region"`
	Query  string `json:"query"`
	// Problems are the problems of the rows that count as found unhealthy,
	// and Apart the outcome of rows that never do (managed instances): the
	// workflow package names them, the guard reads its report by them.
	Problems []string `json:"problems,omitempty"`
	Apart    string   `json:"apart,omitempty"`
}

// PreviousRun is the previous run's report as the comparison needs it:
// the instances it found unhealthy and how each ended. Instances are its
// report's rows, so they are capped like them: UnhealthyCount is what its
// counts say it found, more than len(Instances) when rows were left out.
type PreviousRun struct {
	Found      bool      `json:"found"`
	WorkflowID string    `json:"run_id,omitempty"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Execution  string    `json:"execution,omitempty"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Instances is sorted by ID.
	Instances      []PreviousInstance `json:"instances,omitempty"`
	UnhealthyCount int                `json:"unhealthy_count,omitempty"`
	// Passed is the newer completed runs passed over (skips, dry runs).
	Passed int `json:"passed,omitempty"`
}

// PreviousInstance is one instance the previous run found unhealthy and
// its outcome (and reason) there.
type PreviousInstance struct {
	ID      string `json:"i"`
	Outcome string `json:"o"`
	Reason  string `json:"r,omitempty"`
}

// reportProbe is the part of a run's report the comparison reads.
type reportProbe struct {
	WorkflowID string    `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	DryRun     bool      `json:"dry_run"`
	Skipped    bool      `json:"skipped"`
	FinishedAt time.Time `json:"finished_at"`
	Counts     struct {
		AgentMissing int `json:"agent_missing"`
		AgentSilent  int `json:"agent_silent"`
	} `json:"counts"`
	Rows []struct {
		InstanceID string `json:"instance_id"`
		Outcome    string `json:"outcome"`
		Reason     string `json:"reason"`
		Problem    string `json:"problem"`
	} `json:"rows"`
}

// PreviousRun finds the newest completed run Query lists that acted (not
// a skip, not a dry run) and returns what its report says it found
// unhealthy. Found is false when there is none.
func (a *Activities) PreviousRun(ctx context.Context, in PreviousInput) (PreviousRun, error) {
	c, err := a.client()
	if err != nil {
		return PreviousRun{}, err
	}
	if in.Query == "" {
		return PreviousRun{}, temporal.NewNonRetryableApplicationError("PreviousRun: Query is empty", "fleetmend.InvalidInput", nil)
	}
	q := in.Query + " ORDER BY CloseTime DESC"
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: maxPreviousListed})
	if err != nil && strings.Contains(err.Error(), "ORDER BY") {
		// SQL visibility cannot sort by close time; it lists the most
		// recently closed first by its own order, sorted again below.
		resp, err = c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: in.Query, PageSize: maxPreviousListed})
	}
	if err != nil {
		return PreviousRun{}, temporal.NewApplicationError(fmt.Sprintf("list the completed runs of %s: %v", in.Region, err), "fleetmend.VisibilityUnavailable")
	}
	execs := resp.GetExecutions()
	slices.SortStableFunc(execs, func(x, y *workflowpb.WorkflowExecutionInfo) int {
		return y.GetCloseTime().AsTime().Compare(x.GetCloseTime().AsTime())
	})
	var out PreviousRun
	for _, e := range execs[:min(len(execs), maxPreviousRead)] {
		activity.RecordHeartbeat(ctx)
		ex := e.GetExecution()
		var rep reportProbe
		err := c.GetWorkflow(ctx, ex.GetWorkflowId(), ex.GetRunId()).Get(ctx, &rep)
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			out.Passed++ // deleted by retention since it was listed
			continue
		case err != nil:
			return PreviousRun{}, temporal.NewApplicationError(fmt.Sprintf("read the report of %s: %v", ex.GetWorkflowId(), err), "fleetmend.VisibilityUnavailable")
		}
		if rep.Skipped || rep.DryRun {
			out.Passed++
			continue
		}
		out.Found, out.WorkflowID, out.Execution, out.FinishedAt = true, ex.GetWorkflowId(), ex.GetRunId(), rep.FinishedAt
		out.UnhealthyCount = rep.Counts.AgentMissing + rep.Counts.AgentSilent
		seen := map[string]bool{}
		for _, r := range rep.Rows {
			// A managed instance's row carries its agent's problem too; it
			// is no ECS instance and never failing.
			if slices.Contains(in.Problems, r.Problem) && r.Outcome != in.Apart && !seen[r.InstanceID] {
				seen[r.InstanceID] = true
				out.Instances = append(out.Instances, PreviousInstance{ID: r.InstanceID, Outcome: r.Outcome, Reason: r.Reason})
			}
		}
		slices.SortFunc(out.Instances, func(x, y PreviousInstance) int { return strings.Compare(x.ID, y.ID) })
		return out, nil
	}
	return out, nil
}
