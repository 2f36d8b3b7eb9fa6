package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
)

// RebootInput names instances that may need a reboot.
type RebootInput struct {
	Region      string   `json:"region"`
	InstanceIDs []string `json:"instance_ids"`
	// ExcludeTag is the run's opt-out tag: an instance that carries it when
	// checked right before the call is not rebooted.
	ExcludeTag string `json:"exclude_tag,omitempty"`
}

// RebootOutcome is RebootIfStillUnhealthy's answer.
type RebootOutcome struct {
	// Rebooted were rebooted by this activity (in this or an earlier attempt).
	Rebooted []string `json:"rebooted,omitempty"`
	// Healthy had a healthy agent at the moment of decision: not rebooted.
	Healthy []string `json:"healthy,omitempty"`
	// Rejected were not rebooted: vanished, not Running, or refused by ECS.
	Rejected []Rejection `json:"rejected,omitempty"`
	// Unconfirmed were sent to ECS by an earlier attempt that stopped
	// before hearing the answer, and are not now Stopping or Starting:
	// whether that reboot happened cannot be told from the API.
	// They are not rebooted again (never twice); verify tells whether the
	// agent came back.
	Unconfirmed []string `json:"unconfirmed,omitempty"`
	// InTransit are rebooted instances that ECS answered as Stopping or
	// Starting: their reboot has visibly begun, so the next time they are
	// seen Running, the reboot is over.
	InTransit []string `json:"in_transit,omitempty"`
}

// rebootIntent is the heartbeat detail that makes the reboot at most once:
// every instance this activity is about to reboot is stored on the server
// before the call, and a retried attempt never reboots what an earlier
// attempt may already have rebooted. Once ECS answered, the instances it
// rebooted are stored as Confirmed, so a retry can tell "rebooted" from
// "the worker died between storing the intent and hearing ECS".
//
// Marks tell the retry more: for every attempted instance, when it had last
// started and when ECS said so, read right before the call. See landed.
type rebootIntent struct {
	Attempted []string            `json:"attempted"`
	Confirmed []string            `json:"confirmed,omitempty"`
	Marks     map[string]bootMark `json:"marks,omitempty"`
}

// bootMark is an instance's StartTime (to the minute) and ECS's clock (the
// answer's Date) read right before a reboot call.
type bootMark struct {
	StartTime time.Time `json:"start_time"`
	Seen      time.Time `json:"seen"`
}

// landed says whether a reboot an earlier attempt sent, without hearing
// ECS's answer, evidently happened: the instance is going down or coming
// up (a reboot passes through Stopping and Starting), or it started after
// the mark taken right before the call. Anything else is not evidence that
// it did not: whether ECS moves StartTime on a reboot, and how soon, is
// not in the documents fleetmend rests on, so such an instance is left
// alone (unconfirmed) and never rebooted again on a guess.
func landed(mark bootMark, now ecs.InstanceInfo) bool {
	switch {
	case now.State == ecs.StateStopping || now.State == ecs.StateStarting:
		return true
	case now.State != ecs.StateRunning || mark.StartTime.IsZero() || now.StartTime.IsZero():
		return false
	}
	return now.StartTime.After(mark.StartTime)
}

// Bounds on the time between deciding to reboot and sending the call.
const (
	// maxDecisionAge: agent health read longer ago than this is read again
	// before the call (a wait for the pool, a slow read).
	maxDecisionAge = 10 * time.Second
	// sendWithin: the call must leave within this of the intent being
	// stored, the moment the server confirmed the attempt is current. It
	// is well under the activities' 30 s heartbeat timeout, so no retry of
	// this activity can have started before the call leaves; a call that
	// waits longer for a client of the pool is not sent, and the decision
	// is taken again.
	sendWithin = 5 * time.Second
	// maxDecisionRounds bounds how often a decision is taken again.
	maxDecisionRounds = 5
)

