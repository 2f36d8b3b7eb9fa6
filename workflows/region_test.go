package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/logging"
)

type regionSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env   *testsuite.TestWorkflowEnvironment
	fleet *fleetModel
}

func TestRegion(t *testing.T) { suite.Run(t, new(regionSuite)) }

func (s *regionSuite) SetupTest() {
	s.SetLogger(quietLogger())
	s.env = s.NewTestWorkflowEnvironment()
	s.fleet = newFleetModel()
	s.fleet.wire(s.env)
}

func (s *regionSuite) run(in RegionInput) Report {
	s.env.ExecuteWorkflow(RemediateRegion, in)
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var rep Report
	s.Require().NoError(s.env.GetWorkflowResult(&rep))
	return rep
}

// quick is a run with short waits. The test fleets are mostly unhealthy,
// so the fleet-wide short-circuit is off unless a test is about it, and so
// is the rollout (its tests turn it on).
func quick(region string) RegionInput {
	grace := Duration(5 * time.Second)
	noCanary := 0
	return RegionInput{Region: region, RebootGrace: &grace, VerifyDeadline: Duration(time.Minute), VerifyPollInterval: Duration(time.Second),
		MaxUnhealthyPercent: 100, Canary: &noCanary}
}

func (s *regionSuite) rowsOf(rep Report) map[string]Row {
	rows := map[string]Row{}
	for _, r := range rep.Rows {
		_, dup := rows[r.InstanceID]
		s.Require().False(dup, "%s has two rows", r.InstanceID)
		rows[r.InstanceID] = r
	}
	return rows
}

func (s *regionSuite) TestAllHealthyFleetMakesNoMutatingCall() {
	for i := range 120 {
		s.fleet.add(i, ecs.StateRunning, true, true)
	}
	rep := s.run(quick("cn-hangzhou"))
	s.Empty(s.fleet.installs, "no InstallCloudAssistant on a healthy fleet")
	s.Empty(s.fleet.reboots, "no reboot on a healthy fleet")
	s.Empty(s.fleet.checks, "no batch started")
	s.Equal(120, rep.Counts.Scanned)
	s.Equal(120, rep.Counts.Healthy)
	s.Equal(0, rep.Counts.Batches)
	s.Empty(rep.Rows)
	s.Len(s.fleet.segments, 3, "one segment per OS chain")
	s.Equal([]string{"default-test-workflow-id"}, s.fleet.releases, "the region is given back")
}

func (s *regionSuite) TestTwentyOneUnhealthyMakeBatchesOfTwentyAndOne() {
	for i := range 21 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	for i := 21; i < 60; i++ {
		s.fleet.add(i, ecs.StateRunning, true, true)
	}
	rep := s.run(quick("cn-hangzhou"))
	sizes := []int{}
	for _, c := range s.fleet.installs {
		sizes = append(sizes, len(c))
	}
	slices.Sort(sizes)
	s.Equal([]int{1, 20}, sizes)
	s.Equal(2, rep.Counts.Batches)
	s.Equal(21, rep.Counts.Remediated)
	s.Equal(21, rep.Counts.AgentMissing)
	s.Len(rep.Rows, 21)
	batches := map[int]int{}
	for _, r := range rep.Rows {
		s.Equal(OutcomeRemediated, r.Outcome, r.InstanceID)
		s.Equal("installed, rebooted, verified", r.Action)
		batches[r.Batch]++
	}
	s.Equal(map[int]int{1: 20, 2: 1}, batches)
}

func (s *regionSuite) TestStoppedInstancesAreSkippedAndReported() {
	s.fleet.add(1, ecs.StateStopped, false, false)
	s.fleet.add(2, ecs.StateRunning, false, false)
	s.fleet.add(3, ecs.StateStopping, false, true)
	rep := s.run(quick("cn-hangzhou"))
	s.Equal([]string{modelID(2)}, s.fleet.installedIDs())
	s.Equal([]string{modelID(2)}, s.fleet.rebootedIDs())
	s.Equal(2, rep.Counts.NotRunning)
	s.Equal(1, rep.Counts.Remediated)
	for _, r := range rep.Rows {
		if r.InstanceID != modelID(2) {
			s.Equal(OutcomeNotRunning, r.Outcome)
			s.Equal(0, r.Batch, "decided at scan time, never batched")
		}
	}
}

func (s *regionSuite) TestInstanceRecoveringBetweenScanAndBatchIsLeftAlone() {
	for i := range 3 {
		s.fleet.add(i, ecs.StateRunning, false, true)
	}
	s.fleet.beforeChk = func([]string) {
		s.fleet.mu.Lock()
		s.fleet.byID[modelID(1)].healthy = true
		s.fleet.mu.Unlock()
	}
	rep := s.run(quick("cn-hangzhou"))
	s.NotContains(s.fleet.installedIDs(), modelID(1))
	s.NotContains(s.fleet.rebootedIDs(), modelID(1))
	s.Equal(1, rep.Counts.AlreadyHealthy)
	s.Equal(2, rep.Counts.Remediated)
	s.Equal(3, rep.Counts.AgentSilent)
}

func (s *regionSuite) TestVanishedInstanceDoesNotFailItsBatch() {
	for i := range 5 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	s.fleet.beforeChk = func([]string) {
		s.fleet.mu.Lock()
		s.fleet.byID[modelID(3)].gone = true
		s.fleet.mu.Unlock()
	}
	rep := s.run(quick("cn-hangzhou"))
	s.Equal(4, rep.Counts.Remediated)
	s.Equal(1, rep.Counts.Vanished)
	s.Equal(1, rep.Counts.Failed)
	s.Equal(ReasonVanished, s.rowsOf(rep)[modelID(3)].Reason)
}

func (s *regionSuite) TestNeverHealingInstanceFailsAtItsDeadlineWithWhatWasDone() {
	s.fleet.add(1, ecs.StateRunning, false, false).installFails = true
	s.fleet.add(2, ecs.StateRunning, false, false)
	rep := s.run(quick("cn-hangzhou"))
	s.Equal(1, rep.Counts.NoHeartbeat)
	s.Equal(1, rep.Counts.Remediated)
	r := s.rowsOf(rep)[modelID(1)]
	s.Equal(ReasonNoHeartbeat, r.Reason)
	s.Contains(r.Detail, "never reported")
	s.Equal("installed, rebooted", r.Action)
	s.Require().Len(s.fleet.records, 1, "the failure goes to the region's ledger")
	s.Equal(modelID(1), s.fleet.records[0].Failed[0].InstanceID)
	s.Equal(ReasonNoHeartbeat, s.fleet.records[0].Failed[0].Reason)
}

