package render

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/workflows"
)

func failedReport() workflows.Report {
	return workflows.Report{
		WorkflowID: "fleetmend/cn-hangzhou/x", Region: "cn-hangzhou", Kind: "manual", TotalInstances: 3,
		Counts: workflows.Counts{Scanned: 3, Healthy: 1, AgentMissing: 2, Remediated: 1, Failed: 1, RebootUnconfirmed: 1, Batches: 1, Installed: 2, Rebooted: 1},
		Rows: []workflows.Row{
			{InstanceID: "i-aaa", Outcome: workflows.OutcomeRemediated, Batch: 1, Problem: workflows.ProblemAgentMissing, Action: "installed, rebooted, verified"},
			{InstanceID: "i-bbb", Outcome: workflows.OutcomeFailed, Reason: workflows.ReasonRebootUnconfirmed, Batch: 1,
				Problem: workflows.ProblemAgentMissing, Action: "installed, reboot unconfirmed", Detail: "a, with comma"},
		},
	}
}

// A reboot-unconfirmed failure is named in the summary, since an SRE acts
// on it differently (a follow-up run) than on a plain no-heartbeat.
func TestReportNamesRebootUnconfirmed(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, Report(&b, failedReport()))
	out := b.String()
	require.Contains(t, out, "outcome: 1 remediated, 0 already healthy, 0 not running, 1 failed (1 batches, 2 installs, 1 reboots)")
	require.Contains(t, out, "failed: 0 no heartbeat, 0 install failed, 0 reboot refused, 0 vanished, 0 not found, 0 batch error, 1 reboot unconfirmed\n")
	var row string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "i-bbb") {
			row = l
		}
	}
	require.Equal(t, []string{"i-bbb", "failed", "reboot-unconfirmed", "1", "agent-missing", "installed,"}, strings.Fields(row)[:6])

	c := failedReport()
	c.Counts.RebootUnconfirmed, c.Counts.NoHeartbeat = 0, 1
	b.Reset()
	require.NoError(t, Report(&b, c))
	require.Contains(t, b.String(), "failed: 1 no heartbeat, 0 install failed, 0 reboot refused, 0 vanished, 0 not found, 0 batch error\n",
		"the unconfirmed count is shown only when there is one")
}

func TestReportCSVQuotesAndKeepsEveryRow(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, ReportCSV(&b, failedReport()))
	recs, err := csv.NewReader(&b).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 3)
	require.Equal(t, []string{"fleetmend/cn-hangzhou/x", "cn-hangzhou", "i-bbb", "failed", "reboot-unconfirmed", "1", "agent-missing", "installed, reboot unconfirmed", "a, with comma"}, recs[2])
}

func progressSamples() []workflows.Progress {
	return []workflows.Progress{
		{},
		{Phase: "scanning", Scanned: 150, Total: 0},
		{Phase: "repairing", Scanned: 1250, Total: 5000, Unhealthy: 312, BatchesDone: 7, BatchesInFlight: 4, Queued: 180, InRepair: 80, Verifying: 40,
			Counts: workflows.Counts{Remediated: 120, Failed: 3, NotRunning: 17}},
		{Phase: "draining", Scanned: 5000, Total: 5000, Unhealthy: 312, Paused: true, Counts: workflows.Counts{Remediated: 300, Failed: 12}},
		{Phase: "done", DryRun: true, Scanned: 500, Total: 500, Unhealthy: 99, Counts: workflows.Counts{Planned: 99}},
		// Nonsense a newer or broken worker could answer: still one line that fits.
		{Phase: "ünïcode-phase-with-a-very-long-name", Scanned: -5, Total: -1, Unhealthy: 1 << 40, BatchesDone: 1 << 40, Aborted: true,
			Counts: workflows.Counts{Remediated: 1 << 40, Failed: 1 << 40}},
		{Phase: "scanning", Scanned: 900, Total: 100},
	}
}

func TestProgressBarNeverExceedsTheWidth(t *testing.T) {
	for i, p := range progressSamples() {
		for width := 0; width <= 300; width++ {
			got := ProgressBar(p, width)
			require.LessOrEqual(t, utf8.RuneCountInString(got), width, "sample %d, width %d: %q", i, width, got)
			require.NotContains(t, got, "\n")
			if width >= 10 {
				require.NotEmpty(t, got, "sample %d, width %d", i, width)
			}
		}
	}
}

func TestProgressBarKeepsWhatMattersFirst(t *testing.T) {
	p := progressSamples()[2]
	// An 80-column terminal (79 usable, so the cursor never wraps).
	got := ProgressBar(p, 79)
	require.Equal(t, "[#####.................] repairing  scanned 1250/5000  remediated 120  failed 3", got)
	// Wide: everything, with a 30-cell bar.
	got = ProgressBar(p, 200)
	require.Equal(t, "[#######.......................] repairing  scanned 1250/5000  remediated 120  failed 3  unhealthy 312"+
		"  in repair 80  verifying 40  queued 180  batches 7 done, 4 running  skipped 17", got)
	// Narrow: no room for a bar; the phase and the scan come first.
	require.Equal(t, "repairing  scanned 1250/5000", ProgressBar(p, 30))
	require.Equal(t, "repairing", ProgressBar(p, 12))
	require.Equal(t, "repai", ProgressBar(p, 5))
	require.Contains(t, ProgressBar(progressSamples()[3], 79), "draining  PAUSED  scanned 5000/5000")
	require.Equal(t, "[##############################] done  scanned 500/500  planned 99  unhealthy 99  batches 0 done, 0 running",
		ProgressBar(progressSamples()[4], 200))
	require.True(t, strings.HasPrefix(ProgressBar(progressSamples()[6], 80), "[##########"), "more scanned than total is a full bar")
}

func TestProgressLineShowsThePipelineOnlyWhenThereIsOne(t *testing.T) {
	require.Equal(t, "scanning   scanned 150/?  unhealthy 0  batches 0 done, 0 running  remediated 0  failed 0  skipped 0",
		ProgressLine(progressSamples()[1]))
	require.Equal(t, "repairing  scanned 1250/5000  unhealthy 312  batches 7 done, 4 running  remediated 120  failed 3  skipped 17  queued 180  in repair 80  verifying 40",
		ProgressLine(progressSamples()[2]))
	p := progressSamples()[2]
	p.Counts.Managed = 40
	require.True(t, strings.HasSuffix(ProgressLine(p), "  verifying 40  managed 40"), "managed instances are counted apart: %s", ProgressLine(p))
}
