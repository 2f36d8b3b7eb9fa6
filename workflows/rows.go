package workflows

import "slices"

// Limits of a report's rows. Temporal refuses payloads over 2 MB and warns
// from 512 KB; a report is a workflow result and, at continue-as-new, part
// of the next run's input, so its rows are capped in bytes, not only in
// number.
const (
	DefaultMaxReportBytes = 256 << 10
	MinMaxReportBytes     = 16 << 10
	MaxMaxReportBytes     = 256 << 10
	// maxDetailLen keeps one error text from eating the budget.
	maxDetailLen = 300
	// rowOverhead is a row's JSON keys, quotes and batch number.
	rowOverhead = 100
)

// rowBook keeps a report's rows within a count and a byte budget. When a
// row does not fit, the least important row goes (the new one, if nothing
// kept matters less): failures are kept before instances that were not
// attempted, those before unknown and quarantined ones, those before
// successes, and skips go first.
type rowBook struct {
	Rows    []Row `json:"rows,omitempty"`
	Bytes   int   `json:"bytes,omitempty"`
	Omitted int   `json:"omitted,omitempty"`
	// Floor is the highest priority of a row left out so far: rows below it
	// are left out too, so a skip never takes the place of a failure.
	Floor int `json:"floor,omitempty"`
}

// rowPriority orders rows by how much a reader needs them. Managed
// instances are with the skips: nothing fleetmend could do, and counted in
// full whatever rows are left out.
func rowPriority(r Row) int {
	switch r.Outcome {
	case OutcomeFailed:
		return 5
	case OutcomeNotAttempted:
		return 4
	case OutcomeUnknown, OutcomeQuarantined:
		return 3
	case OutcomeRemediated, OutcomePlanned:
		return 2
	case OutcomeAlreadyHealthy, OutcomeExcluded:
		return 1
	}
	return 0 // not-running, managed and anything else skipped
}

func rowSize(r Row) int {
	return rowOverhead + len(r.InstanceID) + len(r.Outcome) + len(r.Reason) + len(r.Detail) + len(r.Problem) + len(r.Action)
}

// shorten cuts a text to n bytes at a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// add keeps row if it fits, evicting less important rows if needed.
func (b *rowBook) add(row Row, maxRows, maxBytes int) {
	row.Detail = shorten(row.Detail, maxDetailLen)
	size := rowSize(row)
	p := rowPriority(row)
	if p < b.Floor {
		b.Omitted++
		return
	}
	for len(b.Rows) >= maxRows || b.Bytes+size > maxBytes {
		i := b.leastImportant()
		if i < 0 || rowPriority(b.Rows[i]) >= p {
			b.Omitted++
			b.Floor = max(b.Floor, p)
			return
		}
		b.Floor = max(b.Floor, rowPriority(b.Rows[i]))
		b.Bytes -= rowSize(b.Rows[i])
		b.Rows = append(b.Rows[:i], b.Rows[i+1:]...)
		b.Omitted++
	}
	b.Rows = append(b.Rows, row)
	b.Bytes += size
}

// leastImportant is the index of the newest row of the lowest priority, or
// -1 when there are no rows.
func (b *rowBook) leastImportant() int {
	best, bestP := -1, 1<<30
	for i := len(b.Rows) - 1; i >= 0; i-- {
		if p := rowPriority(b.Rows[i]); p < bestP {
			best, bestP = i, p
			if p == 0 {
				break
			}
		}
	}
	return best
}

// shrink leaves out rows, least important first (and the newest of a
// priority first, as add does), until at least n bytes of JSON are freed
// or no row is left. It returns how many rows it left out.
func (b *rowBook) shrink(n int) int {
	order := make([]int, len(b.Rows))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int {
		if px, py := rowPriority(b.Rows[x]), rowPriority(b.Rows[y]); px != py {
			return px - py
		}
		return y - x
	})
	drop := make([]bool, len(b.Rows))
	freed, dropped := 0, 0
	for _, i := range order {
		if freed >= n {
			break
		}
		drop[i] = true
		freed += rowSize(b.Rows[i])
		b.Floor = max(b.Floor, rowPriority(b.Rows[i]))
		dropped++
	}
	kept := b.Rows[:0]
	for i, r := range b.Rows {
		if !drop[i] {
			kept = append(kept, r)
		}
	}
	b.Rows = kept
	b.Bytes -= freed
	b.Omitted += dropped
	return dropped
}