// RebootIfStillUnhealthy re-checks every instance right before acting and
// reboots only those that exist, are Running, do not carry the opt-out tag
// and whose agent is still not healthy. It never reboots an instance
// twice, even when a worker dies mid-call and Temporal retries the
// activity: see rebootIntent. The call leaves within sendWithin of the
// intent being stored, on facts at most maxDecisionAge old.
func (a *Activities) RebootIfStillUnhealthy(ctx context.Context, in RebootInput) (RebootOutcome, error) {
	if n := len(in.InstanceIDs); n < 1 || n > ecs.MaxRebootIDs {
		return RebootOutcome{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("RebootIfStillUnhealthy: %d InstanceIDs, allowed range is 1..%d", n, ecs.MaxRebootIDs), "fleetmend.InvalidInput", nil)
	}
	c, err := a.client(in.Region)
	if err != nil {
		return RebootOutcome{}, err
	}
	var prior rebootIntent
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &prior); err != nil {
			return RebootOutcome{}, temporal.NewNonRetryableApplicationError("read reboot intent of the previous attempt", "fleetmend.CorruptIntent", err)
		}
	}
	for round := 1; ; round++ {
		out, err := a.rebootOnce(ctx, c, in, prior, round == maxDecisionRounds)
		if !errors.Is(err, errDecideAgain) {
			return out, err
		}
	}
}

// errDecideAgain says the facts a decision rested on grew too old before
// the call could leave: read them again.
var errDecideAgain = errors.New("decide again on fresh facts")

