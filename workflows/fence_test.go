package workflows

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/ecs"
)

// dispatchCase is one random draw of the sizes that shape a run's rounds
// of batches: the canary, the batch size, the blast radius, the batches in
// flight, a plan whose batches shrink unevenly, a retune mid-run, and a
// history short enough to continue as new between rounds.
type dispatchCase struct {
	instances  int
	canary     int
	batchSize  int
	blast      int
	concurrent int
	plan       []int
	retune     *SetRequest
	retuneAt   time.Duration
	continueAt int
}

func drawDispatchCase(rng *rand.Rand) dispatchCase {
	c := dispatchCase{instances: 25 + rng.IntN(400), batchSize: 1 + rng.IntN(20), concurrent: rng.IntN(9)}
	canaries := []int{0, 1, 7, 20, 30, 45, 1 + rng.IntN(60)}
	c.canary = canaries[rng.IntN(len(canaries))]
	switch rng.IntN(3) {
	case 0:
		c.blast = 1 + rng.IntN(40)
	case 1:
		c.blast = 40 + rng.IntN(400)
	default:
		c.blast = 1000 + rng.IntN(500) // more than one fence's worth of batches
	}
	if rng.IntN(3) == 0 {
		left := c.instances
		for left > 0 {
			n := min(left, 1+rng.IntN(c.batchSize))
			c.plan = append(c.plan, n)
			left -= n
		}
	}
	if rng.IntN(2) == 0 {
		br := strconv.Itoa(1 + rng.IntN(300))
		cb := rng.IntN(6)
		c.retune = &SetRequest{BlastRadius: br, ConcurrentBatches: &cb, Reason: "property test retune", By: "test"}
		c.retuneAt = time.Duration(1+rng.IntN(300)) * time.Second
	}
	if rng.IntN(4) == 0 {
		c.continueAt = MinEventsPerRun + rng.IntN(200)
	}
	return c
}

func (c dispatchCase) String() string {
	s := fmt.Sprintf("instances %d, canary %d, batch size %d, blast radius %d, batches in flight %d", c.instances, c.canary, c.batchSize, c.blast, c.concurrent)
	if len(c.plan) > 0 {
		s += fmt.Sprintf(", plan of %d batches", len(c.plan))
	}
	if c.retune != nil {
		s += fmt.Sprintf(", retuned at %s to blast radius %s and %d in flight", c.retuneAt, c.retune.BlastRadius, *c.retune.ConcurrentBatches)
	}
	if c.continueAt > 0 {
		s += fmt.Sprintf(", continue-as-new every %d events", c.continueAt)
	}
	return s
}

// TestEveryStartedBatchIsFencedFirst drives the dispatch loop over random
// canary, batch, blast-radius, plan, retune and continue-as-new sizes and
// asserts, as each batch starts, that the guard was told of its number
// before: a takeover waits for and inherits only the fenced range, so a
// batch outside it would keep acting (or have its reboots repeated) after
// its run was terminated.
func TestEveryStartedBatchIsFencedFirst(t *testing.T) {
	const cases = 48
	for seed := uint64(1); seed <= cases; seed++ {
		rng := rand.New(rand.NewPCG(seed, 21))
		c := drawDispatchCase(rng)
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			started, violations := runDispatchCase(t, c)
			require.Empty(t, violations, "%s", c)
			require.Positive(t, started, "%s: no batch started", c)
		})
	}
}

// runDispatchCase runs one case to its end and returns how many batches
// started and which of them started outside the range fenced so far.
func runDispatchCase(t *testing.T, c dispatchCase) (int, []string) {
	m := newFleetModel()
	for i := range c.instances {
		m.add(i, ecs.StateRunning, false, false)
	}
	in := quick("cn-hangzhou")
	in.Canary = &c.canary
	in.CanarySuccess = 50
	in.BatchSize = c.batchSize
	in.BlastRadius = strconv.Itoa(c.blast)
	in.ConcurrentBatches = c.concurrent
	in.ErrorBudget = "100%"
	if c.continueAt > 0 {
		in.EventsPerRun = c.continueAt
	}
	if len(c.plan) > 0 {
		for i := range c.instances {
			in.InstanceIDs = append(in.InstanceIDs, modelID(i))
		}
		in.Plan = &PlanInput{WorkflowID: "fleetmend/cn-hangzhou/dryrun", PlannedAt: time.Now().UTC(), Batches: c.plan,
			MaxAge: Duration(MaxMaxPlanAge), MaxDriftPercent: 100}
	}
	started := 0
	var violations []string
	next := in
	for leg := 1; ; leg++ {
		require.Less(t, leg, 200, "%s: the run never ends", c)
		var suite testsuite.WorkflowTestSuite
		suite.SetLogger(quietLogger())
		env := suite.NewTestWorkflowEnvironment()
		m.wire(env)
		env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
			num, err := strconv.Atoi(info.WorkflowExecution.ID[strings.LastIndex(info.WorkflowExecution.ID, "-")+1:])
			require.NoError(t, err, info.WorkflowExecution.ID)
			m.mu.Lock()
			defer m.mu.Unlock()
			started++
			fenced := 0
			for _, f := range m.fences {
				fenced = max(fenced, f.Batches.To)
			}
			if num > fenced {
				violations = append(violations, fmt.Sprintf("batch %d started with only batches up to %d fenced", num, fenced))
			}
		})
		if c.retune != nil && leg == 1 {
			env.RegisterDelayedCallback(func() {
				env.UpdateWorkflow(UpdateSet, "", &testsuite.TestUpdateCallback{
					OnAccept: func() {}, OnReject: func(error) {}, OnComplete: func(any, error) {},
				}, *c.retune)
			}, c.retuneAt)
		}
		env.ExecuteWorkflow(RemediateRegion, next)
		require.True(t, env.IsWorkflowCompleted())
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			require.NoError(t, testConverterDecode(can, &next))
			continue
		}
		require.NoError(t, err, "%s", c)
		return started, violations
	}
}
