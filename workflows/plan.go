package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
)

// Pinned plans: `starter apply` runs RemediateRegion on exactly the
// instances of a dry run's plan, in its batches. The run scans those
// instances itself and, before the first install, refuses the plan when it
// is older than Plan.MaxAge or when more than Plan.MaxDriftPercent of its
// instances changed since (healthy now, gone, not Running, tagged with the
// opt-out tag): the checks are the workflow's, so they hold whoever starts
// the apply. Every per-instance re-check of a batch still happens.

// Limits of a plan's input.
const (
	DefaultMaxPlanAge = 24 * time.Hour
	MinMaxPlanAge     = time.Minute
	MaxMaxPlanAge     = 720 * time.Hour
	DefaultMaxDrift   = 10
	// planClockSkew is how far in the future a plan's time may be (the
	// starter's and the worker's clocks differ a little); beyond it the
	// plan's time is not believed, and the plan is refused.
	planClockSkew = 5 * time.Minute
	maxPlanRunID  = 1000
)

// Reasons of the instances of a refused plan (not attempted).
const (
	ReasonPlanStale   = "plan-stale"   // the plan is older than max_plan_age
	ReasonPlanDrifted = "plan-drifted" // too many of the plan's instances changed since it was made
)

// PlanInput pins a run to a dry run's plan. The run's InstanceIDs are the
// plan's instances in plan order, and Batches the sizes of its batches over
// them: batch 1 is the first Batches[0] IDs, and so on.
type PlanInput struct {
	// RunID is the workflow ID of the dry run that made the plan.
	WorkflowID string `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	// PlannedAt is when that dry run's scan ended: what the plan knew of the fleet.
	PlannedAt time.Time `json:"planned_at"`
	Batches   []int     `json:"batches"`
	// MaxAge refuses a plan older than this when the run starts and when it
	// is about to act, 1m..720h (default 24h).
	MaxAge Duration `json:"max_age,omitempty"`
	// MaxDriftPercent refuses the plan, before anything is touched, when
	// more than this share of its instances changed since it was made,
	// 0..100 (the zero value allows no change; starter apply's default is 10).
	MaxDriftPercent int `json:"max_drift_percent"`
}

// PlanSettings are what a dry run planned with, in its report: what an
// apply of its plan uses, so the plan is applied as it was reviewed.
type PlanSettings struct {
	BatchSize      int      `json:"batch_size"`
	RebootPolicy   string   `json:"reboot_policy"`
	RebootGrace    Duration `json:"reboot_grace"`
	VerifyDeadline Duration `json:"verify_deadline"`
	ExcludeTag     string   `json:"exclude_tag"`
	ZoneID         string   `json:"zone_id,omitempty"`
	OSType         string   `json:"os_type,omitempty"`
	// ShortCircuit says why a real run would have stopped before touching
	// anything (the fleet-wide short-circuit), when it would have.
	ShortCircuit string `json:"short_circuit,omitempty"`
	// MaxUnhealthyPercent is the short-circuit's threshold the plan was
	// judged with: its apply measures the region again against it.
	MaxUnhealthyPercent int `json:"max_unhealthy_percent,omitempty"`
}

// AppliedPlan is, in an apply's report, the plan it applied, who applied
// it, and what its check found.
type AppliedPlan struct {
	PlanWorkflowID  string    `json:"plan_run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	PlannedAt       time.Time `json:"planned_at"`
	AppliedBy       string    `json:"applied_by,omitempty"`
	Instances       int       `json:"instances"`
	Batches         int       `json:"batches"`
	MaxAge          Duration  `json:"max_age"`
	MaxDriftPercent int       `json:"max_drift_percent"`
	// CheckedAt is when the plan was checked against the run's scan, and
	// Age its age then; zero when the run ended before.
	CheckedAt time.Time `json:"checked_at,omitzero"`
	Age       Duration  `json:"age,omitempty"`
	Drift     PlanDrift `json:"drift"`
	// Refused says why the plan was not applied, when it was not.
	Refused string `json:"refused,omitempty"`
}

