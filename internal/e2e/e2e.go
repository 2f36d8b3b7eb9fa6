// Package e2e holds what the end-to-end tests share: the stack they run
// on (the embedded Temporal server, the ECS simulator, the worker in
// process or as its real binary), a run to its report, and the checks of
// invariants of docs/design.md against the simulator's truth. It is imported by
// tests only (devstack and e2e/...), which are split into packages by
// concern so each stays well inside go test's default timeout.
package e2e

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

const Region = "cn-hangzhou"

// Fleet is the fleet of the issue: 1,000 instances, ~15% agent missing,
// ~5% silent, ~5% stopped, ~1% whose install always fails, a few that
// vanish during the run.
func Fleet() ecssim.FleetSpec {
	return ecssim.FleetSpec{
		Size: 1000, Seed: 42,
		Missing: 0.14, Silent: 0.05, Stopped: 0.05, InstallFails: 0.01, Vanish: 0.005,
		VanishAfterMin: 30 * time.Second, VanishAfterMax: 20 * time.Minute,
		OSWeights: map[string]float64{"Linux": 0.7, "Windows": 0.25, "FreeBSD": 0.05},
	}
}

func Stack(t *testing.T, worker bool) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		IP: "127.0.0.1", UIPort: -1, Region: Region, Fleet: Fleet(), TimeScale: 60, SimSeed: 5,
		Worker: worker, Logger: zap.NewNop(),
	})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

// Eventually polls cond until it holds, failing the test after within.
func Eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, not synchronising on time
	}
}

// Input is a run sized for the simulator's 60x clock.
func Input() workflows.RegionInput {
	grace := workflows.Duration(time.Second)
	stable := workflows.Duration(time.Second)
	return workflows.RegionInput{
		Region: Region, RebootGrace: &grace, ConcurrentBatches: 8,
		VerifyDeadline: workflows.Duration(10 * time.Second), VerifyPollInterval: workflows.Duration(250 * time.Millisecond),
		// One heartbeat interval and three of them, on the simulator's clock.
		StableFor: &stable, EarlySignal: workflows.Duration(3 * time.Second),
	}
}

func RunToReport(t *testing.T, st *stack.Stack, id string, in workflows.RegionInput, during func(workflows.Progress)) workflows.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run, err := st.StartRun(ctx, id, in)
	require.NoError(t, err)
	rep, err := stack.WaitProgress(ctx, st.Client, run, 200*time.Millisecond, during)
	require.NoError(t, err)
	return rep
}

