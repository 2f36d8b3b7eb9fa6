package ecssim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

func TestSDKDescribeInstanceStatus(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	running := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true, Zone: "cn-hangzhou-h", ClusterID: "cls-1"})
	stopped := addInstance(t, e.sim, ecssim.InstanceSpec{State: ecssim.StateStopped, Zone: "cn-hangzhou-i"})
	starting := addInstance(t, e.sim, ecssim.InstanceSpec{State: ecssim.StateStarting, Zone: "cn-hangzhou-h"})
	c := e.client(t)

	resp, err := c.DescribeInstanceStatus(ecs.CreateDescribeInstanceStatusRequest())
	require.NoError(t, err)
	assert.NotEmpty(t, resp.RequestId)
	assert.Equal(t, 3, resp.TotalCount)
	assert.Equal(t, 1, resp.PageNumber)
	assert.Equal(t, 10, resp.PageSize, "documented default page size")
	assert.Equal(t, []ecs.InstanceStatus{
		{InstanceId: running, Status: ecssim.StateRunning},
		{InstanceId: stopped, Status: ecssim.StateStopped},
		{InstanceId: starting, Status: ecssim.StateStarting},
	}, resp.InstanceStatuses.InstanceStatus, "creation order")

	// InstanceId.N: unknown IDs are simply omitted.
	r := ecs.CreateDescribeInstanceStatusRequest()
	r.InstanceId = ids(starting, "i-doesnotexist000000", running)
	resp, err = c.DescribeInstanceStatus(r)
	require.NoError(t, err)
	assert.Equal(t, 2, resp.TotalCount)
	assert.Equal(t, []ecs.InstanceStatus{
		{InstanceId: running, Status: ecssim.StateRunning},
		{InstanceId: starting, Status: ecssim.StateStarting},
	}, resp.InstanceStatuses.InstanceStatus)

	// Paging applies to an ID list as well.
	var many []string
	for range 12 {
		many = append(many, addInstance(t, e.sim, ecssim.InstanceSpec{}))
	}
	r = ecs.CreateDescribeInstanceStatusRequest()
	r.InstanceId = &many
	resp, err = c.DescribeInstanceStatus(r)
	require.NoError(t, err)
	assert.Equal(t, 12, resp.TotalCount)
	assert.Len(t, resp.InstanceStatuses.InstanceStatus, 10)
	r = ecs.CreateDescribeInstanceStatusRequest()
	r.InstanceId = &many
	r.PageNumber = "2"
	resp, err = c.DescribeInstanceStatus(r)
	require.NoError(t, err)
	require.Len(t, resp.InstanceStatuses.InstanceStatus, 2)
	assert.Equal(t, many[11], resp.InstanceStatuses.InstanceStatus[1].InstanceId)
	for _, id := range many {
		require.NoError(t, e.sim.Vanish(id))
	}

	// Zone and cluster filters.
	r = ecs.CreateDescribeInstanceStatusRequest()
	r.ZoneId = "cn-hangzhou-h"
	resp, err = c.DescribeInstanceStatus(r)
	require.NoError(t, err)
	assert.Equal(t, 2, resp.TotalCount)
	r = ecs.CreateDescribeInstanceStatusRequest()
	r.ClusterId = "cls-1"
	r.ZoneId = "cn-hangzhou-h"
	resp, err = c.DescribeInstanceStatus(r)
	require.NoError(t, err)
	require.Equal(t, 1, resp.TotalCount)
	assert.Equal(t, running, resp.InstanceStatuses.InstanceStatus[0].InstanceId)

	// Starting becomes Running after the start duration; vanished instances leave the listing.
	e.clock.Advance(ecssim.DefaultStartDuration)
	require.NoError(t, e.sim.Vanish(stopped))
	resp, err = describeStatus(c, 1, 50)
	require.NoError(t, err)
	assert.Equal(t, []ecs.InstanceStatus{
		{InstanceId: running, Status: ecssim.StateRunning},
		{InstanceId: starting, Status: ecssim.StateRunning},
	}, resp.InstanceStatuses.InstanceStatus)
}

