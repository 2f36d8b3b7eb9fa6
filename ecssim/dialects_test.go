package ecssim_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	ecsv2 "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// normalizedAnswer is a captured answer without what differs between two
// simulators by design: RequestId (random per run), HostId (the port) and
// Recommend (which quotes the RequestId).
func normalizedAnswer(t testing.TB, ex exchange) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(ex.respBody, &m), "answer: %s", ex.respBody)
	delete(m, "RequestId")
	delete(m, "HostId")
	delete(m, "Recommend")
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

// TestDialectsAnswerAlike drives every simulated action, with successes and
// refusals, through the V1 SDK against one simulator and the V2 SDK against
// a twin (same seeds, same manual clock), and requires the same answer on
// the wire for every call and the same truth at the end: the dialects
// differ in decoding only.
func TestDialectsAnswerAlike(t *testing.T) {
	cfg := func() ecssim.Config {
		return ecssim.Config{Seed: 5, Fleets: []ecssim.FleetSpec{{
			Size: 40, Seed: 9, Missing: 0.2, Silent: 0.1, Stopped: 0.1, Tagged: 0.25,
			OSWeights: map[string]float64{ecssim.OSLinux: 3, ecssim.OSWindows: 1},
		}}}
	}
	e1, e2 := newEnv(t, cfg()), newEnv(t, cfg())
	all := e1.sim.InstanceIDs(ecssim.DefaultRegion)
	require.Equal(t, all, e2.sim.InstanceIDs(ecssim.DefaultRegion), "twin fleets")
	require.Equal(t, e1.sim.Truth().Instances, e2.sim.Truth().Instances)

	var healthy, missing, stopped []string
	for _, it := range e1.sim.Truth().Instances {
		switch {
		case it.State == ecssim.StateStopped:
			stopped = append(stopped, it.ID)
		case !it.AgentInstalled:
			missing = append(missing, it.ID)
		case it.AgentHealthy:
			healthy = append(healthy, it.ID)
		}
	}
	require.GreaterOrEqual(t, len(healthy), 3)
	require.GreaterOrEqual(t, len(missing), 3)
	require.NotEmpty(t, stopped)
	zone := truthOf(t, e1.sim, all[0]).Zone

	w1, w2 := newWireLog(t), newWireLog(t)
	c1 := e1.client(t)
	c1.SetTransport(w1)
	c2 := newV2Client(t, e2.srv.Endpoint(), v2Options{transport: w2})
	region := dara.String(ecssim.DefaultRegion)
	var token1, token2 string

	steps := []struct {
		name   string
		v1, v2 func() error
	}{
		{"DescribeInstanceStatus page 2 of 7", func() error {
			_, err := describeStatus(c1, 2, 7)
			return err
		}, func() error { return v2Err(v2DescribeStatus(c2, 2, 7)) }},
		{"DescribeInstanceStatus by ID, zone filter", func() error {
			r := ecs.CreateDescribeInstanceStatusRequest()
			r.InstanceId = ids(all[3], "i-doesnotexist000000", all[1], all[2])
			r.ZoneId = zone
			_, err := c1.DescribeInstanceStatus(r)
			return err
		}, func() error {
			return v2Err(c2.DescribeInstanceStatus(&ecsv2.DescribeInstanceStatusRequest{RegionId: region,
				InstanceId: strs(all[3], "i-doesnotexist000000", all[1], all[2]), ZoneId: dara.String(zone)}))
		}},
		{"DescribeInstanceStatus PageSize 51", func() error {
			_, err := describeStatus(c1, 1, 51)
			return err
		}, func() error { return v2Err(v2DescribeStatus(c2, 1, 51)) }},
		{"DescribeInstanceStatus 101 IDs", func() error {
			r := ecs.CreateDescribeInstanceStatusRequest()
			r.InstanceId = ids(fakeIDs(101)...)
			_, err := c1.DescribeInstanceStatus(r)
			return err
		}, func() error {
			return v2Err(c2.DescribeInstanceStatus(&ecsv2.DescribeInstanceStatusRequest{RegionId: region, InstanceId: strs(fakeIDs(101)...)}))
		}},
		{"DescribeCloudAssistantStatus by ID", func() error {
			_, err := assistantStatus(c1, missing[0], healthy[0], stopped[0])
			return err
		}, func() error { return v2Err(v2AssistantStatus(c2, missing[0], healthy[0], stopped[0])) }},
		{"DescribeCloudAssistantStatus MaxResults 5", func() error {
			r := ecs.CreateDescribeCloudAssistantStatusRequest()
			r.MaxResults = requests.NewInteger(5)
			resp, err := c1.DescribeCloudAssistantStatus(r)
			if err == nil {
				token1 = resp.NextToken
			}
			return err
		}, func() error {
			resp, err := c2.DescribeCloudAssistantStatus(&ecsv2.DescribeCloudAssistantStatusRequest{RegionId: region, MaxResults: dara.Int32(5)})
			if err == nil {
				token2 = dara.StringValue(resp.Body.NextToken)
			}
			return err
		}},
		{"DescribeCloudAssistantStatus NextToken", func() error {
			r := ecs.CreateDescribeCloudAssistantStatusRequest()
			r.MaxResults = requests.NewInteger(5)
			r.NextToken = token1
			_, err := c1.DescribeCloudAssistantStatus(r)
			return err
		}, func() error {
			return v2Err(c2.DescribeCloudAssistantStatus(&ecsv2.DescribeCloudAssistantStatusRequest{RegionId: region,
				MaxResults: dara.Int32(5), NextToken: dara.String(token2)}))
		}},
		{"DescribeCloudAssistantStatus OSType, page 2 of 3", func() error {
			r := ecs.CreateDescribeCloudAssistantStatusRequest()
			r.OSType = ecssim.OSWindows
			r.PageNumber = requests.NewInteger(2)
			r.PageSize = requests.NewInteger(3)
			_, err := c1.DescribeCloudAssistantStatus(r)
			return err
		}, func() error {
			return v2Err(c2.DescribeCloudAssistantStatus(&ecsv2.DescribeCloudAssistantStatusRequest{RegionId: region,
				OSType: dara.String(ecssim.OSWindows), PageNumber: dara.Int64(2), PageSize: dara.Int64(3)}))
		}},
		{"DescribeCloudAssistantStatus unknown ID", func() error {
			_, err := assistantStatus(c1, healthy[0], "i-doesnotexist000000")
			return err
		}, func() error { return v2Err(v2AssistantStatus(c2, healthy[0], "i-doesnotexist000000")) }},
		{"DescribeCloudAssistantStatus MaxResults 51", func() error {
			r := ecs.CreateDescribeCloudAssistantStatusRequest()
			r.MaxResults = requests.NewInteger(51)
			_, err := c1.DescribeCloudAssistantStatus(r)
			return err
		}, func() error {
			return v2Err(c2.DescribeCloudAssistantStatus(&ecsv2.DescribeCloudAssistantStatusRequest{RegionId: region, MaxResults: dara.Int32(51)}))
		}},
		{"DescribeInstances by ID", func() error {
			r := ecs.CreateDescribeInstancesRequest()
			r.InstanceIds = instanceIdsJSON(t, all[5], stopped[0], "i-doesnotexist000000", all[0])
			_, err := c1.DescribeInstances(r)
			return err
		}, func() error {
			return v2Err(c2.DescribeInstances(&ecsv2.DescribeInstancesRequest{RegionId: region,
				InstanceIds: dara.String(instanceIdsJSON(t, all[5], stopped[0], "i-doesnotexist000000", all[0]))}))
		}},
		{"DescribeInstances Tag, PageSize 100", func() error {
			r := ecs.CreateDescribeInstancesRequest()
			r.Tag = &[]ecs.DescribeInstancesTag{{Key: ecssim.DefaultTagKey, Value: ecssim.DefaultTagValue}}
			r.PageSize = requests.NewInteger(100)
			_, err := c1.DescribeInstances(r)
			return err
		}, func() error {
			return v2Err(c2.DescribeInstances(&ecsv2.DescribeInstancesRequest{RegionId: region, PageSize: dara.Int32(100),
				Tag: []*ecsv2.DescribeInstancesRequestTag{{Key: dara.String(ecssim.DefaultTagKey), Value: dara.String(ecssim.DefaultTagValue)}}}))
		}},
		{"DescribeInstances DryRun", func() error {
			r := ecs.CreateDescribeInstancesRequest()
			r.DryRun = requests.NewBoolean(true)
			_, err := c1.DescribeInstances(r)
			return err
		}, func() error {
			return v2Err(c2.DescribeInstances(&ecsv2.DescribeInstancesRequest{RegionId: region, DryRun: dara.Bool(true)}))
		}},
		{"DescribeInstances malformed InstanceIds", func() error {
			r := ecs.CreateDescribeInstancesRequest()
			r.InstanceIds = `["i-1"`
			_, err := c1.DescribeInstances(r)
			return err
		}, func() error {
			return v2Err(c2.DescribeInstances(&ecsv2.DescribeInstancesRequest{RegionId: region, InstanceIds: dara.String(`["i-1"`)}))
		}},
		{"DescribeRegions in English", func() error {
			r := ecs.CreateDescribeRegionsRequest()
			r.AcceptLanguage = "en-US"
			_, err := c1.DescribeRegions(r)
			return err
		}, func() error {
			return v2Err(c2.DescribeRegions(&ecsv2.DescribeRegionsRequest{AcceptLanguage: dara.String("en-US")}))
		}},
		{"InstallCloudAssistant", func() error { return install(c1, missing[0], healthy[1]) }, func() error {
			return v2Err(c2.InstallCloudAssistant(&ecsv2.InstallCloudAssistantRequest{RegionId: region, InstanceId: strs(missing[0], healthy[1])}))
		}},
		{"InstallCloudAssistant on a stopped instance", func() error { return install(c1, missing[1], stopped[0]) }, func() error {
			return v2Err(c2.InstallCloudAssistant(&ecsv2.InstallCloudAssistantRequest{RegionId: region, InstanceId: strs(missing[1], stopped[0])}))
		}},
		{"InstallCloudAssistant 21 IDs", func() error { return install(c1, append(fakeIDs(20), missing[2])...) }, func() error {
			return v2Err(c2.InstallCloudAssistant(&ecsv2.InstallCloudAssistantRequest{RegionId: region, InstanceId: strs(append(fakeIDs(20), missing[2])...)}))
		}},
		{"RebootInstance ForceStop", func() error {
			r := ecs.CreateRebootInstanceRequest()
			r.InstanceId = missing[0]
			r.ForceStop = requests.NewBoolean(true)
			_, err := c1.RebootInstance(r)
			return err
		}, func() error {
			return v2Err(c2.RebootInstance(&ecsv2.RebootInstanceRequest{InstanceId: dara.String(missing[0]), ForceStop: dara.Bool(true)}))
		}},
		{"RebootInstance on a stopped instance", func() error { return reboot(c1, stopped[0]) }, func() error {
			return v2Err(c2.RebootInstance(&ecsv2.RebootInstanceRequest{InstanceId: dara.String(stopped[0])}))
		}},
		{"RebootInstances SuccessFirst", func() error {
			r := ecs.CreateRebootInstancesRequest()
			r.InstanceId = ids(healthy[1], stopped[0], missing[0], "i-doesnotexist000000")
			r.BatchOptimization = "SuccessFirst"
			_, err := c1.RebootInstances(r)
			return err
		}, func() error {
			return v2Err(c2.RebootInstances(&ecsv2.RebootInstancesRequest{RegionId: region,
				InstanceId: strs(healthy[1], stopped[0], missing[0], "i-doesnotexist000000"), BatchOptimization: dara.String("SuccessFirst")}))
		}},
		{"RebootInstances 101 IDs", func() error {
			r := ecs.CreateRebootInstancesRequest()
			r.InstanceId = ids(fakeIDs(101)...)
			_, err := c1.RebootInstances(r)
			return err
		}, func() error {
			return v2Err(c2.RebootInstances(&ecsv2.RebootInstancesRequest{RegionId: region, InstanceId: strs(fakeIDs(101)...)}))
		}},
		{"RebootInstances bad BatchOptimization", func() error {
			r := ecs.CreateRebootInstancesRequest()
			r.InstanceId = ids(healthy[2])
			r.BatchOptimization = "Sometimes"
			_, err := c1.RebootInstances(r)
			return err
		}, func() error {
			return v2Err(c2.RebootInstances(&ecsv2.RebootInstancesRequest{RegionId: region, InstanceId: strs(healthy[2]),
				BatchOptimization: dara.String("Sometimes")}))
		}},
		{"DescribeInstanceStatus unknown region", func() error {
			r := ecs.CreateDescribeInstanceStatusRequest()
			r.RegionId = "xx-nowhere-1"
			_, err := c1.DescribeInstanceStatus(r)
			return err
		}, func() error {
			return v2Err(c2.DescribeInstanceStatus(&ecsv2.DescribeInstanceStatusRequest{RegionId: dara.String("xx-nowhere-1")}))
		}},
		{"DescribeInstanceStatus mid-reboot", func() error {
			e1.clock.Advance(ecssim.DefaultStopDuration)
			_, err := describeStatus(c1, 1, 50)
			return err
		}, func() error {
			e2.clock.Advance(ecssim.DefaultStopDuration)
			return v2Err(v2DescribeStatus(c2, 1, 50))
		}},
		{"DescribeCloudAssistantStatus after the reboots", func() error {
			e1.clock.Advance(ecssim.DefaultStartDuration + time.Minute)
			_, err := assistantStatus(c1, missing[0], healthy[1])
			return err
		}, func() error {
			e2.clock.Advance(ecssim.DefaultStartDuration + time.Minute)
			return v2Err(v2AssistantStatus(c2, missing[0], healthy[1]))
		}},
	}
	covered := map[string]bool{}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			err1, err2 := st.v1(), st.v2()
			a1, a2 := w1.last(t), w2.last(t)
			assert.Equal(t, a1.status, a2.status)
			assert.Equal(t, err1 == nil, err2 == nil, "V1: %v\nV2: %v", err1, err2)
			assert.Equal(t, normalizedAnswer(t, a1), normalizedAnswer(t, a2))
			assert.Empty(t, headerOf(a1.req.Header, "Authorization"), "the V1 SDK signs in the query")
			assert.True(t, strings.HasPrefix(headerOf(a2.req.Header, "Authorization"), "ACS3-HMAC-SHA256 "), "the V2 SDK signs ACS3")
			covered[headerOf(a1.req.Header, "x-acs-action")] = true
		})
	}
	for _, a := range ecssim.Actions() {
		assert.True(t, covered[a], "no step calls %s", a)
	}

	tr1, tr2 := e1.sim.Truth(), e2.sim.Truth()
	assert.Equal(t, tr1.Instances, tr2.Instances, "the same installs, reboots and refusals")
	assert.Equal(t, tr1.Actions, tr2.Actions, "the same calls, errors and ID counts per action")
	assert.Equal(t, tr1.MaxRebootingAtOnce, tr2.MaxRebootingAtOnce)
	assert.Equal(t, tr1.MaxRebootingAtOnceByZone, tr2.MaxRebootingAtOnceByZone)
	require.Len(t, tr1.UserAgents, 1)
	require.Len(t, tr2.UserAgents, 1)
	for ua1, n1 := range tr1.UserAgents {
		for ua2, n2 := range tr2.UserAgents {
			assert.Equal(t, n1, n2, "each request counted once, by its SDK's User-Agent")
			assert.NotEqual(t, ua1, ua2)
			assert.Contains(t, ua2, "TeaDSL/2")
		}
	}
}

