package ecssim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

func TestFaultThrottling(t *testing.T) {
	wall := ecssim.NewManualClock(time.Now()) // the bucket refills only when the test says so
	e := newEnv(t, ecssim.Config{WallClock: wall})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{})
	c := e.client(t)
	require.NoError(t, e.sim.SetFaults(ecssim.Faults{ThrottleRPS: 5}))

	outcomes := func(n int) (ok, throttled int) {
		for range n {
			_, err := describeStatus(c, 1, 10)
			if err == nil {
				ok++
				continue
			}
			requireServerError(t, err, http.StatusBadRequest, "Throttling.User")
			throttled++
		}
		return ok, throttled
	}
	ok, throttled := outcomes(8)
	assert.Equal(t, 5, ok, "the bucket holds one second's worth")
	assert.Equal(t, 3, throttled)

	wall.Advance(400 * time.Millisecond) // 2 tokens
	ok, throttled = outcomes(3)
	assert.Equal(t, 2, ok)
	assert.Equal(t, 1, throttled)

	// Restricted to one action, the others are not throttled.
	require.NoError(t, e.sim.SetFaults(ecssim.Faults{ThrottleRPS: 1, Actions: []string{ecssim.ActionRebootInstance}}))
	ok, _ = outcomes(5)
	assert.Equal(t, 5, ok)
	require.NoError(t, reboot(c, id))
	e.clock.Advance(time.Hour)
	requireServerError(t, reboot(c, id), http.StatusBadRequest, "Throttling.User")
	assert.Equal(t, 1, truthOf(t, e.sim, id).Reboots)

	tr := e.sim.Truth().Actions
	assert.Equal(t, 8+3+5, tr[ecssim.ActionDescribeInstanceStatus].Calls)
	assert.Equal(t, 3+1, tr[ecssim.ActionDescribeInstanceStatus].Errors)
	assert.Equal(t, 2, tr[ecssim.ActionRebootInstance].Calls)
	assert.Equal(t, 1, tr[ecssim.ActionRebootInstance].Errors)
}

func TestFaultServerErrors(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	run := func() []string {
		require.NoError(t, e.sim.SetFaults(ecssim.Faults{ErrorRate: 0.3, Seed: 7}))
		var codes []string
		for range 100 {
			_, err := describeStatus(c, 1, 10)
			if err == nil {
				codes = append(codes, "ok")
				continue
			}
			var se *sdkerrors.ServerError
			require.ErrorAs(t, err, &se)
			require.Contains(t, []int{500, 503}, se.HttpStatus())
			codes = append(codes, se.ErrorCode())
		}
		return codes
	}
	first := run()
	counts := map[string]int{}
	for _, c := range first {
		counts[c]++
	}
	failed := counts["ServiceUnavailable"] + counts["InternalError.Dispatch"]
	assert.InDelta(t, 30, failed, 15, "about 30%% fail: %v", counts)
	assert.Positive(t, counts["ServiceUnavailable"])
	assert.Positive(t, counts["InternalError.Dispatch"])
	assert.Equal(t, first, run(), "the same seed replays the same failures")
}

func TestFaultLatency(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	const latency = 300 * time.Millisecond
	// Set over HTTP to check the wire form of faults too.
	putFaults(t, e, `{"latency":"300ms","actions":["DescribeInstanceStatus"]}`)
	assert.Equal(t, latency, e.sim.Faults().Latency)

	start := time.Now()
	_, err := describeStatus(c, 1, 10)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), latency)

	start = time.Now()
	_, err = assistantStatus(c)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), latency, "other actions are not delayed")
}

func TestFaultDroppedConnection(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	require.NoError(t, e.sim.SetFaults(ecssim.Faults{DropRate: 1}))
	_, err := describeStatus(c, 1, 10)
	require.Error(t, err)
	var se *sdkerrors.ServerError
	assert.False(t, errors.As(err, &se), "a dropped connection is a transport error, not an answer: %v", err)
	var urlErr *url.Error
	assert.True(t, errors.As(err, &urlErr), "got %T: %v", err, err)
	var netErr net.Error
	assert.True(t, errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF), "got %v", err)

	require.NoError(t, e.sim.SetFaults(ecssim.Faults{}))
	_, err = describeStatus(c, 1, 10)
	require.NoError(t, err, "the client recovers on a new connection")
	tr := e.sim.Truth().Actions[ecssim.ActionDescribeInstanceStatus]
	assert.Equal(t, 2, tr.Calls)
	assert.Equal(t, 1, tr.Errors)
}

func TestFaultsHTTP(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	got := putFaults(t, e, `{"throttle_rps":2.5,"throttle_burst":4,"error_rate":0.25,"latency":"1.5s","drop_rate":0.125,"actions":["RebootInstances"],"seed":9}`)
	want := ecssim.Faults{ThrottleRPS: 2.5, ThrottleBurst: 4, ErrorRate: 0.25, Latency: 1500 * time.Millisecond,
		DropRate: 0.125, Actions: []string{"RebootInstances"}, Seed: 9}
	assert.Equal(t, want, got)
	assert.Equal(t, want, e.sim.Faults())

	resp, err := http.Get(e.srv.URL() + "/_sim/faults")
	require.NoError(t, err)
	defer resp.Body.Close()
	var read ecssim.Faults
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&read))
	assert.Equal(t, want, read)

	for _, bad := range []string{`{"error_rate":2}`, `{"latency":"soon"}`, `{"actions":["Nope"]}`, `{"drop_rate":-1}`, `not json`} {
		req, err := http.NewRequest(http.MethodPut, e.srv.URL()+"/_sim/faults", bytes.NewBufferString(bad))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, bad)
	}
	assert.Equal(t, want, e.sim.Faults(), "rejected updates change nothing")
}

func putFaults(t *testing.T, e *env, body string) ecssim.Faults {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, e.srv.URL()+"/_sim/faults", bytes.NewBufferString(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var f ecssim.Faults
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&f))
	return f
}
