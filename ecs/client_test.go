package ecs_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
)

// simFixture is a simulator on loopback with a manual clock, and an ecs
// Client pointed at it with the default credentials.
type simFixture struct {
	sim    *ecssim.Sim
	srv    *ecssim.Server
	clock  *ecssim.ManualClock
	client *ecs.Client
}

func newSim(t *testing.T, fleet int) *simFixture {
	t.Helper()
	clock := ecssim.NewManualClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	cfg := ecssim.Config{Clock: clock, Seed: 7, Regions: []string{"cn-hangzhou", "cn-beijing"},
		Credentials: map[string]ecssim.Credential{
			ecssim.DefaultAccessKeyID: {Secret: ecssim.DefaultAccessKeySecret},
			"forbidden-key":           {Secret: "forbidden-secret", Forbidden: true},
		}}
	if fleet > 0 {
		cfg.Fleets = []ecssim.FleetSpec{{Region: "cn-hangzhou", Size: fleet, Seed: 11, Missing: 0.2, Silent: 0.1, Stopped: 0.1}}
	}
	sim, err := ecssim.New(cfg)
	require.NoError(t, err)
	srv, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	f := &simFixture{sim: sim, srv: srv, clock: clock}
	f.client = f.newClient(t, ecs.Config{})
	return f
}

// newClient builds a client for the fixture; fields set in base win.
func (f *simFixture) newClient(t *testing.T, base ecs.Config) *ecs.Client {
	t.Helper()
	if base.Region == "" {
		base.Region = "cn-hangzhou"
	}
	if base.Endpoint == "" {
		base.Endpoint = f.srv.Endpoint()
	}
	base.Scheme = "HTTP"
	if base.Credentials == nil {
		base.Credentials = &ecs.StaticCredentials{AccessKeyID: ecssim.DefaultAccessKeyID, AccessKeySecret: ecssim.DefaultAccessKeySecret}
	}
	c, err := ecs.New(base)
	require.NoError(t, err)
	return c
}

func (f *simFixture) calls(action string) int { return f.sim.Truth().Actions[action].Calls }

func TestTypedCallsAgainstSimulator(t *testing.T) {
	f := newSim(t, 0)
	ctx := context.Background()
	healthy, err := f.sim.AddInstance(ecssim.InstanceSpec{AgentInstalled: true, OSType: "Windows", AgentVersion: "2.1.3.189"})
	require.NoError(t, err)
	missing, err := f.sim.AddInstance(ecssim.InstanceSpec{})
	require.NoError(t, err)
	stopped, err := f.sim.AddInstance(ecssim.InstanceSpec{State: "Stopped", AgentInstalled: true})
	require.NoError(t, err)

	page, err := f.client.ListInstanceStatus(ctx, ecs.ListInput{})
	require.NoError(t, err)
	require.Equal(t, 3, page.TotalCount)
	require.Equal(t, 50, page.PageSize)
	states := map[string]ecs.InstanceState{}
	for _, s := range page.Instances {
		states[s.InstanceID] = s.State
	}
	require.Equal(t, ecs.StateRunning, states[healthy])
	require.Equal(t, ecs.StateStopped, states[stopped])
	require.NotEmpty(t, page.RequestID)

	agents, err := f.client.AgentStatus(ctx, []string{healthy, missing}, "")
	require.NoError(t, err)
	require.Len(t, agents, 2)
	byID := map[string]ecs.AgentStatus{agents[0].InstanceID: agents[0], agents[1].InstanceID: agents[1]}
	require.True(t, byID[healthy].Healthy)
	require.Equal(t, "2.1.3.189", byID[healthy].Version)
	require.Equal(t, ecs.OSWindows, byID[healthy].OSType)
	require.True(t, byID[healthy].SupportSessionManager, "Windows 2.1.3.189 is the first version with Session Manager")
	require.Equal(t, f.clock.Now(), byID[healthy].LastHeartbeat)
	require.False(t, byID[missing].Healthy)
	require.True(t, byID[missing].LastHeartbeat.IsZero())

	windows, err := f.client.AgentStatus(ctx, []string{healthy, missing}, ecs.OSWindows)
	require.NoError(t, err)
	require.Len(t, windows, 1, "the OS filter leaves out the Linux instance")

	_, err = f.client.InstallAgent(ctx, []string{missing})
	require.NoError(t, err)
	results, err := f.client.RebootInstances(ctx, []string{missing, stopped}, false)
	require.NoError(t, err)
	require.Len(t, results, 2)
	for _, r := range results {
		if r.InstanceID == missing {
			require.True(t, r.OK, "%+v", r)
			require.Equal(t, ecs.StateRunning, r.Previous)
		} else {
			require.False(t, r.OK)
			require.Equal(t, "IncorrectInstanceStatus", r.Code)
			require.Equal(t, ecs.InstanceLevel, r.Class)
		}
	}
	f.clock.Advance(2 * time.Minute)
	_, err = f.client.RebootInstance(ctx, missing, false)
	require.NoError(t, err)
	truth, ok := f.sim.Instance(missing)
	require.True(t, ok)
	require.Equal(t, 1, truth.Installs)
	require.Equal(t, 2, truth.Reboots)

	all, err := f.client.AgentStatusPage(ctx, ecs.AgentPageInput{MaxResults: 2})
	require.NoError(t, err)
	require.Len(t, all.Agents, 2)
	require.NotEmpty(t, all.NextToken)
	rest, err := f.client.AgentStatusPage(ctx, ecs.AgentPageInput{MaxResults: 2, NextToken: all.NextToken})
	require.NoError(t, err)
	require.Len(t, rest.Agents, 1)
	require.Empty(t, rest.NextToken)
}

