package guard

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

// Start is the guard workflow's input when it is first started.
type Start struct {
	Region string `json:"region"`
	// EventsPerRun, when set, is the history length at which the guard
	// continues as new (tests use it to make it do so often).
	EventsPerRun int `json:"events_per_run,omitempty"`
}

// BatchRange is the batches From..To of one run (inclusive); To < From is
// none.
type BatchRange struct {
	From int `json:"from,omitempty"`
	To   int `json:"to,omitempty"`
}

// Len is how many batches the range holds.
func (b BatchRange) Len() int { return max(0, b.To-b.From+1) }

// Holder is the run the region is granted to.
type Holder struct {
	WorkflowID string    `json:"run_id"` // the run's workflow ID, stable across continue-as-new (old wire name run_id, kept for recorded histories)
	Kind       string    `json:"kind,omitempty"`
	StartedBy  string    `json:"started_by,omitempty"`
	Since      time.Time `json:"since"`
	// Execution is the Temporal run that was granted the region. Its
	// continue-as-new successors carry it on; a Reset, or a new run under
	// the same workflow ID, is another execution and does not hold it.
	Execution string `json:"execution,omitempty"`
	// Current is the latest run of its chain the guard heard from.
	Current string `json:"current,omitempty"`
	// Batches is the holder's batches that may still be open or have
	// instances whose reboot is not verified yet, as of its last fence.
	Batches BatchRange `json:"batches,omitzero"`
	// VerifyDeadline is the holder's verify deadline: how long after a
	// reboot its instances must not be rebooted again.
	VerifyDeadline time.Duration `json:"verify_deadline,omitempty"`
	// LastFence is when the holder last confirmed it holds the region.
	LastFence time.Time `json:"last_fence,omitzero"`
	// Fenced is the highest batch number the holder was ever granted by a
	// fence, and Next the first number it said its last fence would start
	// (runs that send it, see FenceRequest.Next): no number up to Fenced
	// may be started again by another execution of its chain.
	Fenced int `json:"fenced,omitempty"`
	Next   int `json:"next,omitempty"`
}

// Chain is the run ID to look the holder's chain up from: the latest run
// the guard heard from, else the one that acquired.
func (h Holder) Chain() string {
	if h.Current != "" {
		return h.Current
	}
	return h.Execution
}

// RebootRef names batches of a run that closed without verifying what it
// rebooted (terminated, timed out, reset): until Until, their instances
// must be verified, not repaired, by whoever holds the region next.
type RebootRef struct {
	WorkflowID     string        `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Batches        BatchRange    `json:"batches"`
	Until          time.Time     `json:"until"`
	VerifyDeadline time.Duration `json:"verify_deadline"`
}

// AcquireRequest asks the guard for the region. TakeoverFrom names a
// holder (its execution) the caller has found closed with all its batches
// closed: the guard hands the region over only if that run still holds it.
type AcquireRequest struct {
	WorkflowID   string `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Kind         string `json:"kind,omitempty"`
	StartedBy    string `json:"started_by,omitempty"`
	TakeoverFrom string `json:"takeover_from,omitempty"`
	// Execution is the caller's Temporal run ID (empty from runs recorded
	// before it existed, which the guard then knows by workflow ID only).
	Execution      string        `json:"execution,omitempty"`
	VerifyDeadline time.Duration `json:"verify_deadline,omitempty"`
}

// AcquireResult is the guard's answer.
type AcquireResult struct {
	Granted bool   `json:"granted"`
	Holder  Holder `json:"holder"` // who holds it now (the caller, when granted)
	// TookOver names the closed run the region was taken from, if any.
	TookOver string `json:"took_over,omitempty"`
	// Inherit lists the batches whose reboots the new holder must verify
	// before it repairs their instances (granted only).
	Inherit []RebootRef `json:"inherit,omitempty"`
	// FirstBatch is the lowest batch number the new holder may use: above
	// any batch an earlier execution under the same workflow ID started,
	// so no batch ID is reused while its instances may be unverified.
	FirstBatch int `json:"first_batch,omitempty"`
	// WaitFor names what must close before the region can be taken over:
	// the closed holder's batches still open (not granted).
	WaitFor []string `json:"wait_for,omitempty"`
	// Stuck says, when the holder is open but has made no progress for a
	// while, since when and what it last did (not granted).
	Stuck string `json:"stuck,omitempty"`
	// Recovered is what a replaced guard recovered and lost, for the
	// caller's warnings.
	Recovered string `json:"recovered,omitempty"`
}

