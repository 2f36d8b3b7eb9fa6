// Package render turns fleetmend's reports and progress into text for
// people: aligned tables for terminals, CSV for spreadsheets, one-line
// progress for logs. JSON output is the workflows' own types, marshalled.
package render

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetmend/fleetmend/workflows"
)

// Report writes a report as a summary and a table of rows.
func Report(w io.Writer, r workflows.Report) error {
	c := r.Counts
	var b strings.Builder
	kind := r.Kind
	if r.DryRun {
		kind += ", dry run"
	}
	if r.Cancelled {
		kind += ", CANCELLED"
	}
	fmt.Fprintf(&b, "Run %s (%s) in %s\n", r.RunID, kind, r.Region)
	if !r.FinishedAt.IsZero() {
		fmt.Fprintf(&b, "  %s .. %s (%s), %d workflow run(s)\n", r.StartedAt.UTC().Format(time.RFC3339), r.FinishedAt.UTC().Format(time.RFC3339),
			r.FinishedAt.Sub(r.StartedAt).Round(time.Second), r.Runs)
	}
	fmt.Fprintf(&b, "  scanned %d of %d instances: %d healthy (%d outdated), %d agent missing, %d agent silent, %d not running",
		c.Scanned, r.TotalInstances, c.Healthy, c.Outdated, c.AgentMissing, c.AgentSilent, c.NotRunning)
	if c.FilteredOut > 0 {
		fmt.Fprintf(&b, ", %d other OS", c.FilteredOut)
	}
	b.WriteString("\n")
	if r.DryRun {
		fmt.Fprintf(&b, "  plan: %d batches, %d instances would be repaired\n", c.Batches, c.Planned)
	} else {
		fmt.Fprintf(&b, "  outcome: %d remediated, %d already healthy, %d not running, %d failed", c.Remediated, c.AlreadyHealthy, c.NotRunning, c.Failed)
		if c.NotAttempted > 0 {
			fmt.Fprintf(&b, ", %d not attempted", c.NotAttempted)
		}
		fmt.Fprintf(&b, " (%d batches, %d installs, %d reboots)\n", c.Batches, c.Installed, c.Rebooted)
		if c.Failed > 0 {
			fmt.Fprintf(&b, "  failed: %d no heartbeat, %d install failed, %d reboot refused, %d vanished, %d not found, %d batch error",
				c.NoHeartbeat, c.InstallFailed, c.RebootRefused, c.Vanished, c.NotFound, c.BatchError)
			if c.RebootUnconfirmed > 0 {
				fmt.Fprintf(&b, ", %d reboot unconfirmed", c.RebootUnconfirmed)
			}
			b.WriteString("\n")
		}
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", warn)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(r.Plan) > 0 {
		if _, err := io.WriteString(w, "\nBATCHES\n"); err != nil {
			return err
		}
		for _, p := range r.Plan {
			if _, err := fmt.Fprintf(w, "  batch %d (%d): %s\n", p.Number, len(p.InstanceIDs), strings.Join(p.InstanceIDs, " ")); err != nil {
				return err
			}
		}
		if r.PlanOmitted > 0 {
			if _, err := fmt.Fprintf(w, "  ... and %d more instances in later batches\n", r.PlanOmitted); err != nil {
				return err
			}
		}
	}
	if len(r.Rows) == 0 {
		return nil
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tOUTCOME\tREASON\tBATCH\tPROBLEM\tACTION\tDETAIL")
	for _, row := range r.Rows {
		batch := "-"
		if row.Batch > 0 {
			batch = strconv.Itoa(row.Batch)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.InstanceID, row.Outcome, Dash(row.Reason), batch, Dash(row.Problem), Dash(row.Action), Dash(row.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.RowsOmitted > 0 {
		_, err := fmt.Fprintf(w, "... %d more rows omitted (max_report_rows); every instance's outcome is in its batch workflow's result\n", r.RowsOmitted)
		return err
	}
	return nil
}

// ReportCSV writes the rows as CSV with a header line.
func ReportCSV(w io.Writer, r workflows.Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"run_id", "region", "instance_id", "outcome", "reason", "batch", "problem", "action", "detail"}); err != nil {
		return err
	}
	for _, row := range r.Rows {
		if err := cw.Write([]string{r.RunID, r.Region, row.InstanceID, row.Outcome, row.Reason, strconv.Itoa(row.Batch), row.Problem, row.Action, row.Detail}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ProgressLine is one line of progress, for logs and non-terminals.
func ProgressLine(p workflows.Progress) string {
	c := p.Counts
	total := strconv.Itoa(p.Total)
	if p.Total == 0 && p.Phase == "scanning" {
		total = "?"
	}
	line := fmt.Sprintf("%-10s scanned %d/%s  unhealthy %d  batches %d done, %d running",
		p.Phase, p.Scanned, total, p.Unhealthy, p.BatchesDone, p.BatchesInFlight)
	if p.DryRun {
		return line + fmt.Sprintf("  planned %d", c.Planned)
	}
	return line + fmt.Sprintf("  remediated %d  failed %d  skipped %d", c.Remediated, c.Failed, c.NotRunning)
}

// ProgressBar is ProgressLine with a bar in front, for terminals.
func ProgressBar(p workflows.Progress, width int) string {
	frac := 0.0
	if p.Total > 0 {
		frac = float64(p.Scanned) / float64(p.Total)
	}
	if p.Phase == "done" {
		frac = 1
	}
	frac = min(max(frac, 0), 1)
	filled := int(frac * float64(width))
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "] " + ProgressLine(p)
}

// Dash is s, or "-" for an empty cell, so table columns stay aligned.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
