package window

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	// Zone data travels with the binary, so a container without
	// /usr/share/zoneinfo computes the same windows as a full host.
	_ "time/tzdata"
)

// MaxSpecLen bounds a spec's length: specs travel in workflow inputs and
// error messages, and no real one comes close.
const MaxSpecLen = 200

// allDays is the bit set of every weekday (bit i is time.Weekday(i)).
const allDays = 1<<7 - 1

// Field names, as errors name them.
const (
	FieldDays  = "days"
	FieldRange = "time range"
	FieldStart = "start time"
	FieldEnd   = "end time"
	FieldZone  = "zone"
)

// Spec is one parsed change window. The zero Spec is not a window: get one
// from Parse (or JSON).
type Spec struct {
	days  uint8 // bit time.Weekday(i): the window opens on that day
	start int   // minutes after midnight, 0..1439
	end   int   // minutes after midnight, 1..1440; end < start crosses midnight
	loc   *time.Location
}

// ParseError says which part of a spec is wrong and what is allowed.
type ParseError struct {
	Spec  string // the spec as given
	Field string // FieldDays, FieldRange, FieldStart, FieldEnd, FieldZone; "" for the spec's shape
	Value string // the offending part
	Want  string // what is allowed
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("window %q: %s", e.Spec, e.Want)
	}
	return fmt.Sprintf("window %q: %s %q %s", e.Spec, e.Field, e.Value, e.Want)
}

const (
	shapeWant = `must be "<days> <HH:MM-HH:MM> <zone>", e.g. "Mon-Fri 01:00-05:00 Asia/Shanghai"`
	daysWant  = "must be a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun), a range (Mon-Fri, Fri-Mon), a comma list (Mon,Wed,Sat or Mon-Wed,Fri), or daily (*)"
	rangeWant = "must be HH:MM-HH:MM, e.g. 01:00-05:00 (22:00-02:00 crosses midnight)"
	startWant = "must be HH:MM, 00:00..23:59"
	endWant   = "must be HH:MM, 00:00..24:00"
	zoneWant  = "must be an IANA time zone name such as Asia/Shanghai, Europe/Berlin or UTC"
)

// Parse reads a spec such as "Mon-Fri 01:00-05:00 Asia/Shanghai" (see the
// package documentation for the syntax). Errors are *ParseError.
func Parse(s string) (Spec, error) {
	if len(s) > MaxSpecLen {
		return Spec{}, &ParseError{Spec: s[:40] + "…", Want: fmt.Sprintf("is %d bytes long; at most %d", len(s), MaxSpecLen)}
	}
	fail := func(field, value, want string) (Spec, error) {
		return Spec{}, &ParseError{Spec: s, Field: field, Value: value, Want: want}
	}
	f := strings.Fields(s)
	if len(f) != 3 {
		return fail("", "", fmt.Sprintf("%s; got %d fields", shapeWant, len(f)))
	}
	var sp Spec
	var ok bool
	if sp.days, ok = parseDays(f[0]); !ok {
		return fail(FieldDays, f[0], daysWant)
	}
	from, to, found := strings.Cut(f[1], "-")
	if !found || strings.Contains(to, "-") {
		return fail(FieldRange, f[1], rangeWant)
	}
	if sp.start, ok = parseClock(from, false); !ok {
		return fail(FieldStart, from, startWant)
	}
	if sp.end, ok = parseClock(to, true); !ok {
		return fail(FieldEnd, to, endWant)
	}
	if sp.start == sp.end {
		return fail(FieldRange, f[1], "is empty (it starts and ends at the same time); a whole day is 00:00-24:00")
	}
	if sp.end == 0 { // "22:00-00:00": ends at the next midnight
		sp.end = 24 * 60
	}
	if sp.loc, ok = loadZone(f[2]); !ok {
		return fail(FieldZone, f[2], zoneWant)
	}
	return sp, nil
}

// MustParse is Parse for specs known to be valid (tests, constants); it
// panics on an error.
func MustParse(s string) Spec {
	sp, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sp
}

