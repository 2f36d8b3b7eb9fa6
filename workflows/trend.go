package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/guard"
)

// MemoTrend is the memo field holding a run's trend summary, the one line
// `starter list` shows (memos are returned by visibility with every run,
// and need no registration, unlike search attributes).
const MemoTrend = "FleetmendTrend"

// MetricChronicInstances is the gauge of the instances a region's last
// real run found still failing since the run before it. Tag: region.
const MetricChronicInstances = "fleetmend_region_chronic_instances"

// maxTrendIDs is how many instances a trend names per kind of change; the
// counts cover them all.
const maxTrendIDs = 100

// Trend is what changed since the previous completed non-dry run of the
// region (Previous): the instances unhealthy at this run's scan that the
// previous run did not leave failing (New, whether this run repaired them
// or not), and those the previous run left failing (failed, quarantined,
// not attempted) that are now healthy (Fixed), failing still (Chronic,
// with the failed repairs the region's ledger holds for them), gone (no
// longer exist), not Running, or whose agent status is unknown (Unseen).
// "Now" is this run's outcome for an instance it has a row for, and for
// the others what ECS says at the end of the run. Limits says what the
// comparison cannot see (reports keep capped rows); Note why there is no
// comparison.
type Trend struct {
	Previous           string    `json:"previous,omitempty"`
	PreviousRun        string    `json:"previous_run,omitempty"`
	PreviousFinishedAt time.Time `json:"previous_finished_at,omitzero"`

	New        int `json:"new"`
	Fixed      int `json:"fixed"`
	Chronic    int `json:"chronic"`
	Gone       int `json:"gone"`
	NotRunning int `json:"not_running,omitempty"`
	Unseen     int `json:"unseen,omitempty"`

	// At most maxTrendIDs of each, sorted by ID.
	NewIDs           []string          `json:"new_ids,omitempty"`
	FixedIDs         []string          `json:"fixed_ids,omitempty"`
	GoneIDs          []string          `json:"gone_ids,omitempty"`
	ChronicInstances []ChronicInstance `json:"chronic_instances,omitempty"`

	Limits []string `json:"limits,omitempty"`
	Note   string   `json:"note,omitempty"`
}

// ChronicInstance is an instance failing in both runs: its failed repairs
// within the quarantine window (from the region's ledger) and how it
// stands now (this run's outcome, or "unhealthy" when it has no row).
type ChronicInstance struct {
	InstanceID string `json:"instance_id"`
	Attempts   int    `json:"attempts"`
	Now        string `json:"now"`
}

// Summary is the trend in one line: "+3 new −12 fixed 4 chronic", with
// the gone when there are any, "(partial)" when Limits applies, the note
// when there is no comparison.
func (t *Trend) Summary() string {
	if t == nil {
		return ""
	}
	if t.Previous == "" {
		if strings.HasPrefix(t.Note, "first run") {
			return "first run"
		}
		return "no comparison"
	}
	s := fmt.Sprintf("+%d new −%d fixed %d chronic", t.New, t.Fixed, t.Chronic)
	if t.Gone > 0 {
		s += fmt.Sprintf(" %d gone", t.Gone)
	}
	if len(t.Limits) > 0 {
		s += " (partial)"
	}
	return s
}

// Where an instance stands at the end of a run, from its row.
const (
	standHealthy    = "healthy"
	standFailing    = "failing"
	standGone       = "gone"
	standNotRunning = "not-running"
	standUnknown    = "unknown"
)

// standing is where a row leaves its instance: repaired or found healthy,
// still failing (failed, quarantined, not attempted, excluded or planned),
// gone, not Running, or unknown.
func standing(outcome, reason string) string {
	switch outcome {
	case OutcomeRemediated, OutcomeAlreadyHealthy:
		return standHealthy
	case OutcomeFailed:
		if reason == ReasonVanished || reason == ReasonNotFound {
			return standGone
		}
		return standFailing
	case OutcomeQuarantined, OutcomeNotAttempted, OutcomePlanned, OutcomeExcluded:
		return standFailing
	case OutcomeNotRunning:
		return standNotRunning
	}
	return standUnknown
}

