package window

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDescribe(t *testing.T) {
	fri2148 := utc("2026-11-20 13:48") // Friday 21:48 in Shanghai
	for _, c := range []struct {
		specs []string
		now   time.Time
		want  string
	}{
		{[]string{"Sat 01:00-05:00 Asia/Shanghai"}, fri2148, "opens Sat 01:00 CST, in 3h12m"},
		{[]string{"Mon-Fri 01:00-05:00 Asia/Shanghai"}, fri2148, "opens Mon 01:00 CST, in 2d3h12m"},
		{[]string{"Fri 21:00-23:00 Asia/Shanghai"}, fri2148, "open, closes Fri 23:00 CST, in 1h12m"},
		{[]string{"Fri 21:00-21:49 Asia/Shanghai"}, fri2148.Add(30 * time.Second), "open, closes Fri 21:49 CST, in <1m"},
		{[]string{"Fri 21:00-22:00 Asia/Shanghai"}, fri2148, "open, closes Fri 22:00 CST, in 12m"},
		{[]string{"Sat 01:00-05:00 Europe/Berlin"}, fri2148, "opens Sat 01:00 CET, in 10h12m"},
		{[]string{"Sun 02:30-05:00 America/New_York"}, utc("2026-03-08 06:00"), "opens Sun 03:00 EDT, in 1h0m"},
		{[]string{"Sat 01:00-05:00 America/Sao_Paulo"}, fri2148, "opens Sat 01:00 -03, in 14h12m"},
		{[]string{"daily 00:00-24:00 UTC"}, fri2148, "open, no close within 15 days"},
		{nil, fri2148, "open, no close within 15 days"},
	} {
		s, err := ParseSet(c.specs...)
		require.NoError(t, err)
		require.Equal(t, c.want, Describe(s.State(c.now), c.now), "%v", c.specs)
	}
	require.Equal(t, "closed, no opening within 15 days", Describe(State{}, fri2148))
}

func TestUntil(t *testing.T) {
	now := utc("2026-11-20 13:48")
	for d, want := range map[time.Duration]string{
		-time.Hour:                      "<1m",
		0:                               "<1m",
		59 * time.Second:                "<1m",
		time.Minute:                     "1m",
		59*time.Minute + 59*time.Second: "59m",
		time.Hour:                       "1h0m",
		3*time.Hour + 12*time.Minute:    "3h12m",
		24 * time.Hour:                  "1d0h0m",
		50*time.Hour + 5*time.Minute:    "2d2h5m",
	} {
		require.Equal(t, want, Until(now, now.Add(d)), "%s", d)
	}
}
