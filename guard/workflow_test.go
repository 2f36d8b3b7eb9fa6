package guard

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
)

// modelID is a test instance ID.
func modelID(n int) string { return fmt.Sprintf("i-test%08d", n) }

// quietLogger drops the workflow logs of the guard tests.
func quietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// guardSteps sends updates to a guard one second apart and checks each
// answer; after the last, check runs on the guard's state and the guard is
// cancelled. Every update must be answered.
func guardSteps(t *testing.T, env *testsuite.TestWorkflowEnvironment, start State, steps []guardStep, check func(State)) {
	t.Helper()
	answered := 0
	for i, st := range steps {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(st.name, st.id, &testsuite.TestUpdateCallback{
				OnAccept:   func() {},
				OnReject:   func(err error) { answered++; st.want(nil, err) },
				OnComplete: func(v any, err error) { answered++; st.want(v, err) },
			}, st.arg)
		}, time.Duration(i+1)*time.Second)
	}
	checked := false
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryState)
		require.NoError(t, err)
		var st State
		require.NoError(t, v.Get(&st))
		check(st)
		checked = true
		env.CancelWorkflow()
	}, time.Duration(len(steps)+1)*time.Second)
	env.ExecuteWorkflow(RegionGuard, start)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, len(steps), answered, "every update was answered")
	require.True(t, checked)
}

type guardStep struct {
	name, id string
	arg      any
	want     func(any, error)
}

func granted(t *testing.T, want bool, holder string, more ...func(AcquireResult)) func(any, error) {
	return func(v any, err error) {
		require.NoError(t, err)
		res := v.(AcquireResult)
		require.Equal(t, want, res.Granted, "%+v", res)
		require.Equal(t, holder, res.Holder.WorkflowID)
		for _, m := range more {
			m(res)
		}
	}
}

func fenced(t *testing.T, ok bool, reason string) func(any, error) {
	return func(v any, err error) {
		require.NoError(t, err)
		res := v.(FenceResult)
		require.Equal(t, ok, res.OK, "%+v", res)
		require.Contains(t, res.Reason, reason)
	}
}