// PlanDrift is how many of a plan's instances changed since it was made,
// by what the run's scan found. Drifted is the total: every planned
// instance the scan did not find Running with an unhealthy agent and
// untagged.
type PlanDrift struct {
	Drifted    int `json:"drifted"`
	Healthy    int `json:"healthy,omitempty"`
	NotRunning int `json:"not_running,omitempty"`
	Gone       int `json:"gone,omitempty"`
	Excluded   int `json:"excluded,omitempty"`
	Unknown    int `json:"unknown,omitempty"`
	// Other: being verified after a reboot by a run that closed without
	// verifying it.
	Other int `json:"other,omitempty"`
}

// Percent is Drifted as a share of planned, rounded down.
func (d PlanDrift) Percent(planned int) int {
	if planned == 0 {
		return 0
	}
	return d.Drifted * 100 / planned
}

// validatePlan checks a plan's input against the rest of the run's.
func (in RegionInput) validatePlan() error {
	p := in.Plan
	if p == nil {
		return nil
	}
	switch {
	case in.DryRun:
		return errors.New("plan: a dry run applies no plan (dry_run and plan are exclusive)")
	case p.WorkflowID == "" || len(p.WorkflowID) > maxPlanRunID:
		return fmt.Errorf("plan.run_id is %d characters, allowed 1..%d: the dry run's workflow ID", len(p.WorkflowID), maxPlanRunID)
	case p.PlannedAt.IsZero():
		return errors.New("plan.planned_at is required: when the dry run's scan ended")
	case p.MaxAge.D() < MinMaxPlanAge || p.MaxAge.D() > MaxMaxPlanAge:
		return fmt.Errorf("plan.max_age is %s, allowed range is %s..%s", p.MaxAge, Duration(MinMaxPlanAge), Duration(MaxMaxPlanAge))
	case p.MaxDriftPercent < 0 || p.MaxDriftPercent > 100:
		return fmt.Errorf("plan.max_drift_percent is %d, allowed range is 0..100", p.MaxDriftPercent)
	case len(in.InstanceIDs) == 0:
		return errors.New("plan: instance_ids must list the plan's instances in plan order")
	case len(in.ExcludeInstanceIDs) > 0:
		return errors.New("exclude_instance_ids: not with a plan: its instances are the reviewed ones; make a new dry run with the exclusions instead")
	case in.ZoneID != "" || in.OSType != "":
		return errors.New("zone_id and os_type: not with a plan: its instances are already the filtered ones")
	}
	total := 0
	for i, n := range p.Batches {
		if n < 1 || n > in.BatchSize {
			return fmt.Errorf("plan.batches[%d] is %d instances, allowed range is 1..batch_size (%d)", i, n, in.BatchSize)
		}
		total += n
	}
	if total != len(in.InstanceIDs) {
		return fmt.Errorf("plan.batches add up to %d instances, but instance_ids has %d", total, len(in.InstanceIDs))
	}
	return nil
}

// startPlan records the plan being applied, once (continue-as-new carries it).
func (r *run) startPlan() {
	p := r.in.Plan
	if p == nil || r.st.Applied != nil {
		return
	}
	r.st.Applied = &AppliedPlan{PlanWorkflowID: p.WorkflowID, PlannedAt: p.PlannedAt, AppliedBy: r.in.StartedBy,
		Instances: len(r.in.InstanceIDs), Batches: len(p.Batches), MaxAge: p.MaxAge, MaxDriftPercent: p.MaxDriftPercent}
}

