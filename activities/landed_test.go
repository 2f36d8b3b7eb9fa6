package activities

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecs"
)

// TestLandedRule walks the rule a retry uses for a reboot an earlier
// attempt may or may not have sent: only evidence that it happened (going
// down or up, a later start) says "landed"; nothing says "never sent", so
// nothing is rebooted again on a guess.
func TestLandedRule(t *testing.T) {
	boot := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC) // StartTime, to the minute
	mark := bootMark{StartTime: boot, Seen: boot.Add(5 * time.Minute)}
	later := mark.Seen.Add(time.Minute)
	info := func(state ecs.InstanceState, start time.Time) ecs.InstanceInfo {
		return ecs.InstanceInfo{State: state, StartTime: start, Seen: later}
	}
	for _, c := range []struct {
		name string
		mark bootMark
		now  ecs.InstanceInfo
		want bool
	}{
		{"going down", mark, info(ecs.StateStopping, boot), true},
		{"coming up", mark, info(ecs.StateStarting, time.Time{}), true},
		{"started since", mark, info(ecs.StateRunning, mark.Seen.Truncate(time.Minute)), true},
		{"unchanged", mark, info(ecs.StateRunning, boot), false},
		{"stopped", mark, info(ecs.StateStopped, time.Time{}), false},
		{"no mark start", bootMark{Seen: mark.Seen}, info(ecs.StateRunning, later), false},
		{"no start now", mark, info(ecs.StateRunning, time.Time{}), false},
		{"started before the mark", mark, info(ecs.StateRunning, boot.Add(-time.Hour)), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, landed(c.mark, c.now))
		})
	}
}
