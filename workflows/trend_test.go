package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
)

// TestCompareRowsFilesEveryChange: each instance the previous run left
// failing lands in exactly one kind of change, by this run's row or, with
// none, by its state now; new is what is unhealthy now and was not failing.
func TestCompareRowsFilesEveryChange(t *testing.T) {
	prev := guard.PreviousRun{Found: true, WorkflowID: "fleetmend/r/prev", UnhealthyCount: 9, Instances: []guard.PreviousInstance{
		{ID: "a", Outcome: OutcomeFailed, Reason: ReasonNoHeartbeat},
		{ID: "b", Outcome: OutcomeQuarantined},
		{ID: "c", Outcome: OutcomeNotAttempted, Reason: ReasonErrorBudget},
		{ID: "d", Outcome: OutcomeFailed, Reason: ReasonVanished}, // gone then: not failing
		{ID: "e", Outcome: OutcomeRemediated},                     // fixed then
		{ID: "f", Outcome: OutcomeFailed, Reason: ReasonNoHeartbeat},
		{ID: "g", Outcome: OutcomeFailed, Reason: ReasonInstallFailed},
		{ID: "h", Outcome: OutcomeFailed, Reason: ReasonNoHeartbeat},
		{ID: "i", Outcome: OutcomeFailed, Reason: ReasonNoHeartbeat},
	}}
	rows := []Row{
		{InstanceID: "a", Problem: ProblemAgentSilent, Outcome: OutcomeRemediated},
		{InstanceID: "b", Problem: ProblemAgentMissing, Outcome: OutcomeQuarantined},
		{InstanceID: "c", Problem: ProblemAgentMissing, Outcome: OutcomeFailed, Reason: ReasonVanished},
		{InstanceID: "e", Problem: ProblemAgentSilent, Outcome: OutcomeFailed, Reason: ReasonNoHeartbeat},
		{InstanceID: "n", Problem: ProblemAgentMissing, Outcome: OutcomeRemediated},
		{InstanceID: "m", Problem: ProblemNotRunning, Outcome: OutcomeNotRunning},
	}
	c := compareRows(prev, rows, 5)
	require.Equal(t, []string{"f", "g", "h", "i"}, c.check, "the previous failures this run has no row for")
	require.Equal(t, []string{"b"}, c.chronicIDs())
	tr := c.finish(activities.TrendCheckResult{
		Now: []activities.InstanceNow{
			{ID: "f", Exists: true, Running: true, Healthy: true},
			{ID: "g"},
			{ID: "h", Exists: true, Running: true},
			{ID: "i", Exists: true},
		},
		Attempts: []activities.AttemptCount{{ID: "b", Attempts: 3}, {ID: "h", Attempts: 2}},
	}, nil)
	require.Equal(t, 2, tr.New)
	require.Equal(t, []string{"e", "n"}, tr.NewIDs)
	require.Equal(t, 2, tr.Fixed)
	require.Equal(t, []string{"a", "f"}, tr.FixedIDs)
	require.Equal(t, 2, tr.Chronic)
	require.Equal(t, []ChronicInstance{{InstanceID: "b", Attempts: 3, Now: OutcomeQuarantined}, {InstanceID: "h", Attempts: 2, Now: "unhealthy"}}, tr.ChronicInstances)
	require.Equal(t, 2, tr.Gone)
	require.Equal(t, []string{"c", "g"}, tr.GoneIDs)
	require.Equal(t, 1, tr.NotRunning)
	require.Zero(t, tr.Unseen)
	require.Empty(t, tr.Limits, "both reports are complete")
	require.Equal(t, "+2 new −2 fixed 2 chronic 2 gone", tr.Summary())
}

// TestManagedRowsAreNoTrend: a managed instance's row with an offline
// agent, in either run, is neither new nor failing before: it is no ECS
// instance and not in the unhealthy count.
func TestManagedRowsAreNoTrend(t *testing.T) {
	prev := guard.PreviousRun{Found: true, WorkflowID: "p", UnhealthyCount: 1, Instances: []guard.PreviousInstance{
		{ID: "i-a", Outcome: OutcomeFailed, Reason: ReasonNoHeartbeat},
		{ID: "mi-b", Outcome: OutcomeManaged},
	}}
	rows := []Row{
		{InstanceID: "i-a", Problem: ProblemAgentSilent, Outcome: OutcomeFailed, Reason: ReasonNoHeartbeat},
		{InstanceID: "mi-b", Problem: ProblemAgentSilent, Outcome: OutcomeManaged},
		{InstanceID: "mi-c", Problem: ProblemAgentMissing, Outcome: OutcomeManaged},
	}
	c := compareRows(prev, rows, 1)
	require.Empty(t, c.check)
	tr := c.finish(activities.TrendCheckResult{}, nil)
	require.Zero(t, tr.New)
	require.Empty(t, tr.NewIDs)
	require.Equal(t, 1, tr.Chronic)
	require.Empty(t, tr.Limits, "the managed rows are no unhealthy rows the count lacks")
	require.Equal(t, "+0 new −0 fixed 1 chronic", tr.Summary())
}