// TestGuardHandsOverWhatAClosedHolderLeft: the holder's fences tell the
// guard its batches (a continue-as-new successor goes on, a reset copy
// that would start a known batch again is refused); a takeover hands the
// next holder the batches to verify first; a verified release clears
// them; a new run under a used workflow ID numbers its batches after the
// old ones.
func TestGuardHandsOverWhatAClosedHolderLeft(t *testing.T) {
	env := guardEnv(t, RecoverResult{})
	deadline := 10 * time.Minute
	a := AcquireRequest{WorkflowID: "run-a", Execution: "a1", VerifyDeadline: deadline}
	steps := []guardStep{
		{name: UpdateAcquire, arg: a, want: granted(t, true, "run-a", func(r AcquireResult) {
			require.Equal(t, 1, r.FirstBatch)
			require.Empty(t, r.Inherit)
		})},
		{name: UpdateFence, arg: FenceRequest{WorkflowID: "run-a", Execution: "a1", Current: "a1", Batches: BatchRange{From: 1, To: 5}}, want: fenced(t, true, "")},
		{name: UpdateFence, arg: FenceRequest{WorkflowID: "run-a", Execution: "a1", Current: "a2", Batches: BatchRange{From: 3, To: 8}}, want: fenced(t, true, "")},
		{name: UpdateFence, arg: FenceRequest{WorkflowID: "run-a", Execution: "a1", Current: "a3", Batches: BatchRange{From: 1, To: 4}}, want: fenced(t, false, "would start batch 4 again")},
		{name: UpdateFence, arg: FenceRequest{WorkflowID: "run-b", Execution: "b1", Current: "b1", Batches: BatchRange{From: 1, To: 1}}, want: fenced(t, false, "held by run-a")},
		{name: UpdateAcquire, arg: AcquireRequest{WorkflowID: "run-b", Execution: "b1"}, want: granted(t, false, "run-a", func(r AcquireResult) {
			require.Equal(t, BatchRange{From: 3, To: 8}, r.Holder.Batches, "the batches a takeover waits for")
			require.Equal(t, "a2", r.Holder.Current)
		})},
		{name: UpdateAcquire, arg: AcquireRequest{WorkflowID: "run-b", Execution: "b1", TakeoverFrom: "a-other"}, want: granted(t, false, "run-a")},
		{name: UpdateAcquire, arg: AcquireRequest{WorkflowID: "run-b", Execution: "b1", TakeoverFrom: "a1", VerifyDeadline: deadline}, want: granted(t, true, "run-b", func(r AcquireResult) {
			require.Equal(t, "run-a", r.TookOver)
			require.Len(t, r.Inherit, 1)
			require.Equal(t, "run-a", r.Inherit[0].WorkflowID)
			require.Equal(t, BatchRange{From: 3, To: 8}, r.Inherit[0].Batches)
			require.Equal(t, deadline, r.Inherit[0].VerifyDeadline)
		})},
		{name: UpdateRelease, arg: ReleaseRequest{WorkflowID: "run-b", Execution: "b-other"}, want: func(v any, err error) {
			require.NoError(t, err)
			require.False(t, v.(bool), "another execution of run-b does not hold it")
		}},
		{name: UpdateRelease, arg: ReleaseRequest{WorkflowID: "run-b", Execution: "b1", Verified: true}, want: func(v any, err error) {
			require.NoError(t, err)
			require.True(t, v.(bool))
		}},
		{name: UpdateAcquire, arg: AcquireRequest{WorkflowID: "run-a", Execution: "a9"}, want: granted(t, true, "run-a", func(r AcquireResult) {
			require.Empty(t, r.Inherit, "run-b verified everything it inherited")
			require.Equal(t, 9, r.FirstBatch, "after the batches run-a's earlier execution started")
		})},
	}
	guardSteps(t, env, State{Region: "cn-hangzhou"}, steps, func(st State) {
		require.Equal(t, "a9", st.Holder.Execution)
		require.Contains(t, strings.Join(st.Log, "\n"), "run-b took the region over from run-a")
	})
}

// TestGuardRecoversWhatTheGuardBeforeItKnew: a guard started anew takes
// the state the previous guard run answered, and an open run that says it
// holds the region, before it grants anything; updates sent meanwhile wait.
func TestGuardRecoversWhatTheGuardBeforeItKnew(t *testing.T) {
	at := time.Now().UTC().Add(-time.Hour)
	prev := State{Region: "cn-hangzhou", Holder: &Holder{WorkflowID: "run-x", Execution: "x1", Current: "x1"},
		Ledger: []LedgerEntry{{InstanceID: modelID(1), Fails: []int64{encodeFail(at, ReasonNoHeartbeat)}, Run: 0}}, Runs: []string{"run-w"}}
	raw, err := json.Marshal(prev)
	require.NoError(t, err)
	t.Run("from the previous guard run", func(t *testing.T) {
		env := guardEnv(t, RecoverResult{From: "g1", FromStatus: "terminated", State: raw})
		guardSteps(t, env, State{Region: "cn-hangzhou"}, []guardStep{
			{name: UpdateAcquire, arg: AcquireRequest{WorkflowID: "run-y", Execution: "y1"}, want: granted(t, false, "run-x")},
		}, func(st State) {
			require.Len(t, st.Ledger, 1)
			require.Contains(t, strings.Join(st.Log, "\n"), "recovered from run g1 (terminated): holder run-x, 1 ledger instances")
		})
	})
	t.Run("from the open runs", func(t *testing.T) {
		env := guardEnv(t, RecoverResult{Lost: "run g1 could not be read: its state is lost",
			Holders: []OpenRun{{WorkflowID: "run-z", Execution: "z1", Current: "z2", Batches: BatchRange{From: 4, To: 6}}}})
		guardSteps(t, env, State{Region: "cn-hangzhou"}, []guardStep{
			{name: UpdateAcquire, arg: AcquireRequest{WorkflowID: "run-y", Execution: "y1"}, want: granted(t, false, "run-z", func(r AcquireResult) {
				require.Equal(t, BatchRange{From: 4, To: 6}, r.Holder.Batches)
			})},
		}, func(st State) {
			log := strings.Join(st.Log, "\n")
			require.Contains(t, log, "lost: run g1 could not be read")
			require.Contains(t, log, "open run run-z holds the region: it keeps it")
		})
	})
}

