package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
)

// The tests below walk the paths on which a run used to say its reboots
// were verified when nobody had looked, let its gates pass on no evidence
// or wait for ever, apply a plan into an outage, or book a failing API
// against the instances. Each is judged on the model's record of what the
// run asked for (installs, reboots, releases, ledger writes).

// accountError is an error no call with these credentials can overcome.
func accountError() error {
	return temporal.NewNonRetryableApplicationError("describe agent status: InvalidAccessKeyId.NotFound: the AccessKey ID does not exist", "InvalidAccessKeyId.NotFound", nil)
}

// unavailable is a failing ECS API: retryable, and still failing when the
// retries run out.
func unavailable() error {
	return temporal.NewApplicationError("describe agent status: ServiceUnavailable: the request has failed due to a temporary failure of the server", "ServiceUnavailable")
}

func (s *regionSuite) lastRelease() guard.ReleaseInput {
	s.fleet.mu.Lock()
	defer s.fleet.mu.Unlock()
	s.Require().NotEmpty(s.fleet.releaseInputs, "the run released the region")
	return s.fleet.releaseInputs[len(s.fleet.releaseInputs)-1]
}

// TestAccountErrorDuringVerifyKeepsTheReboots: the agent status polls meet
// an account-level error after the reboots were sent. The run stops with
// it, and tells the guard its reboots are not verified, so the guard keeps
// them for the next holder to verify instead of forgetting them.
func (s *regionSuite) TestAccountErrorDuringVerifyKeepsTheReboots() {
	for i := range 40 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	s.fleet.afterReboot = func(m *fleetModel, _ []string) { m.failPoll = accountError() }
	in := quick("cn-hangzhou")
	in.BlastRadius = "20"
	s.env.ExecuteWorkflow(RemediateRegion, in)
	s.Require().Error(s.env.GetWorkflowError())
	s.Len(s.fleet.rebootedIDs(), 20, "one batch rebooted before the polls failed")
	s.False(s.lastRelease().Verified, "nobody read the agents of the rebooted instances")
}

// TestCancelDuringInheritedWaitKeepsTheReboots: a run that took the region
// over waits out more reboots of a closed run than it can verify; it is
// cancelled during that wait. Those reboots were neither verified nor
// waited out: the release must leave them to the next holder.
func (s *regionSuite) TestCancelDuringInheritedWaitKeepsTheReboots() {
	for i := range 30 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	closed := "fleetmend/cn-hangzhou/closed"
	s.fleet.grant = func(guard.AcquireInput) guard.AcquireResult {
		return guard.AcquireResult{Granted: true, TookOver: closed, FirstBatch: 40,
			Inherit: []guard.RebootRef{{WorkflowID: closed, Batches: guard.BatchRange{From: 1, To: 39}, VerifyDeadline: time.Hour}}}
	}
	s.fleet.inherited = guard.InheritResult{Over: true, NotBefore: s.env.Now().Add(time.Hour), Batches: 39}
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 10*time.Minute)
	s.env.ExecuteWorkflow(RemediateRegion, quick("cn-hangzhou"))
	s.Require().Error(s.env.GetWorkflowError(), "cancelled")
	s.Empty(s.fleet.installedIDs(), "nothing is repaired while another run's reboots are waited out")
	s.False(s.lastRelease().Verified, "cancelled in the wait: those reboots are the next holder's to verify")
}

