package ecssim

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzServeRPC sends arbitrary query strings and bodies to the simulator's
// RPC endpoint: it never panics, answers every request with JSON and a
// 4xx (or 2xx for what happens to be a valid signed request), and never
// changes an instance for an unauthenticated request.
func FuzzServeRPC(f *testing.F) {
	for _, q := range []string{
		"Action=DescribeInstanceStatus&Version=2014-05-26",
		"Action=RebootInstances&Version=2014-05-26&InstanceId.1=i-x&AccessKeyId=ecssim-access-key-id&Signature=abc",
		"Action=DescribeInstances&Version=2014-05-26&InstanceIds=%5B%22i-1%22",
		"Action=DescribeCloudAssistantStatus&Version=2014-05-26&PageSize=-1&MaxResults=999&NextToken=%00",
		"Version=2014-05-26",
		"%zz=1",
		"",
	} {
		f.Add(q, "")
	}
	f.Add("Action=DescribeInstanceStatus&Version=2014-05-26", "PageSize=5&PageNumber=abc")
	sim, err := New(Config{Fleets: []FleetSpec{{Size: 5, Seed: 1}}})
	if err != nil {
		f.Fatal(err)
	}
	h := sim.Handler()
	f.Fuzz(func(t *testing.T, query, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.URL.RawQuery = query // as it arrived, however malformed
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q → %d: %s", query, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%q → Content-Type %q", query, ct)
		}
		for _, in := range sim.Truth().Instances {
			if in.Installs+in.Reboots > 0 {
				t.Fatalf("%q changed %s without a valid signature", query, in.ID)
			}
		}
	})
}

// FuzzSignature: a request signed with the secret verifies, whatever its
// parameters; the same request with another secret does not.
func FuzzSignature(f *testing.F) {
	f.Add("DescribeInstanceStatus", "PageSize", "50")
	f.Add("RebootInstances", "InstanceId.1", "i-bp1 ~*+%&=")
	f.Add("X", "", "\x00")
	f.Fuzz(func(t *testing.T, action, key, value string) {
		v := url.Values{"Action": {action}, "Format": {"JSON"}, "Version": {APIVersion}, "AccessKeyId": {DefaultAccessKeyID},
			"SignatureMethod": {"HMAC-SHA1"}, "SignatureVersion": {"1.0"}, "SignatureNonce": {"n"},
			"Timestamp": {time.Now().UTC().Format(timestampLayout)}}
		if key != "" && key != "Signature" {
			v.Add(key, value)
		}
		sig := Sign(StringToSign(http.MethodPost, v), DefaultAccessKeySecret)
		// The server side: what arrives after the query is encoded and parsed.
		parsed, err := url.ParseQuery(v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if got := Sign(StringToSign(http.MethodPost, parsed), DefaultAccessKeySecret); got != sig {
			t.Fatalf("signature changed on the wire: %q vs %q", got, sig)
		}
		if Sign(StringToSign(http.MethodPost, parsed), "other-secret") == sig {
			t.Fatalf("another secret verifies")
		}
	})
}
