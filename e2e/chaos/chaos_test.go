package chaos_test

import (
	"context"
	"math/rand/v2"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

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
	e2e.SkipShort(t)
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
	e2e.SkipShort(t)
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
