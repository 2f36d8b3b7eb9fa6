package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
)

// scanSegmentPages is how many DescribeCloudAssistantStatus pages (of 50)
// one scan activity reads: 5,000 instances, a few seconds of calls. Even,
// so that a segment ends on a full DescribeInstances lookup of 100.
const scanSegmentPages = 100

// scanOSTypes are the independent cursors of a region scan: one
// DescribeCloudAssistantStatus NextToken chain per OS type, read side by
// side. Cloud Assistant supports exactly these, so together they list every
// instance it can manage.
func scanOSTypes() []string { return []string{ecs.OSLinux, ecs.OSWindows, ecs.OSFreeBSD} }

// scan reads the region (or the given instances) once, every instance
// classified once: the cursors are NextToken chains, which stay exact while
// instances are created and deleted (page numbers do not). Instances created
// behind a cursor are the next run's; deleted ones are simply not seen.
// It returns errHandOn when the history is long enough to continue as new
// first; the cursors are in the state, and the next run goes on from them.
func (r *run) scan(ctx workflow.Context) error {
	st := &r.st.Scan
	if st.Done {
		return nil
	}
	r.st.Phase = "scanning"
	if len(r.in.InstanceIDs) > 0 {
		return r.scanListed(ctx)
	}
	if len(st.Chains) == 0 {
		if r.in.OSType != "" {
			st.Chains = []ChainState{{OSType: r.in.OSType}}
		} else {
			for _, os := range scanOSTypes() {
				st.Chains = append(st.Chains, ChainState{OSType: os})
			}
		}
	}
	var firstErr error
	running := 0
	for i := range st.Chains {
		if st.Chains[i].Done {
			continue
		}
		running++
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { running-- }()
			if err := r.followChain(ctx, i, &firstErr); err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	if err := workflow.Await(ctx, func() bool { return running == 0 }); err != nil {
		return err
	}
	if firstErr != nil {
		return firstErr
	}
	if r.st.Controls.Aborted || r.st.Controls.Unlocked {
		st.Done = true // an abort or an unlock ends the scan where it is
		return nil
	}
	for _, c := range st.Chains {
		if !c.Done {
			return errHandOn
		}
	}
	st.Done = true
	r.st.ScannedAt = workflow.Now(ctx)
	return nil
}

// followChain reads one chain segment by segment until it ends, another
// chain fails, or the history asks for continue-as-new.
func (r *run) followChain(ctx workflow.Context, i int, otherErr *error) error {
	var a *activities.Activities
	for {
		c := &r.st.Scan.Chains[i]
		if c.Done || ctx.Err() != nil || *otherErr != nil || r.wantContinueAsNew(ctx) || r.st.Controls.Aborted || r.st.Controls.Unlocked {
			return ctx.Err()
		}
		r.st.Scan.Segments++
		summary := fmt.Sprintf("scan %s, %s instances, segment %d (≤ %d instances)", r.in.Region, c.OSType, r.st.Scan.Segments, scanSegmentPages*ecs.MaxPageSize)
		var res activities.SegmentResult
		err := workflow.ExecuteActivity(readActivity(ctx, engineV2, summary), a.ScanSegment, activities.SegmentInput{
			Region: r.in.Region, OSType: c.OSType, NextToken: c.NextToken, MaxPages: scanSegmentPages,
			ZoneID: r.in.ZoneID, ExcludeTag: r.in.ExcludeTag,
		}).Get(ctx, &res)
		if err != nil {
			return err
		}
		if res.Interrupted != "" {
			workflow.GetLogger(ctx).Warn("scan segment ended early; the next one goes on from its last completed page",
				"OSType", c.OSType, "Pages", res.Pages, "Error", res.Interrupted)
		}
		c = &r.st.Scan.Chains[i]
		c.NextToken, c.Done = res.NextToken, res.Done
		r.take(ctx, res)
	}
}

// scanListed reads explicit instance IDs, a segment of up to 1,000 at a time.
func (r *run) scanListed(ctx workflow.Context) error {
	var a *activities.Activities
	st := &r.st.Scan
	ids := r.in.InstanceIDs
	r.st.Total = len(ids)
	for st.NextIndex < len(ids) {
		if r.wantContinueAsNew(ctx) {
			return errHandOn
		}
		if r.st.Controls.Aborted || r.st.Controls.Unlocked {
			break
		}
		end := min(st.NextIndex+activities.MaxSegmentIDs, len(ids))
		summary := fmt.Sprintf("scan instances %d..%d of the %d given", st.NextIndex+1, end, len(ids))
		var res activities.SegmentResult
		err := workflow.ExecuteActivity(readActivity(ctx, engineV2, summary), a.ScanSegment, activities.SegmentInput{
			Region: r.in.Region, InstanceIDs: ids[st.NextIndex:end], ZoneID: r.in.ZoneID, ExcludeTag: r.in.ExcludeTag,
		}).Get(ctx, &res)
		if err != nil {
			return err
		}
		st.NextIndex = end
		st.Segments++
		r.take(ctx, res)
	}
	st.Done = true
	r.st.ScannedAt = workflow.Now(ctx)
	return nil
}

// take files one segment's findings: counts, zones, rows for what is
// skipped, and the candidates into the queue (bounded by MaxQueue).
func (r *run) take(ctx workflow.Context, res activities.SegmentResult) {
	r.st.LastProgressAt = workflow.Now(ctx)
	c := &r.st.Counts
	sc := res.Counts
	// Managed instances are counted apart (their rows count them): Scanned
	// and Total are the ECS instances. Segments recorded before managed
	// instances were told apart have none, so these sums are unchanged for
	// them.
	ecsListed := sc.Listed - sc.Managed
	c.Scanned += ecsListed - sc.FilteredOut
	c.ManagedUnhealthy += sc.ManagedUnhealthy
	c.Healthy += sc.Healthy
	c.Outdated += sc.Outdated
	c.AgentMissing += sc.Missing
	c.AgentSilent += sc.Silent
	c.FilteredOut += sc.FilteredOut
	if len(r.in.InstanceIDs) == 0 {
		r.st.Total += ecsListed
	}
	r.metrics.Counter(MetricInstancesScanned).Inc(int64(ecsListed - sc.FilteredOut))
	r.metrics.Counter(MetricInstancesUnhealthy).Inc(int64(sc.Missing + sc.Silent))
	r.st.Zones = mergeZones(r.st.Zones, res.Zones)
	r.st.Agents.Merge(res.Agents)
	for _, s := range res.Skipped {
		r.addRow(skippedRow(s, r.in))
	}
	excluded := setOf(r.in.ExcludeInstanceIDs)
	verifying := r.inheritedIDs()
	for _, cand := range res.Candidates {
		switch {
		case verifying[cand.ID]:
			// Rebooted by a run that closed without verifying it: it is
			// being verified, and not repaired before its deadline.
		case excluded[cand.ID]:
			r.addRow(Row{InstanceID: cand.ID, Problem: cand.Problem, Outcome: OutcomeExcluded,
				Detail: "in the run's exclude list; never touched"})
		case len(r.st.Queue) >= MaxQueue:
			r.addRow(Row{InstanceID: cand.ID, Problem: cand.Problem, Outcome: OutcomeNotAttempted, Reason: ReasonDeferred,
				Detail: fmt.Sprintf("the run queues at most %d instances; the next run repairs this one", MaxQueue)})
			r.warnOnce("queue-full", fmt.Sprintf("more unhealthy instances than one run queues (%d): the rest are reported deferred and left to the next run", MaxQueue))
		default:
			r.st.Queue = append(r.st.Queue, cand)
		}
	}
}

// inheritedIDs is the instances taken over to verify (a lookup set).
func (r *run) inheritedIDs() map[string]bool {
	m := map[string]bool{}
	for _, v := range r.st.Verifying {
		if v.From != "" {
			m[v.ID] = true
		}
	}
	return m
}

func skippedRow(s activities.Skipped, in RegionInput) Row {
	switch s.Why {
	case activities.SkipNotRunning:
		return Row{InstanceID: s.ID, Problem: ProblemNotRunning, Outcome: OutcomeNotRunning,
			Detail: "instance is " + string(s.State) + " at scan; skipped, not touched"}
	case activities.SkipExcluded:
		return Row{InstanceID: s.ID, Outcome: OutcomeExcluded, Detail: "carries the opt-out tag " + in.ExcludeTag + "; never touched"}
	case activities.SkipNotFound:
		return Row{InstanceID: s.ID, Outcome: OutcomeFailed, Reason: ReasonNotFound, Detail: "no such instance in " + in.Region}
	case activities.SkipManaged:
		return managedRow(s)
	}
	return Row{InstanceID: s.ID, Outcome: OutcomeUnknown,
		Detail: "ECS listed it but did not answer for its state or agent (deleted during the scan, or an incomplete answer); not acted on"}
}

// mergeZones adds b's counts to a's, both sorted by zone.
func mergeZones(a, b []activities.ZoneCount) []activities.ZoneCount {
	for _, z := range b {
		i, found := slices.BinarySearchFunc(a, z.Zone, func(x activities.ZoneCount, zone string) int { return strings.Compare(x.Zone, zone) })
		if found {
			a[i].Running += z.Running
			a[i].Unhealthy += z.Unhealthy
			continue
		}
		a = slices.Insert(a, i, z)
	}
	return a
}

// warnOnce adds a warning unless one with the same key prefix exists.
func (r *run) warnOnce(key, msg string) {
	for _, w := range r.st.Warnings {
		if strings.HasPrefix(w, "["+key+"]") {
			return
		}
	}
	r.warn("[" + key + "] " + msg)
}

// managedRow reports a managed instance with its agent as the listing gave
// it. An unhealthy agent gets the problem an ECS instance would, so the
// rows can be filtered alike; nothing is done about it.
func managedRow(s activities.Skipped) Row {
	row := Row{InstanceID: s.ID, Outcome: OutcomeManaged}
	var a activities.AgentSeen
	if s.Agent != nil {
		a = *s.Agent
	}
	var agent string
	switch {
	case a.Healthy:
		agent = "agent healthy, version " + a.Version
	case a.LastHeartbeat.IsZero():
		row.Problem = ProblemAgentMissing
		agent = "agent never reported"
	default:
		row.Problem = ProblemAgentSilent
		agent = "agent offline, last heartbeat " + a.LastHeartbeat.UTC().Format(time.RFC3339)
	}
	row.Detail = "managed instance (outside ECS): " + agent + "; reported, never repaired (ECS cannot install on or reboot it)"
	return row
}
