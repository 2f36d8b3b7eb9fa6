package workflows

import (
	"time"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/guard"
)

// Outcomes of one instance in a run.
const (
	OutcomeRemediated     = "remediated"      // agent reports a fresh heartbeat after the repair
	OutcomeAlreadyHealthy = "already-healthy" // recovered before the batch acted: left alone
	OutcomeNotRunning     = "not-running"     // skipped: not Running, never touched
	OutcomeFailed         = "failed"          // see Reason
	OutcomePlanned        = "planned"         // dry run: what a real run would do
	OutcomeNotAttempted   = "not-attempted"   // found unhealthy, but the run stopped first (see Reason)
	OutcomeUnknown        = "unknown"         // an ECS answer did not cover it: never acted on
	OutcomeExcluded       = "excluded"        // opt-out tag or exclude list: never touched
	OutcomeQuarantined    = "quarantined"     // failed repeatedly in earlier runs: not touched until cleared
	// OutcomeManaged: a managed instance (mi-…, a server outside ECS) in
	// the region's listing: reported with its agent, never repaired.
	OutcomeManaged = "managed"
)

// Failure (and not-attempted) reasons.
const (
	ReasonInstallFailed = guard.ReasonInstallFailed // InstallCloudAssistant refused the instance
	ReasonRebootRefused = "reboot-refused"          // RebootInstances refused the instance
	ReasonNoHeartbeat   = guard.ReasonNoHeartbeat   // no fresh heartbeat by the verify deadline
	// ReasonRebootUnconfirmed: no fresh heartbeat, and a worker died between
	// sending the reboot and hearing ECS, so it was not rebooted again.
	ReasonRebootUnconfirmed = "reboot-unconfirmed"
	// ReasonUnverified: its verify deadline passed while the agent status
	// polls failed, so whether it healed is unknown.
	ReasonUnverified = "unverified"
	// ReasonInheritedNoHeartbeat: rebooted by a run that closed without
	// verifying it, and no heartbeat by its deadline in this one.
	ReasonInheritedNoHeartbeat = "inherited-no-heartbeat"
	ReasonVanished             = "vanished"      // the instance no longer exists
	ReasonBatchError           = "batch-error"   // the batch could not run
	ReasonNotFound             = "not-found"     // an instance ID given to the run does not exist
	ReasonAccountError         = "account-error" // an ECS error no call with these credentials can overcome
	// ReasonAPIError: the ECS API kept failing (throttling, 5xx, transport)
	// past the retries: the API's fault, not the instance's (engine 4).
	ReasonAPIError = "api-error"
	// Not attempted because ...
	ReasonCancelled    = "cancelled"     // the run was cancelled
	ReasonAborted      = "aborted"       // an operator aborted the run
	ReasonErrorBudget  = "error-budget"  // the run's error budget was exhausted
	ReasonShortCircuit = "short-circuit" // too many unhealthy agents: a systemic cause is likely
	ReasonStopped      = "run-stopped"   // the run stopped on an account-level error or a failing scan
	ReasonDeferred     = "deferred"      // more candidates than one run queues: the next run takes them
	ReasonRegionLost   = "region-lost"   // the run no longer holds its region (its guard says another does)
	ReasonUnlocked     = "unlocked"      // an operator unlocked the region: the run starts nothing more
	ReasonCanary       = "canary"        // a wave of the rollout (the canary, a ramp step) failed its gate
)

// Problems found by the scan.
const (
	ProblemAgentMissing = activities.ProblemAgentMissing // never sent a heartbeat
	ProblemAgentSilent  = activities.ProblemAgentSilent  // installed, no heartbeat in the last 2 minutes
	ProblemNotRunning   = "not-running"
)

// Row is one touched or skipped instance in a report.
type Row struct {
	InstanceID string `json:"instance_id"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason,omitempty"`
	Detail     string `json:"detail,omitempty"`
	Problem    string `json:"problem,omitempty"`
	Batch      int    `json:"batch,omitempty"` // 0: decided by the scan, no batch
	// Action is what was done or, in a dry run, would be done.
	Action string `json:"action,omitempty"`
}

