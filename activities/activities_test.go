package activities_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/logging"
)

const region = "cn-hangzhou"

type fixture struct {
	sim   *ecssim.Sim
	clock *ecssim.ManualClock
	acts  *activities.Activities
	// afterAction, when set, runs after the simulator answered a request
	// for that action: a way to change the world between two API calls.
	mu          sync.Mutex
	afterAction map[string]func()
	intents     *recordedIntents
}

// recordedIntents is an IntentRecorder that keeps every intent it was given.
type recordedIntents struct {
	mu      sync.Mutex
	details []any
}

func (r *recordedIntents) RecordIntent(_ context.Context, d any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.details = append(r.details, d)
	return nil
}

func (r *recordedIntents) all() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]any(nil), r.details...)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := ecssim.NewManualClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	sim, err := ecssim.New(ecssim.Config{Clock: clock, Seed: 3})
	require.NoError(t, err)
	f := &fixture{sim: sim, clock: clock, afterAction: map[string]func(){}, intents: &recordedIntents{}}
	h := sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		f.mu.Lock()
		hook := f.afterAction[r.URL.Query().Get("Action")]
		f.mu.Unlock()
		if hook != nil {
			hook()
		}
	}))
	t.Cleanup(srv.Close)
	regions, err := ecs.NewRegions(ecs.Config{
		Endpoint: strings.TrimPrefix(srv.URL, "http://"), Scheme: "HTTP",
		Credentials: &ecs.StaticCredentials{AccessKeyID: ecssim.DefaultAccessKeyID, AccessKeySecret: ecssim.DefaultAccessKeySecret},
	}, nil)
	require.NoError(t, err)
	f.acts = &activities.Activities{Regions: regions, Intents: f.intents}
	return f
}

func (f *fixture) on(action string, fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.afterAction[action] = fn
}

func (f *fixture) add(t *testing.T, spec ecssim.InstanceSpec) string {
	t.Helper()
	id, err := f.sim.AddInstance(spec)
	require.NoError(t, err)
	return id
}

func (f *fixture) truth(t *testing.T, id string) ecssim.InstanceTruth {
	t.Helper()
	tr, ok := f.sim.Instance(id)
	require.True(t, ok)
	return tr
}

func (f *fixture) env() *testsuite.TestActivityEnvironment {
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(logging.NewTemporal(zap.NewNop()))
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	return env
}

func TestScanPageClassifiesAndSurvivesAVanishingInstance(t *testing.T) {
	f := newFixture(t)
	healthy := f.add(t, ecssim.InstanceSpec{AgentInstalled: true})
	missing := f.add(t, ecssim.InstanceSpec{})
	silent := f.add(t, ecssim.InstanceSpec{AgentInstalled: true, AgentSilent: true, LastHeartbeat: f.clock.Now().Add(-time.Hour)})
	stopped := f.add(t, ecssim.InstanceSpec{State: "Stopped"})
	doomed := f.add(t, ecssim.InstanceSpec{})
	// The instance vanishes after the page was listed and before its agent
	// status is asked: ECS then fails the whole agent call with 404.
	var once sync.Once
	f.on(ecs.ActionDescribeInstanceStatus, func() { once.Do(func() { require.NoError(t, f.sim.Vanish(doomed)) }) })

	v, err := f.env().ExecuteActivity(f.acts.ScanPage, activities.ScanInput{Region: region, PageNumber: 1, PageSize: 50})
	require.NoError(t, err)
	var res activities.ScanResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, 5, res.TotalCount, "listed before the vanish")
	got := map[string]activities.Facts{}
	for _, fa := range res.Instances {
		got[fa.InstanceID] = fa
	}
	require.NotContains(t, got, doomed)
	require.Len(t, got, 4)
	require.True(t, got[healthy].Healthy)
	require.False(t, got[missing].Healthy)
	require.True(t, got[missing].LastHeartbeat.IsZero())
	require.False(t, got[silent].Healthy)
	require.Equal(t, f.clock.Now().Add(-time.Hour), got[silent].LastHeartbeat)
	require.Equal(t, ecs.StateStopped, got[stopped].State)
	calls := f.sim.Truth().Actions[ecs.ActionDescribeCloudAssistantStatus]
	require.Equal(t, 2, calls.Calls, "one failed call with the vanished instance, one without it")
}

