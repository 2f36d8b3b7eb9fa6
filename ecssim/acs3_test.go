package ecssim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// TestACS3GatewayChecks sends hand-signed ACS3 requests that the V2 SDK
// cannot be made to send, each wrong in one way, and checks the gateway's
// refusal; the first cases are right and must pass.
func TestACS3GatewayChecks(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	addInstance(t, e.sim, ecssim.InstanceSpec{})
	status := ecssim.ActionDescribeInstanceStatus
	replaceAuth := func(old, new string) func(*http.Request, *[]byte) {
		return func(r *http.Request, _ *[]byte) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
		}
	}
	for _, tc := range []struct {
		name   string
		call   acs3Call
		status int
		code   string // empty: must succeed
	}{
		{"well-formed", acs3Call{action: status}, http.StatusOK, ""},
		{"GET", acs3Call{method: http.MethodGet, action: status}, http.StatusOK, ""},
		{"signature in upper-case hex", acs3Call{action: status, afterSigning: func(r *http.Request, _ *[]byte) {
			auth, sig, _ := strings.Cut(r.Header.Get("Authorization"), "Signature=")
			r.Header.Set("Authorization", auth+"Signature="+strings.ToUpper(sig))
		}}, http.StatusOK, ""},
		{"14 minutes ahead", acs3Call{action: status, date: time.Now().Add(14 * time.Minute)}, http.StatusOK, ""},
		{"content-type signed too", acs3Call{action: status, edit: func(h http.Header) { h.Set("Content-Type", "application/json") }},
			http.StatusOK, ""},

		{"no x-acs-action", acs3Call{action: ""}, http.StatusBadRequest, "MissingParameter"},
		{"no x-acs-version", acs3Call{action: status, edit: func(h http.Header) { h.Del("x-acs-version") }}, http.StatusBadRequest, "MissingParameter"},
		{"other version", acs3Call{action: status, edit: func(h http.Header) { h.Set("x-acs-version", "2016-03-14") }},
			http.StatusBadRequest, "InvalidVersion"},
		{"unknown action", acs3Call{action: "DescribeEverything"}, http.StatusNotFound, "InvalidAction.NotFound"},
		{"no Authorization", acs3Call{action: status, afterSigning: func(r *http.Request, _ *[]byte) { r.Header.Del("Authorization") }},
			http.StatusBadRequest, "MissingParameter"},
		{"no x-acs-date", acs3Call{action: status, edit: func(h http.Header) { h.Del("x-acs-date") }}, http.StatusBadRequest, "MissingParameter"},
		{"no x-acs-signature-nonce", acs3Call{action: status, edit: func(h http.Header) { h.Del("x-acs-signature-nonce") }},
			http.StatusBadRequest, "MissingParameter"},
		{"no x-acs-content-sha256", acs3Call{action: status, edit: func(h http.Header) { h.Del("x-acs-content-sha256") }},
			http.StatusBadRequest, "MissingParameter"},
		{"no RegionId", acs3Call{action: status, query: url.Values{"RegionId": {""}}}, http.StatusBadRequest, "MissingParameter"},
		{"x-acs-date not ISO 8601", acs3Call{action: status, edit: func(h http.Header) { h.Set("x-acs-date", "yesterday") }},
			http.StatusBadRequest, "InvalidTimeStamp.Format"},
		{"16 minutes old", acs3Call{action: status, date: time.Now().Add(-16 * time.Minute)}, http.StatusBadRequest, "IllegalTimestamp"},
		{"16 minutes ahead", acs3Call{action: status, date: time.Now().Add(16 * time.Minute)}, http.StatusBadRequest, "IllegalTimestamp"},
		{"ACS3-HMAC-SM3", acs3Call{action: status, afterSigning: replaceAuth("ACS3-HMAC-SHA256 ", "ACS3-HMAC-SM3 ")},
			http.StatusBadRequest, "InvalidSignatureMethod"},
		{"not ACS3 at all", acs3Call{action: status, afterSigning: func(r *http.Request, _ *[]byte) { r.Header.Set("Authorization", "Bearer abc") }},
			http.StatusBadRequest, "IncompleteSignature"},
		{"no Signature field", acs3Call{action: status, afterSigning: func(r *http.Request, _ *[]byte) {
			auth, _, _ := strings.Cut(r.Header.Get("Authorization"), ",Signature=")
			r.Header.Set("Authorization", auth)
		}}, http.StatusBadRequest, "IncompleteSignature"},
		{"SignedHeaders unsorted", acs3Call{action: status, afterSigning: replaceAuth("host;x-acs-action", "x-acs-action;host")},
			http.StatusBadRequest, "IncompleteSignature"},
		{"host unsigned", acs3Call{action: status, unsign: []string{"host"}}, http.StatusBadRequest, "IncompleteSignature"},
		{"nonce unsigned", acs3Call{action: status, unsign: []string{"x-acs-signature-nonce"}}, http.StatusBadRequest, "IncompleteSignature"},
		{"another x-acs-* header unsigned", acs3Call{action: status, edit: func(h http.Header) { h.Set("x-acs-trace", "1") },
			unsign: []string{"x-acs-trace"}}, http.StatusBadRequest, "IncompleteSignature"},
		{"unknown access key", acs3Call{action: status, accessKeyID: "nobody", secret: "x"}, http.StatusNotFound, "InvalidAccessKeyId.NotFound"},
		{"wrong secret", acs3Call{action: status, accessKeyID: ecssim.DefaultAccessKeyID, secret: "wrong"},
			http.StatusBadRequest, "SignatureDoesNotMatch"},
		{"query changed after signing", acs3Call{action: status, afterSigning: func(r *http.Request, _ *[]byte) { r.URL.RawQuery += "&PageSize=1" }},
			http.StatusBadRequest, "SignatureDoesNotMatch"},
		{"signed header changed after signing", acs3Call{action: status, afterSigning: func(r *http.Request, _ *[]byte) {
			r.Header.Set("x-acs-action", ecssim.ActionDescribeCloudAssistantStatus)
		}}, http.StatusBadRequest, "SignatureDoesNotMatch"},
		{"signed for POST, sent as GET", acs3Call{action: status, afterSigning: func(r *http.Request, _ *[]byte) { r.Method = http.MethodGet }},
			http.StatusBadRequest, "SignatureDoesNotMatch"},
		{"body changed after signing", acs3Call{action: status, form: url.Values{"PageSize": {"5"}},
			afterSigning: func(_ *http.Request, body *[]byte) { *body = []byte("PageSize=1") }},
			http.StatusBadRequest, "SignatureDoesNotMatch"},
		{"x-acs-content-sha256 not the body's", acs3Call{action: status, form: url.Values{"PageSize": {"5"}},
			edit: func(h http.Header) { h.Set("x-acs-content-sha256", strings.Repeat("0", 64)) }},
			http.StatusBadRequest, "SignatureDoesNotMatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body, err := tc.call.do(t, e.srv.Endpoint())
			if tc.code == "" {
				require.NoError(t, err, "%s", body)
				require.Equal(t, tc.status, st)
				requestIDOf(t, body)
				return
			}
			requireServerError(t, err, tc.status, tc.code)
		})
	}
	assert.Equal(t, ecssim.ActionTruth{Calls: 1, Errors: 1}, e.sim.Truth().Actions[ecssim.ActionDescribeCloudAssistantStatus],
		"a tampered x-acs-action counts, refused, as a call of the action it names, like a refused V1 call")
}

