package fleetworker

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
)

// What the activities ask of Temporal itself, answered with the worker's
// client: the activities package is injected these and talks to ECS only.

// serverIntents records a reboot's intent as the activity's heartbeat
// details with a synchronous RPC (activities.IntentRecorder): the SDK's
// own heartbeat is throttled and says nothing of whether it was stored.
type serverIntents struct {
	c client.Client
}

func (s serverIntents) RecordIntent(ctx context.Context, details any) error {
	if err := s.c.RecordActivityHeartbeat(ctx, activity.GetInfo(ctx).TaskToken, details); err != nil {
		return fmt.Errorf("record reboot intent: %w", err)
	}
	return nil
}

// pollers says whether a worker polled a workflow task queue within a
// time (activities.QueueWatcher): a region no worker serves gets no run.
type pollers struct {
	c client.Client
}

func (p pollers) Served(ctx context.Context, queue string, within time.Duration) (bool, error) {
	resp, err := p.c.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return false, err
	}
	for _, poller := range resp.GetPollers() {
		if time.Since(poller.GetLastAccessTime().AsTime()) < within {
			return true, nil
		}
	}
	return false, nil
}
