package ecssim_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	ecsv2 "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// The V2 SDK's answers converted to the V1 SDK's structs, so both SDKs'
// tests state what they expect in the same terms.

func v2Statuses(b *ecsv2.DescribeInstanceStatusResponseBody) []ecs.InstanceStatus {
	var out []ecs.InstanceStatus
	if b.InstanceStatuses == nil {
		return out
	}
	for _, s := range b.InstanceStatuses.InstanceStatus {
		out = append(out, ecs.InstanceStatus{InstanceId: dara.StringValue(s.InstanceId), Status: dara.StringValue(s.Status)})
	}
	return out
}

func v2AssistantStatuses(b *ecsv2.DescribeCloudAssistantStatusResponseBody) []ecs.InstanceCloudAssistantStatus {
	var out []ecs.InstanceCloudAssistantStatus
	if b.InstanceCloudAssistantStatusSet == nil {
		return out
	}
	for _, s := range b.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus {
		out = append(out, ecs.InstanceCloudAssistantStatus{
			InstanceId:            dara.StringValue(s.InstanceId),
			CloudAssistantStatus:  dara.StringValue(s.CloudAssistantStatus),
			CloudAssistantVersion: dara.StringValue(s.CloudAssistantVersion),
			LastHeartbeatTime:     dara.StringValue(s.LastHeartbeatTime),
			LastInvokedTime:       dara.StringValue(s.LastInvokedTime),
			OSType:                dara.StringValue(s.OSType),
			ActiveTaskCount:       dara.Int64Value(s.ActiveTaskCount),
			InvocationCount:       dara.Int64Value(s.InvocationCount),
			SupportSessionManager: dara.BoolValue(s.SupportSessionManager),
		})
	}
	return out
}

func v2RebootResponses(b *ecsv2.RebootInstancesResponseBody) []ecs.InstanceResponse {
	var out []ecs.InstanceResponse
	if b.InstanceResponses == nil {
		return out
	}
	for _, r := range b.InstanceResponses.InstanceResponse {
		out = append(out, ecs.InstanceResponse{
			InstanceId: dara.StringValue(r.InstanceId), Code: dara.StringValue(r.Code), Message: dara.StringValue(r.Message),
			PreviousStatus: dara.StringValue(r.PreviousStatus), CurrentStatus: dara.StringValue(r.CurrentStatus),
		})
	}
	return out
}

func v2InstanceIDs(b *ecsv2.DescribeInstancesResponseBody) []string {
	var out []string
	if b.Instances == nil {
		return out
	}
	for _, in := range b.Instances.Instance {
		out = append(out, dara.StringValue(in.InstanceId))
	}
	return out
}

func TestV2SDKDescribeInstanceStatus(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	running := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true, Zone: "cn-hangzhou-h", ClusterID: "cls-1"})
	stopped := addInstance(t, e.sim, ecssim.InstanceSpec{State: ecssim.StateStopped, Zone: "cn-hangzhou-i"})
	starting := addInstance(t, e.sim, ecssim.InstanceSpec{State: ecssim.StateStarting, Zone: "cn-hangzhou-h"})
	c := e.v2Client(t)
	region := dara.String(ecssim.DefaultRegion)

	resp, err := c.DescribeInstanceStatus(&ecsv2.DescribeInstanceStatusRequest{RegionId: region})
	require.NoError(t, err)
	b := resp.Body
	assert.NotEmpty(t, dara.StringValue(b.RequestId))
	assert.EqualValues(t, 3, dara.Int32Value(b.TotalCount))
	assert.EqualValues(t, 1, dara.Int32Value(b.PageNumber))
	assert.EqualValues(t, 10, dara.Int32Value(b.PageSize), "documented default page size")
	assert.Equal(t, []ecs.InstanceStatus{
		{InstanceId: running, Status: ecssim.StateRunning},
		{InstanceId: stopped, Status: ecssim.StateStopped},
		{InstanceId: starting, Status: ecssim.StateStarting},
	}, v2Statuses(b), "creation order")

	// InstanceId.N: unknown IDs are simply omitted.
	resp, err = c.DescribeInstanceStatus(&ecsv2.DescribeInstanceStatusRequest{RegionId: region,
		InstanceId: strs(starting, "i-doesnotexist000000", running)})
	require.NoError(t, err)
	assert.EqualValues(t, 2, dara.Int32Value(resp.Body.TotalCount))
	assert.Equal(t, []ecs.InstanceStatus{
		{InstanceId: running, Status: ecssim.StateRunning},
		{InstanceId: starting, Status: ecssim.StateStarting},
	}, v2Statuses(resp.Body))

	// Zone and cluster filters.
	resp, err = c.DescribeInstanceStatus(&ecsv2.DescribeInstanceStatusRequest{RegionId: region,
		ZoneId: dara.String("cn-hangzhou-h"), ClusterId: dara.String("cls-1")})
	require.NoError(t, err)
	assert.Equal(t, []ecs.InstanceStatus{{InstanceId: running, Status: ecssim.StateRunning}}, v2Statuses(resp.Body))

	// Paging, and Starting becomes Running after the start duration.
	e.clock.Advance(ecssim.DefaultStartDuration)
	b, err = v2DescribeStatus(c, 2, 2)
	require.NoError(t, err)
	assert.EqualValues(t, 3, dara.Int32Value(b.TotalCount))
	assert.Equal(t, []ecs.InstanceStatus{{InstanceId: starting, Status: ecssim.StateRunning}}, v2Statuses(b))
}

