package workflows

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
)

// planStart is the test environment's clock at the start of a pinned run.
var planStart = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// pinned is an apply of a plan made an hour before the run: the given
// instances (model numbers) in batches of the given sizes.
func pinned(batches []int, nums ...int) RegionInput {
	in := quick("cn-hangzhou")
	for _, n := range nums {
		in.InstanceIDs = append(in.InstanceIDs, modelID(n))
	}
	in.StartedBy = "alice"
	in.Plan = &PlanInput{RunID: "fleetmend/cn-hangzhou/dryrun-1", PlannedAt: planStart.Add(-time.Hour), Batches: batches,
		MaxDriftPercent: DefaultMaxDrift}
	return in
}

func (s *regionSuite) runPinned(in RegionInput) Report {
	s.env.SetStartTime(planStart)
	return s.run(in)
}

// TestPinnedRunActsOnThePlannedInstancesInThePlannedBatches: 30 unhealthy
// instances, a plan of 12 of them in batches of 5 and 7 listed out of scan
// order. Only those 12 are installed on, in exactly those batches; the
// report names the plan and who applied it.
func (s *regionSuite) TestPinnedRunActsOnThePlannedInstancesInThePlannedBatches() {
	for i := range 30 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := pinned([]int{5, 7}, 20, 3, 9, 1, 14, 2, 8, 27, 11, 5, 6, 0)
	rep := s.runPinned(in)
	s.ElementsMatch(in.InstanceIDs, s.fleet.installedIDs())
	s.ElementsMatch([][]string{sorted(in.InstanceIDs[:5]), sorted(in.InstanceIDs[5:])}, installCalls(s.fleet))
	s.Equal(12, rep.Counts.Remediated)
	s.Empty(rep.Stopped)
	a := rep.AppliedPlan
	s.Require().NotNil(a)
	s.Equal("fleetmend/cn-hangzhou/dryrun-1", a.PlanRunID)
	s.Equal("alice", a.AppliedBy)
	s.Equal(12, a.Instances)
	s.Equal(2, a.Batches)
	s.Zero(a.Drift.Drifted)
	s.Equal(time.Hour, a.Age.D().Round(time.Minute))
	s.Equal(Duration(DefaultMaxPlanAge), a.MaxAge)
}

// TestPlanDriftAboveTheLimitTouchesNothing: of 10 planned instances, 2
// healed since the plan (20%, above 10%): the run refuses the plan after
// its scan, before any install; the others are not attempted.
func (s *regionSuite) TestPlanDriftAboveTheLimitTouchesNothing() {
	for i := range 10 {
		s.fleet.add(i, ecs.StateRunning, i < 2, false)
	}
	rep := s.runPinned(pinned([]int{10}, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9))
	s.Empty(s.fleet.installs)
	s.Empty(s.fleet.reboots)
	s.Empty(s.fleet.checks)
	s.Contains(rep.Stopped, "refused: 2 of the 10 instances of the plan of fleetmend/cn-hangzhou/dryrun-1 (20%) changed since it was made, more than max_drift 10% (2 healthy now)")
	s.Equal(8, rep.Counts.NotAttempted)
	for _, r := range rep.Rows {
		s.Equal(OutcomeNotAttempted, r.Outcome, "%+v", r)
		s.Equal(ReasonPlanDrifted, r.Reason)
	}
	a := rep.AppliedPlan
	s.Require().NotNil(a)
	s.Equal(PlanDrift{Drifted: 2, Healthy: 2}, a.Drift)
	s.Equal(rep.Stopped, a.Refused)
	s.Len(s.fleet.releases, 1, "the region is given back")
}

