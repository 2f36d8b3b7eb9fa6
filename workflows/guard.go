package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
)

// Bounds of a guard's ledger: it only remembers instances that failed, and
// only so much of each, so it stays small at any fleet size.
const (
	maxLedgerInstances  = 5000
	maxAttemptsKept     = 10
	guardEventsPerRun   = 2000
	maxClearReasonChars = 500
)

// GuardState is a region guard's whole state, handed on at continue-as-new.
type GuardState struct {
	Region string             `json:"region"`
	Holder *activities.Holder `json:"holder,omitempty"`
	// Ledger has one entry per instance with failed repairs, sorted by ID.
	Ledger []LedgerEntry `json:"ledger,omitempty"`
	// Log is the last lock and clear events, for whoever reads the history.
	Log []string `json:"log,omitempty"`
}

// LedgerEntry is one instance's failed repairs, oldest first.
type LedgerEntry struct {
	InstanceID string               `json:"i"`
	Attempts   []activities.Attempt `json:"a"`
}

// RegionGuard grants a region to one acting run at a time and keeps the
// ledger of failed repairs that quarantines chronic instances. It is the
// only place where two runs' decisions meet, so it is a workflow: its
// updates are processed one at a time, durably, whatever starts the runs
// (CLI, schedules, the SDK). See activities.GuardWorkflowType for how runs
// reach it. It runs until cancelled, continuing as new to keep its history
// short.
func RegionGuard(ctx workflow.Context, st GuardState) error {
	g := &guard{st: st}
	if err := g.register(ctx); err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool {
		info := workflow.GetInfo(ctx)
		return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= guardEventsPerRun
	}); err != nil {
		return nil // cancelled: an operator retired the guard
	}
	// Let accepted updates finish before handing the state on.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return nil
	}
	return workflow.NewContinueAsNewError(ctx, RegionGuard, g.st)
}

type guard struct {
	st GuardState
}

func (g *guard) register(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, activities.GuardUpdateAcquire, g.acquire,
		workflow.UpdateHandlerOptions{Validator: func(r activities.AcquireRequest) error {
			if r.RunID == "" {
				return errors.New("run_id is required")
			}
			return nil
		}}); err != nil {
		return fmt.Errorf("register acquire: %w", err)
	}
	if err := workflow.SetUpdateHandler(ctx, activities.GuardUpdateRelease, g.release); err != nil {
		return fmt.Errorf("register release: %w", err)
	}
	if err := workflow.SetUpdateHandler(ctx, activities.GuardUpdateRecord, g.record); err != nil {
		return fmt.Errorf("register record: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, activities.GuardUpdateClear, g.clear,
		workflow.UpdateHandlerOptions{Validator: func(r activities.ClearRequest) error {
			switch {
			case strings.TrimSpace(r.Reason) == "":
				return errors.New("reason is required: say why the quarantine is lifted")
			case len(r.Reason) > maxClearReasonChars:
				return fmt.Errorf("reason is %d characters, allowed at most %d", len(r.Reason), maxClearReasonChars)
			}
			return ValidateInstanceIDs("instance_ids", r.InstanceIDs)
		}}); err != nil {
		return fmt.Errorf("register clear: %w", err)
	}
	if err := workflow.SetQueryHandler(ctx, activities.GuardQueryLedger, g.view); err != nil {
		return fmt.Errorf("register ledger query: %w", err)
	}
	return nil
}

func (g *guard) acquire(ctx workflow.Context, r activities.AcquireRequest) (activities.AcquireResult, error) {
	h := g.st.Holder
	switch {
	case h == nil || h.RunID == r.RunID:
		// Free, or the holder asking again (a retried activity, or the
		// holder after continue-as-new).
	case r.TakeoverFrom != "" && r.TakeoverFrom == h.RunID:
		g.log(ctx, fmt.Sprintf("%s took the region over from %s, which closed without releasing it", r.RunID, h.RunID))
		res := g.grant(ctx, r)
		res.TookOver = h.RunID
		return res, nil
	default:
		return activities.AcquireResult{Granted: false, Holder: *h}, nil
	}
	return g.grant(ctx, r), nil
}

func (g *guard) grant(ctx workflow.Context, r activities.AcquireRequest) activities.AcquireResult {
	if g.st.Holder == nil || g.st.Holder.RunID != r.RunID {
		g.st.Holder = &activities.Holder{RunID: r.RunID, Kind: r.Kind, StartedBy: r.StartedBy, Since: workflow.Now(ctx)}
		g.log(ctx, "granted to "+r.RunID)
	}
	return activities.AcquireResult{Granted: true, Holder: *g.st.Holder}
}

