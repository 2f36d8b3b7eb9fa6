package guard

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/ecs"
)

// Bounds of a guard's state. Its state is handed on at every
// continue-as-new and answered to a guard that replaces it, so it must stay
// well under Temporal's 512 KB payload warning (2 MB is refused) however
// long the guard lives and whatever the fleet: the ledger is bounded in
// bytes (failed instances pruned, oldest last failure first), everything
// else in count.
const (
	// maxLedgerBytes bounds the ledger's estimated JSON size: measured
	// (TestGuardStateStaysSmallAtItsBounds), it keeps some 5,200 instances
	// at 2 failures each and 1,150 at the 20 a run may count
	// (MaxQuarantineAfter), in about 300 KB of state.
	maxLedgerBytes      = 320 << 10
	maxFailsKept        = MaxQuarantineAfter
	guardEventsPerRun   = 2000
	maxClearReasonChars = 500
	maxGuardLog         = 20
	maxAppliedIDs       = 64
	maxNumbering        = 50
	maxRebootRefs       = 20
	maxNoteChars        = 500
)

// recoverHeartbeatTimeout is how long the recovery activity may go silent
// (it heartbeats between its reads) before it is retried elsewhere.
const recoverHeartbeatTimeout = 30 * time.Second

// guardRecovery is the version marker of guards that, when started anew
// (not by continue-as-new), recover the state of the guard run they
// replace before they answer anyone.
const guardRecovery = "guard-recovery"

// State is a region guard's whole state, handed on at continue-as-new.
type State struct {
	Region string  `json:"region"`
	Holder *Holder `json:"holder,omitempty"`
	// Ledger has one entry per instance with failed repairs, sorted by ID.
	Ledger []LedgerEntry `json:"ledger,omitempty"`
	// Runs are the run IDs ledger entries name (LedgerEntry.Run indexes it).
	Runs []string `json:"runs,omitempty"`
	// Log is the last lock, recovery, unlock and clear events, for whoever
	// reads the history.
	Log []string `json:"log,omitempty"`
	// Reboots are batches of holders that closed without verifying what
	// they rebooted: the next holder verifies their instances first.
	Reboots []RebootRef `json:"reboots,omitempty"`
	// Applied is the IDs of the last ledger updates applied, so a retried
	// activity's update is applied once.
	Applied []string `json:"applied,omitempty"`
	// Numbering is the last batch number of recent holders, by workflow ID:
	// a new run under the same ID numbers its batches after them.
	Numbering []Numbering `json:"numbering,omitempty"`
	// EventsPerRun, when set (50..2000), continues the guard as new at that
	// history length instead of the default 2,000: for tests.
	EventsPerRun int `json:"events_per_run,omitempty"`
}

