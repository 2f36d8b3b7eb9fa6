package window

import (
	"sort"
	"strings"
	"time"
)

// Horizon is how far ahead of the instant asked about State looks for a
// window's close or the next opening. Two weeks and a day: any weekly
// window recurs within a week, and a window skipped once by a clock change
// is found the week after.
const Horizon = 15 * 24 * time.Hour

// Set is the windows a run may act in. It is open when any of them is;
// an empty Set is always open. It marshals to JSON as a list of spec
// strings.
type Set []Spec

// ParseSet parses each spec (the values of a repeatable flag).
func ParseSet(specs ...string) (Set, error) {
	out := make(Set, 0, len(specs))
	for _, s := range specs {
		sp, err := Parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}

// String lists the specs, separated by "; ".
func (s Set) String() string {
	parts := make([]string, len(s))
	for i, sp := range s {
		parts[i] = sp.String()
	}
	return strings.Join(parts, "; ")
}

// State is a Set's answer for one instant. Times are in the zone of the
// window they come from, so they print as the operator wrote it.
type State struct {
	// Open: a window is open at the instant asked about (always, for an
	// empty Set).
	Open bool
	// Closes, when Open: when the open period ends (overlapping and
	// touching windows count as one period). Zero when it does not end
	// within Horizon, as for an empty Set or "daily 00:00-24:00".
	Closes time.Time
	// Opens: the next opening after the instant (when closed) or after
	// Closes (when open). Zero when none is within Horizon.
	Opens time.Time
}

// Open reports whether a window of the Set is open at t.
func (s Set) Open(t time.Time) bool { return s.State(t).Open }

// interval is one occurrence of a window: [open, close).
type interval struct{ open, close time.Time }

// State says whether the Set is open at t, and until when, or when it opens
// next. It looks no further than Horizon past t, so it always terminates.
func (s Set) State(t time.Time) State {
	if len(s) == 0 {
		return State{Open: true}
	}
	limit := t.Add(Horizon)
	var ivs []interval
	for _, sp := range s {
		ivs = sp.occurrences(t, limit, ivs)
	}
	// Stable, so that of two occurrences opening at the same instant the
	// one of the earlier spec is reported: the answer depends on nothing
	// but the Set and t.
	sort.SliceStable(ivs, func(i, j int) bool { return ivs[i].open.Before(ivs[j].open) })
	var st State
	i := 0
	if len(ivs) > 0 && !ivs[0].open.After(t) {
		st.Open = true
		end := ivs[0].close
		for i = 1; i < len(ivs) && !ivs[i].open.After(end); i++ {
			if ivs[i].close.After(end) {
				end = ivs[i].close
			}
		}
		if end.After(limit) {
			return st // open beyond the horizon: neither its end nor the next opening is known
		}
		st.Closes = end
	}
	if i < len(ivs) && !ivs[i].open.After(limit) {
		st.Opens = ivs[i].open
	}
	return st
}

// occurrences appends the spec's occurrences that close after t and open
// no later than limit.
func (sp Spec) occurrences(t, limit time.Time, out []interval) []interval {
	if sp.IsZero() {
		return out
	}
	y, m, d := t.In(sp.loc).Date()
	// From two days back (a window opened yesterday may still be open)
	// to three days past the horizon: a civil day can be shorter than 24
	// hours, and a zone can even skip one.
	days := int(Horizon/(24*time.Hour)) + 3
	for i := -2; i <= days; i++ {
		date := time.Date(y, m, d+i, 12, 0, 0, 0, time.UTC) // civil date arithmetic, free of DST
		if sp.days&(1<<date.Weekday()) == 0 {
			continue
		}
		dy, dm, dd := date.Date()
		open := at(sp.loc, dy, dm, dd, sp.start)
		var close time.Time
		switch {
		case sp.end == 24*60:
			close = at(sp.loc, dy, dm, dd+1, 0)
		case sp.end < sp.start: // crosses midnight
			close = at(sp.loc, dy, dm, dd+1, sp.end)
		default:
			close = at(sp.loc, dy, dm, dd, sp.end)
		}
		// A window wholly inside a spring-forward gap has no instant.
		if !close.After(open) || !close.After(t) || open.After(limit) {
			continue
		}
		out = append(out, interval{open, close})
	}
	return out
}
