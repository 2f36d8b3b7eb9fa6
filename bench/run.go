package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

const region = "cn-hangzhou"

// result is one bench run.
type result struct {
	Size      int     `json:"size"`
	Running   int     `json:"running"`
	Unhealthy int     `json:"unhealthy"`
	NeverHeal int     `json:"never_heal"`
	Latency   string  `json:"latency"`
	TimeScale float64 `json:"time_scale"`
	DryRun    bool    `json:"dry_run"`

	Makespan time.Duration `json:"makespan"`
	// Scan is how long the scan took, from the run's start to its end.
	Scan  time.Duration `json:"scan"`
	Bound bound         `json:"lower_bound"`
	// Ratio is Makespan / Bound.Total (real runs) or Makespan / critical
	// path × latency (dry runs).
	Ratio float64 `json:"ratio"`

	OOS     *oosResult `json:"oos,omitempty"`
	Speedup float64    `json:"speedup_over_oos,omitempty"`

	Calls        map[string]int `json:"calls"`
	ScanMinimum  int            `json:"scan_minimum_calls"`
	DescribeUsed int            `json:"describe_calls"` // DescribeCloudAssistantStatus + DescribeInstances
	CriticalPath int            `json:"critical_path_calls"`

	Runs            int   `json:"workflow_runs"`
	MaxRegionEvents int   `json:"max_events_per_region_run"`
	MaxBatchEvents  int   `json:"max_events_per_batch"`
	Batches         int   `json:"batches"`
	WorkerMaxRSS    int64 `json:"worker_max_rss_bytes"`

	Counts workflows.Counts `json:"counts"`
	// Stopped is the run's stop reason: a run its rollout or budget stopped
	// did not repair the fleet, so its makespan is no measure of speed.
	Stopped string `json:"stopped,omitempty"`
	// Waves are the rollout's judged waves, At from the run's start: what
	// the canary and the ramp cost.
	Waves       []wave `json:"waves,omitempty"`
	MaxInstalls int    `json:"max_installs_per_instance"`
	MaxReboots  int    `json:"max_reboots_per_instance"`
	Healed      int    `json:"healthy_after"`
}

func (o options) fleetSpec() ecssim.FleetSpec {
	return ecssim.FleetSpec{Region: region, Size: o.size, Seed: o.seed, Missing: o.missing, Silent: o.silent,
		InstallFails: o.neverHeal, Stopped: o.off, OSWeights: map[string]float64{"Linux": 0.7, "Windows": 0.3}}
}

