// Package notifytest is a webhook receiver for tests: an httptest server
// that speaks one platform's side of the notify package's destinations
// (DingTalk, Feishu/Lark, Slack, the generic webhook), checks what it is
// sent the way the platform does, and records it, decoded.
//
// The signature checks are written here from the platforms' documented
// algorithms, independently of the notify package's signing code, so a
// test that passes proves the sender signs as the platform expects:
//
//   - DingTalk: ?timestamp=<ms>&sign=<sign> on the URL; sign must be the
//     base64 HMAC-SHA256, keyed with the secret, of timestamp+"\n"+secret,
//     and the timestamp within an hour of the receiver's clock. Otherwise
//     it answers HTTP 200 {"errcode":310000,...}, as DingTalk does.
//   - Feishu: "timestamp" (seconds) and "sign" in the JSON body; sign must
//     be the base64 HMAC-SHA256, keyed with timestamp+"\n"+secret, of an
//     empty message, and the timestamp within 3600 s. Otherwise HTTP 200
//     {"code":19021,...}.
//
// A Receiver can also be told to fail: answer an HTTP status (500), answer
// a platform error code, or never answer (hold each request until the
// client gives up), to test a sender's bounds.
package notifytest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetmend/fleetmend/notify"
)

// Platform answers this receiver gives. The signature and token codes are
// the ones DingTalk and Feishu are reported to answer; the codes for a
// malformed message (DingTalk 40035, Feishu 9499) are only illustrative:
// tests should assert on Refusals, not on them.
const (
	DingTalkSignError   = 310000 // bad signature or timestamp
	DingTalkTokenError  = 300001 // no robot with this access_token
	FeishuSignError     = 19021  // bad signature or timestamp
	DingTalkMaxSkew     = time.Hour
	FeishuMaxSkewSecond = 3600
)

// Message is one accepted request, decoded.
type Message struct {
	Kind notify.Kind
	// MsgType is DingTalk's msgtype or Feishu's msg_type.
	MsgType string
	// Title is DingTalk's markdown title, or the generic webhook's title.
	Title string
	// Text is what a person reads: DingTalk's markdown text, Feishu's
	// text, Slack's text, the generic webhook's text.
	Text string
	// Signed: the request carried a signature, and it verified.
	Signed bool
	// Doc is the generic webhook's document.
	Doc *notify.WebhookDoc
	// Body is the request body as received.
	Body []byte
}

// Receiver is a running test receiver for one platform.
type Receiver struct {
	kind   notify.Kind
	secret string
	token  string
	srv    *httptest.Server

	mu       sync.Mutex
	now      func() time.Time
	status   int    // answer this HTTP status (0: as the platform would)
	code     int    // answer this platform error code (0: none)
	codeMsg  string // with this message
	hang     bool
	held     int
	got      []Message
	refused  []string
	release  chan struct{}
	shutdown sync.Once
}

// New starts a receiver for kind, verifying signatures with secret (""
// for an unsigned robot: then a signature is neither needed nor checked).
// It is closed when the test ends.
func New(tb testing.TB, kind notify.Kind, secret string) *Receiver {
	tb.Helper()
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		tb.Fatal(err)
	}
	r := &Receiver{kind: kind, secret: secret, token: hex.EncodeToString(tok), now: time.Now, release: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(r.Close)
	return r
}

// URL is the webhook URL to configure, shaped like the platform's, with
// this receiver's token in it.
func (r *Receiver) URL() string {
	switch r.kind {
	case notify.KindDingTalk:
		return r.srv.URL + "/robot/send?access_token=" + r.token
	case notify.KindFeishu:
		return r.srv.URL + "/open-apis/bot/v2/hook/" + r.token
	case notify.KindSlack:
		return r.srv.URL + "/services/T0000/B0000/" + r.token
	}
	return r.srv.URL + "/hooks/" + r.token
}

// Secret is the signing secret the receiver checks.
func (r *Receiver) Secret() string { return r.secret }

