package trend_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/metrics"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// fleet is small, and has installs that never work: those instances fail
// every run and become chronic.
func fleet(seed int64) ecssim.FleetSpec {
	return ecssim.FleetSpec{Size: 80, Seed: seed, Missing: 0.08, Silent: 0.04, Stopped: 0.03, InstallFails: 0.06, Outdated: 0.1,
		OSWeights: map[string]float64{"Linux": 0.7, "Windows": 0.3}}
}

func input() workflows.RegionInput {
	in := e2e.Input()
	in.Canary = new(int) // no rollout waves: each run repairs at once
	return in
}

// failing is the truth's set of Running instances whose agent is not
// healthy: what a run finds unhealthy, or leaves failing.
func failing(tr ecssim.Truth) map[string]bool {
	out := map[string]bool{}
	for _, in := range tr.Instances {
		if in.Region == e2e.Region && !in.Vanished && in.State == ecssim.StateRunning && !in.AgentHealthy {
			out[in.ID] = true
		}
	}
	return out
}

func byID(tr ecssim.Truth) map[string]ecssim.InstanceTruth {
	out := map[string]ecssim.InstanceTruth{}
	for _, in := range tr.Instances {
		out[in.ID] = in
	}
	return out
}

func sorted(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}

// awaitTruth polls the simulator until cond holds of its truth: a hung
// agent turns unhealthy two simulated minutes after its last heartbeat.
func awaitTruth(t *testing.T, sim *ecssim.Sim, what string, cond func(map[string]ecssim.InstanceTruth) bool) {
	t.Helper()
	require.Eventually(t, func() bool { return cond(byID(sim.Truth())) }, 30*time.Second, 50*time.Millisecond, what)
}

// awaitListed polls visibility until it lists run id as the region's
// newest completed run, so the next run's comparison can find it.
func awaitListed(t *testing.T, st *stack.Stack, id string) {
	t.Helper()
	q := fmt.Sprintf("WorkflowType = 'RemediateRegion' AND ExecutionStatus = 'Completed' AND WorkflowId = '%s'", id)
	require.Eventually(t, func() bool {
		resp, err := st.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: q})
		return err == nil && len(resp.GetExecutions()) == 1
	}, 30*time.Second, 50*time.Millisecond, "visibility lists %s as completed", id)
}

// memoTrend is the trend summary `starter list` shows for run id.
func memoTrend(t *testing.T, st *stack.Stack, id string) string {
	t.Helper()
	resp, err := st.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s'", id)})
	require.NoError(t, err)
	require.Len(t, resp.GetExecutions(), 1)
	var s string
	p := resp.GetExecutions()[0].GetMemo().GetFields()[workflows.MemoTrend]
	require.NotNil(t, p, "the run's memo has its trend")
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &s))
	return s
}

