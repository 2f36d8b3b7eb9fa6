package workflows

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecs"
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

func quick(region string) RegionInput {
	grace := Duration(5 * time.Second)
	return RegionInput{Region: region, RebootGrace: &grace, VerifyDeadline: Duration(time.Minute), VerifyPollInterval: Duration(time.Second)}
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
	s.Len(s.fleet.scans, 3, "120 instances at 50 a page is 3 pages")
	for _, sc := range s.fleet.scans {
		s.Equal(50, sc.PageSize)
	}
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
	for _, r := range rep.Rows {
		if r.InstanceID == modelID(3) {
			s.Equal(OutcomeFailed, r.Outcome)
			s.Equal(ReasonVanished, r.Reason)
		}
	}
}

func (s *regionSuite) TestInstallFailureIsReportedWithReason() {
	s.fleet.add(1, ecs.StateRunning, false, false).installFails = true
	s.fleet.add(2, ecs.StateRunning, false, false)
	rep := s.run(quick("cn-hangzhou"))
	s.Equal(1, rep.Counts.NoHeartbeat)
	s.Equal(1, rep.Counts.Remediated)
	for _, r := range rep.Rows {
		if r.InstanceID == modelID(1) {
			s.Equal(ReasonNoHeartbeat, r.Reason)
			s.Contains(r.Detail, "never reported")
			s.Contains(r.Action, "rebooted")
		}
	}
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
	s.Len(s.fleet.scans, 1)
	s.Equal(in.InstanceIDs, s.fleet.scans[0].InstanceIDs)
}

func (s *regionSuite) TestFleetShrinkingDuringScanLosesNoOne() {
	// 150 unhealthy instances; after page 1 is read, 10 instances of page 1
	// are deleted, so every later instance moves 10 places forward. Without
	// stepping back, the 10 that slid from page 2 into page 1 would never be seen.
	for i := range 150 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	s.fleet.afterScan = func(page int) {
		if page != 1 {
			return
		}
		s.fleet.mu.Lock()
		defer s.fleet.mu.Unlock()
		if s.fleet.byID[modelID(0)].gone {
			return
		}
		for i := range 10 {
			s.fleet.byID[modelID(i)].gone = true
		}
	}
	rep := s.run(quick("cn-hangzhou"))
	installed := s.fleet.installedIDs()
	for i := 10; i < 150; i++ {
		s.Contains(installed, modelID(i), "instance %d was skipped", i)
	}
	seen := map[string]int{}
	for _, id := range installed {
		seen[id]++
	}
	for id, n := range seen {
		s.Equal(1, n, "%s installed %d times", id, n)
	}
	s.Equal(150, rep.Counts.Scanned, "each instance counted once")
}

func (s *regionSuite) TestContinueAsNewCarriesCursorAndCounts() {
	for i := range 130 {
		s.fleet.add(i, ecs.StateRunning, i%3 == 0, i%3 == 0)
	}
	in := quick("cn-hangzhou")
	in.PagesPerRun = 2
	s.env.ExecuteWorkflow(RemediateRegion, in)
	s.Require().True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(err, &can), "expected continue-as-new, got %v", err)
	var next RegionInput
	s.Require().NoError(testConverterDecode(can, &next))
	s.Require().NotNil(next.Carry)
	s.Equal(3, next.Carry.NextPage)
	s.Equal(100, next.Carry.Counts.Scanned)
	s.Equal(1, next.Carry.Runs)
	// 100 scanned, 66 unhealthy → 3 full batches dispatched and drained, 6 pending.
	s.Equal(3, next.Carry.BatchesDone)
	s.Len(next.Carry.Pending, 6)
	s.Len(next.Carry.LastPageIDs, 50)
	s.Len(next.Carry.Rows, 60, "one row per remediated instance so far")
}

func (s *regionSuite) TestContinuedRunFinishesFromCarry() {
	for i := range 130 {
		s.fleet.add(i, ecs.StateRunning, i%3 == 0, i%3 == 0)
	}
	// Run the first leg to get the carry, then run the second leg from it.
	first := quick("cn-hangzhou")
	first.PagesPerRun = 2
	s.env.ExecuteWorkflow(RemediateRegion, first)
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(s.env.GetWorkflowError(), &can))
	var next RegionInput
	s.Require().NoError(testConverterDecode(can, &next))

	env2 := s.NewTestWorkflowEnvironment()
	s.fleet.wire(env2)
	env2.ExecuteWorkflow(RemediateRegion, next)
	s.Require().NoError(env2.GetWorkflowError())
	var rep Report
	s.Require().NoError(env2.GetWorkflowResult(&rep))
	s.Equal(130, rep.Counts.Scanned)
	s.Equal(86, rep.Counts.Remediated)
	s.Equal(44, rep.Counts.Healthy)
	s.Equal(5, rep.Counts.Batches)
	s.Equal(2, rep.Runs)
	s.Len(rep.Rows, 86)
}

