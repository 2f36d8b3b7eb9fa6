package ecs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecs"
)

func TestUserAgentReachesTheService(t *testing.T) {
	f := newSim(t, 1)
	ctx := context.Background()
	_, err := f.client.ListInstanceStatus(ctx, ecs.ListInput{})
	require.NoError(t, err)
	c := f.newClient(t, ecs.Config{UserAgent: "fleetmend/test-1"})
	_, err = c.ListInstanceStatus(ctx, ecs.ListInput{})
	require.NoError(t, err)
	_, err = c.DescribeInstances(ctx, f.sim.InstanceIDs("cn-hangzhou"))
	require.NoError(t, err)

	withToken, without := 0, 0
	for ua, n := range f.sim.Truth().UserAgents {
		if strings.Contains(ua, "fleetmend/test-1") {
			withToken += n
			require.True(t, strings.HasPrefix(ua, "AlibabaCloud ("), "appended to the SDK's own header: %q", ua)
		} else {
			without += n
		}
	}
	require.Equal(t, 2, withToken, "every request of the client carries it")
	require.Equal(t, 1, without, "a client without UserAgent adds nothing")
}

func TestUserAgentValidation(t *testing.T) {
	base := ecs.Config{Region: "cn-hangzhou"}
	for _, ok := range []string{"", "fleetmend/1.2.3", "fleetmend/test-1", "my_tool/v2+build.7"} {
		cfg := base
		cfg.UserAgent = ok
		require.NoError(t, cfg.Validate(), ok)
	}
	for _, bad := range []string{"fleetmend", "fleetmend 1.2.3", "fleetmend/1.2 extra/1", "fleetmend/", "/1.2.3",
		"a/b/c", "fleet(mend)/1", "core/1.0", "Go/1.26"} {
		cfg := base
		cfg.UserAgent = bad
		err := cfg.Validate()
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), "UserAgent")
	}
}
