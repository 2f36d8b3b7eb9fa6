package workflows_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/internal/fleetworker"
	"github.com/fleetmend/fleetmend/internal/logging"
)

// TestReplayCommittedHistories replays histories recorded from real runs
// on a real Temporal server (see devstack's TestReplayRecordedHistories,
// which refreshes them with FLEETMEND_UPDATE_HISTORIES=1). A change to the
// workflows that is not deterministic against them fails here; such a
// change needs workflow.GetVersion, not new histories.
func TestReplayCommittedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 4, "region first run, last run, dry run and one batch")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			h, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
			require.NoError(t, err)
			require.NoError(t, fleetworker.ReplayHistory(logging.NewTemporal(zap.NewNop()), h))
		})
	}
}