func (g *guard) release(ctx workflow.Context, r activities.ReleaseRequest) (bool, error) {
	if g.st.Holder == nil || g.st.Holder.RunID != r.RunID {
		return false, nil
	}
	g.st.Holder = nil
	g.log(ctx, "released by "+r.RunID)
	return true, nil
}

func (g *guard) record(ctx workflow.Context, r activities.RecordRequest) (int, error) {
	for _, id := range r.Healed {
		g.forget(id)
	}
	for _, f := range r.Failed {
		i, found := g.find(f.InstanceID)
		if !found {
			g.st.Ledger = slices.Insert(g.st.Ledger, i, LedgerEntry{InstanceID: f.InstanceID})
		}
		e := &g.st.Ledger[i]
		e.Attempts = append(e.Attempts, f.Attempt)
		if n := len(e.Attempts); n > maxAttemptsKept {
			e.Attempts = slices.Clone(e.Attempts[n-maxAttemptsKept:])
		}
	}
	g.prune(workflow.Now(ctx))
	return len(g.st.Ledger), nil
}

func (g *guard) clear(ctx workflow.Context, r activities.ClearRequest) (activities.ClearResult, error) {
	var res activities.ClearResult
	if len(r.InstanceIDs) == 0 {
		for _, e := range g.st.Ledger {
			res.Cleared = append(res.Cleared, e.InstanceID)
		}
		g.st.Ledger = nil
	} else {
		for _, id := range r.InstanceIDs {
			if g.forget(id) {
				res.Cleared = append(res.Cleared, id)
			}
		}
	}
	g.log(ctx, fmt.Sprintf("%s cleared %d instances: %s", r.By, len(res.Cleared), r.Reason))
	return res, nil
}

// view answers the ledger query. Queries must not change state, and "now"
// comes from the caller: a query handler has no clock of its own.
func (g *guard) view(q activities.LedgerQuery) (activities.LedgerView, error) {
	v := activities.LedgerView{Holder: g.st.Holder}
	from := q.Now.Add(-q.Window)
	for _, e := range g.st.Ledger {
		var in []activities.Attempt
		for _, a := range e.Attempts {
			if a.At.After(from) {
				in = append(in, a)
			}
		}
		if len(in) == 0 {
			continue
		}
		rec := activities.InstanceRecord{InstanceID: e.InstanceID, Attempts: in}
		if q.After > 0 && len(in) >= q.After {
			rec.Quarantined = true
			// The quarantine lifts when the oldest counted failure leaves
			// the window, i.e. when fewer than After remain in it.
			rec.Until = in[len(in)-q.After].At.Add(q.Window)
		}
		v.Records = append(v.Records, rec)
	}
	return v, nil
}

func (g *guard) find(id string) (int, bool) {
	return slices.BinarySearchFunc(g.st.Ledger, id, func(e LedgerEntry, id string) int { return strings.Compare(e.InstanceID, id) })
}

func (g *guard) forget(id string) bool {
	i, found := g.find(id)
	if found {
		g.st.Ledger = slices.Delete(g.st.Ledger, i, i+1)
	}
	return found
}

// prune drops failures older than the longest window any run may ask
// about, and, beyond the size bound, the instances whose last failure is
// oldest.
func (g *guard) prune(now time.Time) {
	from := now.Add(-MaxQuarantineWindow)
	kept := g.st.Ledger[:0]
	for _, e := range g.st.Ledger {
		e.Attempts = slices.DeleteFunc(e.Attempts, func(a activities.Attempt) bool { return !a.At.After(from) })
		if len(e.Attempts) > 0 {
			kept = append(kept, e)
		}
	}
	g.st.Ledger = kept
	for len(g.st.Ledger) > maxLedgerInstances {
		oldest := 0
		for i, e := range g.st.Ledger {
			if e.Attempts[len(e.Attempts)-1].At.Before(g.st.Ledger[oldest].Attempts[len(g.st.Ledger[oldest].Attempts)-1].At) {
				oldest = i
			}
		}
		g.st.Ledger = slices.Delete(g.st.Ledger, oldest, oldest+1)
	}
}

func (g *guard) log(ctx workflow.Context, msg string) {
	const keep = 20
	g.st.Log = append(g.st.Log, workflow.Now(ctx).UTC().Format(time.RFC3339)+" "+msg)
	if n := len(g.st.Log); n > keep {
		g.st.Log = slices.Clone(g.st.Log[n-keep:])
	}
	workflow.GetLogger(ctx).Info("region guard", "Region", g.st.Region, "Event", msg)
}
