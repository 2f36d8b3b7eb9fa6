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
	"github.com/fleetmend/fleetmend/internal/config/numflag/numflagtest"
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
		{[]string{"--missing", "0.6", "--silent", "0.5"}, "--missing + --silent + --stopped + --install-fails + --outdated + --managed is 1.18, must be at most 1"},
		{[]string{"--missing", "0.5", "--managed", "0.6"}, "--missing + --silent + --stopped + --install-fails + --outdated + --managed is 1.23, must be at most 1"},
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
		"--regions", "cn-hangzhou, cn-shanghai", "--fleet-size", "250", "--seed", "9", "--missing", "0.2", "--managed", "0.05",
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
	assert.Equal(t, 0.05, cfg.Fleets[0].Managed)
	assert.NotEqual(t, cfg.Fleets[0].Seed, cfg.Fleets[1].Seed, "regions get different fleets")

	sim, err := ecssim.New(cfg)
	require.NoError(t, err, "flag validation admits only valid configs")
	assert.Len(t, sim.Truth().Instances, 500)
	assert.Len(t, sim.ManagedInstanceIDs("cn-shanghai"), 13, "round(0.05 × 250) managed instances per region")
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

// numericFlags is every numeric flag of ecssim with values around its
// allowed range. TestFlagTableIsComplete fails when one is missing here.
func numericFlags() []numflagtest.Flag {
	share := func(name string) numflagtest.Flag {
		return numflagtest.Flag{Name: name, Allowed: "0..1", Below: "-0.1", Min: "0", Max: "1", Above: "1.01", ZeroOK: true}
	}
	return []numflagtest.Flag{
		{Name: "fleet-size", Allowed: "1..1000000", Below: "-1", Min: "1", Max: "1000000", Above: "1000001"},
		{Name: "seed", Allowed: "1..2147483647", Below: "-1", Min: "1", Max: "2147483647", Above: "2147483648"},
		share("missing"), share("silent"), share("stopped"), share("install-fails"), share("vanish"), share("outdated"), share("managed"),
		share("error-rate"), share("drop-rate"),
		{Name: "time-scale", Allowed: "(0, 1000000]", Below: "-1", Min: "0.001", Max: "1000000", Above: "1e9"},
		{Name: "throttle-rps", Allowed: "0..1000000000", Below: "-5", Min: "0", Max: "1e9", Above: "1000000001", ZeroOK: true},
		{Name: "latency", Allowed: "0s..5m", Below: "-1s", Min: "0s", Max: "5m", Above: "1h", ZeroOK: true},
	}
}

func TestFlagTableIsComplete(t *testing.T) {
	var o options
	var regions string
	numflagtest.CheckComplete(t, numflagtest.NumericFlags(newFlagSet(&o, &regions, io.Discard)), numericFlags())
}

// TestBinary runs the real ecssim binary: every numeric flag refuses a
// value below and above its range, 0 (unless 0 means something) and a word,
// with exit code 2 and one line naming the flag and the range, before it
// listens; --version prints the build.
func TestBinary(t *testing.T) {
	bin := numflagtest.Build(t, "ecssim")
	t.Run("--version", func(t *testing.T) {
		numflagtest.CheckVersion(t, numflagtest.Run(t, bin, numflagtest.CleanEnv(), "--version"), "ecssim")
	})
	for _, f := range numericFlags() {
		for _, v := range f.Refused() {
			t.Run("--"+f.Name+"="+v, func(t *testing.T) {
				r := numflagtest.Run(t, bin, numflagtest.CleanEnv(), "--"+f.Name, v)
				numflagtest.CheckRefused(t, r, "ecssim: --"+f.Name+" is ", "allowed range is "+f.Allowed)
			})
		}
	}
}

func TestFlagRangeEndsAreAccepted(t *testing.T) {
	for _, f := range numericFlags() {
		for _, v := range f.Accepted() {
			// The problem shares add up to at most 1: only the one tested is set.
			args := []string{"--missing", "0", "--silent", "0", "--stopped", "0", "--install-fails", "0", "--outdated", "0", "--" + f.Name, v}
			_, err := parseFlags(args, io.Discard)
			assert.NoError(t, err, "%v", args)
		}
	}
}
