package notify_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/notify"
)

// texts decodes what a person reads in each platform's body.
func texts(t *testing.T, k notify.Kind, body []byte) (title, text string) {
	t.Helper()
	var m struct {
		MsgType  string `json:"msgtype"`
		Markdown struct{ Title, Text string }
		Content  struct{ Text string }
		Text     json.RawMessage
		Title    string
	}
	require.NoError(t, json.Unmarshal(body, &m))
	switch k {
	case notify.KindDingTalk:
		require.Equal(t, "markdown", m.MsgType)
		return m.Markdown.Title, m.Markdown.Text
	case notify.KindFeishu:
		return "", m.Content.Text
	}
	var s string
	require.NoError(t, json.Unmarshal(m.Text, &s))
	return m.Title, s
}

// TestFormatsAreStable pins each platform's message for a stopped run: a
// change in the format shows here, to be made on purpose.
func TestFormatsAreStable(t *testing.T) {
	e := events()[1] // run-stopped, 7 failures
	const link = "http://temporal-ui.internal:8080/namespaces/default/workflows/fleetmend%2Fcn-hangzhou%2Fmanual-20261122T101500Z/0b6f3c1e-8d2a-4c53-9e1b-3f2a7d9c4e10/history"
	want := map[notify.Kind]string{
		notify.KindDingTalk: `#### fleetmend cn-hangzhou: run stopped (error-budget)

stopped: error budget exhausted (12 failed of 100 attempted; budget 10% = 10)

run ` + "`fleetmend/cn-hangzhou/manual-20261122T101500Z` (`0b6f3c1e-8d2a-4c53-9e1b-3f2a7d9c4e10`)" + `

unhealthy 120 · remediated 88 · failed 12 · not-attempted 20

- ` + "`i-bp1f00a`" + ` no-heartbeat: no heartbeat within 10m of the reboot
- ` + "`i-bp1f00b`" + ` no-heartbeat: no heartbeat within 10m of the reboot
- ` + "`i-bp1f00c`" + ` no-heartbeat: no heartbeat within 10m of the reboot
- ` + "`i-bp1f00d`" + ` no-heartbeat: no heartbeat within 10m of the reboot
- ` + "`i-bp1f00e`" + ` no-heartbeat: no heartbeat within 10m of the reboot
- … and 2 more

[Web UI](` + link + `)`,
		notify.KindFeishu: `fleetmend cn-hangzhou: run stopped (error-budget)
stopped: error budget exhausted (12 failed of 100 attempted; budget 10% = 10)
run fleetmend/cn-hangzhou/manual-20261122T101500Z (0b6f3c1e-8d2a-4c53-9e1b-3f2a7d9c4e10)
unhealthy 120 · remediated 88 · failed 12 · not-attempted 20
failed: i-bp1f00a no-heartbeat: no heartbeat within 10m of the reboot
failed: i-bp1f00b no-heartbeat: no heartbeat within 10m of the reboot
failed: i-bp1f00c no-heartbeat: no heartbeat within 10m of the reboot
failed: i-bp1f00d no-heartbeat: no heartbeat within 10m of the reboot
failed: i-bp1f00e no-heartbeat: no heartbeat within 10m of the reboot
… and 2 more
Web UI: ` + link,
		notify.KindSlack: `*fleetmend cn-hangzhou: run stopped (error-budget)*
stopped: error budget exhausted (12 failed of 100 attempted; budget 10% = 10)
run ` + "`fleetmend/cn-hangzhou/manual-20261122T101500Z` (`0b6f3c1e-8d2a-4c53-9e1b-3f2a7d9c4e10`)" + `
unhealthy 120 · remediated 88 · failed 12 · not-attempted 20
• ` + "`i-bp1f00a`" + ` no-heartbeat: no heartbeat within 10m of the reboot
• ` + "`i-bp1f00b`" + ` no-heartbeat: no heartbeat within 10m of the reboot
• ` + "`i-bp1f00c`" + ` no-heartbeat: no heartbeat within 10m of the reboot
• ` + "`i-bp1f00d`" + ` no-heartbeat: no heartbeat within 10m of the reboot
• ` + "`i-bp1f00e`" + ` no-heartbeat: no heartbeat within 10m of the reboot
… and 2 more
<` + link + `|Web UI>`,
	}
	for k, text := range want {
		b, err := notify.Render(k, e)
		require.NoError(t, err)
		title, got := texts(t, k, b)
		require.Equal(t, text, got, k)
		if k == notify.KindDingTalk {
			require.Equal(t, "fleetmend cn-hangzhou: run stopped (error-budget)", title)
		}
	}

	// The generic webhook: the document, with the event whole (all 7
	// failures) and the plain text.
	b, err := notify.Render(notify.KindWebhook, e)
	require.NoError(t, err)
	var doc notify.WebhookDoc
	require.NoError(t, json.Unmarshal(b, &doc))
	require.Equal(t, 1, doc.Version)
	require.Equal(t, "fleetmend", doc.Source)
	require.Equal(t, "fleetmend cn-hangzhou: run stopped (error-budget)", doc.Title)
	require.Equal(t, want[notify.KindFeishu], doc.Text)
	require.Equal(t, e, doc.Event)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b, &raw))
	require.Equal(t, []any{"version", "source", "title", "text", "event"}, keys(b), "field order")
	ev := raw["event"].(map[string]any)
	require.Equal(t, "2026-11-22T10:45:00Z", ev["at"])
	require.NotContains(t, ev, "until", "a zero until is left out")
}