// Counts are the report's totals; they are complete at any fleet size.
type Counts struct {
	Scanned        int `json:"scanned"`
	Healthy        int `json:"healthy"`
	Outdated       int `json:"outdated"` // healthy but without Session Manager support: reported only
	AgentMissing   int `json:"agent_missing"`
	AgentSilent    int `json:"agent_silent"`
	NotRunning     int `json:"not_running"`
	FilteredOut    int `json:"filtered_out"` // other OS or zone than the run's filter
	NotFound       int `json:"not_found"`    // explicit instance IDs that do not exist
	Excluded       int `json:"excluded,omitempty"`
	Unknown        int `json:"unknown,omitempty"`
	Quarantined    int `json:"quarantined,omitempty"`
	Remediated     int `json:"remediated"`
	AlreadyHealthy int `json:"already_healthy"`
	Failed         int `json:"failed"`
	Planned        int `json:"planned"`
	// Failed, by reason.
	InstallFailed int `json:"install_failed"`
	RebootRefused int `json:"reboot_refused"`
	NoHeartbeat   int `json:"no_heartbeat"`
	// RebootUnconfirmed: see ReasonRebootUnconfirmed.
	RebootUnconfirmed int `json:"reboot_unconfirmed"`
	// InheritedNoHeartbeat: see ReasonInheritedNoHeartbeat. Not spent from
	// the budget: another run's reboot did not work.
	InheritedNoHeartbeat int `json:"inherited_no_heartbeat,omitempty"`
	// Unverified: see ReasonUnverified. Not spent from the budget either.
	Unverified   int `json:"unverified,omitempty"`
	Vanished     int `json:"vanished"`
	BatchError   int `json:"batch_error"`
	AccountError int `json:"account_error,omitempty"`
	// APIError: see ReasonAPIError. Not spent from the budget, not in the
	// ledger, not against a canary: the API failed, not the repair.
	APIError     int `json:"api_error,omitempty"`
	NotAttempted int `json:"not_attempted"`
	// Work done.
	Batches   int `json:"batches"`
	Installed int `json:"installed"`
	Rebooted  int `json:"rebooted"`

	// Managed instances are counted apart from the ECS instances (which
	// Scanned and the rest count): ManagedUnhealthy of them had an agent
	// that was not healthy. Neither counts in the short-circuit, the blast
	// radius or the error budget.
	Managed          int `json:"managed,omitempty"`
	ManagedUnhealthy int `json:"managed_unhealthy,omitempty"`
}

// Unhealthy is the number of running instances found without a healthy agent.
func (c Counts) Unhealthy() int { return c.AgentMissing + c.AgentSilent }

// BudgetFailures are the failures that spend the error budget: those that
// say a repair did harm or did not work. Vanished instances, IDs that do
// not exist and reboots a dying worker could not confirm do not.
func (c Counts) BudgetFailures() int {
	return c.InstallFailed + c.RebootRefused + c.NoHeartbeat + c.BatchError
}

// addOutcome counts one row's outcome.
func (c *Counts) addOutcome(r Row) {
	switch r.Outcome {
	case OutcomeRemediated:
		c.Remediated++
	case OutcomeAlreadyHealthy:
		c.AlreadyHealthy++
	case OutcomeNotRunning:
		c.NotRunning++
	case OutcomePlanned:
		c.Planned++
	case OutcomeNotAttempted:
		c.NotAttempted++
	case OutcomeUnknown:
		c.Unknown++
	case OutcomeExcluded:
		c.Excluded++
	case OutcomeQuarantined:
		c.Quarantined++
	case OutcomeManaged:
		c.Managed++
	case OutcomeFailed:
		c.Failed++
		switch r.Reason {
		case ReasonInstallFailed:
			c.InstallFailed++
		case ReasonRebootRefused:
			c.RebootRefused++
		case ReasonNoHeartbeat:
			c.NoHeartbeat++
		case ReasonRebootUnconfirmed:
			c.RebootUnconfirmed++
		case ReasonInheritedNoHeartbeat:
			c.InheritedNoHeartbeat++
		case ReasonUnverified:
			c.Unverified++
		case ReasonVanished:
			c.Vanished++
		case ReasonBatchError:
			c.BatchError++
		case ReasonNotFound:
			c.NotFound++
		case ReasonAccountError:
			c.AccountError++
		case ReasonAPIError:
			c.APIError++
		}
	}
}

// PlannedBatch is one batch of a dry run's plan.
type PlannedBatch struct {
	Number      int      `json:"number"`
	InstanceIDs []string `json:"instance_ids"`
}

