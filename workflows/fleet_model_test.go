package workflows

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
)

// modelInstance is one instance of the in-memory fleet the workflow unit
// tests run against. It stands in for the activities only; end-to-end tests
// use the real simulator through the real activities.
type modelInstance struct {
	id           string
	state        ecs.InstanceState
	healthy      bool
	everBeat     bool
	installed    bool // install pending or done
	installFails bool
	gone         bool
	healOnGrace  bool // agent starts on its own after install (no reboot needed)
	// lostReboot plays a worker that died between storing the reboot intent
	// and sending the call: the retried activity reports it unconfirmed.
	lostReboot bool
	installs   int
	reboots    int
	zone       string
	tags       []ecs.Tag
	// refuseInstall: InstallCloudAssistant refuses the instance.
	refuseInstall bool
	// beatsOnce: after its reboot the agent reports once, then goes silent.
	beatsOnce bool
	// managed: a managed instance (mi-…): listed with its agent, unknown to
	// every ECS call.
	managed bool
}

// fleetModel answers the five activities from a map, records every call,
// and lets a test change the fleet between steps (hooks).
type fleetModel struct {
	mu        sync.Mutex
	byID      map[string]*modelInstance
	order     []string
	installs  [][]string
	reboots   [][]string
	checks    [][]string
	verifies  [][]string
	scans     []activities.ScanInput
	afterScan func(page int) // runs after a page is served
	beforeChk func(ids []string)
	afterChk  func() // runs after a re-check answered, before the next step
	failInst  error  // InstallAgents fails with this, when set
	failBoot  error  // RebootIfStillUnhealthy fails with this, when set
	polls     [][]string
	segments  []activities.SegmentInput
	// afterSegment runs after a scan segment is served, with its input.
	afterSegment func(in activities.SegmentInput)
	// holder is the run the region is granted to ("" free); ledger is the
	// guard's record of failed repairs.
	holder   string
	acquires []guard.AcquireRequest
	releases []string
	ledger   map[string][]guard.Attempt
	records  []guard.RecordRequest
	// unknown instances are left out of agent status answers.
	unknown map[string]bool
	// fences and confirms are what runs and batches asked the guard;
	// inherited is what InheritReboots answers.
	fences    []guard.FenceRequest
	confirms  int
	inherited guard.InheritResult
	// grant, when set, answers AcquireRegion instead of the holder logic.
	grant func(in guard.AcquireInput) guard.AcquireResult
	// releaseInputs are the runs' releases as sent; failPoll and
	// failInherit make PollAgents and InheritReboots fail with them.
	releaseInputs []guard.ReleaseInput
	failPoll      error
	failInherit   error
	// afterReboot runs, under the model's lock, after each reboot call.
	afterReboot func(m *fleetModel, rebooted []string)
	// beats numbers the heartbeats healthy agents send.
	beats int
}

func newFleetModel() *fleetModel {
	return &fleetModel{byID: map[string]*modelInstance{}, ledger: map[string][]guard.Attempt{}}
}

func modelID(n int) string { return fmt.Sprintf("i-test%08d", n) }

func managedModelID(n int) string { return fmt.Sprintf("mi-test%08d", n) }

// addManaged adds a managed instance whose agent is healthy or not.
func (m *fleetModel) addManaged(n int, healthy bool) *modelInstance {
	in := &modelInstance{id: managedModelID(n), state: ecs.StateRunning, healthy: healthy, everBeat: true, managed: true}
	m.byID[in.id] = in
	m.order = append(m.order, in.id)
	sort.Strings(m.order)
	return in
}

func (m *fleetModel) add(n int, state ecs.InstanceState, healthy, everBeat bool) *modelInstance {
	in := &modelInstance{id: modelID(n), state: state, healthy: healthy, everBeat: everBeat || healthy, zone: "cn-hangzhou-a"}
	m.byID[in.id] = in
	m.order = append(m.order, in.id)
	sort.Strings(m.order)
	return in
}