// CheckAgainstTruth asserts the invariants of docs/design.md on the simulator's
// truth and that the report agrees with it, and returns each never-vanishing
// instance's outcome (to compare runs).
func CheckAgainstTruth(t *testing.T, sim *ecssim.Sim, rep workflows.Report) map[string]string {
	t.Helper()
	truth := sim.Truth()
	rows := map[string]workflows.Row{}
	for _, r := range rep.Rows {
		_, dup := rows[r.InstanceID]
		require.False(t, dup, "%s has two rows", r.InstanceID)
		rows[r.InstanceID] = r
	}
	require.Zero(t, rep.RowsOmitted)

	byOutcome := map[string]int{}
	for _, in := range truth.Instances {
		if in.Region != rep.Region {
			continue // another region's fleet: not this run's business
		}
		row, hasRow := rows[in.ID]
		// Nothing touched a healthy or a stopped instance, nothing twice.
		require.Zero(t, in.InstallsWhileHealthy, "%s: install while its agent was healthy", in.ID)
		require.Zero(t, in.RebootsWhileHealthy, "%s: reboot while its agent was healthy", in.ID)
		require.LessOrEqual(t, in.Reboots, 1, "%s rebooted %d times", in.ID, in.Reboots)
		if in.Managed {
			// A managed instance: reported with its agent, never named in
			// an ECS call (install, reboot, DescribeInstances or
			// DescribeInstanceStatus), accepted or refused.
			require.Zero(t, in.Installs+in.RefusedInstalls, "%s (managed) was named in an install", in.ID)
			require.Zero(t, in.Reboots+in.RefusedReboots, "%s (managed) was named in a reboot", in.ID)
			require.Zero(t, in.Described, "%s (managed) was named in a DescribeInstances or DescribeInstanceStatus call", in.ID)
			if in.Vanished && !hasRow {
				continue
			}
			require.True(t, hasRow, "%s (managed) has no row", in.ID)
			require.Equal(t, workflows.OutcomeManaged, row.Outcome, "%+v", row)
			require.Zero(t, row.Batch)
			require.Empty(t, row.Action)
			require.Equal(t, in.AgentHealthy, row.Problem == "", "%s: agent healthy %v, row %+v", in.ID, in.AgentHealthy, row)
			byOutcome[row.Outcome]++
			continue
		}
		switch in.InitialProblem {
		case "healthy", "outdated", "stopped":
			require.Zero(t, in.Installs, "%s (%s) got an install", in.ID, in.InitialProblem)
			require.Zero(t, in.Reboots, "%s (%s) got a reboot", in.ID, in.InitialProblem)
		}
		if in.InitialProblem == "healthy" || in.InitialProblem == "outdated" {
			require.False(t, hasRow, "%s was healthy but has a row %+v", in.ID, row)
			continue
		}
		if in.Vanished && !hasRow {
			continue // vanished before the scan reached it
		}
		require.True(t, hasRow, "%s (%s, vanished=%v) has no row", in.ID, in.InitialProblem, in.Vanished)
		byOutcome[row.Outcome]++
		switch in.InitialProblem {
		case "missing", "silent":
			if !in.Vanished && row.Reason == workflows.ReasonRebootUnconfirmed {
				// A worker died between storing the reboot intent and the
				// call reaching ECS (only the kill test can do this). The
				// claim must be true: the reboot never happened, and it was
				// not sent again.
				require.Zero(t, in.Reboots, "%s reported reboot-unconfirmed but was rebooted", in.ID)
				require.False(t, in.AgentHealthy)
			} else if !in.Vanished {
				// Every fixable running instance is healthy now.
				require.Equal(t, workflows.OutcomeRemediated, row.Outcome, "%s: %+v", in.ID, row)
				require.True(t, in.AgentHealthy, "%s reported remediated but the agent is not healthy", in.ID)
				require.Equal(t, 1, in.Reboots)
			} else if row.Outcome == workflows.OutcomeFailed {
				require.Equal(t, workflows.ReasonVanished, row.Reason, "%s: %+v", in.ID, row)
			}
		case "install-fails":
			if !in.Vanished && row.Reason == workflows.ReasonRebootUnconfirmed {
				require.LessOrEqual(t, in.Reboots, 1) // either way, at most once
				require.False(t, in.AgentHealthy)
			} else if !in.Vanished {
				require.Equal(t, workflows.OutcomeFailed, row.Outcome)
				require.Equal(t, workflows.ReasonNoHeartbeat, row.Reason, "%+v", row)
				require.Contains(t, row.Detail, "never reported")
				require.False(t, in.AgentHealthy)
			}
		case "stopped":
			require.Equal(t, workflows.OutcomeNotRunning, row.Outcome, "%+v", row)
			require.Zero(t, row.Batch)
		default:
			t.Fatalf("unexpected initial problem %q", in.InitialProblem)
		}
	}
	for _, row := range rep.Rows {
		if row.Outcome == workflows.OutcomeFailed && row.Reason == workflows.ReasonVanished {
			tr, ok := sim.Instance(row.InstanceID)
			require.True(t, ok)
			require.True(t, tr.Vanished, "%s reported vanished but exists", row.InstanceID)
		}
	}
	// The report's counts are the truth's.
	c := rep.Counts
	require.Equal(t, byOutcome[workflows.OutcomeRemediated], c.Remediated)
	require.Equal(t, byOutcome[workflows.OutcomeNotRunning], c.NotRunning)
	require.Equal(t, byOutcome[workflows.OutcomeFailed], c.Failed)
	require.Equal(t, byOutcome[workflows.OutcomeAlreadyHealthy], c.AlreadyHealthy)
	require.Equal(t, byOutcome[workflows.OutcomeManaged], c.Managed)
	require.Equal(t, c.Failed, c.NoHeartbeat+c.RebootUnconfirmed+c.InheritedNoHeartbeat+c.Unverified+c.Vanished+c.InstallFailed+c.RebootRefused+c.BatchError+c.NotFound+c.AccountError+c.APIError)
	require.Zero(t, c.BatchError)
	require.Zero(t, c.AccountError)
	require.Equal(t, c.Remediated+c.Failed+c.AlreadyHealthy+c.Unknown+c.NotAttempted+c.Quarantined+c.Excluded-c.NotFound, c.AgentMissing+c.AgentSilent)

	// No call ever carried more IDs than the documents allow.
	require.LessOrEqual(t, truth.Actions[ecs.ActionInstallCloudAssistant].MaxInstanceIDs, ecs.MaxInstallIDs)
	require.LessOrEqual(t, truth.Actions[ecs.ActionDescribeCloudAssistantStatus].MaxInstanceIDs, ecs.MaxAgentStatusIDs)
	require.LessOrEqual(t, truth.Actions[ecs.ActionDescribeInstanceStatus].MaxInstanceIDs, ecs.MaxDescribeIDs)
	require.LessOrEqual(t, truth.Actions[ecs.ActionRebootInstances].MaxInstanceIDs, ecs.MaxRebootIDs)
	require.Positive(t, truth.Actions[ecs.ActionInstallCloudAssistant].Calls)
	// Only the actions the RAM policy grants (deploy/ram-policy.json).
	for name, a := range truth.Actions {
		if a.Calls > 0 {
			require.Contains(t, ecs.ActionsFleetmendCalls(), name, "%s is called but not in the RAM policy", name)
		}
	}

	stable := map[string]string{}
	for _, in := range truth.Instances {
		if !in.Vanishes && in.Region == rep.Region {
			if row, ok := rows[in.ID]; ok {
				stable[in.ID] = row.Outcome + "/" + row.Reason
			} else {
				stable[in.ID] = "healthy"
			}
		}
	}
	return stable
}

