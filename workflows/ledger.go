package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/guard"
)

// The quarantine ledger as a run uses it: read before anything is
// touched, written with what the run decided.

// applyLedger reads the region's ledger of failed repairs: queued
// instances with QuarantineAfter failures within the window are
// quarantined (reported with their history, not touched); the others with
// a record are remembered, to clear the record if this run repairs them.
func (r *run) applyLedger(ctx workflow.Context) error {
	var ga *guard.Activities
	if len(r.st.Queue) == 0 {
		return nil
	}
	var view guard.LedgerView
	err := workflow.ExecuteActivity(guardActivity(ctx, "read the quarantine ledger of "+r.in.Region), ga.ReadLedger,
		guard.LedgerInput{Input: r.guardInput(ctx), After: r.in.QuarantineAfter, Window: r.in.QuarantineWindow.D()}).Get(ctx, &view)
	if err != nil {
		return err
	}
	records := make(map[string]guard.InstanceRecord, len(view.Records))
	for _, rec := range view.Records {
		records[rec.InstanceID] = rec
	}
	kept := r.st.Queue[:0]
	for _, c := range r.st.Queue {
		rec, ok := records[c.ID]
		switch {
		case !ok:
			kept = append(kept, c)
		case rec.Quarantined:
			r.addRow(Row{InstanceID: c.ID, Problem: c.Problem, Outcome: OutcomeQuarantined, Detail: quarantineDetail(rec, r.in)})
		default:
			if len(r.st.HadRecords) < maxHadRecords {
				// Beyond the bound a repaired instance's old record stays
				// until it leaves the window (it can only quarantine it
				// sooner if it fails again).
				r.st.HadRecords = append(r.st.HadRecords, c.ID)
			}
			kept = append(kept, c)
		}
	}
	r.st.Queue = kept
	return nil
}

func quarantineDetail(rec guard.InstanceRecord, in RegionInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d failed repairs within %s:", len(rec.Attempts), in.QuarantineWindow)
	for i, a := range rec.Attempts {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s %s", a.At.UTC().Format(time.RFC3339), a.Reason)
		if a.WorkflowID != "" {
			fmt.Fprintf(&b, " by %s", a.WorkflowID)
		}
	}
	fmt.Fprintf(&b, ". Left alone until %s, or `starter quarantine clear --region %s --instance %s`",
		rec.Until.UTC().Format(time.RFC3339), in.Region, rec.InstanceID)
	return b.String()
}

// toLedger notes what the region's ledger must learn from a decided row:
// a failed repair counts towards quarantine, a repair clears the record.
func (r *run) toLedger(ctx workflow.Context, row Row) {
	switch {
	case row.Outcome == OutcomeFailed && (row.Reason == ReasonNoHeartbeat || row.Reason == ReasonInstallFailed):
		r.st.Ledger.Failed = append(r.st.Ledger.Failed, guard.FailedAttempt{InstanceID: row.InstanceID,
			Attempt: guard.Attempt{WorkflowID: r.runID, At: workflow.Now(ctx), Reason: row.Reason}})
	case row.Outcome == OutcomeFailed && row.Reason == ReasonInheritedNoHeartbeat:
		r.st.Ledger.Failed = append(r.st.Ledger.Failed, guard.FailedAttempt{InstanceID: row.InstanceID,
			Attempt: guard.Attempt{WorkflowID: r.runID, At: workflow.Now(ctx), Reason: ReasonNoHeartbeat}})
	case (row.Outcome == OutcomeRemediated || row.Outcome == OutcomeAlreadyHealthy) && slices.Contains(r.st.HadRecords, row.InstanceID):
		r.st.Ledger.Healed = append(r.st.Ledger.Healed, row.InstanceID)
	}
}

// finishLedger writes what the ledger must learn. Losing it (the guard
// unavailable for the activity's retries) costs at most one more attempt
// on a chronic instance, so it does not fail the run.
func (r *run) finishLedger(ctx workflow.Context) {
	var ga *guard.Activities
	l := r.st.Ledger
	if len(l.Failed) == 0 && len(l.Healed) == 0 {
		return
	}
	if r.fenced() {
		// Idempotent: a retried activity whose update already completed
		// records nothing twice.
		r.st.LedgerWrites++
		l.ID = fmt.Sprintf("record/%s/%d", workflow.GetInfo(ctx).WorkflowExecution.RunID, r.st.LedgerWrites)
	}
	err := workflow.ExecuteActivity(guardActivity(ctx, fmt.Sprintf("record %d failed repairs and %d healed instances in the ledger of %s", len(l.Failed), len(l.Healed), r.in.Region)),
		ga.RecordAttempts, guard.RecordInput{Input: r.guardInput(ctx), Record: l}).Get(ctx, nil)
	if err != nil {
		r.warn("could not write the quarantine ledger: " + errText(err))
		return
	}
	r.st.Ledger = guard.RecordRequest{}
}
