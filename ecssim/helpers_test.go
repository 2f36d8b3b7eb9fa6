package ecssim_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// testStart is the simulated start of every manual-clock test.
func testStart() time.Time { return time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC) }

type env struct {
	sim   *ecssim.Sim
	srv   *ecssim.Server
	clock *ecssim.ManualClock
}

// newEnv starts a simulator on a loopback port with a ManualClock (unless
// cfg brings its own clock) and closes it when the test ends.
func newEnv(t testing.TB, cfg ecssim.Config) *env {
	t.Helper()
	e := &env{}
	if cfg.Clock == nil {
		e.clock = ecssim.NewManualClock(testStart())
		cfg.Clock = e.clock
	} else if mc, ok := cfg.Clock.(*ecssim.ManualClock); ok {
		e.clock = mc
	}
	sim, err := ecssim.New(cfg)
	require.NoError(t, err)
	srv, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	e.sim, e.srv = sim, srv
	return e
}

func (e *env) client(t testing.TB) *ecs.Client {
	return newClient(t, e.srv.Endpoint(), ecssim.DefaultRegion,
		credentials.NewStaticAKCredentialsProvider(ecssim.DefaultAccessKeyID, ecssim.DefaultAccessKeySecret))
}

func (e *env) regionClient(t testing.TB, region string) *ecs.Client {
	return newClient(t, e.srv.Endpoint(), region,
		credentials.NewStaticAKCredentialsProvider(ecssim.DefaultAccessKeyID, ecssim.DefaultAccessKeySecret))
}

// newClient is the real SDK client exactly as fleetmend builds one: default
// config (HTTP), AutoRetry off, endpoint overridden, no proxy for loopback.
func newClient(t testing.TB, endpoint, region string, cred auth.Credential) *ecs.Client {
	t.Helper()
	c, err := ecs.NewClientWithOptions(region, sdk.NewConfig().WithAutoRetry(false).WithScheme("HTTP"), cred)
	require.NoError(t, err)
	c.Domain = endpoint
	c.SetNoProxy("127.0.0.1")
	return c
}

// requireServerError asserts err is the SDK's ServerError with status and code.
func requireServerError(t testing.TB, err error, status int, code string) *sdkerrors.ServerError {
	t.Helper()
	require.Error(t, err)
	var se *sdkerrors.ServerError
	require.True(t, errors.As(err, &se), "want *errors.ServerError, got %T: %v", err, err)
	require.Equal(t, code, se.ErrorCode(), "message: %s", se.Message())
	require.Equal(t, status, se.HttpStatus(), "code %s", se.ErrorCode())
	require.NotEmpty(t, se.RequestId())
	return se
}

func ids(list ...string) *[]string { return &list }

// fakeIDs returns n distinct IDs that no instance has.
func fakeIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("i-nosuchinstance%05d", i)
	}
	return out
}

// ---- hand-signed requests, for what the SDK cannot be made to send ----

// rawParams returns the common parameters the SDK sends for action, with a
// fresh nonce and the current time.
func rawParams(action string) url.Values {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return url.Values{
		"AccessKeyId":      {ecssim.DefaultAccessKeyID},
		"Action":           {action},
		"Format":           {"JSON"},
		"RegionId":         {ecssim.DefaultRegion},
		"SignatureMethod":  {"HMAC-SHA1"},
		"SignatureNonce":   {hex.EncodeToString(nonce)},
		"SignatureType":    {""},
		"SignatureVersion": {"1.0"},
		"Timestamp":        {time.Now().UTC().Format("2006-01-02T15:04:05Z")},
		"Version":          {ecssim.APIVersion},
	}
}

// signRaw signs params (independently of the simulator's own code, from the
// scheme in WIRE-FACTS) and returns the query string.
func signRaw(method string, params url.Values, secret string) string {
	p := url.Values{}
	for k, v := range params {
		if k != "Signature" {
			p[k] = v
		}
	}
	canonical := p.Encode() // sorted by key, query-escaped
	canonical = strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(canonical)
	sts := method + "&%2F&" + url.QueryEscape(canonical)
	p.Set("Signature", ecssim.Sign(sts, secret))
	return p.Encode()
}

// doRaw sends a hand-made request and converts a non-2xx answer into the
// SDK's ServerError, exactly as the SDK would.
func doRaw(t testing.TB, endpoint, method, query string) (int, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+endpoint+"/?"+query, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return resp.StatusCode, body, sdkerrors.NewServerError(resp.StatusCode, string(body), "")
	}
	return resp.StatusCode, body, nil
}

// commonRequest builds an SDK CommonRequest, for protocol errors (wrong
// version, unknown action) the typed requests cannot produce.
func commonRequest(version, action string) *requests.CommonRequest {
	r := requests.NewCommonRequest()
	r.Method = requests.POST
	r.Product = "Ecs"
	r.Version = version
	r.ApiName = action
	r.Scheme = "http"
	return r
}

// ---- small SDK call wrappers ----

func describeStatus(c *ecs.Client, pageNumber, pageSize int) (*ecs.DescribeInstanceStatusResponse, error) {
	r := ecs.CreateDescribeInstanceStatusRequest()
	r.PageNumber = requests.NewInteger(pageNumber)
	r.PageSize = requests.NewInteger(pageSize)
	return c.DescribeInstanceStatus(r)
}

func assistantStatus(c *ecs.Client, instanceIDs ...string) (*ecs.DescribeCloudAssistantStatusResponse, error) {
	r := ecs.CreateDescribeCloudAssistantStatusRequest()
	r.InstanceId = &instanceIDs
	return c.DescribeCloudAssistantStatus(r)
}

// oneStatus returns the Cloud Assistant status of one instance.
func oneStatus(t testing.TB, c *ecs.Client, id string) ecs.InstanceCloudAssistantStatus {
	t.Helper()
	resp, err := assistantStatus(c, id)
	require.NoError(t, err)
	require.Len(t, resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus, 1)
	return resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus[0]
}

func instanceState(t testing.TB, c *ecs.Client, id string) string {
	t.Helper()
	r := ecs.CreateDescribeInstanceStatusRequest()
	r.InstanceId = &[]string{id}
	resp, err := c.DescribeInstanceStatus(r)
	require.NoError(t, err)
	require.Len(t, resp.InstanceStatuses.InstanceStatus, 1)
	return resp.InstanceStatuses.InstanceStatus[0].Status
}

func install(c *ecs.Client, instanceIDs ...string) error {
	r := ecs.CreateInstallCloudAssistantRequest()
	r.InstanceId = &instanceIDs
	_, err := c.InstallCloudAssistant(r)
	return err
}

func reboot(c *ecs.Client, id string) error {
	r := ecs.CreateRebootInstanceRequest()
	r.InstanceId = id
	_, err := c.RebootInstance(r)
	return err
}

func addInstance(t testing.TB, sim *ecssim.Sim, spec ecssim.InstanceSpec) string {
	t.Helper()
	id, err := sim.AddInstance(spec)
	require.NoError(t, err)
	return id
}

func truthOf(t testing.TB, sim *ecssim.Sim, id string) ecssim.InstanceTruth {
	t.Helper()
	it, ok := sim.Instance(id)
	require.True(t, ok, "instance %s", id)
	return it
}

// requestIDOf returns the RequestId of a JSON body and checks its UUID shape.
func requestIDOf(t testing.TB, body []byte) string {
	t.Helper()
	var v struct{ RequestId string }
	require.NoError(t, json.Unmarshal(body, &v))
	require.Regexp(t, `^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$`, v.RequestId)
	return v.RequestId
}
