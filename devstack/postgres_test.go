package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/pgschema"
	"github.com/fleetmend/fleetmend/internal/pgtest"
	"github.com/fleetmend/fleetmend/internal/stack"
)

// TestPostgresStack: devstack --postgres on a fresh database. The first
// start creates both databases and their schema and remediates a small
// fleet; after a stop, the second start finds the schema as it was, the
// first run is still in Temporal's history, a second dev server on the
// same database is refused, and another remediation runs.
func TestPostgresStack(t *testing.T) {
	e2e.SkipShort(t)
	pg := pgtest.Start(t, pgtest.Options{})
	dsn := pg.URL("fleetmend_dev")
	o, err := parseFlags([]string{"--postgres", dsn, "--port", "0", "--ui-port", "-1", "--sim-port", "0",
		"--region", e2e.Region, "--fleet-size", "80", "--seed", "3", "--vanish", "0"}, io.Discard)
	require.NoError(t, err)
	require.Empty(t, o.stackOpts.DataDir, "no SQLite file next to PostgreSQL")
	opts := o.stackOpts
	opts.Logger = zap.NewNop()
	start := func() *stack.Stack {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		st, err := stack.Start(ctx, opts)
		require.NoError(t, err)
		require.NotContains(t, st.Server.Database(), pg.Password(), "the password is never shown")
		return st
	}

	st := start()
	schema := st.Server.PostgresSchema()
	require.Len(t, schema, 2)
	for _, r := range schema {
		require.True(t, r.Created, "%+v", r)
		require.Empty(t, r.Before, "%+v", r)
	}
	require.Equal(t, []string{"fleetmend_dev", "fleetmend_dev_visibility"}, []string{schema[0].Database, schema[1].Database})
	const first = "fleetmend/" + e2e.Region + "/pg-first"
	rep := e2e.RunToReport(t, st, first, e2e.Input(), nil)
	e2e.CheckAgainstTruth(t, st.Sim, rep)
	require.Positive(t, rep.Counts.Remediated)
	st.Close()

	st = start()
	t.Cleanup(st.Close)
	for i, r := range st.Server.PostgresSchema() {
		require.Equal(t, pgschema.Result{Database: schema[i].Database, Before: schema[i].After, After: schema[i].After}, r,
			"the second start finds the schema the first left")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	desc, err := st.Client.DescribeWorkflowExecution(ctx, first, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus(), "the first run survived the restart")

	_, err = stack.Start(ctx, opts)
	require.ErrorContains(t, err, "in use by another dev server")
	require.NotContains(t, err.Error(), pg.Password())

	rep = e2e.RunToReport(t, st, "fleetmend/"+e2e.Region+"/pg-second", e2e.Input(), nil)
	e2e.CheckAgainstTruth(t, st.Sim, rep)
}

// TestPostgresFlag: a --postgres value that is not a usable PostgreSQL URL,
// or one combined with SQLite's flags, stops devstack with one line naming
// the flag, without the password, before anything starts (the binary's
// exit code: TestDevstackBinary).
func TestPostgresFlag(t *testing.T) {
	e2e.SkipShort(t)
	const secret = "s3cr3t-pw"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--postgres", "host=db user=fm password=" + secret + " dbname=fm"}, "--postgres: no postgres:// scheme"},
		{[]string{"--postgres", "mysql://fm:" + secret + "@db/fm"}, `--postgres: scheme "mysql"`},
		{[]string{"--postgres", "postgres://fm:" + secret + "@/fm"}, "--postgres: postgres://fm:xxxxx@/fm has no host"},
		{[]string{"--postgres", "postgres://db.example/fm"}, "has no user"},
		{[]string{"--postgres", "postgres://fm:" + secret + "@db.example:5432"}, "names no database"},
		{[]string{"--postgres", "postgres://fm:" + secret + "@db.example:99999/fm"}, `port "99999"`},
		{[]string{"--postgres", "postgres://fm:" + secret + "@db.example/fm-dev"}, `database "fm-dev"`},
		{[]string{"--postgres", "postgres://fm:" + secret + "@db.example/" + strings.Repeat("f", 53)}, "longer than 52"},
		{[]string{"--postgres", "postgres://fm:" + secret + "@db.example/fm?sslmode=a&sslmode=b"}, "given once"},
		{[]string{"--postgres", "postgres://fm:" + secret + "@db example/fm"}, "--postgres: not a URL"},
		{[]string{"--postgres", "postgres://fm@db.example/fm", "--ephemeral"}, "--postgres and --ephemeral exclude each other"},
		{[]string{"--postgres", "postgres://fm@db.example/fm", "--data-dir", "x"}, "--postgres and --data-dir exclude each other"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		require.Error(t, err, "%q", tc.args)
		require.Contains(t, err.Error(), tc.want)
		require.NotContains(t, err.Error(), secret)
		require.NotContains(t, err.Error(), "\n")
	}
	_, err := parseFlags([]string{"--postgres", "postgresql://fm:" + secret + "@[::1]/fm?sslmode=verify-full&application_name=devstack"}, io.Discard)
	require.NoError(t, err)
}
