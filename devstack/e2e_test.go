package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/internal/version"
	"github.com/fleetmend/fleetmend/workflows"
)

func TestEndToEndRemediatesTheFleet(t *testing.T) {
	st := e2e.Stack(t, true)
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/e2e", e2e.Input(), nil)
	outcomes := e2e.CheckAgainstTruth(t, st.Sim, rep)
	require.Equal(t, 1, rep.Runs)
	require.Greater(t, rep.Counts.Remediated, 150)
	require.Zero(t, rep.Counts.RebootUnconfirmed, "no worker died, so ECS answered every reboot")
	// Every request said who sent it, as ActionTrail would show.
	agents := st.Sim.Truth().UserAgents
	require.NotEmpty(t, agents)
	for ua := range agents {
		require.Contains(t, ua, " "+version.UserAgent(), "every ECS request carries fleetmend's User-Agent")
	}
	require.Equal(t, 50, rep.Counts.NotRunning+countVanishedStopped(st.Sim))
	t.Logf("report: %+v", rep.Counts)

	t.Run("with continue-as-new every 200 events", func(t *testing.T) {
		st2 := e2e.Stack(t, true)
		in := e2e.Input()
		in.EventsPerRun = workflows.MinEventsPerRun
		rep2 := e2e.RunToReport(t, st2, "fleetmend/cn-hangzhou/e2e-can", in, nil)
		require.GreaterOrEqual(t, rep2.Runs, 2)
		outcomes2 := e2e.CheckAgainstTruth(t, st2.Sim, rep2)
		require.Equal(t, outcomes, outcomes2, "same fleet, same outcome per instance")
	})
}

func countVanishedStopped(sim *ecssim.Sim) int {
	n := 0
	for _, in := range sim.Truth().Instances {
		if in.InitialProblem == "stopped" && in.Vanished {
			n++
		}
	}
	return n
}

// TestEndToEndSurvivesWorkerKill runs the real worker binary, kills it
// with SIGKILL while batches are in flight, starts a new one, and checks
// that the run completes with every invariant intact.
func TestEndToEndSurvivesWorkerKill(t *testing.T) {
	e2e.SkipShort(t)
	bin := e2e.BuildWorker(t)
	st := e2e.Stack(t, false)
	first := e2e.StartWorker(t, bin, st)
	killed := false
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/e2e-kill", e2e.Input(), func(p workflows.Progress) {
		if killed || p.BatchesDone < 1 || p.BatchesInFlight < 1 {
			return
		}
		killed = true
		e2e.KillWorker(t, first)
		e2e.StartWorker(t, bin, st)
	})
	require.True(t, killed, "the run ended before the worker could be killed")
	e2e.CheckAgainstTruth(t, st.Sim, rep)
	// A kill that lands between a stored reboot intent and the call
	// reaching ECS leaves instances reboot-unconfirmed; the next test
	// forces that. Here it may or may not happen.
	unconfirmed := e2e.RepairUnconfirmed(t, st, rep)
	t.Logf("report: %+v; reboot-unconfirmed: %v", rep.Counts, unconfirmed)
}

