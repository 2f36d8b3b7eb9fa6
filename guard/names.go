package guard

import (
	"fmt"
	"strings"
	"time"
)

// Every name fleetmend's workflows are known by is written here, once:
// the registered workflow types, the guard's updates and queries, the
// run's progress query the guard asks, the search attribute that holds a
// run's region, and the workflow ID schemes. Everything else imports them
// (a test fails on a fleetmend workflow ID or type name written as a string
// literal elsewhere).
const (
	// WorkflowType is the region guard's registered type, RunWorkflowType
	// a region's run's, BatchWorkflowType a batch's, FleetWorkflowType a
	// fleet run's. Recorded histories name them: they never change.
	WorkflowType      = "RegionGuard"
	RunWorkflowType   = "RemediateRegion"
	BatchWorkflowType = "RemediateBatch"
	FleetWorkflowType = "RemediateFleet"

	// The guard's updates.
	UpdateAcquire = "acquire"
	UpdateRelease = "release"
	UpdateRecord  = "record"
	UpdateClear   = "clear"
	UpdateFence   = "fence"
	UpdateNote    = "note"
	// QueryLedger answers the ledger as of a time (LedgerView).
	QueryLedger = "ledger"
	// QueryHolder answers who holds the region (HolderView): what a
	// batch asks before it installs or reboots. A query adds nothing to
	// the guard's history.
	QueryHolder = "holder"
	// QueryState answers the guard's whole state: what a guard that
	// replaces a terminated or cancelled one recovers from.
	QueryState = "state"

	// QueryRunProgress is a run's progress query, which the guard's
	// activities ask a holder (ProgressProbe) and a recovering guard asks
	// every open run of its region.
	QueryRunProgress = "progress"
	// RegionAttribute is the search attribute that holds a run's region.
	RegionAttribute = "FleetmendRegion"
)

// Workflow IDs: fleetmend/<region>/… for a region's guard, runs and
// batches; fleetmend/fleet/… for fleet runs.
const (
	idRoot     = "fleetmend"
	fleetScope = "fleet"
	// IDTime is the layout of the time in a generated run ID (UTC).
	IDTime = "20060102T150405Z"
)

// WorkflowID is the guard of region: fleetmend/<region>/guard.
func WorkflowID(region string) string { return regionScope(region) + "guard" }

// RunWorkflowID is a run of region started at at: fleetmend/<region>/<label>-<time>,
// where label says who or what started it (manual, dryrun, apply, demo,
// bench).
func RunWorkflowID(region, label string, at time.Time) string {
	return regionScope(region) + label + "-" + at.UTC().Format(IDTime)
}

// ScheduleID is the ID of region's schedule (named name, or the region's
// default schedule when name is empty), which its runs' workflow IDs
// start with (Temporal appends the scheduled time):
// fleetmend/<region>/scheduled[-<name>].
func ScheduleID(region, name string) string { return scheduleID(regionScope(region), name) }

// FleetScheduleID is the ID of a fleet schedule: fleetmend/fleet/scheduled[-<name>].
func FleetScheduleID(name string) string { return scheduleID(idRoot+"/"+fleetScope+"/", name) }

func scheduleID(scope, name string) string {
	if name == "" {
		return scope + "scheduled"
	}
	return scope + "scheduled-" + name
}

// BatchWorkflowID is batch n of the run with workflow ID run: <run>/batch-<n>.
func BatchWorkflowID(run string, n int) string { return fmt.Sprintf("%s/batch-%d", run, n) }

// BatchPrefix is what every batch ID of the run with workflow ID run
// starts with (for visibility's STARTS_WITH).
func BatchPrefix(run string) string { return run + "/batch-" }

// FleetWorkflowID is a fleet run started at at: fleetmend/fleet/<label>-<time>.
func FleetWorkflowID(label string, at time.Time) string {
	return idRoot + "/" + fleetScope + "/" + label + "-" + at.UTC().Format(IDTime)
}

// FleetChildID is the workflow ID of region's run in the fleet run
// fleetID: fleetmend/<region>/fleet-<name>, where name is what follows
// fleetmend/fleet/ in the fleet run's ID (its kind and time), so the
// region's runs list it next to its other runs.
func FleetChildID(fleetID, region string) string {
	name, ok := strings.CutPrefix(fleetID, idRoot+"/"+fleetScope+"/")
	if !ok {
		name = strings.ReplaceAll(fleetID, "/", "-")
	}
	return regionScope(region) + fleetScope + "-" + name
}

func regionScope(region string) string { return idRoot + "/" + region + "/" }