func (s *regionSuite) TestProgressQueryDuringRun() {
	for i := range 60 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := quick("cn-hangzhou")
	in.ConcurrentBatches = 1
	var seen []Progress
	// Query when the grace timer of a batch is pending: the run is mid-way.
	s.env.SetOnTimerScheduledListener(func(timerID string, duration time.Duration) {
		v, err := s.env.QueryWorkflow(QueryProgress)
		s.Require().NoError(err)
		var p Progress
		s.Require().NoError(v.Get(&p))
		seen = append(seen, p)
	})
	rep := s.run(in)
	s.Require().NotEmpty(seen)
	first := seen[0]
	s.Equal("scanning", first.Phase)
	s.Equal(50, first.Scanned)
	s.Equal(60, first.Total)
	s.Equal(1, first.BatchesInFlight)
	s.Equal(0, first.BatchesDone)
	s.Equal(60, rep.Counts.Remediated)
}

func (s *regionSuite) TestCancelFinishesRunningBatchesAndReportsTheRest() {
	for i := range 60 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := quick("cn-hangzhou")
	in.ConcurrentBatches = 1
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
	// Batch 1 was in its grace period when cancelled: it still finished.
	s.Equal(20, rep.Counts.Remediated)
	s.Len(s.fleet.rebootedIDs(), 20)
	// Page 1 held 50: batch 1 ran, batch 2 waited for a slot, 10 were
	// pending. Those 30 were found but never touched; page 2 was never read.
	s.Equal(30, rep.Counts.NotAttempted)
	s.Equal(50, rep.Counts.Scanned)
	s.Equal(1, rep.Counts.Batches)
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
		{"concurrency", func(in *RegionInput) { in.ConcurrentBatches = 51 }, "concurrent_batches is 51, allowed range is 1..50"},
		{"policy", func(in *RegionInput) { in.RebootPolicy = "sometimes" }, `reboot_policy is "sometimes", allowed values are if-needed, always, never`},
		{"grace", func(in *RegionInput) { g := Duration(11 * time.Minute); in.RebootGrace = &g }, "reboot_grace is 11m0s, allowed range is 0s..10m0s"},
		{"deadline", func(in *RegionInput) { in.VerifyDeadline = Duration(time.Second) }, "verify_deadline is 1s, allowed range is 10s..2h0m0s"},
		{"poll", func(in *RegionInput) { in.VerifyPollInterval = Duration(time.Hour) }, "verify_poll_interval is 1h0m0s, allowed range is 100ms..5m0s"},
		{"os", func(in *RegionInput) { in.OSType = "Solaris" }, `os_type is "Solaris", allowed values are Linux, Windows, FreeBSD`},
		{"kind", func(in *RegionInput) { in.Kind = "cron" }, `kind is "cron", allowed values are manual, scheduled`},
		{"pages", func(in *RegionInput) { in.PagesPerRun = 1001 }, "pages_per_run is 1001, allowed range is 1..1000"},
		{"rows", func(in *RegionInput) { n := 9999; in.MaxReportRows = &n }, "max_report_rows is 9999, allowed range is 0..5000"},
		{"id format", func(in *RegionInput) { in.InstanceIDs = []string{"i-abcdefgh12", "web-01"} }, `instance_ids[1] "web-01" is not an ECS instance ID`},
		{"id repeat", func(in *RegionInput) { in.InstanceIDs = []string{"i-abcdefgh12", "i-abcdefgh12"} }, `instance_ids[1] "i-abcdefgh12" repeats instance_ids[0]`},
		{"too many ids", func(in *RegionInput) { in.InstanceIDs = make([]string, 5001) }, "instance_ids has 5001 entries, allowed at most 5000"},
		{"zone", func(in *RegionInput) { in.ZoneID = "zone a" }, `zone_id "zone a" is not an ECS zone ID`},
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
			require.Empty(t, m.scans, "no API call before validation")
		})
	}
}
