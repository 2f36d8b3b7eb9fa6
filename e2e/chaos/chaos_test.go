package chaos_test

import (
	"context"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// chaosStack is the e2e fleet with no worker in process: the test runs the
// worker binary and kills it.
func chaosStack(t *testing.T, dataDir string) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, Fleet: e2e.Fleet(), TimeScale: 60, SimSeed: 5,
		DataDir: dataDir, Logger: zap.NewNop(),
	})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

// workerFleet keeps one worker binary process running, and kills and
// restarts it on demand.
type workerFleet struct {
	t     *testing.T
	bin   string
	st    *stack.Stack
	mu    sync.Mutex
	cmd   *exec.Cmd
	kills int
}

func (w *workerFleet) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cmd = e2e.StartWorker(w.t, w.bin, w.st)
}

func (w *workerFleet) killAndRestart() {
	w.mu.Lock()
	defer w.mu.Unlock()
	e2e.KillWorker(w.t, w.cmd)
	w.kills++
	w.cmd = e2e.StartWorker(w.t, w.bin, w.st)
}

// TestTwentyWorkerKills kills the worker binary with SIGKILL twenty times
// at random moments of one 1,000-instance run, starting a new one each
// time. The run completes with every invariant intact on the simulator's
// truth: every fixable instance healthy (instances whose reboot a dying
// worker left unconfirmed are verified unrebooted and repaired by a
// follow-up run), nothing rebooted twice, nothing healthy or stopped
// touched, every unhealthy instance in the report.
func TestTwentyWorkerKills(t *testing.T) {
	bin := e2e.BuildWorker(t)
	st := chaosStack(t, "")
	w := &workerFleet{t: t, bin: bin, st: st}
	w.start()
	seed := time.Now().UnixNano()
	t.Logf("kill schedule seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 17))
	done := make(chan struct{})
	var killer sync.WaitGroup
	killer.Add(1)
	go func() {
		defer killer.Done()
		for w.kills < 20 {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(300+rng.IntN(2200)) * time.Millisecond):
				w.killAndRestart()
			}
		}
	}()
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/chaos-kills", e2e.Input(), nil)
	close(done)
	killer.Wait()
	require.Equal(t, 20, w.kills, "the run outlived twenty kills")
	e2e.CheckAgainstTruth(t, st.Sim, rep)
	repaired := e2e.RepairUnconfirmed(t, st, rep)
	t.Logf("20 kills survived: %+v; reboot-unconfirmed repaired by a follow-up run: %d", rep.Counts, len(repaired))
}

// TestServerRestartAndAWorkerKilledOfTwo: the Temporal server (SQLite in a
// file) is stopped and started again in the middle of a run, with two
// workers on the task queue, one of which is then killed for good. The run
// resumes and completes with the same guarantees.
func TestServerRestartAndAWorkerKilledOfTwo(t *testing.T) {
	bin := e2e.BuildWorker(t)
	st := chaosStack(t, t.TempDir())
	first := e2e.StartWorker(t, bin, st)
	e2e.StartWorker(t, bin, st)
	restarted, killed := false, false
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/chaos-server", e2e.Input(), func(p workflows.Progress) {
		switch {
		case !restarted && p.BatchesDone >= 1:
			restarted = true
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			require.NoError(t, st.RestartServer(ctx))
		case restarted && !killed && p.BatchesDone >= 3:
			killed = true
			e2e.KillWorker(t, first)
		}
	})
	require.True(t, restarted, "the run ended before the server could be restarted")
	require.True(t, killed, "the run ended before a worker could be killed")
	e2e.CheckAgainstTruth(t, st.Sim, rep)
	e2e.RepairUnconfirmed(t, st, rep)
	t.Logf("server restarted, one of two workers killed: %+v", rep.Counts)
}

// TestFaultMixSameEndAsACleanRun: 10% of calls answered with a 5xx,
// throttling above 40 calls a second, 1% of connections dropped, 200 ms
// added to every call, for the whole run. The outcome of every instance is
// the same as a clean run's on the same fleet, nothing is acted on twice,
// and the retries are in the history.
func TestFaultMixSameEndAsACleanRun(t *testing.T) {
	clean := e2e.Stack(t, true)
	cleanOutcomes := e2e.CheckAgainstTruth(t, clean.Sim, e2e.RunToReport(t, clean, "fleetmend/cn-hangzhou/clean", e2e.Input(), nil))

	st := e2e.Stack(t, true)
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{ErrorRate: 0.1, ThrottleRPS: 40, ThrottleBurst: 40, DropRate: 0.01,
		Latency: 200 * time.Millisecond, Seed: 9}))
	id := "fleetmend/cn-hangzhou/faults"
	rep := e2e.RunToReport(t, st, id, e2e.Input(), nil)
	require.NoError(t, st.Sim.SetFaults(ecssim.Faults{}))
	outcomes := e2e.CheckAgainstTruth(t, st.Sim, rep)
	require.Equal(t, cleanOutcomes, outcomes, "same fleet, same outcome per instance, faults or not")
	truth := st.Sim.Truth()
	errs := 0
	for _, a := range truth.Actions {
		errs += a.Errors
	}
	require.Positive(t, errs, "the faults were felt")

	// The retries show in the histories: activities that needed more than
	// one attempt.
	ctx := context.Background()
	retried := 0
	resp, err := st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowId STARTS_WITH '" + id + "'", PageSize: 1000})
	require.NoError(t, err)
	for _, e := range resp.GetExecutions() {
		it := st.Client.GetWorkflowHistory(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(t, err)
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
				retried++
				if f := a.GetLastFailure(); f != nil {
					require.NotContains(t, f.GetMessage(), "\n", "failures are one line")
					require.False(t, strings.Contains(f.GetMessage(), "SDK.ServerError"), "no SDK dump: %s", f.GetMessage())
				}
			}
		}
	}
	require.Positive(t, retried, "retries are visible in the history")
	t.Logf("fault mix: %d ECS errors injected, %d activities retried; %+v", errs, retried, rep.Counts)
}
