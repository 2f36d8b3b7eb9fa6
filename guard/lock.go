package guard

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"
)

// The lock: who holds the region, which batches it may have open, and
// how it passes to the next holder.

// same says whether request r comes from the holder: the same workflow ID
// and the same execution (unknown executions, from runs recorded before
// they were kept, match by workflow ID).
func same(h *Holder, runID, execution string) bool {
	return h.WorkflowID == runID && (h.Execution == "" || execution == "" || h.Execution == execution)
}

func (g *guard) acquire(ctx workflow.Context, r AcquireRequest) (AcquireResult, error) {
	if err := g.awaitReady(ctx); err != nil {
		return AcquireResult{}, err
	}
	h := g.st.Holder
	switch {
	case h == nil || same(h, r.WorkflowID, r.Execution):
		// Free, or the holder asking again (a retried activity).
	case r.TakeoverFrom != "" && (r.TakeoverFrom == h.Execution || (h.Execution == "" && r.TakeoverFrom == h.WorkflowID)):
		g.retire(ctx, *h, fmt.Sprintf("%s took the region over from %s, which closed without releasing it and whose batches have all closed", r.WorkflowID, h.WorkflowID))
		g.st.Holder = nil
		res := g.grant(ctx, r)
		res.TookOver = h.WorkflowID
		return res, nil
	default:
		return AcquireResult{Granted: false, Holder: *h}, nil
	}
	return g.grant(ctx, r), nil
}

func (g *guard) grant(ctx workflow.Context, r AcquireRequest) AcquireResult {
	now := workflow.Now(ctx)
	g.pruneReboots(now)
	if g.st.Holder == nil {
		first := g.firstBatch(r.WorkflowID)
		g.st.Holder = &Holder{WorkflowID: r.WorkflowID, Kind: r.Kind, StartedBy: r.StartedBy, Since: now,
			Execution: r.Execution, Current: r.Execution, VerifyDeadline: r.VerifyDeadline,
			Batches: BatchRange{From: first, To: first - 1}, LastFence: now}
		g.log(ctx, "granted to "+r.WorkflowID)
	}
	h := g.st.Holder
	return AcquireResult{Granted: true, Holder: *h, FirstBatch: h.Batches.From,
		Inherit: slices.Clone(g.st.Reboots)}
}

// retire turns a holder that closed without verifying what it rebooted
// into the batches the next holder must verify first. Its batches have all
// closed, so every reboot they sent is older than now, and none can need
// verifying after now plus its verify deadline.
func (g *guard) retire(ctx workflow.Context, h Holder, why string) {
	g.number(h.WorkflowID, lastGranted(h))
	if h.Batches.Len() > 0 {
		deadline := h.VerifyDeadline
		if deadline <= 0 {
			deadline = MaxVerifyDeadline
		}
		g.st.Reboots = append(g.st.Reboots, RebootRef{WorkflowID: h.WorkflowID, Batches: h.Batches,
			Until: workflow.Now(ctx).Add(deadline), VerifyDeadline: deadline})
		if n := len(g.st.Reboots); n > maxRebootRefs {
			g.st.Reboots = slices.Clone(g.st.Reboots[n-maxRebootRefs:])
		}
		why += fmt.Sprintf("; its batches %d..%d are verified by the next holder before their instances are repaired", h.Batches.From, h.Batches.To)
	}
	g.log(ctx, why)
}

// lastGranted is the highest batch number a holder may have started: a
// new run under its workflow ID numbers its batches after it, so no batch
// ID is used twice.
func lastGranted(h Holder) int { return max(h.Fenced, h.Batches.To) }

func (g *guard) pruneReboots(now time.Time) {
	g.st.Reboots = slices.DeleteFunc(g.st.Reboots, func(r RebootRef) bool { return !r.Until.After(now) })
}

// firstBatch is the first batch number a new holder with workflow ID runID
// uses: after the batches earlier runs under that ID started.
func (g *guard) firstBatch(runID string) int {
	for _, n := range g.st.Numbering {
		if n.WorkflowID == runID {
			return n.Last + 1
		}
	}
	return 1
}