func run(ctx context.Context, o options, log io.Writer) (result, error) {
	m := newModel(o.latency, o.timeScale)
	grace := m.real(workflows.DefaultRebootGrace)
	deadline := max(workflows.MinVerifyDeadline, m.real(workflows.DefaultVerifyDeadline))
	poll := max(workflows.MinVerifyPollInterval, m.real(workflows.DefaultVerifyPollInterval))

	fmt.Fprintln(log, "bench: building the worker ...")
	dir, err := os.MkdirTemp("", "fleetmend-bench-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "worker")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./worker").CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("go build ./worker (run the bench from the repository root): %v\n%s", err, out)
	}

	fmt.Fprintf(log, "bench: starting Temporal and a simulated region of %d instances ...\n", o.size)
	st, err := stack.Start(ctx, stack.Options{IP: "127.0.0.1", UIPort: -1, Region: region, Fleet: o.fleetSpec(),
		TimeScale: o.timeScale, SimSeed: o.seed, Logger: zap.NewNop()})
	if err != nil {
		return result{}, err
	}
	defer st.Close()
	res := result{Size: o.size, Latency: o.latency.String(), TimeScale: o.timeScale, DryRun: o.dryRun}
	f := fleetOf(st.Sim)
	res.Running, res.Unhealthy, res.NeverHeal = f.running, f.unhealthy, f.neverHeal
	if err := st.Sim.SetFaults(ecssim.Faults{Latency: o.latency}); err != nil {
		return result{}, err
	}

	w, err := startWorker(ctx, bin, st, o.ecsConcurrency)
	if err != nil {
		return result{}, err
	}
	g := grace
	stable := workflows.Duration(m.real(workflows.DefaultStableFor))
	in := workflows.RegionInput{Region: region, RebootGrace: (*workflows.Duration)(&g), VerifyDeadline: workflows.Duration(deadline),
		VerifyPollInterval: workflows.Duration(poll), DryRun: o.dryRun, StartedBy: "bench",
		StableFor: &stable, EarlySignal: workflows.Duration(max(workflows.MinEarlySignal, m.real(workflows.DefaultEarlySignal)))}
	if !o.canary {
		none := 0
		in.Canary = &none
	}
	id := guard.RunWorkflowID(region, "bench", time.Now())
	fmt.Fprintf(log, "bench: fleetmend %s ...\n", map[bool]string{true: "dry run", false: "run"}[o.dryRun])
	start := time.Now()
	wr, err := st.StartRun(ctx, id, in)
	if err != nil {
		_, _ = w.stop()
		return result{}, err
	}
	var rep workflows.Report
	err = wr.Get(ctx, &rep)
	res.Makespan = time.Since(start)
	rss, stopErr := w.stop()
	if err != nil {
		return result{}, fmt.Errorf("fleetmend run: %w", err)
	}
	if stopErr != nil {
		return result{}, stopErr
	}
	res.WorkerMaxRSS = rss
	res.Counts = rep.Counts
	res.Stopped = rep.Stopped
	for _, w := range rep.Waves {
		res.Waves = append(res.Waves, wave{Step: w.Step, Instances: w.Instances, Healed: w.Healed, Failed: w.Failed, Passed: w.Passed,
			At: w.At.Sub(rep.StartedAt)})
	}
	res.Scan = rep.ScannedAt.Sub(rep.StartedAt)
	res.Batches = rep.Counts.Batches

	truth := st.Sim.Truth()
	res.Calls = map[string]int{}
	for name, a := range truth.Actions {
		if a.Calls > 0 {
			res.Calls[name] = a.Calls
		}
	}
	res.DescribeUsed = res.Calls[ecs.ActionDescribeCloudAssistantStatus] + res.Calls[ecs.ActionDescribeInstances]
	res.ScanMinimum = f.scanCalls()
	res.CriticalPath = f.criticalPath()
	for _, i := range truth.Instances {
		res.MaxInstalls = max(res.MaxInstalls, i.Installs)
		res.MaxReboots = max(res.MaxReboots, i.Reboots)
		if i.AgentHealthy && i.State == ecssim.StateRunning {
			res.Healed++
		}
	}
	if err := historySizes(ctx, st, id, &res); err != nil {
		return result{}, err
	}

	if o.dryRun {
		res.Ratio = res.Makespan.Seconds() / (time.Duration(res.CriticalPath) * o.latency).Seconds()
		return res, nil
	}
	ro := rollout{}
	if o.canary && !o.dryRun {
		ro = rollout{canary: workflows.DefaultBatchSize, ramp: workflows.DefaultRamp, stable: stable.D()}
	}
	res.Bound = m.lowerBound(f, grace, deadline, ro)
	res.Ratio = res.Makespan.Seconds() / res.Bound.Total.Seconds()
	if !o.oos {
		return res, nil
	}
	fmt.Fprintf(log, "bench: fleetmend took %s; the OOS-style loop on the same fleet ...\n", res.Makespan.Round(time.Millisecond))
	oos, err := runOOS(ctx, o, m, deadline, poll)
	if err != nil {
		return result{}, err
	}
	res.OOS = &oos
	res.Speedup = oos.Makespan.Seconds() / res.Makespan.Seconds()
	return res, nil
}

// fleetOf reads the generated fleet from the simulator's truth.
func fleetOf(sim *ecssim.Sim) fleet {
	f := fleet{chains: map[string]int{}}
	for _, i := range sim.Truth().Instances {
		f.size++
		f.chains[i.OSType]++
		if i.State != ecssim.StateRunning {
			continue
		}
		f.running++
		switch i.InitialProblem {
		case ecssim.ProblemMissing, ecssim.ProblemSilent:
			f.unhealthy++
		case ecssim.ProblemInstallFails:
			f.unhealthy++
			f.neverHeal++
		}
	}
	return f
}

