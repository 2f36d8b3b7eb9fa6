package activities

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
// visibility and reads its report; TrendCheck reads, for the instances the
// previous run left failing that this run has no row for, their state now,
// and the failed attempts the region's ledger holds for the ones still
// failing. Both only read.

// Bounds of the comparison's reads.
const (
	// maxPreviousListed is how many of the newest completed runs are
	// listed, and maxPreviousRead how many reports are read to find one
	// that is not a skip (a run that found the region busy did nothing).
	maxPreviousListed = 20
	maxPreviousRead   = 10
	// MaxTrendChecks bounds the instances TrendCheck reads.
	MaxTrendChecks = 1000
)

// PreviousInput asks for the newest run of Region that Query lists (the
// workflow package writes it: it owns the search attributes' names).
type PreviousInput struct {
	Region string `json:"region"`
	Query  string `json:"query"`
}

// PreviousRun is the previous run's report as the comparison needs it:
// the instances it found unhealthy and how each ended. Instances are its
// report's rows, so they are capped like them: UnhealthyCount is what its
// counts say it found, more than len(Instances) when rows were left out.
type PreviousRun struct {
	Found      bool      `json:"found"`
	RunID      string    `json:"run_id,omitempty"`
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
	RunID      string    `json:"run_id"`
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
	c, err := a.temporalClient()
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
		out.Found, out.RunID, out.Execution, out.FinishedAt = true, ex.GetWorkflowId(), ex.GetRunId(), rep.FinishedAt
		out.UnhealthyCount = rep.Counts.AgentMissing + rep.Counts.AgentSilent
		seen := map[string]bool{}
		for _, r := range rep.Rows {
			// A managed instance's row (outcome "managed") carries its
			// agent's problem too; it is no ECS instance and never failing.
			if (r.Problem == ProblemAgentMissing || r.Problem == ProblemAgentSilent) && r.Outcome != "managed" && !seen[r.InstanceID] {
				seen[r.InstanceID] = true
				out.Instances = append(out.Instances, PreviousInstance{ID: r.InstanceID, Outcome: r.Outcome, Reason: r.Reason})
			}
		}
		slices.SortFunc(out.Instances, func(x, y PreviousInstance) int { return strings.Compare(x.ID, y.ID) })
		return out, nil
	}
	return out, nil
}

// TrendCheckInput names the instances whose state now is wanted (Check,
// at most MaxTrendChecks) and those whose failed attempts within Window
// the region's ledger is asked for (Attempts; the checked ones found
// still failing are asked for too).
type TrendCheckInput struct {
	GuardInput
	Check    []string      `json:"check,omitempty"`
	Attempts []string      `json:"attempts,omitempty"`
	Window   time.Duration `json:"window"`
}

// InstanceNow is one checked instance as ECS describes it now.
type InstanceNow struct {
	ID      string `json:"i"`
	Exists  bool   `json:"e,omitempty"`
	Running bool   `json:"r,omitempty"`
	Healthy bool   `json:"h,omitempty"`
	// Unknown: ECS's agent status answer left it out.
	Unknown bool `json:"u,omitempty"`
}

// Failing says whether the instance is Running with an agent known unhealthy.
func (n InstanceNow) Failing() bool { return n.Exists && n.Running && !n.Unknown && !n.Healthy }

// AttemptCount is how many failed repairs the ledger holds for an instance.
type AttemptCount struct {
	ID       string `json:"i"`
	Attempts int    `json:"n"`
}

// TrendCheckResult answers TrendCheckInput: Now in Check's order,
// Attempts sorted by ID (instances without a record are left out).
type TrendCheckResult struct {
	Now      []InstanceNow  `json:"now,omitempty"`
	Attempts []AttemptCount `json:"attempts,omitempty"`
}

// TrendCheck reads the checked instances' state now and the ledger's
// failed attempts of the instances still failing.
func (a *Activities) TrendCheck(ctx context.Context, in TrendCheckInput) (TrendCheckResult, error) {
	if len(in.Check) > MaxTrendChecks {
		return TrendCheckResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("TrendCheck: %d instances to check, allowed at most %d", len(in.Check), MaxTrendChecks), "fleetmend.InvalidInput", nil)
	}
	var res TrendCheckResult
	want := map[string]bool{}
	for _, id := range in.Attempts {
		want[id] = true
	}
	if len(in.Check) > 0 {
		c, err := a.client(in.Region)
		if err != nil {
			return TrendCheckResult{}, err
		}
		fs, err := facts(ctx, c, in.Check, "", plainBeat(ctx))
		if err != nil {
			return TrendCheckResult{}, err
		}
		for _, f := range fs {
			n := InstanceNow{ID: f.InstanceID, Exists: f.Exists, Running: f.Running(), Healthy: f.Healthy, Unknown: f.Unknown}
			res.Now = append(res.Now, n)
			if n.Failing() {
				want[n.ID] = true
			}
		}
	}
	if len(want) == 0 {
		return res, nil
	}
	tc, err := a.temporalClient()
	if err != nil {
		return TrendCheckResult{}, err
	}
	v, err := tc.QueryWorkflow(ctx, GuardWorkflowID(in.Region), "", GuardQueryLedger, LedgerQuery{Now: time.Now().UTC(), Window: in.Window})
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return res, nil // no guard: no failed attempts on record
	}
	if err != nil {
		return TrendCheckResult{}, temporal.NewApplicationError(fmt.Sprintf("read the ledger of %s: %v", in.Region, err), "fleetmend.GuardUnavailable")
	}
	var view LedgerView
	if err := v.Get(&view); err != nil {
		return TrendCheckResult{}, temporal.NewNonRetryableApplicationError("decode the ledger of "+in.Region, "fleetmend.GuardRefused", err)
	}
	for _, rec := range view.Records {
		if want[rec.InstanceID] {
			res.Attempts = append(res.Attempts, AttemptCount{ID: rec.InstanceID, Attempts: len(rec.Attempts)})
		}
	}
	return res, nil
}