// TestCompareRowsSaysWhatTruncatedReportsHide: capped rows on either side
// are stated, and a check that failed leaves its instances unseen.
func TestCompareRowsSaysWhatTruncatedReportsHide(t *testing.T) {
	prev := guard.PreviousRun{Found: true, WorkflowID: "p", UnhealthyCount: 50, Instances: []guard.PreviousInstance{
		{ID: "a", Outcome: OutcomeFailed, Reason: ReasonNoHeartbeat},
		{ID: "b", Outcome: OutcomeFailed, Reason: ReasonNoHeartbeat},
	}}
	rows := []Row{{InstanceID: "a", Problem: ProblemAgentSilent, Outcome: OutcomeFailed, Reason: ReasonNoHeartbeat}}
	c := compareRows(prev, rows, 30)
	tr := c.finish(activities.TrendCheckResult{}, context.DeadlineExceeded)
	require.Equal(t, 29, tr.New, "every unhealthy instance not known failing before counts new")
	require.Equal(t, 1, tr.Chronic)
	require.Equal(t, 1, tr.Unseen)
	require.Len(t, tr.Limits, 3)
	require.Contains(t, tr.Limits[0], "kept the rows of 2 of the 50")
	require.Contains(t, tr.Limits[1], "kept the rows of 1 of the 30")
	require.Contains(t, tr.Limits[2], "could not read the state now of 1")
	require.Equal(t, "+29 new −0 fixed 1 chronic (partial)", tr.Summary())
	require.Equal(t, "first run", (&Trend{Note: "first run: no previous"}).Summary())
	require.Equal(t, "no comparison", (&Trend{Note: "no comparison: ..."}).Summary())
}

// TestRunComparesWithThePreviousRun drives a run with the search
// attributes set: it finds the previous run, checks the failures it has no
// row for, reads their attempts, and reports the trend; a run without the
// attributes makes no comparison.
func TestRunComparesWithThePreviousRun(t *testing.T) {
	var ga *guard.Activities
	for _, withSA := range []bool{true, false} {
		var s regionSuite
		s.SetT(t)
		s.SetupTest()
		s.fleet.add(1, ecs.StateRunning, false, false) // new: repaired now
		s.fleet.add(2, ecs.StateRunning, true, true)   // failed before, healthy now
		s.fleet.add(3, ecs.StateRunning, false, false) // failed before, fails again
		s.fleet.byID[modelID(3)].installFails = true
		if withSA {
			require.NoError(t, s.env.SetTypedSearchAttributesOnStart(RunSearchAttributes("cn-hangzhou", KindManual, false)))
		}
		var a *activities.Activities
		var asked []guard.PreviousInput
		var checked []activities.TrendCheckInput
		s.env.OnActivity(ga.PreviousRun, mock.Anything, mock.Anything).Return(func(_ context.Context, in guard.PreviousInput) (guard.PreviousRun, error) {
			asked = append(asked, in)
			return guard.PreviousRun{Found: true, WorkflowID: "fleetmend/cn-hangzhou/prev", Execution: "run-1", FinishedAt: time.Unix(1, 0).UTC(), UnhealthyCount: 2,
				Instances: []guard.PreviousInstance{{ID: modelID(2), Outcome: OutcomeFailed, Reason: ReasonNoHeartbeat}, {ID: modelID(3), Outcome: OutcomeFailed, Reason: ReasonNoHeartbeat}}}, nil
		})
		s.env.OnActivity(a.TrendCheck, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.TrendCheckInput) (activities.TrendCheckResult, error) {
			checked = append(checked, in)
			return activities.TrendCheckResult{Now: []activities.InstanceNow{{ID: modelID(2), Exists: true, Running: true, Healthy: true}},
				Attempts: []activities.AttemptCount{{ID: modelID(3), Attempts: 2}}}, nil
		})
		in := quick("cn-hangzhou")
		in.VerifyDeadline = Duration(20 * time.Second)
		rep := s.run(in)
		if !withSA {
			require.Nil(t, rep.Trend)
			require.Empty(t, asked)
			continue
		}
		require.Len(t, asked, 1)
		require.Contains(t, asked[0].Query, "FleetmendRegion = 'cn-hangzhou'")
		require.Contains(t, asked[0].Query, "FleetmendDryRun = false")
		require.Len(t, checked, 1)
		require.Equal(t, []string{modelID(2)}, checked[0].Check)
		require.Equal(t, []string{modelID(3)}, checked[0].Attempts)
		require.NotNil(t, rep.Trend)
		require.Equal(t, "fleetmend/cn-hangzhou/prev", rep.Trend.Previous)
		require.Equal(t, []string{modelID(1)}, rep.Trend.NewIDs)
		require.Equal(t, []string{modelID(2)}, rep.Trend.FixedIDs)
		require.Equal(t, []ChronicInstance{{InstanceID: modelID(3), Attempts: 2, Now: OutcomeFailed + "/" + ReasonNoHeartbeat}}, rep.Trend.ChronicInstances)
		require.Equal(t, "+1 new −1 fixed 1 chronic", rep.Trend.Summary())
	}
}

func TestAgentVersionsTopAndOthers(t *testing.T) {
	var s activities.AgentScan
	for i := range 12 {
		for range i + 1 {
			s.Add("i", "Linux", "2.2.3."+string(rune('a'+i))) // unparsable: all too old
		}
	}
	s.Add("i-new", "Linux", "2.2.3.300")
	v := agentVersions(s)
	require.Equal(t, 1+78, v.Reported)
	require.Equal(t, 13, v.Distinct)
	require.Len(t, v.Top, maxTopVersions)
	require.Equal(t, AgentVersion{OSType: "Linux", Version: "2.2.3.l", Instances: 12}, v.Top[0], "most instances first")
	require.Equal(t, 1+2+1, v.Others, "the versions past the top ten")
	require.Equal(t, 78, v.TooOldCount)
	require.Nil(t, agentVersions(activities.AgentScan{}))
}