func TestLimitsAreCheckedBeforeTheWire(t *testing.T) {
	f := newSim(t, 0)
	ctx := context.Background()
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("i-limit%013d", i)
		}
		return out
	}
	cases := []struct {
		name, action, want string
		call               func() error
	}{
		{"install 21", ecs.ActionInstallCloudAssistant, "InstanceId.N (number of instance IDs) is 21, allowed range is 1..20",
			func() error { _, err := f.client.InstallAgent(ctx, ids(21)); return err }},
		{"install 0", ecs.ActionInstallCloudAssistant, "is 0, allowed range is 1..20",
			func() error { _, err := f.client.InstallAgent(ctx, nil); return err }},
		{"agent status 101", ecs.ActionDescribeCloudAssistantStatus, "is 101, allowed range is 1..100",
			func() error { _, err := f.client.AgentStatus(ctx, ids(101), ""); return err }},
		{"reboot 101", ecs.ActionRebootInstances, "is 101, allowed range is 1..100",
			func() error { _, err := f.client.RebootInstances(ctx, ids(101), false); return err }},
		{"page size 51", ecs.ActionDescribeInstanceStatus, "PageSize is 51, allowed range is 1..50",
			func() error { _, err := f.client.ListInstanceStatus(ctx, ecs.ListInput{PageSize: 51}); return err }},
		{"page number -1", ecs.ActionDescribeInstanceStatus, "PageNumber is -1, allowed range is 1..",
			func() error { _, err := f.client.ListInstanceStatus(ctx, ecs.ListInput{PageNumber: -1}); return err }},
		{"max results 51", ecs.ActionDescribeCloudAssistantStatus, "MaxResults is 51, allowed range is 1..50",
			func() error { _, err := f.client.AgentStatusPage(ctx, ecs.AgentPageInput{MaxResults: 51}); return err }},
		{"os type", ecs.ActionDescribeCloudAssistantStatus, `OSType is "Solaris"; allowed values are Linux, Windows, FreeBSD`,
			func() error { _, err := f.client.AgentStatus(ctx, ids(1), "Solaris"); return err }},
		{"repeated id", ecs.ActionInstallCloudAssistant, "InstanceId.2 repeats",
			func() error { _, err := f.client.InstallAgent(ctx, []string{"i-a1234567", "i-a1234567"}); return err }},
		{"empty id", ecs.ActionRebootInstance, "InstanceId.1 is empty",
			func() error { _, err := f.client.RebootInstance(ctx, "", false); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorContains(t, err, tc.want)
			require.True(t, ecs.IsPermanent(err))
			var e *ecs.Error
			require.True(t, errors.As(err, &e))
			require.Equal(t, tc.action, e.Action)
			require.Zero(t, e.HTTPStatus, "never reached the wire")
		})
	}
	for _, a := range []string{ecs.ActionInstallCloudAssistant, ecs.ActionDescribeCloudAssistantStatus, ecs.ActionRebootInstances,
		ecs.ActionDescribeInstanceStatus, ecs.ActionRebootInstance} {
		require.Zero(t, f.calls(a), "%s reached the simulator", a)
	}
}

