package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
)

// Feishu / Lark custom bot.
//
// The message is a text message, {"msg_type":"text","content":{"text"}}:
// plain lines, links as bare URLs (the client makes them clickable). A
// text message needs no escaping beyond JSON's, and reads the same on
// Feishu and Lark; a card would give a coloured header at the price of a
// larger, version-dependent format. A signed bot takes "timestamp" (seconds,
// a string) and "sign" in the body: base64 of HMAC-SHA256 keyed with
// timestamp+"\n"+secret over an empty message (the reverse of DingTalk's
// roles, and in seconds, not milliseconds). It refuses a timestamp more
// than 3600 s off (code 19021). It answers {"code":0,...} when delivered,
// a non-zero code otherwise (older deployments say "StatusCode").

func feishuBody(m message, sig *signature) ([]byte, error) {
	type content struct {
		Text string `json:"text"`
	}
	body := struct {
		Timestamp string  `json:"timestamp,omitempty"`
		Sign      string  `json:"sign,omitempty"`
		MsgType   string  `json:"msg_type"`
		Content   content `json:"content"`
	}{MsgType: "text", Content: content{plainText(m)}}
	if sig != nil {
		body.Timestamp, body.Sign = sig.timestamp, sig.sign
	}
	return json.Marshal(body)
}

// feishuSign is Feishu's signature for a request made at now.
func feishuSign(secret string, now time.Time) (timestamp, sign string) {
	timestamp = strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return timestamp, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// feishuAnswer reads a Feishu answer's code; ok is false when the body is
// not Feishu's.
func feishuAnswer(body []byte) (code int, msg string, ok bool) {
	var a struct {
		Code          *int   `json:"code"`
		Msg           string `json:"msg"`
		StatusCode    *int   `json:"StatusCode"`
		StatusMessage string `json:"StatusMessage"`
	}
	if json.Unmarshal(body, &a) != nil {
		return 0, "", false
	}
	switch {
	case a.Code != nil:
		return *a.Code, a.Msg, true
	case a.StatusCode != nil:
		return *a.StatusCode, a.StatusMessage, true
	}
	return 0, "", false
}
