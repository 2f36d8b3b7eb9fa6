package ecssim

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sdkAuthorization is an Authorization header shaped like the V2 SDK's.
const sdkAuthorization = "ACS3-HMAC-SHA256 Credential=ecssim-access-key-id," +
	"SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version," +
	"Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseACS3Authorization(t *testing.T) {
	a, e := parseACS3Authorization(sdkAuthorization)
	require.Nil(t, e)
	assert.Equal(t, acs3Authorization{
		algorithm:  "ACS3-HMAC-SHA256",
		credential: "ecssim-access-key-id",
		signedHeaders: []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
			"x-acs-signature-nonce", "x-acs-version"},
		signature: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	}, a)

	a, e = parseACS3Authorization(" ACS3-HMAC-SHA256 Signature=ab, Credential=k ,SignedHeaders=host ")
	require.Nil(t, e, "fields in any order, spaces around them")
	assert.Equal(t, acs3Authorization{algorithm: acs3Algorithm, credential: "k", signedHeaders: []string{"host"}, signature: "ab"}, a)

	for _, tc := range []struct{ header, code string }{
		{"", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 ", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential=k", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential=k,SignedHeaders=host", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=ab", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential=k,SignedHeaders=host,Signature=ab,Signature=ab", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential=k,SignedHeaders=host,Signature=ab,Region=x", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential=k,SignedHeaders=host;;x-acs-date,Signature=ab", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential=k,SignedHeaders=host;Host,Signature=ab", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential=k,SignedHeaders=x-acs-date;host,Signature=ab", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential=k,SignedHeaders=host;host,Signature=ab", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential=k,SignedHeaders=host;,Signature=ab", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential=k,,SignedHeaders=host,Signature=ab", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential=k;SignedHeaders=host;Signature=ab", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256 Credential k,SignedHeaders host,Signature ab", "IncompleteSignature"},
		{"ACS3-HMAC-SHA256\x00Credential=k,SignedHeaders=host,Signature=ab", "IncompleteSignature"},
		{"acs ecssim-access-key-id:c2lnbmF0dXJl", "IncompleteSignature"}, // the ROA dialect's shape
		{"Bearer abc", "IncompleteSignature"},
		{"ACS3-HMAC-SM3 Credential=k,SignedHeaders=host,Signature=ab", "InvalidSignatureMethod"},
		{"ACS3-RSA-SHA256 Credential=k,SignedHeaders=host,Signature=ab", "InvalidSignatureMethod"},
		{"acs3-hmac-sha256 Credential=k,SignedHeaders=host,Signature=ab", "IncompleteSignature"},
	} {
		_, e := parseACS3Authorization(tc.header)
		if assert.NotNil(t, e, "%q", tc.header) {
			assert.Equal(t, tc.code, e.Code, "%q", tc.header)
			assert.Equal(t, http.StatusBadRequest, e.Status, "%q", tc.header)
		}
	}
}

// TestACS3CanonicalRequest pins the canonical request and string to sign
// of one request, spelled out by hand from the V3 signature document.
func TestACS3CanonicalRequest(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "http://ecs.example:8080/?RegionId=cn-hangzhou&InstanceId.2=i+b%2A~&InstanceId.1=i-a&Empty=", nil)
	r.Header.Set("x-acs-action", "DescribeInstanceStatus")
	r.Header.Set("x-acs-version", "2014-05-26")
	r.Header.Set("x-acs-date", "2025-03-01T08:00:00Z")
	r.Header.Add("x-acs-multi", " b ")
	r.Header.Add("x-acs-multi", "a")
	q := newACS3Request(r, nil)
	signed := []string{"host", "x-acs-action", "x-acs-date", "x-acs-multi", "x-acs-version"}
	want := "POST\n/\n" +
		"Empty=&InstanceId.1=i-a&InstanceId.2=i%20b%2A~&RegionId=cn-hangzhou\n" +
		"host:ecs.example:8080\n" +
		"x-acs-action:DescribeInstanceStatus\n" +
		"x-acs-date:2025-03-01T08:00:00Z\n" +
		"x-acs-multi:a,b\n" +
		"x-acs-version:2014-05-26\n" +
		"\n" +
		"host;x-acs-action;x-acs-date;x-acs-multi;x-acs-version\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	assert.Equal(t, want, q.canonicalRequest(signed))
	sum := sha256.Sum256([]byte(want))
	assert.Equal(t, "ACS3-HMAC-SHA256\n"+hex.EncodeToString(sum[:]), acs3StringToSign(q.canonicalRequest(signed)))

	// The body's own hash ends the canonical request, whatever the header claims.
	r.Header.Set(headerContentSHA256, strings.Repeat("0", 64))
	q = newACS3Request(r, []byte("PageSize=5"))
	sum = sha256.Sum256([]byte("PageSize=5"))
	assert.True(t, strings.HasSuffix(q.canonicalRequest(signed), "\n"+hex.EncodeToString(sum[:])))
}