func TestInstallIsolatesVanishedAndStoppedInstances(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for range 5 {
		ids = append(ids, f.add(t, ecssim.InstanceSpec{}))
	}
	require.NoError(t, f.sim.SetState(ids[1], "Stopped"))
	require.NoError(t, f.sim.Vanish(ids[3]))

	v, err := f.env().ExecuteActivity(f.acts.InstallAgents, activities.InstallInput{Region: region, InstanceIDs: ids})
	require.NoError(t, err)
	var res activities.InstallResult
	require.NoError(t, v.Get(&res))
	require.ElementsMatch(t, []string{ids[0], ids[2], ids[4]}, res.Installed)
	require.Len(t, res.Rejected, 2)
	for _, r := range res.Rejected {
		switch r.InstanceID {
		case ids[1]:
			require.Equal(t, ecs.StateStopped, r.State)
			require.False(t, r.Vanished)
		case ids[3]:
			require.True(t, r.Vanished)
		default:
			t.Fatalf("unexpected rejection %+v", r)
		}
	}
	for _, i := range []int{0, 2, 4} {
		require.Equal(t, 1, f.truth(t, ids[i]).Installs)
	}
	require.Zero(t, f.truth(t, ids[1]).Installs)
	require.Equal(t, 1, res.Calls, "the re-check right before the call left them out")
	require.Zero(t, f.sim.Truth().Actions[ecs.ActionInstallCloudAssistant].Errors, "no call was refused")
}

// TestInstallIsolatesAnInstanceThatStopsBetweenCheckAndCall: the instance
// stops after the re-check and ECS refuses the whole call; the next
// round's re-check finds it and installs on the rest.
func TestInstallIsolatesAnInstanceThatStopsBetweenCheckAndCall(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for range 4 {
		ids = append(ids, f.add(t, ecssim.InstanceSpec{}))
	}
	require.NoError(t, f.sim.AddHook(ecssim.Hook{Action: ecs.ActionInstallCloudAssistant, InstanceID: ids[2], StopInstance: true}))
	v, err := f.env().ExecuteActivity(f.acts.InstallAgents, activities.InstallInput{Region: region, InstanceIDs: ids})
	require.NoError(t, err)
	var res activities.InstallResult
	require.NoError(t, v.Get(&res))
	require.ElementsMatch(t, []string{ids[0], ids[1], ids[3]}, res.Installed)
	require.Len(t, res.Rejected, 1)
	require.Equal(t, ids[2], res.Rejected[0].InstanceID)
	require.Zero(t, f.truth(t, ids[2]).Installs)
	require.Equal(t, 2, res.Calls, "one refused call, one for the rest")
}

// TestInstallRechecksAcrossRetries: an instance recovers right before the
// install call, which fails (a 503) and is retried: the retry's re-check
// sees the healthy agent and leaves it alone.
func TestInstallRechecksAcrossRetries(t *testing.T) {
	f := newFixture(t)
	recovers := f.add(t, ecssim.InstanceSpec{AgentInstalled: true, AgentSilent: true, LastHeartbeat: f.clock.Now().Add(-time.Hour)})
	other := f.add(t, ecssim.InstanceSpec{})
	require.NoError(t, f.sim.AddHook(ecssim.Hook{Action: ecs.ActionInstallCloudAssistant, InstanceID: recovers, HealAgent: true, FailCode: "ServiceUnavailable"}))
	in := activities.InstallInput{Region: region, InstanceIDs: []string{recovers, other}}
	_, err := f.env().ExecuteActivity(f.acts.InstallAgents, in)
	require.ErrorContains(t, err, "ServiceUnavailable", "the first attempt fails and Temporal retries it")
	v, err := f.env().ExecuteActivity(f.acts.InstallAgents, in)
	require.NoError(t, err)
	var res activities.InstallResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, []string{other}, res.Installed)
	require.Len(t, res.Rejected, 1)
	require.True(t, res.Rejected[0].Recovered)
	require.Zero(t, f.truth(t, recovers).Installs, "never installed on the recovered instance")
	require.Zero(t, f.truth(t, recovers).InstallsWhileHealthy)
}

