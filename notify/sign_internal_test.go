package notify

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The expected signatures were computed with OpenSSL, not with this
// package:
//
//	printf '%s\n%s' 1764000000002 "$S" | openssl dgst -sha256 -hmac "$S" -binary | base64
//	printf '' | openssl dgst -sha256 -hmac "$(printf '%s\n%s' 1764000000 "$F")" -binary | base64
const (
	vectorDingSecret = "SECd6f1e0c2a4b3975e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abcd"
	vectorDingSign   = "NeK87YIdkRsmq3T4+NcFky3XSjWbc5M/5zCNqYSDTHA="
	vectorFeiSecret  = "fs-secret-7Qx9"
	vectorFeiSign    = "Jxgsqfj2oiWFOleZ23kb9SH2zUll5tIwr1VGGEoI+28="
)

func TestDingTalkSignature(t *testing.T) {
	ts, sign := dingTalkSign(vectorDingSecret, time.UnixMilli(1764000000002))
	require.Equal(t, "1764000000002", ts, "milliseconds")
	require.Equal(t, vectorDingSign, sign)
	// Appended to the robot's URL, URL-encoded ('+', '/' and '=' escaped),
	// the URL as configured kept as it is.
	const robot = "https://oapi.dingtalk.example/robot/send?access_token=abc"
	got := dingTalkURL(robot, ts, sign)
	require.Equal(t, robot+"&timestamp=1764000000002&sign=NeK87YIdkRsmq3T4%2BNcFky3XSjWbc5M%2F5zCNqYSDTHA%3D", got)
	u, err := url.Parse(got)
	require.NoError(t, err)
	require.Equal(t, vectorDingSign, u.Query().Get("sign"), "decodes back to the signature")
	require.Equal(t, "https://proxy.example/ding?timestamp=1&sign=x%2By", dingTalkURL("https://proxy.example/ding", "1", "x+y"))
}

func TestFeishuSignature(t *testing.T) {
	ts, sign := feishuSign(vectorFeiSecret, time.Unix(1764000000, 999_000_000))
	require.Equal(t, "1764000000", ts, "seconds")
	require.Equal(t, vectorFeiSign, sign)
}

// TestSignedRequests: a destination signs with the clock it is given, in
// the URL for DingTalk and in the body for Feishu.
func TestSignedRequests(t *testing.T) {
	now := time.UnixMilli(1764000000002)
	ding, err := NewDestination("d", KindDingTalk, "https://oapi.dingtalk.example/robot/send?access_token=abc", vectorDingSecret)
	require.NoError(t, err)
	e := Event{Kind: FreezeLifted, At: now, Region: "cn-hangzhou", Reason: "done"}
	target, _, _, err := ding.request(e, now)
	require.NoError(t, err)
	require.Equal(t, "https://oapi.dingtalk.example/robot/send?access_token=abc&timestamp=1764000000002&sign=NeK87YIdkRsmq3T4%2BNcFky3XSjWbc5M%2F5zCNqYSDTHA%3D", target)

	fei, err := NewDestination("f", KindFeishu, "https://open.feishu.example/open-apis/bot/v2/hook/abc", vectorFeiSecret)
	require.NoError(t, err)
	target, body, _, err := fei.request(e, time.Unix(1764000000, 0))
	require.NoError(t, err)
	require.Equal(t, "https://open.feishu.example/open-apis/bot/v2/hook/abc", target, "Feishu's signature is not in the URL")
	var b struct {
		Timestamp *string `json:"timestamp"`
		Sign      string  `json:"sign"`
		MsgType   string  `json:"msg_type"`
	}
	require.NoError(t, json.Unmarshal(body, &b))
	require.NotNil(t, b.Timestamp, "timestamp is a JSON string")
	require.Equal(t, "1764000000", *b.Timestamp)
	require.Equal(t, vectorFeiSign, b.Sign)
	require.Equal(t, "text", b.MsgType)

	unsigned, err := NewDestination("u", KindFeishu, "https://open.feishu.example/open-apis/bot/v2/hook/abc", "")
	require.NoError(t, err)
	_, body, _, err = unsigned.request(e, now)
	require.NoError(t, err)
	require.NotContains(t, string(body), "sign")
	require.NotContains(t, string(body), "timestamp")
}

func TestRedact(t *testing.T) {
	const u = "https://user:pw-9@hooks.example/services/T0/B0/tok-123?x=tok-q"
	got := redact("POST "+u+": 502 for /services/T0/B0/tok-123 and x=tok-q (value tok-q, password pw-9)", credentialParts(u)...)
	require.Equal(t, "POST [redacted]: 502 for [redacted] and [redacted] (value [redacted], password [redacted])", got)
	require.Equal(t, "nothing to hide", redact("nothing to hide", "", ""))
}