func TestServiceErrorsAreClassified(t *testing.T) {
	f := newSim(t, 0)
	ctx := context.Background()
	stopped, err := f.sim.AddInstance(ecssim.InstanceSpec{State: "Stopped"})
	require.NoError(t, err)
	running, err := f.sim.AddInstance(ecssim.InstanceSpec{})
	require.NoError(t, err)

	cases := []struct {
		name   string
		call   func() error
		class  ecs.Class
		code   string
		status int
	}{
		{"vanished instance", func() error {
			_, err := f.client.AgentStatus(ctx, []string{running, "i-gone0000000000000000"}, "")
			return err
		}, ecs.InstanceLevel, "InvalidInstance.NotFound", 404},
		{"install on stopped", func() error { _, err := f.client.InstallAgent(ctx, []string{stopped}); return err },
			ecs.InstanceLevel, "IncorrectInstanceStatus", 403},
		{"reboot unknown", func() error { _, err := f.client.RebootInstance(ctx, "i-gone0000000000000000", false); return err },
			ecs.InstanceLevel, "InvalidInstanceId.NotFound", 404},
		{"unknown region", func() error {
			_, err := f.newClient(t, ecs.Config{Region: "eu-nowhere-1"}).ListInstanceStatus(ctx, ecs.ListInput{})
			return err
		}, ecs.Permanent, "InvalidRegionId.NotFound", 404},
		{"wrong secret", func() error {
			c := f.newClient(t, ecs.Config{Credentials: &ecs.StaticCredentials{AccessKeyID: ecssim.DefaultAccessKeyID, AccessKeySecret: "nope"}})
			_, err := c.ListInstanceStatus(ctx, ecs.ListInput{})
			return err
		}, ecs.Permanent, "SignatureDoesNotMatch", 400},
		{"unknown key", func() error {
			c := f.newClient(t, ecs.Config{Credentials: &ecs.StaticCredentials{AccessKeyID: "who", AccessKeySecret: "nope"}})
			_, err := c.ListInstanceStatus(ctx, ecs.ListInput{})
			return err
		}, ecs.Permanent, "InvalidAccessKeyId.NotFound", 404},
		{"forbidden", func() error {
			c := f.newClient(t, ecs.Config{Credentials: &ecs.StaticCredentials{AccessKeyID: "forbidden-key", AccessKeySecret: "forbidden-secret"}})
			_, err := c.ListInstanceStatus(ctx, ecs.ListInput{})
			return err
		}, ecs.Permanent, "Forbidden.RAM", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.Error(t, err)
			var e *ecs.Error
			require.True(t, errors.As(err, &e), "%T", err)
			require.Equal(t, tc.class, e.Class, "%v", err)
			require.Equal(t, tc.code, e.Code)
			require.Equal(t, tc.status, e.HTTPStatus)
			require.NotEmpty(t, e.RequestID)
			require.Contains(t, err.Error(), tc.code)
		})
	}
}

