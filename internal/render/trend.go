package render

import (
	"fmt"
	"strings"
	"time"

	"github.com/fleetmend/fleetmend/workflows"
)

// maxListed is how many instance IDs a summary line names.
const maxListed = 10

// trend writes what changed since the previous run and the agent versions.
func trend(b *strings.Builder, r workflows.Report) {
	if t := r.Trend; t != nil {
		if t.Previous == "" {
			fmt.Fprintf(b, "  since the last run: %s\n", t.Note)
		} else {
			fmt.Fprintf(b, "  since %s (finished %s): %s\n", t.Previous, t.PreviousFinishedAt.UTC().Format(time.RFC3339), t.Summary())
			idLine(b, "new", t.New, t.NewIDs)
			idLine(b, "fixed", t.Fixed, t.FixedIDs)
			if t.Chronic > 0 {
				var parts []string
				for _, c := range t.ChronicInstances[:min(len(t.ChronicInstances), maxListed)] {
					parts = append(parts, fmt.Sprintf("%s (%d failed attempts, now %s)", c.InstanceID, c.Attempts, c.Now))
				}
				fmt.Fprintf(b, "    chronic %d: %s%s\n", t.Chronic, strings.Join(parts, ", "), more(t.Chronic, len(parts)))
			}
			idLine(b, "gone", t.Gone, t.GoneIDs)
			if t.NotRunning+t.Unseen > 0 {
				fmt.Fprintf(b, "    of those it left failing, %d are not running and %d could not be seen now\n", t.NotRunning, t.Unseen)
			}
			for _, l := range t.Limits {
				fmt.Fprintf(b, "    limit: %s\n", l)
			}
		}
	}
	if a := r.Agents; a != nil {
		var top []string
		for _, v := range a.Top {
			top = append(top, fmt.Sprintf("%s %s: %d", v.OSType, v.Version, v.Instances))
		}
		if a.Others > 0 {
			top = append(top, fmt.Sprintf("%d others", a.Others))
		}
		fmt.Fprintf(b, "  agent versions (%d reported, %d distinct): %s\n", a.Reported, a.Distinct, strings.Join(top, ", "))
		if a.TooOldCount > 0 {
			var old []string
			for _, o := range a.TooOld[:min(len(a.TooOld), maxListed)] {
				old = append(old, o.InstanceID+" "+o.Version)
			}
			fmt.Fprintf(b, "  too old for Session Manager (reported, not acted on) %d: %s%s\n", a.TooOldCount, strings.Join(old, ", "), more(a.TooOldCount, len(old)))
		}
	}
}

func idLine(b *strings.Builder, what string, n int, ids []string) {
	if n == 0 {
		return
	}
	shown := ids[:min(len(ids), maxListed)]
	fmt.Fprintf(b, "    %s %d: %s%s\n", what, n, strings.Join(shown, " "), more(n, len(shown)))
}

func more(n, shown int) string {
	if n > shown {
		return fmt.Sprintf(" and %d more", n-shown)
	}
	return ""
}
