package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// Stopping: what a run does when it must start no further batch.

// stop starts no further batch: the queue is reported not attempted with
// reason. Batches in flight finish (an abort or an account error tells
// them to act no further), and reboots already sent are verified.
func (r *run) stop(ctx workflow.Context, why, code, reason string) {
	// An account-level error is what the run fails with, even after an
	// earlier stop: it is the line an operator must read.
	if r.st.Stopped == "" || (code != "" && r.st.StopCode == "") {
		r.st.Stopped, r.st.StopCode, r.st.StopReason = why, code, reason
	}
	r.notAttempted(reason, why)
	switch {
	case code != "":
		r.st.Phase = "failing"
		r.st.Controls.Aborted = true
		r.tellBatches(ctx)
	case reason == ReasonAborted:
		r.st.Phase = "aborted"
		r.tellBatches(ctx)
	case reason == ReasonUnlocked:
		r.st.Phase = "unlocking"
		r.tellBatches(ctx) // resumed, if they were paused: they finish
	default:
		r.st.Phase = "stopped"
	}
	workflow.SetCurrentDetails(ctx, why)
}
