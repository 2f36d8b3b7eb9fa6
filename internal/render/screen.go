package render

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/fleetmend/fleetmend/workflows"
)

// Screen is the terminal a report is printed on. A report of a
// 3,000-instance run has hundreds of rows of some 190 characters: on an
// 80-column terminal each would wrap into three lines and push the summary
// out of sight, so ReportOnScreen fits the report to the screen instead.
type Screen struct {
	// Width is the most runes a line may have (callers leave the last
	// column free: a line that fills it wraps on some terminals).
	Width int
	// Height is the terminal's lines; 0 when unknown.
	Height int
	// AllRows is the command that prints every row, e.g. `starter report
	// <run> --csv`, named when rows or columns are left out.
	AllRows string
}

// Rows a screen of unknown height shows, and the fewest any screen shows.
const (
	DefaultScreenRows = 40
	minScreenRows     = 5
)

// rows is how many table rows fit: the screen's height less the table's
// header, the blank line before it and two lines saying what was left out,
// so the table and its footer fit one screen.
func (sc Screen) rows() int {
	if sc.Height <= 0 {
		return DefaultScreenRows
	}
	return max(sc.Height-4, minScreenRows)
}

// ReportOnScreen writes a report like Report, fitted to a terminal: no line
// is wider than sc.Width (summary lines wrap; the table leaves out the
// BATCH, PROBLEM and ACTION columns, in that order from the right, while
// they do not fit, and cuts DETAIL with an ellipsis); failures come first
// (then instances not attempted, unknown and quarantined ones, then the
// rest, each in report order); at most a screenful of rows is shown, then
// one line says how many more there are and names sc.AllRows. A dry run's
// plan shows its first batches, each cut to the width.
func ReportOnScreen(w io.Writer, r workflows.Report, sc Screen) error {
	width := max(sc.Width, 1)
	var b strings.Builder
	line := func(s string, indent int) {
		for _, l := range wrap(s, width, indent) {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(summary(r), "\n"), "\n") {
		line(l, 4)
	}
	if len(r.Plan) > 0 {
		const planShown = 10
		b.WriteString("\nBATCHES\n")
		for _, p := range r.Plan[:min(len(r.Plan), planShown)] {
			b.WriteString(cut(fmt.Sprintf("  batch %d (%d): %s", p.Number, len(p.InstanceIDs), strings.Join(p.InstanceIDs, " ")), width) + "\n")
		}
		more := r.PlanOmitted
		for _, p := range r.Plan[min(len(r.Plan), planShown):] {
			more += len(p.InstanceIDs)
		}
		if more > 0 {
			line(fmt.Sprintf("  ... and %d more instances in later batches (%s)", more, planCommand(sc.AllRows)), 4)
		}
	}
	if len(r.Rows) > 0 {
		b.WriteString("\n")
		shown := screenOrder(r.Rows)
		hidden := 0
		if n := sc.rows(); len(shown) > n {
			hidden = len(shown) - n
			shown = shown[:n]
		}
		table, dropped, cutAny := fitTable(shown, width)
		for _, l := range table {
			b.WriteString(l + "\n")
		}
		if hidden > 0 || len(dropped) > 0 || cutAny {
			what := fmt.Sprintf("%d more rows (failures are shown first)", hidden)
			switch {
			case hidden == 0 && len(dropped) == 0:
				what = "the cut cells"
			case hidden == 0:
				what = "the " + strings.Join(dropped, ", ") + " columns"
			case len(dropped) > 0:
				what += " and the " + strings.Join(dropped, ", ") + " columns"
			}
			line(fmt.Sprintf("... %s: %s prints every row and column", what, sc.AllRows), 4)
		}
		if r.RowsOmitted > 0 {
			line(omittedLine(r), 4)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// planCommand is the command that prints a whole plan, from the one that
// prints every row: the plan is in the JSON report only.
func planCommand(allRows string) string {
	if s, ok := strings.CutSuffix(allRows, " --csv"); ok {
		return s + " --json"
	}
	return allRows
}

// screenOrder is the rows, failures first: the order a reader with one
// screen needs them in. The sort is stable, so each kind keeps its order.
func screenOrder(rows []workflows.Row) []workflows.Row {
	rank := func(r workflows.Row) int {
		switch r.Outcome {
		case workflows.OutcomeFailed:
			return 0
		case workflows.OutcomeNotAttempted:
			return 1
		case workflows.OutcomeUnknown, workflows.OutcomeQuarantined:
			return 2
		}
		return 3
	}
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b workflows.Row) int { return rank(a) - rank(b) })
	return out
}

// Column indexes of the table, and how narrow DETAIL may get before
// another column is left out instead.
const (
	colBatch   = 3
	colProblem = 4
	colAction  = 5
	colDetail  = 6
	minDetail  = 30
	colGap     = 2
)

// fitTable lays the rows out in at most width runes a line: columns as
// wide as their widest cell, two spaces apart; while DETAIL would be
// narrower than minDetail, ACTION, PROBLEM and BATCH are left out (in that
// order); DETAIL is cut to what is left, with an ellipsis, and a line
// that still does not fit (a very narrow screen) is cut too. It returns
// the lines (header first), the names of the columns left out, and whether
// any line was cut.
func fitTable(rows []workflows.Row, width int) ([]string, []string, bool) {
	header := rowColumns()
	cells := make([][]string, 0, len(rows)+1)
	cells = append(cells, header)
	for _, r := range rows {
		cells = append(cells, rowCells(r))
	}
	widths := make([]int, len(header))
	for _, cs := range cells {
		for i, c := range cs {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	keep := []int{0, 1, 2, colBatch, colProblem, colAction, colDetail}
	fixed := func() int { // the columns before DETAIL, with their gaps
		n := 0
		for _, i := range keep[:len(keep)-1] {
			n += widths[i] + colGap
		}
		return n
	}
	var dropped []string
	for _, drop := range []int{colAction, colProblem, colBatch} {
		if width-fixed() >= min(minDetail, widths[colDetail]) {
			break
		}
		keep = slices.DeleteFunc(keep, func(i int) bool { return i == drop })
		dropped = append([]string{header[drop]}, dropped...)
	}
	detail := max(width-fixed(), 1)
	lines := make([]string, 0, len(cells))
	cutAny := false
	for _, cs := range cells {
		var b strings.Builder
		for _, i := range keep {
			if i == colDetail {
				b.WriteString(cut(cs[i], detail))
				continue
			}
			b.WriteString(cs[i])
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cs[i])+colGap))
		}
		full := strings.TrimRight(b.String(), " ")
		l := cut(full, width)
		cutAny = cutAny || l != full || utf8.RuneCountInString(cs[colDetail]) > detail
		lines = append(lines, l)
	}
	return lines, dropped, cutAny
}

// cut shortens s to at most n runes, the last one an ellipsis when cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return truncateRunes("…", n)
	}
	return truncateRunes(s, n-1) + "…"
}

// wrap breaks s into lines of at most width runes at spaces, the lines
// after the first indented by indent spaces (a word longer than a line is
// cut). Leading spaces of s are kept: they are the summary's indentation.
func wrap(s string, width, indent int) []string {
	if utf8.RuneCountInString(s) <= width {
		return []string{s}
	}
	pad := strings.Repeat(" ", min(indent, max(width-1, 0)))
	cur := s[:len(s)-len(strings.TrimLeft(s, " "))]
	n, empty := len(cur), true // runes in cur; cur is only indentation
	var out []string
	for _, word := range strings.Fields(s) {
		wl := utf8.RuneCountInString(word)
		if !empty && n+1+wl > width {
			out = append(out, cur)
			cur, n, empty = pad, len(pad), true
		}
		if !empty {
			cur += " "
			n++
		}
		cur += word
		n += wl
		empty = false
		if n > width {
			out = append(out, cut(cur, width))
			cur, n, empty = pad, len(pad), true
		}
	}
	if !empty {
		out = append(out, cur)
	}
	return out
}