func TestFaultsReachTheClientAsRetryable(t *testing.T) {
	f := newSim(t, 10)
	ctx := context.Background()
	list := func(c *ecs.Client) error { _, err := c.ListInstanceStatus(ctx, ecs.ListInput{}); return err }

	t.Run("throttling", func(t *testing.T) {
		require.NoError(t, f.sim.SetFaults(ecssim.Faults{ThrottleRPS: 0.001, ThrottleBurst: 1}))
		t.Cleanup(func() { _ = f.sim.SetFaults(ecssim.Faults{}) })
		var throttled error
		for range 5 {
			if err := list(f.client); err != nil {
				throttled = err
				break
			}
		}
		require.Error(t, throttled)
		require.Equal(t, "Throttling.User", ecs.CodeOf(throttled))
		require.True(t, ecs.IsRetryable(throttled))
	})
	t.Run("5xx", func(t *testing.T) {
		require.NoError(t, f.sim.SetFaults(ecssim.Faults{ErrorRate: 1}))
		t.Cleanup(func() { _ = f.sim.SetFaults(ecssim.Faults{}) })
		seen := map[string]bool{}
		for range 4 {
			err := list(f.client)
			require.True(t, ecs.IsRetryable(err), "%v", err)
			seen[ecs.CodeOf(err)] = true
		}
		require.True(t, seen["ServiceUnavailable"])
		require.True(t, seen["InternalError.Dispatch"])
	})
	t.Run("dropped connection", func(t *testing.T) {
		require.NoError(t, f.sim.SetFaults(ecssim.Faults{DropRate: 1}))
		t.Cleanup(func() { _ = f.sim.SetFaults(ecssim.Faults{}) })
		err := list(f.client)
		require.Error(t, err)
		require.True(t, ecs.IsRetryable(err), "%v", err)
		require.Zero(t, func() int { var e *ecs.Error; errors.As(err, &e); return e.HTTPStatus }())
	})
	t.Run("read timeout", func(t *testing.T) {
		require.NoError(t, f.sim.SetFaults(ecssim.Faults{Latency: 2 * time.Second}))
		t.Cleanup(func() { _ = f.sim.SetFaults(ecssim.Faults{}) })
		slow := f.newClient(t, ecs.Config{ReadTimeout: 100 * time.Millisecond})
		err := list(slow)
		require.Error(t, err)
		require.True(t, ecs.IsRetryable(err), "%v", err)
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		err = list(f.newClient(t, ecs.Config{Endpoint: addr}))
		require.Error(t, err)
		require.True(t, ecs.IsRetryable(err), "%v", err)
	})
}

func TestContextCancelReturnsPromptly(t *testing.T) {
	f := newSim(t, 1)
	require.NoError(t, f.sim.SetFaults(ecssim.Faults{Latency: 5 * time.Second}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := f.client.ListInstanceStatus(ctx, ecs.ListInput{}); errc <- err }()
	require.Eventually(t, func() bool { return f.calls(ecs.ActionDescribeInstanceStatus) == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, ecs.Interrupted, ecs.ClassOf(err), "a call cut off on its way may have reached ECS")
		require.True(t, ecs.IsRetryable(err), "whoever retries finds out whether it did")
	case <-time.After(3 * time.Second):
		t.Fatal("cancelled call did not return")
	}
}

// TestCallsWaitingForThePoolAreNotSent: with the pool's only client busy,
// a call whose context ends, or whose start-by time passes, while it waits
// is not sent (the simulator sees no such call), and says so.
func TestCallsWaitingForThePoolAreNotSent(t *testing.T) {
	f := newSim(t, 1)
	c := f.newClient(t, ecs.Config{PoolSize: 1})
	require.NoError(t, f.sim.SetFaults(ecssim.Faults{Latency: 2 * time.Second, Actions: []string{ecs.ActionDescribeInstanceStatus}}))
	busy := make(chan error, 1)
	go func() { _, err := c.ListInstanceStatus(context.Background(), ecs.ListInput{}); busy <- err }()
	require.Eventually(t, func() bool { return f.calls(ecs.ActionDescribeInstanceStatus) == 1 }, 5*time.Second, 5*time.Millisecond)

	_, err := c.RebootInstances(ecs.WithStartBy(context.Background(), time.Now().Add(100*time.Millisecond)), []string{f.sim.InstanceIDs("cn-hangzhou")[0]}, false)
	require.Error(t, err)
	require.Equal(t, ecs.NotSent, ecs.ClassOf(err), "%v", err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.RebootInstances(ctx, []string{f.sim.InstanceIDs("cn-hangzhou")[0]}, false)
	require.Equal(t, ecs.NotSent, ecs.ClassOf(err), "%v", err)
	require.True(t, ecs.IsRetryable(err))
	require.NoError(t, <-busy)
	require.Zero(t, f.calls(ecs.ActionRebootInstances), "neither reboot reached ECS")
}

// TestConcurrentCallersRaceFree runs 16 goroutines through one Client
// against the simulator; under -race any shared SDK client would be reported.
func TestConcurrentCallersRaceFree(t *testing.T) {
	f := newSim(t, 300)
	c := f.newClient(t, ecs.Config{PoolSize: 4})
	ids := f.sim.InstanceIDs("cn-hangzhou")
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16*20)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				switch (g + i) % 3 {
				case 0:
					page, err := c.ListInstanceStatus(ctx, ecs.ListInput{PageNumber: 1 + (g+i)%6, PageSize: 50})
					if err == nil && page.TotalCount != 300 {
						err = fmt.Errorf("TotalCount %d", page.TotalCount)
					}
					errs <- err
				case 1:
					from := (g * 13) % 250
					agents, err := c.AgentStatus(ctx, ids[from:from+50], "")
					if err == nil && len(agents) != 50 {
						err = fmt.Errorf("%d agents", len(agents))
					}
					errs <- err
				default:
					_, err := c.AgentStatusPage(ctx, ecs.AgentPageInput{MaxResults: 50})
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 320, n)
}

func TestConfigValidationNamesTheField(t *testing.T) {
	cases := []struct {
		cfg  ecs.Config
		want string
	}{
		{ecs.Config{}, "Region is required"},
		{ecs.Config{Region: "Hangzhou"}, `Region "Hangzhou" is not a region ID`},
		{ecs.Config{Region: "cn-hangzhou", Scheme: "HTTP"}, "Scheme HTTP is only allowed with an Endpoint override"},
		{ecs.Config{Region: "cn-hangzhou", Scheme: "FTP"}, `Scheme "FTP" is not allowed; use HTTPS or HTTP`},
		{ecs.Config{Region: "cn-hangzhou", Endpoint: "http://127.0.0.1:1"}, "must be host[:port] without scheme"},
		{ecs.Config{Region: "cn-hangzhou", PoolSize: 257}, "PoolSize is 257, allowed range is 1..256"},
		{ecs.Config{Region: "cn-hangzhou", Credentials: &ecs.StaticCredentials{AccessKeyID: "a"}}, "need both AccessKeyID and AccessKeySecret"},
	}
	for _, tc := range cases {
		_, err := ecs.New(tc.cfg)
		require.ErrorContains(t, err, tc.want)
	}
}

func TestCredentialsNeverPrintTheSecret(t *testing.T) {
	cfg := ecs.Config{Region: "cn-hangzhou", Credentials: &ecs.StaticCredentials{AccessKeyID: "AKID", AccessKeySecret: "s3cr3t-value", SecurityToken: "t0ken-value"}}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, cfg) + fmt.Sprintf(format, *cfg.Credentials) + fmt.Sprintf(format, cfg.Credentials)
		require.NotContains(t, out, "s3cr3t-value", format)
		require.NotContains(t, out, "t0ken-value", format)
	}
	require.Contains(t, fmt.Sprintf("%v", *cfg.Credentials), "AKID")
}

