package notify_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/notify"
	"github.com/fleetmend/fleetmend/notify/notifytest"
)

const (
	dingTalkSecret = "SEC4f9a1c77e0b24d5c9a3e6f0b8d2c1a7e5f3b9d0c4a6e8f1b2d3c5a7e9f0b1c2d"
	feishuSecret   = "qV3xN8pL2rT6yW9z"
)

// sendAt is the sender's clock; the receivers' runs two minutes ahead,
// as two real clocks would differ.
var sendAt = time.Date(2026, 11, 22, 10, 45, 0, 0, time.UTC)

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

func newReceiver(t *testing.T, kind notify.Kind, secret string) *notifytest.Receiver {
	r := notifytest.New(t, kind, secret)
	r.SetClock(fixed(sendAt.Add(2 * time.Minute)))
	return r
}

// noCredentials checks that no result carries the destination's URL, any
// part of its token, its secret, or anything else given.
func noCredentials(t *testing.T, results []notify.Result, r *notifytest.Receiver, more ...string) {
	t.Helper()
	hidden := append([]string{r.URL(), r.Secret()}, more...)
	path := strings.TrimPrefix(r.URL(), "http://")
	path = path[strings.Index(path, "/"):]
	hidden = append(hidden, path, path[strings.LastIndexAny(path, "/=")+1:]) // the path and the token
	for _, res := range results {
		all := fmt.Sprintf("%v %+v", res, res)
		for _, h := range hidden {
			if h != "" {
				require.NotContains(t, all, h, "a result carries a credential")
			}
		}
	}
}

// TestEveryEventReachesEveryPlatform: each event kind, in each platform's
// format, signed where the platform signs, is accepted and decoded by a
// receiver that checks it as the platform does.
func TestEveryEventReachesEveryPlatform(t *testing.T) {
	for _, c := range []struct {
		kind   notify.Kind
		secret string
	}{
		{notify.KindDingTalk, dingTalkSecret}, {notify.KindDingTalk, ""},
		{notify.KindFeishu, feishuSecret}, {notify.KindFeishu, ""},
		{notify.KindSlack, ""}, {notify.KindWebhook, ""},
	} {
		t.Run(fmt.Sprintf("%s/signed=%v", c.kind, c.secret != ""), func(t *testing.T) {
			r := newReceiver(t, c.kind, c.secret)
			d := r.Destination(t, "to-"+string(c.kind))
			s := &notify.Sender{Now: fixed(sendAt)}
			for i, e := range events() {
				res, err := s.Send(context.Background(), e, []notify.Destination{d})
				require.NoError(t, err)
				require.Len(t, res, 1)
				require.True(t, res[0].Delivered, "%s: %s", e.Kind, res[0].Error)
				require.Equal(t, http.StatusOK, res[0].Status)
				require.Equal(t, "to-"+string(c.kind), res[0].Destination)
				require.Equal(t, c.kind, res[0].Kind)
				require.Empty(t, res[0].Cause)
				require.Zero(t, res[0].Code)
				noCredentials(t, res, r)

				msgs := r.Messages()
				require.Len(t, msgs, i+1)
				m := msgs[i]
				require.Equal(t, c.secret != "", m.Signed, "signed and verified")
				require.Contains(t, m.Text, e.Region)
				require.Contains(t, m.Text, e.Reason)
				require.Contains(t, m.Text, e.WorkflowID)
				for _, cmd := range e.Commands {
					require.Contains(t, m.Text, cmd, "the command, exactly")
				}
				for _, l := range e.Links {
					require.Contains(t, m.Text, l.URL)
				}
				for _, n := range e.Counts {
					require.Contains(t, m.Text, n.Name+" "+strconv.Itoa(n.Value))
				}
				for j, f := range e.Failures {
					if j < notify.ChatFailures {
						require.Contains(t, m.Text, f.InstanceID)
					} else if c.kind != notify.KindWebhook {
						require.NotContains(t, m.Text, f.InstanceID, "only the first failures in a chat")
					}
				}
				switch c.kind {
				case notify.KindDingTalk:
					require.Equal(t, "markdown", m.MsgType)
					require.True(t, strings.HasPrefix(m.Title, "fleetmend "+e.Region+": "), m.Title)
				case notify.KindFeishu:
					require.Equal(t, "text", m.MsgType)
				case notify.KindWebhook:
					require.NotNil(t, m.Doc)
					require.Equal(t, e, m.Doc.Event, "the event, whole")
				}
			}
			require.Empty(t, r.Refusals())
		})
	}
}