func TestSDKDescribeCloudAssistantStatus(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	healthy := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true, OSType: ecssim.OSLinux})
	missing := addInstance(t, e.sim, ecssim.InstanceSpec{OSType: ecssim.OSWindows})
	silentHB := testStart().Add(-10 * time.Minute)
	silent := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true, AgentSilent: true, LastHeartbeat: silentHB, OSType: ecssim.OSFreeBSD})
	c := e.client(t)

	resp, err := assistantStatus(c, missing, healthy, silent)
	require.NoError(t, err)
	assert.NotEmpty(t, resp.RequestId)
	assert.Equal(t, []ecs.InstanceCloudAssistantStatus{
		{InstanceId: missing, CloudAssistantStatus: "false", OSType: ecssim.OSWindows},
		{InstanceId: healthy, CloudAssistantStatus: "true", CloudAssistantVersion: ecssim.DefaultAgentVersion,
			LastHeartbeatTime: "2025-03-01T08:00:00Z", OSType: ecssim.OSLinux, SupportSessionManager: true},
		{InstanceId: silent, CloudAssistantStatus: "false", LastHeartbeatTime: "2025-03-01T07:50:00Z",
			OSType: ecssim.OSFreeBSD, SupportSessionManager: true},
	}, resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus, "named instances in the order given")

	// Without IDs: the whole region, paged; OSType filters.
	r := ecs.CreateDescribeCloudAssistantStatusRequest()
	r.OSType = ecssim.OSWindows
	resp, err = c.DescribeCloudAssistantStatus(r)
	require.NoError(t, err)
	assert.EqualValues(t, 1, resp.TotalCount)
	require.Len(t, resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus, 1)
	assert.Equal(t, missing, resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus[0].InstanceId)

	r = ecs.CreateDescribeCloudAssistantStatusRequest()
	r.PageSize = requests.NewInteger(2)
	r.PageNumber = requests.NewInteger(2)
	resp, err = c.DescribeCloudAssistantStatus(r)
	require.NoError(t, err)
	assert.EqualValues(t, 3, resp.TotalCount)
	assert.EqualValues(t, 2, resp.PageNumber)
	assert.EqualValues(t, 2, resp.PageSize)
	require.Len(t, resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus, 1)
	assert.Equal(t, silent, resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus[0].InstanceId)
	assert.Empty(t, resp.NextToken)
}

func TestSDKInstallCloudAssistant(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	a := addInstance(t, e.sim, ecssim.InstanceSpec{})
	b := addInstance(t, e.sim, ecssim.InstanceSpec{})
	r := ecs.CreateInstallCloudAssistantRequest()
	r.InstanceId = ids(a, b)
	resp, err := e.client(t).InstallCloudAssistant(r)
	require.NoError(t, err)
	assert.NotEmpty(t, resp.RequestId)
	for _, id := range []string{a, b} {
		it := truthOf(t, e.sim, id)
		assert.Equal(t, 1, it.Installs)
		assert.True(t, it.PendingInstall)
		assert.False(t, it.AgentInstalled, "an install takes effect only after a reboot")
	}
}

func TestSDKRebootInstance(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{})
	r := ecs.CreateRebootInstanceRequest()
	r.InstanceId = id
	r.ForceStop = requests.NewBoolean(true)
	resp, err := e.client(t).RebootInstance(r)
	require.NoError(t, err)
	assert.NotEmpty(t, resp.RequestId)
	it := truthOf(t, e.sim, id)
	assert.Equal(t, ecssim.StateStopping, it.State)
	assert.Equal(t, 1, it.Reboots)
}

