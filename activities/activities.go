// Package activities holds every side effect of a remediation run: reading a
// page of the fleet, re-checking a batch, installing the agent, rebooting and
// verifying. Each activity is a method on Activities, which carries the
// injected ECS clients; workflows reference the methods, never call them.
//
// Activities return facts and leave outcomes to the workflows, with one
// exception that the design demands: the decision to reboot is taken here,
// on facts read a moment before the reboot call, so that a stale view can
// never reboot a healthy or non-Running instance.
package activities

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
)

// Metrics the activities emit through the worker's Temporal metrics
// handler (see internal/metrics): instances an accepted
// InstallCloudAssistant named, and instances rebooted. Tag: region.
const (
	MetricInstalls = "fleetmend_installs"
	MetricReboots  = "fleetmend_reboots"
)

// count adds n to a counter of the activity's region.
func count(ctx context.Context, name, region string, n int) {
	if n > 0 {
		activity.GetMetricsHandler(ctx).WithTags(map[string]string{"region": region}).Counter(name).Inc(int64(n))
	}
}

// Activities is registered on the worker as a struct, so each exported
// method is an activity named after the method.
type Activities struct {
	// Regions gives the ECS client for the region an activity names.
	Regions *ecs.Regions
	// Intents records a reboot intent durably before the reboot call (see
	// RebootIfStillUnhealthy). Nil falls back to a best-effort heartbeat,
	// which is what the SDK's test environment supports.
	Intents IntentRecorder
	// Attempts reads the failed repairs a region's ledger holds (the
	// trend's); Queues says which regions a worker serves (a fleet run's).
	// Both are Temporal's to answer, and the worker injects them: this
	// package talks to ECS only.
	Attempts AttemptCounter
	Queues   QueueWatcher
}

// QueueWatcher says whether a worker polled a workflow task queue lately.
type QueueWatcher interface {
	Served(ctx context.Context, queue string, within time.Duration) (bool, error)
}

// IntentRecorder stores activity heartbeat details on the Temporal server
// and reports whether that worked. The SDK's activity.RecordHeartbeat is
// throttled and returns nothing; a reboot must not be sent unless its intent
// is known to be stored.
type IntentRecorder interface {
	RecordIntent(ctx context.Context, details any) error
}

// recordIntent stores details as the activity's heartbeat details. It first
// hands them to the SDK's throttled heartbeat too: the SDK may still hold an
// older buffered heartbeat, which it would otherwise send after the RPC and
// so overwrite the intent.
func (a *Activities) recordIntent(ctx context.Context, details any) error {
	activity.RecordHeartbeat(ctx, details)
	if a.Intents == nil {
		return nil
	}
	return a.Intents.RecordIntent(ctx, details)
}

func (a *Activities) client(region string) (*ecs.Client, error) {
	if a.Regions == nil {
		return nil, temporal.NewNonRetryableApplicationError("activities have no ECS clients configured", "fleetmend.Misconfigured", nil)
	}
	c, err := a.Regions.Client(region)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "fleetmend.RegionNotServed", err)
	}
	return c, nil
}

// appError turns an ecs error into a Temporal application error whose type
// is the ECS error code, retryable or not by the ecs classification, so the
// retry policy (and a person reading the history) sees what happened. The
// message is one line (ecs.Explain: code, meaning, ECS's message, request
// ID, what to do) and the error carries no cause chain: a cause would be
// rendered again, with the SDK's multi-line dump, in the UI and the report.
func appError(what string, err error) error {
	if err == nil {
		return nil
	}
	code := ecs.CodeOf(err)
	if code == "" {
		code = "fleetmend." + string(ecs.ClassOf(err))
	}
	return temporal.NewApplicationErrorWithOptions(what+": "+ecs.Explain(err), code, temporal.ApplicationErrorOptions{
		NonRetryable: !ecs.IsRetryable(err),
	})
}

// definitelyNotExecuted reports whether a call was certainly not carried
// out: it never left (not sent), or ECS refused it before acting
// (validation, state checks, throttling, ServiceUnavailable). Anything else
// (a timeout, a dropped connection, a 500, a caller that stopped waiting)
// may have been carried out.
func definitelyNotExecuted(err error) bool {
	var e *ecs.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Class {
	case ecs.NotSent, ecs.Permanent, ecs.InstanceLevel:
		return true // never sent, or refused by validation or state checks
	case ecs.Interrupted:
		return false
	}
	return e.Code == "ServiceUnavailable" || strings.HasPrefix(e.Code, "Throttling")
}

// oneLine is an error's text on one line, for a message in a result.
func oneLine(err error) string {
	if err == nil {
		return "no error"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