// planStale says why the plan is too old (or from the future) to apply
// now, or "".
func (r *run) planStale(ctx workflow.Context) string {
	p := r.in.Plan
	age := workflow.Now(ctx).Sub(p.PlannedAt)
	switch {
	case age < -planClockSkew:
		return fmt.Sprintf("the plan of %s says it was made at %s, %s in the future: its time is not believed",
			p.WorkflowID, p.PlannedAt.UTC().Format(time.RFC3339), (-age).Round(time.Second))
	case age > p.MaxAge.D():
		return fmt.Sprintf("the plan of %s is %s old, older than max_plan_age %s: make a new dry run (the fleet has changed since)",
			p.WorkflowID, age.Round(time.Second), p.MaxAge)
	}
	return ""
}

// checkPlan is the plan's check against the run's own scan, right before
// anything is touched: the plan's age, and how many of its instances are
// no longer what the plan saw. It returns why the plan is refused and the
// reason of its instances, or "".
func (r *run) checkPlan(ctx workflow.Context) (string, string) {
	a := r.st.Applied
	a.CheckedAt = workflow.Now(ctx)
	a.Age = Duration(a.CheckedAt.Sub(a.PlannedAt))
	a.Drift = r.drift()
	if why := r.planStale(ctx); why != "" {
		return why, ReasonPlanStale
	}
	if d := a.Drift; d.Drifted*100 > a.MaxDriftPercent*a.Instances {
		return fmt.Sprintf("%d of the %d instances of the plan of %s (%d%%) changed since it was made, more than max_drift %d%% (%s): the fleet is not what was reviewed; make a new dry run",
			d.Drifted, a.Instances, a.PlanWorkflowID, d.Percent(a.Instances), a.MaxDriftPercent, d.String()), ReasonPlanDrifted
	}
	if a.Drift.Drifted > 0 {
		r.warn(fmt.Sprintf("%d of the %d planned instances changed since the plan (%s); within max_drift %d%%, they are left alone",
			a.Drift.Drifted, a.Instances, a.Drift.String(), a.MaxDriftPercent))
	}
	return "", ""
}

// drift counts the planned instances the scan did not queue for repair.
// The scan of a pinned run is of exactly the planned instances, so its
// counts say what became of the others.
func (r *run) drift() PlanDrift {
	queued := make(map[string]bool, len(r.st.Queue))
	for _, c := range r.st.Queue {
		queued[c.ID] = true
	}
	var d PlanDrift
	for _, id := range r.in.InstanceIDs {
		if !queued[id] {
			d.Drifted++
		}
	}
	c := r.st.Counts
	d.Healthy, d.NotRunning, d.Gone, d.Excluded, d.Unknown = c.Healthy, c.NotRunning, c.NotFound, c.Excluded, c.Unknown
	d.Other = max(0, d.Drifted-d.Healthy-d.NotRunning-d.Gone-d.Excluded-d.Unknown)
	return d
}

func (d PlanDrift) String() string {
	parts := []struct {
		n    int
		what string
	}{{d.Healthy, "healthy now"}, {d.NotRunning, "not Running"}, {d.Gone, "gone"}, {d.Excluded, "tagged with the opt-out tag"},
		{d.Unknown, "not answered for"}, {d.Other, "being verified after another run's reboot"}}
	s := ""
	for _, p := range parts {
		if p.n == 0 {
			continue
		}
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%d %s", p.n, p.what)
	}
	if s == "" {
		return "none"
	}
	return s
}

// refusePlan ends a pinned run that will not apply its plan: nothing was
// touched, its queued instances are not attempted.
func (r *run) refusePlan(ctx workflow.Context, why, reason string) (Report, error) {
	line := "refused: " + why
	r.st.Applied.Refused = line
	r.st.Stopped, r.st.StopReason = line, reason
	r.st.Phase = "stopped"
	r.notAttempted(reason, line)
	workflow.GetLogger(ctx).Warn("plan refused", "Plan", r.in.Plan.WorkflowID, "Why", why)
	return r.done(ctx)
}

