package observe_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/metrics"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// TestSecretsNeverLeak runs the worker binary at debug level with STS
// credentials (key, secret, token), repairs a fleet, then restarts it with
// a wrong secret so every call fails with SignatureDoesNotMatch, whose ECS
// message carries the server's string to sign (and in it the token). Then
// it gathers everything fleetmend and Temporal keep or print: the worker's
// logs, the server's logs, every event of every workflow history, the
// reports, the run errors and the /metrics page. The secret and the token
// appear in none of them; the AccessKeyId appears in no log line above debug.
func TestSecretsNeverLeak(t *testing.T) {
	e2e.SkipShort(t)
	const (
		keyID  = "STS.NUleaktestKeyId7Qx"
		secret = "sEcReT9f3a1c7e55d2b0a4NeverPrint"
		token  = "CAIStOkEn8c1e2f3a4b5c6d7eNeverPrint"
		wrong  = "wRoNgSeCrEt5d2b0a49f3a1c7e5Print"
	)
	bin := e2e.BuildWorker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var serverLogs e2e.SyncBuffer
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&serverLogs), zap.InfoLevel))
	st, err := stack.Start(ctx, stack.Options{
		IP: "127.0.0.1", UIPort: -1, Region: e2e.Region, TimeScale: 60, SimSeed: 17, Logger: logger,
		Fleet:       ecssim.FleetSpec{Size: 200, Seed: 61, Missing: 0.1, Silent: 0.05, Stopped: 0.05},
		Credentials: map[string]ecssim.Credential{keyID: {Secret: secret, SecurityToken: token}},
	})
	require.NoError(t, err)
	defer st.Close()

	var workerLogs e2e.SyncBuffer
	addr := e2e.FreeAddr(t)
	start := func(withSecret string) *exec.Cmd {
		cmd := exec.Command(bin, "--temporal-address", st.Server.FrontendHostPort(), "--temporal-namespace", st.Server.Namespace(),
			"--ecs-endpoint", st.SimServer.Endpoint(), "--ecs-scheme", "HTTP", "--log-level", "debug",
			"--regions", e2e.Region, "--metrics-addr", addr)
		cmd.Env = append(os.Environ(),
			"ALIBABA_CLOUD_ACCESS_KEY_ID="+keyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+withSecret, "ALIBABA_CLOUD_SECURITY_TOKEN="+token,
			"TEMPORAL_CONFIG_FILE="+filepath.Join(t.TempDir(), "none.toml"))
		cmd.Stderr = &workerLogs
		cmd.Stdout = &workerLogs
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		require.Eventually(t, func() bool { return metrics.Probe(ctx, addr) == nil }, 30*time.Second, 50*time.Millisecond)
		return cmd
	}

	// A good run, with the right credentials.
	good := start(secret)
	rep := e2e.RunToReport(t, st, "fleetmend/cn-hangzhou/secrets-good", e2e.Input(), nil)
	require.Positive(t, rep.Counts.Remediated, "the STS credentials work: %+v", rep.Counts)
	page := metricsPage(t, ctx, addr)
	e2e.KillWorker(t, good)

	// A run whose every call is refused for its signature.
	start(wrong)
	runErr := e2e.RunToError(t, st, "fleetmend/cn-hangzhou/secrets-bad", e2e.Input())
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(runErr, &appErr), "%v", runErr)
	require.Equal(t, "SignatureDoesNotMatch", appErr.Type(), "the run failed for its signature: %v", runErr)
	var badRep workflows.Report
	require.NoError(t, appErr.Details(&badRep))
	page += metricsPage(t, ctx, addr)

	// Everything that is kept or printed.
	kept := map[string]string{
		"server logs": serverLogs.String(), "metrics": page, "run error": runErr.Error(),
		"report": mustJSON(t, rep), "failed run's report": mustJSON(t, badRep),
		"histories": allHistories(t, ctx, st.Client, st.Server.Namespace()),
	}
	logs := workerLogs.String()
	kept["worker logs"] = logs
	require.Contains(t, kept["histories"], "SignatureDoesNotMatch", "the refused calls are in the history")
	require.Contains(t, logs, `"level":"debug"`, "the worker logged at debug")
	for what, text := range kept {
		for name, s := range map[string]string{"secret": secret, "token": token, "wrong secret": wrong} {
			require.NotContains(t, text, s, "the %s is in the %s", name, what)
		}
	}
	// The key ID names whose key it is; it may help at debug, nowhere else.
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	lines := 0
	for sc.Scan() {
		lines++
		var line struct {
			Level string `json:"level"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Level == "debug" {
			continue
		}
		require.NotContains(t, sc.Text(), keyID, "the AccessKeyId in a log line above debug")
	}
	require.NoError(t, sc.Err())
	for _, what := range []string{"server logs", "histories", "run error", "report", "failed run's report", "metrics"} {
		require.NotContains(t, kept[what], keyID, "the AccessKeyId is in the %s", what)
	}
	t.Logf("searched %d worker log lines, %d bytes of histories, %d bytes of server logs", lines, len(kept["histories"]), len(kept["server logs"]))
}

func metricsPage(t *testing.T, ctx context.Context, addr string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return string(b)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// allHistories is every event of every workflow in the namespace, as JSON.
func allHistories(t *testing.T, ctx context.Context, c client.Client, namespace string) string {
	t.Helper()
	var b strings.Builder
	var next []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, NextPageToken: next})
		require.NoError(t, err)
		for _, ex := range resp.GetExecutions() {
			it := c.GetWorkflowHistory(ctx, ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId(), false, 0)
			for it.HasNext() {
				ev, err := it.Next()
				require.NoError(t, err)
				j, err := protojson.Marshal(ev)
				require.NoError(t, err)
				b.Write(j)
				b.WriteByte('\n')
			}
		}
		next = resp.GetNextPageToken()
		if len(next) == 0 {
			return b.String()
		}
	}
}