// TestUnansweredAgentIsUnknownNotMissing: DescribeCloudAssistantStatus
// leaves an instance out; asked again alone it is left out again: the
// instance is unknown, and neither installed on nor rebooted.
func TestUnansweredAgentIsUnknownNotMissing(t *testing.T) {
	f := newFixture(t)
	omitted := f.add(t, ecssim.InstanceSpec{})
	other := f.add(t, ecssim.InstanceSpec{})
	require.NoError(t, f.sim.SetFaults(ecssim.Faults{OmitIDs: []string{omitted}, Actions: []string{ecs.ActionDescribeCloudAssistantStatus}}))
	v, err := f.env().ExecuteActivity(f.acts.CheckInstances, activities.CheckInput{Region: region, InstanceIDs: []string{omitted, other}})
	require.NoError(t, err)
	var check activities.CheckResult
	require.NoError(t, v.Get(&check))
	require.True(t, check.Instances[0].Unknown)
	require.False(t, check.Instances[0].Actionable())
	require.True(t, check.Instances[1].Actionable())

	v, err = f.env().ExecuteActivity(f.acts.InstallAgents, activities.InstallInput{Region: region, InstanceIDs: []string{omitted, other}})
	require.NoError(t, err)
	var res activities.InstallResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, []string{other}, res.Installed)
	require.True(t, res.Rejected[0].Unknown)
	v, err = f.env().ExecuteActivity(f.acts.RebootIfStillUnhealthy, activities.RebootInput{Region: region, InstanceIDs: []string{omitted, other}})
	require.NoError(t, err)
	var out activities.RebootOutcome
	require.NoError(t, v.Get(&out))
	require.Equal(t, []string{other}, out.Rebooted)
	require.Zero(t, f.truth(t, omitted).Installs)
	require.Zero(t, f.truth(t, omitted).Reboots)
}

// TestRandomlyOmittedAgentIsAskedAgainAlone: an answer that leaves an
// instance out once is not a verdict; asked alone, it is answered.
func TestRandomlyOmittedAgentIsAskedAgainAlone(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for range 30 {
		ids = append(ids, f.add(t, ecssim.InstanceSpec{}))
	}
	require.NoError(t, f.sim.SetFaults(ecssim.Faults{OmitRate: 0.2, Seed: 7, Actions: []string{ecs.ActionDescribeCloudAssistantStatus}}))
	v, err := f.env().ExecuteActivity(f.acts.CheckInstances, activities.CheckInput{Region: region, InstanceIDs: ids})
	require.NoError(t, err)
	var check activities.CheckResult
	require.NoError(t, v.Get(&check))
	unknown := 0
	for _, in := range check.Instances {
		if in.Unknown {
			unknown++
		}
	}
	calls := f.sim.Truth().Actions[ecs.ActionDescribeCloudAssistantStatus].Calls
	require.Greater(t, calls, 1, "left-out instances were asked about again")
	require.Less(t, unknown, 6, "most left-out instances are answered when asked alone (each is left out with p=0.2)")
}

func TestInstallRejectsMoreThanTwenty(t *testing.T) {
	f := newFixture(t)
	ids := make([]string, 21)
	for i := range ids {
		ids[i] = f.add(t, ecssim.InstanceSpec{})
	}
	_, err := f.env().ExecuteActivity(f.acts.InstallAgents, activities.InstallInput{Region: region, InstanceIDs: ids})
	require.ErrorContains(t, err, "21 InstanceIDs, allowed range is 1..20")
	require.Zero(t, f.sim.Truth().Actions[ecs.ActionInstallCloudAssistant].Calls)
}

func TestRebootOnlyRunningAndStillUnhealthy(t *testing.T) {
	f := newFixture(t)
	healthy := f.add(t, ecssim.InstanceSpec{AgentInstalled: true})
	unhealthy := f.add(t, ecssim.InstanceSpec{})
	stopped := f.add(t, ecssim.InstanceSpec{State: "Stopped"})

	v, err := f.env().ExecuteActivity(f.acts.RebootIfStillUnhealthy, activities.RebootInput{Region: region, InstanceIDs: []string{healthy, unhealthy, stopped}})
	require.NoError(t, err)
	var out activities.RebootOutcome
	require.NoError(t, v.Get(&out))
	require.Equal(t, []string{unhealthy}, out.Rebooted)
	require.Equal(t, []string{healthy}, out.Healthy)
	require.Len(t, out.Rejected, 1)
	require.Equal(t, stopped, out.Rejected[0].InstanceID)
	require.Equal(t, 1, f.truth(t, unhealthy).Reboots)
	require.Zero(t, f.truth(t, healthy).Reboots)
	require.Zero(t, f.truth(t, stopped).Reboots)
	require.Zero(t, f.truth(t, healthy).RebootsWhileHealthy)
	intents := f.intents.all()
	require.Len(t, intents, 2, "the intent is stored before the reboot call, and what ECS confirmed after it")
}

