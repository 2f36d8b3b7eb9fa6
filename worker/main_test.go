package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/config/numflag/numflagtest"
)

// numericFlags is every numeric flag of the worker with values around its
// allowed range. TestFlagTableIsComplete fails when a numeric flag is
// missing here.
func numericFlags() []numflagtest.Flag {
	return []numflagtest.Flag{
		{Name: "ecs-concurrency", Env: "FLEETMEND_ECS_CONCURRENCY", Allowed: "1..256", Below: "-1", Min: "1", Max: "256", Above: "257"},
		{Name: "ecs-connect-timeout", Env: "FLEETMEND_ECS_CONNECT_TIMEOUT", Allowed: "100ms..30s", Below: "99ms", Min: "100ms", Max: "30s", Above: "31s"},
		{Name: "ecs-read-timeout", Env: "FLEETMEND_ECS_READ_TIMEOUT", Allowed: "100ms..30s", Below: "-1s", Min: "100ms", Max: "30s", Above: "1m"},
		{Name: "max-concurrent-activities", Env: "FLEETMEND_MAX_CONCURRENT_ACTIVITIES", Allowed: "1..1000", Below: "-5", Min: "1", Max: "1000", Above: "1001"},
		// 1 panics inside the Temporal SDK.
		{Name: "max-concurrent-workflow-tasks", Env: "FLEETMEND_MAX_CONCURRENT_WORKFLOW_TASKS", Allowed: "2..1000", Below: "1", Min: "2", Max: "1000", Above: "1001"},
		{Name: "activities-per-second", Env: "FLEETMEND_ACTIVITIES_PER_SECOND", Allowed: "0..100000", Below: "-0.5", Min: "0.001", Max: "100000", Above: "100000.5", ZeroOK: true},
		{Name: "task-queue-activities-per-second", Env: "FLEETMEND_TASK_QUEUE_ACTIVITIES_PER_SECOND", Allowed: "0..100000", Below: "-1", Min: "0.5", Max: "100000", Above: "1e6", ZeroOK: true},
		{Name: "stop-timeout", Env: "FLEETMEND_STOP_TIMEOUT", Allowed: "1s..1h", Below: "999ms", Min: "1s", Max: "1h", Above: "61m"},
	}
}

func TestFlagTableIsComplete(t *testing.T) {
	numflagtest.CheckComplete(t, numflagtest.NumericFlags(newFlagSet(&options{})), numericFlags())
}

// TestBinary runs the real worker binary: every numeric flag and its
// variable refuse a value below and above the range, 0 (unless 0 means
// something) and a word, with exit code 2 and one line naming the flag or
// variable and the range, before connecting to anything. --version prints
// the build.
func TestBinary(t *testing.T) {
	bin := numflagtest.Build(t, "worker")
	t.Run("--version", func(t *testing.T) {
		numflagtest.CheckVersion(t, numflagtest.Run(t, bin, numflagtest.CleanEnv(), "--version"), "worker")
	})
	for _, f := range numericFlags() {
		for _, v := range f.Refused() {
			t.Run("--"+f.Name+"="+v, func(t *testing.T) {
				r := numflagtest.Run(t, bin, numflagtest.CleanEnv(), "--"+f.Name, v)
				numflagtest.CheckRefused(t, r, "worker: --"+f.Name+" is ", "allowed range is "+f.Allowed)
			})
			t.Run(f.Env+"="+v, func(t *testing.T) {
				r := numflagtest.Run(t, bin, numflagtest.CleanEnv(f.Env+"="+v))
				numflagtest.CheckRefused(t, r, "worker: "+f.Env+" is ", "allowed range is "+f.Allowed, "(the variable sets --"+f.Name+")")
			})
		}
	}
}

// TestRegionsAreRequired: a worker must say which regions it serves (it
// polls their task queues), and a bad metrics address is refused.
func TestRegionsAreRequired(t *testing.T) {
	t.Setenv("FLEETMEND_REGIONS", "")
	t.Setenv("FLEETMEND_METRICS_ADDR", "")
	_, err := parseFlags(nil)
	if err == nil || !strings.Contains(err.Error(), "--regions is required (FLEETMEND_REGIONS)") {
		t.Fatalf("want the regions required, got %v", err)
	}
	if _, err := parseFlags([]string{"--regions", "cn-hangzhou", "--metrics-addr", "9464"}); err == nil || !strings.Contains(err.Error(), `--metrics-addr "9464" is not host:port`) {
		t.Fatalf("want a bad metrics address refused, got %v", err)
	}
	o, err := parseFlags([]string{"--regions", "cn-hangzhou, cn-shanghai", "--metrics-addr", ":9464"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.worker.Regions) != 2 || o.metricsAddr != ":9464" {
		t.Fatalf("%+v", o)
	}
}

// The ends of every range, and 0 where it means something, are accepted.
func TestFlagRangeEndsAreAccepted(t *testing.T) {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "FLEETMEND_") {
			t.Setenv(strings.SplitN(kv, "=", 2)[0], "") // empty is unset
		}
	}
	t.Setenv("FLEETMEND_REGIONS", "cn-hangzhou") // required; the flags under test are the numeric ones
	for _, f := range numericFlags() {
		for _, v := range f.Accepted() {
			if _, err := parseFlags([]string{"--" + f.Name, v}); err != nil {
				t.Errorf("--%s %s: %v", f.Name, v, err)
			}
			t.Setenv(f.Env, v)
			if _, err := parseFlags(nil); err != nil {
				t.Errorf("%s=%s: %v", f.Env, v, err)
			}
			t.Setenv(f.Env, "")
		}
	}
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	if o.worker.MaxConcurrentWorkflowTasks != 10 || o.worker.StopTimeout != 30*time.Second || o.worker.ECS.PoolSize != 8 {
		t.Fatalf("defaults %+v", o.worker)
	}
	t.Setenv("FLEETMEND_MAX_CONCURRENT_WORKFLOW_TASKS", "12")
	if o, err = parseFlags([]string{"--stop-timeout", "2m"}); err != nil || o.worker.MaxConcurrentWorkflowTasks != 12 || o.worker.StopTimeout != 2*time.Minute {
		t.Fatalf("from the variable and the flag: %+v, %v", o.worker, err)
	}
}

// TestRegionsAll: --regions all serves every region DescribeRegions lists
// when the worker starts (here the simulator's three).
func TestRegionsAll(t *testing.T) {
	t.Setenv("FLEETMEND_METRICS_ADDR", "")
	sim, err := ecssim.New(ecssim.Config{Regions: []string{"cn-hangzhou", "cn-beijing", "ap-southeast-1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", ecssim.DefaultAccessKeyID)
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ecssim.DefaultAccessKeySecret)
	o, err := parseFlags([]string{"--regions", "all", "--ecs-endpoint", srv.Endpoint(), "--ecs-scheme", "HTTP"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.worker.AllRegions || len(o.worker.Regions) != 0 {
		t.Fatalf("--regions all is resolved at start, not parsed as a region: %+v", o.worker)
	}
	if err := o.worker.ResolveRegions(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.worker.Regions, ","); got != "cn-hangzhou,cn-beijing,ap-southeast-1" {
		t.Fatalf("regions %s, want the simulator's", got)
	}
	if sim.Truth().Actions[ecssim.ActionDescribeRegions].Calls != 1 {
		t.Fatalf("want one DescribeRegions, truth: %+v", sim.Truth().Actions[ecssim.ActionDescribeRegions])
	}
}