// TestWorkerKilledWhileItsRebootIsInFlight forces the kill the reboot
// intent alone cannot resolve: RebootInstances is slowed down in the
// simulator, and the worker is killed while its call waits there, so ECS
// never processes it. The retried activity finds the instances Running,
// their StartTime unchanged: no evidence that the reboot happened, and no
// document says that this proves it did not, so it does not send it again;
// they are verified and reported reboot-unconfirmed. The next run repairs
// them. The simulator is the judge: no instance rebooted twice, the
// unconfirmed ones not rebooted by the first run, and each remediated by
// the second with exactly one reboot.
func TestWorkerKilledWhileItsRebootIsInFlight(t *testing.T) {
	e2e.SkipShort(t)
	bin := e2e.BuildWorker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, TimeScale: 60, SimSeed: 5, Logger: zap.NewNop(),
		Fleet: ecssim.FleetSpec{Size: 100, Seed: 7, Missing: 0.3, Silent: 0.1, Stopped: 0.05},
	})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{Latency: time.Minute, Actions: []string{ecs.ActionRebootInstances}}))

	first := e2e.StartWorker(t, bin, st)
	killed := false
	// The reboot rule is on trial, not the rollout: a canary whose every
	// reboot a dying worker left unconfirmed has no evidence and stops the
	// run (e2e/rollout and the workflow tests judge that).
	in := e2e.Input()
	in.Canary = new(int)
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/e2e-kill-reboot", in, func(workflows.Progress) {
		if killed || st.Sim.Truth().Actions[ecs.ActionRebootInstances].Calls == 0 {
			return
		}
		// A reboot call is waiting in the simulator: kill its sender.
		killed = true
		e2e.KillWorker(t, first)
		require.NoError(t, st.Sim.SetFaults(ecssim.Faults{}))
		e2e.StartWorker(t, bin, st)
	})
	require.True(t, killed, "no reboot call was seen")
	// e2e.CheckAgainstTruth holds every instance to at most one reboot, and
	// every fixable one to remediated unless reported unconfirmed.
	e2e.CheckAgainstTruth(t, st.Sim, rep)
	require.Positive(t, rep.Counts.RebootUnconfirmed, "the lost call is never sent again on a guess: %+v", rep.Counts)
	for _, r := range rep.Rows {
		if r.Reason == workflows.ReasonRebootUnconfirmed {
			tr, _ := st.Sim.Instance(r.InstanceID)
			require.Zero(t, tr.Reboots, "%s: its only reboot call never reached ECS", r.InstanceID)
		}
	}
	require.Positive(t, rep.Counts.Remediated)
	require.GreaterOrEqual(t, st.Sim.Truth().Actions[ecs.ActionRebootInstances].Errors, 1, "the killed call never reached ECS's logic")
	repaired := e2e.RepairUnconfirmed(t, st, rep)
	require.Len(t, repaired, rep.Counts.RebootUnconfirmed, "the next run repairs every unconfirmed instance, one reboot each")
	t.Logf("report: %+v; repaired by the next run: %d", rep.Counts, len(repaired))
}

// TestWorkerStopsGracefullyOnSIGTERM starts the worker binary and sends it
// SIGTERM, as a container runtime would: it must exit 0, having logged its stop.
func TestWorkerStopsGracefullyOnSIGTERM(t *testing.T) {
	e2e.SkipShort(t)
	bin := e2e.BuildWorker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, TimeScale: 60, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer st.Close()
	var logs e2e.SyncBuffer
	cmd := exec.Command(bin, "--temporal-address", st.Server.FrontendHostPort(), "--temporal-namespace", st.Server.Namespace(),
		"--ecs-endpoint", st.SimServer.Endpoint(), "--ecs-scheme", "HTTP", "--stop-timeout", "5s", "--regions", e2e.Region)
	cmd.Env = append(os.Environ(), "TEMPORAL_CONFIG_FILE="+filepath.Join(t.TempDir(), "none.toml"))
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "fleetmend worker starting") }, 30*time.Second, 20*time.Millisecond)
	// The worker is polling once the server lists it as a poller.
	require.Eventually(t, func() bool {
		resp, err := st.Client.DescribeTaskQueue(ctx, "fleetmend", enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		return err == nil && len(resp.GetPollers()) > 0
	}, 30*time.Second, 50*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "exit status after SIGTERM; logs:\n%s", logs.String())
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("worker did not stop within 20s of SIGTERM; logs:\n%s", logs.String())
	}
	require.Contains(t, logs.String(), "fleetmend worker stopped")
}

func TestDevstackFlagsNameTheFlagAndRange(t *testing.T) {
	cases := map[string][]string{
		"--missing is 2, allowed range is 0..1":                                                     {"--missing", "2"},
		"--missing + --silent + --stopped + --install-fails + --managed is 1.26, must be at most 1": {"--missing", "0.7", "--silent", "0.5"},
		"--missing + --silent + --stopped + --install-fails + --managed is 1.01, must be at most 1": {"--missing", "0.5", "--silent", "0",
			"--stopped", "0", "--install-fails", "0", "--managed", "0.51"},
		`--region: region "Hangzhou" is not an ECS region ID`: {"--region", "Hangzhou"},
		"--ui-port is 70000, allowed range is -1..65535":      {"--ui-port", "70000"},
		"--time-scale is 0, allowed range is (0, 3600]":       {"--time-scale", "0"},
		"--exit only makes sense with --demo":                 {"--exit"},
	}
	for want, args := range cases {
		_, err := parseFlags(args, io.Discard)
		require.ErrorContains(t, err, want, "%v", args)
	}
	_, err := parseFlags(nil, io.Discard)
	require.NoError(t, err, "the defaults are valid")
}
