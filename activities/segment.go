package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/ecs"
)

// Problems a scan finds on a Running instance.
const (
	ProblemAgentMissing = "agent-missing" // never sent a heartbeat
	ProblemAgentSilent  = "agent-silent"  // installed, no heartbeat in the last 2 minutes
)

// Why a scanned instance is skipped (and reported) rather than repaired.
const (
	SkipNotRunning = "not-running" // not Running at the scan
	SkipExcluded   = "excluded"    // carries the exclusion tag
	SkipUnknown    = "unknown"     // an answer did not cover it
	SkipNotFound   = "not-found"   // an instance ID given to the run does not exist
	// SkipManaged: a managed instance (an "mi-" ID, a server outside ECS
	// registered with Cloud Assistant) in the listing. ECS cannot install
	// on or reboot it, so it is reported with its agent, never repaired.
	SkipManaged = "managed"
)

// Limits of one scan segment.
const (
	MaxSegmentPages = 1000 // DescribeCloudAssistantStatus pages per segment
	MaxSegmentIDs   = 1000 // explicit instance IDs per segment
	// lookupParallelism is how many DescribeInstances lookups run beside the
	// token chain: one is enough to keep up with a chain that reads two
	// pages per lookup; two absorb a slow answer.
	lookupParallelism = 2
)

// SegmentInput names one stretch of a region's scan: a run of a
// DescribeCloudAssistantStatus NextToken chain (a cursor that stays exact
// while instances are created and deleted), or a chunk of explicit IDs.
type SegmentInput struct {
	Region string `json:"region"`
	// OSType is the chain's OSType filter ("" lists every instance). Chains
	// of different OS types are independent cursors that can run side by side.
	OSType string `json:"os_type,omitempty"`
	// NextToken continues a chain; "" starts it.
	NextToken string `json:"next_token,omitempty"`
	// MaxPages bounds the pages (≤ 50 instances each) this segment reads.
	MaxPages int `json:"max_pages"`
	// ZoneID, when set, leaves out instances of other zones.
	ZoneID string `json:"zone_id,omitempty"`
	// ExcludeTag is "key" or "key=value": instances with that tag are
	// excluded (never touched, counted).
	ExcludeTag string `json:"exclude_tag,omitempty"`
	// InstanceIDs, when set, scans exactly these instances (≤ 1000) instead
	// of a token chain.
	InstanceIDs []string `json:"instance_ids,omitempty"`
	// CountOnly: the result holds the counts and the zones only (no
	// candidates, skipped instances or agent versions): the region's
	// health, for a run that acts on other instances than it measures.
	CountOnly bool `json:"count_only,omitempty"`
}

// Candidate is a Running instance with an unhealthy agent: what a run
// repairs. Short JSON names keep a queue of thousands small enough to carry
// across continue-as-new.
type Candidate struct {
	ID      string `json:"i"`
	Zone    string `json:"z,omitempty"`
	Problem string `json:"p"`
}

// Skipped is a scanned instance that is reported but not repaired.
type Skipped struct {
	ID    string            `json:"i"`
	Why   string            `json:"w"`
	State ecs.InstanceState `json:"s,omitempty"`
	Zone  string            `json:"z,omitempty"`
	// Agent is what the listing said about a managed instance's agent.
	Agent *AgentSeen `json:"a,omitempty"`
}

// AgentSeen is an agent's status as a DescribeCloudAssistantStatus page
// gave it.
type AgentSeen struct {
	Healthy bool `json:"h,omitempty"`
	// Version is empty when the agent is not running (documented).
	Version       string    `json:"v,omitempty"`
	LastHeartbeat time.Time `json:"b,omitzero"`
	OSType        string    `json:"o,omitempty"`
}

// ScanCounts are what a segment saw. Listed is every instance the chain
// gave; the other counts split it. Managed instances are listed and
// counted as Managed (or FilteredOut, by a zone filter: they have no
// zone), never in Running or a zone, so the short-circuit's shares and the
// blast radius are of ECS instances only.
type ScanCounts struct {
	Listed      int `json:"listed"`
	Running     int `json:"running"` // Running and neither excluded nor filtered out
	Healthy     int `json:"healthy"`
	Outdated    int `json:"outdated"` // healthy, agent too old for Session Manager
	Missing     int `json:"missing"`
	Silent      int `json:"silent"`
	NotRunning  int `json:"not_running"`
	Excluded    int `json:"excluded"`
	FilteredOut int `json:"filtered_out"`
	Unknown     int `json:"unknown"`
	NotFound    int `json:"not_found"`
	Managed     int `json:"managed,omitempty"`
	// ManagedUnhealthy are the managed instances whose agent was not
	// healthy (reported, never repaired).
	ManagedUnhealthy int `json:"managed_unhealthy,omitempty"`
}