// TestVerifyPollsShareCallsAcrossBatches: the run verifies the instances
// of all its batches in one poll, not one poll per batch.
func (s *regionSuite) TestVerifyPollsShareCallsAcrossBatches() {
	for i := range 60 {
		s.fleet.add(i, ecs.StateRunning, false, false).installFails = i < 3
	}
	rep := s.run(quick("cn-hangzhou"))
	s.Equal(3, rep.Counts.NoHeartbeat)
	s.Equal(57, rep.Counts.Remediated)
	widest := 0
	for _, p := range s.fleet.polls {
		widest = max(widest, len(p))
	}
	s.Greater(widest, 20, "one poll covered more than one batch's instances")
}

func (s *regionSuite) TestDryRunPlansBatchesAndCallsNothingMutating() {
	for i := range 45 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	s.fleet.add(99, ecs.StateStopped, false, false)
	in := quick("cn-hangzhou")
	in.DryRun = true
	rep := s.run(in)
	s.Empty(s.fleet.installs)
	s.Empty(s.fleet.reboots)
	s.Empty(s.fleet.checks)
	s.Empty(s.fleet.acquires, "a dry run does not take the region")
	s.True(rep.DryRun)
	s.Require().Len(rep.Plan, 3)
	s.Equal([]int{20, 20, 5}, []int{len(rep.Plan[0].InstanceIDs), len(rep.Plan[1].InstanceIDs), len(rep.Plan[2].InstanceIDs)})
	s.Equal(45, rep.Counts.Planned)
	s.Equal(1, rep.Counts.NotRunning)
	for _, r := range rep.Rows {
		if r.Outcome == OutcomePlanned {
			s.Contains(r.Action, "install agent")
			s.NotZero(r.Batch)
		}
	}
}

func (s *regionSuite) TestExplicitInstanceListReportsUnknownIDs() {
	for i := range 70 {
		s.fleet.add(i, ecs.StateRunning, i%2 == 0, i%2 == 0)
	}
	in := quick("cn-hangzhou")
	in.InstanceIDs = []string{modelID(1), modelID(2), modelID(3), "i-doesnotexist01"}
	rep := s.run(in)
	s.ElementsMatch([]string{modelID(1), modelID(3)}, s.fleet.installedIDs())
	s.Equal(1, rep.Counts.NotFound)
	s.Equal(3, rep.Counts.Scanned)
	s.Equal(4, rep.TotalInstances)
	s.Len(s.fleet.segments, 1)
	s.Equal(in.InstanceIDs, s.fleet.segments[0].InstanceIDs)
}

// TestInstancesDeletedBehindTheCursorLoseNoOne: 6,000 instances, two
// segments; after the first, 100 instances it already read are deleted.
// The token cursor is not shifted by that, so every instance is read once.
func (s *regionSuite) TestInstancesDeletedBehindTheCursorLoseNoOne() {
	for i := range 6000 {
		s.fleet.add(i, ecs.StateRunning, i%50 != 0, i%50 != 0)
	}
	s.fleet.afterSegment = func(in activities.SegmentInput) {
		if in.OSType != ecs.OSLinux || in.NextToken != "" {
			return // only after the first segment of the chain that lists them
		}
		s.fleet.mu.Lock()
		defer s.fleet.mu.Unlock()
		for i := range 100 {
			s.fleet.byID[modelID(i)].gone = true
		}
	}
	rep := s.run(quick("cn-hangzhou"))
	s.Equal(6000, rep.Counts.Scanned, "each instance counted once")
	installed := s.fleet.installedIDs()
	seen := map[string]int{}
	for _, id := range installed {
		seen[id]++
	}
	for i := 100; i < 6000; i += 50 {
		s.Equal(1, seen[modelID(i)], "instance %d", i)
	}
	s.Equal(120, rep.Counts.AgentMissing)
}

func (s *regionSuite) TestContinueAsNewCarriesQueueAndVerifyingAndFinishes() {
	for i := range 130 {
		s.fleet.add(i, ecs.StateRunning, i%3 == 0, i%3 == 0)
	}
	in := quick("cn-hangzhou")
	in.BlastRadius = "20"
	// Temporal suggests continue-as-new in the middle of the repairs.
	s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, 8*time.Second)
	s.env.ExecuteWorkflow(RemediateRegion, in)
	s.Require().True(s.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(s.env.GetWorkflowError(), &can), "expected continue-as-new, got %v", s.env.GetWorkflowError())
	var next RegionInput
	s.Require().NoError(testConverterDecode(can, &next))
	s.Require().NotNil(next.State)
	s.Nil(next.Carry)
	s.True(next.State.Scan.Done)
	s.True(next.State.Locked, "the region stays with the run across continue-as-new")
	s.Equal(130, next.State.Counts.Scanned)
	s.Equal(1, next.State.Runs)
	s.NotEmpty(next.State.Queue, "the queue is handed on")
	s.Empty(s.fleet.releases, "not released at continue-as-new")

	// Run legs until the run completes; every instance is repaired once.
	legs := 1
	for {
		legs++
		env := s.NewTestWorkflowEnvironment()
		s.fleet.wire(env)
		env.ExecuteWorkflow(RemediateRegion, next)
		err := env.GetWorkflowError()
		if errors.As(err, &can) {
			s.Require().NoError(testConverterDecode(can, &next))
			s.Require().Less(legs, 20)
			continue
		}
		s.Require().NoError(err)
		var rep Report
		s.Require().NoError(env.GetWorkflowResult(&rep))
		s.Equal(130, rep.Counts.Scanned)
		s.Equal(86, rep.Counts.Remediated)
		s.Equal(44, rep.Counts.Healthy)
		s.Equal(legs, rep.Runs)
		s.Len(rep.Rows, 86)
		break
	}
	s.Len(s.fleet.installedIDs(), 86, "each unhealthy instance installed once")
	s.Len(s.fleet.releases, 1)
}

func (s *regionSuite) TestProgressQueryDuringRun() {
	for i := range 60 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := quick("cn-hangzhou")
	in.BlastRadius = "20"
	var seen []Progress
	// Query when the grace timer of a batch is pending: the run is mid-way.
	s.env.SetOnTimerScheduledListener(func(string, time.Duration) {
		v, err := s.env.QueryWorkflow(QueryProgress)
		s.Require().NoError(err)
		var p Progress
		s.Require().NoError(v.Get(&p))
		seen = append(seen, p)
	})
	rep := s.run(in)
	s.Require().NotEmpty(seen)
	first := seen[0]
	s.Equal("repairing", first.Phase)
	s.Equal(60, first.Scanned)
	s.Equal(60, first.Total)
	s.Equal(1, first.BatchesInFlight)
	s.Equal(40, first.Queued)
	s.Equal(20, first.InRepair)
	s.Equal(20, first.BlastRadius)
	s.Equal(60, rep.Counts.Remediated)
}

