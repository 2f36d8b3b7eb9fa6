package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"
)

// The error budget and the run's limits, resolved against the scan.

// checkBudget stops the run once its failures exceed the error budget.
func (r *run) checkBudget(ctx workflow.Context) {
	f := r.budgetFailures()
	if r.st.Stopped != "" || f <= r.st.BudgetLimit {
		return
	}
	r.stop(ctx, fmt.Sprintf("stopped: error budget exhausted (%d failed of %d attempted; budget %s = %d)",
		f, r.attempted(), r.in.ErrorBudget, r.st.BudgetLimit), "", ReasonErrorBudget)
}

// budgetFailures are the failures that spend the budget: those decided,
// and (engine 3) those past the early no-heartbeat signal, which are
// given back if they heal before their deadline.
func (r *run) budgetFailures() int {
	f := r.st.Counts.BudgetFailures()
	if r.fenced() {
		early, _ := r.earlyFailures(false)
		f += early
	}
	return f
}

// attempted is how many instances the run has handed to batches.
func (r *run) attempted() int { return r.st.Attempted }

// resolveLimits turns the blast radius and the error budget into counts,
// now that the scan knows the Running instances and the queue.
func (r *run) resolveLimits() {
	r.st.Controls.BlastRadius = r.blastRadius()
	budget, _ := ParseAmount("error_budget", r.in.ErrorBudget, 0, MaxBlastRadius)
	r.st.BudgetLimit = budget.Of(len(r.st.Queue))
}

// blastRadius resolves the current spec against the Running instances.
// The default share has a floor, so a small region still repairs a batch
// at a time; a share an operator gives is taken as given.
func (r *run) blastRadius() int {
	running := 0
	for _, z := range r.st.Zones {
		running += z.Running
	}
	spec := r.st.Controls.BlastRadiusSpec
	if spec == "" {
		return max(MinDefaultBlastRadius, mustAmount(DefaultBlastRadius).Of(running))
	}
	return max(1, mustAmount(spec).Of(running))
}

func mustAmount(s string) Amount {
	a, err := ParseAmount("blast_radius", s, 1, MaxBlastRadius)
	if err != nil {
		return Amount{Count: 1} // validated on the way in; the smallest radius if not
	}
	return a
}
