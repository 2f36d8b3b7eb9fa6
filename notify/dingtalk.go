package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DingTalk custom robot.
//
// The message is markdown, {"msgtype":"markdown","markdown":{"title","text"}}:
// the title is what the notification preview shows, the text a few
// paragraphs (DingTalk's markdown needs a blank line between paragraphs).
// A signed robot takes ?timestamp=<ms>&sign=<base64 HMAC-SHA256, keyed with
// the secret, of timestamp+"\n"+secret>, URL-encoded, appended to its URL;
// it refuses a timestamp more than an hour off its clock. It answers HTTP
// 200 with {"errcode":0,"errmsg":"ok"}, or a non-zero errcode (310000 for
// a bad signature or timestamp).

func dingTalkBody(m message) ([]byte, error) {
	var b strings.Builder
	b.WriteString("#### " + mdEscape(m.title))
	para := func(s string) {
		if s != "" {
			b.WriteString("\n\n" + s)
		}
	}
	para(mdEscape(m.reason))
	para(runLine(m, mdCode))
	para(countsLine(m.counts, mdEscape))
	if len(m.failures) > 0 {
		var items []string
		for _, f := range m.failures {
			s := "- " + mdCode(f.InstanceID) + " " + mdEscape(f.Reason)
			if f.Detail != "" {
				s += ": " + mdEscape(f.Detail)
			}
			items = append(items, s)
		}
		if m.more > 0 {
			items = append(items, "- "+moreLine(m.more))
		}
		para(strings.Join(items, "\n"))
	}
	para(mdEscape(whoLine(m)))
	for _, c := range m.commands {
		para(mdCode(c))
	}
	var links []string
	for _, l := range m.links {
		links = append(links, "["+mdEscape(line(l.Label))+"]("+mdURL(l.URL)+")")
	}
	para(strings.Join(links, " · "))
	type markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	}
	return json.Marshal(struct {
		MsgType  string   `json:"msgtype"`
		Markdown markdown `json:"markdown"`
	}{"markdown", markdown{Title: m.title, Text: b.String()}})
}

// dingTalkSign is DingTalk's signature for a request made at now.
func dingTalkSign(secret string, now time.Time) (timestamp, sign string) {
	timestamp = strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "\n" + secret))
	return timestamp, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// dingTalkURL appends the signature to the robot's URL, leaving the URL
// as configured (its access_token) untouched.
func dingTalkURL(raw, timestamp, sign string) string {
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	return raw + sep + "timestamp=" + timestamp + "&sign=" + url.QueryEscape(sign)
}

// markdown escaping: a backslash before each character CommonMark could
// read as markup, so that an instance ID or a reason cannot turn into
// emphasis, a link or a heading.
var mdSpecial = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`,
	"<", `\<`, ">", `\>`, "#", `\#`, "|", `\|`, "~", `\~`,
)

func mdEscape(s string) string { return mdSpecial.Replace(s) }

// mdCode is s as a code span: the fence is one backtick longer than the
// longest run of backticks in s.
func mdCode(s string) string {
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// mdURL keeps a link's URL from closing the markdown link early.
func mdURL(u string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "<", "%3C", ">", "%3E").Replace(u)
}

// dingTalkAnswer reads a DingTalk answer's errcode; ok is false when the
// body is not DingTalk's.
func dingTalkAnswer(body []byte) (code int, msg string, ok bool) {
	var a struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if json.Unmarshal(body, &a) != nil || a.ErrCode == nil {
		return 0, "", false
	}
	return *a.ErrCode, a.ErrMsg, true
}
