package notify

import (
	"encoding/json"
	"strings"
)

// Slack incoming webhook.
//
// The message is {"text": …} in Slack's mrkdwn: a bold title, code spans
// for IDs and commands, <url|label> links. Slack asks that &, < and > be
// escaped as HTML entities everywhere in the text; it has no escape for
// its other markup characters, so a backtick inside a code span becomes a
// quote. Incoming webhooks are not signed; the URL is the credential.
// Slack answers 200 "ok", or an error status with a short reason.

func slackBody(m message) ([]byte, error) {
	var lines []string
	add := func(s string) {
		if s != "" {
			lines = append(lines, s)
		}
	}
	add("*" + slackEscape(m.title) + "*")
	add(slackEscape(m.reason))
	add(runLine(m, slackCode))
	add(countsLine(m.counts, slackEscape))
	for _, f := range m.failures {
		s := "• " + slackCode(f.InstanceID) + " " + slackEscape(f.Reason)
		if f.Detail != "" {
			s += ": " + slackEscape(f.Detail)
		}
		add(s)
	}
	if m.more > 0 {
		add(moreLine(m.more))
	}
	add(slackEscape(whoLine(m)))
	for _, c := range m.commands {
		add(slackCode(c))
	}
	var links []string
	for _, l := range m.links {
		links = append(links, "<"+slackURL(l.URL)+"|"+slackEscape(line(l.Label))+">")
	}
	add(strings.Join(links, " · "))
	return json.Marshal(struct {
		Text string `json:"text"`
	}{strings.Join(lines, "\n")})
}

var slackEntities = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEntities.Replace(s) }

func slackCode(s string) string {
	return "`" + slackEscape(strings.ReplaceAll(s, "`", "'")) + "`"
}

// slackURL keeps a URL from ending Slack's <url|label> early.
func slackURL(u string) string {
	return slackEscape(strings.NewReplacer("|", "%7C", " ", "%20").Replace(u))
}