// TestRetriedRebootNeverRebootsTwice plays a worker that died after the
// reboot call: the retry gets the stored intent as heartbeat details and
// finds the instance Running again with its agent still down (its install
// never takes effect). Without the intent it would reboot it a second time.
func TestRetriedRebootNeverRebootsTwice(t *testing.T) {
	f := newFixture(t)
	broken := f.add(t, ecssim.InstanceSpec{InstallAlwaysFails: true})
	other := f.add(t, ecssim.InstanceSpec{})
	in := activities.RebootInput{Region: region, InstanceIDs: []string{broken}}

	_, err := f.env().ExecuteActivity(f.acts.RebootIfStillUnhealthy, in)
	require.NoError(t, err)
	require.Equal(t, 1, f.truth(t, broken).Reboots)

	_, err = f.sim.AdvanceClock(5 * time.Minute)
	require.NoError(t, err)
	require.Equal(t, "Running", f.truth(t, broken).State)
	require.False(t, f.truth(t, broken).AgentHealthy)

	intents := f.intents.all()
	require.Len(t, intents, 2, "the intent before the call, then what ECS confirmed")

	// The retry: the same activity with the confirmed intent as heartbeat details.
	retry := f.env()
	retry.SetHeartbeatDetails(intents[1])
	v, err := retry.ExecuteActivity(f.acts.RebootIfStillUnhealthy, activities.RebootInput{Region: region, InstanceIDs: []string{broken, other}})
	require.NoError(t, err)
	var out activities.RebootOutcome
	require.NoError(t, v.Get(&out))
	require.ElementsMatch(t, []string{broken, other}, out.Rebooted)
	require.Empty(t, out.Unconfirmed)
	require.Equal(t, 1, f.truth(t, broken).Reboots, "not rebooted twice")
	require.Equal(t, 1, f.truth(t, other).Reboots, "an instance the earlier attempt did not touch is rebooted")
}

// TestRetryAfterDeathBeforeTheAnswer plays a worker that died after storing
// its intent and before hearing ECS, with an intent that has no boot marks
// (as one stored before marks existed). Where the instance is on its way
// down the reboot evidently landed; where it is Running and unhealthy it
// may never have been sent, but without a mark rebooting it could be a
// second reboot, so it is reported unconfirmed and left alone.
func TestRetryAfterDeathBeforeTheAnswer(t *testing.T) {
	f := newFixture(t)
	landed := f.add(t, ecssim.InstanceSpec{})
	lost := f.add(t, ecssim.InstanceSpec{})

	// The first attempt reboots landed; its pre-call intent is what the
	// server holds if the worker dies before the answer arrives.
	_, err := f.env().ExecuteActivity(f.acts.RebootIfStillUnhealthy, activities.RebootInput{Region: region, InstanceIDs: []string{landed}})
	require.NoError(t, err)
	require.Equal(t, "Stopping", f.truth(t, landed).State)
	// lost's reboot was never sent: only the intent names it.
	retry := f.env()
	retry.SetHeartbeatDetails(map[string]any{"attempted": []string{landed, lost}})
	v, err := retry.ExecuteActivity(f.acts.RebootIfStillUnhealthy, activities.RebootInput{Region: region, InstanceIDs: []string{landed, lost}})
	require.NoError(t, err)
	var out activities.RebootOutcome
	require.NoError(t, v.Get(&out))
	require.Equal(t, []string{landed}, out.Rebooted)
	require.Equal(t, []string{lost}, out.Unconfirmed)
	require.Equal(t, 1, f.truth(t, landed).Reboots, "not rebooted twice")
	require.Zero(t, f.truth(t, lost).Reboots, "an unconfirmed reboot is never sent again")
}