func TestSDKRebootInstances(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	a := addInstance(t, e.sim, ecssim.InstanceSpec{})
	b := addInstance(t, e.sim, ecssim.InstanceSpec{})
	stopped := addInstance(t, e.sim, ecssim.InstanceSpec{State: ecssim.StateStopped})
	c := e.client(t)

	// AllTogether (the default) reboots all of them.
	r := ecs.CreateRebootInstancesRequest()
	r.InstanceId = ids(a, b)
	r.ForceReboot = requests.NewBoolean(false)
	resp, err := c.RebootInstances(r)
	require.NoError(t, err)
	assert.NotEmpty(t, resp.RequestId)
	assert.Equal(t, []ecs.InstanceResponse{
		{InstanceId: a, Code: "200", Message: "success", PreviousStatus: "Running", CurrentStatus: "Stopping"},
		{InstanceId: b, Code: "200", Message: "success", PreviousStatus: "Running", CurrentStatus: "Stopping"},
	}, resp.InstanceResponses.InstanceResponse)

	// SuccessFirst: each instance on its own.
	e.clock.Advance(time.Minute)
	r = ecs.CreateRebootInstancesRequest()
	r.InstanceId = ids(a, stopped, "i-doesnotexist000000")
	r.BatchOptimization = "SuccessFirst"
	resp, err = c.RebootInstances(r)
	require.NoError(t, err)
	assert.Equal(t, []ecs.InstanceResponse{
		{InstanceId: a, Code: "200", Message: "success", PreviousStatus: "Running", CurrentStatus: "Stopping"},
		{InstanceId: stopped, Code: "IncorrectInstanceStatus", Message: "The current status of the resource does not support this operation.",
			PreviousStatus: "Stopped", CurrentStatus: "Stopped"},
		{InstanceId: "i-doesnotexist000000", Code: "InvalidInstanceId.NotFound", Message: "The specified InstanceId does not exist."},
	}, resp.InstanceResponses.InstanceResponse)
	assert.Equal(t, 2, truthOf(t, e.sim, a).Reboots)
	assert.Equal(t, 1, truthOf(t, e.sim, b).Reboots)
	assert.Equal(t, 0, truthOf(t, e.sim, stopped).Reboots)
	assert.Equal(t, 1, truthOf(t, e.sim, stopped).RefusedReboots)
}

func TestSDKWrongSecret(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := newClient(t, e.srv.Endpoint(), ecssim.DefaultRegion,
		credentials.NewStaticAKCredentialsProvider(ecssim.DefaultAccessKeyID, "not-the-secret"))
	_, err := describeStatus(c, 1, 10)
	se := requireServerError(t, err, http.StatusBadRequest, "SignatureDoesNotMatch")
	assert.Contains(t, se.Message(), "Specified signature is not matched with our calculation. server string to sign is:")
	// The SDK compares the server's string to sign with its own: equal means
	// the simulator canonicalized exactly like the SDK and only the secret is wrong.
	assert.Equal(t, "InvalidAccessKeySecret: Please check you AccessKeySecret", se.Recommend())
}

func TestSDKUnknownAccessKey(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := newClient(t, e.srv.Endpoint(), ecssim.DefaultRegion,
		credentials.NewStaticAKCredentialsProvider("no-such-key", ecssim.DefaultAccessKeySecret))
	_, err := describeStatus(c, 1, 10)
	requireServerError(t, err, http.StatusNotFound, "InvalidAccessKeyId.NotFound")
}

func TestSDKSecurityTokenAndForbidden(t *testing.T) {
	e := newEnv(t, ecssim.Config{Credentials: map[string]ecssim.Credential{
		"sts-key":      {Secret: "sts-secret", SecurityToken: "the-token"},
		"ro-key":       {Secret: "ro-secret", ForbiddenActions: []string{ecssim.ActionRebootInstance}},
		"nothing-key":  {Secret: "nothing-secret", Forbidden: true},
		"ordinary-key": {Secret: "ordinary-secret"},
	}})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{})
	ep := e.srv.Endpoint()

	good := newClient(t, ep, ecssim.DefaultRegion, credentials.NewStaticSTSCredentialsProvider("sts-key", "sts-secret", "the-token"))
	_, err := describeStatus(good, 1, 10)
	require.NoError(t, err)

	wrong := newClient(t, ep, ecssim.DefaultRegion, credentials.NewStaticSTSCredentialsProvider("sts-key", "sts-secret", "another-token"))
	_, err = describeStatus(wrong, 1, 10)
	requireServerError(t, err, http.StatusBadRequest, "InvalidSecurityToken.Mismatch")

	none := newClient(t, ep, ecssim.DefaultRegion, credentials.NewStaticAKCredentialsProvider("sts-key", "sts-secret"))
	_, err = describeStatus(none, 1, 10)
	requireServerError(t, err, http.StatusBadRequest, "MissingParameter")

	ro := newClient(t, ep, ecssim.DefaultRegion, credentials.NewStaticAKCredentialsProvider("ro-key", "ro-secret"))
	_, err = describeStatus(ro, 1, 10)
	require.NoError(t, err)
	requireServerError(t, reboot(ro, id), http.StatusForbidden, "Forbidden.RAM")

	nothing := newClient(t, ep, ecssim.DefaultRegion, credentials.NewStaticAKCredentialsProvider("nothing-key", "nothing-secret"))
	_, err = describeStatus(nothing, 1, 10)
	requireServerError(t, err, http.StatusForbidden, "Forbidden.RAM")

	// The default pair is not configured when Credentials is given.
	_, err = describeStatus(e.client(t), 1, 10)
	requireServerError(t, err, http.StatusNotFound, "InvalidAccessKeyId.NotFound")
}

