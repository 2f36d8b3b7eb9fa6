package notify

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// EventKind names what happened. The names are wire values: they appear in
// the destinations' "events" lists, in runs' choices of events, and in the
// generic webhook's JSON.
type EventKind string

const (
	// ApprovalWaiting: a run paused for approval (after its canary). Reason
	// is the canary's result; Commands the exact resume and abort commands;
	// Links the run in the Web UI.
	ApprovalWaiting EventKind = "approval-waiting"
	// RunStopped: a run stopped before its end. Code says by what (the
	// run's report reason: canary, error-budget, short-circuit,
	// account-error, region-lost, ...), Reason says it in one line.
	RunStopped EventKind = "run-stopped"
	// RunCompletedWithFailures: a run completed, and some instances failed
	// or were quarantined. Counts and the first Failures.
	RunCompletedWithFailures EventKind = "run-completed-with-failures"
	// HolderStuck: the run holding a region has made no progress for long.
	HolderStuck EventKind = "holder-stuck"
	// FreezeSet: a region was frozen, by Actor, until Until, because Reason.
	FreezeSet EventKind = "freeze-set"
	// FreezeLifted: a region's freeze was lifted (by Actor, or because it
	// expired).
	FreezeLifted EventKind = "freeze-lifted"
)

// EventKinds returns every kind, in a fixed order.
func EventKinds() []EventKind {
	return []EventKind{ApprovalWaiting, RunStopped, RunCompletedWithFailures, HolderStuck, FreezeSet, FreezeLifted}
}

// Valid reports whether k is a known kind.
func (k EventKind) Valid() bool {
	for _, v := range EventKinds() {
		if k == v {
			return true
		}
	}
	return false
}

func kindList() string {
	var names []string
	for _, k := range EventKinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// Limits that keep an event small: it is built in workflow code and
// passes through the history, and a chat message is read on a phone.
const (
	MaxReasonLen = 500 // bytes of Reason
	MaxFailures  = 10  // Failures carried (the total is in Counts)
	MaxCounts    = 12
	MaxLinks     = 5
	MaxCommands  = 5
	MaxFieldLen  = 300 // bytes of any other text field
)

// Event is what the engine reports. It carries no secret (destinations,
// URLs and signing secrets are the worker's configuration, never an
// event's), so it may be built in workflow code and recorded in the
// history. Every text field is one line; a line break is shown as a space.
type Event struct {
	Kind EventKind `json:"kind"`
	// At is when it happened (workflow.Now in a workflow).
	At     time.Time `json:"at"`
	Region string    `json:"region"`
	// WorkflowID and RunID name the run (Temporal's workflow ID and run
	// ID); for holder-stuck, the holder. Empty for freeze events.
	WorkflowID string `json:"workflow_id,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	// Code is a reason code: required for run-stopped (the run's report
	// reason, e.g. error-budget), optional otherwise.
	Code string `json:"code,omitempty"`
	// Reason is what happened, in one line.
	Reason string `json:"reason"`
	// Counts are the figures that matter for this event, in the order to
	// show them (e.g. unhealthy, remediated, failed, quarantined).
	Counts []Count `json:"counts,omitempty"`
	// Failures are the first failures (at most MaxFailures).
	Failures []Failure `json:"failures,omitempty"`
	// Actor is who did it (a freeze's setter), when a person did.
	Actor string `json:"actor,omitempty"`
	// Until is when a freeze expires (freeze-set).
	Until time.Time `json:"until,omitzero"`
	// Commands are exact command lines to act on the event, e.g.
	// `starter resume <run> --reason "…"`.
	Commands []string `json:"commands,omitempty"`
	// Links are where to look, e.g. the run in the Web UI.
	Links []Link `json:"links,omitempty"`
}

// Count is one named figure.
type Count struct {
	Name  string `json:"name"`
	Value int    `json:"value"`
}

// Failure is one instance that failed.
type Failure struct {
	InstanceID string `json:"instance_id"`
	Reason     string `json:"reason"`           // the report's reason code, e.g. no-heartbeat
	Detail     string `json:"detail,omitempty"` // one line
}

// Link is a labelled http(s) URL. Not a place for credentials: it is
// shown to everyone in the chat and recorded in the history.
type Link struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// Validate checks an event before it is sent (and is cheap enough to call
// in workflow code before the event enters the history): a known kind, a
// region and a reason, what the kind needs, and the limits above. Errors
// name the field.
func (e Event) Validate() error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("notify event %s: "+format, append([]any{e.Kind}, a...)...)
	}
	if !e.Kind.Valid() {
		return fmt.Errorf("notify event: kind %q must be one of %s", e.Kind, kindList())
	}
	if e.Region == "" {
		return fail("region is required")
	}
	if strings.TrimSpace(e.Reason) == "" {
		return fail("reason is required (one line: what happened)")
	}
	if len(e.Reason) > MaxReasonLen {
		return fail("reason is %d bytes; at most %d", len(e.Reason), MaxReasonLen)
	}
	switch e.Kind {
	case ApprovalWaiting, RunStopped, RunCompletedWithFailures, HolderStuck:
		if e.WorkflowID == "" {
			return fail("workflow_id is required (the run)")
		}
	case FreezeSet:
		if e.Until.IsZero() {
			return fail("until is required (when the freeze expires)")
		}
	}
	if e.Kind == RunStopped && e.Code == "" {
		return fail("code is required (what stopped the run, e.g. error-budget)")
	}
	// A slice, not a map: Validate may run in workflow code, where the
	// same event must give the same error on every replay.
	for _, f := range [][2]string{{"region", e.Region}, {"workflow_id", e.WorkflowID}, {"run_id", e.RunID}, {"code", e.Code}, {"actor", e.Actor}} {
		if len(f[1]) > MaxFieldLen {
			return fail("%s is %d bytes; at most %d", f[0], len(f[1]), MaxFieldLen)
		}
	}
	switch {
	case len(e.Counts) > MaxCounts:
		return fail("%d counts; at most %d", len(e.Counts), MaxCounts)
	case len(e.Failures) > MaxFailures:
		return fail("%d failures; at most %d (the first ones: the total belongs in counts)", len(e.Failures), MaxFailures)
	case len(e.Commands) > MaxCommands:
		return fail("%d commands; at most %d", len(e.Commands), MaxCommands)
	case len(e.Links) > MaxLinks:
		return fail("%d links; at most %d", len(e.Links), MaxLinks)
	}
	for i, c := range e.Counts {
		if c.Name == "" || len(c.Name) > MaxFieldLen {
			return fail("counts[%d]: name must be 1..%d bytes", i, MaxFieldLen)
		}
	}
	for i, f := range e.Failures {
		if f.InstanceID == "" || len(f.InstanceID)+len(f.Reason)+len(f.Detail) > MaxFieldLen {
			return fail("failures[%d]: instance_id is required, and the failure at most %d bytes", i, MaxFieldLen)
		}
	}
	for i, c := range e.Commands {
		if strings.TrimSpace(c) == "" || len(c) > MaxFieldLen {
			return fail("commands[%d] must be 1..%d bytes", i, MaxFieldLen)
		}
	}
	for i, l := range e.Links {
		if l.Label == "" || len(l.Label) > MaxFieldLen {
			return fail("links[%d]: label must be 1..%d bytes", i, MaxFieldLen)
		}
		if !httpURL(l.URL) || len(l.URL) > 2*MaxFieldLen {
			return fail("links[%d] (%s): url must be an http(s) URL of at most %d bytes", i, l.Label, 2*MaxFieldLen)
		}
	}
	return nil
}

// httpURL reports whether s is an absolute http or https URL with a host.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
