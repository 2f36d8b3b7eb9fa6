package notify_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/notify"
)

// Distinctive credential values, so a leak is found by a substring search.
const (
	dingURL    = "https://oapi.dingtalk.example/robot/send?access_token=tok-DING-7f3a9c"
	dingSecret = "SECdingsecret-4b1e8e0f"
	slackURL   = "https://hooks.slack.example/services/T0/B0/tok-SLACK-91c2"
	feishuURL  = "https://open.feishu.example/open-apis/bot/v2/hook/tok-FEISHU-5d7e"
	feishuSec  = "feishu-secret-a8d2c4"
)

var credentials = []string{dingURL, dingSecret, slackURL, feishuURL, feishuSec, "tok-DING-7f3a9c", "tok-SLACK-91c2", "tok-FEISHU-5d7e", "dingsecret-4b1e8e0f", "secret-a8d2c4"}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

const goodConfig = `{
  "destinations": [
    {"name": "oncall", "kind": "dingtalk", "url_env": "FM_DING_URL", "secret_env": "FM_DING_SECRET",
     "events": ["approval-waiting", "run-stopped"]},
    {"name": "sre-slack", "kind": "slack", "url": "` + slackURL + `"},
    {"name": "lark.ops", "kind": "lark", "url_env": "FM_FEISHU_URL", "secret": "` + feishuSec + `"},
    {"name": "audit_log", "kind": "webhook", "url": "http://audit.internal:9000/fleetmend"}
  ]
}`

var goodEnv = env(map[string]string{"FM_DING_URL": dingURL + "\n", "FM_DING_SECRET": "  " + dingSecret + "\n", "FM_FEISHU_URL": feishuURL})

func TestParseConfig(t *testing.T) {
	c, err := notify.ParseConfig([]byte(goodConfig), goodEnv)
	require.NoError(t, err)
	require.Equal(t, []string{"oncall", "sre-slack", "lark.ops", "audit_log"}, c.Names())
	d := c.Destinations
	require.Equal(t, notify.KindDingTalk, d[0].Kind())
	require.True(t, d[0].Signed())
	require.Equal(t, []notify.EventKind{notify.ApprovalWaiting, notify.RunStopped}, d[0].Events())
	require.True(t, d[0].Wants(notify.RunStopped))
	require.False(t, d[0].Wants(notify.FreezeSet))
	require.Equal(t, notify.KindSlack, d[1].Kind())
	require.False(t, d[1].Signed())
	require.True(t, d[1].Wants(notify.FreezeSet), "no events listed: every event")
	require.Equal(t, notify.KindFeishu, d[2].Kind(), "lark is Feishu's bot API")
	require.True(t, d[2].Signed())
	require.Equal(t, notify.KindWebhook, d[3].Kind())

	require.Equal(t,
		"oncall (dingtalk, url from $FM_DING_URL, signed with the secret from $FM_DING_SECRET, events: approval-waiting,run-stopped); "+
			"sre-slack (slack, url from file, all events); "+
			"lark.ops (feishu, url from $FM_FEISHU_URL, signed with the secret from file, all events); "+
			"audit_log (webhook, url from file, all events)",
		c.String())

	path := filepath.Join(t.TempDir(), "notify.json")
	require.NoError(t, os.WriteFile(path, []byte(goodConfig), 0o600))
	fromFile, err := notify.LoadConfig(path, goodEnv)
	require.NoError(t, err)
	require.Equal(t, c.String(), fromFile.String())
	_, err = notify.LoadConfig(filepath.Join(t.TempDir(), "missing.json"), goodEnv)
	require.ErrorContains(t, err, "notifications config: open ")

	empty, err := notify.ParseConfig([]byte(`{"destinations": []}`), goodEnv)
	require.NoError(t, err)
	require.Equal(t, "no notification destinations", empty.String())
}

