package ecssim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The ACS3-HMAC-SHA256 dialect (Alibaba Cloud's signature V3) is what the
// V2 SDK (github.com/alibabacloud-go/ecs-20140526) speaks: the action and
// version in the x-acs-action and x-acs-version headers, the business
// parameters in the query (or a form body), and the signature in the
// Authorization header:
//
//	Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=host;x-acs-action;…,Signature=<hex>
//
// The signature is hex(HMAC-SHA256(secret, StringToSign)) with
//
//	StringToSign     = "ACS3-HMAC-SHA256" "\n" hex(SHA-256(CanonicalRequest))
//	CanonicalRequest = Method "\n" CanonicalURI "\n" CanonicalQuery "\n"
//	                   CanonicalHeaders "\n" SignedHeaders "\n" HashedPayload
//
// where CanonicalQuery is the URL's parameters sorted and percent-encoded as
// for signature version 1.0, CanonicalHeaders one "name:value\n" line per
// signed header (lower-case, sorted, values trimmed), and HashedPayload the
// hex SHA-256 of the body (also sent as x-acs-content-sha256).

const (
	acs3Algorithm = "ACS3-HMAC-SHA256"

	headerAuthorization = "Authorization"
	headerAction        = "x-acs-action"
	headerVersion       = "x-acs-version"
	headerDate          = "x-acs-date"
	headerNonce         = "x-acs-signature-nonce"
	headerContentSHA256 = "x-acs-content-sha256"
	headerSecurityToken = "x-acs-security-token"
)

// acs3RequiredHeaders are the headers every ACS3 request must carry; with
// host, they must also be signed. A function, not a variable: no
// package-level mutable state.
func acs3RequiredHeaders() []string {
	return []string{headerAction, headerVersion, headerDate, headerNonce, headerContentSHA256}
}

// isACS3 tells the dialects apart. A request is in the ACS3 dialect if it
// carries an Authorization header, or names its action only in x-acs-action;
// anything else is an RPC request. The V1 SDK sends x-acs-action too, but
// always with Action in the query and never an Authorization header.
func isACS3(r *http.Request, params url.Values) bool {
	return r.Header.Get(headerAuthorization) != "" ||
		(params.Get("Action") == "" && r.Header.Get(headerAction) != "")
}

// acs3Request is one request of the ACS3 dialect, as received.
type acs3Request struct {
	r *http.Request
	// query is the URL's own parameters: the canonical query covers them,
	// not a form body's, which the payload hash covers instead.
	query url.Values
	// bodyHash is the hex SHA-256 of the body as received. The canonical
	// request is built with it rather than with the x-acs-content-sha256
	// the client claims, so a body that is not the one the client hashed
	// and signed fails as SignatureDoesNotMatch.
	bodyHash string
}

func newACS3Request(r *http.Request, body []byte) *acs3Request {
	sum := sha256.Sum256(body)
	return &acs3Request{r: r, query: r.URL.Query(), bodyHash: hex.EncodeToString(sum[:])}
}

// acs3Authorization is the parsed Authorization header.
type acs3Authorization struct {
	algorithm     string
	credential    string
	signedHeaders []string
	signature     string
}

// parseACS3Authorization reads "<algorithm> Credential=…,SignedHeaders=…,
// Signature=…". Each of the three fields must appear exactly once and be
// non-empty, and SignedHeaders must be lower-case names, sorted, without
// repeats or empty names, as the canonical request lists them.
func parseACS3Authorization(h string) (acs3Authorization, *apiError) {
	var a acs3Authorization
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return a, errIncompleteSignature()
	}
	if alg != acs3Algorithm {
		if strings.HasPrefix(alg, "ACS3-") {
			// ACS3-HMAC-SM3 and ACS3-RSA-SHA256 exist, but not here.
			return a, errInvalidSignatureMethod(acs3Algorithm)
		}
		return a, errIncompleteSignature()
	}
	a.algorithm = alg
	seen := map[string]bool{}
	for _, field := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || val == "" || seen[k] {
			return a, errIncompleteSignature()
		}
		seen[k] = true
		switch k {
		case "Credential":
			a.credential = val
		case "SignedHeaders":
			a.signedHeaders = strings.Split(val, ";")
		case "Signature":
			a.signature = val
		default:
			return a, errIncompleteSignature()
		}
	}
	if a.credential == "" || a.signature == "" || len(a.signedHeaders) == 0 {
		return a, errIncompleteSignature()
	}
	for i, name := range a.signedHeaders {
		if name == "" || name != strings.ToLower(name) || (i > 0 && name <= a.signedHeaders[i-1]) {
			return a, errIncompleteSignature()
		}
	}
	return a, nil
}