// Destination is a notify destination pointing at this receiver, with its
// secret.
func (r *Receiver) Destination(tb testing.TB, name string, events ...notify.EventKind) notify.Destination {
	tb.Helper()
	d, err := notify.NewDestination(name, r.kind, r.URL(), r.secret, events...)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// SetClock sets the clock timestamps are checked against (default
// time.Now).
func (r *Receiver) SetClock(now func() time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = now
}

// FailWithStatus answers every request with this HTTP status (0: stop).
func (r *Receiver) FailWithStatus(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

// FailWithCode answers every request with HTTP 200 and this platform
// error code (DingTalk's errcode, Feishu's code); Slack and the generic
// webhook have none, and answer HTTP 400 with msg. 0: stop.
func (r *Receiver) FailWithCode(code int, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.code, r.codeMsg = code, msg
}

// Hang makes the receiver never answer: each request is held until its
// client gives up (or the receiver closes).
func (r *Receiver) Hang(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hang = on
}

// Held is the number of requests being held by Hang now.
func (r *Receiver) Held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

// Messages are the requests accepted so far, in arrival order.
func (r *Receiver) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.got...)
}

// Refusals are why requests were refused (bad signature, stale timestamp,
// wrong token, malformed message), in arrival order.
func (r *Receiver) Refusals() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.refused...)
}

