package ecssim_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// TestFaultErrorCode injects each code and checks it arrives through the
// SDK with the status real ECS uses for it.
func TestFaultErrorCode(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	want := map[string]int{
		"Forbidden.RAM":               403,
		"InvalidAccessKeyId.NotFound": 404,
		"InvalidAccessKeyId.Inactive": 403,
		"SignatureDoesNotMatch":       400,
		"Throttling":                  400,
		"Throttling.User":             400,
		"Throttling.Api":              400,
		"ServiceUnavailable":          503,
		"InternalError":               500,
		"InternalError.Dispatch":      500,
		"UnknownError":                500,
		"OperationConflict":           409,
		"IncorrectInstanceStatus":     403,
		"InvalidInstanceId.NotFound":  404,
		"InvalidInstance.NotFound":    404,
	}
	require.ElementsMatch(t, ecssim.InjectableErrorCodes(), keys(want), "every injectable code has a case")
	for code, status := range want {
		t.Run(code, func(t *testing.T) {
			require.NoError(t, e.sim.SetFaults(ecssim.Faults{ErrorRate: 1, ErrorCode: code}))
			_, err := describeStatus(c, 1, 10)
			se := requireServerError(t, err, status, code)
			assert.NotEmpty(t, se.Message())
			if code == "SignatureDoesNotMatch" {
				assert.Equal(t, "InvalidAccessKeySecret: Please check you AccessKeySecret", se.Recommend(),
					"the server string to sign is the request's own, so the SDK blames the secret, as for a real wrong secret")
			}
		})
	}
	require.NoError(t, e.sim.SetFaults(ecssim.Faults{}))
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestFaultForbiddenRebootOnly: a RAM user allowed everything but reboots.
func TestFaultForbiddenRebootOnly(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	id := addInstance(t, e.sim, ecssim.InstanceSpec{})
	require.NoError(t, e.sim.SetFaults(ecssim.Faults{ErrorRate: 1, ErrorCode: "Forbidden.RAM",
		Actions: []string{ecssim.ActionRebootInstances, ecssim.ActionRebootInstance}}))

	r := ecs.CreateRebootInstancesRequest()
	r.InstanceId = ids(id)
	_, err := c.RebootInstances(r)
	requireServerError(t, err, http.StatusForbidden, "Forbidden.RAM")
	requireServerError(t, reboot(c, id), http.StatusForbidden, "Forbidden.RAM")
	require.NoError(t, install(c, id), "other actions are allowed")
	_, err = describeStatus(c, 1, 10)
	require.NoError(t, err)

	it := truthOf(t, e.sim, id)
	assert.Zero(t, it.Reboots, "the refused reboots did not happen")
	assert.Zero(t, it.RefusedReboots, "a gateway refusal is not an instance's refusal")
	assert.Equal(t, 1, it.Installs)
	tr := e.sim.Truth().Actions
	assert.Equal(t, ecssim.ActionTruth{Calls: 1, Errors: 1, MaxInstanceIDs: 1}, tr[ecssim.ActionRebootInstances])
}

func TestFaultErrorCodeRateAndValidation(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	c := e.client(t)
	got := putFaults(t, e, `{"error_rate":0.5,"error_code":"Throttling.Api","seed":5}`)
	assert.Equal(t, ecssim.Faults{ErrorRate: 0.5, ErrorCode: "Throttling.Api", Actions: []string{}, Seed: 5}, got)
	failed := 0
	for range 60 {
		if _, err := describeStatus(c, 1, 10); err != nil {
			requireServerError(t, err, 400, "Throttling.Api") // never the 5xx alternation
			failed++
		}
	}
	assert.InDelta(t, 30, failed, 15)

	err := e.sim.SetFaults(ecssim.Faults{ErrorRate: 1, ErrorCode: "Teapot"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Forbidden.RAM", "the error lists the valid codes")
	req, err := http.NewRequest(http.MethodPut, e.srv.URL()+"/_sim/faults", bytes.NewBufferString(`{"error_rate":1,"error_code":"Teapot"}`))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "Throttling.Api", e.sim.Faults().ErrorCode, "a refused update changes nothing")
}
