package workflows_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/fleetworker"
	"github.com/fleetmend/fleetmend/internal/logging"
	"github.com/fleetmend/fleetmend/workflows"
)

// TestReplayCommittedHistories replays histories recorded from real runs
// on a real Temporal server. testdata/v1 holds histories of the previous
// engine (page-numbered scan, self-verifying batches), recorded before the
// pipelined engine existed and never refreshed: runs in flight during an
// upgrade look like them, and must finish on this code. testdata/v2 holds
// the pipelined engine's before the fenced lock, testdata/v3 the fenced
// lock's before ramp steps widened on first heartbeats, trends and fleet
// runs, testdata/v4 the engine before every batch was fenced (none
// refreshed either), testdata/v5 the current engine's, a fleet run's and
// an apply's included (devstack's TestReplayRecordedHistories refreshes
// them with FLEETMEND_UPDATE_HISTORIES=1; workflows/versions.go says which
// history replays which marker). A change to the workflows that is
// not deterministic against any of them fails here; such a change needs
// workflow.GetVersion, not new histories.
func TestReplayCommittedHistories(t *testing.T) {
	v1, err := filepath.Glob(filepath.Join("testdata", "v1", "*.json"))
	require.NoError(t, err)
	require.Len(t, v1, 4, "previous engine: region first run, last run, dry run and one batch")
	v2, err := filepath.Glob(filepath.Join("testdata", "v2", "*.json"))
	require.NoError(t, err)
	require.Len(t, v2, 5, "pipelined engine before the fenced lock: region first run, last run, dry run, one batch and the region guard")
	v3, err := filepath.Glob(filepath.Join("testdata", "v3", "*.json"))
	require.NoError(t, err)
	require.Len(t, v3, 5, "fenced lock, rollout, bounded state: region first run, last run, dry run, one batch and the guard")
	v4, err := filepath.Glob(filepath.Join("testdata", "v4", "*.json"))
	require.NoError(t, err)
	require.Len(t, v4, 6, "ramp on first heartbeats, trend, agent versions, managed instances, plans: region first run, last run, dry run, one batch, the guard and a fleet run")
	v5, err := filepath.Glob(filepath.Join("testdata", "v5", "*.json"))
	require.NoError(t, err)
	require.Len(t, v5, 7, "current engine (every batch fenced, verified releases, judged gates, the guard package): region first run, last run, dry run, an apply, one batch, the guard and a fleet run")
	for _, f := range append(append(append(append(v1, v2...), v3...), v4...), v5...) {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			h, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
			require.NoError(t, err)
			require.NoError(t, fleetworker.ReplayHistory(logging.NewTemporal(zap.NewNop()), h))
		})
	}
}

// TestIncompatibleChangeIsCaught makes the kind of change a replay must
// catch: a new timer at the start of RemediateRegion, without a version
// marker. Replaying a recorded run on it fails; the same change behind
// workflow.GetVersion replays (old runs keep the old path).
func TestIncompatibleChangeIsCaught(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "v4", "region-first-run.json"))
	require.NoError(t, err)
	replay := func(fn func(workflow.Context, workflows.RegionInput) (workflows.Report, error)) error {
		h, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
		require.NoError(t, err)
		r := worker.NewWorkflowReplayer()
		r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: guard.RunWorkflowType})
		r.RegisterWorkflow(workflows.RemediateBatch)
		r.RegisterWorkflow(guard.RegionGuard)
		attrs := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
		return r.ReplayWorkflowHistoryWithOptions(logging.NewTemporal(zap.NewNop()), h, worker.ReplayWorkflowHistoryOptions{
			OriginalExecution: workflow.Execution{ID: attrs.GetWorkflowId(), RunID: attrs.GetOriginalExecutionRunId()},
		})
	}
	unpatched := func(ctx workflow.Context, in workflows.RegionInput) (workflows.Report, error) {
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return workflows.Report{}, err
		}
		return workflows.RemediateRegion(ctx, in)
	}
	err = replay(unpatched)
	require.Error(t, err)
	require.Contains(t, err.Error(), "TMPRL1100", "the SDK's nondeterminism error")

	patched := func(ctx workflow.Context, in workflows.RegionInput) (workflows.Report, error) {
		if workflow.GetVersion(ctx, "settle-first", workflow.DefaultVersion, 1) == 1 {
			if err := workflow.Sleep(ctx, time.Second); err != nil {
				return workflows.Report{}, err
			}
		}
		return workflows.RemediateRegion(ctx, in)
	}
	require.NoError(t, replay(patched))
}