// Report is the result of RemediateRegion: the plan of a dry run, or what a
// real run did.
type Report struct {
	WorkflowID string    `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Region     string    `json:"region"`
	Kind       string    `json:"kind"`
	DryRun     bool      `json:"dry_run"`
	Cancelled  bool      `json:"cancelled,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// ScannedAt is when the scan ended (and the repairs could start).
	ScannedAt time.Time `json:"scanned_at,omitzero"`
	// Stopped says why the run ended early, in one line, when it did:
	// "skipped: region busy with <run>", "short-circuited: ...",
	// "stopped: error budget exhausted (12 of 200)", "aborted by ...:
	// <reason>", an account-level ECS error.
	Stopped string `json:"stopped,omitempty"`
	// Skipped is set when the run did nothing because another run was
	// acting on the region; SkippedFor names that run.
	Skipped    bool   `json:"skipped,omitempty"`
	SkippedFor string `json:"skipped_for,omitempty"`
	// TotalInstances is the region's (or the ID list's) size as the scan saw it.
	TotalInstances int    `json:"total_instances"`
	Counts         Counts `json:"counts"`
	// Rows has one row per touched or skipped instance, as many as fit in
	// MaxReportRows and MaxReportBytes: failures are kept before skips.
	// RowsOmitted says how many more there were.
	Rows        []Row `json:"rows"`
	RowsOmitted int   `json:"rows_omitted,omitempty"`
	// Plan lists the batches of a dry run, within the same limits;
	// PlanOmitted counts the IDs left out.
	Plan        []PlannedBatch `json:"plan,omitempty"`
	PlanOmitted int            `json:"plan_omitted,omitempty"`
	// PlanSettings (dry runs) are the settings the plan was made with,
	// which `starter apply` applies it with.
	PlanSettings *PlanSettings `json:"plan_settings,omitempty"`
	// AppliedPlan (applies of a plan) is the plan applied, who applied it,
	// and what its check against the run's scan found.
	AppliedPlan *AppliedPlan `json:"applied_plan,omitempty"`
	Warnings    []string     `json:"warnings,omitempty"`
	// Controls is every pause, resume, abort and retune, with who and why,
	// and an override of the fleet-wide short-circuit.
	Controls []ControlEvent `json:"controls,omitempty"`
	// Zones is the scan's picture per zone: Running instances and how many
	// had an unhealthy agent.
	Zones []activities.ZoneCount `json:"zones,omitempty"`
	// BlastRadius is the most instances the run had in repair at once
	// (installing, rebooting or not yet back Running), and its limit.
	BlastRadius      int `json:"blast_radius"`
	BlastRadiusLimit int `json:"blast_radius_limit"`
	ErrorBudget      int `json:"error_budget"`
	Runs             int `json:"runs"` // workflow runs, i.e. continue-as-new count + 1
	// Rollout is the phase the rollout ended in (canary, ramp, full; empty
	// when off) and Waves its judged waves.
	Rollout string       `json:"rollout,omitempty"`
	Waves   []WaveResult `json:"waves,omitempty"`
	// Agents is the agent versions the scan read, and the agents too old
	// for Session Manager (agents.go); Trend what changed since the
	// previous completed non-dry run of the region (trend.go).
	Agents *AgentVersions `json:"agents,omitempty"`
	Trend  *Trend         `json:"trend,omitempty"`
}

// ControlEvent is one operator action on a run, as the history shows it.
type ControlEvent struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"` // pause, resume, abort, set, override
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Progress is the answer of the "progress" query.
type Progress struct {
	WorkflowID       string `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Region           string `json:"region"`
	DryRun           bool   `json:"dry_run"`
	Phase            string `json:"phase"` // acquiring, scanning, repairing, paused, draining, done, ...
	Scanned          int    `json:"scanned"`
	Total            int    `json:"total"`
	Unhealthy        int    `json:"unhealthy"`
	BatchesStarted   int    `json:"batches_started"`
	BatchesDone      int    `json:"batches_done"`
	BatchesInFlight  int    `json:"batches_in_flight"`
	Counts           Counts `json:"counts"`
	ContinuedAsNew   int    `json:"continued_as_new"`
	PendingInBatch   int    `json:"pending_in_batch"`
	LastPageNumber   int    `json:"last_page_number"`
	ExplicitInstance bool   `json:"explicit_instances,omitempty"`
	// The pipeline: instances waiting to be repaired, in repair now
	// (counted against the blast radius), and being verified.
	Queued    int `json:"queued,omitempty"`
	InRepair  int `json:"in_repair,omitempty"`
	Verifying int `json:"verifying,omitempty"`
	// Controls as they stand.
	BlastRadius       int    `json:"blast_radius,omitempty"`
	ConcurrentBatches int    `json:"concurrent_batches,omitempty"`
	Paused            bool   `json:"paused,omitempty"`
	Aborted           bool   `json:"aborted,omitempty"`
	ErrorBudget       int    `json:"error_budget,omitempty"`
	BudgetFailures    int    `json:"budget_failures,omitempty"`
	Stopped           string `json:"stopped,omitempty"`
	// The region's lock: whether the run holds its region, as which
	// execution (Lease), the range of its batches that may be open or
	// unverified, what it waits for before it may act, and when it last
	// made progress (a stuck holder is one that has not for a while).
	Locked         bool             `json:"locked,omitempty"`
	Lease          string           `json:"lease,omitempty"`
	OpenBatches    guard.BatchRange `json:"open_batches,omitzero"`
	InFlight       []string         `json:"in_flight,omitempty"`
	Waiting        string           `json:"waiting,omitempty"`
	LastProgressAt time.Time        `json:"last_progress_at,omitzero"`
	// The rollout: its phase (canary, ramp, full), ramp step and the most
	// instances in repair at once it allows now.
	Rollout      string `json:"rollout,omitempty"`
	RolloutStep  int    `json:"rollout_step,omitempty"`
	RolloutLimit int    `json:"rollout_limit,omitempty"`
}

// Metrics the workflows emit through the worker's Temporal metrics
// handler, which leaves them out while a workflow is replayed (see
// internal/metrics). Tags: region, and outcome and reason for outcomes.
const (
	MetricInstancesScanned   = "fleetmend_instances_scanned"
	MetricInstancesUnhealthy = "fleetmend_instances_unhealthy"
	MetricInstanceOutcomes   = "fleetmend_instance_outcomes"
)

// Query names.
const (
	QueryProgress = guard.QueryRunProgress
	QueryReport   = "report"
)