func TestV2SDKDescribeCloudAssistantStatus(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	healthy := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true, OSType: ecssim.OSLinux})
	missing := addInstance(t, e.sim, ecssim.InstanceSpec{OSType: ecssim.OSWindows})
	silent := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true, AgentSilent: true,
		LastHeartbeat: testStart().Add(-10 * time.Minute), OSType: ecssim.OSFreeBSD})
	c := e.v2Client(t)
	region := dara.String(ecssim.DefaultRegion)

	b, err := v2AssistantStatus(c, missing, healthy, silent)
	require.NoError(t, err)
	assert.NotEmpty(t, dara.StringValue(b.RequestId))
	assert.Equal(t, []ecs.InstanceCloudAssistantStatus{
		{InstanceId: missing, CloudAssistantStatus: "false", OSType: ecssim.OSWindows},
		{InstanceId: healthy, CloudAssistantStatus: "true", CloudAssistantVersion: ecssim.DefaultAgentVersion,
			LastHeartbeatTime: "2025-03-01T08:00:00Z", OSType: ecssim.OSLinux, SupportSessionManager: true},
		{InstanceId: silent, CloudAssistantStatus: "false", LastHeartbeatTime: "2025-03-01T07:50:00Z",
			OSType: ecssim.OSFreeBSD, SupportSessionManager: true},
	}, v2AssistantStatuses(b), "named instances in the order given")

	// One unknown ID fails the whole call.
	_, err = v2AssistantStatus(c, healthy, "i-doesnotexist000000")
	requireV2Error(t, err, http.StatusNotFound, "InvalidInstance.NotFound")

	// OSType filters; PageNumber/PageSize page.
	resp, err := c.DescribeCloudAssistantStatus(&ecsv2.DescribeCloudAssistantStatusRequest{RegionId: region, OSType: dara.String(ecssim.OSWindows)})
	require.NoError(t, err)
	require.Len(t, v2AssistantStatuses(resp.Body), 1)
	assert.Equal(t, missing, v2AssistantStatuses(resp.Body)[0].InstanceId)
	resp, err = c.DescribeCloudAssistantStatus(&ecsv2.DescribeCloudAssistantStatusRequest{RegionId: region,
		PageNumber: dara.Int64(2), PageSize: dara.Int64(2)})
	require.NoError(t, err)
	assert.EqualValues(t, 3, dara.Int64Value(resp.Body.TotalCount))
	assert.EqualValues(t, 2, dara.Int64Value(resp.Body.PageNumber))
	require.Len(t, v2AssistantStatuses(resp.Body), 1)
	assert.Equal(t, silent, v2AssistantStatuses(resp.Body)[0].InstanceId)

	// MaxResults/NextToken page to the end; TotalCount is not valid then.
	var listed []string
	token := ""
	for {
		req := &ecsv2.DescribeCloudAssistantStatusRequest{RegionId: region, MaxResults: dara.Int32(2)}
		if token != "" {
			req.NextToken = dara.String(token)
		}
		resp, err := c.DescribeCloudAssistantStatus(req)
		require.NoError(t, err)
		assert.Zero(t, dara.Int64Value(resp.Body.TotalCount))
		for _, s := range v2AssistantStatuses(resp.Body) {
			listed = append(listed, s.InstanceId)
		}
		if token = dara.StringValue(resp.Body.NextToken); token == "" {
			break
		}
	}
	assert.Equal(t, []string{healthy, missing, silent}, listed)
}