func (g *guard) number(runID string, last int) {
	if last <= 0 {
		return
	}
	g.st.Numbering = slices.DeleteFunc(g.st.Numbering, func(n Numbering) bool { return n.WorkflowID == runID })
	g.st.Numbering = append(g.st.Numbering, Numbering{WorkflowID: runID, Last: last})
	if n := len(g.st.Numbering); n > maxNumbering {
		g.st.Numbering = slices.Clone(g.st.Numbering[n-maxNumbering:])
	}
}

func (g *guard) release(ctx workflow.Context, r ReleaseRequest) (bool, error) {
	if err := g.awaitReady(ctx); err != nil {
		return false, err
	}
	h := g.st.Holder
	if h == nil || !same(h, r.WorkflowID, r.Execution) {
		return false, nil
	}
	if r.Verified {
		// It verified every reboot it sent and every one it inherited:
		// no instance of the region waits for a verify.
		g.number(h.WorkflowID, lastGranted(*h))
		g.st.Reboots = nil
		g.log(ctx, "released by "+r.WorkflowID)
	} else {
		g.retire(ctx, *h, "released by "+r.WorkflowID)
	}
	g.st.Holder = nil
	return true, nil
}

// fence confirms a holder before it starts batches and learns which of its
// batches may be open. A request from the holder's workflow ID and
// execution but another run that would start batches the guard already
// knows was started (a Reset to a point after the region was granted) is
// refused: those batches' IDs were used by the run before the reset.
func (g *guard) fence(ctx workflow.Context, r FenceRequest) (FenceResult, error) {
	if err := g.awaitReady(ctx); err != nil {
		return FenceResult{}, err
	}
	h := g.st.Holder
	switch {
	case h == nil:
		return FenceResult{Reason: "the region is not held by anyone (this run's hold was lost)"}, nil
	case !same(h, r.WorkflowID, r.Execution):
		return FenceResult{Reason: "the region is held by " + h.WorkflowID}, nil
	case r.Next > 0:
		if why := numbersReused(h, r); why != "" {
			return FenceResult{Reason: why}, nil
		}
	case r.Current != h.Current && r.Batches.To <= h.Batches.To && r.Batches.Len() > 0:
		return FenceResult{Reason: fmt.Sprintf("batches up to %d were started by run %s of %s, and run %s would start batch %d again (was it reset to a point after it acquired the region? reset it to its first workflow task instead)",
			h.Batches.To, h.Current, h.WorkflowID, r.Current, r.Batches.To)}, nil
	}
	h.Current = r.Current
	h.Batches = r.Batches
	h.LastFence = workflow.Now(ctx)
	h.Fenced = max(h.Fenced, h.Batches.To)
	if r.Next > 0 {
		h.Next = r.Next
	}
	return FenceResult{OK: true}, nil
}

// numbersReused says why a fence that names the first number it will start
// (FenceRequest.Next) would start a batch number the holder may already
// have used, or "". The same execution never goes back: numbers below its
// last Next may have been started. Another execution of the holder's chain
// (a continue-as-new successor, which numbers on past everything fenced, or
// a Reset, which cannot know which fenced numbers its predecessor started)
// must start above every number ever granted. So both ends of the range are
// checked, and no batch ID is used twice.
func numbersReused(h *Holder, r FenceRequest) string {
	granted := lastGranted(*h)
	switch {
	case r.Current == h.Current && r.Next < h.Next:
		return fmt.Sprintf("run %s of %s would start batch %d again: its last fence said it starts at %d", r.Current, r.WorkflowID, r.Next, h.Next)
	case r.Current != h.Current && r.Next <= granted:
		return fmt.Sprintf("batches up to %d may have been started by run %s of %s, and run %s would start batch %d (was it reset to a point after it acquired the region? reset it to its first workflow task instead)",
			granted, h.Current, h.WorkflowID, r.Current, r.Next)
	}
	return ""
}