// TestPlanDriftCountsEveryWayAnInstanceChanged: healthy, stopped, gone and
// tagged instances of the plan are drift; at exactly the limit the plan is
// applied to the rest, and the drift is a warning.
func (s *regionSuite) TestPlanDriftCountsEveryWayAnInstanceChanged() {
	for i := range 40 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	s.fleet.byID[modelID(0)].healthy = true
	s.fleet.byID[modelID(1)].state = ecs.StateStopped
	s.fleet.byID[modelID(2)].gone = true
	s.fleet.byID[modelID(3)].tags = []ecs.Tag{{Key: DefaultExcludeTag}}
	nums := make([]int, 40)
	for i := range nums {
		nums[i] = i
	}
	in := pinned([]int{20, 20}, nums...)
	rep := s.runPinned(in)
	s.Empty(rep.Stopped)
	s.Equal(PlanDrift{Drifted: 4, Healthy: 1, NotRunning: 1, Gone: 1, Excluded: 1}, rep.AppliedPlan.Drift)
	s.Len(s.fleet.installedIDs(), 36)
	for _, id := range in.InstanceIDs[:4] {
		s.NotContains(s.fleet.installedIDs(), id)
	}
	s.ElementsMatch([][]string{sorted(in.InstanceIDs[4:20]), sorted(in.InstanceIDs[20:])}, installCalls(s.fleet),
		"the planned batches, without their drifted instances")
	s.True(slices.ContainsFunc(rep.Warnings, func(w string) bool {
		return strings.Contains(w, "4 of the 40 planned instances changed since the plan (1 healthy now, 1 not Running, 1 gone, 1 tagged with the opt-out tag)")
	}), "%q", rep.Warnings)

	// One more changed instance is over the limit.
	s.SetupTest()
	for i := range 40 {
		s.fleet.add(i, ecs.StateRunning, i < 5, false)
	}
	rep = s.runPinned(pinned([]int{20, 20}, nums...))
	s.Contains(rep.Stopped, "refused: 5 of the 40 instances")
	s.Empty(s.fleet.installs)
}

// TestStalePlanIsRefusedBeforeTheRegionIsAskedFor: a plan older than
// max_age (and one from the future) is refused at once: no scan, no lock.
func (s *regionSuite) TestStalePlanIsRefusedBeforeTheRegionIsAskedFor() {
	for i := range 5 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := pinned([]int{5}, 0, 1, 2, 3, 4)
	in.Plan.PlannedAt = planStart.Add(-25 * time.Hour)
	rep := s.runPinned(in)
	s.Contains(rep.Stopped, "refused: the plan of fleetmend/cn-hangzhou/dryrun-1 is 25h0m0s old, older than max_plan_age 24h0m0s")
	s.Empty(s.fleet.segments)
	s.Empty(s.fleet.acquires)
	s.Empty(s.fleet.installs)
	s.Equal(rep.Stopped, rep.AppliedPlan.Refused)

	s.SetupTest()
	for i := range 5 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in.Plan.PlannedAt = planStart.Add(time.Hour)
	in.Plan.MaxAge = Duration(time.Minute)
	rep = s.runPinned(in)
	s.Contains(rep.Stopped, "in the future: its time is not believed")
	s.Empty(s.fleet.segments)
}

// TestPlanAgeIsCheckedAgainRightBeforeActing: a plan young enough when the
// run starts but too old once the run has waited for its region is
// refused before the first install.
func (s *regionSuite) TestPlanAgeIsCheckedAgainRightBeforeActing() {
	for i := range 5 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := pinned([]int{5}, 0, 1, 2, 3, 4)
	in.Plan.MaxAge = Duration(time.Hour + time.Minute)
	// The region's closed holder keeps a batch open for 70 s of the test
	// clock: the run waits (10 s between asks) before it may scan.
	asks := 0
	s.fleet.grant = func(in activities.AcquireInput) activities.AcquireResult {
		asks++
		if asks <= 7 {
			return activities.AcquireResult{Holder: activities.Holder{RunID: "old"}, WaitFor: []string{"old/batch-3"}}
		}
		return activities.AcquireResult{Granted: true, Holder: activities.Holder{RunID: in.Request.RunID}}
	}
	rep := s.runPinned(in)
	s.Contains(rep.Stopped, "refused: the plan of fleetmend/cn-hangzhou/dryrun-1 is 1h1m10s old")
	s.Empty(s.fleet.installs)
	s.NotEmpty(s.fleet.segments)
}