// RepairUnconfirmed does what an SRE would after a run that left instances
// reboot-unconfirmed: a run on just those. Each is then remediated, with
// one reboot in all. It returns the instances it repaired.
func RepairUnconfirmed(t *testing.T, st *stack.Stack, rep workflows.Report) []string {
	t.Helper()
	var ids []string
	for _, r := range rep.Rows {
		if r.Reason == workflows.ReasonRebootUnconfirmed {
			ids = append(ids, r.InstanceID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	in := Input()
	in.InstanceIDs = ids
	next := RunToReport(t, st, guard.RunWorkflowID(Region, "repair-unconfirmed", time.Now()), in, nil)
	var repaired []string
	for _, r := range next.Rows {
		tr, ok := st.Sim.Instance(r.InstanceID)
		require.True(t, ok)
		if tr.InitialProblem == "install-fails" || tr.Vanished {
			continue
		}
		require.Equal(t, workflows.OutcomeRemediated, r.Outcome, "%+v", r)
		require.Equal(t, 1, tr.Reboots, "%s", r.InstanceID)
		require.True(t, tr.AgentHealthy)
		repaired = append(repaired, r.InstanceID)
	}
	return repaired
}

// RepairUnconfirmedOutcomes runs the next run on the instances rep left
// reboot-unconfirmed, as an SRE (or the next scheduled run) would, and
// returns their outcomes in it, in CheckAgainstTruth's form.
func RepairUnconfirmedOutcomes(t *testing.T, st *stack.Stack, rep workflows.Report) map[string]string {
	t.Helper()
	var ids []string
	for _, r := range rep.Rows {
		if r.Reason == workflows.ReasonRebootUnconfirmed {
			ids = append(ids, r.InstanceID)
		}
	}
	out := map[string]string{}
	if len(ids) == 0 {
		return out
	}
	in := Input()
	in.InstanceIDs = ids
	next := RunToReport(t, st, guard.RunWorkflowID(Region, "repair-unconfirmed", time.Now()), in, nil)
	for _, r := range next.Rows {
		tr, ok := st.Sim.Instance(r.InstanceID)
		require.True(t, ok)
		require.LessOrEqual(t, tr.Reboots, 1, "%s rebooted twice", r.InstanceID)
		out[r.InstanceID] = r.Outcome + "/" + r.Reason
	}
	return out
}

// StartWorker starts the worker binary against st's server and simulator,
// serving every simulated region; the test's cleanup kills it if it still
// runs.
func StartWorker(t *testing.T, bin string, st *stack.Stack) *exec.Cmd {
	t.Helper()
	return StartWorkerWith(t, bin, st, "--regions", strings.Join(st.Sim.Regions(), ","))
}

// StopWorker sends SIGTERM, as a rolling deploy does, and waits for the
// worker to exit, which it must do cleanly.
func StopWorker(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "a worker stopped with SIGTERM exits 0")
}

// KillWorker sends SIGKILL, as an OOM kill or a lost node would, and reaps it.
func KillWorker(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
}

// BuildWorker builds the real worker binary, which the tests run as a
// child process to kill it, restart it and read its logs and metrics.
func BuildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/fleetmend/fleetmend/worker")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./worker: %s", out)
	return bin
}