func (s *regionSuite) TestCancelFinishesRunningBatchesAndReportsTheRest() {
	for i := range 60 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := quick("cn-hangzhou")
	in.BlastRadius = "20"
	cancelled := false
	s.env.SetOnTimerScheduledListener(func(string, time.Duration) {
		if !cancelled {
			cancelled = true
			s.env.CancelWorkflow()
		}
	})
	s.env.ExecuteWorkflow(RemediateRegion, in)
	s.Require().True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	var canceled *temporal.CanceledError
	s.Require().True(errors.As(err, &canceled), "expected cancellation, got %v", err)
	var rep Report
	s.Require().NoError(canceled.Details(&rep))
	s.True(rep.Cancelled)
	// Batch 1 was in its grace period when cancelled: it still finished,
	// and its reboots were verified.
	s.Equal(20, rep.Counts.Remediated)
	s.Len(s.fleet.rebootedIDs(), 20)
	s.Equal(40, rep.Counts.NotAttempted)
	s.Equal(60, rep.Counts.Scanned)
	s.Equal(1, rep.Counts.Batches)
	s.Len(s.fleet.releases, 1, "a cancelled run gives the region back")
}

// TestRegionBusyIsSkippedAtOnce: another run holds the region: this one
// touches nothing and says which run it yields to.
func (s *regionSuite) TestRegionBusyIsSkippedAtOnce() {
	s.fleet.add(1, ecs.StateRunning, false, false)
	s.fleet.holder = "fleetmend/cn-hangzhou/manual-earlier"
	rep := s.run(quick("cn-hangzhou"))
	s.True(rep.Skipped)
	s.Equal("fleetmend/cn-hangzhou/manual-earlier", rep.SkippedFor)
	s.Equal("skipped: region cn-hangzhou busy with fleetmend/cn-hangzhou/manual-earlier", rep.Stopped)
	s.Empty(s.fleet.segments, "not even scanned")
	s.Empty(s.fleet.installs)
	s.Empty(s.fleet.releases, "it never held the region")
}

// TestBlastRadiusBoundsInstancesInRepair: at most the blast radius is in
// repair at once, and an instance that never heals does not hold its
// place until its deadline: later batches start right after the reboots
// of earlier ones are done.
func (s *regionSuite) TestBlastRadiusBoundsInstancesInRepair() {
	for i := range 100 {
		s.fleet.add(i, ecs.StateRunning, false, false).installFails = i == 0
	}
	in := quick("cn-hangzhou")
	in.BlastRadius = "20"
	in.VerifyDeadline = Duration(10 * time.Minute)
	var installAt []time.Time
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == "InstallAgents" {
			installAt = append(installAt, s.env.Now())
		}
	})
	rep := s.run(in)
	s.Equal(20, rep.BlastRadiusLimit)
	s.LessOrEqual(rep.BlastRadius, 20)
	s.Equal(5, rep.Counts.Batches)
	s.Equal(99, rep.Counts.Remediated)
	s.Equal(1, rep.Counts.NoHeartbeat)
	s.Require().Len(installAt, 5)
	// Each batch takes the grace period and a poll or two: all five are
	// done long before the never-healing instance's 10-minute deadline.
	s.Less(installAt[4].Sub(installAt[0]), 2*time.Minute)
}

func (s *regionSuite) TestShortCircuitTouchesNothingUnlessOverridden() {
	// Zone b: 12 Running, 8 unhealthy (67%); the region: 8 of 40 (20%).
	for i := range 40 {
		in := s.fleet.add(i, ecs.StateRunning, true, true)
		if i >= 28 {
			in.zone = "cn-hangzhou-b"
			in.healthy = i >= 36
		}
	}
	in := quick("cn-hangzhou")
	in.MaxUnhealthyPercent = 0 // the default, 50
	rep := s.run(in)
	s.Empty(s.fleet.installs)
	s.Empty(s.fleet.checks)
	s.Contains(rep.Stopped, "short-circuited: 66% of the Running instances of zone cn-hangzhou-b (8 of 12)")
	s.Equal(8, rep.Counts.NotAttempted)
	for _, r := range rep.Rows {
		s.Equal(ReasonShortCircuit, r.Reason)
	}

	s.SetupTest()
	for i := range 40 {
		in := s.fleet.add(i, ecs.StateRunning, true, true)
		if i >= 28 {
			in.zone = "cn-hangzhou-b"
			in.healthy = i >= 36
		}
	}
	in = quick("cn-hangzhou")
	in.MaxUnhealthyPercent = 0
	in.OverrideMaxUnhealthy = "INC-1: the zone's agents were broken by a bad package, not the network"
	rep = s.run(in)
	s.Equal(8, rep.Counts.Remediated)
	s.Require().NotEmpty(rep.Controls)
	s.Equal("override", rep.Controls[0].Action)
	s.Contains(rep.Controls[0].Reason, "INC-1")
	s.Contains(strings.Join(rep.Warnings, "\n"), "repairing anyway, overridden")
}

func (s *regionSuite) TestErrorBudgetStopsNewBatches() {
	// 20 instances whose install ECS refuses, then 40 to repair: batches
	// of 5, budget 5.
	for i := range 60 {
		s.fleet.add(i, ecs.StateRunning, false, false).refuseInstall = i < 20
	}
	in := quick("cn-hangzhou")
	in.BatchSize = 5
	in.BlastRadius = "5"
	in.ErrorBudget = "5"
	rep := s.run(in)
	s.Contains(rep.Stopped, "stopped: error budget exhausted (10 failed of 10 attempted; budget 5 = 5)")
	s.Equal(10, rep.Counts.InstallFailed)
	s.Equal(2, rep.Counts.Batches, "no batch started after the budget was exhausted")
	s.Equal(50, rep.Counts.NotAttempted)
	for _, r := range rep.Rows {
		if r.Outcome == OutcomeNotAttempted {
			s.Equal(ReasonErrorBudget, r.Reason)
		}
	}
}

func (s *regionSuite) TestExcludedByTagOrListAreNeverTouched() {
	for i := range 10 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	s.fleet.byID[modelID(1)].tags = []ecs.Tag{{Key: DefaultExcludeTag, Value: "true"}}
	in := quick("cn-hangzhou")
	in.ExcludeInstanceIDs = []string{modelID(2)}
	rep := s.run(in)
	s.NotContains(s.fleet.installedIDs(), modelID(1))
	s.NotContains(s.fleet.installedIDs(), modelID(2))
	s.Equal(2, rep.Counts.Excluded)
	s.Equal(8, rep.Counts.Remediated)
	rows := s.rowsOf(rep)
	s.Equal(OutcomeExcluded, rows[modelID(1)].Outcome)
	s.Contains(rows[modelID(1)].Detail, "opt-out tag")
	s.Equal(OutcomeExcluded, rows[modelID(2)].Outcome)
}