// TestGuardStateStaysSmallAtItsBounds fills the ledger far past its bound
// (6,000 instances with 20 failures each, then as many with 2): the
// guard's whole state, what continue-as-new carries and a replacing guard
// recovers, stays under Temporal's 512 KB warning, keeps the instances
// that failed last, and answers their failures.
func TestGuardStateStaysSmallAtItsBounds(t *testing.T) {
	for _, fails := range []int{maxFailsKept, 2} {
		t.Run(fmt.Sprintf("%d failures each", fails), func(t *testing.T) {
			env := guardEnv(t, RecoverResult{})
			base := time.Now().UTC().Add(-24 * time.Hour)
			const instances, perUpdate = 6000, 200
			var steps []guardStep
			for u := range instances / perUpdate {
				var req RecordRequest
				req.ID = fmt.Sprintf("fill/%d", u)
				for i := u * perUpdate; i < (u+1)*perUpdate; i++ {
					for f := range fails {
						req.Failed = append(req.Failed, FailedAttempt{InstanceID: modelID(i), Attempt: Attempt{
							WorkflowID: fmt.Sprintf("fleetmend/cn-hangzhou/scheduled-2026-11-%02dT00:00:00Z", 1+u%28),
							At:         base.Add(time.Duration(i)*time.Second + time.Duration(f)*time.Millisecond), Reason: ReasonNoHeartbeat}})
					}
				}
				steps = append(steps, guardStep{name: UpdateRecord, arg: req, want: func(_ any, err error) { require.NoError(t, err) }})
			}
			guardSteps(t, env, State{Region: "cn-hangzhou"}, steps, func(st State) {
				raw, err := json.Marshal(st)
				require.NoError(t, err)
				require.Less(t, len(raw), 512<<10, "the guard's state stays under the 512 KB warning")
				require.Less(t, len(st.Ledger), instances, "the bound pruned the ledger")
				last := st.Ledger[len(st.Ledger)-1]
				require.Equal(t, modelID(instances-1), last.InstanceID, "the instance that failed last is kept")
				require.Len(t, last.Fails, fails)
				t.Logf("%d failures each: %d of %d instances kept, state %d bytes", fails, len(st.Ledger), instances, len(raw))
			})
		})
	}
}

// TestGuardAppliesARecordOnce: the same record update ID (a retried
// activity) records once; a legacy ledger entry still answers.
func TestGuardAppliesARecordOnce(t *testing.T) {
	env := guardEnv(t, RecoverResult{})
	at := time.Now().UTC().Add(-time.Hour)
	req := RecordRequest{ID: "record/r1/1", Failed: []FailedAttempt{
		{InstanceID: modelID(1), Attempt: Attempt{WorkflowID: "r1", At: at, Reason: ReasonInstallFailed}}}}
	ok := func(_ any, err error) { require.NoError(t, err) }
	legacy := State{Region: "cn-hangzhou", Ledger: []LedgerEntry{{InstanceID: modelID(2), Attempts: []Attempt{
		{WorkflowID: "old", At: at, Reason: ReasonNoHeartbeat}, {WorkflowID: "older", At: at.Add(time.Minute), Reason: ReasonNoHeartbeat}}}}}
	guardSteps(t, env, legacy, []guardStep{
		{name: UpdateRecord, arg: req, want: ok},
		{name: UpdateRecord, arg: req, want: ok},
		{name: UpdateRecord, id: "record/r1/1", arg: req, want: ok},
	}, func(st State) {
		g := &guard{st: st}
		v, err := g.view(LedgerQuery{Now: time.Now().UTC(), After: 2, Window: 24 * time.Hour})
		require.NoError(t, err)
		require.Len(t, v.Records, 2)
		require.Len(t, v.Records[0].Attempts, 1, "one attempt however often the update came")
		require.Equal(t, ReasonInstallFailed, v.Records[0].Attempts[0].Reason)
		require.Equal(t, "r1", v.Records[0].Attempts[0].WorkflowID)
		require.True(t, v.Records[1].Quarantined, "the legacy entry's two failures still count")
		require.Equal(t, "older", v.Records[1].Attempts[1].WorkflowID)
	})
}