// FuzzServeACS3 sends requests of the ACS3 dialect with arbitrary
// Authorization headers, actions, queries and bodies. The other headers are
// well-formed so that parsing gets as far as it can. The simulator never
// panics, answers every request with JSON and a 4xx, and changes nothing.
func FuzzServeACS3(f *testing.F) {
	for _, auth := range []string{
		sdkAuthorization,
		"ACS3-HMAC-SHA256 Credential=ecssim-access-key-id,SignedHeaders=host,Signature=00",
		"ACS3-HMAC-SHA256 Credential=ecssim-access-key-id,SignedHeaders=,Signature=",
		"ACS3-HMAC-SHA256 Credential==,SignedHeaders=;;;,Signature==",
		"ACS3-HMAC-SHA256 ,,,,",
		"ACS3-HMAC-SHA256 Credential=ecssim-access-key-id,SignedHeaders=host;x-acs-date;x-acs-date,Signature=zz",
		"ACS3-HMAC-SHA256 Credential=ecssim-access-key-id,SignedHeaders=host;X-ACS-DATE,Signature=00",
		"ACS3-HMAC-SHA256 Credential=ecssim-access-key-id,SignedHeaders=host;x-acs-\x00,Signature=00",
		"ACS3-HMAC-SM3 Credential=a,SignedHeaders=host,Signature=00",
		"ACS3-",
		"ACS3-HMAC-SHA256",
		"acs k:s",
		" ",
		"\xff\xfe",
		strings.Repeat("ACS3-HMAC-SHA256 Credential=", 50),
		"",
	} {
		f.Add(auth, "DescribeInstanceStatus", "RegionId=cn-hangzhou", "")
	}
	f.Add(sdkAuthorization, "RebootInstances", "InstanceId.1=i-x&RegionId=cn-hangzhou", "InstanceId.2=i-y")
	f.Add(sdkAuthorization, "InstallCloudAssistant", "%zz=1", "%zz")
	f.Add(sdkAuthorization, "", "Action=DescribeInstances&Version=2014-05-26", "")
	f.Add("", "DescribeCloudAssistantStatus", "", "")
	sim, err := New(Config{Fleets: []FleetSpec{{Size: 5, Seed: 1}}})
	if err != nil {
		f.Fatal(err)
	}
	h := sim.Handler()
	f.Fuzz(func(t *testing.T, authorization, action, query, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// Set as the raw map does: a fuzzed value may hold bytes Header.Set
		// would keep anyway, and the server must cope with whatever arrives.
		req.Header["Authorization"] = []string{authorization}
		req.Header["X-Acs-Action"] = []string{action}
		sum := sha256.Sum256([]byte(body))
		req.Header.Set("x-acs-version", APIVersion)
		req.Header.Set("x-acs-date", time.Now().UTC().Format(timestampLayout))
		req.Header.Set("x-acs-signature-nonce", "fuzz")
		req.Header.Set("x-acs-content-sha256", hex.EncodeToString(sum[:]))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 400 {
			t.Fatalf("%q %q → %d: %s", authorization, action, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%q → Content-Type %q", authorization, ct)
		}
		for _, in := range sim.Truth().Instances {
			if in.Installs+in.Reboots > 0 {
				t.Fatalf("%q changed %s without a valid signature", authorization, in.ID)
			}
		}
		// The string to sign of any request, readable or not, is defined.
		_ = newACS3Request(req, []byte(body)).stringToSign()
	})
}