// TestTrendAcrossThreeRunsEqualsTheTruth runs three times in a row on a
// fleet where instances break, heal and vanish between runs, and checks
// each report's changes against what the simulator says changed: new are
// those unhealthy at the run's start that the previous run did not leave
// failing, fixed / chronic / gone those it left failing that are healthy /
// still failing / deleted after this run; chronic instances carry their
// failed attempts (the installs the truth counts); the worker's /metrics
// gauge and the run's memo say the same.
func TestTrendAcrossThreeRunsEqualsTheTruth(t *testing.T) {
	e2e.SkipShort(t)
	bin := e2e.BuildWorker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, TimeScale: 60, SimSeed: 21, Logger: zap.NewNop(),
		Fleet: fleet(61)})
	require.NoError(t, err)
	defer st.Close()
	addr := e2e.FreeAddr(t)
	e2e.StartWorkerWith(t, bin, st, "--regions", e2e.Region, "--metrics-addr", addr)
	require.Eventually(t, func() bool { return metrics.Probe(ctx, addr) == nil }, 30*time.Second, 50*time.Millisecond)
	sim := st.Sim

	var installFails, healthy []string
	for _, in := range sim.Truth().Instances {
		switch in.InitialProblem {
		case ecssim.ProblemInstallFails:
			installFails = append(installFails, in.ID)
		case ecssim.ProblemHealthy:
			healthy = append(healthy, in.ID)
		}
	}
	require.GreaterOrEqual(t, len(installFails), 4, "enough installs that never work")
	require.GreaterOrEqual(t, len(healthy), 10)

	// Run 1: nothing to compare with.
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/trend-1", input(), nil)
	require.NotNil(t, rep.Trend)
	require.Empty(t, rep.Trend.Previous)
	require.Contains(t, rep.Trend.Note, "first run")
	require.Equal(t, "first run", memoTrend(t, st, "fleetmend/cn-hangzhou/trend-1"))
	left := failing(sim.Truth())
	require.Equal(t, len(installFails), len(left), "run 1 leaves exactly the installs that never work failing: %v", sorted(left))
	awaitListed(t, st, "fleetmend/cn-hangzhou/trend-1")

	// Between runs: some healthy agents break (hang or are removed), one
	// install that never worked is fixed by hand, one such instance is
	// deleted; the rest stay broken.
	between := []func() []string{
		func() []string {
			require.NoError(t, sim.SilenceAgent(healthy[0]))
			require.NoError(t, sim.SilenceAgent(healthy[1]))
			require.NoError(t, sim.RemoveAgent(healthy[2]))
			require.NoError(t, sim.RemoveAgent(healthy[3]))
			require.NoError(t, sim.HealAgent(installFails[0]))
			require.NoError(t, sim.Vanish(installFails[1]))
			return healthy[:4]
		},
		func() []string {
			require.NoError(t, sim.SilenceAgent(healthy[0])) // fixed by run 2, broken again
			require.NoError(t, sim.RemoveAgent(healthy[4]))
			require.NoError(t, sim.SilenceAgent(healthy[5]))
			require.NoError(t, sim.HealAgent(installFails[2]))
			return []string{healthy[0], healthy[4], healthy[5]}
		},
	}
	for i, change := range between {
		n := i + 2
		id := fmt.Sprintf("fleetmend/cn-hangzhou/trend-%d", n)
		broken := change()
		awaitTruth(t, sim, "the broken agents show unhealthy", func(m map[string]ecssim.InstanceTruth) bool {
			for _, b := range broken {
				if m[b].AgentHealthy {
					return false
				}
			}
			return true
		})
		before := failing(sim.Truth())
		rep := e2e.RunToReport(t, st, id, input(), nil)
		after := byID(sim.Truth())

		wantNew, wantFixed, wantChronic, wantGone := map[string]bool{}, map[string]bool{}, map[string]int{}, map[string]bool{}
		for x := range before {
			if !left[x] {
				wantNew[x] = true
			}
		}
		for x := range left {
			switch in := after[x]; {
			case in.Vanished:
				wantGone[x] = true
			case in.State == ecssim.StateRunning && in.AgentHealthy:
				wantFixed[x] = true
			case in.State == ecssim.StateRunning:
				wantChronic[x] = in.Installs
			}
		}
		tr := rep.Trend
		require.NotNil(t, tr, "run %d", n)
		require.Equal(t, fmt.Sprintf("fleetmend/cn-hangzhou/trend-%d", n-1), tr.Previous, "run %d compares with the run before it", n)
		require.Empty(t, tr.Limits, "small reports are complete")
		require.Equal(t, sorted(wantNew), tr.NewIDs, "run %d: new", n)
		require.Equal(t, len(wantNew), tr.New)
		require.Equal(t, sorted(wantFixed), tr.FixedIDs, "run %d: fixed", n)
		require.Equal(t, len(wantFixed), tr.Fixed)
		require.Equal(t, sorted(wantGone), tr.GoneIDs, "run %d: gone", n)
		require.Equal(t, len(wantGone), tr.Gone)
		gotChronic := map[string]int{}
		for _, c := range tr.ChronicInstances {
			gotChronic[c.InstanceID] = c.Attempts
		}
		require.Equal(t, wantChronic, gotChronic, "run %d: chronic, with their failed attempts", n)
		require.Equal(t, len(wantChronic), tr.Chronic)
		require.NotEmpty(t, wantNew)
		require.NotEmpty(t, wantFixed)
		require.NotEmpty(t, wantChronic)
		require.Equal(t, tr.Summary(), memoTrend(t, st, id), "starter list's column")
		require.Eventually(t, func() bool {
			return e2e.Sum(e2e.Scrape(t, addr), workflows.MetricChronicInstances, map[string]string{"region": e2e.Region}) == float64(len(wantChronic))
		}, 10*time.Second, 100*time.Millisecond, "run %d: %s on /metrics", n, workflows.MetricChronicInstances)

		left = failing(sim.Truth())
		awaitListed(t, st, id)
	}
}