func TestV2SDKDescribeInstances(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	linux := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true, Zone: "cn-hangzhou-h",
		Tags: map[string]string{"team": "payments", ecssim.DefaultTagKey: "true"}})
	windows := addInstance(t, e.sim, ecssim.InstanceSpec{OSType: ecssim.OSWindows, State: ecssim.StateStopped})
	c := e.v2Client(t)
	region := dara.String(ecssim.DefaultRegion)

	resp, err := c.DescribeInstances(&ecsv2.DescribeInstancesRequest{RegionId: region,
		InstanceIds: dara.String(instanceIdsJSON(t, windows, "i-nosuchinstance00000", linux)), PageSize: dara.Int32(100)})
	require.NoError(t, err)
	b := resp.Body
	assert.NotEmpty(t, dara.StringValue(b.RequestId))
	assert.EqualValues(t, 2, dara.Int32Value(b.TotalCount), "unknown IDs are simply absent")
	require.Equal(t, []string{linux, windows}, v2InstanceIDs(b), "creation order")
	l, w := b.Instances.Instance[0], b.Instances.Instance[1]
	assert.Equal(t, ecssim.DefaultRegion, dara.StringValue(l.RegionId))
	assert.Equal(t, "cn-hangzhou-h", dara.StringValue(l.ZoneId))
	assert.Equal(t, "Running", dara.StringValue(l.Status))
	assert.Equal(t, "linux", dara.StringValue(l.OSType))
	assert.Equal(t, "2025-03-01T08:00Z", dara.StringValue(l.StartTime))
	require.NotNil(t, l.Tags)
	var tags []ecs.Tag
	for _, tag := range l.Tags.Tag {
		tags = append(tags, ecs.Tag{TagKey: dara.StringValue(tag.TagKey), TagValue: dara.StringValue(tag.TagValue)})
	}
	assert.Equal(t, []ecs.Tag{{TagKey: ecssim.DefaultTagKey, TagValue: "true"}, {TagKey: "team", TagValue: "payments"}}, tags)
	assert.Equal(t, "Stopped", dara.StringValue(w.Status))
	assert.Empty(t, dara.StringValue(w.StartTime))

	// Tag.N.Key/Value filters, flattened by the V2 SDK into Tag.1.Key and Tag.1.Value.
	resp, err = c.DescribeInstances(&ecsv2.DescribeInstancesRequest{RegionId: region,
		Tag: []*ecsv2.DescribeInstancesRequestTag{{Key: dara.String(ecssim.DefaultTagKey), Value: dara.String("true")}}})
	require.NoError(t, err)
	assert.Equal(t, []string{linux}, v2InstanceIDs(resp.Body))
	resp, err = c.DescribeInstances(&ecsv2.DescribeInstancesRequest{RegionId: region, Status: dara.String("Stopped")})
	require.NoError(t, err)
	assert.Equal(t, []string{windows}, v2InstanceIDs(resp.Body))

	_, err = c.DescribeInstances(&ecsv2.DescribeInstancesRequest{RegionId: region, DryRun: dara.Bool(true)})
	requireV2Error(t, err, http.StatusBadRequest, "DryRunOperation")
	_, err = c.DescribeInstances(&ecsv2.DescribeInstancesRequest{RegionId: region, InstanceIds: dara.String(instanceIdsJSON(t, fakeIDs(101)...))})
	requireV2Error(t, err, http.StatusForbidden, "InvalidParameter.TooManyInstanceIds")
}

