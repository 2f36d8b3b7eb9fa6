package devserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	taskQueue   = "devserver-test"
	regionAttr  = "FleetmendRegion"
	phaseAttr   = "FleetmendPhase"
	attemptAttr = "FleetmendAttempt"
	signalName  = "go"
	// waitTimeout bounds every require.Eventually; generous because -race
	// on two cores slows the server down a lot.
	waitTimeout = 60 * time.Second
	pollEvery   = 100 * time.Millisecond
)

func testSearchAttributes() map[string]enums.IndexedValueType {
	return map[string]enums.IndexedValueType{
		regionAttr:  enums.INDEXED_VALUE_TYPE_KEYWORD,
		phaseAttr:   enums.INDEXED_VALUE_TYPE_KEYWORD,
		attemptAttr: enums.INDEXED_VALUE_TYPE_INT,
	}
}

// testLogger sends warnings and errors to stderr. A healthy run logs none
// (Stop silences the server's shutdown chatter), so anything printed is worth
// reading. (zaptest is avoided on purpose: server goroutines may log after a
// test ends, and t.Log then panics.)
func testLogger() *zap.Logger {
	return zap.New(zapcore.NewCore(
		zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
		zapcore.Lock(os.Stderr),
		zapcore.WarnLevel,
	))
}

func greetWorkflow(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		Summary:             "greet " + name,
	})
	var out string
	err := workflow.ExecuteActivity(ctx, greetActivity, name).Get(ctx, &out)
	return out, err
}

func greetActivity(_ context.Context, name string) (string, error) {
	return "hello " + name, nil
}

// waitForSignalWorkflow marks itself as waiting through a search attribute,
// then blocks until signalled.
func waitForSignalWorkflow(ctx workflow.Context) (string, error) {
	phase := temporal.NewSearchAttributeKeyKeyword(phaseAttr)
	if err := workflow.UpsertTypedSearchAttributes(ctx, phase.ValueSet("waiting")); err != nil {
		return "", fmt.Errorf("upsert: %w", err)
	}
	var msg string
	workflow.GetSignalChannel(ctx, signalName).Receive(ctx, &msg)
	return "got " + msg, nil
}

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	began := time.Now()
	s, err := Start(context.Background(), opts)
	require.NoError(t, err)
	t.Logf("server started in %v (frontend %s, ui %q)", time.Since(began), s.FrontendHostPort(), s.UIURL())
	t.Cleanup(func() {
		began := time.Now()
		assert.NoError(t, s.Stop())
		t.Logf("server stopped in %v", time.Since(began))
	})
	return s
}

// connect returns a client and a running worker for the test workflows.
// Both are stopped at test end (before the server: cleanups run LIFO).
func connect(t *testing.T, s *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.FrontendHostPort(),
		Namespace: s.Namespace(),
		Logger:    newSDKLogger(testLogger()),
	})
	require.NoError(t, err)
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(greetWorkflow)
	w.RegisterWorkflow(waitForSignalWorkflow)
	w.RegisterActivity(greetActivity)
	require.NoError(t, w.Start())
	t.Cleanup(func() {
		w.Stop()
		c.Close()
	})
	return c
}

func listWorkflowIDs(ctx context.Context, c client.Client, query string) ([]string, error) {
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range resp.GetExecutions() {
		ids = append(ids, e.GetExecution().GetWorkflowId())
	}
	return ids, nil
}