// addMany adds n instances at once (sorting once), each set up by fn.
func (m *fleetModel) addMany(n int, fn func(i int, in *modelInstance)) {
	for i := range n {
		in := &modelInstance{id: modelID(i), zone: "cn-hangzhou-a"}
		fn(i, in)
		m.byID[in.id] = in
		m.order = append(m.order, in.id)
	}
	sort.Strings(m.order)
}

func (m *fleetModel) live() []string {
	var out []string
	for _, id := range m.order {
		if !m.byID[id].gone {
			out = append(out, id)
		}
	}
	return out
}

func (m *fleetModel) facts(id string) activities.Facts {
	in, ok := m.byID[id]
	if !ok || in.gone || in.managed {
		return activities.Facts{InstanceID: id} // ECS knows no managed instance
	}
	f := activities.Facts{InstanceID: id, Exists: true, State: in.state, Healthy: in.healthy, Matched: true, SessionManager: true,
		Unknown: m.unknown[id]}
	if in.everBeat {
		f.LastHeartbeat = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if in.healthy {
		// A healthy agent heartbeats on: each look sees a later one.
		m.beats++
		f.LastHeartbeat = f.LastHeartbeat.Add(time.Duration(m.beats) * time.Second)
	}
	return f
}

func (m *fleetModel) scanPage(_ context.Context, in activities.ScanInput) (activities.ScanResult, error) {
	m.mu.Lock()
	m.scans = append(m.scans, in)
	live := m.live()
	var res activities.ScanResult
	if len(in.InstanceIDs) > 0 {
		res.PageNumber, res.TotalCount = 1, len(in.InstanceIDs)
		for _, id := range in.InstanceIDs {
			if f := m.facts(id); f.Exists {
				res.Instances = append(res.Instances, f)
			} else {
				res.NotFound = append(res.NotFound, id)
			}
		}
	} else {
		res.PageNumber, res.TotalCount = in.PageNumber, len(live)
		start := (in.PageNumber - 1) * in.PageSize
		for i := start; i < len(live) && i < start+in.PageSize; i++ {
			res.Instances = append(res.Instances, m.facts(live[i]))
		}
	}
	hook := m.afterScan
	m.mu.Unlock()
	if hook != nil {
		hook(in.PageNumber)
	}
	return res, nil
}

func (m *fleetModel) check(_ context.Context, in activities.CheckInput) (activities.CheckResult, error) {
	if m.beforeChk != nil {
		m.beforeChk(in.InstanceIDs)
	}
	m.mu.Lock()
	m.checks = append(m.checks, slices.Clone(in.InstanceIDs))
	var res activities.CheckResult
	for _, id := range in.InstanceIDs {
		res.Instances = append(res.Instances, m.facts(id))
	}
	m.mu.Unlock()
	if m.afterChk != nil {
		m.afterChk()
	}
	return res, nil
}

func (m *fleetModel) install(_ context.Context, in activities.InstallInput) (activities.InstallResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failInst != nil {
		return activities.InstallResult{}, m.failInst
	}
	m.installs = append(m.installs, slices.Clone(in.InstanceIDs))
	var res activities.InstallResult
	for _, id := range in.InstanceIDs {
		f := m.facts(id)
		switch {
		case !f.Exists:
			res.Rejected = append(res.Rejected, activities.Rejection{InstanceID: id, Code: "InvalidInstance.NotFound", Vanished: true})
		case f.State != ecs.StateRunning:
			res.Rejected = append(res.Rejected, activities.Rejection{InstanceID: id, Code: "IncorrectInstanceStatus", State: f.State})
		case f.Healthy:
			res.Rejected = append(res.Rejected, activities.Rejection{InstanceID: id, Code: "fleetmend.Recovered", Recovered: true})
		case m.byID[id].refuseInstall:
			res.Rejected = append(res.Rejected, activities.Rejection{InstanceID: id, Code: "InvalidOperation.InstallFailed", Reason: "the install was refused"})
		default:
			in := m.byID[id]
			in.installs++
			if !in.installFails {
				in.installed = true
				if in.healOnGrace {
					in.healthy, in.everBeat = true, true
				}
			}
			res.Installed = append(res.Installed, id)
		}
	}
	return res, nil
}

func (m *fleetModel) reboot(_ context.Context, in activities.RebootInput) (activities.RebootOutcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failBoot != nil {
		return activities.RebootOutcome{}, m.failBoot
	}
	var out activities.RebootOutcome
	var sent []string
	for _, id := range in.InstanceIDs {
		f := m.facts(id)
		switch {
		case !f.Exists:
			out.Rejected = append(out.Rejected, activities.Rejection{InstanceID: id, Code: "InvalidInstance.NotFound", Vanished: true})
		case f.State != ecs.StateRunning:
			out.Rejected = append(out.Rejected, activities.Rejection{InstanceID: id, Code: "IncorrectInstanceStatus", State: f.State})
		case f.Healthy:
			out.Healthy = append(out.Healthy, id)
		case m.byID[id].lostReboot:
			out.Unconfirmed = append(out.Unconfirmed, id)
		default:
			inst := m.byID[id]
			inst.reboots++
			if inst.installed {
				inst.healthy, inst.everBeat = true, true
			}
			sent = append(sent, id)
			out.Rebooted = append(out.Rebooted, id)
			out.InTransit = append(out.InTransit, id)
		}
	}
	m.reboots = append(m.reboots, sent)
	if m.afterReboot != nil {
		m.afterReboot(m, sent)
	}
	return out, nil
}

func (m *fleetModel) verify(_ context.Context, in activities.VerifyInput) (activities.VerifyResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.verifies = append(m.verifies, slices.Clone(in.InstanceIDs))
	res := activities.VerifyResult{Polls: 1}
	for _, id := range in.InstanceIDs {
		f := m.facts(id)
		switch {
		case !f.Exists:
			res.Vanished = append(res.Vanished, id)
		case f.Healthy:
			res.Healthy = append(res.Healthy, id)
		default:
			res.Unhealthy = append(res.Unhealthy, f)
		}
	}
	return res, nil
}

func (m *fleetModel) installedIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, c := range m.installs {
		out = append(out, c...)
	}
	return out
}