func (s *regionSuite) TestQuarantinedInstancesAreReportedNotTouched() {
	s.fleet.add(1, ecs.StateRunning, false, false)
	s.fleet.add(2, ecs.StateRunning, false, false)
	at := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	s.fleet.ledger[modelID(1)] = []guard.Attempt{{WorkflowID: "r1", At: at, Reason: ReasonNoHeartbeat}, {WorkflowID: "r2", At: at.Add(6 * time.Hour), Reason: ReasonNoHeartbeat}}
	s.fleet.ledger[modelID(2)] = []guard.Attempt{{WorkflowID: "r1", At: at, Reason: ReasonNoHeartbeat}}
	rep := s.run(quick("cn-hangzhou"))
	s.Equal([]string{modelID(2)}, s.fleet.installedIDs())
	rows := s.rowsOf(rep)
	s.Equal(OutcomeQuarantined, rows[modelID(1)].Outcome)
	s.Contains(rows[modelID(1)].Detail, "2 failed repairs within 168h0m0s")
	s.Contains(rows[modelID(1)].Detail, "starter quarantine clear")
	s.Equal(1, rep.Counts.Quarantined)
	// Instance 2 was repaired: its record is cleared.
	s.Require().Len(s.fleet.records, 1)
	s.Equal([]string{modelID(2)}, s.fleet.records[0].Healed)
	s.NotContains(s.fleet.ledger, modelID(2))
}

// TestPauseResumeAbortAndSet drives the operator's updates: nothing is
// installed while paused, set changes the blast radius, abort stops new
// batches and reports the rest.
func (s *regionSuite) TestPauseResumeAbortAndSet() {
	for i := range 100 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := quick("cn-hangzhou")
	in.BlastRadius = "20"
	var installsWhilePaused int
	paused := false
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if paused && (info.ActivityType.Name == "InstallAgents" || info.ActivityType.Name == "RebootIfStillUnhealthy") {
			installsWhilePaused++
		}
	})
	update := func(name string, arg any, check func(Progress, error)) {
		s.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { check(Progress{}, err) },
			OnComplete: func(v any, err error) {
				var p Progress
				if err == nil {
					p = v.(Progress)
				}
				check(p, err)
			},
		}, arg)
	}
	s.env.RegisterDelayedCallback(func() {
		update(UpdatePause, ControlRequest{Reason: ""}, func(_ Progress, err error) {
			s.ErrorContains(err, "reason is required")
		})
		update(UpdatePause, ControlRequest{Reason: "INC-9 change freeze", By: "alice"}, func(p Progress, err error) {
			s.NoError(err)
			s.True(p.Paused)
			paused = true
		})
		update(UpdateSet, SetRequest{BlastRadius: "0", Reason: "x"}, func(_ Progress, err error) {
			s.ErrorContains(err, "blast_radius is \"0\"")
		})
		update(UpdateSet, SetRequest{BlastRadius: "40", Reason: "more capacity", By: "alice"}, func(p Progress, err error) {
			s.NoError(err)
			s.Equal(40, p.BlastRadius)
		})
	}, 3*time.Second)
	s.env.RegisterDelayedCallback(func() {
		update(UpdateResume, ControlRequest{Reason: "freeze over", By: "bob"}, func(p Progress, err error) {
			s.NoError(err)
			s.False(p.Paused)
			paused = false
		})
	}, time.Hour)
	s.env.RegisterDelayedCallback(func() {
		update(UpdateAbort, ControlRequest{Reason: "enough for today", By: "carol"}, func(p Progress, err error) {
			s.NoError(err)
			s.True(p.Aborted)
		})
	}, time.Hour+3*time.Second)
	rep := s.run(in)
	s.Zero(installsWhilePaused, "no install or reboot started while paused")
	s.Contains(rep.Stopped, "aborted by carol: enough for today")
	s.Positive(rep.Counts.NotAttempted)
	s.Positive(rep.Counts.Remediated)
	s.Equal(100, rep.Counts.Remediated+rep.Counts.NotAttempted)
	var actions []string
	for _, c := range rep.Controls {
		actions = append(actions, c.Action+" by "+c.By)
	}
	s.Equal([]string{"pause by alice", "set by alice", "resume by bob", "abort by carol"}, actions)
	s.Equal(40, rep.BlastRadiusLimit)
	s.Greater(rep.BlastRadius, 20, "the new radius was used")
}

// TestAccountErrorStopsTheRunWithOneLine: a reboot refused for the whole
// account stops new batches at once, verifies nothing that was not
// rebooted, and fails the run with the ECS line.
func (s *regionSuite) TestAccountErrorStopsTheRunWithOneLine() {
	for i := range 60 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	line := "reboot i-test00000000, i-test00000001, i-test00000002 and 17 more: Forbidden.RAM: the credentials are not allowed to call RebootInstances (request 1A2B); grant ecs:RebootInstances to the worker's RAM user or role (see the README's RAM policy)"
	s.fleet.failBoot = temporal.NewNonRetryableApplicationError(line, "Forbidden.RAM", nil)
	in := quick("cn-hangzhou")
	in.BlastRadius = "20"
	s.env.ExecuteWorkflow(RemediateRegion, in)
	err := s.env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "%v", err)
	s.Equal("Forbidden.RAM", appErr.Type())
	s.Equal("stopped: "+line, appErr.Message())
	s.Empty(s.fleet.polls, "nothing rebooted, nothing verified")
	var rep Report
	s.Require().NoError(appErr.Details(&rep))
	s.Equal(1, rep.Counts.Batches)
	s.Equal(20, rep.Counts.AccountError)
	s.Equal(40, rep.Counts.NotAttempted)
	s.Len(s.fleet.releases, 1)
}

// quietLogger keeps the test environment's debug lines out of test output.
func quietLogger() *logging.Temporal { return logging.NewTemporal(zap.NewNop()) }

// testConverterDecode reads the input a run handed to continue-as-new.
func testConverterDecode(can *workflow.ContinueAsNewError, out *RegionInput) error {
	return converter.GetDefaultDataConverter().FromPayloads(can.Input, out)
}