func TestEphemeralServer(t *testing.T) {
	s := startServer(t, Options{
		SearchAttributes: testSearchAttributes(),
		// Also proves overrides reach the server (checked below). Default
		// 1000; not lower, or the SDK's sticky queue names (host:pid:uuid)
		// and the server's internal task queues hit the limit too.
		DynamicConfig: map[string]any{"limit.maxIDLength": 200},
	})
	require.Equal(t, "default", s.Namespace())
	require.True(t, strings.HasPrefix(s.FrontendHostPort(), "127.0.0.1:"), s.FrontendHostPort())
	require.True(t, strings.HasPrefix(s.UIURL(), "http://127.0.0.1:"), s.UIURL())
	c := connect(t, s)
	ctx := context.Background()

	t.Run("workflow runs on a real worker", func(t *testing.T) {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:            "greet",
			TaskQueue:     taskQueue,
			StaticSummary: "a greeting",
		}, greetWorkflow, "fleet")
		require.NoError(t, err)
		var out string
		require.NoError(t, run.Get(ctx, &out))
		require.Equal(t, "hello fleet", out)

		// User metadata (shown by the UI) is stored without any flag.
		desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		require.NoError(t, err)
		var summary string
		require.NoError(t, converter.GetDefaultDataConverter().FromPayload(
			desc.GetExecutionConfig().GetUserMetadata().GetSummary(), &summary))
		require.Equal(t, "a greeting", summary)
	})

	t.Run("dynamic config override applies", func(t *testing.T) {
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:        strings.Repeat("x", 201),
			TaskQueue: taskQueue,
		}, greetWorkflow, "too long")
		require.ErrorContains(t, err, "exceeds maximum allowed length (201/200)")
	})

	t.Run("search attributes are registered and queryable", func(t *testing.T) {
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{
			Namespace: s.Namespace(),
		})
		require.NoError(t, err)
		for name, typ := range testSearchAttributes() {
			require.Equal(t, typ, resp.GetCustomAttributes()[name], name)
		}

		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:        "waiter-ephemeral",
			TaskQueue: taskQueue,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				temporal.NewSearchAttributeKeyKeyword(regionAttr).ValueSet("cn-hangzhou"),
				temporal.NewSearchAttributeKeyInt64(attemptAttr).ValueSet(1),
			),
		}, waitForSignalWorkflow)
		require.NoError(t, err)

		// Visibility is updated asynchronously: poll.
		for _, query := range []string{
			regionAttr + " = 'cn-hangzhou' AND ExecutionStatus = 'Running'",
			phaseAttr + " = 'waiting' AND " + attemptAttr + " = 1", // set by the workflow's upsert
		} {
			require.Eventually(t, func() bool {
				ids, err := listWorkflowIDs(ctx, c, query)
				return err == nil && len(ids) == 1 && ids[0] == run.GetID()
			}, waitTimeout, pollEvery, "query %q", query)
		}
		ids, err := listWorkflowIDs(ctx, c, regionAttr+" = 'us-east-1'")
		require.NoError(t, err)
		require.Empty(t, ids)

		t.Run("UI serves the app and the workflows API", func(t *testing.T) {
			checkUI(t, s, regionAttr+" = 'cn-hangzhou' AND ExecutionStatus = 'Running'", run.GetID())
		})

		require.NoError(t, c.SignalWorkflow(ctx, run.GetID(), "", signalName, "now"))
		var out string
		require.NoError(t, run.Get(ctx, &out))
		require.Equal(t, "got now", out)
	})

	t.Run("schedule runs its action", func(t *testing.T) {
		h, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
			ID: "greet-schedule",
			// A spec that will not fire during the test: the run comes from
			// the manual trigger below.
			Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: 24 * time.Hour}}},
			Action: &client.ScheduleWorkflowAction{
				ID:        "scheduled-greet",
				Workflow:  greetWorkflow,
				Args:      []any{"schedule"},
				TaskQueue: taskQueue,
			},
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = h.Delete(context.Background()) })
		require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{
			Overlap: enums.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
		}))

		var started *client.ScheduleWorkflowExecution
		require.Eventually(t, func() bool {
			desc, err := h.Describe(ctx)
			if err != nil || len(desc.Info.RecentActions) == 0 {
				return false
			}
			started = desc.Info.RecentActions[0].StartWorkflowResult
			return started != nil
		}, waitTimeout, pollEvery)
		var out string
		require.NoError(t, c.GetWorkflow(ctx, started.WorkflowID, started.FirstExecutionRunID).Get(ctx, &out))
		require.Equal(t, "hello schedule", out)
	})
}

