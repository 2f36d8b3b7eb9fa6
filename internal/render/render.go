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
	"unicode/utf8"

	"github.com/fleetmend/fleetmend/workflows"
)

// Report writes a report as a summary and a table of rows.
func Report(w io.Writer, r workflows.Report) error {
	if _, err := io.WriteString(w, summary(r)); err != nil {
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
	fmt.Fprintln(tw, strings.Join(rowColumns(), "\t"))
	for _, row := range r.Rows {
		fmt.Fprintln(tw, strings.Join(rowCells(row), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.RowsOmitted > 0 {
		_, err := fmt.Fprintln(w, omittedLine(r))
		return err
	}
	return nil
}

// rowColumns are the table's columns; rowCells one row's cells.
func rowColumns() []string {
	return []string{"INSTANCE", "OUTCOME", "REASON", "BATCH", "PROBLEM", "ACTION", "DETAIL"}
}

func rowCells(row workflows.Row) []string {
	batch := "-"
	if row.Batch > 0 {
		batch = strconv.Itoa(row.Batch)
	}
	return []string{row.InstanceID, row.Outcome, Dash(row.Reason), batch, Dash(row.Problem), Dash(row.Action), Dash(row.Detail)}
}

func omittedLine(r workflows.Report) string {
	return fmt.Sprintf("... %d more rows omitted (max_report_rows); every instance's outcome is in its batch workflow's result", r.RowsOmitted)
}

// summary is the report's lines before the plan and the rows.
func summary(r workflows.Report) string {
	c := r.Counts
	var b strings.Builder
	kind := r.Kind
	if r.DryRun {
		kind += ", dry run"
	}
	if r.Cancelled {
		kind += ", CANCELLED"
	}
	fmt.Fprintf(&b, "Run %s (%s) in %s\n", r.WorkflowID, kind, r.Region)
	if !r.FinishedAt.IsZero() {
		fmt.Fprintf(&b, "  %s .. %s (%s), %d workflow run(s)\n", r.StartedAt.UTC().Format(time.RFC3339), r.FinishedAt.UTC().Format(time.RFC3339),
			r.FinishedAt.Sub(r.StartedAt).Round(time.Second), r.Runs)
	}
	fmt.Fprintf(&b, "  scanned %d of %d instances: %d healthy (%d outdated), %d agent missing, %d agent silent, %d not running",
		c.Scanned, r.TotalInstances, c.Healthy, c.Outdated, c.AgentMissing, c.AgentSilent, c.NotRunning)
	if c.FilteredOut > 0 {
		fmt.Fprintf(&b, ", %d other OS or zone", c.FilteredOut)
	}
	b.WriteString("\n")
	if c.Excluded+c.Quarantined+c.Unknown > 0 {
		fmt.Fprintf(&b, "  left alone: %d excluded (opt-out tag or list), %d quarantined (failed repeatedly), %d unknown (not in ECS's answers)\n",
			c.Excluded, c.Quarantined, c.Unknown)
	}
	if c.Managed > 0 {
		fmt.Fprintf(&b, "  managed instances (outside ECS; reported, never repaired): %d, %d with the agent not healthy\n", c.Managed, c.ManagedUnhealthy)
	}
	if r.Stopped != "" {
		fmt.Fprintf(&b, "  STOPPED: %s\n", r.Stopped)
	}
	planLines(&b, r)
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
			if c.Unverified > 0 {
				fmt.Fprintf(&b, ", %d unverified", c.Unverified)
			}
			if c.InheritedNoHeartbeat > 0 {
				fmt.Fprintf(&b, ", %d no heartbeat after another run's reboot", c.InheritedNoHeartbeat)
			}
			if c.AccountError > 0 {
				fmt.Fprintf(&b, ", %d account error", c.AccountError)
			}
			if c.APIError > 0 {
				fmt.Fprintf(&b, ", %d ECS API error", c.APIError)
			}
			b.WriteString("\n")
		}
		if r.BlastRadiusLimit > 0 {
			fmt.Fprintf(&b, "  blast radius: at most %d instances in repair at once (limit %d); error budget %d, %d spent\n",
				r.BlastRadius, r.BlastRadiusLimit, r.ErrorBudget, c.BudgetFailures())
		}
	}
	if len(r.Waves) > 0 {
		var waves []string
		for _, w := range r.Waves {
			verdict := "passed"
			if !w.Passed {
				verdict = "FAILED"
			}
			name := "canary"
			if w.Step > 0 {
				name = fmt.Sprintf("ramp %d", w.Step)
			}
			waves = append(waves, fmt.Sprintf("%s ≤%d: %d of %d healed, %s", name, w.Limit, w.Healed, w.Instances, verdict))
		}
		fmt.Fprintf(&b, "  rollout (%s): %s\n", r.Rollout, strings.Join(waves, "; "))
	}
	trend(&b, r)
	for _, ctl := range r.Controls {
		by := ctl.By
		if by == "" {
			by = "someone"
		}
		line := fmt.Sprintf("  %s: %s by %s: %s", ctl.At.UTC().Format(time.RFC3339), ctl.Action, by, ctl.Reason)
		if ctl.Detail != "" {
			line += " (" + ctl.Detail + ")"
		}
		b.WriteString(line + "\n")
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", warn)
	}
	return b.String()
}

// ReportCSV writes the rows as CSV with a header line.
func ReportCSV(w io.Writer, r workflows.Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"run_id", "region", "instance_id", "outcome", "reason", "batch", "problem", "action", "detail"}); err != nil {
		return err
	}
	for _, row := range r.Rows {
		if err := cw.Write([]string{r.WorkflowID, r.Region, row.InstanceID, row.Outcome, row.Reason, strconv.Itoa(row.Batch), row.Problem, row.Action, row.Detail}); err != nil {
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
		line += fmt.Sprintf("  planned %d", c.Planned)
	} else {
		line += fmt.Sprintf("  remediated %d  failed %d  skipped %d", c.Remediated, c.Failed, c.NotRunning)
	}
	for _, f := range pipelineFields(p) {
		line += "  " + f
	}
	if c.Managed > 0 {
		line += fmt.Sprintf("  managed %d", c.Managed) // outside ECS: reported, never repaired
	}
	return line
}

// pipelineFields are the pipeline's counts and the run's state, each only
// when it says something (older workers answer without them).
func pipelineFields(p workflows.Progress) []string {
	var out []string
	for _, f := range []struct {
		n    int
		name string
	}{{p.Queued, "queued"}, {p.InRepair, "in repair"}, {p.Verifying, "verifying"}} {
		if f.n > 0 {
			out = append(out, fmt.Sprintf("%s %d", f.name, f.n))
		}
	}
	if w := Wave(p); w != "" {
		out = append(out, w)
	}
	switch {
	case p.Aborted:
		out = append(out, "ABORTED")
	case p.Paused:
		out = append(out, "PAUSED")
	}
	return out
}

// Wave names the rollout's phase and the most instances in repair it
// allows now: "canary ≤20", "ramp 2 ≤80", "full ≤475"; "" when off.
func Wave(p workflows.Progress) string {
	switch p.Rollout {
	case "":
		return ""
	case "ramp":
		return fmt.Sprintf("ramp %d ≤%d", p.RolloutStep, p.RolloutLimit)
	}
	return fmt.Sprintf("%s ≤%d", p.Rollout, p.RolloutLimit)
}

// ProgressBar is a run's progress fitted into width columns (runes), for a
// terminal line rewritten in place: it never returns more than width runes,
// so the line never wraps. What matters most is kept first: the phase, the
// scan, the outcomes, then a bar of at least 10 cells, then the rest as room
// allows; the bar grows to 30 cells with what is left.
func ProgressBar(p workflows.Progress, width int) string {
	if width <= 0 {
		return ""
	}
	type part struct {
		text string
		rank int // lower is kept first
	}
	c := p.Counts
	total := strconv.Itoa(max(p.Total, 0))
	if p.Total <= 0 && p.Phase == "scanning" {
		total = "?"
	}
	phase := p.Phase
	if phase == "" {
		phase = "-"
	}
	parts := []part{{phase, 0}}
	if p.Aborted {
		parts = append(parts, part{"ABORTED", 0})
	} else if p.Paused {
		parts = append(parts, part{"PAUSED", 0})
	}
	parts = append(parts, part{fmt.Sprintf("scanned %d/%s", max(p.Scanned, 0), total), 1})
	if p.DryRun {
		parts = append(parts, part{fmt.Sprintf("planned %d", c.Planned), 2})
	} else {
		parts = append(parts, part{fmt.Sprintf("remediated %d", c.Remediated), 2}, part{fmt.Sprintf("failed %d", c.Failed), 2})
	}
	const barRank = 3
	parts = append(parts, part{fmt.Sprintf("unhealthy %d", p.Unhealthy), 4})
	for _, f := range []struct {
		n    int
		name string
	}{{p.InRepair, "in repair"}, {p.Verifying, "verifying"}, {p.Queued, "queued"}} {
		if f.n > 0 {
			parts = append(parts, part{fmt.Sprintf("%s %d", f.name, f.n), 5})
		}
	}
	parts = append(parts, part{fmt.Sprintf("batches %d done, %d running", p.BatchesDone, p.BatchesInFlight), 6})
	if !p.DryRun {
		parts = append(parts, part{fmt.Sprintf("skipped %d", c.NotRunning), 7})
	}

	// The line is "[bar] " and then the kept parts joined by two spaces.
	const minCells, maxCells, sep = 10, 30, 2
	keep := make([]bool, len(parts))
	bar := false
	length := func() int {
		n, kept := 0, 0
		for i, pt := range parts {
			if keep[i] {
				n += utf8.RuneCountInString(pt.text)
				kept++
			}
		}
		n += sep * max(kept-1, 0)
		if bar {
			n += minCells + 3
		}
		return n
	}
	// By rank, while the parts fit; the first that does not ends it, so a
	// less important part never displaces a more important one.
fill:
	for rank := 0; rank <= 7; rank++ {
		if rank == barRank {
			if bar = true; length() > width {
				bar = false
				break fill
			}
			continue
		}
		for i, pt := range parts {
			if pt.rank != rank {
				continue
			}
			if keep[i] = true; length() > width {
				keep[i] = false
				break fill
			}
		}
	}
	var kept []string
	for i, pt := range parts {
		if keep[i] {
			kept = append(kept, pt.text)
		}
	}
	if len(kept) == 0 {
		return truncateRunes(phase, width)
	}
	text := strings.Join(kept, "  ")
	if !bar {
		return text
	}
	cells := min(minCells+width-length(), maxCells)
	frac := 0.0
	if p.Total > 0 {
		frac = float64(p.Scanned) / float64(p.Total)
	}
	if p.Phase == "done" {
		frac = 1
	}
	frac = min(max(frac, 0), 1)
	filled := int(frac * float64(cells))
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", cells-filled) + "] " + text
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Dash is s, or "-" for an empty cell, so table columns stay aligned.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
