package render

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/workflows"
)

func failedReport() workflows.Report {
	return workflows.Report{
		RunID: "fleetmend/cn-hangzhou/x", Region: "cn-hangzhou", Kind: "manual", TotalInstances: 3,
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
