package activities

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecs"
)

// TestLandedRule walks the rule that lets a retry reboot an instance whose
// earlier reboot call may or may not have reached ECS. Only "no" lets it
// reboot, so every case that could hide a reboot must not answer "no".
func TestLandedRule(t *testing.T) {
	boot := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC) // StartTime, to the minute
	mark := bootMark{StartTime: boot, Seen: boot.Add(5 * time.Minute)}
	const settle = 30 * time.Second
	later := mark.Seen.Add(settle)
	info := func(state ecs.InstanceState, start, seen time.Time) ecs.InstanceInfo {
		return ecs.InstanceInfo{State: state, StartTime: start, Seen: seen}
	}
	for _, c := range []struct {
		name string
		mark bootMark
		now  ecs.InstanceInfo
		want landing
	}{
		{"going down", mark, info(ecs.StateStopping, boot, later), landedYes},
		{"coming up", mark, info(ecs.StateStarting, time.Time{}, later), landedYes},
		{"started since", mark, info(ecs.StateRunning, mark.Seen.Truncate(time.Minute), later), landedYes},
		{"unchanged, settled", mark, info(ecs.StateRunning, boot, later), landedNo},
		{"unchanged, too soon", mark, info(ecs.StateRunning, boot, later.Add(-time.Second)), landedWait},
		{"booted in the mark's minute", bootMark{StartTime: boot, Seen: boot.Add(40 * time.Second)}, info(ecs.StateRunning, boot, later), landedUnknown},
		{"stopped", mark, info(ecs.StateStopped, time.Time{}, later), landedUnknown},
		{"no mark start", bootMark{Seen: mark.Seen}, info(ecs.StateRunning, boot, later), landedUnknown},
		{"no mark clock", bootMark{StartTime: boot}, info(ecs.StateRunning, boot, later), landedUnknown},
		{"no start now", mark, info(ecs.StateRunning, time.Time{}, later), landedUnknown},
		{"started before the mark", mark, info(ecs.StateRunning, boot.Add(-time.Hour), later), landedUnknown},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, landed(c.mark, c.now, settle))
		})
	}
}
