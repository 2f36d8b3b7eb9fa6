package main

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/workflows"
)

// dryReport is a dry run's report with a plan of two batches.
func dryReport() workflows.Report {
	scanned := time.Date(2026, 11, 22, 10, 15, 0, 0, time.UTC)
	return workflows.Report{WorkflowID: "fleetmend/cn-hangzhou/dryrun-x", Region: "cn-hangzhou", DryRun: true, ScannedAt: scanned,
		FinishedAt: scanned.Add(time.Second),
		Plan: []workflows.PlannedBatch{{Number: 1, InstanceIDs: []string{"i-aaaaaaaa01", "i-aaaaaaaa02", "i-aaaaaaaa03"}},
			{Number: 2, InstanceIDs: []string{"i-aaaaaaaa04"}}},
		Counts: workflows.Counts{Planned: 4},
		PlanSettings: &workflows.PlanSettings{BatchSize: 3, RebootPolicy: workflows.RebootAlways, RebootGrace: workflows.Duration(0),
			VerifyDeadline: workflows.Duration(20 * time.Minute), ExcludeTag: "team=db"}}
}

// applyFlags are apply's flags at their defaults.
func applyFlags(t *testing.T) *runFlags {
	t.Helper()
	// Registering the flags sets their defaults.
	var f runFlags
	f.register(pflag.NewFlagSet("apply", pflag.ContinueOnError), false)
	return &f
}

// TestPlanInputKeepsThePlanAsReviewed: the run applies the plan's
// instances in its order and batches, with the settings it was made with.
func TestPlanInputKeepsThePlanAsReviewed(t *testing.T) {
	f := applyFlags(t)
	in, err := f.planInput(dryReport(), "alice", 2*time.Hour, 5)
	require.NoError(t, err)
	require.Equal(t, "cn-hangzhou", in.Region)
	require.Equal(t, []string{"i-aaaaaaaa01", "i-aaaaaaaa02", "i-aaaaaaaa03", "i-aaaaaaaa04"}, in.InstanceIDs)
	require.Equal(t, 3, in.BatchSize)
	require.Equal(t, workflows.RebootAlways, in.RebootPolicy)
	require.Equal(t, workflows.Duration(0), *in.RebootGrace)
	require.Equal(t, workflows.Duration(20*time.Minute), in.VerifyDeadline)
	require.Equal(t, "team=db", in.ExcludeTag)
	require.Equal(t, "alice", in.StartedBy)
	require.False(t, in.DryRun)
	require.Equal(t, &workflows.PlanInput{WorkflowID: "fleetmend/cn-hangzhou/dryrun-x", PlannedAt: dryReport().ScannedAt, Batches: []int{3, 1},
		MaxAge: workflows.Duration(2 * time.Hour), MaxDriftPercent: 5}, in.Plan)
}

// TestWhatIsNoPlanIsRefusedSayingWhy: a report that is not a complete
// plan, or whose dry run found the short-circuit would stop a real run,
// is refused with a usage error naming what to do.
func TestWhatIsNoPlanIsRefusedSayingWhy(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*workflows.Report)
		want string
	}{
		{"real run", func(r *workflows.Report) { r.DryRun = false }, "is not a dry run"},
		{"old dry run", func(r *workflows.Report) { r.PlanSettings = nil }, "has no plan settings"},
		{"aborted", func(r *workflows.Report) { r.Stopped = "aborted by bob: oops" }, "ended early (aborted by bob: oops): its plan is incomplete"},
		{"omitted", func(r *workflows.Report) { r.PlanOmitted = 7 }, "left 7 instances out of its plan (--max-report-rows)"},
		{"short-circuit", func(r *workflows.Report) { r.PlanSettings.ShortCircuit = "short-circuited: 60% of ..." },
			"a real run would stop before touching anything (short-circuited: 60% of ...); to apply its plan anyway give --override-max-unhealthy"},
		{"bad batch", func(r *workflows.Report) { r.PlanSettings.BatchSize = 2 }, "plan.batches[0] is 3 instances, allowed range is 1..batch_size (2)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := dryReport()
			s := *rep.PlanSettings
			rep.PlanSettings = &s
			tc.mod(&rep)
			_, err := applyFlags(t).planInput(rep, "alice", time.Hour, 10)
			require.Error(t, err)
			var ee *exitError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, exitUsage, ee.code)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	// The override lets a short-circuited plan through, recorded in the input.
	rep := dryReport()
	rep.PlanSettings.ShortCircuit = "short-circuited: 60% of ..."
	f := applyFlags(t)
	f.overrideMaxUnhealthy = "INC-4711: the DNS fix is out"
	in, err := f.planInput(rep, "alice", time.Hour, 10)
	require.NoError(t, err)
	require.Equal(t, "INC-4711: the DNS fix is out", in.OverrideMaxUnhealthy)
}
