package window

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var seeds = []string{
	"Mon-Fri 01:00-05:00 Asia/Shanghai",
	"Fri-Mon 22:00-02:00 Europe/Berlin",
	"Mon,Wed,Sat 23:30-00:00 America/New_York",
	"daily 00:00-24:00 UTC",
	"* 02:30-03:00 America/New_York",
	"Sun 00:00-02:00 America/Santiago",
	"sun 02:10-03:00 Australia/Lord_Howe",
	"Mon-Fri 25:00-05:00 Asia/Shanghai",
	"Mon-Mon 01:00-02:00 UTC",
	"Mon,, 01:00-02:00 UTC",
	"Mon 01:00-01:00 UTC",
	"Mon 01:00-02:00 Local",
	"Mon 01:00-02:00 ../../etc/passwd",
	"Mon 1:00-2:00 UTC",
	"Mon-Fri\t01:00-05:00\nUTC",
	"",
	"Monday-Sunday 00:00-00:01 Pacific/Apia",
}

// FuzzParse: Parse never panics, its errors are *ParseError naming the
// spec, and an accepted spec's String parses back to the same window, also
// through JSON.
func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "window ") {
				t.Fatalf("Parse(%q): error %v is not a *ParseError", s, err)
			}
			return
		}
		again, err := Parse(sp.String())
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, sp.String(), err)
		}
		if again.String() != sp.String() || again != (Spec{days: sp.days, start: sp.start, end: sp.end, loc: again.loc}) {
			t.Fatalf("Parse(%q): %q round-trips to %q", s, sp.String(), again.String())
		}
		b, err := json.Marshal(sp)
		if err != nil {
			t.Fatal(err)
		}
		var j Spec
		if err := json.Unmarshal(b, &j); err != nil || !j.Equal(sp) {
			t.Fatalf("JSON %s: %v, %q", b, err, j.String())
		}
	})
}

// FuzzState: for any accepted spec and instant, State is consistent with
// itself at its own answers: open just before Closes and closed at it,
// closed just before Opens and open at it.
func FuzzState(f *testing.F) {
	for i, s := range seeds {
		f.Add(s, int64(1772935200+i*86400*37)) // from 2026-03-08, spread over the year
	}
	f.Fuzz(func(t *testing.T, spec string, unix int64) {
		sp, err := Parse(spec)
		if err != nil {
			return
		}
		// Within 1900..2200, where zone rules are defined.
		const lo, span = -2208988800, 9467280000
		at := time.Unix(lo+(unix%span+span)%span, 0)
		s := Set{sp}
		st := s.State(at)
		if st.Open {
			if !st.Closes.IsZero() {
				if !st.Closes.After(at) || s.Open(st.Closes) || !s.Open(st.Closes.Add(-time.Nanosecond)) {
					t.Fatalf("%s at %s: open, closes %s, but the state there disagrees", spec, at, st.Closes)
				}
			}
		} else if !st.Opens.IsZero() {
			if !st.Opens.After(at) || !s.Open(st.Opens) || s.Open(st.Opens.Add(-time.Nanosecond)) {
				t.Fatalf("%s at %s: closed, opens %s, but the state there disagrees", spec, at, st.Opens)
			}
		}
		if !st.Open && st.Opens.IsZero() && at.Year() > 1970 && at.Year() < 2100 {
			t.Fatalf("%s at %s: no opening within the horizon", spec, at)
		}
		_ = Describe(st, at)
	})
}
