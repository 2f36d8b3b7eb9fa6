package ecssim_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	ecsv2 "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecssim"
)

// ---- the V2 SDK (github.com/alibabacloud-go/ecs-20140526) ----

// v2HTTP is the HttpClient the tests hand the V2 SDK. Without one the SDK
// takes an http.Client from a process-wide pool keyed by its runtime
// options and host, and rewrites that client's Timeout on every call while
// other calls read it, so concurrent callers race even with separate
// clients (go test -race reports it).
type v2HTTP struct{ c *http.Client }

func (h v2HTTP) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	return h.c.Do(req)
}

// v2Options are what a test varies in a V2 client.
type v2Options struct {
	accessKeyID, secret, securityToken string
	region                             string
	userAgent                          string
	// transport, if set, carries the requests (e.g. a *wireLog).
	transport http.RoundTripper
}

// newV2Client is the V2 SDK's ECS client as fleetmend would build one:
// static credentials, plain HTTP to the simulator's host:port, no retries
// (RetryOptions unset), explicit timeouts, its own http.Client.
func newV2Client(t testing.TB, endpoint string, o v2Options) *ecsv2.Client {
	t.Helper()
	if o.accessKeyID == "" {
		o.accessKeyID, o.secret = ecssim.DefaultAccessKeyID, ecssim.DefaultAccessKeySecret
	}
	if o.region == "" {
		o.region = ecssim.DefaultRegion
	}
	rt := o.transport
	if rt == nil {
		rt = loopbackTransport(t)
	}
	cfg := &openapiutil.Config{
		AccessKeyId:     dara.String(o.accessKeyID),
		AccessKeySecret: dara.String(o.secret),
		Endpoint:        dara.String(endpoint),
		Protocol:        dara.String("HTTP"),
		RegionId:        dara.String(o.region),
		ConnectTimeout:  dara.Int(5000),
		ReadTimeout:     dara.Int(10000),
		HttpClient:      v2HTTP{c: &http.Client{Transport: rt, Timeout: 10 * time.Second}},
	}
	if o.securityToken != "" {
		cfg.SecurityToken = dara.String(o.securityToken)
	}
	if o.userAgent != "" {
		cfg.UserAgent = dara.String(o.userAgent)
	}
	c, err := ecsv2.NewClient(cfg)
	require.NoError(t, err)
	return c
}

func (e *env) v2Client(t testing.TB) *ecsv2.Client {
	return newV2Client(t, e.srv.Endpoint(), v2Options{})
}

