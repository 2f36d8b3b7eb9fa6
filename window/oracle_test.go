package window

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// plain is a window as the test builds it, so the oracle below reads its
// own parts rather than the package's parse.
type plain struct {
	days       [7]bool // by time.Weekday
	start, end int     // minutes; end in 1..1440, end < start crosses midnight
	zone       string
}

func (p plain) spec() string {
	var days []string
	for d, in := range p.days {
		if in {
			days = append(days, time.Weekday(d).String()[:3])
		}
	}
	return fmt.Sprintf("%s %02d:%02d-%02d:%02d %s", strings.Join(days, ","), p.start/60, p.start%60, p.end/60, p.end%60, p.zone)
}

// open is the naive rule: read the wall clock and compare. It agrees with
// the package wherever the wall clock is unambiguous.
func (p plain) open(t time.Time, loc *time.Location) bool {
	l := t.In(loc)
	min := l.Hour()*60 + l.Minute()
	today, yesterday := l.Weekday(), (l.Weekday()+6)%7
	if p.end > p.start {
		return p.days[today] && min >= p.start && min < p.end
	}
	return p.days[today] && min >= p.start || p.days[yesterday] && min < p.end
}

func randomPlain(r *rand.Rand, zone string) plain {
	var p plain
	p.days[r.Intn(7)] = true // at least one day
	for d := range p.days {
		p.days[d] = p.days[d] || r.Intn(3) == 0
	}
	p.zone = zone
	p.start = r.Intn(24*4) * 15
	for p.end = (r.Intn(24*4) + 1) * 15; p.end == p.start; p.end = (r.Intn(24*4) + 1) * 15 {
	}
	return p
}

// farFromTransitions: the wall clock of every instant within 30 hours of t
// (a window's longest reach) is unambiguous.
func farFromTransitions(t time.Time, loc *time.Location) bool {
	l := t.In(loc)
	start, end := l.ZoneBounds()
	return (start.IsZero() || t.Sub(start) > 30*time.Hour) && (end.IsZero() || end.Sub(t) > 30*time.Hour)
}

// TestAgreesWithTheWallClock compares State with the naive wall-clock rule
// for random windows and instants over a year: in zones without daylight
// saving everywhere, in zones with it away from the changes. It also checks
// that Closes and Opens are exact: the state flips there and not a minute
// earlier.
func TestAgreesWithTheWallClock(t *testing.T) {
	r := rand.New(rand.NewSource(24))
	zones := []string{"Asia/Shanghai", "UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Europe/Berlin", "Australia/Sydney", "America/Santiago"}
	year := utc("2026-01-01 00:00")
	checked := 0
	for i := 0; i < 400; i++ {
		zone := zones[i%len(zones)]
		loc, err := time.LoadLocation(zone)
		require.NoError(t, err)
		p := randomPlain(r, zone)
		s := Set{MustParse(p.spec())}
		at := year.Add(time.Duration(r.Int63n(int64(365 * 24 * time.Hour)))).Truncate(time.Minute)
		if !farFromTransitions(at, loc) {
			continue
		}
		checked++
		st := s.State(at)
		require.Equal(t, p.open(at, loc), st.Open, "%s at %s", p.spec(), at.In(loc))
		// Walk minute by minute to the next change the oracle sees (a
		// window recurs within a week).
		next := at
		for next.Sub(at) < 8*24*time.Hour && p.open(next, loc) == st.Open {
			next = next.Add(time.Minute)
		}
		if !farFromTransitions(next, loc) {
			continue
		}
		if st.Open {
			if st.Closes.IsZero() { // open throughout: every day, whole day
				require.Equal(t, next.Sub(at), 8*24*time.Hour, p.spec())
				continue
			}
			require.True(t, st.Closes.Equal(next), "%s at %s: closes %s, the wall clock says %s", p.spec(), at.In(loc), st.Closes, next.In(loc))
		} else {
			require.True(t, st.Opens.Equal(next), "%s at %s: opens %s, the wall clock says %s", p.spec(), at.In(loc), st.Opens, next.In(loc))
		}
	}
	require.Greater(t, checked, 250, "too few instants far from transitions: the test checks little")
	t.Logf("%d instants checked", checked)
}