// TestAgentVersionsEqualTheTruth: the report's version distribution is
// the versions the simulator's healthy Running agents run, and its
// too-old list is exactly the agents older than Session Manager needs,
// compared number by number (2.10.0.1 and 2.2.3.1000 are new enough; the
// FreeBSD agent has no documented minimum).
func TestAgentVersionsEqualTheTruth(t *testing.T) {
	e2e.SkipShort(t)
	st := e2e.SafetyStack(t, fleet(62))
	sim := st.Sim
	added := map[string]string{}
	for _, a := range []struct{ os, v string }{
		{"Linux", "2.10.0.1"}, {"Linux", "2.2.3.1000"}, {"Linux", "2.2.3.188"}, {"Linux", "2.2.3.189"},
		{"Windows", "2.1.3.189"}, {"Windows", "2.1.3.100"}, {"FreeBSD", "1.0.0.1"},
	} {
		id, err := sim.AddInstance(ecssim.InstanceSpec{OSType: a.os, AgentInstalled: true, AgentVersion: a.v})
		require.NoError(t, err)
		added[id] = a.os + " " + a.v
	}
	before := sim.Truth()
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/versions", input(), nil)
	e2e.CheckAgainstTruth(t, sim, rep)

	wantDist := map[string]int{}
	wantOld := map[string]bool{}
	for _, in := range before.Instances {
		if in.Vanished || in.State != ecssim.StateRunning || !in.AgentHealthy {
			continue
		}
		wantDist[in.OSType+" "+in.AgentVersion]++
		if in.InitialProblem == ecssim.ProblemOutdated && in.OSType != "FreeBSD" {
			wantOld[in.ID] = true
		}
	}
	require.GreaterOrEqual(t, len(wantOld), 5, "the fleet's outdated agents and two added ones")
	a := rep.Agents
	require.NotNil(t, a)
	// More distinct versions than the report names: the top ten, most
	// instances first, each with the truth's count, the rest summed.
	require.Greater(t, len(wantDist), 10)
	require.Len(t, a.Top, 10)
	require.Equal(t, len(wantDist), a.Distinct)
	inTop, shown := map[string]bool{}, 0
	for i, v := range a.Top {
		key := v.OSType + " " + v.Version
		require.Equal(t, wantDist[key], v.Instances, key)
		if i > 0 {
			require.LessOrEqual(t, v.Instances, a.Top[i-1].Instances, "most instances first")
		}
		inTop[key] = true
		shown += v.Instances
	}
	total := 0
	for key, n := range wantDist {
		total += n
		if !inTop[key] {
			require.LessOrEqual(t, n, a.Top[len(a.Top)-1].Instances, "%s is left out but more common than a version shown", key)
		}
	}
	require.Equal(t, total, a.Reported)
	require.Equal(t, total-shown, a.Others)
	gotOld := map[string]bool{}
	for _, o := range a.TooOld {
		gotOld[o.InstanceID] = true
		require.Equal(t, byID(before)[o.InstanceID].AgentVersion, o.Version)
	}
	require.Equal(t, wantOld, gotOld)
	require.Equal(t, len(wantOld), a.TooOldCount)
	for id, what := range added {
		switch what {
		case "Linux 2.2.3.188", "Windows 2.1.3.100":
			require.True(t, gotOld[id], "%s is too old", what)
		default:
			require.False(t, gotOld[id], "%s is not too old", what)
		}
	}
}