// ReleaseRequest gives the region back. Verified says the run verified
// every reboot it sent and inherited; a run that ends without (a scan that
// failed after a takeover) leaves its inherited batches to the next.
type ReleaseRequest struct {
	WorkflowID string `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Execution  string `json:"execution,omitempty"`
	// Verified is true only when every reboot the run sent or inherited was
	// decided by a poll that read the agent (healed, no heartbeat by its
	// deadline, gone). A run cancelled, failed or stopped with reboots
	// undecided or decided blind (an account error, polls that failed past
	// the deadline, an inherit it could not read) says false: the guard
	// then keeps them for the next holder to verify.
	Verified bool `json:"verified,omitempty"`
}

// FenceRequest is what a holder tells the guard before it starts batches:
// that it still holds the region, and which of its batches may be open or
// unverified once these start.
type FenceRequest struct {
	WorkflowID string     `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Execution  string     `json:"execution"`
	Current    string     `json:"current"`
	Batches    BatchRange `json:"batches"`
	// Next is the first batch number the caller has not started yet: the
	// numbers Next..Batches.To are the ones it may now start. Sent by runs
	// that fence before every batch; the guard then refuses a Next that
	// goes back (the same execution) or that does not pass every number
	// the holder was granted (another execution: a Reset, which cannot
	// know which of them its predecessor started). 0 from older runs.
	Next int `json:"next,omitempty"`
}

// FenceResult is the guard's answer: OK, or why the caller does not hold
// the region.
type FenceResult struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
}

// HolderView answers QueryHolder.
type HolderView struct {
	Holder *Holder `json:"holder,omitempty"`
	// Recovering: a guard that replaced a closed one has not finished
	// learning the truth; ask again.
	Recovering bool        `json:"recovering,omitempty"`
	Reboots    []RebootRef `json:"reboots,omitempty"`
	Log        []string    `json:"log,omitempty"`
}

// Holds reports whether the view names the run (workflow ID and, when
// known, its execution) as holder.
func (v HolderView) Holds(runID, execution string) bool {
	h := v.Holder
	return h != nil && h.WorkflowID == runID && (h.Execution == "" || execution == "" || h.Execution == execution)
}

// NoteRequest adds a line to the guard's log (an operator's unlock).
type NoteRequest struct {
	By   string `json:"by"`
	Note string `json:"note"`
}

// Attempt is one failed repair of an instance.
type Attempt struct {
	WorkflowID string    `json:"run"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	At         time.Time `json:"at"`
	Reason     string    `json:"reason"`
}

// FailedAttempt is an Attempt of one instance, as a run reports it.
type FailedAttempt struct {
	InstanceID string `json:"instance_id"`
	Attempt
}

// RecordRequest adds a run's failed repairs to the ledger and clears the
// instances it repaired. ID makes it idempotent: the guard applies a
// request ID once, however often a retried activity sends it.
type RecordRequest struct {
	ID     string          `json:"id,omitempty"`
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

// InstanceRecord is one instance's failed repairs within the window. The
// guard keeps each failure's time and reason, and the run of the last one.
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
	// StuckAfter is how long a holder may go without progress before a
	// run that finds the region busy reports it stuck (0: the default).
	StuckAfter time.Duration `json:"stuck_after,omitempty"`
}

// Input names a region's guard for the other guard
type Input struct {
	Region    string `json:"region"`
	TaskQueue string `json:"task_queue"`
}

// RecordInput is RecordAttempts' input.
type RecordInput struct {
	Input
	Record RecordRequest `json:"record"`
}

// LedgerInput is ReadLedger's input.
type LedgerInput struct {
	Input
	After  int           `json:"after"`
	Window time.Duration `json:"window"`
}

// FenceInput is FenceBatches' input.
type FenceInput struct {
	Input
	Fence FenceRequest `json:"fence"`
}

// ConfirmInput is ConfirmHolder's input: a batch of run RunID (granted as
// Execution) asks whether its run still holds Region.
type ConfirmInput struct {
	Region     string `json:"region"`
	WorkflowID string `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Execution  string `json:"execution"`
}

// Activities are the guard's activities: every call a run, a batch or a
// replaced guard makes to Temporal about its region. Registered as a
// struct, each exported method is an activity named after the method.
type Activities struct {
	// Client is the worker's Temporal client.
	Client client.Client
	// MaxInherited bounds the instances InheritReboots hands a run to
	// verify (0: MaxInherited); a takeover of more waits out their
	// deadline instead.
	MaxInherited int
}

