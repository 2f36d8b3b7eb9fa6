package observe_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// hostileFiles writes the instance-ID files a careless or hostile
// operator might pass.
func hostileFiles(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	var big, many bytes.Buffer
	for i := 0; big.Len() < 10<<20; i++ {
		fmt.Fprintf(&big, "i-bp%018d\n", i)
	}
	for i := range 100000 {
		fmt.Fprintf(&many, "i-bp%018d\n", i)
	}
	bin := make([]byte, 4096)
	_, err := rand.Read(bin)
	require.NoError(t, err)
	return map[string]string{
		"empty":      write("empty.txt", nil),
		"comments":   write("comments.txt", []byte("# nothing but comments\n\n   \n")),
		"10MB":       write("big.txt", big.Bytes()),
		"binary":     write("binary.bin", bin),
		"100k":       write("many.txt", many.Bytes()),
		"duplicates": write("dups.txt", []byte("i-bp1aaaaaaaaaaaaaaaaa\ni-bp1bbbbbbbbbbbbbbbbb\ni-bp1aaaaaaaaaaaaaaaaa\n")),
		"crlf-bad":   write("crlf.txt", []byte("i-bp1aaaaaaaaaaaaaaaaa\r\nweb-01\r\n")),
		"crlf-good":  write("crlf-good.txt", []byte("i-bp1aaaaaaaaaaaaaaaaa\r\ni-bp1bbbbbbbbbbbbbbbbb\r\n")),
		"missing":    filepath.Join(dir, "does-not-exist.txt"),
	}
}