// TestGuardRefusesABatchNumberUsedBefore: fences that name the first
// number they will start (engine 4) are refused when that number goes
// back (the same execution) or does not pass every number the holder was
// granted (another execution of its chain: a Reset two rounds back, which
// cannot know which of them its predecessor started); a continue-as-new
// successor, which numbers on past what was fenced, goes on.
func TestGuardRefusesABatchNumberUsedBefore(t *testing.T) {
	env := guardEnv(t, RecoverResult{})
	run := "fleetmend/cn-hangzhou/nightly"
	fence := func(current string, from, next, to int) FenceRequest {
		return FenceRequest{WorkflowID: run, Execution: "e1", Current: current, Next: next,
			Batches: BatchRange{From: from, To: to}}
	}
	steps := []guardStep{
		{name: UpdateAcquire, arg: AcquireRequest{WorkflowID: run, Execution: "e1"}, want: granted(t, true, run)},
		// Round 1 registers 1..5 and starts 1..2; round 2 starts at 3.
		{name: UpdateFence, arg: fence("e1", 1, 1, 5), want: fenced(t, true, "")},
		{name: UpdateFence, arg: fence("e1", 1, 3, 4), want: fenced(t, true, "")},
		// The same execution never goes back.
		{name: UpdateFence, arg: fence("e1", 1, 2, 9), want: fenced(t, false, "would start batch 2 again")},
		// A Reset two rounds back: starts at 2, below numbers granted (up to 5).
		{name: UpdateFence, arg: fence("r1", 1, 2, 60), want: fenced(t, false, "batches up to 5 may have been started")},
		// Even one that starts past the last fence's range but not past
		// every number granted.
		{name: UpdateFence, arg: fence("r1", 1, 5, 60), want: fenced(t, false, "batches up to 5 may have been started")},
		// A continue-as-new successor starts after everything fenced.
		{name: UpdateFence, arg: fence("c2", 3, 6, 8), want: fenced(t, true, "")},
	}
	guardSteps(t, env, State{Region: "cn-hangzhou"}, steps, func(st State) {
		require.NotNil(t, st.Holder)
		require.Equal(t, "c2", st.Holder.Current)
		require.Equal(t, 8, st.Holder.Fenced)
		require.Equal(t, 6, st.Holder.Next)
	})
}

