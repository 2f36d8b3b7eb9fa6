package notify

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ChatFailures is how many failures a chat message lists; the rest are
// counted ("… and 7 more"). The generic webhook carries all of the event's.
const ChatFailures = 5

// message is an event laid out for people: the parts every platform shows,
// each one line, before the platform's markup.
type message struct {
	title    string // "fleetmend cn-hangzhou: run stopped (error-budget)"
	reason   string
	workflow string
	runID    string
	counts   []Count
	failures []Failure // at most ChatFailures
	more     int       // failures not listed (of those the event carries)
	actor    string
	commands []string
	links    []Link
}

// headline is the title per kind: what happened, in a few words.
func headline(e Event) string {
	switch e.Kind {
	case ApprovalWaiting:
		return "run waits for approval"
	case RunStopped:
		return "run stopped (" + line(e.Code) + ")"
	case RunCompletedWithFailures:
		return "run completed with failures"
	case HolderStuck:
		return "region holder stuck"
	case FreezeSet:
		return "region frozen until " + stamp(e)
	case FreezeLifted:
		return "region freeze lifted"
	}
	return string(e.Kind)
}

func stamp(e Event) string { return e.Until.UTC().Format("2006-01-02 15:04 MST") }

func compose(e Event) message {
	m := message{
		title:    "fleetmend " + line(e.Region) + ": " + headline(e),
		reason:   line(e.Reason),
		workflow: line(e.WorkflowID),
		runID:    line(e.RunID),
		counts:   e.Counts,
		actor:    line(e.Actor),
		links:    e.Links,
	}
	for i, f := range e.Failures {
		if i == ChatFailures {
			m.more = len(e.Failures) - ChatFailures
			break
		}
		m.failures = append(m.failures, Failure{InstanceID: line(f.InstanceID), Reason: line(f.Reason), Detail: line(f.Detail)})
	}
	for _, c := range e.Commands {
		m.commands = append(m.commands, line(c))
	}
	return m
}

// line makes s one line of valid UTF-8: control characters (line breaks
// included) become spaces, so no field can add lines or markup structure
// to a message.
func line(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// countsLine is "unhealthy 120 · remediated 100 · failed 3".
func countsLine(cs []Count, esc func(string) string) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = esc(line(c.Name)) + " " + strconv.Itoa(c.Value)
	}
	return strings.Join(parts, " · ")
}

func moreLine(n int) string { return fmt.Sprintf("… and %d more", n) }

// plainText is the message as plain text: the Feishu text message and the
// generic webhook's "text".
func plainText(m message) string {
	var b strings.Builder
	b.WriteString(m.title)
	add := func(s string) {
		if s != "" {
			b.WriteString("\n" + s)
		}
	}
	add(m.reason)
	add(runLine(m, func(s string) string { return s }))
	add(countsLine(m.counts, func(s string) string { return s }))
	for _, f := range m.failures {
		add("failed: " + failureText(f))
	}
	if m.more > 0 {
		add(moreLine(m.more))
	}
	add(whoLine(m))
	for _, c := range m.commands {
		add("$ " + c)
	}
	for _, l := range m.links {
		add(line(l.Label) + ": " + l.URL)
	}
	return b.String()
}

// runLine is "run <workflow ID> (<run ID>)", quoted by code.
func runLine(m message, code func(string) string) string {
	if m.workflow == "" {
		return ""
	}
	s := "run " + code(m.workflow)
	if m.runID != "" {
		s += " (" + code(m.runID) + ")"
	}
	return s
}

func failureText(f Failure) string {
	s := f.InstanceID + " " + f.Reason
	if f.Detail != "" {
		s += ": " + f.Detail
	}
	return s
}

// whoLine is "by alice" (a freeze's title already says until when).
func whoLine(m message) string {
	if m.actor == "" {
		return ""
	}
	return "by " + m.actor
}

// Render is the body a destination of kind k gets for e, before signing
// (a signed Feishu body also carries "timestamp" and "sign"). It is what
// Send posts; it is exported for previews and tests.
func Render(k Kind, e Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return render(k, e, nil)
}

// signature is a Feishu body's timestamp and sign (nil: unsigned).
type signature struct{ timestamp, sign string }

func render(k Kind, e Event, sig *signature) ([]byte, error) {
	m := compose(e)
	switch k {
	case KindDingTalk:
		return dingTalkBody(m)
	case KindFeishu:
		return feishuBody(m, sig)
	case KindSlack:
		return slackBody(m)
	case KindWebhook:
		return webhookBody(m, e)
	}
	return nil, fmt.Errorf("notify: kind %q must be one of webhook, dingtalk, feishu, slack", k)
}
