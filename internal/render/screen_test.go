package render

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/workflows"
)

// bigReport is a 3,000-instance run's report: hundreds of rows of some
// 190 characters, the failures among them scattered.
func bigReport() workflows.Report {
	r := workflows.Report{WorkflowID: "fleetmend/cn-hangzhou/manual-20261122T101500Z", Region: "cn-hangzhou", Kind: "manual", TotalInstances: 3000,
		Counts: workflows.Counts{Scanned: 3000, Healthy: 2400, AgentMissing: 450, AgentSilent: 150, NotRunning: 60, Remediated: 560, Failed: 40,
			InstallFailed: 15, NoHeartbeat: 25, Batches: 30, Installed: 600, Rebooted: 580, Managed: 50, ManagedUnhealthy: 10},
		Warnings: []string{"[queue-full] more unhealthy instances than one run queues (10000): the rest are reported deferred and left to the next run"}}
	for i := range 710 {
		id := fmt.Sprintf("i-bp%018d", i)
		row := workflows.Row{InstanceID: id, Outcome: workflows.OutcomeRemediated, Batch: i/20 + 1, Problem: workflows.ProblemAgentMissing,
			Action: "installed, rebooted, verified", Detail: "agent reported a fresh heartbeat 2m10s after the reboot, and again a minute later"}
		switch {
		case i%17 == 5:
			row.Outcome, row.Reason, row.Action = workflows.OutcomeFailed, workflows.ReasonInstallFailed, "install refused"
			row.Detail = "InstallCloudAssistant: IncorrectInstanceStatus: the current status of the resource does not support this operation (request 4F3C9A2B)"
		case i%11 == 3:
			row.Outcome, row.Reason, row.Action, row.Detail = workflows.OutcomeFailed, workflows.ReasonNoHeartbeat, "installed, rebooted", "never reported after the reboot"
		case i >= 600 && i < 660:
			row = workflows.Row{InstanceID: id, Outcome: workflows.OutcomeNotRunning, Problem: workflows.ProblemNotRunning, Detail: "instance is Stopped at scan; skipped, not touched"}
		case i >= 660:
			row = workflows.Row{InstanceID: fmt.Sprintf("mi-bp%018d", i), Outcome: workflows.OutcomeManaged,
				Detail: "managed instance (outside ECS): agent healthy, version 2.2.3.256; reported, never repaired (ECS cannot install on or reboot it)"}
		}
		r.Rows = append(r.Rows, row)
	}
	return r
}

// TestReportOnScreenFitsTheScreen: at any width no line is wider than the
// screen; at most a screenful of rows is shown, failures first, then one
// line saying how many more there are and the command that prints them.
func TestReportOnScreenFitsTheScreen(t *testing.T) {
	rep := bigReport()
	failed := 0
	for _, r := range rep.Rows {
		if r.Outcome == workflows.OutcomeFailed {
			failed++
		}
	}
	const all = "starter report fleetmend/cn-hangzhou/manual-20261122T101500Z --csv"
	for _, height := range []int{0, 24, 50, 1000} {
		for width := 20; width <= 250; width++ {
			sc := Screen{Width: width, Height: height, AllRows: all}
			var b bytes.Buffer
			require.NoError(t, ReportOnScreen(&b, rep, sc))
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			for _, l := range lines {
				require.LessOrEqual(t, utf8.RuneCountInString(l), width, "%dx%d: %q", width, height, l)
			}
			header := -1
			for i, l := range lines {
				if strings.HasPrefix(l, "INSTANCE") {
					header = i
					break
				}
			}
			require.GreaterOrEqual(t, header, 0, "%dx%d: no table", width, height)
			var rows []string
			for _, l := range lines[header+1:] {
				if !strings.HasPrefix(l, "i-") && !strings.HasPrefix(l, "mi-") {
					break
				}
				rows = append(rows, l)
			}
			budget := sc.rows()
			require.Len(t, rows, min(budget, len(rep.Rows)), "%dx%d", width, height)
			for i, l := range rows[:min(failed, len(rows))] {
				if width < 40 {
					break // the outcome is cut off
				}
				require.Contains(t, l, " failed", "%dx%d: row %d is not a failure, failures come first: %q", width, height, i, l)
			}
			footer := strings.Join(lines[header+1+len(rows):], " ")
			if len(rep.Rows) > budget {
				require.Contains(t, strings.Join(strings.Fields(footer), " "), fmt.Sprintf("... %d more rows", len(rep.Rows)-budget), "%dx%d", width, height)
			}
			leftOut := len(rep.Rows) > budget || len(strings.Fields(lines[header])) < len(rowColumns()) ||
				strings.Contains(strings.Join(rows, "\n"), "…")
			if !leftOut {
				require.Empty(t, footer, "%dx%d: nothing was left out", width, height)
			} else if width >= len("fleetmend/cn-hangzhou/manual-20261122T101500Z")+4 && !strings.Contains(footer, "…") {
				require.Contains(t, strings.Join(strings.Fields(footer), " "), all+" prints every row and column", "%dx%d", width, height)
			}
		}
	}
}