// TestGuardGrantsOneRunAtATime drives the region guard's updates: the
// second run is refused with the holder's name, a takeover from a closed
// holder works only once, and the ledger quarantines after N failures.
func TestGuardGrantsOneRunAtATime(t *testing.T) {
	env := guardEnv(t, RecoverResult{})
	type step struct {
		name string
		arg  any
		want func(any, error)
	}
	acquired := func(granted bool, holder string) func(any, error) {
		return func(v any, err error) {
			require.NoError(t, err)
			res := v.(AcquireResult)
			require.Equal(t, granted, res.Granted)
			require.Equal(t, holder, res.Holder.WorkflowID)
		}
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	steps := []step{
		{UpdateAcquire, AcquireRequest{WorkflowID: "a"}, acquired(true, "a")},
		{UpdateAcquire, AcquireRequest{WorkflowID: "b"}, acquired(false, "a")},
		{UpdateAcquire, AcquireRequest{WorkflowID: "a"}, acquired(true, "a")},
		{UpdateAcquire, AcquireRequest{WorkflowID: "c", TakeoverFrom: "a"}, acquired(true, "c")},
		{UpdateAcquire, AcquireRequest{WorkflowID: "d", TakeoverFrom: "a"}, acquired(false, "c")},
		{UpdateRelease, ReleaseRequest{WorkflowID: "b"}, func(v any, err error) { require.False(t, v.(bool)) }},
		{UpdateRelease, ReleaseRequest{WorkflowID: "c"}, func(v any, err error) { require.True(t, v.(bool)) }},
		{UpdateAcquire, AcquireRequest{WorkflowID: "d"}, acquired(true, "d")},
		{UpdateRecord, RecordRequest{Failed: []FailedAttempt{
			{InstanceID: modelID(1), Attempt: Attempt{WorkflowID: "x", At: at, Reason: ReasonNoHeartbeat}},
			{InstanceID: modelID(1), Attempt: Attempt{WorkflowID: "y", At: at.Add(time.Hour), Reason: ReasonNoHeartbeat}},
			{InstanceID: modelID(2), Attempt: Attempt{WorkflowID: "y", At: at.Add(time.Hour), Reason: ReasonNoHeartbeat}},
		}}, func(v any, err error) { require.NoError(t, err); require.Equal(t, 2, v.(int)) }},
		{UpdateClear, ClearRequest{InstanceIDs: []string{modelID(2)}}, func(v any, err error) {
			require.ErrorContains(t, err, "reason is required")
		}},
		{UpdateClear, ClearRequest{InstanceIDs: []string{modelID(2)}, By: "alice", Reason: "image fixed"}, func(v any, err error) {
			require.NoError(t, err)
			require.Equal(t, []string{modelID(2)}, v.(ClearResult).Cleared)
		}},
	}
	answered := 0
	for i, st := range steps {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(st.name, "", &testsuite.TestUpdateCallback{
				OnAccept:   func() {},
				OnReject:   func(err error) { answered++; st.want(nil, err) },
				OnComplete: func(v any, err error) { answered++; st.want(v, err) },
			}, st.arg)
		}, time.Duration(i+1)*time.Second)
	}
	queried := false
	env.RegisterDelayedCallback(func() {
		queried = true
		v, err := env.QueryWorkflow(QueryLedger, LedgerQuery{Now: at.Add(2 * time.Hour), After: 2, Window: 24 * time.Hour})
		require.NoError(t, err)
		var view LedgerView
		require.NoError(t, v.Get(&view))
		require.Equal(t, "d", view.Holder.WorkflowID)
		require.Len(t, view.Records, 1)
		require.True(t, view.Records[0].Quarantined)
		require.Equal(t, at.Add(24*time.Hour), view.Records[0].Until)
		// A day later the first failure has left the window.
		v, err = env.QueryWorkflow(QueryLedger, LedgerQuery{Now: at.Add(24*time.Hour + 30*time.Minute), After: 2, Window: 24 * time.Hour})
		require.NoError(t, err)
		var later LedgerView
		require.NoError(t, v.Get(&later))
		require.Len(t, later.Records, 1)
		require.Len(t, later.Records[0].Attempts, 1)
		require.False(t, later.Records[0].Quarantined)
		env.CancelWorkflow()
	}, time.Minute)
	env.ExecuteWorkflow(RegionGuard, State{Region: "cn-hangzhou"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, len(steps), answered, "every update was answered")
	require.True(t, queried)
}

// guardEnv is a test environment with the region guard, whose recovery
// finds rec.
func guardEnv(t *testing.T, rec RecoverResult) *testsuite.TestWorkflowEnvironment {
	var ga *Activities
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(quietLogger())
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(RegionGuard)
	a := &Activities{}
	env.RegisterActivity(a)
	env.OnActivity(ga.RecoverGuard, mock.Anything, mock.Anything).Return(rec, nil)
	return env
}