func TestOneSendReachesEveryDestination(t *testing.T) {
	var rs []*notifytest.Receiver
	var ds []notify.Destination
	for _, k := range notify.Kinds() {
		secret := map[notify.Kind]string{notify.KindDingTalk: dingTalkSecret, notify.KindFeishu: feishuSecret}[k]
		r := newReceiver(t, k, secret)
		rs = append(rs, r)
		ds = append(ds, r.Destination(t, string(k)))
	}
	res, err := (&notify.Sender{Now: fixed(sendAt)}).Send(context.Background(), events()[0], ds)
	require.NoError(t, err)
	require.Len(t, res, len(ds))
	for i, r := range rs {
		require.Equal(t, ds[i].Name(), res[i].Destination, "results in the destinations' order")
		require.True(t, res[i].Delivered, res[i].Error)
		require.Len(t, r.Messages(), 1)
	}
}

// TestReceiverChecksSignaturesAsThePlatformDoes: a wrong secret, a missing
// signature and a timestamp beyond the platform's tolerance are refused,
// with the platform's error code, so the check in the other tests is real.
func TestReceiverChecksSignaturesAsThePlatformDoes(t *testing.T) {
	for _, c := range []struct {
		kind        notify.Kind
		secret      string
		wrong       string
		code        int
		skew, limit time.Duration
	}{
		{notify.KindDingTalk, dingTalkSecret, "SEC0000000000000000000000000000000000000000000000000000000000000000", notifytest.DingTalkSignError, notifytest.DingTalkMaxSkew, time.Millisecond},
		{notify.KindFeishu, feishuSecret, "qV3xN8pL2rT6yW9Z", notifytest.FeishuSignError, notifytest.FeishuMaxSkewSecond * time.Second, time.Second},
	} {
		t.Run(string(c.kind), func(t *testing.T) {
			r := notifytest.New(t, c.kind, c.secret)
			r.SetClock(fixed(sendAt))
			send := func(secret string, now time.Time) notify.Result {
				d, err := notify.NewDestination("robot", c.kind, r.URL(), secret)
				require.NoError(t, err)
				res, err := (&notify.Sender{Now: fixed(now)}).Send(context.Background(), events()[1], []notify.Destination{d})
				require.NoError(t, err)
				noCredentials(t, res, r, secret)
				return res[0]
			}
			refused := func(res notify.Result, why string) {
				t.Helper()
				require.False(t, res.Delivered)
				require.Equal(t, http.StatusOK, res.Status, "the platform answers 200 with a code")
				require.Equal(t, c.code, res.Code)
				require.Equal(t, notify.CausePlatform, res.Cause)
				require.Contains(t, res.Error, fmt.Sprintf("%s answered code %d: ", c.kind, c.code))
				refusals := r.Refusals()
				require.Contains(t, refusals[len(refusals)-1], why)
			}
			refused(send(c.wrong, sendAt), "sign does not match")
			refused(send("", sendAt), "timestamp")                                           // a signed robot needs a signature
			refused(send(c.secret, sendAt.Add(-c.skew-c.limit)), "off the receiver's clock") // stale
			refused(send(c.secret, sendAt.Add(c.skew+c.limit)), "off the receiver's clock")  // from the future
			require.Empty(t, r.Messages(), "nothing refused was recorded")
			// Inside the tolerance, on both sides: accepted.
			require.True(t, send(c.secret, sendAt.Add(-c.skew+c.limit)).Delivered)
			require.True(t, send(c.secret, sendAt.Add(c.skew-c.limit)).Delivered)
			require.Len(t, r.Messages(), 2)
		})
	}
}