// PrefixWriter forwards a child process's output to the test log.
type PrefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *PrefixWriter) Write(b []byte) (int, error) {
	w.t.Log(w.prefix + string(b))
	return len(b), nil
}

// SyncBuffer is a bytes.Buffer safe to write from a process pipe and read
// from the test.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// SafetyStack is a stack with the worker in process and the given fleet
// (Linux only unless the spec says otherwise, so the scan order is the
// creation order).
func SafetyStack(t *testing.T, fleet ecssim.FleetSpec) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		IP: "127.0.0.1", UIPort: -1, Region: Region, Fleet: fleet, TimeScale: 60, SimSeed: 11,
		Worker: true, Logger: zap.NewNop(),
	})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

// RunToError runs a run that is expected to fail and returns its error.
func RunToError(t *testing.T, st *stack.Stack, id string, in workflows.RegionInput) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run, err := st.StartRun(ctx, id, in)
	require.NoError(t, err)
	err = run.Get(ctx, nil)
	require.Error(t, err)
	return err
}

// UnhealthyIDs are the instances the fleet generated with a missing or
// silent agent (or an install that always fails), in creation order.
func UnhealthyIDs(sim *ecssim.Sim) []string {
	var ids []string
	order := sim.InstanceIDs(Region)
	byID := map[string]ecssim.InstanceTruth{}
	for _, in := range sim.Truth().Instances {
		byID[in.ID] = in
	}
	for _, id := range order {
		switch byID[id].InitialProblem {
		case ecssim.ProblemMissing, ecssim.ProblemSilent, ecssim.ProblemInstallFails:
			ids = append(ids, id)
		}
	}
	return ids
}

// RequireNothingTwice asserts the safety invariants on the simulator's
// truth: no instance installed or rebooted twice, nothing done to a
// healthy agent.
func RequireNothingTwice(t *testing.T, truth ecssim.Truth) {
	t.Helper()
	for _, in := range truth.Instances {
		require.LessOrEqual(t, in.Installs, 1, "%s installed %d times", in.ID, in.Installs)
		require.LessOrEqual(t, in.Reboots, 1, "%s rebooted %d times", in.ID, in.Reboots)
		require.Zero(t, in.InstallsWhileHealthy, in.ID)
		require.Zero(t, in.RebootsWhileHealthy, in.ID)
	}
}

// FreeAddr is a loopback address nothing listens on right now.
func FreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// StartWorkerWith starts the worker binary with extra flags.
func StartWorkerWith(t *testing.T, bin string, st *stack.Stack, extra ...string) *exec.Cmd {
	t.Helper()
	return StartWorkerAt(t, bin, st.Server.FrontendHostPort(), st.Server.Namespace(), st.SimServer.Endpoint(), extra...)
}

