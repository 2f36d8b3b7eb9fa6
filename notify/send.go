package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults of a Sender.
const (
	DefaultAttemptTimeout = 10 * time.Second
	DefaultTotal          = 15 * time.Second
	// maxAnswer bounds how much of an answer is read: the platforms'
	// answers are a few dozen bytes.
	maxAnswer = 64 << 10
)

// Sender delivers events to destinations. It makes one attempt per
// destination and never retries: retries belong to the caller, a Temporal
// activity whose retry policy spaces them out and records them in the
// history (and a retry of the whole activity re-sends only if the caller
// chooses to, e.g. to the destinations that failed). The zero Sender is
// ready to use.
type Sender struct {
	// Client makes the requests. Nil: a client on http.DefaultTransport
	// (so HTTPS_PROXY is honoured) that does not follow redirects, since a
	// webhook that redirects is misconfigured and a redirected POST loses
	// its body.
	Client *http.Client
	// Now is the clock signatures are made with. Nil: time.Now.
	Now func() time.Time
	// AttemptTimeout bounds one destination's request, from connecting to
	// reading the answer. 0: DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Total bounds the whole Send. 0: DefaultTotal.
	Total time.Duration
}

// Bound is the longest a Send takes: destinations are sent to at once,
// each within AttemptTimeout, all within Total. A caller's activity
// timeout should exceed it.
func (s *Sender) Bound() time.Duration {
	return min(s.attemptTimeout(), s.total())
}

func (s *Sender) attemptTimeout() time.Duration {
	if s.AttemptTimeout > 0 {
		return s.AttemptTimeout
	}
	return DefaultAttemptTimeout
}

func (s *Sender) total() time.Duration {
	if s.Total > 0 {
		return s.Total
	}
	return DefaultTotal
}

// Why a delivery failed, as Result.Cause: a small fixed set, fit for a
// metric label.
const (
	CauseTimeout   = "timeout"     // no answer within the bound
	CauseCancelled = "cancelled"   // the caller's context ended
	CauseTransport = "transport"   // no HTTP answer: connection refused, DNS, TLS, …
	CauseStatus    = "http-status" // a non-2xx answer
	CausePlatform  = "platform"    // a 2xx answer carrying the platform's error code, or not the platform's answer
	CauseInternal  = "internal"    // a bug in this package (recovered)
)

// Result is one destination's outcome. It holds no URL or secret, so it
// may be returned from an activity and recorded in the history.
type Result struct {
	Destination string `json:"destination"`
	Kind        Kind   `json:"kind"`
	Delivered   bool   `json:"delivered"`
	// Status is the HTTP status of the answer; 0 when there was none.
	Status int `json:"status,omitempty"`
	// Code is the platform's error code when its answer carried a
	// non-zero one (DingTalk's errcode, Feishu's code).
	Code int `json:"code,omitempty"`
	// Cause is why it was not delivered (Cause* constants); "" if it was.
	Cause string `json:"cause,omitempty"`
	// Error says why in one line, with the URL and secret redacted.
	Error string `json:"error,omitempty"`
	// Elapsed is how long the attempt took.
	Elapsed time.Duration `json:"elapsed"`
}

// Send delivers e to each destination at once and returns one Result per
// destination, in their order. It returns within Bound (or sooner, when
// ctx ends) whatever the destinations do, and never panics. It returns an
// error, sending nothing, only when e is invalid.
func (s *Sender) Send(ctx context.Context, e Event, dests []Destination) ([]Result, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.total())
	defer cancel()
	client := s.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	results := make([]Result, len(dests))
	var wg sync.WaitGroup
	for i, d := range dests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.deliver(ctx, client, now, e, d)
		}()
	}
	wg.Wait()
	return results, nil
}