// TestInheritThatCannotBeReadKeepsTheReboots: reading back what a closed
// run rebooted fails; the run fails, and does not tell the guard those
// reboots were verified.
func (s *regionSuite) TestInheritThatCannotBeReadKeepsTheReboots() {
	for i := range 10 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	closed := "fleetmend/cn-hangzhou/closed"
	s.fleet.grant = func(guard.AcquireInput) guard.AcquireResult {
		return guard.AcquireResult{Granted: true, TookOver: closed, FirstBatch: 2,
			Inherit: []guard.RebootRef{{WorkflowID: closed, Batches: guard.BatchRange{From: 1, To: 1}, VerifyDeadline: time.Hour}}}
	}
	s.fleet.failInherit = temporal.NewNonRetryableApplicationError("decode the input of batch-1", "fleetmend.GuardRefused", nil)
	s.env.ExecuteWorkflow(RemediateRegion, quick("cn-hangzhou"))
	s.Require().Error(s.env.GetWorkflowError())
	s.Empty(s.fleet.installedIDs())
	s.False(s.lastRelease().Verified)
}

// TestVerifiedRunReleasesVerified is the control: a run whose every
// reboot a poll decided says so.
func (s *regionSuite) TestVerifiedRunReleasesVerified() {
	for i := range 30 {
		s.fleet.add(i, ecs.StateRunning, false, false).installFails = i%10 == 0
	}
	in := quick("cn-hangzhou")
	in.ErrorBudget = "100%"
	rep := s.run(in)
	s.Equal(27, rep.Counts.Remediated)
	s.Equal(3, rep.Counts.NoHeartbeat)
	s.True(s.lastRelease().Verified)
}

// TestCanaryEndsWhenThePollsFailForGood: the agent status polls fail from
// the canary's first reboot on, for good. The canary's instances are
// decided unverified a minute past their deadline, the gate is asked, and
// the run stops and frees the region: nothing beyond the canary is
// touched, and the run ends within the verify deadline, the grace and one
// failed poll.
func (s *regionSuite) TestCanaryEndsWhenThePollsFailForGood() {
	for i := range 100 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	s.fleet.afterReboot = func(m *fleetModel, _ []string) { m.failPoll = unavailable() }
	s.env.SetTestTimeout(time.Minute)
	in := withCanary()
	in.ErrorBudget = "100%"
	start := s.env.Now()
	rep := s.run(in)
	s.Len(s.fleet.installedIDs(), 20, "the canary only")
	s.Len(s.fleet.rebootedIDs(), 20)
	s.Contains(rep.Stopped, "canary inconclusive")
	s.Equal(20, rep.Counts.Unverified)
	s.Equal(80, rep.Counts.NotAttempted)
	bound := in.VerifyDeadline.D() + time.Minute + 2*time.Minute // the reboot's batch, the grace, a failed poll
	s.Less(rep.FinishedAt.Sub(start), bound+in.RebootGrace.D())
	s.False(s.lastRelease().Verified, "nobody read the canary's agents")
	s.Require().Len(rep.Waves, 1)
	s.False(rep.Waves[0].Passed)
}

// TestWaveOfNeutralInstancesDoesNotPass: every instance of the canary
// vanishes after its reboot. Nothing shows whether the repair works, so the
// ramp must not widen on it: the run stops, inconclusive.
func (s *regionSuite) TestWaveOfNeutralInstancesDoesNotPass() {
	for i := range 100 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	s.fleet.afterReboot = func(m *fleetModel, ids []string) {
		for _, id := range ids {
			m.byID[id].gone = true
		}
	}
	in := withCanary()
	in.ErrorBudget = "100%"
	rep := s.run(in)
	s.Len(s.fleet.installedIDs(), 20, "the canary only: a wave without evidence does not pass")
	s.Contains(rep.Stopped, "canary inconclusive: only 0 of its 20 instances")
	s.Equal(20, rep.Counts.Vanished)
	s.Require().Len(rep.Waves, 1)
	s.False(rep.Waves[0].Passed)
}