// TestRetryNeverSendsARebootAgain: an earlier attempt died between
// storing its intent (with boot marks) and hearing ECS, for three
// instances: one whose reboot never reached ECS (Running, StartTime
// unchanged), one whose reboot landed and is over (Running, started since
// the mark) and one that had started in the mark's own minute. Only the
// second is evidence of a reboot; the documents do not say that a Running
// instance with an unchanged StartTime was not rebooted, so neither of the
// others is rebooted again: they are unconfirmed, verified like any other,
// and repaired by the next run if their agent stays silent. The
// simulator's count of reboots is the judge.
func TestRetryNeverSendsARebootAgain(t *testing.T) {
	f := newFixture(t)
	lost := f.add(t, ecssim.InstanceSpec{})
	done := f.add(t, ecssim.InstanceSpec{})
	_, err := f.sim.AdvanceClock(3 * time.Minute)
	require.NoError(t, err)
	fresh := f.add(t, ecssim.InstanceSpec{})
	_, err = f.sim.AdvanceClock(10 * time.Second)
	require.NoError(t, err)

	// The marks, as the first attempt read them right before its call.
	seen := f.clock.Now().Truncate(time.Second)
	mark := func(id string) map[string]any {
		return map[string]any{"start_time": f.truth(t, id).BootedAt.Truncate(time.Minute), "seen": seen}
	}
	marks := map[string]any{lost: mark(lost), done: mark(done), fresh: mark(fresh)}
	// done's reboot reached ECS and is over before the retry looks.
	_, err = f.env().ExecuteActivity(f.acts.RebootIfStillUnhealthy, activities.RebootInput{Region: region, InstanceIDs: []string{done}})
	require.NoError(t, err)
	_, err = f.sim.AdvanceClock(5 * time.Minute)
	require.NoError(t, err)
	require.Equal(t, "Running", f.truth(t, done).State)

	retry := f.env()
	retry.SetHeartbeatDetails(map[string]any{"attempted": []string{lost, done, fresh}, "marks": marks})
	v, err := retry.ExecuteActivity(f.acts.RebootIfStillUnhealthy, activities.RebootInput{Region: region, InstanceIDs: []string{lost, done, fresh}})
	require.NoError(t, err)
	var out activities.RebootOutcome
	require.NoError(t, v.Get(&out))
	require.Equal(t, []string{done}, out.Rebooted)
	require.ElementsMatch(t, []string{lost, fresh}, out.Unconfirmed)
	require.Zero(t, f.truth(t, lost).Reboots, "no reboot is sent again on a guess")
	require.Equal(t, 1, f.truth(t, done).Reboots, "a reboot that landed is not sent again")
	require.Zero(t, f.truth(t, fresh).Reboots)
}

// TestOptOutTagIsReadRightBeforeActing: an instance a team tags after the
// scan is neither installed on nor rebooted; the others are.
func TestOptOutTagIsReadRightBeforeActing(t *testing.T) {
	f := newFixture(t)
	tagged := f.add(t, ecssim.InstanceSpec{})
	other := f.add(t, ecssim.InstanceSpec{})
	require.NoError(t, f.sim.SetTag(tagged, "fleetmend:exclude", "team-db"))
	v, err := f.env().ExecuteActivity(f.acts.InstallAgents, activities.InstallInput{Region: region, InstanceIDs: []string{tagged, other}, ExcludeTag: "fleetmend:exclude"})
	require.NoError(t, err)
	var inst activities.InstallResult
	require.NoError(t, v.Get(&inst))
	require.Equal(t, []string{other}, inst.Installed)
	require.Len(t, inst.Rejected, 1)
	require.True(t, inst.Rejected[0].Excluded)
	v, err = f.env().ExecuteActivity(f.acts.RebootIfStillUnhealthy, activities.RebootInput{Region: region, InstanceIDs: []string{tagged, other}, ExcludeTag: "fleetmend:exclude"})
	require.NoError(t, err)
	var out activities.RebootOutcome
	require.NoError(t, v.Get(&out))
	require.Equal(t, []string{other}, out.Rebooted)
	require.Zero(t, f.truth(t, tagged).Installs+f.truth(t, tagged).Reboots, "the tagged instance is never touched")
	require.Equal(t, 1, f.truth(t, other).Reboots)
}