// Add adds o to c.
func (c *ScanCounts) Add(o ScanCounts) {
	c.Listed += o.Listed
	c.Running += o.Running
	c.Healthy += o.Healthy
	c.Outdated += o.Outdated
	c.Missing += o.Missing
	c.Silent += o.Silent
	c.NotRunning += o.NotRunning
	c.Excluded += o.Excluded
	c.FilteredOut += o.FilteredOut
	c.Unknown += o.Unknown
	c.NotFound += o.NotFound
	c.Managed += o.Managed
	c.ManagedUnhealthy += o.ManagedUnhealthy
}

// ZoneCount is one zone's Running instances and how many of them have an
// unhealthy agent: what the fleet-wide short-circuit looks at.
type ZoneCount struct {
	Zone      string `json:"zone"`
	Running   int    `json:"running"`
	Unhealthy int    `json:"unhealthy"`
}

// SegmentResult is one segment of the scan. Healthy instances are only
// counted, so the result stays small at any fleet size.
type SegmentResult struct {
	// NextToken continues the chain; empty with Done when it has ended.
	NextToken  string      `json:"next_token,omitempty"`
	Done       bool        `json:"done"`
	Pages      int         `json:"pages"`
	Calls      int         `json:"calls"`
	Counts     ScanCounts  `json:"counts"`
	Zones      []ZoneCount `json:"zones,omitempty"` // sorted by zone
	Candidates []Candidate `json:"candidates,omitempty"`
	Skipped    []Skipped   `json:"skipped,omitempty"`
	// Interrupted says why the segment ended before MaxPages: a call
	// failed after some pages were done. NextToken resumes after them.
	Interrupted string `json:"interrupted,omitempty"`
	// Agents is the agent versions of the Running instances (see agents.go).
	Agents AgentScan `json:"agents,omitzero"`
}

// segment accumulates a segment's findings; lookups run concurrently, so
// it has a lock.
type segment struct {
	in    SegmentInput
	mu    sync.Mutex
	res   SegmentResult
	zones map[string]*ZoneCount
}

// ScanSegment reads one stretch of the region. In a chain, each
// DescribeCloudAssistantStatus page (≤ 50 instances, with their agent
// status) is followed by one DescribeInstances lookup per 100 instances
// (state, zone, OS, tags), which runs while the next page is read. So a
// scan of N instances makes ⌈N/50⌉ + ⌈N/100⌉ calls, and its critical path
// is the chain. An instance the lookup does not answer for (deleted since
// it was listed, or an incomplete answer) is asked about once more and
// otherwise counted as unknown: it is never acted on. A managed instance
// in the listing is not asked about at all (DescribeInstances does not
// know it, and an answer left without it must not look like a missing
// permission): it is reported with the agent status the page gave.
// Explicit InstanceIDs are ECS instances: a managed one is refused.
func (a *Activities) ScanSegment(ctx context.Context, in SegmentInput) (SegmentResult, error) {
	if len(in.InstanceIDs) == 0 && (in.MaxPages < 1 || in.MaxPages > MaxSegmentPages) {
		return SegmentResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("ScanSegment: MaxPages is %d, allowed range is 1..%d", in.MaxPages, MaxSegmentPages), "fleetmend.InvalidInput", nil)
	}
	if len(in.InstanceIDs) > MaxSegmentIDs {
		return SegmentResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("ScanSegment: %d InstanceIDs, allowed at most %d", len(in.InstanceIDs), MaxSegmentIDs), "fleetmend.InvalidInput", nil)
	}
	for i, id := range in.InstanceIDs {
		if ecs.IsManagedInstanceID(id) {
			return SegmentResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("ScanSegment: InstanceIDs[%d] %q is a managed instance, not an ECS instance: fleetmend cannot repair it", i, id), "fleetmend.InvalidInput", nil)
		}
	}
	c, err := a.client(in.Region)
	if err != nil {
		return SegmentResult{}, err
	}
	s := &segment{in: in, zones: map[string]*ZoneCount{}}
	if len(in.InstanceIDs) > 0 {
		err = s.listed(ctx, c)
	} else {
		err = s.chain(ctx, c)
	}
	if err != nil {
		return SegmentResult{}, err
	}
	return s.result(), nil
}

