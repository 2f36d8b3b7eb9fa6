package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// VerifyTarget is an instance a batch installed on (and rebooted, unless
// the policy is never) whose agent its run then waits for. It is what a
// batch hands its run, and what a run that takes a region over reads back
// from the batches of a run that closed without verifying them.
type VerifyTarget struct {
	ID      string `json:"i"`
	Problem string `json:"p"`
	// Action is what the batch did, for the report's Action column.
	Action string `json:"a"`
	// Since is when the wait starts: the end of the reboot call, or of the
	// install when there is no reboot. The verify deadline counts from it.
	Since time.Time `json:"at"`
	// Rebooted: a reboot was sent (the instance is down until it is seen
	// Running again). InTransit: ECS showed the reboot under way.
	Rebooted  bool `json:"r,omitempty"`
	InTransit bool `json:"t,omitempty"`
	// Unconfirmed: a worker stopped between sending the reboot and hearing
	// ECS; it was not sent again (see RebootOutcome).
	Unconfirmed bool `json:"u,omitempty"`
}

// InheritInput names the batches to read back.
type InheritInput struct {
	Refs []RebootRef `json:"refs"`
}

// Inherited is one instance to verify before it may be repaired: it was
// rebooted (or may have been) by RunID's batch, and must not be rebooted
// again before Deadline.
type Inherited struct {
	VerifyTarget
	WorkflowID string    `json:"run"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Batch      int       `json:"b"`
	Deadline   time.Time `json:"d"`
}

// InheritResult is what InheritReboots read.
type InheritResult struct {
	Instances []Inherited `json:"instances,omitempty"`
	// Batches is how many batches were read; Unfinished those that closed
	// without a result (failed, terminated, timed out), whose every
	// instance is taken as possibly rebooted when the batch closed.
	Batches    int `json:"batches"`
	Unfinished int `json:"unfinished,omitempty"`
	// Over: more instances than MaxInherited; Instances is then empty and
	// the caller waits until NotBefore instead.
	Over      bool      `json:"over,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
}

// Handover is what a batch hands its run to verify: the instances it
// installed on and rebooted (or may have). It is part of every batch's
// result (the workflows package's BatchResult embeds it), and it is what
// a takeover reads back from the batches of a run that closed without
// verifying them: one type, so the two cannot drift apart.
type Handover struct {
	Verify []VerifyTarget `json:"verify,omitempty"`
}

// BatchTarget is one instance handed to a batch and the problem the scan
// saw.
type BatchTarget struct {
	InstanceID string `json:"instance_id"`
	Problem    string `json:"problem"`
}

// BatchStart is the part of a batch's input a takeover reads when the
// batch left no result (the workflows package's BatchInput embeds it).
type BatchStart struct {
	Instances []BatchTarget `json:"instances"`
}

// InheritReboots reads back, from the batches of runs that closed without
// verifying them, the instances those batches rebooted or may have: the
// new holder verifies them until their deadline instead of repairing them,
// so no instance is rebooted twice within its verify deadline whoever
// sends the reboots. Instances whose deadline has passed are left out:
// they may be repaired again.
func (a *Activities) InheritReboots(ctx context.Context, in InheritInput) (InheritResult, error) {
	if _, err := a.client(); err != nil {
		return InheritResult{}, err
	}
	var res InheritResult
	now := time.Now()
	for _, ref := range in.Refs {
		for n := ref.Batches.From; n <= ref.Batches.To; n++ {
			activity.RecordHeartbeat(ctx, n)
			targets, closedAt, unfinished, err := a.readBatch(ctx, BatchWorkflowID(ref.WorkflowID, n))
			if err != nil {
				return InheritResult{}, err
			}
			res.Batches++
			if unfinished {
				res.Unfinished++
			}
			for _, t := range targets {
				since := t.Since
				if since.IsZero() {
					since = closedAt
				}
				deadline := since.Add(ref.VerifyDeadline)
				if !deadline.After(now) {
					continue
				}
				res.Instances = append(res.Instances, Inherited{VerifyTarget: t, WorkflowID: ref.WorkflowID, Batch: n, Deadline: deadline})
				res.NotBefore = maxTime(res.NotBefore, deadline)
			}
		}
	}
	most := MaxInherited
	if a.MaxInherited > 0 {
		most = min(a.MaxInherited, MaxInherited)
	}
	if len(res.Instances) > most {
		res.Over, res.Instances = true, nil
	}
	return res, nil
}

// readBatch returns what batch id handed its run to verify. A batch that
// closed without a result may have rebooted any of its instances: they
// are all returned, unconfirmed, as of when it closed. A batch never
// started (fenced, then the run ended) or long gone returns nothing.
func (a *Activities) readBatch(ctx context.Context, id string) ([]VerifyTarget, time.Time, bool, error) {
	c := a.Client
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, temporal.NewApplicationError(fmt.Sprintf("describe %s: %v", id, err), "fleetmend.GuardUnavailable")
	}
	info := d.GetWorkflowExecutionInfo()
	closedAt := info.GetCloseTime().AsTime()
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return nil, time.Time{}, false, temporal.NewApplicationError(id+" is still running; the region cannot be taken over yet", "fleetmend.GuardUnavailable")
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		var out Handover
		if err := c.GetWorkflow(ctx, id, info.GetExecution().GetRunId()).Get(ctx, &out); err != nil {
			return nil, time.Time{}, false, temporal.NewApplicationError(fmt.Sprintf("read the result of %s: %v", id, err), "fleetmend.GuardUnavailable")
		}
		return out.Verify, closedAt, false, nil
	}
	// Failed, terminated, timed out, cancelled: what it did is unknown, so
	// every instance it was given counts as possibly rebooted.
	it := c.GetWorkflowHistory(ctx, id, info.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return nil, closedAt, true, nil
	}
	first, err := it.Next()
	if err != nil {
		return nil, time.Time{}, false, temporal.NewApplicationError(fmt.Sprintf("read the input of %s: %v", id, err), "fleetmend.GuardUnavailable")
	}
	var start BatchStart
	if p := first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads(); len(p) > 0 {
		if err := converter.GetDefaultDataConverter().FromPayload(p[0], &start); err != nil {
			return nil, time.Time{}, false, temporal.NewNonRetryableApplicationError("decode the input of "+id, "fleetmend.GuardRefused", err)
		}
	}
	out := make([]VerifyTarget, len(start.Instances))
	for i, t := range start.Instances {
		out[i] = VerifyTarget{ID: t.InstanceID, Problem: t.Problem, Since: closedAt, Rebooted: true, Unconfirmed: true,
			Action: "batch " + id + " closed without a result (" + statusText(info.GetStatus()) + "); its reboot may have been sent"}
	}
	return out, closedAt, true, nil
}

func statusText(s enumspb.WorkflowExecutionStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
