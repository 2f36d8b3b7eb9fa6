package ecssim

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// timestampLayout is the only Timestamp format of signature version 1.0.
const timestampLayout = "2006-01-02T15:04:05Z"

// percentEncode is the RFC 3986 encoding of the signature scheme: Go's
// query escaping with the three substitutions Alibaba Cloud specifies.
func percentEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	e = strings.ReplaceAll(e, "%7E", "~")
	return e
}

// canonicalQuery joins every parameter except the one named skip, empty
// values included, sorted by key, each key and value percent-encoded. Both
// dialects canonicalize parameters this way; the RPC one skips Signature,
// which travels among them.
func canonicalQuery(v url.Values, skip string) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		if skip == "" || k != skip {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		ek := percentEncode(k)
		for _, val := range v[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(ek)
			b.WriteByte('=')
			b.WriteString(percentEncode(val))
		}
	}
	return b.String()
}

// StringToSign builds the signature version 1.0 string to sign of an RPC
// request; exported so tests and tools can sign requests by hand.
func StringToSign(method string, params url.Values) string {
	return method + "&" + percentEncode("/") + "&" + percentEncode(canonicalQuery(params, "Signature"))
}

// Sign computes the HMAC-SHA1 signature of stringToSign with an access key
// secret, as the SDK does.
func Sign(stringToSign, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// authClaims is what a signed request claims about its signer, decoded
// from either dialect, together with the server's own string to sign. The
// checks after decoding (key, signature, time, nonce, token, permission) are
// the same for both dialects, so they live in one place: authenticate.
type authClaims struct {
	accessKeyID   string
	signature     string // as the client sent it
	timestamp     time.Time
	nonce         string
	securityToken string
	// tokenParam names where the dialect carries the STS token, for the
	// MissingParameter answer when a credential needs one.
	tokenParam   string
	stringToSign string
	// sign computes the dialect's signature of stringToSign with a secret.
	sign func(stringToSign, secret string) string
}

// signedRequest is the dialect-specific half of authentication: the RPC
// dialect of signature version 1.0 (rpcV1Request) or ACS3-HMAC-SHA256
// (acs3Request).
type signedRequest interface {
	// claims checks the dialect's own signature parameters and decodes
	// them; an error is the gateway's answer to a malformed request.
	claims() (*authClaims, *apiError)
	// stringToSign is the server's string to sign of the request, also for
	// an injected SignatureDoesNotMatch.
	stringToSign() string
}

// rpcV1Request is a request signed the RPC way: every parameter, the
// signature included, in the query or the form body.
type rpcV1Request struct {
	method string
	params url.Values
}

func (q rpcV1Request) stringToSign() string { return StringToSign(q.method, q.params) }

func (q rpcV1Request) claims() (*authClaims, *apiError) {
	v := q.params
	for _, p := range []string{"Format", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp", "Signature"} {
		if v.Get(p) == "" {
			return nil, errMissingParameter(p)
		}
	}
	if !strings.EqualFold(v.Get("Format"), "JSON") {
		// The real service would answer XML; the simulator only speaks the
		// JSON that the SDK asks for.
		return nil, newAPIError(http.StatusBadRequest, "InvalidParameter.Format",
			`The specified parameter "Format" is not valid. The simulator answers JSON only.`)
	}
	if v.Get("SignatureMethod") != "HMAC-SHA1" {
		return nil, errInvalidSignatureMethod("HMAC-SHA1")
	}
	if v.Get("SignatureVersion") != "1.0" {
		return nil, newAPIError(http.StatusBadRequest, "InvalidSignatureVersion",
			"Specified signature version is not valid. Only 1.0 is supported.")
	}
	ts, err := time.Parse(timestampLayout, v.Get("Timestamp"))
	if err != nil {
		return nil, errInvalidTimestampFormat()
	}
	return &authClaims{
		accessKeyID:   v.Get("AccessKeyId"),
		signature:     v.Get("Signature"),
		timestamp:     ts,
		nonce:         v.Get("SignatureNonce"),
		securityToken: v.Get("SecurityToken"),
		tokenParam:    "SecurityToken",
		stringToSign:  q.stringToSign(),
		sign:          Sign,
	}, nil
}

// authenticate runs the gateway's checks: the dialect's own parameters, then
// the access key, the signature, the timestamp, the nonce, the security
// token and the permission (of the action, and in region, the region the
// request names), in that order. It returns nil if the request may reach
// the action.
func (s *Sim) authenticate(action, region string, req signedRequest) *apiError {
	c, e := req.claims()
	if e != nil {
		return e
	}
	cred, ok := s.cfg.Credentials[c.accessKeyID]
	if !ok {
		return errAccessKeyNotFound()
	}
	if !hmac.Equal([]byte(c.sign(c.stringToSign, cred.Secret)), []byte(c.signature)) {
		return errSignatureDoesNotMatch(c.stringToSign)
	}
	now := s.wall.Now()
	if d := now.Sub(c.timestamp); d > TimestampTolerance || d < -TimestampTolerance {
		return newAPIError(http.StatusBadRequest, "IllegalTimestamp",
			`The input parameter "Timestamp" that is mandatory for processing this request is not supplied or is more than 15 minutes away from the server time.`)
	}
	// One cache for both dialects: a nonce is spent whichever way it came.
	if !s.nonces.use(c.nonce, now) {
		return newAPIError(http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	if cred.SecurityToken != "" {
		if c.securityToken == "" {
			return errMissingParameter(c.tokenParam)
		}
		if subtle.ConstantTimeCompare([]byte(c.securityToken), []byte(cred.SecurityToken)) != 1 {
			return newAPIError(http.StatusBadRequest, "InvalidSecurityToken.Mismatch",
				"Specified SecurityToken mismatch with the AccessKey.")
		}
	}
	if cred.Forbidden || slices.Contains(cred.ForbiddenActions, action) || region != "" && slices.Contains(cred.ForbiddenRegions, region) {
		return errForbiddenRAM()
	}
	return nil
}

// nonceCache remembers used SignatureNonce values for NonceWindow of wall
// time. Entries sit in a FIFO in arrival order, so pruning only ever looks at
// the oldest ones; max bounds memory if the request rate would keep more.
type nonceCache struct {
	mu    sync.Mutex
	seen  map[string]time.Time
	queue []nonceEntry
	head  int
	max   int
}

type nonceEntry struct {
	nonce string
	at    time.Time
}

func newNonceCache(maxEntries int) *nonceCache {
	return &nonceCache{seen: make(map[string]time.Time), max: maxEntries}
}

// use records nonce at now and reports whether it was fresh.
func (c *nonceCache) use(nonce string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	if at, ok := c.seen[nonce]; ok && now.Sub(at) <= NonceWindow {
		return false
	}
	c.seen[nonce] = now
	c.queue = append(c.queue, nonceEntry{nonce: nonce, at: now})
	return true
}

func (c *nonceCache) prune(now time.Time) {
	for c.head < len(c.queue) {
		e := c.queue[c.head]
		if now.Sub(e.at) <= NonceWindow && len(c.queue)-c.head < c.max {
			break
		}
		if at, ok := c.seen[e.nonce]; ok && at.Equal(e.at) {
			delete(c.seen, e.nonce)
		}
		c.queue[c.head] = nonceEntry{}
		c.head++
	}
	// Reclaim the consumed front once it is at least half the slice, which
	// keeps the amortized cost O(1) per nonce.
	if c.head > 0 && c.head >= len(c.queue)/2 {
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue = c.queue[:n]
		c.head = 0
	}
}

// size is the number of remembered nonces (for tests).
func (c *nonceCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
