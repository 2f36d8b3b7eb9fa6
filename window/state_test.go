package window

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// utc is an instant written in UTC; the expected instants below were
// worked out by hand from each zone's published rules (and checked with
// Python's zoneinfo), not from this package.
func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// occurrence checks one occurrence of a single-window Set: closed just
// before open, open from open to just before close, closed at close.
func occurrence(t *testing.T, spec string, open, close time.Time) {
	t.Helper()
	s := Set{MustParse(spec)}
	before := s.State(open.Add(-time.Minute))
	require.False(t, before.Open, "%s: open a minute before %s", spec, open)
	require.True(t, before.Opens.Equal(open), "%s: opens %s, want %s", spec, before.Opens.UTC(), open)
	for _, at := range []time.Time{open, open.Add(close.Sub(open) / 2), close.Add(-time.Nanosecond)} {
		st := s.State(at)
		require.True(t, st.Open, "%s: closed at %s", spec, at)
		require.True(t, st.Closes.Equal(close), "%s at %s: closes %s, want %s", spec, at, st.Closes.UTC(), close)
	}
	require.False(t, s.Open(close), "%s: still open at %s", spec, close)
}

func TestAcrossMidnightOverDaylightSavingChanges(t *testing.T) {
	// New York: clocks go 02:00 EST -> 03:00 EDT on Sun 2026-03-08
	// (07:00 UTC), and 02:00 EDT -> 01:00 EST on Sun 2026-11-01 (06:00 UTC).
	const ny = "Sat 22:00-04:00 America/New_York"
	occurrence(t, ny, utc("2026-03-01 03:00"), utc("2026-03-01 09:00")) // the week before: 6h, all EST
	occurrence(t, ny, utc("2026-03-08 03:00"), utc("2026-03-08 08:00")) // opens EST, closes EDT: 5h
	occurrence(t, ny, utc("2026-03-15 02:00"), utc("2026-03-15 08:00")) // the week after: 6h, all EDT
	occurrence(t, ny, utc("2026-10-25 02:00"), utc("2026-10-25 08:00")) // 6h, EDT
	occurrence(t, ny, utc("2026-11-01 02:00"), utc("2026-11-01 09:00")) // opens EDT, closes EST: 7h
	occurrence(t, ny, utc("2026-11-08 03:00"), utc("2026-11-08 09:00")) // 6h, EST

	// Berlin: 02:00 CET -> 03:00 CEST on Sun 2026-03-29 (01:00 UTC), and
	// 03:00 CEST -> 02:00 CET on Sun 2026-10-25 (01:00 UTC). East of UTC,
	// where time.Date resolves gaps and repeats the other way round.
	const berlin = "Sat 23:00-03:30 Europe/Berlin"
	occurrence(t, berlin, utc("2026-03-21 22:00"), utc("2026-03-22 02:30")) // 4h30m, CET
	occurrence(t, berlin, utc("2026-03-28 22:00"), utc("2026-03-29 01:30")) // 3h30m
	occurrence(t, berlin, utc("2026-04-04 21:00"), utc("2026-04-05 01:30")) // 4h30m, CEST
	occurrence(t, berlin, utc("2026-10-24 21:00"), utc("2026-10-25 02:30")) // 5h30m
	occurrence(t, berlin, utc("2026-10-31 22:00"), utc("2026-11-01 02:30")) // 4h30m, CET
}

func TestStartOrEndInASpringForwardGap(t *testing.T) {
	// 02:30 does not exist in New York on 2026-03-08: the window opens when
	// the clock jumps past it, at 03:00 EDT (07:00 UTC).
	occurrence(t, "Sun 02:30-05:00 America/New_York", utc("2026-03-08 07:00"), utc("2026-03-08 09:00"))
	// ... and one ending at 02:30 closes then too.
	occurrence(t, "Sun 01:00-02:30 America/New_York", utc("2026-03-08 06:00"), utc("2026-03-08 07:00"))
	// Berlin, 2026-03-29: 02:30 -> 03:00 CEST (01:00 UTC).
	occurrence(t, "Sun 02:30-04:00 Europe/Berlin", utc("2026-03-29 01:00"), utc("2026-03-29 02:00"))
	// Lord Howe Island moves its clocks by 30 minutes: 02:00 -> 02:30 on
	// 2026-10-04 (15:30 UTC the day before).
	occurrence(t, "Sun 02:10-03:00 Australia/Lord_Howe", utc("2026-10-03 15:30"), utc("2026-10-03 16:00"))
	// Santiago skips midnight: 2026-09-06 00:00 -04 -> 01:00 -03 (04:00 UTC).
	occurrence(t, "Sun 00:00-02:00 America/Santiago", utc("2026-09-06 04:00"), utc("2026-09-06 05:00"))

	// A window wholly inside the gap does not occur that day: the next
	// opening is the Sunday after (02:10 EDT).
	s := Set{MustParse("Sun 02:10-02:50 America/New_York")}
	st := s.State(utc("2026-03-08 05:00"))
	require.False(t, st.Open)
	require.True(t, st.Opens.Equal(utc("2026-03-15 06:10")), "opens %s", st.Opens.UTC())
	for m := 0; m < 24*60; m++ {
		require.False(t, s.Open(utc("2026-03-08 00:00").Add(time.Duration(m)*time.Minute)))
	}
}

