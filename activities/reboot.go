package activities

import (
	"context"
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

// rebootSettle is how long, on ECS's clock, after a mark the retry waits
// before it believes a Running instance with an unchanged StartTime: a
// reboot ECS accepted shows as Stopping at once, the wait covers a lagging
// read. It is 15 s longer than a request of the client can live (connect
// plus read timeout, 5 s + 10 s by default), so no call of the earlier
// attempt can still be on its way; at least 30 s.
func rebootSettle(c *ecs.Client) time.Duration {
	return max(30*time.Second, c.RequestLifetime()+15*time.Second)
}

// landing is what a retry can tell about a reboot an earlier attempt sent
// without hearing the answer.
type landing int

const (
	landedUnknown landing = iota // cannot be told: leave it alone
	landedYes                    // it happened (the instance went down or started since)
	landedNo                     // it did not: the instance may be rebooted now
	landedWait                   // too soon after the call to tell
)

// landed decides from the mark taken before the call and a fresh read. The
// rule that makes "no" safe: ECS's StartTime is to the minute, so a reboot
// that happened after the mark (at Seen) would start the instance at
// Seen's minute or later. If the instance had started in an earlier minute
// than Seen's and still shows that same StartTime, it has not rebooted.
func landed(mark bootMark, now ecs.InstanceInfo, settle time.Duration) landing {
	switch {
	case now.State == ecs.StateStopping || now.State == ecs.StateStarting:
		return landedYes
	case now.State != ecs.StateRunning || mark.StartTime.IsZero() || mark.Seen.IsZero() || now.StartTime.IsZero():
		return landedUnknown
	case now.StartTime.After(mark.StartTime):
		return landedYes
	case !now.StartTime.Equal(mark.StartTime) || !mark.Seen.Truncate(time.Minute).After(mark.StartTime):
		return landedUnknown // started in the mark's own minute: a reboot could hide in it
	case now.Seen.Before(mark.Seen.Add(settle)):
		return landedWait
	}
	return landedNo
}

// RebootIfStillUnhealthy re-checks every instance right before acting and
// reboots only those that exist, are Running and whose agent is still not
// healthy. It never reboots an instance twice, even when a worker dies
// mid-call and Temporal retries the activity: see rebootIntent.
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
	// Heartbeats during the re-check must carry the prior intent, or they
	// would erase it on the server.
	fs, err := facts(ctx, c, in.InstanceIDs, "", func() { activity.RecordHeartbeat(ctx, prior) })
	if err != nil {
		return RebootOutcome{}, err
	}
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
			// the answer. Rebooting again is exactly what must not happen;
			// the marks decide below whether it happened.
			pending = append(pending, f)
		case f.Running() && !f.Unknown && f.Healthy:
			out.Healthy = append(out.Healthy, f.InstanceID)
		default:
			if r, no := rejectFromFacts(f); no {
				out.Rejected = append(out.Rejected, r)
				continue
			}
			toReboot = append(toReboot, f.InstanceID)
		}
	}
	again, err := a.settle(ctx, c, prior, pending, &out)
	if err != nil {
		return RebootOutcome{}, err
	}
	toReboot = append(toReboot, again...)
	if len(toReboot) == 0 {
		return out, nil
	}
	marks, err := readMarks(ctx, c, toReboot, prior.Marks)
	if err != nil {
		return RebootOutcome{}, err
	}
	intent := rebootIntent{Attempted: appendNew(prior.Attempted, toReboot), Confirmed: prior.Confirmed, Marks: marks}
	if err := a.recordIntent(ctx, intent); err != nil {
		// Without a stored intent a retry could reboot twice; reboot nothing.
		return RebootOutcome{}, temporal.NewApplicationErrorWithCause("reboot not sent: "+err.Error(), "fleetmend.IntentNotRecorded", err)
	}
	results, err := c.RebootInstances(ctx, toReboot, false)
	if err != nil {
		if definitelyNotExecuted(err) {
			// ECS refused the whole call, so nothing was rebooted: withdraw
			// the intent so the retry may try these instances again. If the
			// withdrawal is not stored, the retry will leave them alone.
			_ = a.recordIntent(ctx, prior)
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
// answer: those whose reboot landed are Rebooted, those that show it did
// not and still need it are returned to be rebooted now, the rest are
// Unconfirmed (never rebooted again; verify tells whether the agent came
// back). While it is too soon to tell, it reads again, heartbeating.
func (a *Activities) settle(ctx context.Context, c *ecs.Client, prior rebootIntent, pending []Facts, out *RebootOutcome) ([]string, error) {
	settle := rebootSettle(c)
	maxRounds := 2 * int(settle/settlePoll)
	var again []string
	for round := 0; len(pending) > 0; round++ {
		ids := make([]string, len(pending))
		for i, f := range pending {
			ids[i] = f.InstanceID
		}
		byID, _, err := describeInstances(ctx, c, ids)
		if err != nil {
			return nil, err
		}
		var wait []Facts
		for _, f := range pending {
			now, seen := byID[f.InstanceID]
			verdict := landedUnknown
			if seen { // no mark (an older intent) leaves only "going down or up" to tell
				verdict = landed(prior.Marks[f.InstanceID], now, settle)
			}
			if verdict == landedWait && round >= maxRounds {
				verdict = landedUnknown
			}
			switch verdict {
			case landedYes:
				out.Rebooted = append(out.Rebooted, f.InstanceID)
				if now.State != ecs.StateRunning {
					out.InTransit = append(out.InTransit, f.InstanceID)
				}
			case landedNo:
				switch r, no := rejectFromFacts(f); {
				case f.Running() && !f.Unknown && f.Healthy:
					out.Healthy = append(out.Healthy, f.InstanceID)
				case no:
					out.Rejected = append(out.Rejected, r)
				default:
					again = append(again, f.InstanceID)
				}
			case landedWait:
				wait = append(wait, f)
			default:
				out.Unconfirmed = append(out.Unconfirmed, f.InstanceID)
			}
		}
		pending = wait
		if len(pending) == 0 {
			break
		}
		activity.RecordHeartbeat(ctx, prior)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(settlePoll):
		}
	}
	return again, nil
}

// settlePoll is how often settle reads again while it is too soon to
// tell. On real ECS the clock runs at wall speed, so the settle time passes
// within settle/settlePoll rounds; settle gives up (unconfirmed) after
// twice that, should ECS's clock not move.
const settlePoll = time.Second

// readMarks reads the StartTime and ECS's clock for ids right before their
// reboot, keeping the marks of earlier attempts.
func readMarks(ctx context.Context, c *ecs.Client, ids []string, prior map[string]bootMark) (map[string]bootMark, error) {
	infos, _, err := describeInstances(ctx, c, ids)
	if err != nil {
		return nil, err
	}
	marks := maps.Clone(prior)
	if marks == nil {
		marks = make(map[string]bootMark, len(infos))
	}
	for id, in := range infos {
		marks[id] = bootMark{StartTime: in.StartTime, Seen: in.Seen}
	}
	return marks, nil
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