func TestClassifyCodeTable(t *testing.T) {
	cases := []struct {
		code   string
		status int
		want   ecs.Class
	}{
		{"Throttling", 400, ecs.Retryable},
		{"Throttling.User", 400, ecs.Retryable},
		{"Throttling.Api", 429, ecs.Retryable},
		{"ServiceUnavailable", 503, ecs.Retryable},
		{"InternalError", 500, ecs.Retryable},
		{"InternalError.Dispatch", 500, ecs.Retryable},
		{"OperationConflict", 409, ecs.Retryable},
		{"SignatureNonceUsed", 400, ecs.Retryable},
		{"", 502, ecs.Retryable},
		{"", 429, ecs.Retryable},
		{"SomethingNew", 503, ecs.Retryable},
		{"InvalidInstance.NotFound", 404, ecs.InstanceLevel},
		{"InvalidInstanceId.NotFound", 404, ecs.InstanceLevel},
		{"IncorrectInstanceStatus", 403, ecs.InstanceLevel},
		{"InvalidParam.PageSize", 400, ecs.Permanent},
		{"InvalidParameter.NextToken", 400, ecs.Permanent},
		{"InstanceIds.ExceedLimit", 403, ecs.Permanent},
		{"Forbidden.RAM", 403, ecs.Permanent},
		{"SignatureDoesNotMatch", 400, ecs.Permanent},
		{"InvalidAccessKeyId.NotFound", 404, ecs.Permanent},
		{"InvalidRegionId.NotFound", 404, ecs.Permanent},
		{"RegionId.ApiNotSupported", 400, ecs.Permanent},
		{"IllegalTimestamp", 400, ecs.Permanent},
		{"", 400, ecs.Permanent},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, ecs.ClassifyCode(tc.code, tc.status), "%s/%d", tc.code, tc.status)
	}
	require.True(t, ecs.IsRetryable(context.DeadlineExceeded))
	require.Equal(t, ecs.Interrupted, ecs.ClassOf(context.Canceled))
	require.True(t, ecs.IsPermanent(errors.New("something odd")))
}