func TestRefusedRebootCallWithdrawsItsIntent(t *testing.T) {
	f := newFixture(t)
	id := f.add(t, ecssim.InstanceSpec{})
	require.NoError(t, f.sim.SetFaults(ecssim.Faults{ErrorRate: 1, Actions: []string{ecs.ActionRebootInstances}}))
	_, err := f.env().ExecuteActivity(f.acts.RebootIfStillUnhealthy, activities.RebootInput{Region: region, InstanceIDs: []string{id}})
	require.ErrorContains(t, err, "ServiceUnavailable")
	require.Zero(t, f.truth(t, id).Reboots)
	intents := f.intents.all()
	require.Len(t, intents, 2, "intent stored, then withdrawn")
	b, err := converter.GetDefaultDataConverter().ToPayloads(intents[1])
	require.NoError(t, err)
	require.NotContains(t, b.String(), id, "the withdrawn intent no longer names the instance")
}

func TestVerifyWaitsForFreshHeartbeatOrDeadline(t *testing.T) {
	f := newFixture(t)
	good := f.add(t, ecssim.InstanceSpec{})
	bad := f.add(t, ecssim.InstanceSpec{InstallAlwaysFails: true})
	gone := f.add(t, ecssim.InstanceSpec{})
	ctx := context.Background()
	c, err := f.acts.Regions.Client(region)
	require.NoError(t, err)
	_, err = c.InstallAgent(ctx, []string{good, bad})
	require.NoError(t, err)
	_, err = c.RebootInstances(ctx, []string{good, bad}, false)
	require.NoError(t, err)
	require.NoError(t, f.sim.Vanish(gone))
	// Booted, agent up on the good one; the bad one never gets an agent.
	_, err = f.sim.AdvanceClock(time.Minute)
	require.NoError(t, err)

	v, err := f.env().ExecuteActivity(f.acts.VerifyAgents, activities.VerifyInput{
		Region: region, InstanceIDs: []string{good, bad, gone},
		Deadline: time.Now().Add(300 * time.Millisecond), PollInterval: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	var res activities.VerifyResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, []string{good}, res.Healthy)
	require.Equal(t, []string{gone}, res.Vanished)
	require.Len(t, res.Unhealthy, 1)
	require.Equal(t, bad, res.Unhealthy[0].InstanceID)
	require.Equal(t, ecs.StateRunning, res.Unhealthy[0].State)
	require.GreaterOrEqual(t, res.Polls, 2, "kept polling until the deadline")
}

// TestFailedSegmentResumesFromItsLastCompletedPage: with a fifth of the
// listing and lookup calls failing, a segment ends at the first failure
// with what the pages before it found, and the next segment goes on from
// there: every instance is classified exactly once over the whole chain,
// and the calls stay near the minimum (a failed call costs itself and the
// page it was for, not the whole segment).
func TestFailedSegmentResumesFromItsLastCompletedPage(t *testing.T) {
	f := newFixture(t)
	const n = 1000
	for range n {
		f.add(t, ecssim.InstanceSpec{})
	}
	require.NoError(t, f.sim.SetFaults(ecssim.Faults{ErrorRate: 0.2, Actions: []string{ecs.ActionDescribeCloudAssistantStatus, ecs.ActionDescribeInstances}}))
	seen := map[string]int{}
	token, segments, partial, failed, calls := "", 0, 0, 0, 0
	for segments = 1; segments < 200; segments++ {
		v, err := f.env().ExecuteActivity(f.acts.ScanSegment, activities.SegmentInput{Region: region, OSType: ecs.OSLinux, NextToken: token, MaxPages: 100})
		if err != nil {
			failed++ // nothing finished: the workflow retries it with backoff
			continue
		}
		var res activities.SegmentResult
		require.NoError(t, v.Get(&res))
		calls += res.Calls
		if res.Interrupted != "" {
			partial++
		}
		for _, c := range res.Candidates {
			seen[c.ID]++
		}
		if res.Done {
			break
		}
		require.NotEqual(t, token, res.NextToken, "a kept segment moves on")
		token = res.NextToken
	}
	require.Len(t, seen, n, "every instance found")
	for id, k := range seen {
		require.Equal(t, 1, k, "%s classified twice", id)
	}
	require.Positive(t, partial, "some segments ended early and were resumed")
	minimum := n/ecs.MaxPageSize + n/ecs.MaxDescribeInstancesIDs
	t.Logf("%d segments (%d ended early, %d attempts failed whole), %d calls in kept segments for a minimum of %d", segments, partial, failed, calls, minimum)
	require.Less(t, calls, 2*minimum, "far from reading every segment again")
}