// TestSDKSignsAwkwardCharacters checks the RFC 3986 encoding on values with
// spaces, '*', '~', '/', '+' and non-ASCII characters.
func TestSDKSignsAwkwardCharacters(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	addInstance(t, e.sim, ecssim.InstanceSpec{ClusterID: "cls a*b~c/d+e=f&g é"})
	r := ecs.CreateDescribeInstanceStatusRequest()
	r.ClusterId = "cls a*b~c/d+e=f&g é"
	resp, err := e.client(t).DescribeInstanceStatus(r)
	require.NoError(t, err)
	assert.Equal(t, 1, resp.TotalCount)
}

func TestRawNonceReuse(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	p := rawParams(ecssim.ActionDescribeInstanceStatus)
	q := signRaw(http.MethodPost, p, ecssim.DefaultAccessKeySecret)
	_, body, err := doRaw(t, e.srv.Endpoint(), http.MethodPost, q)
	require.NoError(t, err, "first use of the nonce: %s", body)
	_, _, err = doRaw(t, e.srv.Endpoint(), http.MethodPost, q)
	requireServerError(t, err, http.StatusBadRequest, "SignatureNonceUsed")

	// A request with a bad signature does not burn its nonce.
	p = rawParams(ecssim.ActionDescribeInstanceStatus)
	_, _, err = doRaw(t, e.srv.Endpoint(), http.MethodPost, signRaw(http.MethodPost, p, "wrong"))
	requireServerError(t, err, http.StatusBadRequest, "SignatureDoesNotMatch")
	_, _, err = doRaw(t, e.srv.Endpoint(), http.MethodPost, signRaw(http.MethodPost, p, ecssim.DefaultAccessKeySecret))
	require.NoError(t, err)
}

func TestRawTimestamp(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	for _, tc := range []struct {
		name   string
		offset time.Duration
		ok     bool
	}{
		{"16 minutes old", -16 * time.Minute, false},
		{"16 minutes ahead", 16 * time.Minute, false},
		{"14 minutes old", -14 * time.Minute, true},
		{"14 minutes ahead", 14 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := rawParams(ecssim.ActionDescribeInstanceStatus)
			p.Set("Timestamp", time.Now().UTC().Add(tc.offset).Format("2006-01-02T15:04:05Z"))
			_, _, err := doRaw(t, e.srv.Endpoint(), http.MethodPost, signRaw(http.MethodPost, p, ecssim.DefaultAccessKeySecret))
			if tc.ok {
				require.NoError(t, err)
			} else {
				requireServerError(t, err, http.StatusBadRequest, "IllegalTimestamp")
			}
		})
	}
}

// TestRawGETAndFormBody: GET is accepted (signed with "GET"), and parameters
// in a form body are merged and signed like query parameters.
func TestRawGETAndFormBody(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{})

	p := rawParams(ecssim.ActionDescribeInstanceStatus)
	status, body, err := doRaw(t, e.srv.Endpoint(), http.MethodGet, signRaw(http.MethodGet, p, ecssim.DefaultAccessKeySecret))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	var got ecs.DescribeInstanceStatusResponse
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Equal(t, 1, got.TotalCount)

	// Signed for POST but sent as GET: the method is part of the string to sign.
	p = rawParams(ecssim.ActionDescribeInstanceStatus)
	_, _, err = doRaw(t, e.srv.Endpoint(), http.MethodGet, signRaw(http.MethodPost, p, ecssim.DefaultAccessKeySecret))
	requireServerError(t, err, http.StatusBadRequest, "SignatureDoesNotMatch")

	// InstanceId.1 in the body.
	p = rawParams(ecssim.ActionRebootInstances)
	p.Set("InstanceId.1", id)
	signed, err := url.ParseQuery(signRaw(http.MethodPost, p, ecssim.DefaultAccessKeySecret))
	require.NoError(t, err)
	form := url.Values{"InstanceId.1": {id}}
	signed.Del("InstanceId.1")
	req, err := http.NewRequest(http.MethodPost, "http://"+e.srv.Endpoint()+"/?"+signed.Encode(), strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, truthOf(t, e.sim, id).Reboots)
}
