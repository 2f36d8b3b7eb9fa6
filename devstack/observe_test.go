package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/metrics"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// freeAddr is a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startWorkerWith starts the worker binary with extra flags.
func startWorkerWith(t *testing.T, bin string, st *stack.Stack, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"--temporal-address", st.Server.FrontendHostPort(), "--temporal-namespace", st.Server.Namespace(),
		"--ecs-endpoint", st.SimServer.Endpoint(), "--ecs-scheme", "HTTP", "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+ecssim.DefaultAccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+ecssim.DefaultAccessKeySecret,
		"TEMPORAL_CONFIG_FILE="+filepath.Join(t.TempDir(), "none.toml"))
	cmd.Stderr = &prefixWriter{t: t, prefix: "worker: "}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// scrape reads a Prometheus text exposition into metric families by name.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// sum adds the values of a counter (or a histogram's counts) whose labels
// include want.
func sum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetHistogram() != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// TestMetricsEqualTheSimulatorsTruth runs the worker binary with
// --metrics-addr, waits for /healthz to say it polls, repairs a fleet, and
// scrapes /metrics: fleetmend's counters equal the simulator's truth, and
// the Temporal SDK's own metrics are there too.
func TestMetricsEqualTheSimulatorsTruth(t *testing.T) {
	bin := buildWorker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{IP: "127.0.0.1", UIPort: -1, Region: e2eRegion, TimeScale: 60, SimSeed: 13, Logger: zap.NewNop(),
		Fleet: ecssim.FleetSpec{Size: 300, Seed: 51, Missing: 0.1, Silent: 0.05, Stopped: 0.05, InstallFails: 0.01}})
	require.NoError(t, err)
	defer st.Close()
	addr := freeAddr(t)
	startWorkerWith(t, bin, st, "--regions", e2eRegion, "--metrics-addr", addr)
	require.Eventually(t, func() bool { return metrics.Probe(ctx, addr) == nil }, 30*time.Second, 50*time.Millisecond,
		"/healthz says ok once the server sees the worker poll")
	out, err := exec.Command(bin, "healthcheck", "--metrics-addr", addr).CombinedOutput()
	require.NoError(t, err, "the Docker health check: %s", out)
	out, err = exec.Command(bin, "healthcheck", "--metrics-addr", freeAddr(t)).CombinedOutput()
	require.Error(t, err, "no worker there: %s", out)

	in := e2eInput()
	rep := runToReport(t, st, "fleetmend/cn-hangzhou/metrics", in, nil)
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
	region := map[string]string{"region": e2eRegion}
	outcome := func(o, reason string) map[string]string {
		m := map[string]string{"region": e2eRegion, "outcome": o}
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
		fams = scrape(t, addr)
		mismatch = ""
		for what, w := range want {
			if got := sum(fams, w.name, w.labels); got != float64(w.value) {
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
	bin := buildWorker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const other = "cn-shanghai"
	st, err := stack.Start(ctx, stack.Options{IP: "127.0.0.1", UIPort: -1, Region: e2eRegion, TimeScale: 60, SimSeed: 14, Logger: zap.NewNop(),
		Fleet:      ecssim.FleetSpec{Size: 200, Seed: 52, Missing: 0.15},
		MoreFleets: []ecssim.FleetSpec{{Region: other, Size: 200, Seed: 53, Missing: 0.15}}})
	require.NoError(t, err)
	defer st.Close()
	workers := map[string]*exec.Cmd{
		e2eRegion: startWorkerWith(t, bin, st, "--regions", e2eRegion),
		other:     startWorkerWith(t, bin, st, "--regions", other),
	}
	reports := make(chan workflows.Report, 2)
	for _, region := range []string{e2eRegion, other} {
		go func() {
			in := e2eInput()
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