// historySizes finds the longest history of the run's workflow runs and
// of its batches.
func historySizes(ctx context.Context, st *stack.Stack, id string, res *result) error {
	for _, q := range []struct {
		query string
		into  *int
		runs  bool
	}{
		{fmt.Sprintf("WorkflowId = '%s'", id), &res.MaxRegionEvents, true},
		{fmt.Sprintf("WorkflowType = '%s' AND WorkflowId STARTS_WITH '%s'", guard.BatchWorkflowType, guard.BatchPrefix(id)), &res.MaxBatchEvents, false},
	} {
		var token []byte
		for {
			resp, err := st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q.query, PageSize: 1000, NextPageToken: token})
			if err != nil {
				return fmt.Errorf("list %s: %w", q.query, err)
			}
			for _, e := range resp.GetExecutions() {
				*q.into = max(*q.into, int(e.GetHistoryLength()))
				if q.runs {
					res.Runs++
				}
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				break
			}
		}
	}
	return nil
}

// runOOS runs the loop on a fresh simulator with the same fleet and model.
func runOOS(ctx context.Context, o options, m model, deadline, poll time.Duration) (oosResult, error) {
	sim, err := ecssim.New(ecssim.Config{Regions: []string{region}, Fleets: []ecssim.FleetSpec{o.fleetSpec()}, TimeScale: o.timeScale,
		Seed: o.seed, Faults: ecssim.Faults{Latency: o.latency}})
	if err != nil {
		return oosResult{}, err
	}
	srv, err := sim.Start("127.0.0.1:0")
	if err != nil {
		return oosResult{}, err
	}
	defer srv.Close()
	c, err := ecs.New(ecs.Config{Region: region, Endpoint: srv.Endpoint(), Scheme: "HTTP", PoolSize: o.oosConcurrency,
		Credentials: &ecs.StaticCredentials{AccessKeyID: ecssim.DefaultAccessKeyID, AccessKeySecret: ecssim.DefaultAccessKeySecret}})
	if err != nil {
		return oosResult{}, err
	}
	loop := oosLoop{client: c, concurrency: o.oosConcurrency, wait: m.real(time.Minute), poll: poll, deadline: deadline}
	return loop.run(ctx)
}

// workerProc is the worker binary running beside the bench.
type workerProc struct {
	cmd *exec.Cmd
}

func startWorker(ctx context.Context, bin string, st *stack.Stack, ecsConcurrency int) (*workerProc, error) {
	cmd := exec.Command(bin, "--temporal-address", st.Server.FrontendHostPort(), "--temporal-namespace", st.Server.Namespace(),
		"--ecs-endpoint", st.SimServer.Endpoint(), "--ecs-scheme", "HTTP", "--ecs-concurrency", fmt.Sprint(ecsConcurrency), "--regions", region,
		"--max-concurrent-activities", "100", "--log-level", "error")
	cmd.Env = append(os.Environ(), "ALIBABA_CLOUD_ACCESS_KEY_ID="+ecssim.DefaultAccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET="+ecssim.DefaultAccessKeySecret, "TEMPORAL_CONFIG_FILE="+filepath.Join(os.TempDir(), "fleetmend-bench-none.toml"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w := &workerProc{cmd: cmd}
	// Wait until the server sees it polling, so the run's clock does not
	// include the worker's start.
	for {
		resp, err := st.Client.DescribeTaskQueue(ctx, config.RegionTaskQueue(config.DefaultTaskQueue, region), enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err == nil && len(resp.GetPollers()) > 0 {
			return w, nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			_, _ = w.stop()
			return nil, err
		}
	}
}

// stop ends the worker with SIGTERM and returns its peak resident set
// size. It is VmHWM of /proc/<pid>/status, read just before the signal: the
// high-water mark of the worker's own address space since its exec.
// (getrusage's ru_maxrss would not do: a child forked from this large
// process inherits the parent's high-water mark across the exec.)
func (w *workerProc) stop() (int64, error) {
	hwm, hwmErr := vmHWM(w.cmd.Process.Pid)
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	err := w.cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return 0, fmt.Errorf("wait for the worker: %w", err)
	}
	return hwm, hwmErr
}

// vmHWM reads a process's peak resident set size in bytes.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read the worker's memory high-water mark: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("parse VmHWM %q: %w", v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/<pid>/status")
}