// TestApplyObeysTheShortCircuit: a plan reviewed when the region was
// healthy is applied after most of its agents went silent (an outage the
// plan's instances alone do not show). The apply measures the region and
// stops before it touches anything, as any run would.
func (s *regionSuite) TestApplyObeysTheShortCircuit() {
	for i := range 100 {
		s.fleet.add(i, ecs.StateRunning, i >= 70, true)
	}
	in := quick("cn-hangzhou")
	in.MaxUnhealthyPercent = 50
	for i := range 10 {
		in.InstanceIDs = append(in.InstanceIDs, modelID(i))
	}
	in.Plan = &PlanInput{WorkflowID: "fleetmend/cn-hangzhou/dryrun", PlannedAt: s.env.Now(), Batches: []int{10},
		MaxAge: Duration(time.Hour), MaxDriftPercent: 10}
	rep := s.run(in)
	s.Empty(s.fleet.installedIDs(), "nothing installed into an outage")
	s.Empty(s.fleet.rebootedIDs())
	s.Contains(rep.Stopped, "short-circuited: 70% of the Running instances of cn-hangzhou (70 of 100)")
	s.Equal(10, rep.Counts.NotAttempted)
	for _, r := range rep.Rows {
		s.Equal(ReasonShortCircuit, r.Reason, "%+v", r)
	}

	// The override is the same flag, with a reason: it lets this apply go ahead.
	env := s.NewTestWorkflowEnvironment()
	m := newFleetModel()
	m.wire(env)
	for i := range 100 {
		m.add(i, ecs.StateRunning, i >= 70, true)
	}
	in.OverrideMaxUnhealthy = "INC-42: the outage is the agents, repair the planned ones"
	env.ExecuteWorkflow(RemediateRegion, in)
	s.Require().NoError(env.GetWorkflowError())
	var over Report
	s.Require().NoError(env.GetWorkflowResult(&over))
	s.Equal(10, over.Counts.Remediated)
	s.Len(m.installedIDs(), 10)
}

// TestThrottledInstallIsTheAPIsFault: InstallCloudAssistant is throttled
// for longer than the install's retries. That is the API's fault: the
// instances are api-error, nothing goes into the ledger, the canary is not
// failed, the budget is not spent, and the run stops starting batches.
func (s *regionSuite) TestThrottledInstallIsTheAPIsFault() {
	for i := range 100 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	s.fleet.failInst = temporal.NewApplicationError("install agent: Throttling.User: request was denied due to user flow control", "Throttling.User")
	in := withCanary()
	rep := s.run(in)
	s.Equal(20, rep.Counts.APIError, "%+v", rep.Counts)
	s.Zero(rep.Counts.InstallFailed)
	s.Zero(rep.Counts.BudgetFailures())
	s.Contains(rep.Stopped, "the ECS API kept failing")
	s.NotContains(rep.Stopped, "canary failed")
	for _, w := range rep.Waves {
		s.True(w.Passed, "no wave failed on the API's fault: %+v", w)
	}
	for _, r := range s.fleet.records {
		s.Empty(r.Failed, "no ledger entry for the API's fault")
	}
}

// TestUnansweredAtTheDeadlineIsUnverified: ECS's answers leave a rebooted
// instance out from its reboot on. At its deadline nobody has read its
// agent: it is unverified (after the grace), never no-heartbeat, and goes
// into no ledger.
func (s *regionSuite) TestUnansweredAtTheDeadlineIsUnverified() {
	for i := range 10 {
		s.fleet.add(i, ecs.StateRunning, false, false).installFails = true
	}
	s.fleet.unknown = map[string]bool{}
	s.fleet.afterReboot = func(m *fleetModel, ids []string) {
		for _, id := range ids {
			m.unknown[id] = true
		}
	}
	in := quick("cn-hangzhou")
	in.ErrorBudget = "100%"
	rep := s.run(in)
	s.Len(s.fleet.rebootedIDs(), 10)
	s.Equal(10, rep.Counts.Unverified, "%+v", rep.Counts)
	s.Zero(rep.Counts.NoHeartbeat)
	for _, r := range s.fleet.records {
		s.Empty(r.Failed, "no ledger entry for what nobody read")
	}
	s.False(s.lastRelease().Verified)
}