// TestReportOnAnEightyColumnTerminal: the 80x24 case of the issue, as an
// operator sees it (79 columns usable).
func TestReportOnAnEightyColumnTerminal(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, ReportOnScreen(&b, bigReport(), Screen{Width: 79, Height: 24, AllRows: "starter report R --csv"}))
	out := b.String()
	require.Contains(t, out, "\nINSTANCE                OUTCOME  REASON          DETAIL\n", "BATCH, PROBLEM and ACTION make room for DETAIL")
	require.Contains(t, out, "\ni-bp000000000000000003  failed   no-heartbeat    never reported after the rebo…\n", "79 columns, DETAIL cut")
	require.Contains(t, out, "\ni-bp000000000000000005  failed   install-failed  InstallCloudAssistant: Incorr…\n")
	require.Contains(t, out, "\n... 690 more rows (failures are shown first) and the BATCH, PROBLEM, ACTION\n    columns: starter report R --csv prints every row and column\n")
	require.Contains(t, out, "  managed instances (outside ECS; reported, never repaired): 50, 10 with the\n    agent not healthy\n", "summary lines wrap")
	require.Equal(t, 20, strings.Count(out, "\ni-bp"), "24 lines less the header, the blank line and the footer")
}

// TestReportOnAWideScreenKeepsEveryColumn: where everything fits nothing
// is cut or left out; a short report is shown whole, failures first, with
// no footer.
func TestReportOnAWideScreenKeepsEveryColumn(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, ReportOnScreen(&b, failedReport(), Screen{Width: 200, Height: 50, AllRows: "starter report R --csv"}))
	out := b.String()
	table := strings.Split(strings.TrimSuffix(out[strings.Index(out, "INSTANCE"):], "\n"), "\n")
	require.Len(t, table, 3, out)
	require.Equal(t, []string{"INSTANCE", "OUTCOME", "REASON", "BATCH", "PROBLEM", "ACTION", "DETAIL"}, strings.Fields(table[0]))
	require.Equal(t, []string{"i-bbb", "failed", "reboot-unconfirmed", "1", "agent-missing", "installed,", "reboot", "unconfirmed", "a,", "with", "comma"},
		strings.Fields(table[1]), "the failure first")
	require.Equal(t, "i-aaa", strings.Fields(table[2])[0])
	require.NotContains(t, out, "…")
	require.NotContains(t, out, "more rows")
}

// Piped output is complete: Report prints every row at full width.
func TestReportOffScreenPrintsEveryRow(t *testing.T) {
	rep := bigReport()
	var b bytes.Buffer
	require.NoError(t, Report(&b, rep))
	require.Equal(t, len(rep.Rows), strings.Count(b.String(), "\ni-")+strings.Count(b.String(), "\nmi-"))
	require.False(t, strings.Contains(b.String(), "…"), "nothing is cut")
}