func (m *fleetModel) rebootedIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, c := range m.reboots {
		out = append(out, c...)
	}
	return out
}

// wire registers both workflows and answers every activity from the model.
func (m *fleetModel) wire(env *testsuite.TestWorkflowEnvironment) {
	a := &activities.Activities{}
	ga := &guard.Activities{}
	env.RegisterWorkflow(RemediateRegion)
	env.RegisterWorkflow(RemediateBatch)
	env.RegisterActivity(a)
	env.RegisterActivity(ga)
	env.OnActivity(a.ScanPage, mock.Anything, mock.Anything).Return(m.scanPage)
	env.OnActivity(a.CheckInstances, mock.Anything, mock.Anything).Return(m.check)
	env.OnActivity(a.InstallAgents, mock.Anything, mock.Anything).Return(m.install)
	env.OnActivity(a.RebootIfStillUnhealthy, mock.Anything, mock.Anything).Return(m.reboot)
	env.OnActivity(a.VerifyAgents, mock.Anything, mock.Anything).Return(m.verify)
	env.RegisterWorkflow(guard.RegionGuard)
	env.OnActivity(a.ScanSegment, mock.Anything, mock.Anything).Return(m.scanSegment)
	env.OnActivity(a.PollAgents, mock.Anything, mock.Anything).Return(m.poll)
	env.OnActivity(ga.AcquireRegion, mock.Anything, mock.Anything).Return(m.acquire)
	env.OnActivity(ga.ReleaseRegion, mock.Anything, mock.Anything).Return(m.release)
	env.OnActivity(ga.RecordAttempts, mock.Anything, mock.Anything).Return(m.record)
	env.OnActivity(ga.ReadLedger, mock.Anything, mock.Anything).Return(m.readLedger)
	env.OnActivity(ga.FenceBatches, mock.Anything, mock.Anything).Return(m.fenceBatches)
	env.OnActivity(ga.ConfirmHolder, mock.Anything, mock.Anything).Return(m.confirm)
	env.OnActivity(ga.InheritReboots, mock.Anything, mock.Anything).Return(m.inheritReboots)
}

