package ecs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
)

func TestDescribeInstances(t *testing.T) {
	f := newSim(t, 0)
	ctx := context.Background()
	excluded, err := f.sim.AddInstance(ecssim.InstanceSpec{Zone: "cn-hangzhou-k", OSType: "Windows",
		Tags: map[string]string{"fleetmend:exclude": "true", "team": "web"}})
	require.NoError(t, err)
	plain, err := f.sim.AddInstance(ecssim.InstanceSpec{State: "Stopped"})
	require.NoError(t, err)
	gone, err := f.sim.AddInstance(ecssim.InstanceSpec{})
	require.NoError(t, err)
	require.NoError(t, f.sim.Vanish(gone))

	got, err := f.client.DescribeInstances(ctx, []string{plain, "i-neverexisted000000", gone, excluded})
	require.NoError(t, err)
	// StartTime is the last boot, to the minute, for Running instances only;
	// Seen is the simulator's clock, from the answer's Date header.
	now := f.clock.Now()
	require.Equal(t, []ecs.InstanceInfo{
		{InstanceID: excluded, ZoneID: "cn-hangzhou-k", State: ecs.StateRunning, OSType: "windows",
			Tags:      []ecs.Tag{{Key: "fleetmend:exclude", Value: "true"}, {Key: "team", Value: "web"}},
			StartTime: now.Truncate(time.Minute), Seen: now.Truncate(time.Second)},
		{InstanceID: plain, ZoneID: "cn-hangzhou-a", State: ecs.StateStopped, OSType: "linux", Seen: now.Truncate(time.Second)},
	}, got, "unknown and vanished instances are absent, without an error; the order is ECS's")
	require.Equal(t, 1, f.calls(ecs.ActionDescribeInstances), "one call")

	// 100 IDs fit one call, although the API's default page is 10.
	hundred := make([]string, 0, ecs.MaxDescribeInstancesIDs)
	for range ecs.MaxDescribeInstancesIDs {
		id, err := f.sim.AddInstance(ecssim.InstanceSpec{})
		require.NoError(t, err)
		hundred = append(hundred, id)
	}
	got, err = f.client.DescribeInstances(ctx, hundred)
	require.NoError(t, err)
	require.Len(t, got, ecs.MaxDescribeInstancesIDs)
	require.Equal(t, ecs.MaxDescribeInstancesIDs, f.sim.Truth().Actions[ecs.ActionDescribeInstances].MaxInstanceIDs)
}

func TestDescribeInstancesLimitsBeforeTheWire(t *testing.T) {
	f := newSim(t, 0)
	ctx := context.Background()
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("i-limit%013d", i)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		ids  []string
		want string
	}{
		{"none", nil, "InstanceIds (number of instance IDs) is 0, allowed range is 1..100"},
		{"101", ids(101), "InstanceIds (number of instance IDs) is 101, allowed range is 1..100"},
		{"empty ID", []string{"i-a1234567", " "}, "InstanceIds[1] is empty"},
		{"repeated ID", []string{"i-a1234567", "i-b1234567", "i-a1234567"}, "InstanceIds[2] repeats i-a1234567"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.DescribeInstances(ctx, tc.ids)
			require.ErrorContains(t, err, tc.want)
			require.True(t, ecs.IsPermanent(err))
			var e *ecs.Error
			require.True(t, errors.As(err, &e))
			require.Equal(t, ecs.ActionDescribeInstances, e.Action)
			require.Zero(t, e.HTTPStatus, "never reached the wire")
		})
	}
	require.Zero(t, f.calls(ecs.ActionDescribeInstances))
}

// TestUnansweredIsNotAnError: an instance ECS leaves out of a by-ID answer
// comes back absent, with no error, from every by-ID call.
func TestUnansweredIsNotAnError(t *testing.T) {
	f := newSim(t, 0)
	ctx := context.Background()
	a, err := f.sim.AddInstance(ecssim.InstanceSpec{AgentInstalled: true})
	require.NoError(t, err)
	b, err := f.sim.AddInstance(ecssim.InstanceSpec{AgentInstalled: true})
	require.NoError(t, err)
	require.NoError(t, f.sim.SetFaults(ecssim.Faults{OmitIDs: []string{b}}))

	infos, err := f.client.DescribeInstances(ctx, []string{a, b})
	require.NoError(t, err)
	require.Len(t, infos, 1)
	require.Equal(t, a, infos[0].InstanceID)

	agents, err := f.client.AgentStatus(ctx, []string{a, b}, "")
	require.NoError(t, err)
	require.Len(t, agents, 1)
	require.Equal(t, a, agents[0].InstanceID)

	page, err := f.client.ListInstanceStatus(ctx, ecs.ListInput{InstanceIDs: []string{a, b}})
	require.NoError(t, err)
	require.Len(t, page.Instances, 1)
	require.Equal(t, a, page.Instances[0].InstanceID)
}