// TestHostileInputIsRefusedWithoutAnyECSCall feeds fleetmend bad input
// through every door: the starter's flags and files, the worker's flags
// and environment, the workflow input sent with the SDK (bypassing the
// CLI), schedule specs, and raw requests to the simulator. Each is refused
// with an error naming the field and what is allowed (exit code 2 for a
// CLI), and none of the CLI, worker and SDK cases makes a single ECS call.
func TestHostileInputIsRefusedWithoutAnyECSCall(t *testing.T) {
	e2e.SkipShort(t)
	starter := e2e.BuildBinary(t, "github.com/fleetmend/fleetmend/starter")
	worker := e2e.BuildWorker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, TimeScale: 60, SimSeed: 15,
		Fleet: ecssim.FleetSpec{Size: 50, Seed: 61, Missing: 0.2}, Worker: true, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer st.Close()
	files := hostileFiles(t)
	env := append(os.Environ(), "TEMPORAL_CONFIG_FILE="+filepath.Join(t.TempDir(), "none.toml"), "TEMPORAL_ADDRESS=", "FLEETMEND_REGIONS=")
	tried := 0

	// The CLIs: exit code 2 and one line naming the flag (or file) and
	// what is allowed. The starter is pointed at the real server, so input
	// that slipped through would start a run and make calls.
	cli := []struct {
		bin  string
		args []string
		want string
	}{
		{starter, []string{"run"}, "--region is required"},
		{starter, []string{"run", "--region", "Hangzhou"}, `region "Hangzhou" is not an ECS region ID`},
		{starter, []string{"run", "--region", "cn-hangzhou", "--batch-size", "21"}, "--batch-size is 21, allowed range is 1..20"},
		{starter, []string{"run", "--region", "cn-hangzhou", "--batch-size", "0"}, "--batch-size is 0, allowed range is 1..20"},
		{starter, []string{"run", "--region", "cn-hangzhou", "--batch-size", "lots"}, "--batch-size"},
		{starter, []string{"run", "--region", "cn-hangzhou", "--blast-radius", "0"}, `blast_radius is "0", allowed is a count 1..100000 or a share`},
		{starter, []string{"run", "--region", "cn-hangzhou", "--blast-radius", "150%"}, `blast_radius is "150%"`},
		{starter, []string{"run", "--region", "cn-hangzhou", "--error-budget", "-1"}, `error_budget is "-1", allowed is a count 0..100000`},
		{starter, []string{"run", "--region", "cn-hangzhou", "--max-unhealthy-percent", "101"}, "--max-unhealthy-percent is 101, allowed range is 1..100"},
		{starter, []string{"run", "--region", "cn-hangzhou", "--reboot-policy", "sometimes"}, `reboot_policy is "sometimes", allowed values are if-needed, always, never`},
		{starter, []string{"run", "--region", "cn-hangzhou", "--verify-deadline", "1s"}, "--verify-deadline is 1s, allowed range is 10s..2h"},
		{starter, []string{"run", "--region", "cn-hangzhou", "--quarantine-window", "1m"}, "--quarantine-window is 1m, allowed range is 1h..2160h"},
		{starter, []string{"run", "--region", "cn-hangzhou", "--exclude-tag", "=x"}, `exclude_tag "=x" has an empty key`},
		{starter, []string{"run", "--region", "cn-hangzhou", "--exclude-ids", "web-01"}, `exclude_instance_ids[0] "web-01" is not an ECS instance ID`},
		{starter, []string{"run", "--region", "cn-hangzhou", "--instance-ids", "web-01"}, `instance_ids[0] "web-01" is not an ECS instance ID`},
		{starter, []string{"run", "--region", "cn-hangzhou", "--instance-ids", "i-bp1aaaaaaaaaaaaaaaaa,i-bp1aaaaaaaaaaaaaaaaa"}, `instance_ids[1] "i-bp1aaaaaaaaaaaaaaaaa" repeats instance_ids[0]`},
		{starter, []string{"run", "--region", "cn-hangzhou", "--instance-ids", "a", "--instance-ids-file", files["empty"]}, "use --instance-ids or --instance-ids-file, not both"},
		{starter, []string{"run", "--region", "cn-hangzhou", "--instance-ids-file", files["empty"]}, "has no instance IDs"},
		{starter, []string{"run", "--region", "cn-hangzhou", "--instance-ids-file", files["comments"]}, "has no instance IDs"},
		{starter, []string{"run", "--region", "cn-hangzhou", "--instance-ids-file", files["10MB"]}, "allowed at most 5000"},
		{starter, []string{"run", "--region", "cn-hangzhou", "--instance-ids-file", files["binary"]}, "--instance-ids"},
		{starter, []string{"run", "--region", "cn-hangzhou", "--instance-ids-file", files["100k"]}, "instance_ids has 100000 entries, allowed at most 5000"},
		{starter, []string{"run", "--region", "cn-hangzhou", "--instance-ids-file", files["duplicates"]}, `instance_ids[2] "i-bp1aaaaaaaaaaaaaaaaa" repeats instance_ids[0]`},
		{starter, []string{"run", "--region", "cn-hangzhou", "--instance-ids-file", files["crlf-bad"]}, `instance_ids[1] "web-01" is not an ECS instance ID`},
		{starter, []string{"run", "--region", "cn-hangzhou", "--instance-ids-file", files["missing"]}, "--instance-ids-file: open"},
		{starter, []string{"schedule", "create", "--region", "cn-hangzhou", "--every", "30s"}, "--every is 30s, allowed range is 1m..744h"},
		{starter, []string{"schedule", "create", "--region", "cn-hangzhou", "--cron", "* *"}, `--cron "* *" has 2 fields`},
		{starter, []string{"schedule", "create", "--region", "cn-hangzhou", "--every", "1h", "--time-zone", "Mars/Olympus"}, `--time-zone "Mars/Olympus" is not an IANA time zone`},
		{starter, []string{"schedule", "create", "--region", "cn-hangzhou", "--every", "1h", "--jitter", "25h"}, "--jitter is 25h, allowed range is 0s..24h"},
		{starter, []string{"schedule", "create", "--region", "cn-hangzhou"}, "give exactly one of --cron or --every"},
		{starter, []string{"schedule", "create", "--region", "cn-hangzhou", "--every", "1h", "--name", "a b"}, `--name "a b": allowed are letters, digits and '-'`},
		{starter, []string{"set", "fleetmend/cn-hangzhou/x", "--blast-radius", "0", "--reason", "r"}, `--blast-radius is "0"`},
		{starter, []string{"pause", "fleetmend/cn-hangzhou/x"}, "--reason is required"},
		{starter, []string{"quarantine", "clear", "--region", "cn-hangzhou", "--reason", "r"}, "give --instance (repeatable) or --all"},
		{starter, []string{"audit"}, "--instance is required"},
		{starter, []string{"list", "--limit", "0"}, "--limit is 0, allowed range is 1..1000"},
		{worker, []string{"--max-concurrent-workflow-tasks", "1", "--regions", e2e.Region}, "--max-concurrent-workflow-tasks is 1, allowed range is 2..1000"},
		{worker, []string{"--ecs-concurrency", "0", "--regions", e2e.Region}, "--ecs-concurrency is 0, allowed range is 1..256"},
		{worker, []string{}, "--regions is required"},
		{worker, []string{"--regions", e2e.Region, "--metrics-addr", "9464"}, `--metrics-addr "9464" is not host:port`},
		{worker, []string{"--regions", e2e.Region, "--ecs-scheme", "HTTP"}, "Scheme HTTP is only allowed with an Endpoint override"},
		{worker, []string{"--regions", e2e.Region, "--ecs-endpoint", "http://127.0.0.1:8300"}, "must be host[:port] without scheme"},
		{worker, []string{"--regions", "Hangzhou"}, `Region "Hangzhou" is not a region ID`},
		{worker, []string{"--regions", e2e.Region, "--log-level", "loud"}, "loud"},
	}
	workerEnv := []struct {
		kv   string
		want string
	}{
		{"FLEETMEND_STOP_TIMEOUT=0s", "FLEETMEND_STOP_TIMEOUT is 0s, allowed range is 1s..1h"},
		{"FLEETMEND_ECS_READ_TIMEOUT=1h", "FLEETMEND_ECS_READ_TIMEOUT is 1h, allowed range is 100ms..30s"},
		{"FLEETMEND_MAX_CONCURRENT_ACTIVITIES=many", "FLEETMEND_MAX_CONCURRENT_ACTIVITIES"},
	}
	for _, c := range cli {
		args := c.args
		if c.bin == starter {
			args = append([]string{"--temporal-address", st.Server.FrontendHostPort(), "--temporal-namespace", st.Server.Namespace()}, args...)
		} else {
			args = append([]string{"--temporal-address", st.Server.FrontendHostPort()}, args...)
		}
		cmd := exec.Command(c.bin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "%s %v: want exit 2, got %v; %s", filepath.Base(c.bin), c.args, err, stderr.String())
		require.Equal(t, 2, exit.ExitCode(), "%s %v: %s", filepath.Base(c.bin), c.args, stderr.String())
		require.Contains(t, stderr.String(), c.want, "%s %v", filepath.Base(c.bin), c.args)
		require.LessOrEqual(t, strings.Count(strings.TrimSpace(stderr.String()), "\n"), 0, "one line: %s", stderr.String())
		tried++
	}
	for _, c := range workerEnv {
		cmd := exec.Command(worker, "--regions", e2e.Region)
		cmd.Env = append(env, c.kv)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "%s: %v", c.kv, err)
		require.Equal(t, 2, exit.ExitCode(), c.kv)
		require.Contains(t, stderr.String(), c.want, c.kv)
		tried++
	}

	// The workflow input straight through the SDK, bypassing the CLI: the
	// run fails at once, non-retryably, naming the field and the range.
	grace := workflows.Duration(time.Hour)
	rows := -1
	inputs := []struct {
		mod  func(*workflows.RegionInput)
		want string
	}{
		{func(in *workflows.RegionInput) { in.Region = "" }, "region is required"},
		{func(in *workflows.RegionInput) { in.BatchSize = 21 }, "batch_size is 21, allowed range is 1..20"},
		{func(in *workflows.RegionInput) { in.RebootGrace = &grace }, "reboot_grace is 1h0m0s, allowed range is 0s..10m0s"},
		{func(in *workflows.RegionInput) { in.MaxReportRows = &rows }, "max_report_rows is -1, allowed range is 0..5000"},
		{func(in *workflows.RegionInput) { in.BlastRadius = "all" }, `blast_radius is "all"`},
		{func(in *workflows.RegionInput) { in.ErrorBudget = "10%%" }, `error_budget is "10%%"`},
		{func(in *workflows.RegionInput) { in.InstanceIDs = []string{"i-bp1aaaaaaaaaaaaaaaaa", ""} }, `instance_ids[1] "" is not an ECS instance ID`},
		{func(in *workflows.RegionInput) { in.Kind = "cron" }, `kind is "cron", allowed values are manual, scheduled`},
		{func(in *workflows.RegionInput) { in.EventsPerRun = 1 }, "events_per_run is 1, allowed range is 50..10000"},
		{func(in *workflows.RegionInput) { in.OverrideMaxUnhealthy = strings.Repeat("x", 501) }, "override_max_unhealthy is 501 characters, allowed at most 500"},
	}
	for i, c := range inputs {
		in := workflows.RegionInput{Region: e2e.Region}
		c.mod(&in)
		run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "hostile-" + strconv.Itoa(i),
			TaskQueue: config.RegionTaskQueue(config.DefaultTaskQueue, e2e.Region)}, workflows.RemediateRegion, in)
		require.NoError(t, err)
		err = run.Get(ctx, nil)
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(err, &appErr), "%d: %v", i, err)
		require.Equal(t, workflows.ErrInvalidInput, appErr.Type())
		require.True(t, appErr.NonRetryable())
		require.Contains(t, appErr.Message(), c.want)
		tried++
	}
	truth := st.Sim.Truth()
	for name, a := range truth.Actions {
		require.Zero(t, a.Calls, "%s was called: bad input reached ECS", name)
	}

	// Raw requests to the simulator, as a broken or hostile client would
	// send them: each refused with the documented code, nothing changed.
	id := st.Sim.InstanceIDs(e2e.Region)[0]
	signed := func(params url.Values, secret string) url.Values {
		v := url.Values{"Format": {"JSON"}, "Version": {ecssim.APIVersion}, "AccessKeyId": {ecssim.DefaultAccessKeyID},
			"SignatureMethod": {"HMAC-SHA1"}, "SignatureVersion": {"1.0"}, "SignatureType": {""}, "RegionId": {e2e.Region},
			"Timestamp": {time.Now().UTC().Format("2006-01-02T15:04:05Z")}, "SignatureNonce": {strconv.FormatInt(time.Now().UnixNano(), 16)}}
		for k, vs := range params {
			v[k] = vs
		}
		v.Set("Signature", ecssim.Sign(ecssim.StringToSign(http.MethodPost, v), secret))
		return v
	}
	post := func(v url.Values, body io.Reader) (int, string) {
		req, err := http.NewRequest(http.MethodPost, st.SimServer.URL()+"/?"+v.Encode(), body)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var e struct{ Code string }
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &e)
		return resp.StatusCode, e.Code
	}
	replay := signed(url.Values{"Action": {"RebootInstances"}, "InstanceId.1": {id}, "DryRun": {"true"}}, ecssim.DefaultAccessKeySecret)
	post(replay, nil)
	stale := signed(url.Values{"Action": {"DescribeInstanceStatus"}}, ecssim.DefaultAccessKeySecret)
	stale.Set("Timestamp", "2020-01-01T00:00:00Z")
	stale.Set("Signature", ecssim.Sign(ecssim.StringToSign(http.MethodPost, stale), ecssim.DefaultAccessKeySecret))
	tooMany := url.Values{"Action": {"DescribeCloudAssistantStatus"}}
	for i := 1; i <= 101; i++ {
		tooMany.Set(fmt.Sprintf("InstanceId.%d", i), fmt.Sprintf("i-bp%018d", i))
	}
	unsigned := url.Values{"Action": {"InstallCloudAssistant"}, "Version": {ecssim.APIVersion}, "InstanceId.1": {id}}
	requests := []struct {
		name   string
		v      url.Values
		body   io.Reader
		status int
		code   string
	}{
		{"bad signature", signed(url.Values{"Action": {"InstallCloudAssistant"}, "InstanceId.1": {id}}, "wrong-secret"), nil, 400, "SignatureDoesNotMatch"},
		{"replayed nonce", replay, nil, 400, "SignatureNonceUsed"},
		{"stale timestamp", stale, nil, 400, "IllegalTimestamp"},
		{"unsigned", unsigned, nil, 400, "MissingParameter"},
		{"101 IDs", signed(tooMany, ecssim.DefaultAccessKeySecret), nil, 403, "InstanceIds.ExceedLimit"},
		{"page size 51", signed(url.Values{"Action": {"DescribeInstanceStatus"}, "PageSize": {"51"}}, ecssim.DefaultAccessKeySecret), nil, 400, "InvalidParam.PageSize"},
		{"page size junk", signed(url.Values{"Action": {"DescribeInstanceStatus"}, "PageSize": {"1e9999"}}, ecssim.DefaultAccessKeySecret), nil, 400, "InvalidParam.PageSize"},
		{"malformed InstanceIds", signed(url.Values{"Action": {"DescribeInstances"}, "InstanceIds": {`["i-1",`}}, ecssim.DefaultAccessKeySecret), nil, 400, "InvalidInstanceIds.Malformed"},
		{"unknown action", signed(url.Values{"Action": {"DeleteEverything"}}, ecssim.DefaultAccessKeySecret), nil, 404, "InvalidAction.NotFound"},
		{"no action", url.Values{"Version": {ecssim.APIVersion}}, nil, 400, "MissingParameter"},
		{"oversized body", signed(url.Values{"Action": {"DescribeInstanceStatus"}}, ecssim.DefaultAccessKeySecret), strings.NewReader("x=" + strings.Repeat("a", 2<<20)), 400, "InvalidParameter"},
		{"unknown key", func() url.Values {
			v := signed(url.Values{"Action": {"DescribeInstanceStatus"}}, "whatever")
			v.Set("AccessKeyId", "LTAI-nobody")
			return v
		}(), nil, 404, "InvalidAccessKeyId.NotFound"},
	}
	for _, r := range requests {
		status, code := post(r.v, r.body)
		require.Equal(t, r.status, status, r.name)
		require.Equal(t, r.code, code, r.name)
		tried++
	}
	for _, i := range st.Sim.Truth().Instances {
		require.Zero(t, i.Installs+i.Reboots, "%s was touched by a refused request", i.ID)
	}
	// CRLF is not hostile when the IDs are good: a dry run on them starts.
	cmd := exec.Command(starter, "--temporal-address", st.Server.FrontendHostPort(), "--temporal-namespace", st.Server.Namespace(),
		"run", "--region", e2e.Region, "--dry-run", "--id", "fleetmend/cn-hangzhou/crlf", "--instance-ids-file", files["crlf-good"], "--json")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.GreaterOrEqual(t, tried, 40)
	t.Logf("%d bad inputs refused; ECS calls made because of them: 0", tried)
}