// TestACS3MissingParameterNames: a missing header is named as the header.
func TestACS3MissingParameterNames(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	for _, name := range []string{"x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"} {
		_, _, err := acs3Call{action: ecssim.ActionDescribeInstanceStatus, edit: func(h http.Header) { h.Del(name) }}.do(t, e.srv.Endpoint())
		se := requireServerError(t, err, http.StatusBadRequest, "MissingParameter")
		assert.Contains(t, se.Message(), `"`+name+`"`)
	}
	_, _, err := acs3Call{}.do(t, e.srv.Endpoint())
	se := requireServerError(t, err, http.StatusBadRequest, "MissingParameter")
	assert.Contains(t, se.Message(), `"x-acs-action"`)
}

// TestACS3FormBodyAndNonce: parameters in a form body reach the action, the
// body being covered by its hash; a request refused for its signature does
// not burn its nonce; a nonce is spent across dialects.
func TestACS3FormBodyAndNonce(t *testing.T) {
	e := newEnv(t, ecssim.Config{})
	a := addInstance(t, e.sim, ecssim.InstanceSpec{})
	b := addInstance(t, e.sim, ecssim.InstanceSpec{})

	_, body, err := acs3Call{action: ecssim.ActionRebootInstances, form: url.Values{"InstanceId.1": {a}, "InstanceId.2": {b}},
		query: url.Values{"BatchOptimization": {"SuccessFirst"}}}.do(t, e.srv.Endpoint())
	require.NoError(t, err, "%s", body)
	var resp ecs.RebootInstancesResponse
	require.NoError(t, json.Unmarshal(body, &resp))
	require.Len(t, resp.InstanceResponses.InstanceResponse, 2)
	assert.Equal(t, 1, truthOf(t, e.sim, a).Reboots)
	assert.Equal(t, 1, truthOf(t, e.sim, b).Reboots)

	nonce := freshNonce()
	_, _, err = acs3Call{action: ecssim.ActionDescribeInstanceStatus, nonce: nonce, accessKeyID: ecssim.DefaultAccessKeyID, secret: "wrong"}.
		do(t, e.srv.Endpoint())
	requireServerError(t, err, http.StatusBadRequest, "SignatureDoesNotMatch")
	_, _, err = acs3Call{action: ecssim.ActionDescribeInstanceStatus, nonce: nonce}.do(t, e.srv.Endpoint())
	require.NoError(t, err, "the refused request did not burn the nonce")
	_, _, err = acs3Call{action: ecssim.ActionDescribeInstanceStatus, nonce: nonce}.do(t, e.srv.Endpoint())
	requireServerError(t, err, http.StatusBadRequest, "SignatureNonceUsed")

	p := rawParams(ecssim.ActionDescribeInstanceStatus)
	p.Set("SignatureNonce", nonce)
	_, _, err = doRaw(t, e.srv.Endpoint(), http.MethodPost, signRaw(http.MethodPost, p, ecssim.DefaultAccessKeySecret))
	requireServerError(t, err, http.StatusBadRequest, "SignatureNonceUsed")
}

// TestACS3InjectedSignatureDoesNotMatch: an injected SignatureDoesNotMatch
// carries the request's own ACS3 string to sign, as a real one would.
func TestACS3InjectedSignatureDoesNotMatch(t *testing.T) {
	e := newEnv(t, ecssim.Config{Faults: ecssim.Faults{ErrorRate: 1, ErrorCode: "SignatureDoesNotMatch"}})
	req, sts := acs3Call{action: ecssim.ActionDescribeInstanceStatus}.build(t, e.srv.Endpoint())
	_, _, err := doRequest(t, req)
	se := requireServerError(t, err, http.StatusBadRequest, "SignatureDoesNotMatch")
	assert.Equal(t, "Specified signature is not matched with our calculation. server string to sign is:"+sts, se.Message())
}
