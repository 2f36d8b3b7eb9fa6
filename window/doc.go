// Package window is fleetmend's change windows: when the organisation
// allows installs and reboots, written the way change calendars write it,
// "Mon-Fri 01:00-05:00 Asia/Shanghai".
//
// It exists apart from the engine because the engine must decide, inside
// deterministic workflow code, whether a batch may start now and how long
// to wait for the next window. So this package imports only the standard
// library, does no I/O and reads no clock: every answer is a function of a
// parsed Spec and an instant the caller gives it (workflow.Now in a
// workflow). A Spec marshals to JSON as its canonical string, so a
// workflow input that carries windows replays to the same windows.
//
// # Syntax
//
// A spec is three fields separated by spaces: days, a time range and an
// IANA time zone.
//
//   - Days: a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun; the full English name
//     and any letter case are accepted too), a range of days (Mon-Fri, or
//     Fri-Mon, which wraps over the weekend: Fri, Sat, Sun, Mon), a comma
//     list of days and ranges (Mon,Wed,Sat or Mon-Wed,Fri), or "daily" (or
//     "*") for every day. A range of one day (Mon-Mon) is refused as
//     ambiguous. Days are those on which a window OPENS.
//   - Time range: HH:MM-HH:MM in the zone's wall-clock time, 24-hour, two
//     digits each. The start is 00:00..23:59, the end 00:00..24:00. An end
//     at or before the start crosses midnight: "Sat 22:00-02:00" opens on
//     Saturday at 22:00 and closes on Sunday at 02:00. 24:00 (or 00:00) as
//     the end means the next midnight; 00:00-24:00 is the whole day. A start
//     equal to the end (01:00-01:00) is refused as empty rather than read as
//     24 hours, because it is far more often a typo than a wish.
//   - Zone: required, an IANA name such as Asia/Shanghai, Europe/Berlin or
//     UTC. There is no default: "01:00" means different instants for a team
//     in Hangzhou and one in Frankfurt, and a guessed zone would reboot at
//     the wrong hour without a word. "Local" is refused (it depends on the
//     machine that happens to run the workflow task).
//
// Zone data is embedded (time/tzdata), so a minimal container without a
// zoneinfo database still knows every zone. The standard library prefers
// the system's database when there is one; workers that replay each other's
// histories should therefore run the same image.
//
// # Daylight saving time
//
// A window opens (closes) the first time the zone's wall clock reads, or
// jumps past, its start (end) time on that date:
//
//   - A time that does not exist that day, inside a spring-forward gap, is
//     taken as the first instant after the gap: in America/New_York on the
//     day clocks go from 02:00 to 03:00, a window starting at 02:30 opens at
//     03:00 EDT, and one ending at 02:30 closes at 03:00 EDT. A window that
//     lies wholly inside the gap does not occur that day.
//   - A time that occurs twice, in a fall-back hour, is taken at its first
//     occurrence (the earlier instant, still on daylight time). A window is
//     never opened twice on one date by the repeated hour.
//
// So a window across midnight is an hour shorter, or longer, in real time on
// the night the clocks change, as a person reading the wall clock expects.
//
// # Sets
//
// A Set is what a run is given (the --window flag is repeatable): it is
// open when any of its windows is open; windows that overlap or touch merge
// into one open period. An empty Set is always open, so a run given no
// window behaves as before windows existed. State answers whether a Set is
// open at an instant, when the open period ends or when the next one
// begins, looking at most Horizon ahead, so every call terminates.
package window
