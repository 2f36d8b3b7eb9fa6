package ecssim_test

import (
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// TestBlastRadius: the most instances between a reboot call and Running
// again at one simulated moment, fleet-wide and per zone.
func TestBlastRadius(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	var a, b []string
	for range 6 {
		a = append(a, addInstance(t, e.sim, ecssim.InstanceSpec{Zone: "cn-hangzhou-a"}))
		b = append(b, addInstance(t, e.sim, ecssim.InstanceSpec{Zone: "cn-hangzhou-b"}))
	}
	rebootAll := func(list ...string) {
		t.Helper()
		r := ecs.CreateRebootInstancesRequest()
		r.InstanceId = &list
		_, err := c.RebootInstances(r)
		require.NoError(t, err)
	}
	blast := func() (int, map[string]int) {
		tr := e.sim.Truth()
		return tr.MaxRebootingAtOnce, tr.MaxRebootingAtOnceByZone
	}
	const rebootTakes = ecssim.DefaultStopDuration + ecssim.DefaultStartDuration

	n, zones := blast()
	assert.Zero(t, n)
	assert.Empty(t, zones)

	rebootAll(a[0], a[1], a[2], b[0], b[1]) // t0: 5 in progress
	e.clock.Advance(rebootTakes - time.Second)
	require.NoError(t, reboot(c, a[3])) // t0+29s: 6
	n, zones = blast()
	assert.Equal(t, 6, n)
	assert.Equal(t, map[string]int{"cn-hangzhou-a": 4, "cn-hangzhou-b": 2}, zones)

	e.clock.Advance(time.Second) // t0+30s: the first five are Running again
	for _, id := range []string{a[0], b[0]} {
		require.Equal(t, ecssim.StateRunning, truthOf(t, e.sim, id).State, "the occupancy ends when the instance is Running")
	}
	rebootAll(b[2], b[3], b[4]) // 1 + 3 = 4 in progress: no new maximum
	n, zones = blast()
	assert.Equal(t, 6, n)
	assert.Equal(t, map[string]int{"cn-hangzhou-a": 4, "cn-hangzhou-b": 3}, zones, "zone b: 3 at once now")

	e.sim.ResetCounters()
	n, zones = blast()
	assert.Zero(t, n)
	assert.Empty(t, zones)
	require.NoError(t, reboot(c, b[5])) // the 4 still rebooting count: 5
	n, zones = blast()
	assert.Equal(t, 5, n)
	assert.Equal(t, map[string]int{"cn-hangzhou-b": 4}, zones)

	// When each instance was rebooted and came back is in its truth.
	e.clock.Advance(time.Hour)
	it := truthOf(t, e.sim, a[3])
	require.Empty(t, it.RebootTimes, "reset with the counters")
	assert.Equal(t, testStart().Add(rebootTakes-time.Second+rebootTakes), it.BootedAt)
}