// keys lists a JSON object's top-level keys in document order.
func keys(b []byte) []any {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var out []any
	_, _ = dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		out = append(out, k)
		var skip json.RawMessage
		_ = dec.Decode(&skip)
	}
	return out
}

func TestFreezeAndApprovalLines(t *testing.T) {
	es := events()
	_, text := texts(t, notify.KindFeishu, must(notify.Render(notify.KindFeishu, es[4])))
	require.Equal(t, "fleetmend cn-hangzhou: region frozen until 2026-11-24 01:00 UTC\nrelease freeze: payment gateway migration (CHG-2291)\nby alice\n$ starter unfreeze --region cn-hangzhou --reason \"…\"", text)
	// The commands reach the chat exactly, to be copied.
	_, md := texts(t, notify.KindDingTalk, must(notify.Render(notify.KindDingTalk, es[0])))
	for _, c := range es[0].Commands {
		require.Contains(t, md, "\n\n`"+c+"`")
	}
	// A freeze's until is shown in UTC whatever zone it was built in.
	e := es[4]
	e.Until = e.Until.In(time.FixedZone("CST", 8*3600))
	title, _ := texts(t, notify.KindDingTalk, must(notify.Render(notify.KindDingTalk, e)))
	require.Equal(t, "fleetmend cn-hangzhou: region frozen until 2026-11-24 01:00 UTC", title)
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestTextCannotBreakTheMarkup: what the engine puts in an event (an ECS
// error message, a reason typed by an operator) stays text on every
// platform: one line each, markup escaped.
func TestTextCannotBreakTheMarkup(t *testing.T) {
	e := notify.Event{
		Kind: notify.FreezeLifted, At: at, Region: "cn-hangzhou", Actor: "eve <!channel>",
		Reason:   "done *now*\n#### [click](http://evil.example) & <http://evil.example|here> `x`",
		Commands: []string{"echo `date` | tee log"},
		Links:    []notify.Link{{Label: "a]b|c>", URL: "http://ui.example/a b)c|d>e"}},
	}
	_, md := texts(t, notify.KindDingTalk, must(notify.Render(notify.KindDingTalk, e)))
	require.Equal(t, "#### fleetmend cn-hangzhou: region freeze lifted\n\n"+
		`done \*now\* \#\#\#\# \[click\](http://evil.example) & \<http://evil.example\|here\> `+"\\`x\\`"+"\n\n"+
		`by eve \<!channel\>`+"\n\n"+
		"``echo `date` | tee log``\n\n"+
		`[a\]b\|c\>](http://ui.example/a%20b%29c|d%3Ee)`, md)

	_, sl := texts(t, notify.KindSlack, must(notify.Render(notify.KindSlack, e)))
	require.Equal(t, "*fleetmend cn-hangzhou: region freeze lifted*\n"+
		"done *now* #### [click](http://evil.example) &amp; &lt;http://evil.example|here&gt; `x`\n"+
		"by eve &lt;!channel&gt;\n"+
		"`echo 'date' | tee log`\n"+
		"<http://ui.example/a%20b)c%7Cd&gt;e|a]b|c&gt;>", sl)

	_, fs := texts(t, notify.KindFeishu, must(notify.Render(notify.KindFeishu, e)))
	require.Equal(t, 5, strings.Count(fs, "\n")+1, "one line per part: %q", fs)
	require.Contains(t, fs, "done *now* #### [click](http://evil.example) & <http://evil.example|here> `x`")
}

func TestRenderRefusesAnInvalidEvent(t *testing.T) {
	_, err := notify.Render(notify.KindSlack, notify.Event{Kind: notify.RunStopped, Region: "cn-hangzhou", Reason: "x", WorkflowID: wf})
	require.EqualError(t, err, "notify event run-stopped: code is required (what stopped the run, e.g. error-budget)")
	_, err = notify.Render("teams", events()[0])
	require.EqualError(t, err, `notify: kind "teams" must be one of webhook, dingtalk, feishu, slack`)
}
