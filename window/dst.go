package window

import "time"

// at returns the instant a window's edge falls on: the first time the
// wall clock in loc reads, or jumps past, minute (0..1439) on the civil
// date y-m-d (see the package documentation for why).
//
// time.Date alone does not do this: for a wall time in a spring-forward
// gap or a fall-back repeat it picks either side, and which one depends on
// the zone's offset from UTC (New York and Berlin get opposite answers).
// So its answer is checked against the wall clock asked for and moved to
// the zone transition when needed.
func at(loc *time.Location, y int, m time.Month, d, minute int) time.Time {
	want := time.Date(y, m, d, minute/60, minute%60, 0, 0, time.UTC) // the wall clock, as if in UTC
	t := time.Date(y, m, d, minute/60, minute%60, 0, 0, loc)
	got := wall(t)
	if got.Equal(want) {
		// The wall time exists; if it also existed just before t's zone
		// period began (a fall-back repeat), the earlier instant wins.
		start, _ := t.ZoneBounds()
		if start.IsZero() {
			return t
		}
		_, before := start.Add(-time.Nanosecond).Zone()
		alt := want.Add(-time.Duration(before) * time.Second).In(loc)
		if alt.Before(start) && alt.Before(t) && wall(alt).Equal(want) {
			return alt
		}
		return t
	}
	// The wall clock never reads this time on this date: the clocks jumped
	// over it. The jump is the edge of t's zone period on the side of the
	// time asked for; at that instant the clock reads past it.
	start, end := t.ZoneBounds()
	if got.Before(want) && !end.IsZero() {
		return end.In(loc)
	}
	if got.After(want) && !start.IsZero() {
		return start.In(loc)
	}
	return t
}

// wall is t's wall-clock reading in its own location, as a UTC time, so
// two readings compare as wall clocks.
func wall(t time.Time) time.Time {
	y, m, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, m, d, h, mi, s, t.Nanosecond(), time.UTC)
}
