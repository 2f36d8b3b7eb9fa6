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

// canonicalQuery joins every parameter except Signature, empty values
// included, sorted by key, each key and value percent-encoded.
func canonicalQuery(v url.Values) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		if k != "Signature" {
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
	return method + "&" + percentEncode("/") + "&" + percentEncode(canonicalQuery(params))
}

// Sign computes the HMAC-SHA1 signature of stringToSign with an access key
// secret, as the SDK does.
func Sign(stringToSign, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// authenticate runs the gateway's checks of the common parameters, the
// access key, the signature, the timestamp, the nonce and the permission,
// in that order. It returns nil if the request may reach the action.
func (s *Sim) authenticate(method, action string, v url.Values) *apiError {
	for _, p := range []string{"Format", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp", "Signature"} {
		if v.Get(p) == "" {
			return errMissingParameter(p)
		}
	}
	if !strings.EqualFold(v.Get("Format"), "JSON") {
		// The real service would answer XML; the simulator only speaks the
		// JSON that the SDK asks for.
		return newAPIError(http.StatusBadRequest, "InvalidParameter.Format",
			`The specified parameter "Format" is not valid. The simulator answers JSON only.`)
	}
	if v.Get("SignatureMethod") != "HMAC-SHA1" {
		return newAPIError(http.StatusBadRequest, "InvalidSignatureMethod",
			"Specified signature method is not valid. Only HMAC-SHA1 is supported.")
	}
	if v.Get("SignatureVersion") != "1.0" {
		return newAPIError(http.StatusBadRequest, "InvalidSignatureVersion",
			"Specified signature version is not valid. Only 1.0 is supported.")
	}
	ts, err := time.Parse(timestampLayout, v.Get("Timestamp"))
	if err != nil {
		return newAPIError(http.StatusBadRequest, "InvalidTimeStamp.Format",
			"Specified time stamp or date value is not well formatted.")
	}
	cred, ok := s.cfg.Credentials[v.Get("AccessKeyId")]
	if !ok {
		return errAccessKeyNotFound()
	}
	sts := StringToSign(method, v)
	if !hmac.Equal([]byte(Sign(sts, cred.Secret)), []byte(v.Get("Signature"))) {
		return errSignatureDoesNotMatch(sts)
	}
	now := s.wall.Now()
	if d := now.Sub(ts); d > TimestampTolerance || d < -TimestampTolerance {
		return newAPIError(http.StatusBadRequest, "IllegalTimestamp",
			`The input parameter "Timestamp" that is mandatory for processing this request is not supplied or is more than 15 minutes away from the server time.`)
	}
	if !s.nonces.use(v.Get("SignatureNonce"), now) {
		return newAPIError(http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	if cred.SecurityToken != "" {
		tok := v.Get("SecurityToken")
		if tok == "" {
			return errMissingParameter("SecurityToken")
		}
		if subtle.ConstantTimeCompare([]byte(tok), []byte(cred.SecurityToken)) != 1 {
			return newAPIError(http.StatusBadRequest, "InvalidSecurityToken.Mismatch",
				"Specified SecurityToken mismatch with the AccessKey.")
		}
	}
	if cred.Forbidden || slices.Contains(cred.ForbiddenActions, action) {
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