// loopbackTransport is a fresh transport that never uses a proxy (the
// simulator is on loopback), its idle connections closed with the test.
func loopbackTransport(t testing.TB) *http.Transport {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// v2Error is an error answer as the V2 SDK reports it.
type v2Error struct {
	Status    int
	Code      string
	Message   string // the server's, without the SDK's "code: …" decoration
	RequestID string
}

// requireV2Error asserts err is the V2 SDK's *tea.SDKError for an answer
// with status and code, and returns what the server said.
func requireV2Error(t testing.TB, err error, status int, code string) v2Error {
	t.Helper()
	require.Error(t, err)
	var se *tea.SDKError
	require.True(t, errors.As(err, &se), "want *tea.SDKError, got %T: %v", err, err)
	require.Equal(t, code, tea.StringValue(se.Code), "message: %s", tea.StringValue(se.Message))
	require.Equal(t, status, tea.IntValue(se.StatusCode), "code %s", code)
	var body struct{ RequestId, Message string }
	require.NoError(t, json.Unmarshal([]byte(tea.StringValue(se.Data)), &body), "data: %s", tea.StringValue(se.Data))
	require.NotEmpty(t, body.RequestId)
	return v2Error{Status: status, Code: code, Message: body.Message, RequestID: body.RequestId}
}

func strs(list ...string) []*string { return dara.StringSlice(list) }

func v2DescribeStatus(c *ecsv2.Client, pageNumber, pageSize int32) (*ecsv2.DescribeInstanceStatusResponseBody, error) {
	resp, err := c.DescribeInstanceStatus(&ecsv2.DescribeInstanceStatusRequest{
		RegionId: dara.String(ecssim.DefaultRegion), PageNumber: dara.Int32(pageNumber), PageSize: dara.Int32(pageSize)})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func v2AssistantStatus(c *ecsv2.Client, instanceIDs ...string) (*ecsv2.DescribeCloudAssistantStatusResponseBody, error) {
	resp, err := c.DescribeCloudAssistantStatus(&ecsv2.DescribeCloudAssistantStatusRequest{
		RegionId: dara.String(ecssim.DefaultRegion), InstanceId: strs(instanceIDs...)})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ---- recording what goes over the wire, for both SDKs ----

// exchange is one request and its answer as they crossed the wire.
type exchange struct {
	req      *http.Request // a clone; its Body is spent, use reqBody
	reqBody  []byte
	status   int
	respBody []byte
}

// wireLog is an http.RoundTripper that records every exchange, so a test
// can compare what the two SDKs got, or send a captured request again.
type wireLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	log  []exchange
}

func newWireLog(t testing.TB) *wireLog { return &wireLog{next: loopbackTransport(t)} }

func (w *wireLog) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close() // the RoundTripper contract: close it, even on errors
		if err != nil {
			return nil, err
		}
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := w.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // replaced below by the bytes read
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	w.mu.Lock()
	w.log = append(w.log, exchange{req: out, reqBody: body, status: resp.StatusCode, respBody: respBody})
	w.mu.Unlock()
	return resp, nil
}

// last returns the most recent exchange.
func (w *wireLog) last(t testing.TB) exchange {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	require.NotEmpty(t, w.log, "nothing went over the wire")
	return w.log[len(w.log)-1]
}

// resend sends a captured request again, byte for byte (same URL, headers,
// body), and converts a non-2xx answer into a ServerError like doRaw.
func resend(t testing.TB, ex exchange) (int, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(ex.req.Method, ex.req.URL.String(), bytes.NewReader(ex.reqBody))
	require.NoError(t, err)
	req.Header = ex.req.Header.Clone()
	req.Host = ex.req.Host
	return doRequest(t, req)
}

// doRequest sends req without a proxy and converts a non-2xx answer into
// the V1 SDK's ServerError (code, status, message, request ID), so hand-made
// requests of either dialect are checked with requireServerError.
func doRequest(t testing.TB, req *http.Request) (int, []byte, error) {
	t.Helper()
	c := &http.Client{Transport: loopbackTransport(t), Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return resp.StatusCode, body, sdkerrors.NewServerError(resp.StatusCode, string(body), "")
	}
	return resp.StatusCode, body, nil
}

// ---- hand-signed ACS3 requests, for what the V2 SDK cannot be made to send ----

// acs3Call describes one hand-made request of the ACS3 dialect. It is
// signed by acs3Sign below, written from Alibaba Cloud's V3 signature
// document independently of the simulator's code.
type acs3Call struct {
	method string // default POST
	action string
	query  url.Values
	form   url.Values // sent as an application/x-www-form-urlencoded body
	date   time.Time  // default now
	nonce  string     // default fresh
	// accessKeyID and secret default to the simulator's defaults.
	accessKeyID, secret string
	// edit, if set, changes the headers after they are set and before
	// they are signed; unsign lists headers to leave out of SignedHeaders.
	edit   func(h http.Header)
	unsign []string
	// afterSigning, if set, changes the request once it is signed (to
	// tamper with it).
	afterSigning func(r *http.Request, body *[]byte)
}

func freshNonce() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// build makes the signed request for endpoint and returns it with the
// string to sign the test's own signer computed.
func (c acs3Call) build(t testing.TB, endpoint string) (*http.Request, string) {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodPost
	}
	if c.date.IsZero() {
		c.date = time.Now()
	}
	if c.nonce == "" {
		c.nonce = freshNonce()
	}
	if c.accessKeyID == "" {
		c.accessKeyID, c.secret = ecssim.DefaultAccessKeyID, ecssim.DefaultAccessKeySecret
	}
	q := url.Values{"RegionId": {ecssim.DefaultRegion}}
	for k, v := range c.query {
		q[k] = v
	}
	var body []byte
	if c.form != nil {
		body = []byte(c.form.Encode())
	}
	req, err := http.NewRequest(c.method, "http://"+endpoint+"/?"+q.Encode(), bytes.NewReader(body))
	require.NoError(t, err)
	sum := sha256.Sum256(body)
	h := req.Header
	h.Set("x-acs-action", c.action)
	h.Set("x-acs-version", ecssim.APIVersion)
	h.Set("x-acs-date", c.date.UTC().Format("2006-01-02T15:04:05Z"))
	h.Set("x-acs-signature-nonce", c.nonce)
	h.Set("x-acs-content-sha256", hex.EncodeToString(sum[:]))
	h.Set("Accept", "application/json")
	if c.form != nil {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.edit != nil {
		c.edit(h)
	}
	sts := acs3Sign(req, c.accessKeyID, c.secret, c.unsign...)
	if c.afterSigning != nil {
		c.afterSigning(req, &body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	return req, sts
}

// do builds, sends and converts the answer like doRaw.
func (c acs3Call) do(t testing.TB, endpoint string) (int, []byte, error) {
	t.Helper()
	req, _ := c.build(t, endpoint)
	return doRequest(t, req)
}

// acs3Sign signs req (whose x-acs-content-sha256 is set) the V3 way: host,
// content-type and every x-acs-* header, lower-case and sorted, minus those
// named in unsign; it sets Authorization and returns the string to sign.
func acs3Sign(req *http.Request, accessKeyID, secret string, unsign ...string) string {
	signed := map[string]string{"host": req.URL.Host}
	for name, vals := range req.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-acs-") || lower == "content-type" {
			signed[lower] = strings.TrimSpace(vals[0])
		}
	}
	for _, name := range unsign {
		delete(signed, name)
	}
	names := make([]string, 0, len(signed))
	for name := range signed {
		names = append(names, name)
	}
	sort.Strings(names)
	var headers strings.Builder
	for _, name := range names {
		headers.WriteString(name + ":" + signed[name] + "\n")
	}
	// url.Values.Encode sorts by key and query-escapes keys and values;
	// RFC 3986 then wants %20 for spaces, %2A for '*' and '~' as is.
	query := strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(req.URL.Query().Encode())
	canonical := strings.Join([]string{req.Method, "/", query, headers.String(), strings.Join(names, ";"),
		req.Header.Get("x-acs-content-sha256")}, "\n")
	digest := sha256.Sum256([]byte(canonical))
	sts := "ACS3-HMAC-SHA256\n" + hex.EncodeToString(digest[:])
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(sts))
	req.Header.Set("Authorization", "ACS3-HMAC-SHA256 Credential="+accessKeyID+
		",SignedHeaders="+strings.Join(names, ";")+",Signature="+hex.EncodeToString(mac.Sum(nil)))
	return sts
}

// headerOf reads a header of a request as a client built it: the V2 SDK
// sets lower-case keys directly in the map, which Header.Get, looking up
// the canonical form, does not find.
func headerOf(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vals := range h {
		if strings.EqualFold(k, name) && len(vals) > 0 {
			return vals[0]
		}
	}
	return ""
}

// stringToSignOf recomputes, with the test's own signer, the string to sign
// of a request some client sent (e.g. the V2 SDK, captured by a wireLog).
func stringToSignOf(t testing.TB, ex exchange) string {
	t.Helper()
	req, err := http.NewRequest(ex.req.Method, ex.req.URL.String(), nil)
	require.NoError(t, err)
	auth := headerOf(ex.req.Header, "Authorization")
	_, signedList, ok := strings.Cut(auth, "SignedHeaders=")
	require.True(t, ok, "Authorization: %s", auth)
	signedList, _, _ = strings.Cut(signedList, ",")
	for _, name := range strings.Split(signedList, ";") {
		if name != "host" {
			req.Header.Set(name, headerOf(ex.req.Header, name))
		}
	}
	req.URL.Host = ex.req.Host
	return acs3Sign(req, "unused", "unused")
}