// checkUI checks the UI's index page, its settings, and that its workflows
// API (the one the browser app uses) lists wantID for query.
func checkUI(t *testing.T, s *Server, query, wantID string) {
	t.Helper()
	httpc := &http.Client{Timeout: 30 * time.Second}
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := httpc.Get(s.UIURL() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", path, body)
		return resp, body
	}

	resp, body := get("/")
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, strings.ToLower(string(body)), "<!doctype html")
	require.Contains(t, string(body), "/_app/")
	// The CSRF cookie must be usable over plain HTTP, or the app's write
	// actions fail.
	var csrf *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "_csrf" {
			csrf = ck
		}
	}
	require.NotNil(t, csrf, "UI set no CSRF cookie")
	require.False(t, csrf.Secure, "CSRF cookie must not be Secure on http")

	_, body = get("/api/v1/settings")
	var settings map[string]any
	require.NoError(t, json.Unmarshal(body, &settings), "%s", body)
	require.Equal(t, s.Namespace(), settings["DefaultNamespace"], "%s", body)

	path := "/api/v1/namespaces/" + url.PathEscape(s.Namespace()) + "/workflows?query=" + url.QueryEscape(query)
	var list struct {
		Executions []struct {
			Execution struct {
				WorkflowID string `json:"workflowId"`
			} `json:"execution"`
		} `json:"executions"`
	}
	_, body = get(path)
	require.NoError(t, json.Unmarshal(body, &list), "%s", body)
	require.Len(t, list.Executions, 1, "%s", body)
	require.Equal(t, wantID, list.Executions[0].Execution.WorkflowID)
}

func TestRestartResumesWaitingWorkflow(t *testing.T) {
	dbFile := filepath.Join(t.TempDir(), "temporal.db")
	ctx := context.Background()
	const workflowID = "waiter-persistent"

	// First life: start a workflow that blocks on a signal.
	began := time.Now()
	first, err := Start(ctx, Options{
		DBFile:           dbFile,
		UIPort:           -1,
		Namespace:        "fleetmend",
		SearchAttributes: map[string]enums.IndexedValueType{regionAttr: enums.INDEXED_VALUE_TYPE_KEYWORD, phaseAttr: enums.INDEXED_VALUE_TYPE_KEYWORD},
		Logger:           testLogger(),
	})
	require.NoError(t, err)
	t.Logf("file-DB server started in %v", time.Since(began))
	require.Empty(t, first.UIURL())
	c1, err := client.Dial(client.Options{HostPort: first.FrontendHostPort(), Namespace: first.Namespace(), Logger: newSDKLogger(testLogger())})
	require.NoError(t, err)
	w1 := worker.New(c1, taskQueue, worker.Options{})
	w1.RegisterWorkflow(waitForSignalWorkflow)
	require.NoError(t, w1.Start())
	run, err := c1.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    workflowID,
		TaskQueue:             taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword(regionAttr).ValueSet("cn-hangzhou")),
	}, waitForSignalWorkflow)
	require.NoError(t, err)
	// Wait until the worker has run the first workflow task, so the
	// restart really resumes a workflow blocked inside its code.
	require.Eventually(t, func() bool {
		it := c1.GetWorkflowHistory(ctx, workflowID, run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return false
			}
			if ev.GetEventType() == enums.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
				return true
			}
		}
		return false
	}, waitTimeout, pollEvery)
	// While the first server runs, a second one must not open the file.
	_, err = Start(ctx, Options{DBFile: dbFile, UIPort: -1, Logger: testLogger()})
	require.ErrorContains(t, err, "in use by another dev server")

	w1.Stop()
	c1.Close()
	began = time.Now()
	require.NoError(t, first.Stop())
	t.Logf("file-DB server stopped in %v", time.Since(began))
	require.NoError(t, first.Stop(), "Stop must be idempotent")

	// Second life on the same file, with one more search attribute than
	// before: it must be added to the existing namespace.
	sa := testSearchAttributes()
	second := startServer(t, Options{DBFile: dbFile, UIPort: -1, Namespace: "fleetmend", SearchAttributes: sa})
	c2 := connect(t, second)
	resp, err := c2.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: second.Namespace()})
	require.NoError(t, err)
	for name, typ := range sa {
		require.Equal(t, typ, resp.GetCustomAttributes()[name], name)
	}

	// The workflow from the first life is still there, waiting.
	require.Eventually(t, func() bool {
		ids, err := listWorkflowIDs(ctx, c2, regionAttr+" = 'cn-hangzhou' AND ExecutionStatus = 'Running'")
		return err == nil && len(ids) == 1 && ids[0] == workflowID
	}, waitTimeout, pollEvery)
	require.NoError(t, c2.SignalWorkflow(ctx, workflowID, "", signalName, "after restart"))
	var out string
	require.NoError(t, c2.GetWorkflow(ctx, workflowID, run.GetRunID()).Get(ctx, &out))
	require.Equal(t, "got after restart", out)
}