// chain follows the token chain for up to MaxPages pages. The pages are
// looked up in groups of whole pages (100 instances: two full pages), each
// group while the next pages are read. When a call fails, the segment ends
// with what the groups before it found and the token the first unfinished
// group started at, so the next segment resumes from the last completed
// page instead of reading the whole segment again; only a failure before
// any group finished fails the attempt (and is retried with backoff).
func (s *segment) chain(ctx context.Context, c *ecs.Client) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	slots := make(chan struct{}, lookupParallelism)
	var groups []*pageGroup
	start := func(g *pageGroup) {
		groups = append(groups, g)
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			g.err = ctx.Err()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if g.err = g.sub.lookup(ctx, c, g.agents); g.err != nil {
				cancel() // the groups after this one cannot be kept anyway
			}
			s.count(func(r *SegmentResult) { r.Calls += g.sub.res.Calls })
		}()
	}
	token := s.in.NextToken
	cur := &pageGroup{token: token, sub: s.child()}
	var pageErr error
	done := false
	for page := 0; page < s.in.MaxPages && ctx.Err() == nil; page++ {
		activity.RecordHeartbeat(ctx, page)
		p, err := c.AgentStatusPage(ctx, ecs.AgentPageInput{NextToken: token, MaxResults: ecs.MaxPageSize, OSType: s.in.OSType})
		s.count(func(r *SegmentResult) { r.Calls++; r.Pages++ })
		if err != nil {
			pageErr = appError("list agent status", err)
			break
		}
		cur.agents = append(cur.agents, p.Agents...)
		token = p.NextToken
		done = token == ""
		if len(cur.agents) >= ecs.MaxDescribeInstancesIDs || done {
			cur.next, cur.done = token, done
			start(cur)
			cur = &pageGroup{token: token, sub: s.child()}
		}
		if done {
			break
		}
	}
	if len(cur.agents) > 0 && pageErr == nil && ctx.Err() == nil {
		// MaxPages ended inside a group: look up what was read.
		cur.next, cur.done = token, done
		start(cur)
	}
	wg.Wait()
	// Keep the groups that finished, in order, up to the first that did
	// not; go on from where that one started.
	kept := 0
	var firstErr error
	resume, end := s.in.NextToken, false
	for _, g := range groups {
		if g.err != nil {
			firstErr = g.err
			break
		}
		s.merge(g.sub)
		resume, end = g.next, g.done
		kept++
	}
	if firstErr == nil {
		firstErr = pageErr
	}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = appError("scan", ctx.Err())
	}
	if firstErr != nil && kept == 0 {
		return firstErr
	}
	if firstErr != nil {
		s.res.Interrupted = oneLine(firstErr)
	}
	s.res.NextToken, s.res.Done = resume, end
	return nil
}

// pageGroup is whole pages of a chain looked up together: the token they
// were read from, the token after them, and what their lookup found.
type pageGroup struct {
	token, next string
	done        bool
	agents      []ecs.AgentStatus
	sub         *segment
	err         error
}

// child is an empty segment for one group's findings.
func (s *segment) child() *segment {
	return &segment{in: s.in, zones: map[string]*ZoneCount{}}
}

// merge adds a group's findings to the segment's.
func (s *segment) merge(g *segment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	calls := s.res.Calls
	s.res.Counts.Add(g.res.Counts)
	s.res.Candidates = append(s.res.Candidates, g.res.Candidates...)
	s.res.Skipped = append(s.res.Skipped, g.res.Skipped...)
	s.res.Agents.Merge(g.res.Agents)
	for zone, z := range g.zones {
		mine := s.zones[zone]
		if mine == nil {
			mine = &ZoneCount{Zone: zone}
			s.zones[zone] = mine
		}
		mine.Running += z.Running
		mine.Unhealthy += z.Unhealthy
	}
	s.res.Calls = calls
}