// StartWorkerAt starts the worker binary against any Temporal frontend
// (e.g. a cluster of separate server processes) and simulator endpoint,
// with the simulator's keys; the test's cleanup kills it if it still runs.
func StartWorkerAt(t *testing.T, bin, frontend, namespace, simEndpoint string, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"--temporal-address", frontend, "--temporal-namespace", namespace,
		"--ecs-endpoint", simEndpoint, "--ecs-scheme", "HTTP", "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+ecssim.DefaultAccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+ecssim.DefaultAccessKeySecret,
		"TEMPORAL_CONFIG_FILE="+filepath.Join(t.TempDir(), "none.toml"))
	cmd.Stderr = &PrefixWriter{t: t, prefix: "worker: "}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// Scrape reads a Prometheus text exposition into metric families by name.
func Scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
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

// Sum adds the values of a counter (or a histogram's counts, or a gauge)
// whose labels include want.
func Sum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
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
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		}
	}
	return total
}

// BuildBinary builds one of the module's commands into the test's temp dir.
func BuildBinary(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
	return bin
}

// BetweenInstallAndReboot says whether at least n instances have an
// install accepted and are waiting for the reboot that makes it take
// effect: batches are in their grace period.
func BetweenInstallAndReboot(sim *ecssim.Sim, n int) bool {
	waiting := 0
	for _, in := range sim.Truth().Instances {
		if in.Installs > 0 && in.Reboots == 0 {
			waiting++
		}
	}
	return waiting >= n
}

// ProgressOf asks a run for its progress; false when it does not answer.
func ProgressOf(ctx context.Context, c client.Client, id string) (workflows.Progress, bool) {
	v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
	if err != nil {
		return workflows.Progress{}, false
	}
	var p workflows.Progress
	return p, v.Get(&p) == nil
}

// RequireNoSecondRepairWithinDeadline asserts on the truth that no
// instance was rebooted twice within its verify deadline, nor installed on
// by a later run while still within the verify deadline of a reboot an
// earlier run sent, and that nothing was done to a healthy agent. (Past its
// deadline, an instance whose agent never came back may be repaired again:
// that is a new attempt, which quarantine counts.) deadline is in
// simulated time; granted is when the later run got the region. It returns
// how many instances were rebooted more than once (past their deadline).
func RequireNoSecondRepairWithinDeadline(t *testing.T, truth ecssim.Truth, granted time.Time, deadline time.Duration) int {
	t.Helper()
	const slack = time.Minute // clock sampling, in simulated time
	again := 0
	for _, in := range truth.Instances {
		require.Zero(t, in.InstallsWhileHealthy, in.ID)
		require.Zero(t, in.RebootsWhileHealthy, in.ID)
		for i := 1; i < len(in.RebootTimes); i++ {
			gap := in.RebootTimes[i].Sub(in.RebootTimes[i-1])
			require.GreaterOrEqual(t, gap, deadline-slack, "%s rebooted twice within its verify deadline: %v", in.ID, in.RebootTimes)
		}
		for _, at := range in.InstallTimes {
			if !at.After(granted) || len(in.RebootTimes) == 0 || !in.RebootTimes[0].Before(granted) {
				continue
			}
			require.GreaterOrEqual(t, at.Sub(in.RebootTimes[0]), deadline-slack,
				"%s installed on by a later run within the verify deadline of an earlier run's reboot: installs %v, reboots %v", in.ID, in.InstallTimes, in.RebootTimes)
		}
		if len(in.RebootTimes) > 1 {
			again++
		}
	}
	return again
}

// SkipShort skips an end-to-end test in the short tier, `go test -short
// ./...`: the loop a developer runs after every change (unit, replay,
// simulator and docs tests, and one end-to-end smoke run). The full suite,
// `go test -race ./...`, runs it; so does CI.
func SkipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end to end: runs in the full suite (go test -race ./...), not with -short")
	}
}