func TestRegionRejectsInvalidInputNamingTheField(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*RegionInput)
		want string
	}{
		{"no region", func(in *RegionInput) { in.Region = "" }, "region is required"},
		{"bad region", func(in *RegionInput) { in.Region = "Hangzhou" }, `region "Hangzhou" is not an ECS region ID`},
		{"batch too big", func(in *RegionInput) { in.BatchSize = 21 }, "batch_size is 21, allowed range is 1..20"},
		{"batch negative", func(in *RegionInput) { in.BatchSize = -1 }, "batch_size is -1, allowed range is 1..20"},
		{"concurrency", func(in *RegionInput) { in.ConcurrentBatches = 1001 }, "concurrent_batches is 1001, allowed range is 1..1000"},
		{"policy", func(in *RegionInput) { in.RebootPolicy = "sometimes" }, `reboot_policy is "sometimes", allowed values are if-needed, always, never`},
		{"grace", func(in *RegionInput) { g := Duration(11 * time.Minute); in.RebootGrace = &g }, "reboot_grace is 11m0s, allowed range is 0s..10m0s"},
		{"deadline", func(in *RegionInput) { in.VerifyDeadline = Duration(time.Second) }, "verify_deadline is 1s, allowed range is 10s..2h0m0s"},
		{"poll", func(in *RegionInput) { in.VerifyPollInterval = Duration(time.Hour) }, "verify_poll_interval is 1h0m0s, allowed range is 100ms..5m0s"},
		{"os", func(in *RegionInput) { in.OSType = "Solaris" }, `os_type is "Solaris", allowed values are Linux, Windows, FreeBSD`},
		{"kind", func(in *RegionInput) { in.Kind = "cron" }, `kind is "cron", allowed values are manual, scheduled`},
		{"pages", func(in *RegionInput) { in.PagesPerRun = 1001 }, "pages_per_run is 1001, allowed range is 1..1000"},
		{"rows", func(in *RegionInput) { n := 9999; in.MaxReportRows = &n }, "max_report_rows is 9999, allowed range is 0..5000"},
		{"bytes", func(in *RegionInput) { in.MaxReportBytes = 1 }, "max_report_bytes is 1, allowed range is 16384..262144"},
		{"id format", func(in *RegionInput) { in.InstanceIDs = []string{"i-abcdefgh12", "web-01"} }, `instance_ids[1] "web-01" is not an ECS instance ID`},
		{"id repeat", func(in *RegionInput) { in.InstanceIDs = []string{"i-abcdefgh12", "i-abcdefgh12"} }, `instance_ids[1] "i-abcdefgh12" repeats instance_ids[0]`},
		{"too many ids", func(in *RegionInput) { in.InstanceIDs = make([]string, 5001) }, "instance_ids has 5001 entries, allowed at most 5000"},
		{"zone", func(in *RegionInput) { in.ZoneID = "zone a" }, `zone_id "zone a" is not an ECS zone ID`},
		{"blast radius", func(in *RegionInput) { in.BlastRadius = "0" }, `blast_radius is "0", allowed is a count 1..100000 or a share such as 5% (more than 0%..100%)`},
		{"blast share", func(in *RegionInput) { in.BlastRadius = "150%" }, `blast_radius is "150%"`},
		{"budget", func(in *RegionInput) { in.ErrorBudget = "-1" }, `error_budget is "-1", allowed is a count 0..100000 or a share such as 5% (0%..100%)`},
		{"max unhealthy", func(in *RegionInput) { in.MaxUnhealthyPercent = 101 }, "max_unhealthy_percent is 101, allowed range is 1..100"},
		{"tag", func(in *RegionInput) { in.ExcludeTag = "=x" }, `exclude_tag "=x" has an empty key`},
		{"quarantine", func(in *RegionInput) { in.QuarantineAfter = 21 }, "quarantine_after is 21, allowed range is 1..20"},
		{"window", func(in *RegionInput) { in.QuarantineWindow = Duration(time.Minute) }, "quarantine_window is 1m0s, allowed range is 1h0m0s..2160h0m0s"},
		{"events", func(in *RegionInput) { in.EventsPerRun = 20000 }, "events_per_run is 20000, allowed range is 50..10000"},
		{"exclude ids", func(in *RegionInput) { in.ExcludeInstanceIDs = []string{"nope"} }, `exclude_instance_ids[0] "nope" is not an ECS instance ID`},
		{"managed id", func(in *RegionInput) { in.InstanceIDs = []string{"i-abcdefgh12", "mi-hz018jrc1o0aaaa"} },
			`instance_ids[1] "mi-hz018jrc1o0aaaa" is a managed instance: fleetmend cannot repair managed instances, they are not ECS instances`},
		{"managed excluded", func(in *RegionInput) { in.ExcludeInstanceIDs = []string{"mi-hz018jrc1o0aaaa"} },
			`exclude_instance_ids[0] "mi-hz018jrc1o0aaaa" is a managed instance: fleetmend cannot repair managed instances`},
		{"zone of another region", func(in *RegionInput) { in.ZoneID = "cn-shanghai-a" },
			`zone_id "cn-shanghai-a" is not a zone of region cn-hangzhou: a zone ID starts with its region's ID (such as cn-hangzhou-h)`},
		{"zone that is the region", func(in *RegionInput) { in.ZoneID = "cn-hangzhou" }, `zone_id "cn-hangzhou" is not a zone of region cn-hangzhou`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ts testsuite.WorkflowTestSuite
			ts.SetLogger(quietLogger())
			env := ts.NewTestWorkflowEnvironment()
			m := newFleetModel()
			m.wire(env)
			in := RegionInput{Region: "cn-hangzhou"}
			tc.mod(&in)
			env.ExecuteWorkflow(RemediateRegion, in)
			require.True(t, env.IsWorkflowCompleted())
			err := env.GetWorkflowError()
			require.Error(t, err)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "want an application error, got %T", err)
			require.True(t, appErr.NonRetryable())
			require.Equal(t, ErrInvalidInput, appErr.Type())
			require.Contains(t, appErr.Error(), tc.want)
			require.Empty(t, m.segments, "no API call before validation")
			require.Empty(t, m.acquires)
		})
	}
}