// Close releases held requests and stops the server.
func (r *Receiver) Close() {
	r.shutdown.Do(func() {
		close(r.release)
		r.srv.Close()
	})
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	// Read the body first: net/http notices a client that gave up (and
	// cancels the request's context) only once the body has been read.
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	hang, status, code, codeMsg, now := r.hang, r.status, r.code, r.codeMsg, r.now()
	if hang {
		r.held++
	}
	r.mu.Unlock()
	if hang {
		select {
		case <-req.Context().Done():
		case <-r.release:
		}
		r.mu.Lock()
		r.held--
		r.mu.Unlock()
		return
	}
	if status != 0 {
		http.Error(w, "receiver told to fail", status)
		return
	}
	if req.Method != http.MethodPost {
		r.refuse(w, http.StatusMethodNotAllowed, nil, "method %s, not POST", req.Method)
		return
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "application/json" {
		r.refuse(w, http.StatusBadRequest, nil, "Content-Type %q, not application/json", req.Header.Get("Content-Type"))
		return
	}
	switch r.kind {
	case notify.KindDingTalk:
		r.dingTalk(w, req, body, now, code, codeMsg)
	case notify.KindFeishu:
		r.feishu(w, req, body, now, code, codeMsg)
	default:
		r.plain(w, req, body, code, codeMsg)
	}
}

// refuse records a refusal and answers it: with a platform JSON answer
// when answer is set (HTTP 200, as the chat platforms do), else with
// status and the reason.
func (r *Receiver) refuse(w http.ResponseWriter, status int, answer map[string]any, format string, a ...any) {
	why := fmt.Sprintf(format, a...)
	r.mu.Lock()
	r.refused = append(r.refused, why)
	r.mu.Unlock()
	if answer != nil {
		writeJSON(w, answer)
		return
	}
	http.Error(w, why, status)
}

func (r *Receiver) accept(m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func hmacBase64(key, msg string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (r *Receiver) dingTalk(w http.ResponseWriter, req *http.Request, body []byte, now time.Time, code int, codeMsg string) {
	dt := func(c int, msg string) map[string]any { return map[string]any{"errcode": c, "errmsg": msg} }
	q := req.URL.Query()
	if req.URL.Path != "/robot/send" || q.Get("access_token") != r.token {
		r.refuse(w, 0, dt(DingTalkTokenError, "token is not exist"), "dingtalk: wrong path or access_token")
		return
	}
	signed := false
	if r.secret != "" {
		ts, sign := q.Get("timestamp"), q.Get("sign")
		ms, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			r.refuse(w, 0, dt(DingTalkSignError, "invalid timestamp"), "dingtalk: timestamp %q is not milliseconds", ts)
			return
		}
		if skew := now.Sub(time.UnixMilli(ms)); skew > DingTalkMaxSkew || skew < -DingTalkMaxSkew {
			r.refuse(w, 0, dt(DingTalkSignError, "invalid timestamp"), "dingtalk: timestamp %s off the receiver's clock", skew)
			return
		}
		// Query parsing has already URL-decoded sign once, as DingTalk does.
		if !hmac.Equal([]byte(sign), []byte(hmacBase64(r.secret, ts+"\n"+r.secret))) {
			r.refuse(w, 0, dt(DingTalkSignError, "sign not match"), "dingtalk: sign does not match")
			return
		}
		signed = true
	}
	var msg struct {
		MsgType  string `json:"msgtype"`
		Markdown *struct {
			Title string `json:"title"`
			Text  string `json:"text"`
		} `json:"markdown"`
		Text *struct {
			Content string `json:"content"`
		} `json:"text"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		r.refuse(w, 0, dt(40035, "invalid json"), "dingtalk: body is not JSON: %v", err)
		return
	}
	m := Message{Kind: r.kind, MsgType: msg.MsgType, Signed: signed, Body: body}
	switch {
	case msg.MsgType == "markdown" && msg.Markdown != nil && msg.Markdown.Title != "" && msg.Markdown.Text != "":
		m.Title, m.Text = msg.Markdown.Title, msg.Markdown.Text
	case msg.MsgType == "text" && msg.Text != nil && msg.Text.Content != "":
		m.Text = msg.Text.Content
	default:
		r.refuse(w, 0, dt(40035, "missing parameter"), "dingtalk: not a markdown message with a title and text, nor a text message")
		return
	}
	if code != 0 {
		writeJSON(w, dt(code, codeMsg))
		return
	}
	r.accept(m)
	writeJSON(w, dt(0, "ok"))
}

func (r *Receiver) feishu(w http.ResponseWriter, req *http.Request, body []byte, now time.Time, code int, codeMsg string) {
	fs := func(c int, msg string) map[string]any {
		return map[string]any{"code": c, "msg": msg, "data": map[string]any{}}
	}
	if req.URL.Path != "/open-apis/bot/v2/hook/"+r.token {
		r.refuse(w, http.StatusNotFound, nil, "feishu: wrong hook path")
		return
	}
	var msg struct {
		Timestamp string `json:"timestamp"`
		Sign      string `json:"sign"`
		MsgType   string `json:"msg_type"`
		Content   *struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		r.refuse(w, 0, fs(9499, "bad request"), "feishu: body is not JSON: %v", err)
		return
	}
	signed := false
	if r.secret != "" {
		sec, err := strconv.ParseInt(msg.Timestamp, 10, 64)
		const failMsg = "sign match fail or timestamp is not within one hour from current time"
		if err != nil {
			r.refuse(w, 0, fs(FeishuSignError, failMsg), "feishu: timestamp %q is not seconds", msg.Timestamp)
			return
		}
		if skew := now.Unix() - sec; skew > FeishuMaxSkewSecond || skew < -FeishuMaxSkewSecond {
			r.refuse(w, 0, fs(FeishuSignError, failMsg), "feishu: timestamp %ds off the receiver's clock", skew)
			return
		}
		if !hmac.Equal([]byte(msg.Sign), []byte(hmacBase64(msg.Timestamp+"\n"+r.secret, ""))) {
			r.refuse(w, 0, fs(FeishuSignError, failMsg), "feishu: sign does not match")
			return
		}
		signed = true
	}
	if msg.MsgType != "text" || msg.Content == nil || msg.Content.Text == "" {
		r.refuse(w, 0, fs(9499, "bad request"), "feishu: not a text message with text")
		return
	}
	if code != 0 {
		writeJSON(w, fs(code, codeMsg))
		return
	}
	r.accept(Message{Kind: r.kind, MsgType: msg.MsgType, Text: msg.Content.Text, Signed: signed, Body: body})
	writeJSON(w, fs(0, "success"))
}

// plain serves Slack and the generic webhook: neither is signed.
func (r *Receiver) plain(w http.ResponseWriter, req *http.Request, body []byte, code int, codeMsg string) {
	if !strings.HasSuffix(req.URL.Path, "/"+r.token) {
		r.refuse(w, http.StatusNotFound, nil, "%s: wrong path (no_service)", r.kind)
		return
	}
	m := Message{Kind: r.kind, Body: body}
	if r.kind == notify.KindSlack {
		var msg struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(body, &msg); err != nil || msg.Text == "" {
			r.refuse(w, http.StatusBadRequest, nil, "slack: invalid_payload (no text)")
			return
		}
		m.Text = msg.Text
	} else {
		var doc notify.WebhookDoc
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			r.refuse(w, http.StatusBadRequest, nil, "webhook: not a fleetmend document: %v", err)
			return
		}
		if doc.Version != notify.WebhookVersion || doc.Source != "fleetmend" {
			r.refuse(w, http.StatusBadRequest, nil, "webhook: version %d from %q, want %d from fleetmend", doc.Version, doc.Source, notify.WebhookVersion)
			return
		}
		m.Title, m.Text, m.Doc = doc.Title, doc.Text, &doc
	}
	if code != 0 {
		http.Error(w, codeMsg, http.StatusBadRequest)
		return
	}
	r.accept(m)
	_, _ = io.WriteString(w, "ok")
}
