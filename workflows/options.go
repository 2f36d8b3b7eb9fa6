package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Activity timeouts. Every activity heartbeats at least between API calls,
// so a worker that dies is noticed within activityHeartbeatTimeout and the
// activity is retried elsewhere.
const (
	activityStartToClose     = 2 * time.Minute
	activityHeartbeatTimeout = 30 * time.Second
)

// apiRetryPolicy retries what the ecs layer classified as retryable
// (throttling, 5xx, transport) with exponential backoff; errors classified
// as permanent come back as non-retryable application errors and stop it.
func apiRetryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		MaximumAttempts:    defaultActivityMaxAttempts,
	}
}

// apiActivity is the options of a short activity (a few API calls).
func apiActivity(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: activityStartToClose,
		HeartbeatTimeout:    activityHeartbeatTimeout,
		RetryPolicy:         apiRetryPolicy(),
		Summary:             summary,
	})
}

// verifyActivity is the options of the long verify poll: it may run until
// the verify deadline, heartbeating every poll.
func verifyActivity(ctx workflow.Context, deadline time.Duration, poll time.Duration, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: deadline + activityStartToClose,
		HeartbeatTimeout:    max(activityHeartbeatTimeout, 3*poll),
		RetryPolicy:         apiRetryPolicy(),
		Summary:             summary,
	})
}

// readActivityTimeout bounds how long a read of the pipelined engine keeps
// retrying: throttling that lasts for minutes must not throw away hours
// of a run's progress, so reads retry far longer than writes.
const readActivityTimeout = 2 * time.Hour

// readActivity is the options of an activity that only reads (scan, check,
// poll). Batches recorded before the pipeline keep the options they had.
func readActivity(ctx workflow.Context, engine int, summary string) workflow.Context {
	if engine < engineV2 {
		return apiActivity(ctx, summary)
	}
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    activityStartToClose,
		ScheduleToCloseTimeout: readActivityTimeout,
		HeartbeatTimeout:       activityHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			// No attempt limit: the schedule-to-close timeout bounds it.
		},
		Summary: summary,
	})
}

// guardActivity is the options of a call to the region's guard.
func guardActivity(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         apiRetryPolicy(),
		Summary:             summary,
	})
}

// confirmActivity is the options of a batch's local activity that asks the
// region's guard whether its run still holds the region. It retries for
// a while (a guard that is recovering answers so); past that the batch
// acts no further.
func confirmActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 10 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	})
}

// fenceActivity is the options of a run's local activity that tells the
// guard which batches it starts: a local activity, because a run fences
// before every round of batches and a marker is one history event where
// an activity is three.
func fenceActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: readActivityTimeout,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
}

// pollActivity is the options of the run's shared verify poll (engine 3):
// it retries its calls for a few poll intervals, then gives the run back
// control, which enforces the verify deadlines whatever the polls do and
// polls again.
func pollActivity(ctx workflow.Context, interval time.Duration, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    activityStartToClose,
		ScheduleToCloseTimeout: max(15*time.Second, 4*interval),
		HeartbeatTimeout:       activityHeartbeatTimeout,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
		Summary:                summary,
	})
}