func printResult(out io.Writer, o options, r result) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("fleetmend bench: %d instances (%d Running, %d unhealthy, %d never heal), latency %s per call, time scale %g×",
		r.Size, r.Running, r.Unhealthy, r.NeverHeal, r.Latency, r.TimeScale)
	if r.DryRun {
		p("")
		p("  dry run wall time       %s (scan %s)", r.Makespan.Round(time.Millisecond), r.Scan.Round(time.Millisecond))
		p("  critical path           %d calls × %s = %s  (longest token chain's pages + its last lookup)", r.CriticalPath, r.Latency,
			(time.Duration(r.CriticalPath) * o.latency).Round(time.Millisecond))
		p("  wall / critical path    %.2f", r.Ratio)
		p("  describe calls          %d  (minimum ⌈N/50⌉+⌈N/100⌉ per chain: %d)  → %.3f× the minimum", r.DescribeUsed, r.ScanMinimum,
			float64(r.DescribeUsed)/float64(r.ScanMinimum))
	} else {
		p("")
		p("  fleetmend makespan      %s (scan %s, repairs %s)", r.Makespan.Round(time.Millisecond), r.Scan.Round(time.Millisecond), (r.Makespan - r.Scan).Round(time.Millisecond))
		gated := ""
		if r.Bound.GatedCount > 0 {
			gated = fmt.Sprintf(" + canary (%s + stable %s) + %d ramp steps × %s", r.Bound.Wave.Round(time.Millisecond),
				(r.Bound.Gated - time.Duration(r.Bound.GatedCount)*r.Bound.Wave).Round(time.Millisecond), r.Bound.GatedCount-1, r.Bound.Wave.Round(time.Millisecond))
		}
		p("  lower bound             %s = scan %s%s + %d waves × %s + verify deadline %s",
			r.Bound.Total.Round(time.Millisecond), r.Bound.Scan.Round(time.Millisecond), gated, r.Bound.WaveCount, r.Bound.Wave.Round(time.Millisecond), r.Bound.Tail)
		p("  makespan / bound        %.2f", r.Ratio)
		if r.OOS != nil {
			p("  OOS-style loop          %s (concurrency %d, %d repaired of %d instances)", r.OOS.Makespan.Round(time.Millisecond), o.oosConcurrency, r.OOS.Repaired, r.OOS.Instances)
			p("  fleetmend vs loop       %.1f× faster", r.Speedup)
		}
		p("  outcomes                %d remediated, %d failed (%d no heartbeat), %d batches", r.Counts.Remediated, r.Counts.Failed, r.Counts.NoHeartbeat, r.Counts.Batches)
		for _, w := range r.Waves {
			name := "canary"
			if w.Step > 0 {
				name = fmt.Sprintf("ramp step %d", w.Step)
			}
			p("  %-23s %d instances, %d healed, %d failed, judged at %s (passed: %v)", name, w.Instances, w.Healed, w.Failed, w.At.Round(time.Millisecond), w.Passed)
		}
		if r.Stopped != "" {
			p("  STOPPED                 %s (the makespan is not a repair of the fleet)", r.Stopped)
		}
		p("  scan describe calls ≥   %d minimum (the run's describe calls, verify polls included: %d)", r.ScanMinimum, r.DescribeUsed)
	}
	p("  calls by action         %v", r.Calls)
	p("  history events          region runs: %d (max %d events), batches: max %d events", r.Runs, r.MaxRegionEvents, r.MaxBatchEvents)
	p("  worker peak RSS         %.1f MB", float64(r.WorkerMaxRSS)/(1<<20))
	p("  safety                  max installs per instance %d, max reboots per instance %d", r.MaxInstalls, r.MaxReboots)
}

// wave is one judged wave of the rollout.
type wave struct {
	Step      int           `json:"step"`
	Instances int           `json:"instances"`
	Healed    int           `json:"healed"`
	Failed    int           `json:"failed"`
	Passed    bool          `json:"passed"`
	At        time.Duration `json:"at"`
}
