package render

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/workflows"
)

func TestFleetLineFitsTheWidthAndSaysTheOutcome(t *testing.T) {
	p := workflows.Progress{Phase: "repairing", Total: 5000, Scanned: 5000, Unhealthy: 400, BatchesInFlight: 9}
	running := workflows.FleetRegionResult{Region: "cn-hangzhou", Outcome: workflows.FleetRunning, WorkflowID: "fleetmend/cn-hangzhou/fleet-x"}
	for _, w := range []int{20, 40, 79} {
		require.LessOrEqual(t, utf8.RuneCountInString(FleetLine(running, &p, w)), w)
	}
	require.True(t, strings.HasPrefix(FleetLine(running, &p, 0), "cn-hangzhou      repairing  scanned 5000/5000"))
	require.Contains(t, FleetLine(running, nil, 0), "starting fleetmend/cn-hangzhou/fleet-x")
	busy := workflows.FleetRegionResult{Region: "cn-shanghai", Outcome: workflows.FleetSkipped, SkippedFor: "fleetmend/cn-shanghai/manual-1"}
	require.Equal(t, "cn-shanghai      skipped: busy with fleetmend/cn-shanghai/manual-1", FleetLine(busy, nil, 0))
	failed := workflows.FleetRegionResult{Region: "cn-shenzhen", Outcome: workflows.FleetFailed, Detail: "scan of cn-shenzhen failed"}
	require.Equal(t, "cn-shenzhen      failed: scan of cn-shenzhen failed", FleetLine(failed, nil, 0))
	done := workflows.FleetRegionResult{Region: "cn-beijing", Outcome: workflows.FleetCompleted, Detail: "stopped: error budget exhausted",
		Counts: workflows.FleetCounts{Scanned: 10, Unhealthy: 3, Remediated: 1, Failed: 2}}
	require.Equal(t, "cn-beijing       completed: scanned 10, unhealthy 3, remediated 1, failed 2 (stopped: error budget exhausted)", FleetLine(done, nil, 0))
}

func TestFleetSummaryHasARowPerRegionAndTheTotals(t *testing.T) {
	var b strings.Builder
	require.NoError(t, FleetSummary(&b, workflows.FleetReport{FleetID: "fleetmend/fleet/manual-1", Kind: "manual", Completed: 1, Skipped: 1,
		Regions: []workflows.FleetRegionResult{
			{Region: "cn-hangzhou", Outcome: workflows.FleetCompleted, WorkflowID: "fleetmend/cn-hangzhou/fleet-manual-1", Counts: workflows.FleetCounts{Scanned: 7, Remediated: 2}},
			{Region: "cn-shanghai", Outcome: workflows.FleetSkipped, WorkflowID: "fleetmend/cn-shanghai/fleet-manual-1", SkippedFor: "fleetmend/cn-shanghai/manual-2"},
		},
		Totals: workflows.FleetCounts{Scanned: 7, Remediated: 2}}))
	out := b.String()
	require.Contains(t, out, "Fleet run fleetmend/fleet/manual-1 (manual) over 2 regions")
	require.Contains(t, out, "regions: 1 completed, 1 skipped, 0 failed")
	require.Contains(t, out, "total: scanned 7, unhealthy 0, remediated 2")
	require.Contains(t, out, "busy with fleetmend/cn-shanghai/manual-2")
	require.Contains(t, out, "fleetmend/cn-hangzhou/fleet-manual-1")
}