// lookup reads state, zone and tags of up to 100 listed instances and
// classifies them. Managed instances are left out of the lookup.
func (s *segment) lookup(ctx context.Context, c *ecs.Client, agents []ecs.AgentStatus) error {
	ids := make([]string, 0, len(agents))
	for _, a := range agents {
		if !ecs.IsManagedInstanceID(a.InstanceID) {
			ids = append(ids, a.InstanceID)
		}
	}
	var infos map[string]ecs.InstanceInfo
	if len(ids) > 0 {
		var calls int
		var err error
		infos, calls, err = describeInstances(ctx, c, ids)
		s.count(func(r *SegmentResult) { r.Calls += calls })
		if err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range agents {
		s.res.Counts.Listed++
		if ecs.IsManagedInstanceID(a.InstanceID) {
			s.managed(a)
			continue
		}
		info, ok := infos[a.InstanceID]
		if !ok {
			s.res.Counts.Unknown++
			s.res.Skipped = append(s.res.Skipped, Skipped{ID: a.InstanceID, Why: SkipUnknown})
			continue
		}
		s.classify(info, a)
	}
	return nil
}

// listed scans explicit instance IDs: DescribeInstances for state, zone and
// tags, then the agent status of the Running ones.
func (s *segment) listed(ctx context.Context, c *ecs.Client) error {
	for chunk := range slices.Chunk(s.in.InstanceIDs, ecs.MaxDescribeInstancesIDs) {
		activity.RecordHeartbeat(ctx)
		infos, calls, err := describeInstances(ctx, c, chunk)
		s.res.Calls += calls
		if err != nil {
			return err
		}
		var running []string
		for _, id := range chunk {
			info, ok := infos[id]
			switch {
			case !ok:
				s.res.Counts.NotFound++
				s.res.Skipped = append(s.res.Skipped, Skipped{ID: id, Why: SkipNotFound})
			case info.State == ecs.StateRunning && !s.excluded(info) && s.inZone(info):
				running = append(running, id)
			default:
				s.res.Counts.Listed++
				s.classify(info, ecs.AgentStatus{InstanceID: id})
			}
		}
		if len(running) == 0 {
			continue
		}
		out := make([]Facts, len(running))
		index := make(map[string]int, len(running))
		for i, id := range running {
			out[i] = Facts{InstanceID: id, Exists: true, State: ecs.StateRunning}
			index[id] = i
		}
		beat := plainBeat(ctx)
		fs, err := withAgents(ctx, c, out, index, "", beat, func(ids []string) error { return describeStates(ctx, c, ids, out, index, beat) })
		if err != nil {
			return err
		}
		s.res.Calls += (len(running) + ecs.MaxAgentStatusIDs - 1) / ecs.MaxAgentStatusIDs
		for _, f := range fs {
			s.res.Counts.Listed++
			info := infos[f.InstanceID]
			switch {
			case !f.Exists:
				s.res.Counts.NotFound++
				s.res.Skipped = append(s.res.Skipped, Skipped{ID: f.InstanceID, Why: SkipNotFound})
			case f.Unknown:
				s.res.Counts.Unknown++
				s.res.Skipped = append(s.res.Skipped, Skipped{ID: f.InstanceID, Why: SkipUnknown, State: f.State, Zone: info.ZoneID})
			default:
				s.classify(info, ecs.AgentStatus{InstanceID: f.InstanceID, Healthy: f.Healthy, LastHeartbeat: f.LastHeartbeat,
					SupportSessionManager: f.SessionManager, Version: f.AgentVersion, OSType: f.OSType})
			}
		}
	}
	s.res.Done = true
	return nil
}

// classify files one instance whose state and agent status are known.
// Callers hold s.mu (or own s alone).
func (s *segment) classify(info ecs.InstanceInfo, a ecs.AgentStatus) {
	r := &s.res
	switch {
	case s.excluded(info):
		r.Counts.Excluded++
		r.Skipped = append(r.Skipped, Skipped{ID: info.InstanceID, Why: SkipExcluded, State: info.State, Zone: info.ZoneID})
	case !s.inZone(info):
		r.Counts.FilteredOut++
	case info.State != ecs.StateRunning:
		r.Counts.NotRunning++
		r.Skipped = append(r.Skipped, Skipped{ID: info.InstanceID, Why: SkipNotRunning, State: info.State, Zone: info.ZoneID})
	default:
		r.Counts.Running++
		z := s.zones[info.ZoneID]
		if z == nil {
			z = &ZoneCount{Zone: info.ZoneID}
			s.zones[info.ZoneID] = z
		}
		z.Running++
		if a.Version != "" {
			r.Agents.Add(info.InstanceID, agentOS(a, info), a.Version)
		}
		switch {
		case a.Healthy:
			r.Counts.Healthy++
			if !a.SupportSessionManager {
				r.Counts.Outdated++
			}
		case a.LastHeartbeat.IsZero():
			r.Counts.Missing++
			z.Unhealthy++
			r.Candidates = append(r.Candidates, Candidate{ID: info.InstanceID, Zone: info.ZoneID, Problem: ProblemAgentMissing})
		default:
			r.Counts.Silent++
			z.Unhealthy++
			r.Candidates = append(r.Candidates, Candidate{ID: info.InstanceID, Zone: info.ZoneID, Problem: ProblemAgentSilent})
		}
	}
}

// managed files a managed instance of the listing: reported with its
// agent, never a candidate, in no zone (so a run limited to a zone leaves
// it out). Callers hold s.mu.
func (s *segment) managed(a ecs.AgentStatus) {
	r := &s.res
	if s.in.ZoneID != "" {
		r.Counts.FilteredOut++
		return
	}
	r.Counts.Managed++
	if !a.Healthy {
		r.Counts.ManagedUnhealthy++
	}
	r.Skipped = append(r.Skipped, Skipped{ID: a.InstanceID, Why: SkipManaged,
		Agent: &AgentSeen{Healthy: a.Healthy, Version: a.Version, LastHeartbeat: a.LastHeartbeat, OSType: a.OSType}})
}

func (s *segment) excluded(info ecs.InstanceInfo) bool {
	return HasTag(info.Tags, s.in.ExcludeTag)
}

func (s *segment) inZone(info ecs.InstanceInfo) bool {
	return s.in.ZoneID == "" || info.ZoneID == s.in.ZoneID
}

func (s *segment) count(fn func(*SegmentResult)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.res)
}