// fenceBatches records what the run told the guard; the model's holder
// decides.
func (m *fleetModel) fenceBatches(_ context.Context, in guard.FenceInput) (guard.FenceResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fences = append(m.fences, in.Fence)
	if m.holder != in.Fence.WorkflowID {
		return guard.FenceResult{Reason: "the region is held by " + m.holder}, nil
	}
	return guard.FenceResult{OK: true}, nil
}

func (m *fleetModel) confirm(_ context.Context, in guard.ConfirmInput) (guard.FenceResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.confirms++
	if m.holder != in.WorkflowID {
		return guard.FenceResult{Reason: "the guard names " + m.holder + " as holder"}, nil
	}
	return guard.FenceResult{OK: true}, nil
}

func (m *fleetModel) inheritReboots(_ context.Context, in guard.InheritInput) (guard.InheritResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failInherit != nil {
		return guard.InheritResult{}, m.failInherit
	}
	return m.inherited, nil
}

// scanSegment serves the token chain from the model: Linux holds every
// instance (the other OS chains are empty), the token is an offset.
func (m *fleetModel) scanSegment(_ context.Context, in activities.SegmentInput) (activities.SegmentResult, error) {
	m.mu.Lock()
	m.segments = append(m.segments, in)
	var res activities.SegmentResult
	zones := map[string]*activities.ZoneCount{}
	classify := func(in *modelInstance, tag string) {
		res.Counts.Listed++
		switch {
		case in.managed:
			res.Counts.Managed++
			seen := &activities.AgentSeen{Healthy: in.healthy, OSType: ecs.OSLinux, LastHeartbeat: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			if in.healthy {
				seen.Version = "2.2.3.256"
			} else {
				res.Counts.ManagedUnhealthy++
			}
			res.Skipped = append(res.Skipped, activities.Skipped{ID: in.id, Why: activities.SkipManaged, Agent: seen})
		case activities.HasTag(in.tags, tag):
			res.Counts.Excluded++
			res.Skipped = append(res.Skipped, activities.Skipped{ID: in.id, Why: activities.SkipExcluded, State: in.state, Zone: in.zone})
		case in.state != ecs.StateRunning:
			res.Counts.NotRunning++
			res.Skipped = append(res.Skipped, activities.Skipped{ID: in.id, Why: activities.SkipNotRunning, State: in.state, Zone: in.zone})
		default:
			res.Counts.Running++
			z := zones[in.zone]
			if z == nil {
				z = &activities.ZoneCount{Zone: in.zone}
				zones[in.zone] = z
			}
			z.Running++
			switch {
			case in.healthy:
				res.Counts.Healthy++
			case !in.everBeat:
				res.Counts.Missing++
				z.Unhealthy++
				res.Candidates = append(res.Candidates, activities.Candidate{ID: in.id, Zone: in.zone, Problem: activities.ProblemAgentMissing})
			default:
				res.Counts.Silent++
				z.Unhealthy++
				res.Candidates = append(res.Candidates, activities.Candidate{ID: in.id, Zone: in.zone, Problem: activities.ProblemAgentSilent})
			}
		}
	}
	if len(in.InstanceIDs) > 0 {
		for _, id := range in.InstanceIDs {
			inst, ok := m.byID[id]
			if !ok || inst.gone {
				res.Counts.NotFound++
				res.Skipped = append(res.Skipped, activities.Skipped{ID: id, Why: activities.SkipNotFound})
				continue
			}
			classify(inst, in.ExcludeTag)
		}
		res.Done = true
	} else if in.OSType != ecs.OSLinux {
		res.Done = true
	} else {
		// The token is the ID the next page starts at, like ECS's opaque
		// tokens: deleting instances behind it moves nothing.
		live := m.live()
		from, _ := slices.BinarySearch(live, in.NextToken)
		to := min(len(live), from+in.MaxPages*ecs.MaxPageSize)
		for _, id := range live[from:to] {
			classify(m.byID[id], in.ExcludeTag)
		}
		res.Pages = (to - from + ecs.MaxPageSize - 1) / ecs.MaxPageSize
		res.Done = to >= len(live)
		if !res.Done {
			res.NextToken = live[to]
		}
	}
	for _, z := range zones {
		res.Zones = append(res.Zones, *z)
	}
	sort.Slice(res.Zones, func(i, j int) bool { return res.Zones[i].Zone < res.Zones[j].Zone })
	hook := m.afterSegment
	m.mu.Unlock()
	if hook != nil {
		hook(in)
	}
	return res, nil
}

func (m *fleetModel) poll(_ context.Context, in activities.PollInput) (activities.PollResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failPoll != nil {
		return activities.PollResult{}, m.failPoll
	}
	m.polls = append(m.polls, slices.Clone(in.InstanceIDs))
	var res activities.PollResult
	for _, id := range in.InstanceIDs {
		f := m.facts(id)
		switch {
		case !f.Exists:
			res.Gone = append(res.Gone, id)
		case f.Healthy && !f.Unknown:
			res.Healthy = append(res.Healthy, id)
			res.Fresh = append(res.Fresh, activities.Waiting{ID: id, State: f.State, LastHeartbeat: f.LastHeartbeat})
			if inst := m.byID[id]; inst.beatsOnce {
				inst.healthy = false // one heartbeat, then silence
			}
		default:
			res.Waiting = append(res.Waiting, activities.Waiting{ID: id, State: f.State, LastHeartbeat: f.LastHeartbeat, Unknown: f.Unknown})
		}
	}
	return res, nil
}

func (m *fleetModel) acquire(_ context.Context, in guard.AcquireInput) (guard.AcquireResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acquires = append(m.acquires, in.Request)
	if m.grant != nil {
		res := m.grant(in)
		if res.Granted {
			m.holder = in.Request.WorkflowID
		}
		return res, nil
	}
	if m.holder != "" && m.holder != in.Request.WorkflowID {
		return guard.AcquireResult{Holder: guard.Holder{WorkflowID: m.holder}}, nil
	}
	m.holder = in.Request.WorkflowID
	return guard.AcquireResult{Granted: true, Holder: guard.Holder{WorkflowID: m.holder}}, nil
}

func (m *fleetModel) release(_ context.Context, in guard.ReleaseInput) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.releases = append(m.releases, in.WorkflowID)
	m.releaseInputs = append(m.releaseInputs, in)
	if m.holder == in.WorkflowID {
		m.holder = ""
	}
	return nil
}

func (m *fleetModel) record(_ context.Context, in guard.RecordInput) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records = append(m.records, in.Record)
	for _, id := range in.Record.Healed {
		delete(m.ledger, id)
	}
	for _, f := range in.Record.Failed {
		m.ledger[f.InstanceID] = append(m.ledger[f.InstanceID], f.Attempt)
	}
	return nil
}

func (m *fleetModel) readLedger(_ context.Context, in guard.LedgerInput) (guard.LedgerView, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v guard.LedgerView
	for id, attempts := range m.ledger {
		rec := guard.InstanceRecord{InstanceID: id, Attempts: attempts, Quarantined: len(attempts) >= in.After}
		if rec.Quarantined {
			rec.Until = attempts[len(attempts)-in.After].At.Add(in.Window)
		}
		v.Records = append(v.Records, rec)
	}
	sort.Slice(v.Records, func(i, j int) bool { return v.Records[i].InstanceID < v.Records[j].InstanceID })
	return v, nil
}