func TestFailedAnswers(t *testing.T) {
	for _, k := range notify.Kinds() {
		t.Run(string(k), func(t *testing.T) {
			secret := map[notify.Kind]string{notify.KindDingTalk: dingTalkSecret, notify.KindFeishu: feishuSecret}[k]
			r := newReceiver(t, k, secret)
			d := r.Destination(t, "robot")
			s := &notify.Sender{Now: fixed(sendAt)}

			r.FailWithStatus(http.StatusInternalServerError)
			res, err := s.Send(context.Background(), events()[0], []notify.Destination{d})
			require.NoError(t, err)
			require.False(t, res[0].Delivered)
			require.Equal(t, http.StatusInternalServerError, res[0].Status)
			require.Equal(t, notify.CauseStatus, res[0].Cause)
			require.Equal(t, "HTTP 500: receiver told to fail", res[0].Error)
			noCredentials(t, res, r)

			r.FailWithStatus(0)
			r.FailWithCode(410100, "send too fast, exceed 20 times per minute")
			res, err = s.Send(context.Background(), events()[0], []notify.Destination{d})
			require.NoError(t, err)
			require.False(t, res[0].Delivered)
			switch k {
			case notify.KindDingTalk, notify.KindFeishu:
				require.Equal(t, 410100, res[0].Code)
				require.Equal(t, notify.CausePlatform, res[0].Cause)
				require.Equal(t, string(k)+" answered code 410100: send too fast, exceed 20 times per minute", res[0].Error)
			default:
				require.Equal(t, http.StatusBadRequest, res[0].Status)
				require.Equal(t, notify.CauseStatus, res[0].Cause)
			}
			noCredentials(t, res, r)
			require.Empty(t, r.Messages())
		})
	}
}

// within runs f and returns how long it took, failing if it took longer
// than bound plus a scheduling allowance for a busy machine.
func within(t *testing.T, bound time.Duration, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	f()
	took := time.Since(start)
	require.Less(t, took, bound+time.Second, "took %s; the bound is %s", took, bound)
	return took
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising on time
	}
}

// TestAHangingReceiverIsBounded: a destination that never answers makes
// Send return within its bound with a timeout, and does not hold up the
// destinations that answer.
func TestAHangingReceiverIsBounded(t *testing.T) {
	for _, k := range notify.Kinds() {
		t.Run(string(k), func(t *testing.T) {
			secret := map[notify.Kind]string{notify.KindDingTalk: dingTalkSecret, notify.KindFeishu: feishuSecret}[k]
			hung := newReceiver(t, k, secret)
			hung.Hang(true)
			good := newReceiver(t, k, secret)
			dests := []notify.Destination{hung.Destination(t, "hung"), good.Destination(t, "good")}
			for _, s := range []*notify.Sender{
				{Now: fixed(sendAt), AttemptTimeout: 300 * time.Millisecond},                     // the attempt bounds it
				{Now: fixed(sendAt), AttemptTimeout: time.Minute, Total: 300 * time.Millisecond}, // the total does
			} {
				require.Equal(t, 300*time.Millisecond, s.Bound())
				var res []notify.Result
				took := within(t, s.Bound(), func() {
					var err error
					res, err = s.Send(context.Background(), events()[0], dests)
					require.NoError(t, err)
				})
				require.GreaterOrEqual(t, took, 300*time.Millisecond)
				t.Logf("Send with a hanging destination returned after %s (bound %s)", took, s.Bound())
				require.False(t, res[0].Delivered)
				require.Equal(t, notify.CauseTimeout, res[0].Cause)
				require.Equal(t, "POST: no answer within 300ms", res[0].Error)
				require.Zero(t, res[0].Status)
				require.True(t, res[1].Delivered, res[1].Error)
				noCredentials(t, res[:1], hung)
				waitFor(t, "the held request to be given up", func() bool { return hung.Held() == 0 })
			}
			require.Empty(t, hung.Messages())
		})
	}
}

func TestCancelledByTheCaller(t *testing.T) {
	r := newReceiver(t, notify.KindSlack, "")
	r.Hang(true)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitFor(t, "the request to be held", func() bool { return r.Held() == 1 })
		cancel()
	}()
	s := &notify.Sender{Now: fixed(sendAt), AttemptTimeout: time.Minute, Total: time.Minute}
	var res []notify.Result
	within(t, 10*time.Second, func() {
		var err error
		res, err = s.Send(ctx, events()[0], []notify.Destination{r.Destination(t, "slack")})
		require.NoError(t, err)
	})
	require.Equal(t, notify.CauseCancelled, res[0].Cause)
	require.Equal(t, "POST: cancelled by the caller", res[0].Error)
}