func TestConfigErrorsNameTheDestinationAndField(t *testing.T) {
	d := func(fields string) string { return `{"destinations": [{` + fields + `}]}` }
	for cfg, want := range map[string]string{
		d(`"name": "", "kind": "slack", "url": "` + slackURL + `"`):                                                                                `notifications config: destinations[0]: destination "": name must be 1..64 characters: letters, digits, '-', '_' or '.'`,
		d(`"name": "on call", "kind": "slack", "url": "` + slackURL + `"`):                                                                         `notifications config: destinations[0]: destination "on call": name must be 1..64 characters: letters, digits, '-', '_' or '.'`,
		d(`"name": "x", "kind": "teams", "url": "` + slackURL + `"`):                                                                               `notifications config: destinations[0]: destination "x": kind: "teams" must be one of webhook, dingtalk, feishu (or lark), slack`,
		d(`"name": "x", "kind": "slack"`):                                                                                                          `notifications config: destinations[0]: destination "x": url: set url, or url_env naming the environment variable that holds it`,
		d(`"name": "x", "kind": "slack", "url": "` + slackURL + `", "url_env": "FM_DING_URL"`):                                                     `notifications config: destinations[0]: destination "x": url: set one of url and url_env, not both`,
		d(`"name": "x", "kind": "slack", "url_env": "FM_UNSET"`):                                                                                   `notifications config: destinations[0]: destination "x": url: environment variable FM_UNSET (url_env) is not set`,
		d(`"name": "x", "kind": "slack", "url_env": "FM_BLANK"`):                                                                                   `notifications config: destinations[0]: destination "x": url: environment variable FM_BLANK (url_env) is empty`,
		d(`"name": "x", "kind": "slack", "url": "ftp://hooks.slack.example/tok-SLACK-91c2"`):                                                       `notifications config: destinations[0]: destination "x": url: the URL (from file) must be an absolute http:// or https:// URL with a host`,
		d(`"name": "x", "kind": "slack", "url": "hooks.slack.example/services/tok-SLACK-91c2"`):                                                    `notifications config: destinations[0]: destination "x": url: the URL (from file) must be an absolute http:// or https:// URL with a host`,
		d(`"name": "x", "kind": "slack", "url": "https://hooks.slack.example/tok-SLACK-91c2\u0001"`):                                               `notifications config: destinations[0]: destination "x": url: the URL (from file) must be an absolute http:// or https:// URL with a host`,
		d(`"name": "x", "kind": "slack", "url_env": "FM_BAD_URL"`):                                                                                 `notifications config: destinations[0]: destination "x": url: the URL (from $FM_BAD_URL) must be an absolute http:// or https:// URL with a host`,
		d(`"name": "x", "kind": "slack", "url": "` + slackURL + `", "secret": "` + feishuSec + `"`):                                                `notifications config: destinations[0]: destination "x": secret: slack destinations are not signed; remove the secret`,
		d(`"name": "x", "kind": "webhook", "url": "` + slackURL + `", "secret": "` + feishuSec + `"`):                                              `notifications config: destinations[0]: destination "x": secret: webhook destinations are not signed; remove the secret`,
		d(`"name": "x", "kind": "dingtalk", "url": "` + dingURL + `", "secret": "` + feishuSec + `"`):                                              `notifications config: destinations[0]: destination "x": secret: a DingTalk signing secret starts with "SEC"; the secret from file does not`,
		d(`"name": "x", "kind": "dingtalk", "url": "` + dingURL + `", "secret_env": "FM_SHORT"`):                                                   `notifications config: destinations[0]: destination "x": secret: the secret (from $FM_SHORT) is shorter than 8 characters: not a dingtalk signing secret`,
		d(`"name": "x", "kind": "feishu", "url": "` + feishuURL + `", "secret": "a", "secret_env": "FM_DING_SECRET"`):                              `notifications config: destinations[0]: destination "x": secret: set one of secret and secret_env, not both`,
		d(`"name": "x", "kind": "slack", "url": "` + slackURL + `", "events": ["run-stopped", "run-stoped"]`):                                      `notifications config: destinations[0]: destination "x": events[1]: "run-stoped" must be one of approval-waiting, run-stopped, run-completed-with-failures, holder-stuck, freeze-set, freeze-lifted`,
		d(`"name": "x", "kind": "slack", "url": "` + slackURL + `", "secert": "oops"`):                                                             `notifications config: json: unknown field "secert"`,
		`{"destinations": [{"name": "x", "kind": "slack", "url": "` + slackURL + `"}, {"name": "x", "kind": "slack", "url": "` + slackURL + `"}]}`: `notifications config: destinations[1]: destination "x" is already defined by destinations[0]`,
		`{"destinations": {}}`:    `notifications config: json: cannot unmarshal object into Go struct field fileConfig.destinations of type []notify.fileDestination`,
		`{"destinations": []} {}`: `notifications config: more than one JSON document`,
	} {
		_, err := notify.ParseConfig([]byte(cfg), env(map[string]string{
			"FM_BLANK": " \n", "FM_BAD_URL": "tok-SLACK-91c2", "FM_SHORT": "SECab", "FM_DING_SECRET": dingSecret, "FM_DING_URL": dingURL,
		}))
		require.Error(t, err, cfg)
		require.Equal(t, want, err.Error())
		for _, c := range credentials {
			require.NotContains(t, err.Error(), c, "the error quotes a credential")
		}
	}
}

