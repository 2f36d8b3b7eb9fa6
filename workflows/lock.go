package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/guard"
)

// The region lock as a run holds it: acquired before the scan, fenced
// before batches start, released at the end (see the guard package for
// the other side).

// acquireRetry is how long a run waits before asking again for a region
// whose closed holder still has batches open.
const acquireRetry = 10 * time.Second

// acquire asks the region's guard for the region; it returns the holder
// when another run has it. An engine 3 run waits, saying so in its
// progress and history, while a closed holder's batches are still open,
// then takes over what that holder rebooted and never verified.
func (r *run) acquire(ctx workflow.Context) (string, error) {
	var ga *guard.Activities
	r.st.Phase = "acquiring"
	req := guard.AcquireRequest{WorkflowID: r.runID, Kind: r.in.Kind, StartedBy: r.in.StartedBy}
	if r.fenced() {
		req.Execution = workflow.GetInfo(ctx).WorkflowExecution.RunID
		req.VerifyDeadline = r.in.VerifyDeadline.D()
	}
	var res guard.AcquireResult
	for {
		err := workflow.ExecuteActivity(guardActivity(ctx, "ask the guard of "+r.in.Region+" for the region (one acting run at a time)"), ga.AcquireRegion,
			guard.AcquireInput{Region: r.in.Region, TaskQueue: workflow.GetInfo(ctx).TaskQueueName, Request: req, StuckAfter: r.in.StuckAfter.D()}).Get(ctx, &res)
		if err != nil {
			return "", err
		}
		if res.Granted {
			break
		}
		if !r.fenced() || len(res.WaitFor) == 0 {
			if res.Stuck != "" {
				r.warn(res.Stuck)
			}
			return res.Holder.WorkflowID, nil
		}
		r.st.Phase = "waiting"
		r.st.Waiting = fmt.Sprintf("waiting for %s of %s to finish before acting (that run closed without releasing the region)", shortList(res.WaitFor), res.Holder.WorkflowID)
		r.warnOnce("waited", r.st.Waiting)
		workflow.SetCurrentDetails(ctx, r.st.Waiting)
		workflow.GetLogger(ctx).Info("region held by a closed run's open batches; waiting", "Holder", res.Holder.WorkflowID, "Batches", res.WaitFor)
		if r.wantContinueAsNew(ctx) {
			return "", errHandOn
		}
		timer := workflow.NewTimerWithOptions(ctx, acquireRetry, workflow.TimerOptions{Summary: r.st.Waiting})
		if err := timer.Get(ctx, nil); err != nil {
			return "", nil // cancelled: the caller sees ctx.Err()
		}
	}
	r.st.Locked = true
	r.st.Lease = req.Execution
	r.st.Waiting = ""
	r.st.NextBatch = max(r.st.NextBatch, res.FirstBatch)
	if res.TookOver != "" {
		r.warn("took the region over from " + res.TookOver + ", which closed without releasing it")
	}
	if res.Recovered != "" {
		r.warn(res.Recovered)
	}
	if r.fenced() && len(res.Inherit) > 0 {
		return "", r.inherit(ctx, res.Inherit)
	}
	return "", nil
}

// fenced says whether the run holds its region the fenced way (engine 3).
func (r *run) fenced() bool { return r.st.Engine >= engineV3 }

// strict says whether the run is of engine 4 (see fenceEachBatch).
func (r *run) strict() bool { return r.st.Engine >= engineV4 }

// release gives the region back. It runs on a disconnected context so a
// cancelled run releases too; a run that is terminated cannot, and the next
// run takes the region over once it sees that one and its batches closed.
// Verified says every reboot this run sent or inherited has been verified.
func (r *run) release(ctx workflow.Context) {
	var ga *guard.Activities
	if !r.st.Locked {
		return
	}
	err := workflow.ExecuteActivity(guardActivity(ctx, "give "+r.in.Region+" back to its guard"), ga.ReleaseRegion,
		guard.ReleaseInput{Input: r.guardInput(ctx), WorkflowID: r.runID, Execution: r.st.Lease,
			Verified: r.verified()}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("could not release the region; the next run will take it over", "Error", err)
		return
	}
	r.st.Locked = false
}

// verified says whether every reboot this run sent or inherited has been
// decided by a poll that read the agent: only then may the guard forget
// the reboots of the runs it took over. Nothing left to verify is not
// enough (engine 4): a cancel during an inherited wait, an account error,
// polls that failed past a deadline or a batch that failed clear the list
// without anyone having looked.
func (r *run) verified() bool {
	done := r.fenced() && len(r.st.Verifying) == 0 && len(r.inFlight) == 0
	if r.strict() {
		return done && !r.st.Unverified
	}
	return done
}

// fence tells the guard, before a round of batches starts, which batches
// this run may now have open, and confirms it still holds the region
// (engine 3). It registers a few batch numbers ahead, as many as could
// start now. A refusal stops the run: it no longer holds the region.
//
// An engine 4 run fences again whenever the next batch's number is past
// what the guard knows, so no batch starts outside the fenced range
// whatever the canary, batch, blast radius, plan or retune sizes make the
// round; and it names the first number it will start (Next), so the guard
// can refuse a number used before.
func (r *run) fence(ctx workflow.Context) bool {
	var ga *guard.Activities
	if !r.fenced() {
		return true
	}
	if r.roundFenced && (!r.strict() || r.st.NextBatch <= r.st.Fenced) {
		return true
	}
	ahead := max(1, min(maxFenceAhead, r.room()))
	to := r.st.NextBatch + ahead - 1
	req := guard.FenceRequest{WorkflowID: r.runID, Execution: r.st.Lease, Current: workflow.GetInfo(ctx).WorkflowExecution.RunID,
		Batches: guard.BatchRange{From: r.openFrom(), To: to}}
	if r.strict() {
		req.Next = r.st.NextBatch
	}
	var res guard.FenceResult
	err := workflow.ExecuteLocalActivity(fenceActivity(ctx), ga.FenceBatches, guard.FenceInput{Input: r.guardInput(ctx),
		Fence: req}).Get(ctx, &res)
	switch {
	case err != nil:
		r.lost(ctx, "could not confirm with the guard that this run still holds the region: "+errText(err))
		return false
	case !res.OK:
		r.lost(ctx, res.Reason)
		return false
	}
	r.st.Fenced = max(r.st.Fenced, to)
	r.roundFenced = true
	return true
}

// maxFenceAhead bounds the batch numbers one fence registers.
const maxFenceAhead = 50

// lost stops a run that no longer holds its region: it starts nothing
// more and does not release what it does not hold.
func (r *run) lost(ctx workflow.Context, why string) {
	r.st.Locked = false
	r.stop(ctx, "stopped: lost the region "+r.in.Region+": "+why, "fleetmend.RegionLost", ReasonRegionLost)
}

// openFrom is the lowest batch number of this run that may still be open
// or have instances not verified yet.
func (r *run) openFrom() int {
	from := r.st.NextBatch
	for _, f := range r.inFlight {
		from = min(from, f.number)
	}
	for _, v := range r.st.Verifying {
		if v.From == "" && v.Batch > 0 {
			from = min(from, v.Batch)
		}
	}
	return from
}

func (r *run) guardInput(ctx workflow.Context) guard.Input {
	return guard.Input{Region: r.in.Region, TaskQueue: workflow.GetInfo(ctx).TaskQueueName}
}
