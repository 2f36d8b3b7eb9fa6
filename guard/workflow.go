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

func (g *guard) note(ctx workflow.Context, r NoteRequest) (bool, error) {
	if err := g.awaitReady(ctx); err != nil {
		return false, err
	}
	g.log(ctx, r.By+": "+r.Note)
	return true, nil
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
