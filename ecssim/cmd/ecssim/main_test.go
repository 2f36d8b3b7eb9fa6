package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

func TestParseFlagsRejects(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the error names the flag and the allowed range
	}{
		{[]string{"--addr", "nonsense"}, "--addr must be host:port"},
		{[]string{"--regions", ""}, "--regions must be"},
		{[]string{"--regions", "cn-hangzhou,,cn-shanghai"}, "--regions must be"},
		{[]string{"--regions", "CN Hangzhou"}, "--regions must be"},
		{[]string{"--regions", "cn-hangzhou,cn-hangzhou"}, `--regions lists "cn-hangzhou" twice`},
		{[]string{"--access-key-id", ""}, "--access-key-id must not be empty"},
		{[]string{"--access-key-secret", ""}, "--access-key-secret must not be empty"},
		{[]string{"--fleet-size", "-1"}, "--fleet-size must be between 0 and 1000000"},
		{[]string{"--fleet-size", "2000000"}, "--fleet-size must be between 0 and 1000000"},
		{[]string{"--missing", "1.5"}, "--missing must be between 0 and 1"},
		{[]string{"--silent", "-0.1"}, "--silent must be between 0 and 1"},
		{[]string{"--stopped", "2"}, "--stopped must be between 0 and 1"},
		{[]string{"--install-fails", "NaN"}, "--install-fails must be between 0 and 1"},
		{[]string{"--vanish", "1.01"}, "--vanish must be between 0 and 1"},
		{[]string{"--outdated", "-1"}, "--outdated must be between 0 and 1"},
		{[]string{"--missing", "0.6", "--silent", "0.5"}, "must be at most 1"},
		{[]string{"--time-scale", "0"}, "--time-scale must be greater than 0"},
		{[]string{"--time-scale", "1e9"}, "--time-scale must be greater than 0 and at most"},
		{[]string{"--throttle-rps", "-5"}, "--throttle-rps must be between 0"},
		{[]string{"--error-rate", "1.2"}, "--error-rate must be between 0 and 1"},
		{[]string{"--drop-rate", "-0.5"}, "--drop-rate must be between 0 and 1"},
		{[]string{"--latency", "-1s"}, "--latency must be between 0 and"},
		{[]string{"--latency", "1h"}, "--latency must be between 0 and"},
		{[]string{"--latency", "soon"}, "invalid value"},
		{[]string{"--no-such-flag"}, "not defined"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseFlagsBuildsConfig(t *testing.T) {
	o, err := parseFlags([]string{
		"--regions", "cn-hangzhou, cn-shanghai", "--fleet-size", "250", "--seed", "9", "--missing", "0.2",
		"--time-scale", "60", "--throttle-rps", "20", "--latency", "50ms", "--access-key-id", "ak", "--access-key-secret", "sk",
	}, io.Discard)
	require.NoError(t, err)
	cfg := o.config()
	assert.Equal(t, []string{"cn-hangzhou", "cn-shanghai"}, cfg.Regions)
	assert.Equal(t, map[string]ecssim.Credential{"ak": {Secret: "sk"}}, cfg.Credentials)
	assert.Equal(t, 60.0, cfg.TimeScale)
	assert.Equal(t, ecssim.Faults{ThrottleRPS: 20, Latency: 50 * time.Millisecond}, cfg.Faults)
	require.Len(t, cfg.Fleets, 2)
	assert.Equal(t, "cn-shanghai", cfg.Fleets[1].Region)
	assert.Equal(t, 250, cfg.Fleets[1].Size)
	assert.Equal(t, 0.2, cfg.Fleets[0].Missing)
	assert.NotEqual(t, cfg.Fleets[0].Seed, cfg.Fleets[1].Seed, "regions get different fleets")

	sim, err := ecssim.New(cfg)
	require.NoError(t, err, "flag validation admits only valid configs")
	assert.Len(t, sim.Truth().Instances, 500)
}

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--fleet-size", "12", "--missing", "0.25"}, &out, io.Discard)
	}()
	endpointRE := regexp.MustCompile(`\(endpoint (127\.0\.0\.1:\d+)\)`)
	require.Eventually(t, func() bool { return endpointRE.MatchString(out.String()) }, 10*time.Second, 10*time.Millisecond)
	endpoint := endpointRE.FindStringSubmatch(out.String())[1]
	assert.Contains(t, out.String(), "client.Domain = \""+endpoint+"\"")

	c, err := ecs.NewClientWithOptions("cn-hangzhou", sdk.NewConfig(),
		credentials.NewStaticAKCredentialsProvider(ecssim.DefaultAccessKeyID, ecssim.DefaultAccessKeySecret))
	require.NoError(t, err)
	c.Domain = endpoint
	c.SetNoProxy("127.0.0.1")
	resp, err := c.DescribeInstanceStatus(ecs.CreateDescribeInstanceStatusRequest())
	require.NoError(t, err)
	assert.Equal(t, 12, resp.TotalCount)

	hr, err := http.Get("http://" + endpoint + "/_sim/truth")
	require.NoError(t, err)
	var truth ecssim.Truth
	require.NoError(t, json.NewDecoder(hr.Body).Decode(&truth))
	require.NoError(t, hr.Body.Close())
	missing := 0
	for _, it := range truth.Instances {
		if it.InitialProblem == ecssim.ProblemMissing {
			missing++
		}
	}
	assert.Equal(t, 3, missing)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
	assert.Contains(t, out.String(), "shutting down")
}