func TestV2SDKInstallCloudAssistant(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	a := addInstance(t, e.sim, ecssim.InstanceSpec{})
	b := addInstance(t, e.sim, ecssim.InstanceSpec{})
	stopped := addInstance(t, e.sim, ecssim.InstanceSpec{State: ecssim.StateStopped})
	c := e.v2Client(t)
	region := dara.String(ecssim.DefaultRegion)

	resp, err := c.InstallCloudAssistant(&ecsv2.InstallCloudAssistantRequest{RegionId: region, InstanceId: strs(a, b)})
	require.NoError(t, err)
	assert.NotEmpty(t, dara.StringValue(resp.Body.RequestId))
	for _, id := range []string{a, b} {
		it := truthOf(t, e.sim, id)
		assert.Equal(t, 1, it.Installs)
		assert.True(t, it.PendingInstall)
		assert.False(t, it.AgentInstalled, "an install takes effect only after a reboot")
	}
	_, err = c.InstallCloudAssistant(&ecsv2.InstallCloudAssistantRequest{RegionId: region, InstanceId: strs(a, stopped)})
	requireV2Error(t, err, http.StatusForbidden, "IncorrectInstanceStatus")
	_, err = c.InstallCloudAssistant(&ecsv2.InstallCloudAssistantRequest{RegionId: region, InstanceId: strs(append(fakeIDs(20), a)...)})
	requireV2Error(t, err, http.StatusForbidden, "InstanceIds.ExceedLimit")
	_, err = c.InstallCloudAssistant(&ecsv2.InstallCloudAssistantRequest{RegionId: region})
	requireV2Error(t, err, http.StatusBadRequest, "MissingParam.InstanceId")
	assert.Equal(t, 1, truthOf(t, e.sim, a).Installs, "refused calls install nothing")
	assert.Equal(t, 2, truthOf(t, e.sim, a).RefusedInstalls)
}

func TestV2SDKRebootInstance(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{})
	stopped := addInstance(t, e.sim, ecssim.InstanceSpec{State: ecssim.StateStopped})
	c := e.v2Client(t)

	// The API, and so the V2 SDK's request, has no RegionId for
	// RebootInstance (the V1 SDK sends its client's region anyway).
	_, err := c.RebootInstance(&ecsv2.RebootInstanceRequest{InstanceId: dara.String(id), DryRun: dara.Bool(true)})
	requireV2Error(t, err, http.StatusBadRequest, "DryRunOperation")
	_, err = c.RebootInstance(&ecsv2.RebootInstanceRequest{InstanceId: dara.String(stopped)})
	requireV2Error(t, err, http.StatusForbidden, "IncorrectInstanceStatus")
	_, err = c.RebootInstance(&ecsv2.RebootInstanceRequest{InstanceId: dara.String("i-doesnotexist000000")})
	requireV2Error(t, err, http.StatusNotFound, "InvalidInstanceId.NotFound")
	_, err = c.RebootInstance(&ecsv2.RebootInstanceRequest{})
	requireV2Error(t, err, http.StatusBadRequest, "MissingParameter")
	assert.Zero(t, truthOf(t, e.sim, id).Reboots)

	resp, err := c.RebootInstance(&ecsv2.RebootInstanceRequest{InstanceId: dara.String(id), ForceStop: dara.Bool(true)})
	require.NoError(t, err)
	assert.NotEmpty(t, dara.StringValue(resp.Body.RequestId))
	it := truthOf(t, e.sim, id)
	assert.Equal(t, ecssim.StateStopping, it.State)
	assert.Equal(t, 1, it.Reboots)

	t.Run("without RegionId the instance's region is meant", func(t *testing.T) {
		e := newEnv(t, ecssim.Config{Regions: []string{"cn-hangzhou", "cn-beijing"}})
		there := addInstance(t, e.sim, ecssim.InstanceSpec{Region: "cn-beijing"})
		// The V1 SDK sends its client's region, where the instance is not.
		requireServerError(t, reboot(e.client(t), there), http.StatusNotFound, "InvalidInstanceId.NotFound")
		_, err := e.v2Client(t).RebootInstance(&ecsv2.RebootInstanceRequest{InstanceId: dara.String(there)})
		require.NoError(t, err)
		assert.Equal(t, 1, truthOf(t, e.sim, there).Reboots)
	})
}