// deliver makes one attempt to one destination.
func (s *Sender) deliver(ctx context.Context, client *http.Client, now func() time.Time, e Event, d Destination) (r Result) {
	r = Result{Destination: d.name, Kind: d.kind}
	start := time.Now()
	hide := append(credentialParts(d.url), d.secret) // what must never appear in r.Error
	defer func() {
		if p := recover(); p != nil {
			r.Delivered, r.Cause, r.Error = false, CauseInternal, fmt.Sprintf("internal error: %v", p)
		}
		r.Elapsed = time.Since(start)
		r.Error = redact(r.Error, hide...)
	}()
	fail := func(cause, format string, a ...any) Result {
		r.Cause, r.Error = cause, fmt.Sprintf(format, a...)
		return r
	}

	target, body, sent, err := d.request(e, now())
	hide = append(hide, sent...)
	if err != nil {
		return fail(CauseInternal, "render: %v", err)
	}
	actx, cancel := context.WithTimeout(ctx, s.attemptTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fail(CauseInternal, "request: %v", unwrapURL(err))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "fleetmend-notify")
	resp, err := client.Do(req)
	if err != nil {
		return fail(classify(ctx, actx, err), "POST: %s", describe(ctx, actx, err, s.Bound()))
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fail(classify(ctx, actx, err), "HTTP %d, then reading the answer: %s", resp.StatusCode, describe(ctx, actx, err, s.Bound()))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail(CauseStatus, "HTTP %d: %s", resp.StatusCode, snippet(answer, hide))
	}
	var code int
	var msg string
	var ok bool
	switch d.kind {
	case KindDingTalk:
		code, msg, ok = dingTalkAnswer(answer)
		if !ok {
			return fail(CausePlatform, "HTTP %d, but the answer is not DingTalk's (no errcode): %s", resp.StatusCode, snippet(answer, hide))
		}
	case KindFeishu:
		code, msg, ok = feishuAnswer(answer)
		if !ok {
			return fail(CausePlatform, "HTTP %d, but the answer is not Feishu's (no code): %s", resp.StatusCode, snippet(answer, hide))
		}
	}
	if code != 0 {
		r.Code = code
		return fail(CausePlatform, "%s answered code %d: %s", d.kind, code, line(msg))
	}
	r.Delivered = true
	return r
}

// request is where a destination's message goes and what it says, signed
// at now; sent lists the signature's values (kept out of errors too).
func (d Destination) request(e Event, now time.Time) (target string, body []byte, sent []string, err error) {
	target = d.url
	var sig *signature
	switch {
	case d.secret == "":
	case d.kind == KindDingTalk:
		ts, sign := dingTalkSign(d.secret, now)
		target = dingTalkURL(d.url, ts, sign)
		sent = []string{target, sign, url.QueryEscape(sign)}
	case d.kind == KindFeishu:
		ts, sign := feishuSign(d.secret, now)
		sig = &signature{ts, sign}
		sent = []string{sign}
	}
	body, err = render(d.kind, e, sig)
	return target, body, sent, err
}

// classify names why a request got no answer.
func classify(ctx, actx context.Context, err error) string {
	switch {
	case ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		return CauseCancelled
	case actx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return CauseTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return CauseTimeout
	}
	return CauseTransport
}

// describe is a transport error in one line, without the URL.
func describe(ctx, actx context.Context, err error, bound time.Duration) string {
	switch classify(ctx, actx, err) {
	case CauseCancelled:
		return "cancelled by the caller"
	case CauseTimeout:
		return fmt.Sprintf("no answer within %s", bound)
	}
	return unwrapURL(err).Error()
}

// unwrapURL drops the *url.Error wrapper that net/http puts around
// transport errors: its message quotes the request's URL, which for a
// webhook is the credential.
func unwrapURL(err error) error {
	var ue *url.Error
	for errors.As(err, &ue) {
		err = ue.Err
	}
	return err
}

// credentialParts are the pieces of a webhook URL that carry its token:
// the whole URL, its path and query (Slack's and Feishu's tokens are path
// segments, DingTalk's a query parameter) and any user info.
func credentialParts(raw string) []string {
	parts := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return parts
	}
	if len(u.Path) > 1 {
		parts = append(parts, u.Path, u.EscapedPath())
	}
	if u.RawQuery != "" {
		parts = append(parts, u.RawQuery)
		for _, vs := range u.Query() {
			parts = append(parts, vs...)
		}
	}
	if u.User != nil {
		parts = append(parts, u.User.String())
		if p, ok := u.User.Password(); ok {
			parts = append(parts, p)
		}
	}
	return parts
}

// redact replaces every occurrence of each secret in s, longest first (so
// that a URL is replaced whole, not piecemeal).
func redact(s string, secrets ...string) string {
	sorted := append([]string(nil), secrets...)
	for i := 1; i < len(sorted); i++ { // insertion sort by length, descending: a handful of items
		for j := i; j > 0 && len(sorted[j]) > len(sorted[j-1]); j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	for _, v := range sorted {
		if v != "" {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	return s
}

// snippet is the start of an answer, one line, for an error. It is
// redacted before it is cut, so that a cut cannot leave part of a secret.
func snippet(b []byte, hide []string) string {
	s := redact(line(string(b)), hide...)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	if s == "" {
		return "(empty answer)"
	}
	return s
}
