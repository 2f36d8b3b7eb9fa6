package render

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/workflows"
)

func TestReportShowsTrendAndAgentVersions(t *testing.T) {
	r := failedReport()
	r.Trend = &workflows.Trend{Previous: "fleetmend/cn-hangzhou/prev", PreviousFinishedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		New: 1, NewIDs: []string{"i-aaa"}, Fixed: 12, FixedIDs: []string{"i-f1", "i-f2"}, Chronic: 1,
		ChronicInstances: []workflows.ChronicInstance{{InstanceID: "i-bbb", Attempts: 3, Now: "failed/no-heartbeat"}},
		Limits:           []string{"the previous report kept the rows of 2 of the 14"}}
	r.Agents = &workflows.AgentVersions{Reported: 5, Distinct: 2, TooOldCount: 1,
		Top:    []workflows.AgentVersion{{OSType: "Linux", Version: "2.2.3.256", Instances: 4}, {OSType: "Linux", Version: "2.2.0.106", Instances: 1}},
		TooOld: []workflows.OldAgent{{InstanceID: "i-old", OSType: "Linux", Version: "2.2.0.106"}}}
	var b bytes.Buffer
	require.NoError(t, Report(&b, r))
	out := b.String()
	require.Contains(t, out, "  since fleetmend/cn-hangzhou/prev (finished 2026-01-02T03:04:05Z): +1 new −12 fixed 1 chronic (partial)\n")
	require.Contains(t, out, "    new 1: i-aaa\n")
	require.Contains(t, out, "    fixed 12: i-f1 i-f2 and 10 more\n")
	require.Contains(t, out, "    chronic 1: i-bbb (3 failed attempts, now failed/no-heartbeat)\n")
	require.Contains(t, out, "    limit: the previous report kept the rows of 2 of the 14\n")
	require.Contains(t, out, "  agent versions (5 reported, 2 distinct): Linux 2.2.3.256: 4, Linux 2.2.0.106: 1\n")
	require.Contains(t, out, "  too old for Session Manager (reported, not acted on) 1: i-old 2.2.0.106\n")

	r.Trend = &workflows.Trend{Note: "first run: no previous completed run of cn-hangzhou to compare with"}
	b.Reset()
	require.NoError(t, Report(&b, r))
	require.Contains(t, b.String(), "  since the last run: first run: no previous completed run of cn-hangzhou to compare with\n")
}
