package window

import (
	"fmt"
	"time"
)

// Describe is a State in words for status and progress lines, relative to
// now (the instant the State was computed for, normally):
//
//	opens Sat 01:00 CST, in 3h12m
//	open, closes Mon 05:00 CET, in 1d2h0m
//	open, no close within 15 days
//	closed, no opening within 15 days
//
// Times are shown in the window's own zone, as the operator wrote it, by
// their zone abbreviation (or its UTC offset where the zone has none, such
// as "-03"). The wait is cut to whole minutes ("<1m" below one); the format
// is stable, so tools may match it.
func Describe(s State, now time.Time) string {
	days := int(Horizon / (24 * time.Hour))
	switch {
	case s.Open && s.Closes.IsZero():
		return fmt.Sprintf("open, no close within %d days", days)
	case s.Open:
		return "open, closes " + s.Closes.Format("Mon 15:04 MST") + ", in " + Until(now, s.Closes)
	case s.Opens.IsZero():
		return fmt.Sprintf("closed, no opening within %d days", days)
	default:
		return "opens " + s.Opens.Format("Mon 15:04 MST") + ", in " + Until(now, s.Opens)
	}
}

// Until is the wait from now to then in whole minutes: "3h12m", "45m",
// "2d0h5m", or "<1m" (also for a time already past).
func Until(now, then time.Time) string {
	d := then.Sub(now)
	if d < time.Minute {
		return "<1m"
	}
	min := int(d / time.Minute)
	days, hours, mins := min/(24*60), min/60%24, min%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh%dm", days, hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh%dm", hours, mins)
	default:
		return fmt.Sprintf("%dm", mins)
	}
}
