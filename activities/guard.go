package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// The region guard is one long-lived workflow per region (ID
// fleetmend/<region>/guard) that serialises what must not happen twice at
// once: it grants the region to one acting run at a time, and it keeps the
// ledger of failed repairs that quarantines chronic instances. Runs talk to
// it through the activities below (update-with-start, so it exists as soon
// as a run needs it); the starter talks to it directly for quarantine
// list and clear. Its workflow is in package workflows; the names it
// answers to are here, so both sides share them without an import cycle.
const (
	GuardWorkflowType  = "RegionGuard"
	GuardUpdateAcquire = "acquire"
	GuardUpdateRelease = "release"
	GuardUpdateRecord  = "record"
	GuardUpdateClear   = "clear"
	GuardQueryLedger   = "ledger"
)

// GuardWorkflowID is the guard of region.
func GuardWorkflowID(region string) string { return "fleetmend/" + region + "/guard" }

// GuardStart is the guard workflow's input when it is first started.
type GuardStart struct {
	Region string `json:"region"`
}

// Holder is the run the region is granted to.
type Holder struct {
	RunID     string    `json:"run_id"` // the run's workflow ID, stable across continue-as-new
	Kind      string    `json:"kind,omitempty"`
	StartedBy string    `json:"started_by,omitempty"`
	Since     time.Time `json:"since"`
}

// AcquireRequest asks the guard for the region. TakeoverFrom names a
// holder the caller has found closed (it died without releasing): the
// guard hands the region over only if that run still holds it.
type AcquireRequest struct {
	RunID        string `json:"run_id"`
	Kind         string `json:"kind,omitempty"`
	StartedBy    string `json:"started_by,omitempty"`
	TakeoverFrom string `json:"takeover_from,omitempty"`
}

// AcquireResult is the guard's answer.
type AcquireResult struct {
	Granted bool   `json:"granted"`
	Holder  Holder `json:"holder"` // who holds it now (the caller, when granted)
	// TookOver names the closed run the region was taken from, if any.
	TookOver string `json:"took_over,omitempty"`
}

// ReleaseRequest gives the region back.
type ReleaseRequest struct {
	RunID string `json:"run_id"`
}

