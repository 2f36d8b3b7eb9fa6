package observe_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/metrics"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// TestMetricsEqualTheSimulatorsTruth runs the worker binary with
// --metrics-addr, waits for /healthz to say it polls, repairs a fleet, and
// scrapes /metrics: fleetmend's counters equal the simulator's truth, and
// the Temporal SDK's own metrics are there too.
func TestMetricsEqualTheSimulatorsTruth(t *testing.T) {
	e2e.SkipShort(t)
	bin := e2e.BuildWorker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, TimeScale: 60, SimSeed: 13, Logger: zap.NewNop(),
		Fleet: ecssim.FleetSpec{Size: 300, Seed: 51, Missing: 0.1, Silent: 0.05, Stopped: 0.05, InstallFails: 0.01}})
	require.NoError(t, err)
	defer st.Close()
	addr := e2e.FreeAddr(t)
	e2e.StartWorkerWith(t, bin, st, "--regions", e2e.Region, "--metrics-addr", addr)
	require.Eventually(t, func() bool { return metrics.Probe(ctx, addr) == nil }, 30*time.Second, 50*time.Millisecond,
		"/healthz says ok once the server sees the worker poll")
	out, err := exec.Command(bin, "healthcheck", "--metrics-addr", addr).CombinedOutput()
	require.NoError(t, err, "the Docker health check: %s", out)
	out, err = exec.Command(bin, "healthcheck", "--metrics-addr", e2e.FreeAddr(t)).CombinedOutput()
	require.Error(t, err, "no worker there: %s", out)

	in := e2e.Input()
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/metrics", in, nil)
	require.Positive(t, rep.Counts.Remediated)
	truth := st.Sim.Truth()
	installs, reboots, healed := 0, 0, 0
	for _, i := range truth.Instances {
		installs += i.Installs
		reboots += i.Reboots
		if i.Reboots == 1 && i.AgentHealthy {
			healed++
		}
	}
	region := map[string]string{"region": e2e.Region}
	outcome := func(o, reason string) map[string]string {
		m := map[string]string{"region": e2e.Region, "outcome": o}
		if reason != "" {
			m["reason"] = reason
		}
		return m
	}
	want := map[string]struct {
		name   string
		labels map[string]string
		value  int
	}{
		"installs":   {activities.MetricInstalls + "_total", region, installs},
		"reboots":    {activities.MetricReboots + "_total", region, reboots},
		"scanned":    {workflows.MetricInstancesScanned + "_total", region, rep.Counts.Scanned},
		"unhealthy":  {workflows.MetricInstancesUnhealthy + "_total", region, rep.Counts.Unhealthy()},
		"remediated": {workflows.MetricInstanceOutcomes + "_total", outcome(workflows.OutcomeRemediated, ""), rep.Counts.Remediated},
		"healed":     {workflows.MetricInstanceOutcomes + "_total", outcome(workflows.OutcomeRemediated, ""), healed},
		"failed":     {workflows.MetricInstanceOutcomes + "_total", outcome(workflows.OutcomeFailed, ""), rep.Counts.Failed},
		"no-hb":      {workflows.MetricInstanceOutcomes + "_total", outcome(workflows.OutcomeFailed, workflows.ReasonNoHeartbeat), rep.Counts.NoHeartbeat},
		"not-run":    {workflows.MetricInstanceOutcomes + "_total", outcome(workflows.OutcomeNotRunning, ""), rep.Counts.NotRunning},
	}
	for action, a := range truth.Actions {
		want["calls "+action] = struct {
			name   string
			labels map[string]string
			value  int
		}{metrics.ECSCalls + "_total", map[string]string{"action": action}, a.Calls}
		want["latency "+action] = struct {
			name   string
			labels map[string]string
			value  int
		}{metrics.ECSLatency + "_seconds", map[string]string{"action": action}, a.Calls}
	}
	require.Positive(t, rep.Counts.NoHeartbeat)
	// Counters reach the registry on tally's one-second report: look until
	// they have all arrived.
	var fams map[string]*dto.MetricFamily
	var mismatch string
	require.Eventually(t, func() bool {
		fams = e2e.Scrape(t, addr)
		mismatch = ""
		for what, w := range want {
			if got := e2e.Sum(fams, w.name, w.labels); got != float64(w.value) {
				mismatch += fmt.Sprintf("%s: %s%v = %g, want %d; ", what, w.name, w.labels, got, w.value)
			}
		}
		return mismatch == ""
	}, 10*time.Second, 100*time.Millisecond, "metrics against the truth: %s", &mismatch)
	// The Temporal SDK's own metrics, through the same registry.
	var sdk []string
	for name := range fams {
		if strings.HasPrefix(name, "temporal_") {
			sdk = append(sdk, name)
		}
	}
	require.Contains(t, sdk, "temporal_workflow_completed_total")
	require.Contains(t, sdk, "temporal_activity_execution_latency_seconds")
}

