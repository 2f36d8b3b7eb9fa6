package guard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// Client is what talks to a region's guard from outside a workflow: the
// starter CLI (status, unlock, quarantine) and the worker's trend reads.
// It queries and updates the guard as it runs; it never starts one (a
// region no run has acted on has none, and nothing to say).
type Client struct {
	Temporal client.Client
}

// ErrNoGuard says the region has no guard: no run has acted on it.
var errNoGuard = errors.New("the region has no guard: no run has acted on it")

// IsNoGuard says whether err means the region has no guard yet.
func IsNoGuard(err error) bool { return errors.Is(err, errNoGuard) }

// Holder answers who holds the region, the batches of closed runs the
// next holder verifies first, and the guard's log. A region without a
// guard is free (the zero view).
func (c Client) Holder(ctx context.Context, region string) (HolderView, error) {
	var view HolderView
	err := c.query(ctx, region, QueryHolder, &view)
	if IsNoGuard(err) {
		return HolderView{}, nil
	}
	return view, err
}

// Ledger answers the region's failed repairs as of now: the instances with
// failures within window, and which of them have after or more.
func (c Client) Ledger(ctx context.Context, region string, now time.Time, after int, window time.Duration) (LedgerView, error) {
	var view LedgerView
	err := c.query(ctx, region, QueryLedger, &view, LedgerQuery{Now: now, After: after, Window: window})
	if IsNoGuard(err) {
		return LedgerView{}, nil
	}
	return view, err
}

// CountAttempts is how many failed repairs within window the ledger holds
// for each of ids that has any (the trend's read; see
// activities.AttemptCounter).
func (c Client) CountAttempts(ctx context.Context, region string, window time.Duration, ids []string) (map[string]int, error) {
	view, err := c.Ledger(ctx, region, time.Now().UTC(), 0, window)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := map[string]int{}
	for _, rec := range view.Records {
		if want[rec.InstanceID] {
			out[rec.InstanceID] = len(rec.Attempts)
		}
	}
	return out, nil
}

// Clear forgets the ledger of instances (every instance when ids is
// empty), so the next run tries them again. A region without a guard has
// nothing to clear.
func (c Client) Clear(ctx context.Context, region string, req ClearRequest) (ClearResult, error) {
	var res ClearResult
	err := c.update(ctx, region, UpdateClear, req, &res)
	if IsNoGuard(err) {
		return ClearResult{}, nil
	}
	return res, err
}

// Note adds a line to the guard's log (an operator's unlock).
func (c Client) Note(ctx context.Context, region string, req NoteRequest) error {
	var ok bool
	return c.update(ctx, region, UpdateNote, req, &ok)
}

// OpenBatches names the batches of the run with workflow ID run that are
// still open (see OpenBatches).
func (c Client) OpenBatches(ctx context.Context, run string, r BatchRange) ([]string, error) {
	return OpenBatches(ctx, c.Temporal, run, r, func() {})
}

func (c Client) query(ctx context.Context, region, name string, out any, args ...any) error {
	v, err := c.Temporal.QueryWorkflow(ctx, WorkflowID(region), "", name, args...)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return errNoGuard
	case err != nil:
		return fmt.Errorf("ask the guard of %s (%s): %w", region, name, err)
	}
	if err := v.Get(out); err != nil {
		return fmt.Errorf("decode the guard of %s's answer to %s: %w", region, name, err)
	}
	return nil
}

func (c Client) update(ctx context.Context, region, name string, arg, out any) error {
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: WorkflowID(region), UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, out)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return errNoGuard
	}
	return err
}