// TestTakeoverWaitsThenVerifiesWhatTheClosedRunRebooted: the guard says a
// closed holder's batches are still open; the run waits, saying so, then
// takes the region over and verifies the instances that holder rebooted
// instead of repairing them: one heals (remediated), one never does
// (inherited-no-heartbeat, a failed attempt in the ledger), neither is
// installed on or rebooted; the rest of the region is repaired.
func (s *regionSuite) TestTakeoverWaitsThenVerifiesWhatTheClosedRunRebooted() {
	for i := range 30 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	s.fleet.byID[modelID(0)].healthy = true // its reboot by the closed run worked
	asked := 0
	s.fleet.grant = func(in guard.AcquireInput) guard.AcquireResult {
		asked++
		closed := guard.Holder{WorkflowID: "fleetmend/cn-hangzhou/closed", Execution: "c1"}
		if asked < 3 {
			return guard.AcquireResult{Holder: closed, WaitFor: []string{"fleetmend/cn-hangzhou/closed/batch-7"}}
		}
		return guard.AcquireResult{Granted: true, TookOver: closed.WorkflowID, FirstBatch: 8,
			Inherit: []guard.RebootRef{{WorkflowID: closed.WorkflowID, Batches: guard.BatchRange{From: 7, To: 7}, VerifyDeadline: time.Minute}}}
	}
	var inherited []guard.Inherited
	for _, n := range []int{0, 1} {
		inherited = append(inherited, guard.Inherited{WorkflowID: "fleetmend/cn-hangzhou/closed", Batch: 7,
			VerifyTarget: guard.VerifyTarget{ID: modelID(n), Problem: ProblemAgentMissing, Action: "installed, rebooted", Rebooted: true, Since: s.env.Now()},
			Deadline:     s.env.Now().Add(time.Hour)})
	}
	s.fleet.inherited = guard.InheritResult{Instances: inherited, Batches: 1}
	rep := s.run(quick("cn-hangzhou"))
	s.Equal(3, asked, "asked again until the closed run's batches closed")
	warnings := strings.Join(rep.Warnings, "\n")
	s.Contains(warnings, "waiting for fleetmend/cn-hangzhou/closed/batch-7 of fleetmend/cn-hangzhou/closed")
	s.Contains(warnings, "took the region over from fleetmend/cn-hangzhou/closed")
	s.Contains(warnings, "verifying 2 instances that fleetmend/cn-hangzhou/closed (batches 7..7) rebooted")
	s.NotContains(s.fleet.installedIDs(), modelID(0))
	s.NotContains(s.fleet.installedIDs(), modelID(1), "verified, not repaired, before its deadline")
	s.NotContains(s.fleet.rebootedIDs(), modelID(1))
	rows := s.rowsOf(rep)
	s.Equal(OutcomeRemediated, rows[modelID(0)].Outcome)
	s.Contains(rows[modelID(0)].Action, "by batch 7 of fleetmend/cn-hangzhou/closed")
	s.Equal(ReasonInheritedNoHeartbeat, rows[modelID(1)].Reason, "%+v", rows[modelID(1)])
	s.Equal(1, rep.Counts.InheritedNoHeartbeat)
	s.Zero(rep.Counts.BudgetFailures(), "another run's failed reboot spends nothing of this run's budget")
	s.Equal(28, rep.Counts.Remediated-1, "the other 28 were repaired")
	s.Len(s.fleet.records, 1)
	s.Equal(modelID(1), s.fleet.records[0].Failed[0].InstanceID, "one failed attempt in the ledger")
	s.NotEmpty(s.fleet.records[0].ID, "an idempotent ledger update")
	for _, f := range s.fleet.fences {
		s.GreaterOrEqual(f.Batches.To, 8, "batches numbered after the closed run's")
	}
	first := 0
	for _, r := range rep.Rows {
		if r.Batch > 0 && (first == 0 || r.Batch < first) {
			first = r.Batch
		}
	}
	s.Equal(8, first, "the first batch is numbered after the closed run's batch 7")
}

// TestLostRegionStopsTheRun: a guard that no longer names the run as
// holder refuses its fence; the run starts no batch and fails with one
// line, and does not release what it does not hold.
func (s *regionSuite) TestLostRegionStopsTheRun() {
	for i := range 10 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	s.fleet.afterSegment = func(activities.SegmentInput) {
		// Segments run concurrently and the hook runs unlocked.
		s.fleet.mu.Lock()
		s.fleet.holder = "fleetmend/cn-hangzhou/other"
		s.fleet.mu.Unlock()
	}
	s.env.ExecuteWorkflow(RemediateRegion, quick("cn-hangzhou"))
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.Contains(err.Error(), "stopped: lost the region cn-hangzhou: the region is held by fleetmend/cn-hangzhou/other")
	s.Empty(s.fleet.installedIDs())
	s.Empty(s.fleet.releases, "a run does not release a region it lost")
}

// TestUnlockFinishesBatchesAndReleases: a paused run is unlocked; its
// batch in flight is resumed and finishes its reboot, which is verified;
// nothing else starts; the run closes unlocked and releases the region.
func (s *regionSuite) TestUnlockFinishesBatchesAndReleases() {
	for i := range 60 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := quick("cn-hangzhou")
	in.BlastRadius = "20"
	update := func(name string, arg any) {
		s.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { s.Fail(err.Error()) },
			OnComplete: func(_ any, err error) { s.NoError(err) }}, arg)
	}
	s.env.RegisterDelayedCallback(func() { update(UpdatePause, ControlRequest{Reason: "freeze", By: "alice"}) }, 2*time.Second)
	s.env.RegisterDelayedCallback(func() {
		s.Empty(s.fleet.rebootedIDs(), "paused: the batch in flight waits before its reboot")
		update(UpdateUnlock, ControlRequest{Reason: "INC-1: paused since Friday", By: "bob"})
	}, 6*time.Hour)
	rep := s.run(in)
	s.Equal(20, len(s.fleet.rebootedIDs()), "the batch in flight finished its reboot")
	s.Equal(20, rep.Counts.Remediated, "and it was verified")
	s.Equal(40, rep.Counts.NotAttempted)
	s.Contains(rep.Stopped, "unlocked by bob: INC-1: paused since Friday")
	s.NotEmpty(s.fleet.releases, "released at the end")
	actions := []string{}
	for _, c := range rep.Controls {
		actions = append(actions, c.Action+" by "+c.By)
	}
	s.Equal([]string{"pause by alice", "unlock by bob"}, actions)
}