func TestPlanInputIsValidatedNamingTheField(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*RegionInput)
		want string
	}{
		{"dry run", func(in *RegionInput) { in.DryRun = true }, "plan: a dry run applies no plan"},
		{"no run id", func(in *RegionInput) { in.Plan.RunID = "" }, "plan.run_id is 0 characters, allowed 1..1000"},
		{"no time", func(in *RegionInput) { in.Plan.PlannedAt = time.Time{} }, "plan.planned_at is required"},
		{"age short", func(in *RegionInput) { in.Plan.MaxAge = Duration(time.Second) }, "plan.max_age is 1s, allowed range is 1m0s..720h0m0s"},
		{"age long", func(in *RegionInput) { in.Plan.MaxAge = Duration(721 * time.Hour) }, "plan.max_age is 721h0m0s, allowed range is 1m0s..720h0m0s"},
		{"drift", func(in *RegionInput) { in.Plan.MaxDriftPercent = 101 }, "plan.max_drift_percent is 101, allowed range is 0..100"},
		{"no ids", func(in *RegionInput) { in.InstanceIDs = nil; in.Plan.Batches = nil }, "plan: instance_ids must list the plan's instances"},
		{"exclude ids", func(in *RegionInput) { in.ExcludeInstanceIDs = []string{modelID(9)} }, "exclude_instance_ids: not with a plan"},
		{"zone", func(in *RegionInput) { in.ZoneID = "cn-hangzhou-h" }, "zone_id and os_type: not with a plan"},
		{"big batch", func(in *RegionInput) { in.BatchSize = 2 }, "plan.batches[0] is 3 instances, allowed range is 1..batch_size (2)"},
		{"sum", func(in *RegionInput) { in.Plan.Batches = []int{1, 1} }, "plan.batches add up to 2 instances, but instance_ids has 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ts testsuite.WorkflowTestSuite
			ts.SetLogger(quietLogger())
			env := ts.NewTestWorkflowEnvironment()
			m := newFleetModel()
			m.wire(env)
			in := pinned([]int{3}, 0, 1, 2)
			tc.mod(&in)
			env.ExecuteWorkflow(RemediateRegion, in)
			require.True(t, env.IsWorkflowCompleted())
			err := env.GetWorkflowError()
			require.Error(t, err)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "want an application error, got %T", err)
			require.Equal(t, ErrInvalidInput, appErr.Type())
			require.Contains(t, appErr.Error(), tc.want)
			require.Empty(t, m.segments)
			require.Empty(t, m.acquires)
		})
	}
}

// TestDryRunReportCarriesItsPlanSettings: what an apply of the plan uses.
func (s *regionSuite) TestDryRunReportCarriesItsPlanSettings() {
	for i := range 10 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := quick("cn-hangzhou")
	in.DryRun = true
	in.MaxUnhealthyPercent = 50
	in.InstanceIDs = nil
	in.ExcludeTag = "team=db"
	in.BatchSize = 4
	rep := s.run(in)
	p := rep.PlanSettings
	s.Require().NotNil(p)
	s.Equal(PlanSettings{BatchSize: 4, RebootPolicy: RebootIfNeeded, RebootGrace: Duration(5 * time.Second), VerifyDeadline: Duration(time.Minute),
		ExcludeTag: "team=db", ShortCircuit: p.ShortCircuit, MaxUnhealthyPercent: 50}, *p)
	s.Contains(p.ShortCircuit, "short-circuited: 100% of the Running instances")
	s.Len(rep.Plan, 3)
	s.Nil(rep.AppliedPlan)
}

func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// installCalls are the instances of each install call, each sorted (the
// batches run side by side, so the calls' order is not the plan's).
func installCalls(m *fleetModel) [][]string {
	var out [][]string
	for _, c := range m.installs {
		out = append(out, sorted(c))
	}
	return out
}
