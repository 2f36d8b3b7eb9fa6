package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetmend/fleetmend/workflows"
)

// FleetLine is one region's progress line of a fleet run, at most width
// runes (0: no limit): the region, then its run's progress while it runs
// (p, when its run answered), or its outcome once it ended.
func FleetLine(g workflows.FleetRegionResult, p *workflows.Progress, width int) string {
	var line string
	switch {
	case g.Outcome == workflows.FleetRunning && p != nil:
		line = fmt.Sprintf("%-16s %s", g.Region, ProgressLine(*p))
	case g.Outcome == workflows.FleetRunning:
		line = fmt.Sprintf("%-16s starting %s", g.Region, g.WorkflowID)
	default:
		line = fmt.Sprintf("%-16s %s", g.Region, outcomeText(g))
	}
	if width > 0 {
		line = truncateRunes(line, width)
	}
	return line
}

// outcomeText is a region's outcome in a few words: completed with its
// counts, skipped naming the run that holds the region, failed with why.
func outcomeText(g workflows.FleetRegionResult) string {
	c := g.Counts
	switch g.Outcome {
	case workflows.FleetCompleted:
		s := fmt.Sprintf("completed: scanned %d, unhealthy %d, remediated %d, failed %d", c.Scanned, c.Unhealthy, c.Remediated, c.Failed)
		if c.Planned > 0 {
			s += fmt.Sprintf(", planned %d", c.Planned)
		}
		if g.Detail != "" {
			s += " (" + g.Detail + ")"
		}
		return s
	case workflows.FleetSkipped:
		if g.SkippedFor != "" {
			return "skipped: busy with " + g.SkippedFor
		}
		return g.Detail
	case workflows.FleetFailed:
		return "failed: " + g.Detail
	}
	return g.Outcome
}

// FleetSummary writes a fleet run's summary: one row per region (its run,
// its outcome, its counts) and the totals.
func FleetSummary(w io.Writer, r workflows.FleetReport) error {
	var b strings.Builder
	kind := r.Kind
	if r.DryRun {
		kind += ", dry run"
	}
	fmt.Fprintf(&b, "Fleet run %s (%s) over %d regions\n", r.FleetID, kind, len(r.Regions))
	if !r.FinishedAt.IsZero() {
		fmt.Fprintf(&b, "started %s, took %s\n", r.StartedAt.UTC().Format(time.RFC3339), r.FinishedAt.Sub(r.StartedAt).Round(time.Second))
	}
	fmt.Fprintf(&b, "regions: %d completed, %d skipped, %d failed", r.Completed, r.Skipped, r.Failed)
	if r.Cancelled > 0 {
		fmt.Fprintf(&b, ", %d cancelled", r.Cancelled)
	}
	if r.Running > 0 {
		fmt.Fprintf(&b, ", %d running", r.Running)
	}
	t := r.Totals
	fmt.Fprintf(&b, "\ntotal: scanned %d, unhealthy %d, remediated %d, already healthy %d, failed %d, not running %d, not attempted %d, installed %d, rebooted %d",
		t.Scanned, t.Unhealthy, t.Remediated, t.AlreadyHealthy, t.Failed, t.NotRunning, t.NotAttempted, t.Installed, t.Rebooted)
	if r.DryRun {
		fmt.Fprintf(&b, ", planned %d", t.Planned)
	}
	b.WriteString("\n\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tOUTCOME\tSCANNED\tUNHEALTHY\tREMEDIATED\tFAILED\tRUN\tDETAIL")
	for _, g := range r.Regions {
		c := g.Counts
		detail := g.Detail
		if g.SkippedFor != "" {
			detail = "busy with " + g.SkippedFor
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", g.Region, g.Outcome, c.Scanned, c.Unhealthy, c.Remediated, c.Failed, Dash(g.WorkflowID), Dash(detail))
	}
	return tw.Flush()
}
