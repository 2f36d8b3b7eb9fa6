package render

import (
	"fmt"
	"strings"
	"time"

	"github.com/fleetmend/fleetmend/workflows"
)

// planLines says, in a report, which plan an apply applied and what its
// check found, or how to apply a dry run's plan.
func planLines(b *strings.Builder, r workflows.Report) {
	if a := r.AppliedPlan; a != nil {
		fmt.Fprintf(b, "  plan of %s (planned %s), applied by %s: %d instances in %d batches",
			a.PlanWorkflowID, a.PlannedAt.UTC().Format(time.RFC3339), orUnknown(a.AppliedBy), a.Instances, a.Batches)
		if !a.CheckedAt.IsZero() {
			fmt.Fprintf(b, "; at the check %s old, %d changed (%d%%, max %d%%): %s",
				a.Age.D().Round(time.Second), a.Drift.Drifted, a.Drift.Percent(a.Instances), a.MaxDriftPercent, a.Drift)
		}
		b.WriteString("\n")
	}
	if r.DryRun && r.PlanSettings != nil && len(r.Plan) > 0 && r.Stopped == "" {
		fmt.Fprintf(b, "  apply this plan as reviewed: starter apply --from-run %s\n", r.WorkflowID)
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
