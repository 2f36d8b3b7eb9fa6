package ecssim_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// rpcWithUserAgent sends an unsigned request to the RPC endpoint; it is
// refused (no Action), which must not stop it from being counted.
func rpcWithUserAgent(t *testing.T, e *env, ua string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL()+"/", nil)
	require.NoError(t, err)
	req.Header.Set("User-Agent", ua)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestTruthUserAgents(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	c.AppendUserAgent("fleetmend", "test-1")
	_, err := describeStatus(c, 1, 10)
	require.NoError(t, err)
	rpcWithUserAgent(t, e, "curl/8.5.0")
	rpcWithUserAgent(t, e, "curl/8.5.0")

	uas := e.sim.Truth().UserAgents
	assert.Equal(t, 2, uas["curl/8.5.0"], "refused requests count too")
	sdk := 0
	for ua, n := range uas {
		if strings.Contains(ua, "fleetmend/test-1") {
			sdk += n
			assert.Contains(t, ua, "AlibabaCloud (", "the SDK's header with the appended product")
		}
	}
	assert.Equal(t, 1, sdk)
	resp, err := http.Get(e.srv.URL() + "/_sim/truth")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Len(t, e.sim.Truth().UserAgents, 2, "the /_sim/ paths are not RPC requests")

	e.sim.ResetCounters()
	assert.Empty(t, e.sim.Truth().UserAgents, "reset with the counters")

	// Distinct values are bounded; the rest count together.
	for i := range ecssim.MaxUserAgents + 5 {
		rpcWithUserAgent(t, e, fmt.Sprintf("probe/%d", i))
	}
	rpcWithUserAgent(t, e, "probe/0")
	uas = e.sim.Truth().UserAgents
	assert.Len(t, uas, ecssim.MaxUserAgents+1)
	assert.Equal(t, 5, uas[ecssim.OtherUserAgents])
	assert.Equal(t, 2, uas["probe/0"], "a value already kept keeps counting")
}