func (a *Activities) client() (client.Client, error) {
	if a.Client == nil {
		return nil, temporal.NewNonRetryableApplicationError("activities have no Temporal client configured (needed for the region guard)", "fleetmend.Misconfigured", nil)
	}
	return a.Client, nil
}

// updateGuard sends one update to a region's guard, starting the guard if
// it does not run yet. A non-empty updateID makes the update idempotent:
// Temporal applies an update ID once per guard run.
func (a *Activities) updateGuard(ctx context.Context, in Input, name, updateID string, arg, result any) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       WorkflowID(in.Region),
		TaskQueue:                in.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "fleetmend guard of " + in.Region + ": one acting run at a time, and the ledger that quarantines chronic instances",
	}, WorkflowType, Start{Region: in.Region})
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     updateID,
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

// ReleaseInput is ReleaseRegion's input.
type ReleaseInput struct {
	Input
	WorkflowID string `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Execution  string `json:"execution,omitempty"`
	Verified   bool   `json:"verified,omitempty"`
}

// ReleaseRegion gives the region back (a no-op when the run does not hold it).
func (a *Activities) ReleaseRegion(ctx context.Context, in ReleaseInput) error {
	var released bool
	return a.updateGuard(ctx, in.Input, UpdateRelease, "", ReleaseRequest{WorkflowID: in.WorkflowID, Execution: in.Execution, Verified: in.Verified}, &released)
}

// RecordAttempts writes a run's failed repairs (and the instances it healed)
// to the ledger. The request's ID is also the update's ID, so an attempt
// retried after its update completed records nothing twice.
func (a *Activities) RecordAttempts(ctx context.Context, in RecordInput) error {
	var n int
	return a.updateGuard(ctx, in.Input, UpdateRecord, in.Record.ID, in.Record, &n)
}

// FenceBatches tells the guard the run is about to start batches and asks
// whether it still holds the region. The guard then knows every batch the
// run may have open, which is what a takeover waits for.
func (a *Activities) FenceBatches(ctx context.Context, in FenceInput) (FenceResult, error) {
	var res FenceResult
	err := a.updateGuard(ctx, in.Input, UpdateFence, "", in.Fence, &res)
	return res, err
}

// ConfirmHolder is what a batch asks right before it installs and right
// before it reboots: does its run still hold the region? It is a query, so
// it costs the guard no history; a guard that is closed (terminated,
// cancelled) still answers with its last state, which nobody else can
// have been granted against. A guard still recovering is asked again.
func (a *Activities) ConfirmHolder(ctx context.Context, in ConfirmInput) (FenceResult, error) {
	c, err := a.client()
	if err != nil {
		return FenceResult{}, err
	}
	v, err := c.QueryWorkflow(ctx, WorkflowID(in.Region), "", QueryHolder)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return FenceResult{Reason: "the region has no guard, so no run holds it"}, nil
	}
	if err != nil {
		return FenceResult{}, temporal.NewApplicationError(fmt.Sprintf("ask the guard of %s who holds the region: %v", in.Region, err), "fleetmend.GuardUnavailable")
	}
	var view HolderView
	if err := v.Get(&view); err != nil {
		return FenceResult{}, temporal.NewNonRetryableApplicationError("decode the guard's holder of "+in.Region, "fleetmend.GuardRefused", err)
	}
	switch {
	case view.Recovering:
		return FenceResult{}, temporal.NewApplicationError("the guard of "+in.Region+" is recovering its state; asking again", "fleetmend.GuardUnavailable")
	case view.Holds(in.WorkflowID, in.Execution):
		return FenceResult{OK: true}, nil
	case view.Holder == nil:
		return FenceResult{Reason: "the guard of " + in.Region + " names no holder"}, nil
	}
	return FenceResult{Reason: fmt.Sprintf("the guard of %s names %s (execution %s) as holder", in.Region, view.Holder.WorkflowID, view.Holder.Execution)}, nil
}

// ReadLedger returns the region's ledger as of now. A region without a
// guard has an empty ledger.
func (a *Activities) ReadLedger(ctx context.Context, in LedgerInput) (LedgerView, error) {
	c, err := a.client()
	if err != nil {
		return LedgerView{}, err
	}
	v, err := c.QueryWorkflow(ctx, WorkflowID(in.Region), "", QueryLedger, LedgerQuery{Now: time.Now().UTC(), After: in.After, Window: in.Window})
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