// rebootOnce decides and, if the decision still holds when the call can
// leave, reboots. last: the final round, which sends however long reading
// took (its facts are still fresh by the pool's measure).
func (a *Activities) rebootOnce(ctx context.Context, c *ecs.Client, in RebootInput, prior rebootIntent, last bool) (RebootOutcome, error) {
	// Heartbeats during the re-check must carry the prior intent, or they
	// would erase it on the server.
	beat := func() { activity.RecordHeartbeat(ctx, prior) }
	fs, err := instanceFacts(ctx, c, in.InstanceIDs, in.ExcludeTag, beat)
	if err != nil {
		return RebootOutcome{}, err
	}
	decided := time.Now()
	var out RebootOutcome
	var toReboot []string
	var pending []Facts // attempted earlier, answer never heard
	for _, f := range fs {
		switch {
		case slices.Contains(prior.Confirmed, f.InstanceID):
			// ECS accepted the reboot in an earlier attempt: it has begun.
			out.Rebooted = append(out.Rebooted, f.InstanceID)
			out.InTransit = append(out.InTransit, f.InstanceID)
		case slices.Contains(prior.Attempted, f.InstanceID):
			// An earlier attempt may have sent the reboot without hearing
			// the answer. Rebooting again is exactly what must not happen.
			pending = append(pending, f)
		case f.Running() && !f.Unknown && !f.Excluded && f.Healthy:
			out.Healthy = append(out.Healthy, f.InstanceID)
		default:
			if r, no := rejectFromFacts(f); no {
				out.Rejected = append(out.Rejected, r)
				continue
			}
			toReboot = append(toReboot, f.InstanceID)
		}
	}
	if err := a.settle(ctx, c, prior, pending, &out); err != nil {
		return RebootOutcome{}, err
	}
	if len(toReboot) == 0 {
		return out, nil
	}
	// The boot marks come with the state the decision rests on.
	marks := maps.Clone(prior.Marks)
	if marks == nil {
		marks = make(map[string]bootMark, len(toReboot))
	}
	for _, f := range fs {
		if slices.Contains(toReboot, f.InstanceID) {
			marks[f.InstanceID] = bootMark{StartTime: f.StartTime, Seen: f.Seen}
		}
	}
	if time.Since(decided) > maxDecisionAge && !last {
		return RebootOutcome{}, errDecideAgain
	}
	intent := rebootIntent{Attempted: appendNew(prior.Attempted, toReboot), Confirmed: prior.Confirmed, Marks: marks}
	if err := a.recordIntent(ctx, intent); err != nil {
		// Without a stored intent a retry could reboot twice; reboot nothing.
		// The heartbeat also fails when this attempt is no longer the
		// current one: then it must not send.
		return RebootOutcome{}, temporal.NewApplicationErrorWithCause("reboot not sent: "+err.Error(), "fleetmend.IntentNotRecorded", err)
	}
	// Once sent, the call is waited for even if this attempt is cancelled
	// (a worker stopping, a timeout): cut off on its way, it would leave
	// the retry unable to tell whether it reached ECS. The client's connect
	// and read timeouts bound the wait.
	results, err := c.RebootInstances(ecs.WithStartBy(context.WithoutCancel(ctx), time.Now().Add(sendWithin)), toReboot, false)
	if err != nil {
		if definitelyNotExecuted(err) {
			// Not sent, or refused whole by ECS: nothing was rebooted, so
			// withdraw the intent (if the withdrawal is not stored, the
			// retry leaves these instances alone, unconfirmed).
			withdrawn := a.recordIntent(ctx, prior) == nil
			if ecs.ClassOf(err) == ecs.NotSent && withdrawn && ctx.Err() == nil && !last {
				return RebootOutcome{}, errDecideAgain // waited too long for the pool
			}
		}
		return RebootOutcome{}, appError("reboot "+joinIDs(toReboot), err)
	}
	answered := make(map[string]bool, len(results))
	var ok []string
	for _, r := range results {
		answered[r.InstanceID] = true
		switch {
		case r.OK:
			ok = append(ok, r.InstanceID)
			if r.Current == ecs.StateStopping || r.Current == ecs.StateStarting {
				out.InTransit = append(out.InTransit, r.InstanceID)
			}
		default:
			out.Rejected = append(out.Rejected, Rejection{
				InstanceID: r.InstanceID, Code: r.Code, Reason: r.Message, State: r.Current, Vanished: isNotFound(r.Code),
			})
		}
	}
	for _, id := range toReboot {
		if !answered[id] {
			return RebootOutcome{}, temporal.NewNonRetryableApplicationError(
				"RebootInstances gave no result for "+id, "fleetmend.IncompleteAnswer", nil)
		}
	}
	out.Rebooted = append(out.Rebooted, ok...)
	count(ctx, MetricReboots, in.Region, len(ok))
	// Store what ECS answered. Instances it refused were not rebooted and
	// leave the intent; if this record is lost, a retry still never
	// reboots twice, it only reports these as unconfirmed.
	_ = a.recordIntent(ctx, rebootIntent{
		Attempted: appendNew(prior.Attempted, toReboot),
		Confirmed: append(slices.Clone(prior.Confirmed), ok...),
		Marks:     marks,
	})
	return out, nil
}

// settle sorts the instances an earlier attempt sent without hearing the
// answer: those whose reboot evidently landed are Rebooted, the rest are
// Unconfirmed (never rebooted again; verify tells whether the agent came
// back, and the next run repairs it if not).
func (a *Activities) settle(ctx context.Context, c *ecs.Client, prior rebootIntent, pending []Facts, out *RebootOutcome) error {
	if len(pending) == 0 {
		return nil
	}
	ids := make([]string, len(pending))
	for i, f := range pending {
		ids[i] = f.InstanceID
	}
	byID, _, err := describeInstances(ctx, c, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		now, seen := byID[id]
		if seen && landed(prior.Marks[id], now) {
			out.Rebooted = append(out.Rebooted, id)
			if now.State != ecs.StateRunning {
				out.InTransit = append(out.InTransit, id)
			}
			continue
		}
		out.Unconfirmed = append(out.Unconfirmed, id)
	}
	return nil
}

// appendNew appends the ids not already in list, to a copy.
func appendNew(list, ids []string) []string {
	out := slices.Clone(list)
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