// Numbering is the last batch number a run (workflow ID) used.
type Numbering struct {
	WorkflowID string `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Last       int    `json:"last"`
}

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

// RegionGuard grants a region to one acting run at a time, knows the
// batches that run may have open, and keeps the ledger of failed repairs
// that quarantines chronic instances. It is the only place where two runs'
// decisions meet, so it is a workflow: its updates are processed one at a
// time, durably, whatever starts the runs (CLI, schedules, the SDK). See
// WorkflowType for how runs reach it. It runs until
// cancelled, continuing as new to keep its history short; a guard started
// anew after one was terminated or cancelled recovers that one's state
// before it answers.
func RegionGuard(ctx workflow.Context, st State) error {
	// Updates delivered with the start may be handled as soon as their
	// handler is registered: whether the guard must recover first is
	// decided before.
	recovering := workflow.GetInfo(ctx).ContinuedExecutionRunID == "" &&
		workflow.GetVersion(ctx, guardRecovery, workflow.DefaultVersion, 1) == 1
	g := &guard{st: st, ready: !recovering}
	g.migrate()
	if err := g.register(ctx); err != nil {
		return err
	}
	if recovering {
		if err := g.recover(ctx); err != nil {
			if ctx.Err() != nil {
				return nil // cancelled while recovering
			}
			return fmt.Errorf("recover the guard of %s: %w", g.st.Region, err)
		}
		g.ready = true
	}
	limit := guardEventsPerRun
	if n := g.st.EventsPerRun; n >= MinEventsPerRun && n < limit {
		limit = n
	}
	if err := workflow.Await(ctx, func() bool {
		info := workflow.GetInfo(ctx)
		return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= limit
	}); err != nil {
		return nil // cancelled: an operator retired the guard; the next one recovers its state
	}
	// Let accepted updates finish before handing the state on.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return nil
	}
	return workflow.NewContinueAsNewError(ctx, RegionGuard, g.st)
}

type guard struct {
	st State
	// ready: the guard knows its state (recovery is over); updates wait.
	ready bool
}

func (g *guard) register(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAcquire, g.acquire,
		workflow.UpdateHandlerOptions{Validator: func(r AcquireRequest) error {
			if r.WorkflowID == "" {
				return errors.New("run_id is required")
			}
			return nil
		}}); err != nil {
		return fmt.Errorf("register acquire: %w", err)
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateRelease, g.release); err != nil {
		return fmt.Errorf("register release: %w", err)
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateRecord, g.record); err != nil {
		return fmt.Errorf("register record: %w", err)
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateFence, g.fence); err != nil {
		return fmt.Errorf("register fence: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateNote, g.note,
		workflow.UpdateHandlerOptions{Validator: func(r NoteRequest) error {
			if strings.TrimSpace(r.Note) == "" || len(r.Note) > maxNoteChars {
				return fmt.Errorf("note is %d characters, allowed 1..%d", len(r.Note), maxNoteChars)
			}
			return nil
		}}); err != nil {
		return fmt.Errorf("register note: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateClear, g.clear,
		workflow.UpdateHandlerOptions{Validator: func(r ClearRequest) error {
			switch {
			case strings.TrimSpace(r.Reason) == "":
				return errors.New("reason is required: say why the quarantine is lifted")
			case len(r.Reason) > maxClearReasonChars:
				return fmt.Errorf("reason is %d characters, allowed at most %d", len(r.Reason), maxClearReasonChars)
			}
			return ecs.ValidateInstanceIDs("instance_ids", r.InstanceIDs)
		}}); err != nil {
		return fmt.Errorf("register clear: %w", err)
	}
	if err := workflow.SetQueryHandler(ctx, QueryLedger, g.view); err != nil {
		return fmt.Errorf("register ledger query: %w", err)
	}
	if err := workflow.SetQueryHandler(ctx, QueryHolder, func() (HolderView, error) {
		return HolderView{Holder: g.st.Holder, Recovering: !g.ready, Reboots: g.st.Reboots, Log: g.st.Log}, nil
	}); err != nil {
		return fmt.Errorf("register holder query: %w", err)
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return g.st, nil }); err != nil {
		return fmt.Errorf("register state query: %w", err)
	}
	return nil
}

// awaitReady holds an update until the guard knows its state.
func (g *guard) awaitReady(ctx workflow.Context) error {
	return workflow.Await(ctx, func() bool { return g.ready })
}

// recover learns what the guard run this one replaces knew, and which open
// runs hold the region, before anything is granted. It retries until it
// can read them: granting blind could hand the region to a second run.
func (g *guard) recover(ctx workflow.Context) error {
	var a *Activities
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		HeartbeatTimeout:    recoverHeartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
		Summary:             "recover the state of the guard this one replaces, and the open runs that hold " + g.st.Region,
	})
	var res RecoverResult
	if err := workflow.ExecuteActivity(actx, a.RecoverGuard, RecoverInput{
		Region: g.st.Region, Self: workflow.GetInfo(ctx).WorkflowExecution.RunID,
	}).Get(ctx, &res); err != nil {
		return err
	}
	g.adopt(ctx, res)
	return nil
}

// adopt takes what recovery found: the previous guard's state, then any
// open run that holds the region without the guard knowing it.
func (g *guard) adopt(ctx workflow.Context, res RecoverResult) {
	var parts []string
	if len(res.State) > 0 {
		var prev State
		if err := json.Unmarshal(res.State, &prev); err != nil {
			parts = append(parts, "could not read the state of run "+res.From+": "+err.Error())
		} else {
			log := g.st.Log
			region := g.st.Region
			g.st = prev
			g.st.Region = region
			g.st.Log = append(prev.Log, log...)
			g.migrate()
			holder := "no holder"
			if h := g.st.Holder; h != nil {
				holder = "holder " + h.WorkflowID
			}
			parts = append(parts, fmt.Sprintf("recovered from run %s (%s): %s, %d ledger instances, %d batches of closed runs to verify",
				res.From, res.FromStatus, holder, len(g.st.Ledger), len(g.st.Reboots)))
		}
	} else {
		parts = append(parts, "no earlier guard run to recover from")
	}
	if res.Lost != "" {
		parts = append(parts, "lost: "+res.Lost)
	}
	for _, o := range res.Holders {
		h := g.st.Holder
		switch {
		case h == nil:
			g.st.Holder = &Holder{WorkflowID: o.WorkflowID, Execution: o.Execution, Current: o.Current, Batches: o.Batches,
				Since: workflow.Now(ctx), VerifyDeadline: MaxVerifyDeadline}
			what := "holds"
			if o.Unanswered {
				what = "may hold (it does not answer)"
			}
			parts = append(parts, fmt.Sprintf("open run %s %s the region: it keeps it", o.WorkflowID, what))
		case h.WorkflowID != o.WorkflowID:
			parts = append(parts, fmt.Sprintf("open run %s also says it holds the region; the recovered holder %s keeps it", o.WorkflowID, h.WorkflowID))
		}
	}
	g.log(ctx, strings.Join(parts, "; "))
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

// same says whether request r comes from the holder: the same workflow ID
// and the same execution (unknown executions, from runs recorded before
// they were kept, match by workflow ID).
func same(h *Holder, runID, execution string) bool {
	return h.WorkflowID == runID && (h.Execution == "" || execution == "" || h.Execution == execution)
}

func (g *guard) acquire(ctx workflow.Context, r AcquireRequest) (AcquireResult, error) {
	if err := g.awaitReady(ctx); err != nil {
		return AcquireResult{}, err
	}
	h := g.st.Holder
	switch {
	case h == nil || same(h, r.WorkflowID, r.Execution):
		// Free, or the holder asking again (a retried activity).
	case r.TakeoverFrom != "" && (r.TakeoverFrom == h.Execution || (h.Execution == "" && r.TakeoverFrom == h.WorkflowID)):
		g.retire(ctx, *h, fmt.Sprintf("%s took the region over from %s, which closed without releasing it and whose batches have all closed", r.WorkflowID, h.WorkflowID))
		g.st.Holder = nil
		res := g.grant(ctx, r)
		res.TookOver = h.WorkflowID
		return res, nil
	default:
		return AcquireResult{Granted: false, Holder: *h}, nil
	}
	return g.grant(ctx, r), nil
}

func (g *guard) grant(ctx workflow.Context, r AcquireRequest) AcquireResult {
	now := workflow.Now(ctx)
	g.pruneReboots(now)
	if g.st.Holder == nil {
		first := g.firstBatch(r.WorkflowID)
		g.st.Holder = &Holder{WorkflowID: r.WorkflowID, Kind: r.Kind, StartedBy: r.StartedBy, Since: now,
			Execution: r.Execution, Current: r.Execution, VerifyDeadline: r.VerifyDeadline,
			Batches: BatchRange{From: first, To: first - 1}, LastFence: now}
		g.log(ctx, "granted to "+r.WorkflowID)
	}
	h := g.st.Holder
	return AcquireResult{Granted: true, Holder: *h, FirstBatch: h.Batches.From,
		Inherit: slices.Clone(g.st.Reboots)}
}

// retire turns a holder that closed without verifying what it rebooted
// into the batches the next holder must verify first. Its batches have all
// closed, so every reboot they sent is older than now, and none can need
// verifying after now plus its verify deadline.
func (g *guard) retire(ctx workflow.Context, h Holder, why string) {
	g.number(h.WorkflowID, lastGranted(h))
	if h.Batches.Len() > 0 {
		deadline := h.VerifyDeadline
		if deadline <= 0 {
			deadline = MaxVerifyDeadline
		}
		g.st.Reboots = append(g.st.Reboots, RebootRef{WorkflowID: h.WorkflowID, Batches: h.Batches,
			Until: workflow.Now(ctx).Add(deadline), VerifyDeadline: deadline})
		if n := len(g.st.Reboots); n > maxRebootRefs {
			g.st.Reboots = slices.Clone(g.st.Reboots[n-maxRebootRefs:])
		}
		why += fmt.Sprintf("; its batches %d..%d are verified by the next holder before their instances are repaired", h.Batches.From, h.Batches.To)
	}
	g.log(ctx, why)
}

// lastGranted is the highest batch number a holder may have started: a
// new run under its workflow ID numbers its batches after it, so no batch
// ID is used twice.
func lastGranted(h Holder) int { return max(h.Fenced, h.Batches.To) }

func (g *guard) pruneReboots(now time.Time) {
	g.st.Reboots = slices.DeleteFunc(g.st.Reboots, func(r RebootRef) bool { return !r.Until.After(now) })
}

// firstBatch is the first batch number a new holder with workflow ID runID
// uses: after the batches earlier runs under that ID started.
func (g *guard) firstBatch(runID string) int {
	for _, n := range g.st.Numbering {
		if n.WorkflowID == runID {
			return n.Last + 1
		}
	}
	return 1
}

func (g *guard) number(runID string, last int) {
	if last <= 0 {
		return
	}
	g.st.Numbering = slices.DeleteFunc(g.st.Numbering, func(n Numbering) bool { return n.WorkflowID == runID })
	g.st.Numbering = append(g.st.Numbering, Numbering{WorkflowID: runID, Last: last})
	if n := len(g.st.Numbering); n > maxNumbering {
		g.st.Numbering = slices.Clone(g.st.Numbering[n-maxNumbering:])
	}
}

func (g *guard) release(ctx workflow.Context, r ReleaseRequest) (bool, error) {
	if err := g.awaitReady(ctx); err != nil {
		return false, err
	}
	h := g.st.Holder
	if h == nil || !same(h, r.WorkflowID, r.Execution) {
		return false, nil
	}
	if r.Verified {
		// It verified every reboot it sent and every one it inherited:
		// no instance of the region waits for a verify.
		g.number(h.WorkflowID, lastGranted(*h))
		g.st.Reboots = nil
		g.log(ctx, "released by "+r.WorkflowID)
	} else {
		g.retire(ctx, *h, "released by "+r.WorkflowID)
	}
	g.st.Holder = nil
	return true, nil
}

// fence confirms a holder before it starts batches and learns which of its
// batches may be open. A request from the holder's workflow ID and
// execution but another run that would start batches the guard already
// knows was started (a Reset to a point after the region was granted) is
// refused: those batches' IDs were used by the run before the reset.
func (g *guard) fence(ctx workflow.Context, r FenceRequest) (FenceResult, error) {
	if err := g.awaitReady(ctx); err != nil {
		return FenceResult{}, err
	}
	h := g.st.Holder
	switch {
	case h == nil:
		return FenceResult{Reason: "the region is not held by anyone (this run's hold was lost)"}, nil
	case !same(h, r.WorkflowID, r.Execution):
		return FenceResult{Reason: "the region is held by " + h.WorkflowID}, nil
	case r.Next > 0:
		if why := numbersReused(h, r); why != "" {
			return FenceResult{Reason: why}, nil
		}
	case r.Current != h.Current && r.Batches.To <= h.Batches.To && r.Batches.Len() > 0:
		return FenceResult{Reason: fmt.Sprintf("batches up to %d were started by run %s of %s, and run %s would start batch %d again (was it reset to a point after it acquired the region? reset it to its first workflow task instead)",
			h.Batches.To, h.Current, h.WorkflowID, r.Current, r.Batches.To)}, nil
	}
	h.Current = r.Current
	h.Batches = r.Batches
	h.LastFence = workflow.Now(ctx)
	h.Fenced = max(h.Fenced, h.Batches.To)
	if r.Next > 0 {
		h.Next = r.Next
	}
	return FenceResult{OK: true}, nil
}

// numbersReused says why a fence that names the first number it will start
// (FenceRequest.Next) would start a batch number the holder may already
// have used, or "". The same execution never goes back: numbers below its
// last Next may have been started. Another execution of the holder's chain
// (a continue-as-new successor, which numbers on past everything fenced, or
// a Reset, which cannot know which fenced numbers its predecessor started)
// must start above every number ever granted. So both ends of the range are
// checked, and no batch ID is used twice.
func numbersReused(h *Holder, r FenceRequest) string {
	granted := lastGranted(*h)
	switch {
	case r.Current == h.Current && r.Next < h.Next:
		return fmt.Sprintf("run %s of %s would start batch %d again: its last fence said it starts at %d", r.Current, r.WorkflowID, r.Next, h.Next)
	case r.Current != h.Current && r.Next <= granted:
		return fmt.Sprintf("batches up to %d may have been started by run %s of %s, and run %s would start batch %d (was it reset to a point after it acquired the region? reset it to its first workflow task instead)",
			granted, h.Current, h.WorkflowID, r.Current, r.Next)
	}
	return ""
}

func (g *guard) note(ctx workflow.Context, r NoteRequest) (bool, error) {
	if err := g.awaitReady(ctx); err != nil {
		return false, err
	}
	g.log(ctx, r.By+": "+r.Note)
	return true, nil
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

func (g *guard) log(ctx workflow.Context, msg string) {
	const maxLine = 800
	if len(msg) > maxLine {
		cut := maxLine - len("…")
		for cut > 0 && msg[cut]&0xC0 == 0x80 {
			cut-- // not in the middle of a UTF-8 sequence
		}
		msg = msg[:cut] + "…"
	}
	g.st.Log = append(g.st.Log, workflow.Now(ctx).UTC().Format(time.RFC3339)+" "+msg)
	if n := len(g.st.Log); n > maxGuardLog {
		g.st.Log = slices.Clone(g.st.Log[n-maxGuardLog:])
	}
	workflow.GetLogger(ctx).Info("region guard", "Region", g.st.Region, "Event", msg)
}