// TestDestinationsNeverPrintTheirCredentials: every way a destination or a
// config can end up in a log or an error.
func TestDestinationsNeverPrintTheirCredentials(t *testing.T) {
	c, err := notify.ParseConfig([]byte(goodConfig), goodEnv)
	require.NoError(t, err)
	j, err := json.Marshal(c)
	require.NoError(t, err)
	var outputs []string
	outputs = append(outputs, string(j), c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c))
	for _, d := range c.Destinations {
		j, err := json.Marshal(d)
		require.NoError(t, err)
		outputs = append(outputs, string(j), d.String(), d.GoString(), fmt.Sprintf("%v %+v %#v %s %q", d, d, d, d, d), fmt.Sprintf("%v", []notify.Destination{d}))
	}
	all := strings.Join(outputs, "\n")
	for _, c := range credentials {
		require.NotContains(t, all, c)
	}
	require.Contains(t, all, `"url":"[redacted]"`)
	require.Contains(t, all, "oncall")
	t.Log(string(j))
}

func TestNewDestination(t *testing.T) {
	d, err := notify.NewDestination("oncall", notify.KindDingTalk, dingURL, dingSecret, notify.RunStopped)
	require.NoError(t, err)
	require.Equal(t, "oncall (dingtalk, url from code, signed with the secret from code, events: run-stopped)", d.String())
	_, err = notify.NewDestination("oncall", notify.KindDingTalk, dingURL, "nope-"+dingSecret)
	require.EqualError(t, err, `destination "oncall": secret: a DingTalk signing secret starts with "SEC"; the secret from code does not`)
	_, err = notify.NewDestination("oncall", "pager", dingURL, "")
	require.EqualError(t, err, `destination "oncall": kind: "pager" must be one of webhook, dingtalk, feishu (or lark), slack`)
}

func TestRoute(t *testing.T) {
	c, err := notify.ParseConfig([]byte(goodConfig), goodEnv)
	require.NoError(t, err)
	names := func(ds []notify.Destination) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Name())
		}
		return out
	}
	all, err := c.Route(notify.FreezeSet, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"sre-slack", "lark.ops", "audit_log"}, names(all), "oncall takes only approvals and stops")
	stop, err := c.Route(notify.RunStopped, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"oncall", "sre-slack", "lark.ops", "audit_log"}, names(stop))
	chosen, err := c.Route(notify.RunStopped, []string{"audit_log", "oncall", "oncall"})
	require.NoError(t, err)
	require.Equal(t, []string{"oncall", "audit_log"}, names(chosen), "in the config's order, once each")
	none, err := c.Route(notify.FreezeLifted, []string{"oncall"})
	require.NoError(t, err)
	require.Empty(t, none, "named, but it does not take freeze-lifted")
	_, err = c.Route(notify.RunStopped, []string{"pager"})
	require.EqualError(t, err, `notify: no destination named "pager"; the worker's configuration has: oncall, sre-slack, lark.ops, audit_log`)
	_, err = notify.Config{}.Route(notify.RunStopped, []string{"pager"})
	require.EqualError(t, err, `notify: no destination named "pager"; the worker's configuration has: none`)
	_, err = c.Route("run-paused", nil)
	require.ErrorContains(t, err, `notify: event kind "run-paused" must be one of approval-waiting, `)
}