func TestRepeatedHourInAFallBack(t *testing.T) {
	// 01:30 happens twice in New York on 2026-11-01 (05:30 EDT and 06:30
	// EST, in UTC): a window takes the first.
	occurrence(t, "Sun 01:30-03:00 America/New_York", utc("2026-11-01 05:30"), utc("2026-11-01 08:00"))
	occurrence(t, "Sun 01:00-01:30 America/New_York", utc("2026-11-01 05:00"), utc("2026-11-01 05:30"))
	// The repeated 01:00-01:30 EST does not open it again: next Sunday.
	st := Set{MustParse("Sun 01:00-01:30 America/New_York")}.State(utc("2026-11-01 06:15"))
	require.False(t, st.Open)
	require.True(t, st.Opens.Equal(utc("2026-11-08 06:00")), "opens %s", st.Opens.UTC())
	// Berlin, 2026-10-25: 02:30 is 00:30 UTC (CEST) and 01:30 UTC (CET).
	occurrence(t, "Sun 02:30-04:00 Europe/Berlin", utc("2026-10-25 00:30"), utc("2026-10-25 03:00"))
	// Santiago repeats 23:00-24:00 on Sat 2026-04-04 (-03, then -04).
	occurrence(t, "Sat 23:30-01:00 America/Santiago", utc("2026-04-05 02:30"), utc("2026-04-05 05:00"))
}

func TestShanghaiHasNoDaylightSaving(t *testing.T) {
	const spec = "Mon-Fri 01:00-05:00 Asia/Shanghai"                                       // UTC+8 all year
	for _, day := range []string{"2026-01-05", "2026-03-09", "2026-07-06", "2026-11-02"} { // Mondays
		open := utc(day + " 01:00").Add(-8 * time.Hour)
		occurrence(t, spec, open, open.Add(4*time.Hour))
	}
	// Friday 21:48 CST: the next opening is Monday 01:00 CST.
	s := Set{MustParse(spec)}
	now := utc("2026-11-20 13:48")
	st := s.State(now)
	require.False(t, st.Open)
	require.True(t, st.Opens.Equal(utc("2026-11-22 17:00")))
	require.Equal(t, "Mon 01:00 CST", st.Opens.Format("Mon 15:04 MST"))
}

func TestWrappingDaysAndMidnight(t *testing.T) {
	// Fri-Mon opens on Fri, Sat, Sun and Mon; each closes the next day.
	s := Set{MustParse("Fri-Mon 22:00-02:00 UTC")}
	for day, open := range map[string]bool{
		"2026-11-16": true,  // Mon 23:00
		"2026-11-17": false, // Tue 23:00
		"2026-11-19": false, // Thu 23:00
		"2026-11-20": true,  // Fri 23:00
		"2026-11-22": true,  // Sun 23:00
	} {
		require.Equal(t, open, s.Open(utc(day+" 23:00")), day)
	}
	// Tue 01:00 is inside Monday's window; Wed 01:00 inside nobody's.
	require.True(t, s.Open(utc("2026-11-17 01:00")))
	require.False(t, s.Open(utc("2026-11-18 01:00")))
	// Sat 01:00 is inside Friday's window.
	require.True(t, s.Open(utc("2026-11-21 01:00")))
}

func TestOverlappingAndTouchingWindowsMerge(t *testing.T) {
	// Berlin is UTC+1 in November: 22:00-02:00 Berlin is 21:00-01:00 UTC,
	// and the second window continues it until 04:00 UTC.
	s, err := ParseSet("Sat 22:00-02:00 Europe/Berlin", "Sun 00:30-04:00 UTC", "Sun 04:00-05:00 UTC", "Sun 07:00-08:00 Asia/Shanghai")
	require.NoError(t, err)
	st := s.State(utc("2026-11-21 21:30"))
	require.True(t, st.Open)
	require.True(t, st.Closes.Equal(utc("2026-11-22 05:00")), "closes %s", st.Closes)
	require.Equal(t, "UTC", st.Closes.Location().String())
	// The next opening after the close: Sun 07:00 in Shanghai is Sat 23:00 UTC
	// (already past), so it is the next Saturday's Berlin window.
	require.True(t, st.Opens.Equal(utc("2026-11-28 21:00")), "opens %s", st.Opens)
	require.Equal(t, "Europe/Berlin", st.Opens.Location().String())
}

func TestEmptySetIsAlwaysOpen(t *testing.T) {
	var s Set
	st := s.State(utc("2026-11-21 21:30"))
	require.Equal(t, State{Open: true}, st)
	require.True(t, s.Open(time.Time{}))
}

func TestAlwaysOpenSetHasNoCloseWithinTheHorizon(t *testing.T) {
	// Santiago skips a midnight during the horizon: the day before still
	// ends where the next begins, so the Set stays open.
	for _, spec := range []string{"daily 00:00-24:00 UTC", "daily 00:00-24:00 America/Santiago"} {
		st := Set{MustParse(spec)}.State(utc("2026-09-01 12:00"))
		require.True(t, st.Open, spec)
		require.True(t, st.Closes.IsZero(), "%s closes %s", spec, st.Closes)
		require.True(t, st.Opens.IsZero(), spec)
	}
	// One minute a day closed is not always open.
	st := Set{MustParse("daily 12:00-11:59 UTC")}.State(utc("2026-09-05 12:00"))
	require.True(t, st.Open)
	require.True(t, st.Closes.Equal(utc("2026-09-06 11:59")))
	require.True(t, st.Opens.Equal(utc("2026-09-06 12:00")))
}

// BenchmarkState: the cost of asking a three-window Set, as a workflow
// would before each batch.
func BenchmarkState(b *testing.B) {
	s, err := ParseSet("Mon-Fri 01:00-05:00 Asia/Shanghai", "Sat 22:00-02:00 Europe/Berlin", "Sun 02:30-05:00 America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	t := utc("2026-03-07 12:00")
	for b.Loop() {
		_ = s.State(t)
	}
}