func TestV2SDKRebootInstances(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	a := addInstance(t, e.sim, ecssim.InstanceSpec{})
	b := addInstance(t, e.sim, ecssim.InstanceSpec{})
	stopped := addInstance(t, e.sim, ecssim.InstanceSpec{State: ecssim.StateStopped})
	c := e.v2Client(t)
	region := dara.String(ecssim.DefaultRegion)

	// AllTogether (the default) reboots all of them.
	resp, err := c.RebootInstances(&ecsv2.RebootInstancesRequest{RegionId: region, InstanceId: strs(a, b), ForceReboot: dara.Bool(false)})
	require.NoError(t, err)
	assert.NotEmpty(t, dara.StringValue(resp.Body.RequestId))
	assert.Equal(t, []ecs.InstanceResponse{
		{InstanceId: a, Code: "200", Message: "success", PreviousStatus: "Running", CurrentStatus: "Stopping"},
		{InstanceId: b, Code: "200", Message: "success", PreviousStatus: "Running", CurrentStatus: "Stopping"},
	}, v2RebootResponses(resp.Body))

	// SuccessFirst: each instance on its own.
	e.clock.Advance(time.Minute)
	resp, err = c.RebootInstances(&ecsv2.RebootInstancesRequest{RegionId: region,
		InstanceId: strs(a, stopped, "i-doesnotexist000000"), BatchOptimization: dara.String("SuccessFirst")})
	require.NoError(t, err)
	assert.Equal(t, []ecs.InstanceResponse{
		{InstanceId: a, Code: "200", Message: "success", PreviousStatus: "Running", CurrentStatus: "Stopping"},
		{InstanceId: stopped, Code: "IncorrectInstanceStatus", Message: "The current status of the resource does not support this operation.",
			PreviousStatus: "Stopped", CurrentStatus: "Stopped"},
		{InstanceId: "i-doesnotexist000000", Code: "InvalidInstanceId.NotFound", Message: "The specified InstanceId does not exist."},
	}, v2RebootResponses(resp.Body))

	// AllTogether with a bad one fails the call; DryRun and the ID limit.
	_, err = c.RebootInstances(&ecsv2.RebootInstancesRequest{RegionId: region, InstanceId: strs(b, stopped)})
	requireV2Error(t, err, http.StatusForbidden, "IncorrectInstanceStatus")
	_, err = c.RebootInstances(&ecsv2.RebootInstancesRequest{RegionId: region, InstanceId: strs(b), DryRun: dara.Bool(true)})
	requireV2Error(t, err, http.StatusBadRequest, "DryRunOperation")
	_, err = c.RebootInstances(&ecsv2.RebootInstancesRequest{RegionId: region, InstanceId: strs(fakeIDs(101)...)})
	requireV2Error(t, err, http.StatusForbidden, "InstanceIds.ExceedLimit")

	assert.Equal(t, 2, truthOf(t, e.sim, a).Reboots)
	assert.Equal(t, 1, truthOf(t, e.sim, b).Reboots)
	assert.Zero(t, truthOf(t, e.sim, stopped).Reboots)
	assert.Equal(t, 2, truthOf(t, e.sim, stopped).RefusedReboots)
}

func TestV2SDKWrongSecret(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	wire := newWireLog(t)
	c := newV2Client(t, e.srv.Endpoint(), v2Options{accessKeyID: ecssim.DefaultAccessKeyID, secret: "not-the-secret", transport: wire})
	_, err := v2DescribeStatus(c, 1, 10)
	ve := requireV2Error(t, err, http.StatusBadRequest, "SignatureDoesNotMatch")
	prefix := "Specified signature is not matched with our calculation. server string to sign is:"
	require.True(t, strings.HasPrefix(ve.Message, prefix), ve.Message)
	// The server's string to sign is the one the SDK signed (recomputed here
	// by the test's own signer from the captured request): the simulator
	// canonicalized exactly like the SDK, and only the secret is wrong.
	assert.Equal(t, stringToSignOf(t, wire.last(t)), strings.TrimPrefix(ve.Message, prefix))
}

func TestV2SDKUnknownAccessKey(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := newV2Client(t, e.srv.Endpoint(), v2Options{accessKeyID: "no-such-key", secret: ecssim.DefaultAccessKeySecret})
	_, err := v2DescribeStatus(c, 1, 10)
	requireV2Error(t, err, http.StatusNotFound, "InvalidAccessKeyId.NotFound")
}