func unhealthyProblem(p string) bool { return p == ProblemAgentMissing || p == ProblemAgentSilent }

// comparison is a trend being made: what the rows of both runs tell, and
// the instances whose state now must be read (check) or whose ledger
// attempts are wanted (chronic).
type comparison struct {
	t       Trend
	check   []string
	chronic map[string]string // ID → how it stands now
}

// compareRows compares the previous run's unhealthy instances with this
// run's rows. unhealthy is this run's count of instances found unhealthy
// at its scan (its rows may keep fewer).
func compareRows(prev guard.PreviousRun, rows []Row, unhealthy int) *comparison {
	c := &comparison{chronic: map[string]string{}}
	c.t.Previous, c.t.PreviousRun, c.t.PreviousFinishedAt = prev.WorkflowID, prev.Execution, prev.FinishedAt
	if kept := len(prev.Instances); prev.UnhealthyCount > kept {
		c.t.Limits = append(c.t.Limits, fmt.Sprintf(
			"the previous report kept the rows of %d of the %d instances it found unhealthy (its rows are capped): one of the %d others still failing counts as new here, and one fixed since is not counted",
			kept, prev.UnhealthyCount, prev.UnhealthyCount-kept))
	}
	cur := make(map[string]Row, len(rows))
	for _, r := range rows {
		cur[r.InstanceID] = r
	}
	failingBefore := map[string]bool{}
	for _, p := range prev.Instances {
		if standing(p.Outcome, p.Reason) != standFailing {
			continue
		}
		failingBefore[p.ID] = true
		row, ok := cur[p.ID]
		if !ok {
			if len(c.check) < activities.MaxTrendChecks {
				c.check = append(c.check, p.ID)
			} else {
				c.t.Unseen++
			}
			continue
		}
		c.file(p.ID, standing(row.Outcome, row.Reason), nowText(row))
	}
	if c.t.Unseen > 0 {
		c.t.Limits = append(c.t.Limits, fmt.Sprintf("%d instances the previous run left failing were not checked (at most %d are): counted unseen",
			c.t.Unseen, activities.MaxTrendChecks))
	}
	rowed, overlap := 0, 0
	for _, r := range rows {
		// A managed instance's row carries its agent's problem, but it is
		// no ECS instance: not in the unhealthy count, never new.
		if !unhealthyProblem(r.Problem) || r.Outcome == OutcomeManaged {
			continue
		}
		rowed++
		if failingBefore[r.InstanceID] {
			overlap++
			continue
		}
		c.t.NewIDs = append(c.t.NewIDs, r.InstanceID)
	}
	c.t.New = max(0, unhealthy-overlap)
	if unhealthy > rowed {
		c.t.Limits = append(c.t.Limits, fmt.Sprintf(
			"this report kept the rows of %d of the %d instances found unhealthy: the %d others count as new, though some may have been failing in the previous run",
			rowed, unhealthy, unhealthy-rowed))
	}
	slices.Sort(c.t.NewIDs)
	c.t.NewIDs = c.t.NewIDs[:min(len(c.t.NewIDs), maxTrendIDs)]
	return c
}

func nowText(r Row) string {
	if r.Reason != "" {
		return r.Outcome + "/" + r.Reason
	}
	return r.Outcome
}

// file counts one instance the previous run left failing by where it
// stands now.
func (c *comparison) file(id, stand, now string) {
	switch stand {
	case standHealthy:
		c.t.Fixed++
		c.t.FixedIDs = append(c.t.FixedIDs, id)
	case standFailing:
		c.chronic[id] = now
	case standGone:
		c.t.Gone++
		c.t.GoneIDs = append(c.t.GoneIDs, id)
	case standNotRunning:
		c.t.NotRunning++
	default:
		c.t.Unseen++
	}
}

