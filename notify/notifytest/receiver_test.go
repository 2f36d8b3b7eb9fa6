package notifytest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/notify"
)

// The receiver's checks against signatures computed with OpenSSL (see
// notify's sign_internal_test.go for the commands), made by hand here, not
// by the notify package: the receiver is a second, independent reading of
// the platforms' algorithms.
const (
	dingSecret = "SECd6f1e0c2a4b3975e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abcd"
	dingMillis = 1764000000002
	dingSign   = "NeK87YIdkRsmq3T4+NcFky3XSjWbc5M/5zCNqYSDTHA="
	feiSecret  = "fs-secret-7Qx9"
	feiSeconds = "1764000000"
	feiSign    = "Jxgsqfj2oiWFOleZ23kb9SH2zUll5tIwr1VGGEoI+28="
)

func post(t *testing.T, target, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(target, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out), string(b))
	return out
}

func TestDingTalkSignatureByHand(t *testing.T) {
	r := New(t, notify.KindDingTalk, dingSecret)
	r.SetClock(func() time.Time { return time.UnixMilli(dingMillis).Add(30 * time.Minute) })
	const body = `{"msgtype":"markdown","markdown":{"title":"t","text":"hello"}}`
	signed := func(sign string) string {
		return r.URL() + "&timestamp=1764000000002&sign=" + url.QueryEscape(sign)
	}
	require.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok"}, post(t, signed(dingSign), body))
	require.Len(t, r.Messages(), 1)
	require.True(t, r.Messages()[0].Signed)
	require.Equal(t, "hello", r.Messages()[0].Text)

	// One character off, or not URL-encoded ('+' read as a space): refused.
	require.Equal(t, float64(DingTalkSignError), post(t, signed(strings.Replace(dingSign, "N", "M", 1)), body)["errcode"])
	unencoded := r.URL() + "&timestamp=1764000000002&sign=" + dingSign
	require.Equal(t, float64(DingTalkSignError), post(t, unencoded, body)["errcode"])
	// Another robot's token.
	require.Equal(t, float64(DingTalkTokenError), post(t, strings.Replace(signed(dingSign), "access_token=", "access_token=x", 1), body)["errcode"])
	// Over an hour off.
	r.SetClock(func() time.Time { return time.UnixMilli(dingMillis).Add(61 * time.Minute) })
	require.Equal(t, map[string]any{"errcode": float64(DingTalkSignError), "errmsg": "invalid timestamp"}, post(t, signed(dingSign), body))
	require.Len(t, r.Messages(), 1)
	require.Len(t, r.Refusals(), 4)
}

func TestFeishuSignatureByHand(t *testing.T) {
	r := New(t, notify.KindFeishu, feiSecret)
	r.SetClock(func() time.Time { return time.Unix(1764000000+3599, 0) })
	body := func(ts, sign string) string {
		return `{"timestamp":"` + ts + `","sign":"` + sign + `","msg_type":"text","content":{"text":"hello"}}`
	}
	require.Equal(t, 0.0, post(t, r.URL(), body(feiSeconds, feiSign))["code"])
	require.Len(t, r.Messages(), 1)
	require.True(t, r.Messages()[0].Signed)
	require.Equal(t, float64(FeishuSignError), post(t, r.URL(), body(feiSeconds, strings.Replace(feiSign, "J", "K", 1)))["code"])
	// The timestamp is part of the key: another timestamp, same sign.
	require.Equal(t, float64(FeishuSignError), post(t, r.URL(), body("1764000001", feiSign))["code"])
	r.SetClock(func() time.Time { return time.Unix(1764000000+3601, 0) })
	require.Equal(t, float64(FeishuSignError), post(t, r.URL(), body(feiSeconds, feiSign))["code"])
	require.Len(t, r.Messages(), 1)
	require.Len(t, r.Refusals(), 3)
}

func TestMalformedMessagesAreRefused(t *testing.T) {
	d := New(t, notify.KindDingTalk, "")
	require.Equal(t, 40035.0, post(t, d.URL(), `{"msgtype":"markdown","markdown":{"text":"no title"}}`)["errcode"])
	f := New(t, notify.KindFeishu, "")
	require.Equal(t, 9499.0, post(t, f.URL(), `{"msg_type":"post","content":{}}`)["code"])
	require.Empty(t, d.Messages())
	require.Empty(t, f.Messages())
	s := New(t, notify.KindSlack, "")
	resp, err := http.Post(s.URL(), "application/json", strings.NewReader(`{"blocks":[]}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, err = http.Post(s.URL(), "text/plain", strings.NewReader(`{"text":"x"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Len(t, s.Refusals(), 2)
}