func (q *acs3Request) claims() (*authClaims, *apiError) {
	h := q.r.Header
	for _, name := range []string{headerAuthorization, headerDate, headerNonce, headerContentSHA256} {
		if h.Get(name) == "" {
			return nil, errMissingParameter(name)
		}
	}
	a, e := parseACS3Authorization(h.Get(headerAuthorization))
	if e != nil {
		return nil, e
	}
	// Whatever the gateway reads from a header must be covered by the
	// signature, or it could be changed on the way: host, the required
	// headers, and every other x-acs-* header sent (x-acs-security-token,
	// x-acs-accesskey-id, x-acs-credentials-provider, …).
	must := append([]string{"host"}, acs3RequiredHeaders()...)
	for name := range h {
		if lower := strings.ToLower(name); strings.HasPrefix(lower, "x-acs-") {
			must = append(must, lower)
		}
	}
	for _, name := range must {
		if _, found := slices.BinarySearch(a.signedHeaders, name); !found {
			return nil, errIncompleteSignature()
		}
	}
	ts, err := time.Parse(timestampLayout, h.Get(headerDate))
	if err != nil {
		return nil, errInvalidTimestampFormat()
	}
	return &authClaims{
		accessKeyID:   a.credential,
		signature:     strings.ToLower(a.signature), // hex is hex, whatever its case
		timestamp:     ts,
		nonce:         h.Get(headerNonce),
		securityToken: h.Get(headerSecurityToken),
		tokenParam:    headerSecurityToken,
		stringToSign:  acs3StringToSign(q.canonicalRequest(a.signedHeaders)),
		sign:          signACS3,
	}, nil
}

// stringToSign is the server's string to sign over the headers the
// Authorization header names, or, if it names none readably, over host and
// every x-acs-* header sent (what the V2 SDK signs).
func (q *acs3Request) stringToSign() string {
	a, e := parseACS3Authorization(q.r.Header.Get(headerAuthorization))
	signed := a.signedHeaders
	if e != nil {
		signed = []string{"host"}
		for name := range q.r.Header {
			if lower := strings.ToLower(name); strings.HasPrefix(lower, "x-acs-") {
				signed = append(signed, lower)
			}
		}
		slices.Sort(signed)
		signed = slices.Compact(signed)
	}
	return acs3StringToSign(q.canonicalRequest(signed))
}

// canonicalRequest builds the canonical request over the given signed
// headers (lower-case, sorted).
func (q *acs3Request) canonicalRequest(signed []string) string {
	var b strings.Builder
	b.WriteString(q.r.Method)
	b.WriteByte('\n')
	uri := q.r.URL.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(q.query, ""))
	b.WriteByte('\n')
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(q.headerValue(name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(q.bodyHash)
	return b.String()
}

// headerValue is a signed header's canonical value: trimmed, and for a
// header sent more than once, the values sorted and joined with ",".
func (q *acs3Request) headerValue(name string) string {
	if name == "host" {
		// net/http moves Host out of the header map.
		return strings.TrimSpace(q.r.Host)
	}
	vals := q.r.Header.Values(name)
	if len(vals) == 1 {
		return strings.TrimSpace(vals[0])
	}
	trimmed := make([]string, len(vals))
	for i, v := range vals {
		trimmed[i] = strings.TrimSpace(v)
	}
	slices.Sort(trimmed)
	return strings.Join(trimmed, ",")
}

func acs3StringToSign(canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return acs3Algorithm + "\n" + hex.EncodeToString(sum[:])
}

// signACS3 is hex(HMAC-SHA256(secret, stringToSign)); unlike signature
// version 1.0, the key is the secret alone.
func signACS3(stringToSign, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stringToSign))
	return hex.EncodeToString(mac.Sum(nil))
}