// result is the segment's findings, zones sorted so the result does not
// depend on map order.
func (s *segment) result() SegmentResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.res
	if s.in.CountOnly {
		r.Candidates, r.Skipped, r.Agents = nil, nil, AgentScan{}
	}
	for _, z := range s.zones {
		r.Zones = append(r.Zones, *z)
	}
	slices.SortFunc(r.Zones, func(a, b ZoneCount) int { return strings.Compare(a.Zone, b.Zone) })
	return r
}

// HasTag reports whether tags match an exclusion spec: "key" matches the
// key with any value, "key=value" only that value. An empty spec matches
// nothing.
func HasTag(tags []ecs.Tag, spec string) bool {
	if spec == "" {
		return false
	}
	key, value, withValue := strings.Cut(spec, "=")
	for _, t := range tags {
		if t.Key == key && (!withValue || t.Value == value) {
			return true
		}
	}
	return false
}

// describeInstances looks up ids (≤ 100) and returns what ECS answered, by
// ID. IDs left out are asked about once more; ECS leaves out deleted
// instances, and an incomplete answer must not make an existing instance
// look deleted or broken. An answer that covers none of many instances,
// twice, is not instances vanishing together: DescribeInstances' documents
// say that a RAM user or role without the permission gets an empty list
// instead of an error, so that is how it is reported.
func describeInstances(ctx context.Context, c *ecs.Client, ids []string) (map[string]ecs.InstanceInfo, int, error) {
	out := make(map[string]ecs.InstanceInfo, len(ids))
	calls := 0
	ask := ids
	for round := 0; round < 2 && len(ask) > 0; round++ {
		calls++
		infos, err := c.DescribeInstances(ctx, ask)
		if err != nil {
			return nil, calls, appError("describe instances", err)
		}
		for _, info := range infos {
			out[info.InstanceID] = info
		}
		var missing []string
		for _, id := range ask {
			if _, ok := out[id]; !ok {
				missing = append(missing, id)
			}
		}
		ask = missing
	}
	if len(out) == 0 && len(ids) >= minIDsForEmptyAnswer {
		return nil, calls, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"DescribeInstances answered for none of the %d instances asked about, twice: its documents say a RAM user or role without ecs:DescribeInstances gets an empty list instead of an error; grant ecs:DescribeInstances to the worker's RAM user or role (see the README's RAM policy)",
			len(ids)), CodeEmptyAnswer, nil)
	}
	return out, calls, nil
}

// minIDsForEmptyAnswer is how many instances an empty DescribeInstances
// answer must have been asked about to mean a missing permission rather
// than instances deleted since they were listed.
const minIDsForEmptyAnswer = 20

// CodeEmptyAnswer is the error type of an empty DescribeInstances answer
// to many instances: account-level (a missing permission), like Forbidden.
const CodeEmptyAnswer = "Forbidden.EmptyAnswer"
