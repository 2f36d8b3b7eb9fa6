package guard

import "time"

// Limits the guard holds runs to, and the run input limits it relies on
// (the workflows package validates a run's input against these same
// values).
const (
	// MaxVerifyDeadline is the longest verify deadline a run may have: a
	// holder whose deadline is unknown (granted before it was kept) is
	// held to it.
	MaxVerifyDeadline = 2 * time.Hour
	// MaxQuarantineAfter is the most failed repairs a run may count before
	// quarantine, and so the most the ledger keeps per instance.
	MaxQuarantineAfter = 20
	// MaxQuarantineWindow is the longest window a run may ask the ledger
	// about: older failures are pruned.
	MaxQuarantineWindow = 90 * 24 * time.Hour
	// MinEventsPerRun is the shortest history at which a run or the guard
	// may be made to continue as new (tests use it).
	MinEventsPerRun = 50
	// MaxInherited bounds the instances a run takes over to verify from
	// runs that closed without verifying them: they are carried in the
	// run's state. A takeover that would inherit more waits out the
	// deadline instead (see AcquireResult.Inherit).
	MaxInherited = 1000
)

// The failures the ledger keeps, by their reason as runs report it.
const (
	ReasonNoHeartbeat   = "no-heartbeat"
	ReasonInstallFailed = "install-failed"
)