func TestV2SDKSecurityTokenAndForbidden(t *testing.T) {
	e := newEnv(t, ecssim.Config{Credentials: map[string]ecssim.Credential{
		"sts-key":     {Secret: "sts-secret", SecurityToken: "the-token"},
		"ro-key":      {Secret: "ro-secret", ForbiddenActions: []string{ecssim.ActionRebootInstance}},
		"nothing-key": {Secret: "nothing-secret", Forbidden: true},
	}})
	id := addInstance(t, e.sim, ecssim.InstanceSpec{})
	ep := e.srv.Endpoint()
	client := func(ak, sk, token string) *ecsv2.Client {
		return newV2Client(t, ep, v2Options{accessKeyID: ak, secret: sk, securityToken: token})
	}

	// The V2 SDK sends the token in x-acs-security-token (signed).
	_, err := v2DescribeStatus(client("sts-key", "sts-secret", "the-token"), 1, 10)
	require.NoError(t, err)
	_, err = v2DescribeStatus(client("sts-key", "sts-secret", "another-token"), 1, 10)
	requireV2Error(t, err, http.StatusBadRequest, "InvalidSecurityToken.Mismatch")
	_, err = v2DescribeStatus(client("sts-key", "sts-secret", ""), 1, 10)
	ve := requireV2Error(t, err, http.StatusBadRequest, "MissingParameter")
	assert.Contains(t, ve.Message, `"x-acs-security-token"`)

	ro := client("ro-key", "ro-secret", "")
	_, err = v2DescribeStatus(ro, 1, 10)
	require.NoError(t, err)
	_, err = ro.RebootInstance(&ecsv2.RebootInstanceRequest{InstanceId: dara.String(id)})
	requireV2Error(t, err, http.StatusForbidden, "Forbidden.RAM")
	_, err = v2DescribeStatus(client("nothing-key", "nothing-secret", ""), 1, 10)
	requireV2Error(t, err, http.StatusForbidden, "Forbidden.RAM")
	assert.Zero(t, truthOf(t, e.sim, id).Reboots)
}

// TestV2SDKSignsAwkwardCharacters checks the canonical query on values with
// spaces, '*', '~', '/', '+' and non-ASCII characters.
func TestV2SDKSignsAwkwardCharacters(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	addInstance(t, e.sim, ecssim.InstanceSpec{ClusterID: "cls a*b~c/d+e=f&g é"})
	resp, err := e.v2Client(t).DescribeInstanceStatus(&ecsv2.DescribeInstanceStatusRequest{
		RegionId: dara.String(ecssim.DefaultRegion), ClusterId: dara.String("cls a*b~c/d+e=f&g é")})
	require.NoError(t, err)
	assert.EqualValues(t, 1, dara.Int32Value(resp.Body.TotalCount))
}

// TestV2TruthCounters: V2 calls count per action, per instance and per
// user agent exactly like V1 calls.
func TestV2TruthCounters(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	healthy := addInstance(t, e.sim, ecssim.InstanceSpec{AgentInstalled: true})
	stopped := addInstance(t, e.sim, ecssim.InstanceSpec{State: ecssim.StateStopped})
	c := newV2Client(t, e.srv.Endpoint(), v2Options{userAgent: "fleetmend/test-2"})
	region := dara.String(ecssim.DefaultRegion)

	_, err := c.InstallCloudAssistant(&ecsv2.InstallCloudAssistantRequest{RegionId: region, InstanceId: strs(healthy)})
	require.NoError(t, err)
	_, err = c.InstallCloudAssistant(&ecsv2.InstallCloudAssistantRequest{RegionId: region, InstanceId: strs(healthy, stopped)})
	requireV2Error(t, err, http.StatusForbidden, "IncorrectInstanceStatus")
	_, err = c.RebootInstances(&ecsv2.RebootInstancesRequest{RegionId: region, InstanceId: strs(healthy, healthy)})
	require.NoError(t, err)
	_, err = v2AssistantStatus(c, healthy, stopped)
	require.NoError(t, err)

	tr := e.sim.Truth()
	assert.Equal(t, ecssim.ActionTruth{Calls: 2, Errors: 1, MaxInstanceIDs: 2}, tr.Actions[ecssim.ActionInstallCloudAssistant])
	assert.Equal(t, ecssim.ActionTruth{Calls: 1, MaxInstanceIDs: 2}, tr.Actions[ecssim.ActionRebootInstances])
	assert.Equal(t, ecssim.ActionTruth{Calls: 1, MaxInstanceIDs: 2}, tr.Actions[ecssim.ActionDescribeCloudAssistantStatus])
	h := truthOf(t, e.sim, healthy)
	assert.Equal(t, 1, h.Installs)
	assert.Equal(t, 1, h.InstallsWhileHealthy)
	assert.Equal(t, 1, h.RefusedInstalls)
	assert.Equal(t, 1, h.Reboots, "duplicates count once")
	assert.Equal(t, 1, truthOf(t, e.sim, stopped).RefusedInstalls)

	require.Len(t, tr.UserAgents, 1)
	for ua, n := range tr.UserAgents {
		assert.Equal(t, 4, n)
		assert.Regexp(t, `^AlibabaCloud \(.+\) Golang/\S+ Core/\S+ TeaDSL/2 fleetmend/test-2$`, ua,
			"the V2 SDK's header with the configured UserAgent appended")
	}
}