// pinQueue puts the queue in plan order and notes the planned batches it
// falls into (the instances left of each), so batches are the planned
// ones: one planned batch is never merged with another; a blast radius or
// a rollout wave smaller than a planned batch splits it rather than being
// exceeded.
func (r *run) pinQueue() {
	p := r.in.Plan
	if p == nil {
		return
	}
	pos := make(map[string]int, len(r.in.InstanceIDs))
	for i, id := range r.in.InstanceIDs {
		pos[id] = i
	}
	batchOf := make([]int, 0, len(r.in.InstanceIDs))
	for b, n := range p.Batches {
		for range n {
			batchOf = append(batchOf, b)
		}
	}
	slices.SortStableFunc(r.st.Queue, func(a, b activities.Candidate) int { return cmp.Compare(pos[a.ID], pos[b.ID]) })
	r.st.PlanLeft = nil
	last := -1
	for _, c := range r.st.Queue {
		b := batchOf[pos[c.ID]]
		if b != last {
			r.st.PlanLeft = append(r.st.PlanLeft, 0)
			last = b
		}
		r.st.PlanLeft[len(r.st.PlanLeft)-1]++
	}
}

// planRoom is the most the next batch may take to stay within its planned
// batch (no limit for a run without a plan).
func (r *run) planRoom() int {
	if len(r.st.PlanLeft) == 0 {
		return ecs.MaxInstallIDs
	}
	return r.st.PlanLeft[0]
}

// tookPlanned counts n instances handed to a batch off their planned batch.
func (r *run) tookPlanned(n int) {
	for n > 0 && len(r.st.PlanLeft) > 0 {
		k := min(n, r.st.PlanLeft[0])
		r.st.PlanLeft[0] -= k
		n -= k
		if r.st.PlanLeft[0] == 0 {
			r.st.PlanLeft = slices.Clone(r.st.PlanLeft[1:])
		}
	}
}

// planSettings is a dry run's PlanSettings for its report (nil otherwise).
func (r *run) planSettings() *PlanSettings {
	if !r.in.DryRun {
		return nil
	}
	in := r.in
	return &PlanSettings{BatchSize: in.BatchSize, RebootPolicy: in.RebootPolicy, RebootGrace: *in.RebootGrace,
		VerifyDeadline: in.VerifyDeadline, ExcludeTag: in.ExcludeTag, ZoneID: in.ZoneID, OSType: in.OSType, ShortCircuit: r.st.WouldStop,
		MaxUnhealthyPercent: in.MaxUnhealthyPercent}
}

// appliedPlan is a copy of the applied plan for a report (nil without one).
func (r *run) appliedPlan() *AppliedPlan {
	if r.st.Applied == nil {
		return nil
	}
	a := *r.st.Applied
	return &a
}

// measureRegion measures the health of the whole region for an apply
// (engine 4): the same token chains a region's scan follows, counting
// only (Running instances and unhealthy agents, per zone), so that the
// fleet-wide short-circuit judges the region as it is now, not the plan's
// instances as they were. A run without a plan measures nothing: its scan
// did.
func (r *run) measureRegion(ctx workflow.Context) error {
	if r.in.Plan == nil || !r.strict() {
		return nil
	}
	var a *activities.Activities
	var zones []activities.ZoneCount
	for _, os := range scanOSTypes() {
		token := ""
		for segment := 1; ; segment++ {
			summary := fmt.Sprintf("measure the health of %s for the short-circuit: %s instances, segment %d (counts only)", r.in.Region, os, segment)
			var res activities.SegmentResult
			err := workflow.ExecuteActivity(readActivity(ctx, engineV2, summary), a.ScanSegment, activities.SegmentInput{
				Region: r.in.Region, OSType: os, NextToken: token, MaxPages: scanSegmentPages, ExcludeTag: r.in.ExcludeTag, CountOnly: true,
			}).Get(ctx, &res)
			if err != nil {
				return err
			}
			zones = mergeZones(zones, res.Zones)
			if res.Done {
				break
			}
			token = res.NextToken
		}
	}
	r.st.RegionZones = zones
	return nil
}