// finish files the checked instances by their state now and the chronic
// ones with their attempts. A failed check leaves its instances unseen.
func (c *comparison) finish(res activities.TrendCheckResult, checkErr error) *Trend {
	if checkErr != nil {
		c.t.Unseen += len(c.check)
		c.t.Limits = append(c.t.Limits, fmt.Sprintf("could not read the state now of %d instances the previous run left failing: %s", len(c.check), errText(checkErr)))
	} else {
		for _, n := range res.Now {
			switch {
			case !n.Exists:
				c.file(n.ID, standGone, "")
			case !n.Running:
				c.file(n.ID, standNotRunning, "")
			case n.Unknown:
				c.file(n.ID, standUnknown, "")
			case n.Healthy:
				c.file(n.ID, standHealthy, "")
			default:
				c.file(n.ID, standFailing, "unhealthy")
			}
		}
	}
	attempts := map[string]int{}
	for _, a := range res.Attempts {
		attempts[a.ID] = a.Attempts
	}
	t := c.t
	t.Chronic = len(c.chronic)
	for id, now := range c.chronic {
		t.ChronicInstances = append(t.ChronicInstances, ChronicInstance{InstanceID: id, Attempts: attempts[id], Now: now})
	}
	slices.SortFunc(t.ChronicInstances, func(a, b ChronicInstance) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	t.ChronicInstances = t.ChronicInstances[:min(len(t.ChronicInstances), maxTrendIDs)]
	for _, ids := range []*[]string{&t.FixedIDs, &t.GoneIDs} {
		slices.Sort(*ids)
		*ids = (*ids)[:min(len(*ids), maxTrendIDs)]
	}
	return &t
}

// chronicIDs is the instances known failing in both runs, sorted.
func (c *comparison) chronicIDs() []string {
	ids := make([]string, 0, len(c.chronic))
	for id := range c.chronic {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// previousQuery lists the region's completed non-dry runs. The region was
// validated against its pattern, so it cannot change the query's meaning.
func previousQuery(region string) string {
	return fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Completed' AND %s = '%s' AND %s = false", guard.RunWorkflowType,
		SARegionName, region, SADryRunName)
}

// trendActivity is the options of the comparison's reads: a comparison
// that cannot be made must not hold the run's end for long.
func trendActivity(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: 3 * time.Minute,
		HeartbeatTimeout:       activityHeartbeatTimeout,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 20 * time.Second},
		Summary:                summary,
	})
}

// compareWithPrevious makes the run's trend once its region is released
// (engine 3 runs started with fleetmend's search attributes, which is how
// the previous run is found). It never fails the run: what it cannot
// read, the trend says.
func (r *run) compareWithPrevious(ctx workflow.Context) {
	var ga *guard.Activities
	if !r.sa || !r.fenced() || workflow.GetVersion(ctx, trendChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	var a *activities.Activities
	var prev guard.PreviousRun
	err := workflow.ExecuteActivity(trendActivity(ctx, "find the previous run of "+r.in.Region), ga.PreviousRun,
		guard.PreviousInput{Region: r.in.Region, Query: previousQuery(r.in.Region),
			Problems: []string{ProblemAgentMissing, ProblemAgentSilent}, Apart: OutcomeManaged}).Get(ctx, &prev)
	switch {
	case err != nil:
		r.trend = &Trend{Note: "no comparison: could not read the previous run: " + errText(err)}
	case !prev.Found:
		r.trend = &Trend{Note: "first run: no previous completed run of " + r.in.Region + " to compare with"}
	default:
		c := compareRows(prev, r.st.Rows.Rows, r.st.Counts.Unhealthy())
		var res activities.TrendCheckResult
		var checkErr error
		if len(c.check) > 0 || len(c.chronic) > 0 {
			checkErr = workflow.ExecuteActivity(trendActivity(ctx, fmt.Sprintf("compare with %s: check %d instances", prev.WorkflowID, len(c.check))), a.TrendCheck,
				activities.TrendCheckInput{Region: r.in.Region, TaskQueue: workflow.GetInfo(ctx).TaskQueueName, Check: c.check, Attempts: c.chronicIDs(), Window: r.in.QuarantineWindow.D()}).Get(ctx, &res)
		}
		r.trend = c.finish(res, checkErr)
		if !r.in.DryRun {
			r.metrics.Gauge(MetricChronicInstances).Update(float64(r.trend.Chronic))
		}
	}
	if err := workflow.UpsertMemo(ctx, map[string]any{MemoTrend: r.trend.Summary()}); err != nil {
		workflow.GetLogger(ctx).Warn("could not upsert the trend memo", "Error", err)
	}
}
