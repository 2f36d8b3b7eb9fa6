package guard

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// The ledger of failed repairs that quarantines chronic instances.

// LedgerEntry is one instance's failed repairs. Each failure is kept as
// what quarantine needs, its time and reason; the run is kept for the last.
type LedgerEntry struct {
	InstanceID string `json:"i"`
	// Fails are the failures, oldest first: Unix seconds, times two, plus
	// one when the reason is install-failed (the other reason is
	// no-heartbeat). At most maxFailsKept.
	Fails []int64 `json:"f,omitempty"`
	// Run indexes State.Runs: the run of the last failure.
	Run int `json:"r"`
	// Attempts is the form guards before guardRecovery kept; it is turned
	// into Fails when such a state is read.
	Attempts []Attempt `json:"a,omitempty"`
}

func encodeFail(at time.Time, reason string) int64 {
	v := at.Unix() * 2
	if reason == ReasonInstallFailed {
		v++
	}
	return v
}

func decodeFail(v int64) (time.Time, string) {
	reason := ReasonNoHeartbeat
	if v%2 != 0 {
		reason = ReasonInstallFailed
	}
	return time.Unix(v/2, 0).UTC(), reason
}

// migrate turns ledger entries of the form earlier guards kept into the
// compact one.
func (g *guard) migrate() {
	for i := range g.st.Ledger {
		e := &g.st.Ledger[i]
		if len(e.Attempts) == 0 {
			continue
		}
		for _, a := range e.Attempts {
			e.Fails = append(e.Fails, encodeFail(a.At, a.Reason))
		}
		e.Run = g.runIndex(e.Attempts[len(e.Attempts)-1].WorkflowID)
		e.Attempts = nil
		if n := len(e.Fails); n > maxFailsKept {
			e.Fails = slices.Clone(e.Fails[n-maxFailsKept:])
		}
	}
}

func (g *guard) record(ctx workflow.Context, r RecordRequest) (int, error) {
	if err := g.awaitReady(ctx); err != nil {
		return 0, err
	}
	if r.ID != "" {
		if slices.Contains(g.st.Applied, r.ID) {
			return len(g.st.Ledger), nil // a retry of an update already applied
		}
		g.st.Applied = append(g.st.Applied, r.ID)
		if n := len(g.st.Applied); n > maxAppliedIDs {
			g.st.Applied = slices.Clone(g.st.Applied[n-maxAppliedIDs:])
		}
	}
	for _, id := range r.Healed {
		g.forget(id)
	}
	for _, f := range r.Failed {
		i, found := g.find(f.InstanceID)
		if !found {
			g.st.Ledger = slices.Insert(g.st.Ledger, i, LedgerEntry{InstanceID: f.InstanceID})
		}
		e := &g.st.Ledger[i]
		e.Fails = append(e.Fails, encodeFail(f.At, f.Reason))
		e.Run = g.runIndex(f.WorkflowID)
		if n := len(e.Fails); n > maxFailsKept {
			e.Fails = slices.Clone(e.Fails[n-maxFailsKept:])
		}
	}
	g.prune(workflow.Now(ctx))
	return len(g.st.Ledger), nil
}

// runIndex is run's index in the runs table, adding it if needed.
func (g *guard) runIndex(run string) int {
	if i := slices.Index(g.st.Runs, run); i >= 0 {
		return i
	}
	g.st.Runs = append(g.st.Runs, run)
	return len(g.st.Runs) - 1
}

func (g *guard) clear(ctx workflow.Context, r ClearRequest) (ClearResult, error) {
	if err := g.awaitReady(ctx); err != nil {
		return ClearResult{}, err
	}
	var res ClearResult
	if len(r.InstanceIDs) == 0 {
		for _, e := range g.st.Ledger {
			res.Cleared = append(res.Cleared, e.InstanceID)
		}
		g.st.Ledger = nil
	} else {
		for _, id := range r.InstanceIDs {
			if g.forget(id) {
				res.Cleared = append(res.Cleared, id)
			}
		}
	}
	g.compactRuns()
	g.log(ctx, fmt.Sprintf("%s cleared %d instances: %s", r.By, len(res.Cleared), r.Reason))
	return res, nil
}