// TestLargestInputsKeepTheCarriedStateSmall runs the largest region the
// CLI takes on (200,000 instances, 20% unhealthy, a tenth of those never
// healing), with a blast radius of 50%, the longest exclude list, the
// biggest report and a continue-as-new every twenty seconds: every
// continue-as-new input stays under 512 KB (Temporal's warning), and the
// batches in flight stay under the cap, far under Temporal's 2,000
// pending children. What does not fit is reported deferred, never lost.
func (s *regionSuite) TestLargestInputsKeepTheCarriedStateSmall() {
	const size = 200000
	s.fleet.addMany(size, func(i int, in *modelInstance) {
		in.state = ecs.StateRunning
		in.healthy = i%5 != 0
		in.everBeat = in.healthy
		in.installFails = i%50 == 0
	})
	in := quick("cn-hangzhou")
	in.BlastRadius = "50%"
	rows := MaxReportRows
	in.MaxReportRows = &rows
	in.MaxReportBytes = MaxMaxReportBytes
	in.ErrorBudget = "100%"
	for i := 1; len(in.ExcludeInstanceIDs) < MaxExcludedInstanceIDs; i += 5 {
		in.ExcludeInstanceIDs = append(in.ExcludeInstanceIDs, modelID(i))
	}
	inFlight, most := 0, 0
	watch := func(env *testsuite.TestWorkflowEnvironment, after time.Duration) {
		// The largest states take the race detector past the SDK's 1 s
		// deadlock detector on a loaded machine; what is measured here is
		// their size, not the time a task takes.
		env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
		// The test environment keeps no history length: Temporal's own
		// suggestion stands in for it, after each scan segment while the
		// scan goes (no time passes in it), twenty seconds into every run
		// after.
		if after == 0 {
			env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, _ error) {
				if info.ActivityType.Name == "ScanSegment" {
					env.SetContinueAsNewSuggested(true)
				}
			})
		} else {
			env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, after)
		}
		env.SetOnChildWorkflowStartedListener(func(*workflow.Info, workflow.Context, converter.EncodedValues) {
			inFlight++
			most = max(most, inFlight)
		})
		env.SetOnChildWorkflowCompletedListener(func(*workflow.Info, converter.EncodedValue, error) { inFlight-- })
	}
	watch(s.env, 0)
	s.env.ExecuteWorkflow(RemediateRegion, in)
	largest, legs := 0, 1
	env := s.env
	for {
		s.Require().True(env.IsWorkflowCompleted())
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if !errors.As(err, &can) {
			s.Require().NoError(err, "leg %d", legs)
			break
		}
		payload := can.Input.GetPayloads()
		s.Require().Len(payload, 1)
		largest = max(largest, len(payload[0].GetData()))
		s.Require().Less(len(payload[0].GetData()), 512<<10, "continue-as-new input %d is %d bytes", legs, len(payload[0].GetData()))
		var next RegionInput
		s.Require().NoError(testConverterDecode(can, &next))
		legs++
		s.Require().Less(legs, 200)
		inFlight = 0
		clock := env.Now() // the next run goes on where this one ended
		env = s.NewTestWorkflowEnvironment()
		env.SetStartTime(clock)
		s.fleet.wire(env)
		if next.State.Scan.Done {
			watch(env, 20*time.Second)
		} else {
			watch(env, 0)
		}
		env.ExecuteWorkflow(RemediateRegion, next)
	}
	var rep Report
	s.Require().NoError(env.GetWorkflowResult(&rep))
	raw, err := json.Marshal(rep)
	s.Require().NoError(err)
	s.Less(len(raw), 512<<10, "the report too")
	s.LessOrEqual(largest, maxCarryBytes, "every continue-as-new input within the bound")
	s.LessOrEqual(most, maxBatchesInFlight, "batches in flight are capped whatever the blast radius")
	s.Equal(40000, rep.Counts.Unhealthy())
	attempted := rep.Counts.Remediated + rep.Counts.Failed
	s.Equal(40000, attempted+rep.Counts.NotAttempted+rep.Counts.Excluded, "every unhealthy instance accounted for")
	s.Positive(rep.Counts.NotAttempted, "what one run cannot carry is deferred to the next")
	s.Greater(legs, 40, "it continued as new after every scan segment, and in the repairs")
	s.Equal(len(s.fleet.installedIDs()), attempted, "each attempted instance installed once")
	s.T().Logf("200,000 instances, blast radius 50%%: %d runs, largest continue-as-new input %d bytes, report %d bytes, at most %d batches in flight; %d remediated, %d failed, %d deferred",
		legs, largest, len(raw), most, rep.Counts.Remediated, rep.Counts.Failed, rep.Counts.NotAttempted)
}

// withCanary is quick with the rollout at its defaults: a canary of one
// batch, a ramp of 2, 80% to go on.
func withCanary() RegionInput {
	in := quick("cn-hangzhou")
	in.Canary = nil
	in.VerifyDeadline = Duration(10 * time.Minute)
	return in
}

// TestCanaryStopsWhenRebootingDoesNotHeal: no repaired agent comes back
// (a broken package). Only the canary is installed on and rebooted; the
// run stops with one line naming the failures, and the rest are
// not-attempted for the canary, long before any verify deadline.
func (s *regionSuite) TestCanaryStopsWhenRebootingDoesNotHeal() {
	for i := range 200 {
		s.fleet.add(i, ecs.StateRunning, false, false).installFails = true
	}
	in := withCanary()
	in.ErrorBudget = "100%"
	start := s.env.Now()
	var ended time.Time
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		ended = s.env.Now()
	})
	s.env.ExecuteWorkflow(RemediateRegion, in)
	err := s.env.GetWorkflowError()
	s.Require().NoError(err)
	var rep Report
	s.Require().NoError(s.env.GetWorkflowResult(&rep))
	s.Len(s.fleet.installedIDs(), 20, "the canary only")
	s.Len(s.fleet.rebootedIDs(), 20)
	s.Contains(rep.Stopped, "stopped: canary failed: 0 of 20 healed (80% needed to go on); first failures: ")
	s.Equal(180, rep.Counts.NotAttempted)
	for _, r := range rep.Rows {
		if r.Outcome == OutcomeNotAttempted {
			s.Equal(ReasonCanary, r.Reason)
		}
	}
	s.Require().Len(rep.Waves, 1)
	s.False(rep.Waves[0].Passed)
	s.Less(rep.Waves[0].At.Sub(start), 5*time.Minute, "judged at the early signal (3m after the reboot), not the 10m deadline")
	_ = ended
}

