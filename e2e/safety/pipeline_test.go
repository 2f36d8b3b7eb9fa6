package safety_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// pipelineRun repairs 60 instances with missing agents, the first of which
// (when neverHeal) never gets its agent, with a blast radius of 20: three
// waves. It returns, in simulated time from the run's start, when the last
// instance that healed came back, the time between the first two waves'
// reboots, and the simulator's truth.
func pipelineRun(t *testing.T, neverHeal bool) (lastHealed, wave time.Duration, truth ecssim.Truth) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, TimeScale: 60, SimSeed: 12,
		Fleet: ecssim.FleetSpec{Size: 100, Seed: 41}, Worker: true, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer st.Close()
	// Hand-made after the generated fleet, so the scan lists them in this
	// order and the first is in the first batch.
	var ids []string
	for i := range 60 {
		id, err := st.Sim.AddInstance(ecssim.InstanceSpec{InstallAlwaysFails: neverHeal && i == 0})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	in := e2e.Input()
	in.BlastRadius = "20"
	in.MaxUnhealthyPercent = 100
	// Thirty simulated minutes: many waves long even on a loaded machine.
	in.VerifyDeadline = workflows.Duration(verifyDeadline / 60)
	start := st.Sim.Clock().Now()
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/pipeline", in, nil)
	truth = st.Sim.Truth()
	byID := map[string]ecssim.InstanceTruth{}
	for _, i := range truth.Instances {
		byID[i.ID] = i
	}
	var waveEnd [3]time.Time
	for n, id := range ids {
		i := byID[id]
		require.Len(t, i.RebootTimes, 1, "%s", id)
		w := n / 20
		if i.RebootTimes[0].After(waveEnd[w]) {
			waveEnd[w] = i.RebootTimes[0]
		}
		if i.AgentHealthy && i.BootedAt.Sub(start) > lastHealed {
			lastHealed = i.BootedAt.Sub(start)
		}
	}
	want := 60
	if neverHeal {
		want = 59
		require.Equal(t, 1, rep.Counts.NoHeartbeat)
	}
	require.Equal(t, want, rep.Counts.Remediated)
	require.Equal(t, 3, rep.Counts.Batches)
	return lastHealed, waveEnd[1].Sub(waveEnd[0]), truth
}

// verifyDeadline is the runs' verify deadline in simulated time (the
// simulator runs 60 times faster than the runs' clock).
const verifyDeadline = 30 * time.Minute

// TestNeverHealingInstanceDelaysNobody: one instance that never heals,
// in the first wave, delays the repair of the others by no more than one
// wave (the simulator's truth of when each came back up), although its own
// verify deadline is many waves long.
func TestNeverHealingInstanceDelaysNobody(t *testing.T) {
	e2e.SkipShort(t)
	withBad, _, truth := pipelineRun(t, true)
	clean, wave, _ := pipelineRun(t, false)
	deadline := verifyDeadline
	t.Logf("last healed: %s with a never-healing instance, %s without; one wave is %s; the verify deadline %s",
		withBad, clean, wave, deadline)
	require.Positive(t, wave)
	require.Less(t, 3*wave, deadline, "the test needs waves shorter than the deadline to mean anything")
	require.LessOrEqual(t, withBad-clean, wave, "the never-healing instance delayed the others by more than one wave")
	require.LessOrEqual(t, truth.MaxRebootingAtOnce, 20, "the blast radius as the fleet felt it")
}
