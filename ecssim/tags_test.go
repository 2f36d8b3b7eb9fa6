package ecssim_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

func TestFleetTaggedShareKeepsIDsAndProblems(t *testing.T) {
	plain := newFleetSim(t, ecssim.NewManualClock(testStart()), fleetSpec(3))
	spec := fleetSpec(3)
	spec.Tagged = 0.07
	tagged := newFleetSim(t, ecssim.NewManualClock(testStart()), spec)

	before, after := plain.Truth().Instances, tagged.Truth().Instances
	require.Len(t, after, len(before))
	n := 0
	for i := range after {
		require.Equal(t, before[i].ID, after[i].ID, "tagging must not change the IDs")
		require.Equal(t, before[i].InitialProblem, after[i].InitialProblem, "nor the problems")
		require.Equal(t, before[i].OSType, after[i].OSType)
		require.Empty(t, before[i].Tags)
		if len(after[i].Tags) > 0 {
			require.Equal(t, map[string]string{ecssim.DefaultTagKey: ecssim.DefaultTagValue}, after[i].Tags)
			n++
		}
	}
	assert.Equal(t, 70, n, "round(0.07 × 1000) instances carry the opt-out tag")

	spec.TagKey, spec.TagValue = "team", "payments"
	custom := newFleetSim(t, ecssim.NewManualClock(testStart()), spec)
	for i, it := range custom.Truth().Instances {
		if len(after[i].Tags) > 0 {
			require.Equal(t, map[string]string{"team": "payments"}, it.Tags, "same instances, the chosen tag")
		} else {
			require.Empty(t, it.Tags)
		}
	}
}

func TestSetAndRemoveTag(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{Tags: map[string]string{"env": "prod"}})
	assert.Equal(t, map[string]string{"env": "prod"}, truthOf(t, e.sim, id).Tags)

	require.NoError(t, e.sim.SetTag(id, ecssim.DefaultTagKey, "true"))
	require.NoError(t, e.sim.SetTag(id, "env", "staging"), "setting an existing key replaces its value")
	require.NoError(t, e.sim.SetTag(id, "empty", ""), "ECS allows empty values")
	assert.Equal(t, map[string]string{"env": "staging", ecssim.DefaultTagKey: "true", "empty": ""}, truthOf(t, e.sim, id).Tags)

	require.NoError(t, e.sim.RemoveTag(id, "env"))
	require.NoError(t, e.sim.RemoveTag(id, "never-there"))
	assert.Equal(t, map[string]string{ecssim.DefaultTagKey: "true", "empty": ""}, truthOf(t, e.sim, id).Tags)

	// Truth hands out copies: changing them changes nothing.
	it := truthOf(t, e.sim, id)
	it.Tags["sneaky"] = "x"
	assert.NotContains(t, truthOf(t, e.sim, id).Tags, "sneaky")

	require.Error(t, e.sim.SetTag(id, "", "x"), "empty key")
	require.Error(t, e.sim.SetTag(id, strings.Repeat("k", ecssim.MaxTagKeyLength+1), "x"))
	require.Error(t, e.sim.SetTag(id, "k", strings.Repeat("v", ecssim.MaxTagValueLength+1)))
	require.ErrorIs(t, e.sim.SetTag("i-nope", "k", "v"), ecssim.ErrUnknownInstance)

	full := map[string]string{}
	for i := range ecssim.MaxTagsPerInstance {
		full[fmt.Sprintf("k%02d", i)] = "v"
	}
	crowded := addInstance(t, e.sim, ecssim.InstanceSpec{Tags: full})
	require.Error(t, e.sim.SetTag(crowded, "one-more", "v"), "21st tag")
	require.NoError(t, e.sim.SetTag(crowded, "k00", "new"), "replacing a value adds no tag")
	full["k20"] = "v"
	_, err := e.sim.AddInstance(ecssim.InstanceSpec{Tags: full})
	require.Error(t, err, "AddInstance checks the limit too")

	require.NoError(t, e.sim.Vanish(id))
	require.ErrorIs(t, e.sim.SetTag(id, "k", "v"), ecssim.ErrVanished)
}

func TestTagHTTP(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{})
	base := e.srv.URL() + "/_sim/instances/" + id

	var it ecssim.InstanceTruth
	q := url.Values{"key": {"fleetmend:exclude"}, "value": {"true"}}.Encode()
	require.Equal(t, http.StatusOK, httpJSON(t, http.MethodPost, base+"/tag?"+q, &it))
	assert.Equal(t, map[string]string{"fleetmend:exclude": "true"}, it.Tags)
	require.Equal(t, http.StatusOK, httpJSON(t, http.MethodPost, base+"/tag?key=owner", &it))
	assert.Equal(t, map[string]string{"fleetmend:exclude": "true", "owner": ""}, it.Tags, "a missing value is the empty value")

	var untagged ecssim.InstanceTruth // a fresh value: decoding into it merges maps
	require.Equal(t, http.StatusOK, httpJSON(t, http.MethodPost, base+"/untag?key=owner", &untagged))
	assert.Equal(t, map[string]string{"fleetmend:exclude": "true"}, untagged.Tags)

	assert.Equal(t, http.StatusBadRequest, httpJSON(t, http.MethodPost, base+"/tag?value=x", nil), "no key")
	assert.Equal(t, http.StatusBadRequest, httpJSON(t, http.MethodPost, base+"/tag?key=", nil), "empty key")
	assert.Equal(t, http.StatusBadRequest, httpJSON(t, http.MethodPost, base+"/untag", nil))
	assert.Equal(t, http.StatusNotFound, httpJSON(t, http.MethodPost, e.srv.URL()+"/_sim/instances/i-nope/tag?key=k", nil))
}

func TestTruthTimes(t *testing.T) {
	e := newEnv(t, ecssim.Config{Fleets: []ecssim.FleetSpec{{Size: 4, Seed: 5, Stopped: 0.25}}})
	for _, it := range e.sim.Truth().Instances {
		assert.Equal(t, testStart(), it.CreatedAt, "generated at the start")
		assert.True(t, it.VanishedAt.IsZero())
		if it.State == ecssim.StateRunning {
			assert.Equal(t, testStart(), it.BootedAt)
		} else {
			assert.True(t, it.BootedAt.IsZero(), "generated Stopped: never booted in the simulation")
		}
	}

	e.clock.Advance(time.Minute)
	id := addInstance(t, e.sim, ecssim.InstanceSpec{})
	added := testStart().Add(time.Minute)
	it := truthOf(t, e.sim, id)
	assert.Equal(t, added, it.CreatedAt)
	assert.Equal(t, added, it.BootedAt)

	c := e.client(t)
	e.clock.Advance(time.Minute)
	require.NoError(t, install(c, id))
	require.NoError(t, reboot(c, id))
	rebootAt := testStart().Add(2 * time.Minute)
	e.clock.Advance(time.Hour)
	it = truthOf(t, e.sim, id)
	assert.Equal(t, []time.Time{rebootAt}, it.InstallTimes)
	assert.Equal(t, []time.Time{rebootAt}, it.RebootTimes)
	assert.Equal(t, rebootAt.Add(ecssim.DefaultStopDuration+ecssim.DefaultStartDuration), it.BootedAt,
		"Running again after Stopping and Starting")

	require.NoError(t, e.sim.Vanish(id))
	assert.Equal(t, rebootAt.Add(time.Hour), truthOf(t, e.sim, id).VanishedAt)

	e.sim.ResetCounters()
	it = truthOf(t, e.sim, id)
	assert.Empty(t, it.InstallTimes, "reset with the counters")
	assert.Empty(t, it.RebootTimes)
}
