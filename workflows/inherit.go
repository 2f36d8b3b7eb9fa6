package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/guard"
)

// Taking over, to verify, what runs that closed without verifying them
// rebooted.

// inherit takes over, to verify, what runs that closed without verifying
// rebooted within their verify deadline: those instances are verified, not
// repaired, until that deadline passes. More than one run carries makes it
// wait out the deadline instead, repairing nothing before.
func (r *run) inherit(ctx workflow.Context, refs []guard.RebootRef) error {
	var ga *guard.Activities
	runs := make([]string, 0, len(refs))
	for _, ref := range refs {
		runs = append(runs, fmt.Sprintf("%s (batches %d..%d)", ref.WorkflowID, ref.Batches.From, ref.Batches.To))
	}
	var res guard.InheritResult
	// Until they are read (or waited out), what those runs rebooted is
	// not verified: a run that ends before leaves them to the next holder.
	r.st.Unverified = true
	err := workflow.ExecuteActivity(readActivity(ctx, engineV2, "read back what "+strings.Join(runs, ", ")+" rebooted and never verified"),
		ga.InheritReboots, guard.InheritInput{Refs: refs}).Get(ctx, &res)
	if err != nil {
		return err
	}
	if res.Over {
		r.st.Phase = "waiting"
		r.st.Waiting = fmt.Sprintf("waiting until %s: %s rebooted more instances within their verify deadline than one run takes over to verify, so none of the region is repaired before then",
			res.NotBefore.UTC().Format(time.RFC3339), strings.Join(runs, ", "))
		workflow.SetCurrentDetails(ctx, r.st.Waiting)
		r.warn(r.st.Waiting)
		timer := workflow.NewTimerWithOptions(ctx, res.NotBefore.Sub(workflow.Now(ctx)), workflow.TimerOptions{Summary: r.st.Waiting})
		if err := timer.Get(ctx, nil); err == nil {
			r.st.Unverified = false // waited out: every deadline has passed
		}
		r.st.Waiting = ""
		return nil
	}
	r.st.Unverified = false // read: they are in Verifying, decided by polls
	known := make(map[string]bool, len(r.st.Verifying))
	for _, v := range r.st.Verifying {
		known[v.ID] = true
	}
	for _, in := range res.Instances {
		if known[in.ID] {
			continue
		}
		known[in.ID] = true
		t := in.VerifyTarget
		t.Action = strings.TrimPrefix(t.Action+", ", ", ") + fmt.Sprintf("by batch %d of %s", in.Batch, in.WorkflowID)
		// Released: its reboot is another run's, long sent; it does not
		// take a place of this run's blast radius.
		r.st.Verifying = append(r.st.Verifying, Verifying{VerifyTarget: t, Deadline: in.Deadline, Released: true, From: in.WorkflowID})
		r.st.Inherited++
	}
	msg := fmt.Sprintf("verifying %d instances that %s rebooted (or may have) within their verify deadline and never verified; they are not repaired before their deadline",
		r.st.Inherited, strings.Join(runs, ", "))
	r.warn(msg)
	workflow.GetLogger(ctx).Info("took over instances to verify", "Instances", r.st.Inherited, "From", runs)
	return nil
}