// TestCanaryPassesOrFailsAsTheThresholdSays: 30% of installs never take
// effect (every instance whose number ends in 0, 1 or 2). The canary (14
// of 20 heal, 70%) fails at the default 80% and passes at 60%, after
// which the ramp doubles the instances in repair wave by wave up to the
// blast radius and the run completes.
func (s *regionSuite) TestCanaryPassesOrFailsAsTheThresholdSays() {
	fleet := func(m *fleetModel) {
		for i := range 300 {
			m.add(i, ecs.StateRunning, false, false).installFails = i%10 < 3
		}
	}
	fleet(s.fleet)
	in := withCanary()
	in.ErrorBudget = "100%"
	in.BlastRadius = "160"
	rep := s.run(in)
	s.Contains(rep.Stopped, "stopped: canary failed: 14 of 20 healed (80% needed to go on)")
	s.Len(s.fleet.installedIDs(), 20)

	env := s.NewTestWorkflowEnvironment()
	m := newFleetModel()
	m.wire(env)
	fleet(m)
	in.CanarySuccess = 60
	env.ExecuteWorkflow(RemediateRegion, in)
	s.Require().NoError(env.GetWorkflowError())
	var full Report
	s.Require().NoError(env.GetWorkflowResult(&full))
	s.Empty(full.Stopped)
	s.Equal(210, full.Counts.Remediated)
	s.Equal(90, full.Counts.NoHeartbeat)
	s.Require().GreaterOrEqual(len(full.Waves), 2, "the canary and a ramp step at least")
	s.Equal(20, full.Waves[0].Limit, "the canary is one batch")
	for i, w := range full.Waves {
		s.True(w.Passed)
		if i > 0 {
			s.Equal(2*full.Waves[i-1].Limit, w.Limit, "the ramp doubles the instances in repair wave by wave")
		}
		s.LessOrEqual(w.Limit, 160, "up to the blast radius")
	}
}

// TestRampWidensOnFirstHeartbeats: with a long --stable-for, the canary
// waits for lasting heartbeats, each ramp step widens as soon as its
// cohort's agents are back (long before they count as lasting), and every
// outcome still waits for a lasting heartbeat.
func (s *regionSuite) TestRampWidensOnFirstHeartbeats() {
	for i := range 200 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := withCanary()
	in.ErrorBudget = "100%"
	in.BlastRadius = "160"
	stable := Duration(10 * time.Minute)
	in.StableFor = &stable
	in.VerifyDeadline = Duration(30 * time.Minute)
	rep := s.run(in)
	s.Empty(rep.Stopped)
	s.Equal(200, rep.Counts.Remediated, "remediated only once lasting")
	s.Require().GreaterOrEqual(len(rep.Waves), 3, "the canary and two ramp steps at least")
	s.GreaterOrEqual(rep.Waves[0].At.Sub(rep.StartedAt), 10*time.Minute, "the canary waits for lasting heartbeats")
	for i := 1; i < len(rep.Waves); i++ {
		s.True(rep.Waves[i].Passed)
		s.Less(rep.Waves[i].At.Sub(rep.Waves[i-1].At), 5*time.Minute, "ramp step %d widened on its first heartbeats", i)
	}
}

// TestPauseAfterCanaryWaitsForApproval: nothing beyond the canary is
// installed until an operator resumes, whose name and reason are in the
// report; an abort instead ends the run with the canary verified.
func (s *regionSuite) TestPauseAfterCanaryWaitsForApproval() {
	for i := range 100 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := withCanary()
	in.PauseAfterCanary = true
	in.BlastRadius = "60"
	var installs []time.Time
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == "InstallAgents" {
			installs = append(installs, s.env.Now())
		}
	})
	start := s.env.Now()
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(QueryProgress)
		s.Require().NoError(err)
		var p Progress
		s.Require().NoError(v.Get(&p))
		s.True(p.Paused)
		s.Equal("awaiting approval", p.Phase)
		s.Equal(phaseRamp, p.Rollout)
		s.env.UpdateWorkflow(UpdateResume, "", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { s.Fail(err.Error()) },
			OnComplete: func(_ any, err error) { s.NoError(err) }}, ControlRequest{Reason: "canary looks good", By: "alice"})
	}, 2*time.Hour)
	rep := s.run(in)
	s.Equal(100, rep.Counts.Remediated)
	s.Require().Greater(len(installs), 1)
	s.Less(installs[0].Sub(start), time.Hour)
	s.GreaterOrEqual(installs[1].Sub(start), 2*time.Hour, "nothing beyond the canary before the approval")
	var events []string
	for _, c := range rep.Controls {
		events = append(events, c.Action+" by "+c.By+": "+c.Reason)
	}
	s.Equal([]string{"pause by fleetmend: waiting for approval after the canary", "resume by alice: canary looks good"}, events)
}

func (s *regionSuite) TestAbortAfterCanaryRejects() {
	for i := range 100 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := withCanary()
	in.PauseAfterCanary = true
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(UpdateAbort, "", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { s.Fail(err.Error()) },
			OnComplete: func(_ any, err error) { s.NoError(err) }}, ControlRequest{Reason: "not today", By: "bob"})
	}, time.Hour)
	rep := s.run(in)
	s.Equal(20, rep.Counts.Remediated, "the canary, verified")
	s.Equal(80, rep.Counts.NotAttempted)
	s.Len(s.fleet.installedIDs(), 20)
	s.Contains(rep.Stopped, "aborted by bob: not today")
}

// TestOneHeartbeatThenSilenceIsNotRemediated: an agent that reports once
// after its reboot and goes silent again fails no-heartbeat at its
// deadline; the others are remediated after a later heartbeat.
func (s *regionSuite) TestOneHeartbeatThenSilenceIsNotRemediated() {
	for i := range 10 {
		s.fleet.add(i, ecs.StateRunning, false, false).beatsOnce = i == 0
	}
	in := quick("cn-hangzhou")
	in.VerifyDeadline = Duration(5 * time.Minute)
	rep := s.run(in)
	rows := s.rowsOf(rep)
	s.Equal(OutcomeFailed, rows[modelID(0)].Outcome, "%+v", rows[modelID(0)])
	s.Equal(ReasonNoHeartbeat, rows[modelID(0)].Reason)
	s.Contains(rows[modelID(0)].Detail, "reported after the reboot, then went silent")
	s.Equal(9, rep.Counts.Remediated)
}

// TestBudgetCountsAtTheEarlySignal: with no canary and a budget of 0, one
// instance whose agent never comes back stops new batches at its early
// signal (3 minutes after it is Running again), not at its 30-minute
// deadline; had it healed later, the budget would have it back.
func (s *regionSuite) TestBudgetCountsAtTheEarlySignal() {
	for i := range 1000 {
		s.fleet.add(i, ecs.StateRunning, false, false).installFails = i == 0
	}
	in := quick("cn-hangzhou")
	in.BlastRadius = "20"
	in.ErrorBudget = "0"
	in.VerifyDeadline = Duration(30 * time.Minute)
	var last time.Time
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == "InstallAgents" {
			last = s.env.Now()
		}
	})
	start := s.env.Now()
	rep := s.run(in)
	s.Contains(rep.Stopped, "stopped: error budget exhausted (1 failed")
	s.Positive(rep.Counts.NotAttempted)
	s.Less(last.Sub(start), 5*time.Minute, "no batch started after the early signal")
	s.Less(len(s.fleet.installedIDs()), 1000)
	s.Equal(1, rep.Counts.NoHeartbeat, "still verified to its deadline")
}
