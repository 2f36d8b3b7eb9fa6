package workflows

import "time"

// Outcomes of one instance in a run.
const (
	OutcomeRemediated     = "remediated"      // agent reports a fresh heartbeat after the repair
	OutcomeAlreadyHealthy = "already-healthy" // recovered before the batch acted: left alone
	OutcomeNotRunning     = "not-running"     // skipped: not Running, never touched
	OutcomeFailed         = "failed"          // see Reason
	OutcomePlanned        = "planned"         // dry run: what a real run would do
	OutcomeNotAttempted   = "not-attempted"   // found unhealthy, but the run was cancelled first
)

// Failure reasons.
const (
	ReasonInstallFailed = "install-failed" // InstallCloudAssistant refused the instance
	ReasonRebootRefused = "reboot-refused" // RebootInstances refused the instance
	ReasonNoHeartbeat   = "no-heartbeat"   // no fresh heartbeat by the verify deadline
	// ReasonRebootUnconfirmed: no fresh heartbeat, and a worker died between
	// sending the reboot and hearing ECS, so it was not rebooted again.
	ReasonRebootUnconfirmed = "reboot-unconfirmed"
	ReasonVanished          = "vanished"    // the instance no longer exists
	ReasonBatchError        = "batch-error" // the batch could not run (e.g. permission denied)
	ReasonNotFound          = "not-found"   // an instance ID given to the run does not exist
	ReasonCancelled         = "cancelled"   // the run was cancelled before this instance's batch started
)

// Problems found by the scan.
const (
	ProblemAgentMissing = "agent-missing" // never sent a heartbeat
	ProblemAgentSilent  = "agent-silent"  // installed, no heartbeat in the last 2 minutes
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
	FilteredOut    int `json:"filtered_out"` // other OS than the run's filter
	NotFound       int `json:"not_found"`    // explicit instance IDs that do not exist
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
	Vanished          int `json:"vanished"`
	BatchError        int `json:"batch_error"`
	NotAttempted      int `json:"not_attempted"`
	// Work done.
	Batches   int `json:"batches"`
	Installed int `json:"installed"`
	Rebooted  int `json:"rebooted"`
}

// Unhealthy is the number of running instances found without a healthy agent.
func (c Counts) Unhealthy() int { return c.AgentMissing + c.AgentSilent }

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
		case ReasonVanished:
			c.Vanished++
		case ReasonBatchError:
			c.BatchError++
		case ReasonNotFound:
			c.NotFound++
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
	RunID      string    `json:"run_id"`
	Region     string    `json:"region"`
	Kind       string    `json:"kind"`
	DryRun     bool      `json:"dry_run"`
	Cancelled  bool      `json:"cancelled,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// TotalInstances is the region's (or the ID list's) size as last seen.
	TotalInstances int    `json:"total_instances"`
	Counts         Counts `json:"counts"`
	// Rows has one row per touched or skipped instance, up to
	// MaxReportRows; RowsOmitted says how many more there were.
	Rows        []Row `json:"rows"`
	RowsOmitted int   `json:"rows_omitted,omitempty"`
	// Plan lists the batches of a dry run, up to MaxReportRows instance
	// IDs in all; PlanOmitted counts the IDs left out.
	Plan        []PlannedBatch `json:"plan,omitempty"`
	PlanOmitted int            `json:"plan_omitted,omitempty"`
	Warnings    []string       `json:"warnings,omitempty"`
	Runs        int            `json:"runs"` // workflow runs, i.e. continue-as-new count + 1
}

// Progress is the answer of the "progress" query.
type Progress struct {
	RunID            string `json:"run_id"`
	Region           string `json:"region"`
	DryRun           bool   `json:"dry_run"`
	Phase            string `json:"phase"` // scanning, draining, done, cancelling
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
}

// Query names.
const (
	QueryProgress = "progress"
	QueryReport   = "report"
)