// answer is an error answer, whichever SDK (or hand-made request) got it.
type answer struct {
	Status  int
	Code    string
	Message string
}

func answerOf(t testing.TB, err error) answer {
	t.Helper()
	require.Error(t, err)
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		require.NotEmpty(t, se.RequestId())
		return answer{Status: se.HttpStatus(), Code: se.ErrorCode(), Message: se.Message()}
	}
	var te *tea.SDKError
	require.True(t, errors.As(err, &te), "want an SDK's error, got %T: %v", err, err)
	ve := requireV2Error(t, err, tea.IntValue(te.StatusCode), tea.StringValue(te.Code))
	return answer{Status: ve.Status, Code: ve.Code, Message: ve.Message}
}

// TestRefusalsInBothDialects: a wrong secret, a replayed nonce, a stale
// timestamp and the documented limits are refused alike in both dialects,
// with the same code, status and (but for the string to sign, which is
// each dialect's own) message.
func TestRefusalsInBothDialects(t *testing.T) {
	type dialectCall func(t *testing.T, e *env) error
	region := dara.String(ecssim.DefaultRegion)
	cases := []struct {
		name         string
		status       int
		code         string
		sameMessage  bool
		v1, v2       dialectCall
		checkMessage func(t *testing.T, v1, v2 string)
	}{
		{
			name: "wrong secret", status: http.StatusBadRequest, code: "SignatureDoesNotMatch",
			v1: func(t *testing.T, e *env) error {
				c := newClient(t, e.srv.Endpoint(), ecssim.DefaultRegion,
					credentials.NewStaticAKCredentialsProvider(ecssim.DefaultAccessKeyID, "not-the-secret"))
				_, err := describeStatus(c, 1, 10)
				return err
			},
			v2: func(t *testing.T, e *env) error {
				c := newV2Client(t, e.srv.Endpoint(), v2Options{accessKeyID: ecssim.DefaultAccessKeyID, secret: "not-the-secret"})
				return v2Err(v2DescribeStatus(c, 1, 10))
			},
			checkMessage: func(t *testing.T, v1, v2 string) {
				const prefix = "Specified signature is not matched with our calculation. server string to sign is:"
				require.True(t, strings.HasPrefix(v1, prefix+"GET&%2F&") || strings.HasPrefix(v1, prefix+"POST&%2F&"), v1)
				require.True(t, strings.HasPrefix(v2, prefix+"ACS3-HMAC-SHA256\n"), v2)
			},
		},
		{
			name: "replayed nonce", status: http.StatusBadRequest, code: "SignatureNonceUsed", sameMessage: true,
			// Both capture what their SDK sent and send it again, byte for byte.
			v1: func(t *testing.T, e *env) error {
				wire := newWireLog(t)
				c := e.client(t)
				c.SetTransport(wire)
				_, err := describeStatus(c, 1, 10)
				require.NoError(t, err)
				_, _, err = resend(t, wire.last(t))
				return err
			},
			v2: func(t *testing.T, e *env) error {
				wire := newWireLog(t)
				_, err := v2DescribeStatus(newV2Client(t, e.srv.Endpoint(), v2Options{transport: wire}), 1, 10)
				require.NoError(t, err)
				_, _, err = resend(t, wire.last(t))
				return err
			},
		},
		{
			name: "stale timestamp", status: http.StatusBadRequest, code: "IllegalTimestamp", sameMessage: true,
			v1: func(t *testing.T, e *env) error {
				p := rawParams(ecssim.ActionDescribeInstanceStatus)
				p.Set("Timestamp", time.Now().UTC().Add(-16*time.Minute).Format("2006-01-02T15:04:05Z"))
				_, _, err := doRaw(t, e.srv.Endpoint(), http.MethodPost, signRaw(http.MethodPost, p, ecssim.DefaultAccessKeySecret))
				return err
			},
			v2: func(t *testing.T, e *env) error {
				_, _, err := acs3Call{action: ecssim.ActionDescribeInstanceStatus, date: time.Now().Add(-16 * time.Minute)}.do(t, e.srv.Endpoint())
				return err
			},
		},
		{
			name: "101 instance IDs", status: http.StatusForbidden, code: "InstanceIds.ExceedLimit", sameMessage: true,
			v1: func(t *testing.T, e *env) error {
				r := ecs.CreateDescribeCloudAssistantStatusRequest()
				r.InstanceId = ids(fakeIDs(101)...)
				_, err := e.client(t).DescribeCloudAssistantStatus(r)
				return err
			},
			v2: func(t *testing.T, e *env) error {
				return v2Err(v2AssistantStatus(e.v2Client(t), fakeIDs(101)...))
			},
		},
		{
			name: "PageSize 51", status: http.StatusBadRequest, code: "InvalidParam.PageSize", sameMessage: true,
			v1: func(t *testing.T, e *env) error {
				_, err := describeStatus(e.client(t), 1, 51)
				return err
			},
			v2: func(t *testing.T, e *env) error {
				return v2Err(e.v2Client(t).DescribeInstanceStatus(&ecsv2.DescribeInstanceStatusRequest{RegionId: region, PageSize: dara.Int32(51)}))
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, ecssim.Config{})
			var got [2]answer
			for i, d := range []struct {
				name string
				call dialectCall
			}{{"V1", tc.v1}, {"V2", tc.v2}} {
				t.Run(d.name, func(t *testing.T) {
					got[i] = answerOf(t, d.call(t, e))
					require.Equal(t, tc.code, got[i].Code, "message: %s", got[i].Message)
					require.Equal(t, tc.status, got[i].Status)
				})
			}
			if tc.sameMessage {
				assert.Equal(t, got[0].Message, got[1].Message)
			}
			if tc.checkMessage != nil {
				tc.checkMessage(t, got[0].Message, got[1].Message)
			}
		})
	}
}

// v2Err keeps the error of a V2 SDK call.
func v2Err(_ any, err error) error { return err }
