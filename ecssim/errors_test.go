package ecssim_test

import (
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// TestErrorCodes covers every error code the simulator produces and every
// documented limit, each asserted as the SDK sees it (*errors.ServerError).
func TestErrorCodes(t *testing.T) {
	wall := ecssim.NewManualClock(time.Now()) // frozen real time: throttling becomes exact
	e := newEnv(t, ecssim.Config{
		Regions:                []string{"cn-hangzhou", "cn-shanghai"},
		ApiNotSupportedRegions: []string{"cn-shanghai"},
		WallClock:              wall,
	})
	running := addInstance(t, e.sim, ecssim.InstanceSpec{})
	stopped := addInstance(t, e.sim, ecssim.InstanceSpec{State: ecssim.StateStopped})
	gone := addInstance(t, e.sim, ecssim.InstanceSpec{})
	require.NoError(t, e.sim.Vanish(gone))
	elsewhere := addInstance(t, e.sim, ecssim.InstanceSpec{Region: "cn-shanghai"})
	c := e.client(t)
	ep := e.srv.Endpoint()

	running21 := make([]string, 21)
	running101 := make([]string, 101)
	for i := range running101 {
		id := addInstance(t, e.sim, ecssim.InstanceSpec{})
		running101[i] = id
		if i < 21 {
			running21[i] = id
		}
	}

	describeStatusWith := func(mod func(r *ecs.DescribeInstanceStatusRequest)) func() error {
		return func() error {
			r := ecs.CreateDescribeInstanceStatusRequest()
			mod(r)
			_, err := c.DescribeInstanceStatus(r)
			return err
		}
	}
	assistantWith := func(mod func(r *ecs.DescribeCloudAssistantStatusRequest)) func() error {
		return func() error {
			r := ecs.CreateDescribeCloudAssistantStatusRequest()
			mod(r)
			_, err := c.DescribeCloudAssistantStatus(r)
			return err
		}
	}
	instancesWith := func(mod func(r *ecs.DescribeInstancesRequest)) func() error {
		return func() error {
			r := ecs.CreateDescribeInstancesRequest()
			mod(r)
			_, err := c.DescribeInstances(r)
			return err
		}
	}
	tags21 := make([]ecs.DescribeInstancesTag, 21)
	for i := range tags21 {
		tags21[i] = ecs.DescribeInstancesTag{Key: fmt.Sprintf("k%d", i), Value: "v"}
	}
	installIDs := func(list []string) func() error {
		return func() error {
			r := ecs.CreateInstallCloudAssistantRequest()
			r.InstanceId = &list
			_, err := c.InstallCloudAssistant(r)
			return err
		}
	}
	rebootWith := func(mod func(r *ecs.RebootInstanceRequest)) func() error {
		return func() error {
			r := ecs.CreateRebootInstanceRequest()
			mod(r)
			_, err := c.RebootInstance(r)
			return err
		}
	}
	rebootsWith := func(mod func(r *ecs.RebootInstancesRequest)) func() error {
		return func() error {
			r := ecs.CreateRebootInstancesRequest()
			mod(r)
			_, err := c.RebootInstances(r)
			return err
		}
	}
	raw := func(method string, mod func(p map[string][]string), signMethod string) func() error {
		return func() error {
			p := rawParams(ecssim.ActionDescribeInstanceStatus)
			mod(p)
			_, _, err := doRaw(t, ep, method, signRaw(signMethod, p, ecssim.DefaultAccessKeySecret))
			return err
		}
	}
	common := func(version, action string) func() error {
		return func() error {
			_, err := c.ProcessCommonRequest(commonRequest(version, action))
			return err
		}
	}
	withFaults := func(f ecssim.Faults, call func() error) func() error {
		return func() error {
			require.NoError(t, e.sim.SetFaults(f))
			defer func() { require.NoError(t, e.sim.SetFaults(ecssim.Faults{})) }()
			return call()
		}
	}
	okCall := describeStatusWith(func(*ecs.DescribeInstanceStatusRequest) {})

	cases := []struct {
		name   string
		call   func() error
		status int
		code   string
	}{
		// DescribeInstanceStatus
		{"DescribeInstanceStatus 101 IDs", describeStatusWith(func(r *ecs.DescribeInstanceStatusRequest) { r.InstanceId = &running101 }),
			403, "InstanceIds.ExceedLimit"},
		{"DescribeInstanceStatus PageSize 51", describeStatusWith(func(r *ecs.DescribeInstanceStatusRequest) { r.PageSize = "51" }),
			400, "InvalidParam.PageSize"},
		{"DescribeInstanceStatus PageSize 0", describeStatusWith(func(r *ecs.DescribeInstanceStatusRequest) { r.PageSize = "0" }),
			400, "InvalidParam.PageSize"},
		{"DescribeInstanceStatus PageSize not a number", describeStatusWith(func(r *ecs.DescribeInstanceStatusRequest) { r.PageSize = "ten" }),
			400, "InvalidParam.PageSize"},
		{"DescribeInstanceStatus PageNumber 0", describeStatusWith(func(r *ecs.DescribeInstanceStatusRequest) { r.PageNumber = "0" }),
			400, "InvalidParam.PageNumber"},
		{"DescribeInstanceStatus PageNumber -1", describeStatusWith(func(r *ecs.DescribeInstanceStatusRequest) { r.PageNumber = "-1" }),
			400, "InvalidParam.PageNumber"},
		{"unknown region", describeStatusWith(func(r *ecs.DescribeInstanceStatusRequest) { r.RegionId = "cn-nowhere" }),
			404, "InvalidRegionId.NotFound"},

		// DescribeCloudAssistantStatus
		{"DescribeCloudAssistantStatus 101 IDs", assistantWith(func(r *ecs.DescribeCloudAssistantStatusRequest) { r.InstanceId = &running101 }),
			403, "InstanceIds.ExceedLimit"},
		{"DescribeCloudAssistantStatus unknown instance", assistantWith(func(r *ecs.DescribeCloudAssistantStatusRequest) { r.InstanceId = ids(running, "i-doesnotexist000000") }),
			404, "InvalidInstance.NotFound"},
		{"DescribeCloudAssistantStatus vanished instance", assistantWith(func(r *ecs.DescribeCloudAssistantStatusRequest) { r.InstanceId = ids(gone) }),
			404, "InvalidInstance.NotFound"},
		{"DescribeCloudAssistantStatus instance of another region", assistantWith(func(r *ecs.DescribeCloudAssistantStatusRequest) { r.InstanceId = ids(elsewhere) }),
			404, "InvalidInstance.NotFound"},
		{"DescribeCloudAssistantStatus PageSize 51", assistantWith(func(r *ecs.DescribeCloudAssistantStatusRequest) { r.PageSize = "51" }),
			400, "InvalidParam.PageSize"},
		{"DescribeCloudAssistantStatus PageSize 0", assistantWith(func(r *ecs.DescribeCloudAssistantStatusRequest) { r.PageSize = "0" }),
			400, "InvalidParam.PageSize"},
		{"DescribeCloudAssistantStatus PageNumber 0", assistantWith(func(r *ecs.DescribeCloudAssistantStatusRequest) { r.PageNumber = "0" }),
			400, "InvalidParam.PageNumber"},
		{"DescribeCloudAssistantStatus MaxResults 51", assistantWith(func(r *ecs.DescribeCloudAssistantStatusRequest) { r.MaxResults = "51" }),
			400, "InvalidParameter.MaxResults"},
		{"DescribeCloudAssistantStatus MaxResults 0", assistantWith(func(r *ecs.DescribeCloudAssistantStatusRequest) { r.MaxResults = "0" }),
			400, "InvalidParameter.MaxResults"},
		{"DescribeCloudAssistantStatus bad NextToken", assistantWith(func(r *ecs.DescribeCloudAssistantStatusRequest) { r.NextToken = "AAAAAdDWBF2" }),
			400, "InvalidParameter.NextToken"},
		{"DescribeCloudAssistantStatus bad OSType", assistantWith(func(r *ecs.DescribeCloudAssistantStatusRequest) { r.OSType = "Solaris" }),
			400, "InvalidParameter.OSType"},
		{"DescribeCloudAssistantStatus region without the API", assistantWith(func(r *ecs.DescribeCloudAssistantStatusRequest) { r.RegionId = "cn-shanghai" }),
			400, "RegionId.ApiNotSupported"},

		// DescribeInstances
		{"DescribeInstances 101 IDs", instancesWith(func(r *ecs.DescribeInstancesRequest) { r.InstanceIds = instanceIdsJSON(t, running101...) }),
			403, "InvalidParameter.TooManyInstanceIds"},
		{"DescribeInstances InstanceIds not JSON", instancesWith(func(r *ecs.DescribeInstancesRequest) { r.InstanceIds = running + "," + stopped }),
			400, "InvalidInstanceIds.Malformed"},
		{"DescribeInstances InstanceIds not strings", instancesWith(func(r *ecs.DescribeInstancesRequest) { r.InstanceIds = "[1,2]" }),
			400, "InvalidInstanceIds.Malformed"},
		{"DescribeInstances PageSize 101", instancesWith(func(r *ecs.DescribeInstancesRequest) { r.PageSize = "101" }),
			400, "InvalidParam.PageSize"},
		{"DescribeInstances PageSize 0", instancesWith(func(r *ecs.DescribeInstancesRequest) { r.PageSize = "0" }),
			400, "InvalidParam.PageSize"},
		{"DescribeInstances PageNumber 0", instancesWith(func(r *ecs.DescribeInstancesRequest) { r.PageNumber = "0" }),
			400, "InvalidParam.PageNumber"},
		{"DescribeInstances MaxResults 101", instancesWith(func(r *ecs.DescribeInstancesRequest) { r.MaxResults = "101" }),
			400, "InvalidParameter.MaxResults"},
		{"DescribeInstances bad NextToken", instancesWith(func(r *ecs.DescribeInstancesRequest) { r.NextToken = "bm9wZQ" }),
			400, "InvalidParameter.NextToken"},
		{"DescribeInstances bad Status", instancesWith(func(r *ecs.DescribeInstancesRequest) { r.Status = "Exploded" }),
			404, "InvalidStatus.NotFound"},
		{"DescribeInstances 21 tags", instancesWith(func(r *ecs.DescribeInstancesRequest) { r.Tag = &tags21 }),
			400, "InvalidTagCount"},
		{"DescribeInstances tag value without key", instancesWith(func(r *ecs.DescribeInstancesRequest) {
			r.Tag = &[]ecs.DescribeInstancesTag{{Value: "true"}}
		}), 400, "InvalidTag.Mismatch"},
		{"DescribeInstances DryRun", instancesWith(func(r *ecs.DescribeInstancesRequest) { r.DryRun = requests.NewBoolean(true) }),
			400, "DryRunOperation"},

		// InstallCloudAssistant
		{"InstallCloudAssistant no IDs", installIDs(nil), 400, "MissingParam.InstanceId"},
		{"InstallCloudAssistant 21 IDs", installIDs(running21), 403, "InstanceIds.ExceedLimit"},
		{"InstallCloudAssistant 21 IDs checked before existence", installIDs(fakeIDs(21)), 403, "InstanceIds.ExceedLimit"},
		{"InstallCloudAssistant unknown instance", installIDs([]string{running, "i-doesnotexist000000"}), 404, "InvalidInstance.NotFound"},
		{"InstallCloudAssistant vanished instance", installIDs([]string{gone}), 404, "InvalidInstance.NotFound"},
		{"InstallCloudAssistant stopped instance", installIDs([]string{running, stopped}), 403, "IncorrectInstanceStatus"},

		// RebootInstance
		{"RebootInstance no InstanceId", rebootWith(func(*ecs.RebootInstanceRequest) {}), 400, "MissingParameter"},
		{"RebootInstance unknown", rebootWith(func(r *ecs.RebootInstanceRequest) { r.InstanceId = "i-doesnotexist000000" }),
			404, "InvalidInstanceId.NotFound"},
		{"RebootInstance vanished", rebootWith(func(r *ecs.RebootInstanceRequest) { r.InstanceId = gone }), 404, "InvalidInstanceId.NotFound"},
		{"RebootInstance stopped", rebootWith(func(r *ecs.RebootInstanceRequest) { r.InstanceId = stopped }), 403, "IncorrectInstanceStatus"},
		{"RebootInstance DryRun", rebootWith(func(r *ecs.RebootInstanceRequest) { r.InstanceId = running; r.DryRun = "true" }),
			400, "DryRunOperation"},
		{"RebootInstance DryRun validates first", rebootWith(func(r *ecs.RebootInstanceRequest) { r.InstanceId = stopped; r.DryRun = "true" }),
			403, "IncorrectInstanceStatus"},
		{"RebootInstance bad DryRun", rebootWith(func(r *ecs.RebootInstanceRequest) { r.InstanceId = running; r.DryRun = "maybe" }),
			400, "InvalidParameter"},

		// RebootInstances
		{"RebootInstances no IDs", rebootsWith(func(*ecs.RebootInstancesRequest) {}), 400, "MissingParameter"},
		{"RebootInstances 101 IDs", rebootsWith(func(r *ecs.RebootInstancesRequest) { r.InstanceId = &running101 }), 403, "InstanceIds.ExceedLimit"},
		{"RebootInstances bad BatchOptimization", rebootsWith(func(r *ecs.RebootInstancesRequest) {
			r.InstanceId = ids(running)
			r.BatchOptimization = "Sometimes"
		}), 400, "InvalidParameter.BatchOptimization"},
		{"RebootInstances AllTogether with a stopped one", rebootsWith(func(r *ecs.RebootInstancesRequest) { r.InstanceId = ids(running, stopped) }),
			403, "IncorrectInstanceStatus"},
		{"RebootInstances AllTogether with an unknown one", rebootsWith(func(r *ecs.RebootInstancesRequest) {
			r.InstanceId = ids(running, "i-doesnotexist000000")
			r.BatchOptimization = "AllTogether"
		}), 404, "InvalidInstanceId.NotFound"},
		{"RebootInstances DryRun", rebootsWith(func(r *ecs.RebootInstancesRequest) { r.InstanceId = ids(running); r.DryRun = requests.NewBoolean(true) }),
			400, "DryRunOperation"},

		// Gateway and protocol
		{"unknown action", common(ecssim.APIVersion, "DescribeEverything"), 404, "InvalidAction.NotFound"},
		{"wrong version", common("2016-03-14", ecssim.ActionDescribeInstanceStatus), 400, "InvalidVersion"},
		{"missing Action", raw(http.MethodPost, func(p map[string][]string) { delete(p, "Action") }, http.MethodPost), 400, "MissingParameter"},
		{"missing Version", raw(http.MethodPost, func(p map[string][]string) { delete(p, "Version") }, http.MethodPost), 400, "MissingParameter"},
		{"missing Timestamp", raw(http.MethodPost, func(p map[string][]string) { delete(p, "Timestamp") }, http.MethodPost), 400, "MissingParameter"},
		{"missing RegionId", raw(http.MethodPost, func(p map[string][]string) { delete(p, "RegionId") }, http.MethodPost), 400, "MissingParameter"},
		{"Format XML", raw(http.MethodPost, func(p map[string][]string) { p["Format"] = []string{"XML"} }, http.MethodPost), 400, "InvalidParameter.Format"},
		{"SignatureMethod HMAC-SHA256", raw(http.MethodPost, func(p map[string][]string) { p["SignatureMethod"] = []string{"HMAC-SHA256"} }, http.MethodPost),
			400, "InvalidSignatureMethod"},
		{"SignatureVersion 2.0", raw(http.MethodPost, func(p map[string][]string) { p["SignatureVersion"] = []string{"2.0"} }, http.MethodPost),
			400, "InvalidSignatureVersion"},
		{"malformed Timestamp", raw(http.MethodPost, func(p map[string][]string) { p["Timestamp"] = []string{"yesterday"} }, http.MethodPost),
			400, "InvalidTimeStamp.Format"},
		{"stale Timestamp", raw(http.MethodPost, func(p map[string][]string) {
			p["Timestamp"] = []string{time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04:05Z")}
		}, http.MethodPost), 400, "IllegalTimestamp"},
		{"unknown access key", raw(http.MethodPost, func(p map[string][]string) { p["AccessKeyId"] = []string{"nobody"} }, http.MethodPost),
			404, "InvalidAccessKeyId.NotFound"},
		{"bad signature", raw(http.MethodPost, func(map[string][]string) {}, http.MethodGet), 400, "SignatureDoesNotMatch"},
		{"PUT", raw(http.MethodPut, func(map[string][]string) {}, http.MethodPut), 405, "UnsupportedHTTPMethod"},

		// Faults
		{"throttled", withFaults(ecssim.Faults{ThrottleRPS: 1, ThrottleBurst: 1}, func() error {
			require.NoError(t, okCall(), "the burst admits one request")
			return okCall()
		}), 400, "Throttling.User"},
		{"first injected 5xx", withFaults(ecssim.Faults{ErrorRate: 1}, okCall), 503, "ServiceUnavailable"},
		{"second injected 5xx", withFaults(ecssim.Faults{ErrorRate: 1}, func() error {
			requireServerError(t, okCall(), 503, "ServiceUnavailable")
			return okCall()
		}), 500, "InternalError.Dispatch"},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireServerError(t, tc.call(), tc.status, tc.code)
		})
		covered[tc.code] = true
	}
	// Codes produced outside this table: Forbidden.RAM, SecurityToken errors
	// and SignatureNonceUsed need their own setup (see sdk_test.go), and
	// IncompleteSignature only answers the ACS3 dialect (see acs3_test.go).
	for _, c := range []string{"Forbidden.RAM", "InvalidSecurityToken.Mismatch", "SignatureNonceUsed", "IncompleteSignature"} {
		covered[c] = true
	}
	var missing []string
	for _, code := range allErrorCodes() {
		if !covered[code] {
			missing = append(missing, code)
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "error codes without a test case")

	// Nothing in the table changed the world: no install or reboot happened.
	for _, id := range append([]string{running, stopped}, running101...) {
		it := truthOf(t, e.sim, id)
		require.Zero(t, it.Installs, id)
		require.Zero(t, it.Reboots, id)
		require.False(t, it.PendingInstall, id)
	}
	require.Equal(t, ecssim.StateRunning, truthOf(t, e.sim, running).State)
}

// allErrorCodes lists every Code the simulator can answer with.
func allErrorCodes() []string {
	return []string{
		"MissingParameter", "InvalidParameter", "InvalidParameter.Format", "InvalidParameter.MaxResults",
		"InvalidParameter.NextToken", "InvalidParameter.OSType", "InvalidParameter.BatchOptimization",
		"InvalidParam.PageSize", "InvalidParam.PageNumber", "MissingParam.InstanceId",
		"InstanceIds.ExceedLimit", "InvalidInstance.NotFound", "InvalidInstanceId.NotFound",
		"IncorrectInstanceStatus", "DryRunOperation", "InvalidRegionId.NotFound", "RegionId.ApiNotSupported",
		"Throttling.User", "ServiceUnavailable", "InternalError.Dispatch",
		"InvalidAction.NotFound", "InvalidVersion", "UnsupportedHTTPMethod",
		"InvalidSignatureMethod", "InvalidSignatureVersion", "InvalidTimeStamp.Format", "IllegalTimestamp",
		"InvalidAccessKeyId.NotFound", "SignatureDoesNotMatch", "SignatureNonceUsed",
		"InvalidSecurityToken.Mismatch", "Forbidden.RAM", "IncompleteSignature",
		"InvalidParameter.TooManyInstanceIds", "InvalidInstanceIds.Malformed", "InvalidStatus.NotFound",
		"InvalidTagCount", "InvalidTag.Mismatch",
	}
}

// TestErrorBodyShape checks the raw JSON error document field by field.
func TestErrorBodyShape(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	p := rawParams(ecssim.ActionRebootInstance)
	p.Set("InstanceId", "i-doesnotexist000000")
	status, body, err := doRaw(t, e.srv.Endpoint(), http.MethodPost, signRaw(http.MethodPost, p, ecssim.DefaultAccessKeySecret))
	require.Error(t, err)
	require.Equal(t, 404, status)
	require.JSONEq(t, fmt.Sprintf(`{"RequestId":%[1]q,"HostId":%[2]q,"Code":"InvalidInstanceId.NotFound",
		"Message":"The specified InstanceId does not exist.",
		"Recommend":"https://api.aliyun.com/troubleshoot?q=InvalidInstanceId.NotFound&product=Ecs&requestId=%[1]s"}`,
		requestIDOf(t, body), e.srv.Endpoint()), string(body))
}
