package ecs_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
)

// TestInjectedCodesAreClassified: every code the simulator can inject
// reaches the client with its status and the class fleetmend acts on.
func TestInjectedCodesAreClassified(t *testing.T) {
	f := newSim(t, 1)
	ctx := context.Background()
	for code, class := range map[string]ecs.Class{
		"Forbidden.RAM":               ecs.Permanent,
		"InvalidAccessKeyId.NotFound": ecs.Permanent,
		"InvalidAccessKeyId.Inactive": ecs.Permanent,
		"SignatureDoesNotMatch":       ecs.Permanent,
		"Throttling.User":             ecs.Retryable,
		"Throttling.Api":              ecs.Retryable,
		"ServiceUnavailable":          ecs.Retryable,
		"InternalError":               ecs.Retryable,
		"OperationConflict":           ecs.Retryable,
		"IncorrectInstanceStatus":     ecs.InstanceLevel,
	} {
		t.Run(code, func(t *testing.T) {
			require.NoError(t, f.sim.SetFaults(ecssim.Faults{ErrorRate: 1, ErrorCode: code,
				Actions: []string{ecs.ActionRebootInstances}}))
			t.Cleanup(func() { _ = f.sim.SetFaults(ecssim.Faults{}) })
			_, err := f.client.RebootInstances(ctx, f.sim.InstanceIDs("cn-hangzhou"), false)
			require.Error(t, err)
			require.Equal(t, code, ecs.CodeOf(err))
			require.Equal(t, class, ecs.ClassOf(err), "%v", err)
			_, err = f.client.ListInstanceStatus(ctx, ecs.ListInput{})
			require.NoError(t, err, "only the named action is refused")
		})
	}
}