// dayNames are the canonical names, indexed by time.Weekday.
var dayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

func parseDay(s string) (time.Weekday, bool) {
	for i, n := range dayNames {
		full := time.Weekday(i).String()
		if strings.EqualFold(s, n) || strings.EqualFold(s, full) {
			return time.Weekday(i), true
		}
	}
	return 0, false
}

func parseDays(s string) (uint8, bool) {
	if s == "*" || strings.EqualFold(s, "daily") {
		return allDays, true
	}
	var set uint8
	for _, item := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(item, "-")
		from, ok := parseDay(a)
		if !ok {
			return 0, false
		}
		if !isRange {
			set |= 1 << from
			continue
		}
		to, ok := parseDay(b)
		if !ok || to == from {
			return 0, false
		}
		for d := from; ; d = (d + 1) % 7 {
			set |= 1 << d
			if d == to {
				break
			}
		}
	}
	return set, true
}

// parseClock reads exactly HH:MM; 24:00 only when allow24 (an end).
func parseClock(s string, allow24 bool) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	switch {
	case h == 24 && m == 0 && allow24:
		return 24 * 60, true
	case h > 23 || m > 59:
		return 0, false
	}
	return h*60 + m, true
}

func loadZone(name string) (*time.Location, bool) {
	// Local is whatever machine runs the workflow task: not a zone a
	// window can mean. The empty name is UTC to LoadLocation, but cannot
	// reach here (strings.Fields).
	if name == "Local" || name == "" {
		return nil, false
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	return loc, true
}

// IsZero reports whether sp is the zero Spec (not a window).
func (sp Spec) IsZero() bool { return sp.loc == nil }

// Location is the window's time zone.
func (sp Spec) Location() *time.Location { return sp.loc }

// String is the canonical form of the spec: Parse(sp.String()) is sp, and
// two specs that mean the same window have the same string ("mon-fri
// 22:00-00:00 UTC" and "Mon,Tue,Wed,Thu,Fri 22:00-24:00 UTC" are both
// "Mon-Fri 22:00-24:00 UTC"). The zero Spec's string is "".
func (sp Spec) String() string {
	if sp.IsZero() {
		return ""
	}
	return daysString(sp.days) + " " + clock(sp.start) + "-" + clock(sp.end) + " " + sp.loc.String()
}

// Equal reports whether two specs are the same window.
func (sp Spec) Equal(o Spec) bool { return sp.String() == o.String() }

func clock(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// daysString writes a day set as its canonical list: runs of two or more
// days as ranges (a run may wrap over the weekend, Fri-Mon), ordered from
// Monday by each run's first day.
func daysString(set uint8) string {
	if set == allDays {
		return "daily"
	}
	in := func(d int) bool { return set&(1<<((d+7)%7)) != 0 }
	var parts []string
	for i := 1; i <= 7; i++ { // Mon..Sat, then Sun (0)
		d := i % 7
		if !in(d) || in(d-1) {
			continue // not in the set, or not the first day of its run
		}
		// A day is missing (the set is not every day), so the run ends.
		end := d
		for in(end + 1) {
			end = (end + 1) % 7
		}
		if end == d {
			parts = append(parts, dayNames[d])
		} else {
			parts = append(parts, dayNames[d]+"-"+dayNames[end])
		}
	}
	return strings.Join(parts, ",")
}

// MarshalJSON writes the spec as its canonical string, so a workflow input
// reads as the operator wrote it and replays to the same window.
func (sp Spec) MarshalJSON() ([]byte, error) {
	if sp.IsZero() {
		return nil, fmt.Errorf("window: cannot marshal the zero Spec (make one with Parse)")
	}
	return json.Marshal(sp.String())
}

// UnmarshalJSON reads a spec string.
func (sp *Spec) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("window: a spec must be a JSON string such as \"Mon-Fri 01:00-05:00 Asia/Shanghai\": %w", err)
	}
	p, err := Parse(s)
	if err != nil {
		return err
	}
	*sp = p
	return nil
}