// TestWorkersSplitRegions: two workers, each serving one of two simulated
// regions, repair both at once; every activity of a region ran on the
// worker that serves it (the attempts' identities in the histories).
func TestWorkersSplitRegions(t *testing.T) {
	e2e.SkipShort(t)
	bin := e2e.BuildWorker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const other = "cn-shanghai"
	st, err := stack.Start(ctx, stack.Options{IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, TimeScale: 60, SimSeed: 14, Logger: zap.NewNop(),
		Fleet:      ecssim.FleetSpec{Size: 200, Seed: 52, Missing: 0.15},
		MoreFleets: []ecssim.FleetSpec{{Region: other, Size: 200, Seed: 53, Missing: 0.15}}})
	require.NoError(t, err)
	defer st.Close()
	workers := map[string]*exec.Cmd{
		e2e.Region: e2e.StartWorkerWith(t, bin, st, "--regions", e2e.Region),
		other:      e2e.StartWorkerWith(t, bin, st, "--regions", other),
	}
	reports := make(chan workflows.Report, 2)
	for _, region := range []string{e2e.Region, other} {
		go func() {
			in := e2e.Input()
			in.Region = region
			run, err := st.StartRun(ctx, "fleetmend/"+region+"/split", in)
			if err != nil {
				reports <- workflows.Report{Region: region, Stopped: err.Error()}
				return
			}
			var rep workflows.Report
			if err := run.Get(ctx, &rep); err != nil {
				rep.Stopped = err.Error()
			}
			reports <- rep
		}()
	}
	for range 2 {
		rep := <-reports
		require.Empty(t, rep.Stopped, "%s", rep.Region)
		require.Equal(t, 30, rep.Counts.Remediated, "%s", rep.Region)
	}
	for region, cmd := range workers {
		identity := fmt.Sprintf(":%d", cmd.Process.Pid)
		resp, err := st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowId STARTS_WITH 'fleetmend/%s/'", region), PageSize: 100})
		require.NoError(t, err)
		require.NotEmpty(t, resp.GetExecutions())
		activitiesSeen := 0
		for _, e := range resp.GetExecutions() {
			it := st.Client.GetWorkflowHistory(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				require.NoError(t, err)
				if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
					activitiesSeen++
					require.True(t, strings.HasSuffix(a.GetIdentity(), identity), "%s's activity ran on %s, not on its region's worker (pid %d)",
						region, a.GetIdentity(), cmd.Process.Pid)
				}
			}
		}
		require.Positive(t, activitiesSeen, region)
	}
}

// TestStuckHolderIsReportedByMetricsAndTheNextRun: a holder whose install
// call hangs makes no progress; the next run, finding the region busy,
// says the holder is stuck, and /metrics shows it; once a run gets the
// region again the gauge goes back to 0.
func TestStuckHolderIsReportedByMetricsAndTheNextRun(t *testing.T) {
	e2e.SkipShort(t)
	bin := e2e.BuildWorker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, TimeScale: 60, SimSeed: 17, Logger: zap.NewNop(),
		Fleet: ecssim.FleetSpec{Size: 100, Seed: 57, Missing: 0.3}})
	require.NoError(t, err)
	defer st.Close()
	addr := e2e.FreeAddr(t)
	e2e.StartWorkerWith(t, bin, st, "--regions", e2e.Region, "--metrics-addr", addr)
	require.Eventually(t, func() bool { return metrics.Probe(ctx, addr) == nil }, 30*time.Second, 50*time.Millisecond)
	// Under the activity's heartbeat timeout, so the call is not retried:
	// the holder just waits.
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{Latency: 25 * time.Second, Actions: []string{ecs.ActionInstallCloudAssistant}}))
	in := e2e.Input()
	in.MaxUnhealthyPercent = 100
	holder, err := st.StartRun(ctx, "fleetmend/cn-hangzhou/stuck", in)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		v, err := st.Client.QueryWorkflow(ctx, holder.GetID(), "", workflows.QueryProgress)
		var p workflows.Progress
		return err == nil && v.Get(&p) == nil && p.Locked && p.BatchesInFlight > 0
	}, time.Minute, 50*time.Millisecond, "the holder has the region and waits for its install")
	stuck := in
	stuck.StuckAfter = workflows.Duration(10 * time.Second)
	var rep workflows.Report
	deadline := time.Now().Add(40 * time.Second)
	for i := 0; ; i++ {
		run, err := st.StartRun(ctx, fmt.Sprintf("fleetmend/cn-hangzhou/next-%d", i), stuck)
		require.NoError(t, err)
		require.NoError(t, run.Get(ctx, &rep))
		require.True(t, rep.Skipped, "the holder still has the region")
		if strings.Contains(strings.Join(rep.Warnings, "\n"), "made no progress for") {
			break
		}
		require.True(t, time.Now().Before(deadline), "a run that finds the region busy says its holder is stuck")
		time.Sleep(500 * time.Millisecond) // polling: the next run asks again
	}
	require.Contains(t, strings.Join(rep.Warnings, "\n"), "holder "+holder.GetID()+" made no progress for")
	gauge := map[string]string{"region": e2e.Region}
	// tally hands values to the registry every second.
	require.Eventually(t, func() bool { return e2e.Sum(e2e.Scrape(t, addr), guard.MetricHolderStuck, gauge) == 1 },
		10*time.Second, 100*time.Millisecond, "/metrics shows the stuck holder")

	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{}))
	require.NoError(t, holder.Get(ctx, &workflows.Report{}))
	after := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/after", in, nil)
	require.False(t, after.Skipped)
	require.Eventually(t, func() bool { return e2e.Sum(e2e.Scrape(t, addr), guard.MetricHolderStuck, gauge) == 0 },
		10*time.Second, 100*time.Millisecond, "the region is held by a run that moves again")
}