func TestTransportErrorsAreRedacted(t *testing.T) {
	r := newReceiver(t, notify.KindDingTalk, dingTalkSecret)
	d := r.Destination(t, "gone")
	r.Close() // nobody listens there any more
	res, err := (&notify.Sender{Now: fixed(sendAt)}).Send(context.Background(), events()[0], []notify.Destination{d})
	require.NoError(t, err)
	require.False(t, res[0].Delivered)
	require.Equal(t, notify.CauseTransport, res[0].Cause)
	require.Contains(t, res[0].Error, "connection refused")
	require.NotContains(t, res[0].Error, "access_token")
	require.NotContains(t, res[0].Error, "sign=")
	noCredentials(t, res, r)
}

// TestAnswersThatEchoTheURLAreRedacted: a proxy or gateway that quotes the
// request in its error page does not get the token or signature into the
// result.
func TestAnswersThatEchoTheURLAreRedacted(t *testing.T) {
	var mu sync.Mutex
	var signs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		signs = append(signs, req.URL.Query().Get("sign"))
		mu.Unlock()
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "bad gateway for POST "+req.URL.String()+" ("+req.URL.RawQuery+")")
	}))
	defer srv.Close()
	const token = "tok-ECHO-c0ffee"
	d, err := notify.NewDestination("proxied", notify.KindDingTalk, srv.URL+"/robot/send?access_token="+token, dingTalkSecret)
	require.NoError(t, err)
	res, err := (&notify.Sender{Now: fixed(sendAt)}).Send(context.Background(), events()[0], []notify.Destination{d})
	require.NoError(t, err)
	require.Equal(t, notify.CauseStatus, res[0].Cause)
	require.Equal(t, "HTTP 502: bad gateway for POST [redacted]?[redacted]&timestamp=1795344300000&sign=[redacted] ([redacted]&timestamp=1795344300000&sign=[redacted])", res[0].Error)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, signs, 1)
	for _, h := range []string{token, signs[0], dingTalkSecret} {
		require.NotContains(t, res[0].Error, h)
	}
}

func TestAnswersThatAreNotThePlatforms(t *testing.T) {
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<html>please log in to the hotel wifi</html>")
	}))
	defer portal.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, portal.URL, http.StatusFound)
	}))
	defer redirect.Close()
	ding, err := notify.NewDestination("ding", notify.KindDingTalk, portal.URL+"/robot/send?access_token=x", "")
	require.NoError(t, err)
	fei, err := notify.NewDestination("fei", notify.KindFeishu, portal.URL+"/open-apis/bot/v2/hook/x", "")
	require.NoError(t, err)
	moved, err := notify.NewDestination("moved", notify.KindSlack, redirect.URL+"/services/x", "")
	require.NoError(t, err)
	res, err := (&notify.Sender{Now: fixed(sendAt)}).Send(context.Background(), events()[0], []notify.Destination{ding, fei, moved})
	require.NoError(t, err)
	require.Equal(t, notify.CausePlatform, res[0].Cause)
	require.Equal(t, "HTTP 200, but the answer is not DingTalk's (no errcode): <html>please log in to the hotel wifi</html>", res[0].Error)
	require.Equal(t, notify.CausePlatform, res[1].Cause)
	require.Equal(t, notify.CauseStatus, res[2].Cause, "a redirect is not followed: a redirected POST loses its body")
	require.Equal(t, http.StatusFound, res[2].Status)
}

func TestSendRefusesAnInvalidEventAndSendsNothing(t *testing.T) {
	r := newReceiver(t, notify.KindSlack, "")
	e := events()[0]
	e.Region = ""
	res, err := (&notify.Sender{}).Send(context.Background(), e, []notify.Destination{r.Destination(t, "slack")})
	require.EqualError(t, err, "notify event approval-waiting: region is required")
	require.Nil(t, res)
	require.Empty(t, r.Messages())
	require.Empty(t, r.Refusals())
}

func TestDefaults(t *testing.T) {
	require.Equal(t, notify.DefaultAttemptTimeout, (&notify.Sender{}).Bound())
	require.Equal(t, time.Second, (&notify.Sender{AttemptTimeout: time.Hour, Total: time.Second}).Bound())
	res, err := (&notify.Sender{}).Send(context.Background(), events()[0], nil)
	require.NoError(t, err)
	require.Empty(t, res)
}