// Attempt is one failed repair of an instance.
type Attempt struct {
	RunID  string    `json:"run"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// FailedAttempt is an Attempt of one instance, as a run reports it.
type FailedAttempt struct {
	InstanceID string `json:"instance_id"`
	Attempt
}

// RecordRequest adds a run's failed repairs to the ledger and clears the
// instances it repaired.
type RecordRequest struct {
	Failed []FailedAttempt `json:"failed,omitempty"`
	Healed []string        `json:"healed,omitempty"`
}

// ClearRequest forgets the ledger of instances (all of them when
// InstanceIDs is empty), so the next run tries them again.
type ClearRequest struct {
	InstanceIDs []string `json:"instance_ids,omitempty"`
	By          string   `json:"by"`
	Reason      string   `json:"reason"`
}

// ClearResult names the instances forgotten.
type ClearResult struct {
	Cleared []string `json:"cleared"`
}

// LedgerQuery asks for the ledger as of Now: the instances with at least
// one failure within Window, and which of them have After or more.
type LedgerQuery struct {
	Now    time.Time     `json:"now"`
	After  int           `json:"after"`
	Window time.Duration `json:"window"`
}

// InstanceRecord is one instance's failed repairs within the window.
type InstanceRecord struct {
	InstanceID  string    `json:"instance_id"`
	Attempts    []Attempt `json:"attempts"`
	Quarantined bool      `json:"quarantined"`
	// Until is when the oldest counted failure leaves the window and the
	// quarantine lifts by itself (for quarantined instances).
	Until time.Time `json:"until,omitzero"`
}

// LedgerView is the guard's answer to LedgerQuery.
type LedgerView struct {
	Holder  *Holder          `json:"holder,omitempty"`
	Records []InstanceRecord `json:"records,omitempty"` // sorted by instance ID
}

// AcquireInput is AcquireRegion's input; TaskQueue is where the guard
// runs if it has to be started.
type AcquireInput struct {
	Region    string         `json:"region"`
	TaskQueue string         `json:"task_queue"`
	Request   AcquireRequest `json:"request"`
}

// GuardInput names a region's guard for the other guard activities.
type GuardInput struct {
	Region    string `json:"region"`
	TaskQueue string `json:"task_queue"`
}

// RecordInput is RecordAttempts' input.
type RecordInput struct {
	GuardInput
	Record RecordRequest `json:"record"`
}

// LedgerInput is ReadLedger's input.
type LedgerInput struct {
	GuardInput
	After  int           `json:"after"`
	Window time.Duration `json:"window"`
}

func (a *Activities) temporalClient() (client.Client, error) {
	if a.Temporal == nil {
		return nil, temporal.NewNonRetryableApplicationError("activities have no Temporal client configured (needed for the region guard)", "fleetmend.Misconfigured", nil)
	}
	return a.Temporal, nil
}

// updateGuard sends one update to a region's guard, starting the guard if
// it does not run yet.
func (a *Activities) updateGuard(ctx context.Context, in GuardInput, name string, arg, result any) error {
	c, err := a.temporalClient()
	if err != nil {
		return err
	}
	start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       GuardWorkflowID(in.Region),
		TaskQueue:                in.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "fleetmend guard of " + in.Region + ": one acting run at a time, and the ledger that quarantines chronic instances",
	}, GuardWorkflowType, GuardStart{Region: in.Region})
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   name,
			Args:         []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return guardError(name, in.Region, err)
	}
	if err := h.Get(ctx, result); err != nil {
		return guardError(name, in.Region, err)
	}
	return nil
}

// guardError keeps a refusal by the guard's validator (a bug or a bad
// request) from being retried forever, and lets everything else (the
// server busy, a timeout) be retried.
func guardError(name, region string, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("guard of %s refused %s: %s", region, name, appErr.Message()), "fleetmend.GuardRefused", nil)
	}
	return temporal.NewApplicationError(fmt.Sprintf("guard of %s: %s: %v", region, name, err), "fleetmend.GuardUnavailable")
}

// AcquireRegion asks the region's guard for the region. When another run
// holds it, AcquireRegion looks that run up: if it has closed without
// releasing (terminated, timed out, its worker gone for good), the region is
// taken over from it; a running holder keeps it.
func (a *Activities) AcquireRegion(ctx context.Context, in AcquireInput) (AcquireResult, error) {
	g := GuardInput{Region: in.Region, TaskQueue: in.TaskQueue}
	var res AcquireResult
	if err := a.updateGuard(ctx, g, GuardUpdateAcquire, in.Request, &res); err != nil {
		return AcquireResult{}, err
	}
	if res.Granted || res.Holder.RunID == "" {
		return res, nil
	}
	running, err := a.isRunning(ctx, res.Holder.RunID)
	if err != nil || running {
		return res, err
	}
	req := in.Request
	req.TakeoverFrom = res.Holder.RunID
	if err := a.updateGuard(ctx, g, GuardUpdateAcquire, req, &res); err != nil {
		return AcquireResult{}, err
	}
	return res, nil
}

func (a *Activities) isRunning(ctx context.Context, workflowID string) (bool, error) {
	c, err := a.temporalClient()
	if err != nil {
		return false, err
	}
	d, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	if err != nil {
		return false, temporal.NewApplicationError(fmt.Sprintf("describe %s: %v", workflowID, err), "fleetmend.GuardUnavailable")
	}
	return d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

// ReleaseInput is ReleaseRegion's input.
type ReleaseInput struct {
	GuardInput
	RunID string `json:"run_id"`
}

// ReleaseRegion gives the region back (a no-op when the run does not hold it).
func (a *Activities) ReleaseRegion(ctx context.Context, in ReleaseInput) error {
	var released bool
	return a.updateGuard(ctx, in.GuardInput, GuardUpdateRelease, ReleaseRequest{RunID: in.RunID}, &released)
}

// RecordAttempts writes a run's failed repairs (and the instances it healed)
// to the ledger.
func (a *Activities) RecordAttempts(ctx context.Context, in RecordInput) error {
	var n int
	return a.updateGuard(ctx, in.GuardInput, GuardUpdateRecord, in.Record, &n)
}

// ReadLedger returns the region's ledger as of now. A region without a
// guard has an empty ledger.
func (a *Activities) ReadLedger(ctx context.Context, in LedgerInput) (LedgerView, error) {
	c, err := a.temporalClient()
	if err != nil {
		return LedgerView{}, err
	}
	v, err := c.QueryWorkflow(ctx, GuardWorkflowID(in.Region), "", GuardQueryLedger, LedgerQuery{Now: time.Now().UTC(), After: in.After, Window: in.Window})
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return LedgerView{}, nil
	}
	if err != nil {
		return LedgerView{}, temporal.NewApplicationError(fmt.Sprintf("read the ledger of %s: %v", in.Region, err), "fleetmend.GuardUnavailable")
	}
	var view LedgerView
	if err := v.Get(&view); err != nil {
		return LedgerView{}, temporal.NewNonRetryableApplicationError("decode the ledger of "+in.Region, "fleetmend.GuardRefused", err)
	}
	return view, nil
}