func TestStartRejectsBadOptions(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := closed.Addr().String()
	require.NoError(t, closed.Close())

	for name, opts := range map[string]Options{
		"bad IP":             {IP: "not-an-ip"},
		"frontend port busy": {FrontendPort: busyPort},
		"UI port busy":       {UIPort: busyPort},
		"bad UI port":        {UIPort: -2},
		"DB dir missing":     {DBFile: filepath.Join(t.TempDir(), "missing", "x.db")},
		"file and postgres":  {DBFile: filepath.Join(t.TempDir(), "x.db"), Postgres: "postgres://u@127.0.0.1/db"},
		"not postgres":       {Postgres: "sqlite:///x.db"},
		// Nothing listens there: the schema setup fails, nothing hangs.
		"postgres down": {Postgres: "postgres://u:p@" + refused + "/db?sslmode=disable"},
		// SQLite visibility has 3 preallocated Int columns per namespace.
		"too many ints": {SearchAttributes: map[string]enums.IndexedValueType{
			"I1": enums.INDEXED_VALUE_TYPE_INT, "I2": enums.INDEXED_VALUE_TYPE_INT,
			"I3": enums.INDEXED_VALUE_TYPE_INT, "I4": enums.INDEXED_VALUE_TYPE_INT,
		}},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Start(context.Background(), opts)
			if err == nil {
				_ = s.Stop()
			}
			require.Error(t, err)
			t.Log(err)
		})
	}
}

func TestMissingSearchAttributes(t *testing.T) {
	have := &operatorservice.ListSearchAttributesResponse{
		CustomAttributes: map[string]enums.IndexedValueType{regionAttr: enums.INDEXED_VALUE_TYPE_KEYWORD},
		SystemAttributes: map[string]enums.IndexedValueType{"WorkflowType": enums.INDEXED_VALUE_TYPE_KEYWORD},
	}
	missing, err := missingSearchAttributes(testSearchAttributes(), have)
	require.NoError(t, err)
	require.Equal(t, map[string]enums.IndexedValueType{
		phaseAttr:   enums.INDEXED_VALUE_TYPE_KEYWORD,
		attemptAttr: enums.INDEXED_VALUE_TYPE_INT,
	}, missing)

	_, err = missingSearchAttributes(map[string]enums.IndexedValueType{regionAttr: enums.INDEXED_VALUE_TYPE_INT}, have)
	require.ErrorContains(t, err, "cannot change")
	_, err = missingSearchAttributes(map[string]enums.IndexedValueType{"WorkflowType": enums.INDEXED_VALUE_TYPE_KEYWORD}, have)
	require.ErrorContains(t, err, "system attribute")
	_, err = missingSearchAttributes(map[string]enums.IndexedValueType{"X": enums.INDEXED_VALUE_TYPE_UNSPECIFIED}, have)
	require.ErrorContains(t, err, "no type")
}

func TestRefreshInterval(t *testing.T) {
	require.Equal(t, namespaceCacheRefresh, refreshInterval(nil))
	require.Equal(t, 5*time.Second, refreshInterval(map[string]any{"system.namespaceCacheRefreshInterval": "5s"}))
	require.Equal(t, 3*time.Second, refreshInterval(map[string]any{"System.NamespaceCacheRefreshInterval": 3 * time.Second}))
}