// view answers the ledger query. Queries must not change state, and "now"
// comes from the caller: a query handler has no clock of its own.
func (g *guard) view(q LedgerQuery) (LedgerView, error) {
	v := LedgerView{Holder: g.st.Holder}
	from := q.Now.Add(-q.Window)
	for _, e := range g.st.Ledger {
		var in []Attempt
		for _, f := range e.Fails {
			if at, reason := decodeFail(f); at.After(from) {
				in = append(in, Attempt{At: at, Reason: reason})
			}
		}
		if len(in) == 0 {
			continue
		}
		if e.Run >= 0 && e.Run < len(g.st.Runs) {
			in[len(in)-1].WorkflowID = g.st.Runs[e.Run]
		}
		rec := InstanceRecord{InstanceID: e.InstanceID, Attempts: in}
		if q.After > 0 && len(in) >= q.After {
			rec.Quarantined = true
			// The quarantine lifts when the oldest counted failure leaves
			// the window, i.e. when fewer than After remain in it.
			rec.Until = in[len(in)-q.After].At.Add(q.Window)
		}
		v.Records = append(v.Records, rec)
	}
	return v, nil
}

func (g *guard) find(id string) (int, bool) {
	return slices.BinarySearchFunc(g.st.Ledger, id, func(e LedgerEntry, id string) int { return strings.Compare(e.InstanceID, id) })
}

func (g *guard) forget(id string) bool {
	i, found := g.find(id)
	if found {
		g.st.Ledger = slices.Delete(g.st.Ledger, i, i+1)
	}
	return found
}

// entryBytes estimates one ledger entry's JSON size.
func entryBytes(e LedgerEntry) int { return len(e.InstanceID) + 12*len(e.Fails) + 24 }

// prune drops failures older than the longest window any run may ask
// about, then, while the ledger is over its byte bound, the instances
// whose last failure is oldest.
func (g *guard) prune(now time.Time) {
	from := now.Add(-MaxQuarantineWindow).Unix() * 2
	kept := g.st.Ledger[:0]
	size := 0
	for _, e := range g.st.Ledger {
		e.Fails = slices.DeleteFunc(e.Fails, func(f int64) bool { return f <= from+1 })
		if len(e.Fails) > 0 {
			kept = append(kept, e)
			size += entryBytes(e)
		}
	}
	g.st.Ledger = kept
	g.compactRuns()
	for _, r := range g.st.Runs {
		size += len(r) + 3
	}
	if size <= maxLedgerBytes {
		return
	}
	// Over the bound: drop oldest-last-failure first. Sorting a copy by
	// last failure keeps this O(n log n) for a full ledger.
	order := make([]int, len(g.st.Ledger))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		fa, fb := g.st.Ledger[a].Fails, g.st.Ledger[b].Fails
		return cmpInt64(fa[len(fa)-1], fb[len(fb)-1])
	})
	drop := make([]bool, len(g.st.Ledger))
	for _, i := range order {
		if size <= maxLedgerBytes {
			break
		}
		drop[i] = true
		size -= entryBytes(g.st.Ledger[i])
	}
	kept = g.st.Ledger[:0]
	for i, e := range g.st.Ledger {
		if !drop[i] {
			kept = append(kept, e)
		}
	}
	g.st.Ledger = kept
	g.compactRuns()
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compactRuns drops run IDs no ledger entry names any more, renumbering
// the entries' references.
func (g *guard) compactRuns() {
	used := make([]int, len(g.st.Runs))
	for i := range used {
		used[i] = -1
	}
	var runs []string
	for i := range g.st.Ledger {
		e := &g.st.Ledger[i]
		if e.Run < 0 || e.Run >= len(g.st.Runs) {
			continue
		}
		if used[e.Run] < 0 {
			used[e.Run] = len(runs)
			runs = append(runs, g.st.Runs[e.Run])
		}
		e.Run = used[e.Run]
	}
	g.st.Runs = runs
}
