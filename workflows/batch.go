package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
)

// BatchTarget is one instance handed to a batch and the problem the scan
// saw (see guard.BatchTarget).
type BatchTarget = guard.BatchTarget

// BatchInput is one RemediateBatch: at most 20 instances.
type BatchInput struct {
	Region     string `json:"region"`
	WorkflowID string `json:"run_id"` // a workflow ID under its old wire name, which recorded histories and the CLI's output carry
	Number     int    `json:"number"`
	// BatchStart holds the instances: a takeover reads them from the input
	// of a batch that closed without a result.
	guard.BatchStart
	RebootPolicy       string   `json:"reboot_policy"`
	RebootGrace        Duration `json:"reboot_grace"`
	VerifyDeadline     Duration `json:"verify_deadline"`
	VerifyPollInterval Duration `json:"verify_poll_interval"`
	// Engine 2 batches stop after the reboot and hand the instances to the
	// run, which verifies every batch's instances with shared calls. Batches
	// without it (recorded before the pipeline existed) verify themselves.
	// Engine 3 batches also confirm with the region's guard, right before
	// they install and right before they reboot, that their run still
	// holds the region (as Lease, the execution it was granted to).
	Engine int    `json:"engine,omitempty"`
	Lease  string `json:"lease,omitempty"`
	// ExcludeTag is the run's opt-out tag, read again right before the
	// install and the reboot (engine 3): an instance tagged since the scan
	// is left alone.
	ExcludeTag string `json:"exclude_tag,omitempty"`
}

// BatchResult has one row per decided instance, in input order. An engine 2
// batch leaves the instances it installed on (and rebooted) undecided and
// lists them in Verify: the run decides their outcome.
type BatchResult struct {
	Number    int   `json:"number"`
	Rows      []Row `json:"rows"`
	Installed int   `json:"installed"`
	Rebooted  int   `json:"rebooted"`
	// Handover is the instances the run must verify (engine 2): what a
	// takeover reads back from a closed run's batches.
	guard.Handover
	// AccountError is set when an ECS call failed for a reason no call
	// with these credentials can overcome (permissions, keys, region): the
	// run stops starting batches.
	AccountError     string `json:"account_error,omitempty"`
	AccountErrorCode string `json:"account_error_code,omitempty"`
	// Aborted: the run was aborted before this batch installed or rebooted.
	Aborted bool `json:"aborted,omitempty"`
	// RegionLost says why the batch stopped acting: its run no longer
	// holds the region (engine 3).
	RegionLost string `json:"region_lost,omitempty"`
	// APIError says why the batch stopped acting when the ECS API kept
	// failing (throttling, 5xx, transport) past its retries (engine 4):
	// its instances are api-error, not failed repairs.
	APIError string `json:"api_error,omitempty"`
}

// VerifyTarget is an instance a batch hands its run to verify (see
// guard.VerifyTarget).
type VerifyTarget = guard.VerifyTarget

// BatchControl is what a run tells its batches: pause (no new install or
// reboot starts until resumed) or abort (no new install or reboot at all).
type BatchControl struct {
	Paused  bool   `json:"paused"`
	Aborted bool   `json:"aborted"`
	Reason  string `json:"reason,omitempty"`
}

// SignalBatchControl is the signal a run sends its batches on pause,
// resume and abort.
const SignalBatchControl = "batch-control"

func (in BatchInput) validate() error {
	if in.Region == "" {
		return errors.New("region is required")
	}
	if n := len(in.Instances); n < 1 || n > ecs.MaxInstallIDs {
		return fmt.Errorf("instances has %d entries, allowed range is 1..%d", n, ecs.MaxInstallIDs)
	}
	ids := make([]string, len(in.Instances))
	for i, t := range in.Instances {
		ids[i] = t.InstanceID
	}
	if err := ecs.ValidateInstanceIDs("instances", ids); err != nil {
		return err
	}
	switch in.RebootPolicy {
	case RebootIfNeeded, RebootAlways, RebootNever:
	default:
		return fmt.Errorf("reboot_policy is %q, allowed values are if-needed, always, never", in.RebootPolicy)
	}
	if in.RebootGrace < 0 || in.RebootGrace.D() > MaxRebootGrace {
		return fmt.Errorf("reboot_grace is %s, allowed range is 0s..%s", in.RebootGrace, MaxRebootGrace)
	}
	if in.VerifyDeadline.D() < MinVerifyDeadline || in.VerifyDeadline.D() > MaxVerifyDeadline {
		return fmt.Errorf("verify_deadline is %s, allowed range is %s..%s", in.VerifyDeadline, MinVerifyDeadline, MaxVerifyDeadline)
	}
	if in.VerifyPollInterval.D() < MinVerifyPollInterval || in.VerifyPollInterval.D() > MaxVerifyPollInterval {
		return fmt.Errorf("verify_poll_interval is %s, allowed range is %s..%s", in.VerifyPollInterval, MinVerifyPollInterval, MaxVerifyPollInterval)
	}
	return nil
}

// batchRun is the state of one RemediateBatch: rows in input order, and a
// lookup by ID (used for lookups only, never iterated).
type batchRun struct {
	in      BatchInput
	rows    []Row
	index   map[string]int
	done    []bool
	steps   [][]string // per row: what was done, for the Action column
	result  BatchResult
	control BatchControl
}

func newBatchRun(in BatchInput) *batchRun {
	b := &batchRun{in: in, rows: make([]Row, len(in.Instances)), index: map[string]int{},
		done: make([]bool, len(in.Instances)), steps: make([][]string, len(in.Instances))}
	for i, t := range in.Instances {
		b.rows[i] = Row{InstanceID: t.InstanceID, Problem: t.Problem, Batch: in.Number}
		b.index[t.InstanceID] = i
	}
	return b
}

func (b *batchRun) ids() []string {
	ids := make([]string, len(b.in.Instances))
	for i, t := range b.in.Instances {
		ids[i] = t.InstanceID
	}
	return ids
}

func (b *batchRun) decide(id, outcome, reason, detail string) {
	i, ok := b.index[id]
	if !ok || b.done[i] {
		return
	}
	b.rows[i].Outcome, b.rows[i].Reason, b.rows[i].Detail = outcome, reason, detail
	b.done[i] = true
}

func (b *batchRun) step(id, what string) {
	if i, ok := b.index[id]; ok {
		b.steps[i] = append(b.steps[i], what)
	}
}

// undecided returns, in input order, the instances in ids without an outcome yet.
func (b *batchRun) undecided(ids []string) []string {
	var out []string
	for _, id := range ids {
		if i, ok := b.index[id]; ok && !b.done[i] {
			out = append(out, id)
		}
	}
	return out
}

// failAll gives every undecided instance the same failure.
func (b *batchRun) failAll(ids []string, reason string, err error) {
	for _, id := range b.undecided(ids) {
		b.decide(id, OutcomeFailed, reason, errText(err))
	}
}

// finish returns the rows of the decided instances; undecided ones are
// either handed to the run to verify (engine 2) or, unreachable by
// construction in a self-verifying batch, failed loudly so that no
// instance silently vanishes from the counts.
func (b *batchRun) finish() BatchResult {
	verifying := map[string]bool{}
	for _, v := range b.result.Verify {
		verifying[v.ID] = true
	}
	b.result.Rows = nil
	for i := range b.rows {
		b.rows[i].Action = strings.Join(b.steps[i], ", ")
		if verifying[b.rows[i].InstanceID] && !b.done[i] {
			continue
		}
		if !b.done[i] {
			b.rows[i].Outcome, b.rows[i].Reason = OutcomeFailed, ReasonBatchError
			b.rows[i].Detail = "no outcome was decided (bug)"
		}
		b.result.Rows = append(b.result.Rows, b.rows[i])
	}
	b.result.Number = b.in.Number
	return b.result
}

// reject maps an instance an action was refused for to its outcome.
func (b *batchRun) reject(r activities.Rejection, failReason string) {
	switch {
	case r.Vanished:
		b.decide(r.InstanceID, OutcomeFailed, ReasonVanished, r.Reason)
	case r.Excluded:
		b.decide(r.InstanceID, OutcomeExcluded, "", r.Reason)
	case r.Recovered:
		b.decide(r.InstanceID, OutcomeAlreadyHealthy, "", r.Reason)
	case r.Unknown:
		b.decide(r.InstanceID, OutcomeUnknown, "", r.Reason)
	case r.State != "" && r.State != ecs.StateRunning:
		b.decide(r.InstanceID, OutcomeNotRunning, "", r.Reason)
	default:
		b.decide(r.InstanceID, OutcomeFailed, failReason, strings.TrimSpace(r.Code+" "+r.Reason))
	}
}

// accountStop records an account-level error and fails what is left
// undecided of ids with it: no call with these credentials can succeed,
// so the batch acts no further.
func (b *batchRun) accountStop(ids []string, err error) bool {
	code, ok := accountLevel(err)
	if !ok || b.in.Engine < engineV2 {
		return false // batches recorded before the pipeline fail their instances as they did
	}
	b.result.AccountError, b.result.AccountErrorCode = errText(err), code
	b.failAll(ids, ReasonAccountError, err)
	return true
}

// apiStop records that the ECS API itself kept failing (throttling, 5xx,
// transport, a call that timed out) past the activity's retries, and fails
// what is left undecided of ids as api-error (engine 4): that is not the
// instances' failure, so it is not written to the ledger, does not fail a
// canary, and does not spend the error budget. The run stops starting
// batches: the next would meet the same API.
func (b *batchRun) apiStop(ids []string, err error) bool {
	if b.in.Engine < engineV4 || !apiFault(err) {
		return false
	}
	b.result.APIError = errText(err)
	for _, id := range b.undecided(ids) {
		b.decide(id, OutcomeFailed, ReasonAPIError, "the ECS API kept failing past the retries: "+errText(err))
	}
	return true
}

// apiFault says whether an activity failed because the API did (its error
// was retryable and the retries ran out, or the activity timed out),
// rather than because ECS refused the call for these instances.
func apiFault(err error) bool {
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return true
	}
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && !appErr.NonRetryable()
}

// RemediateBatch repairs at most 20 instances: re-check, install, reboot
// those still unhealthy. It returns one outcome per decided instance and
// fails only on invalid input: an API that keeps failing becomes the
// outcome of the instances it was for, so one bad instance or call never
// loses the rest of the batch.
//
// An engine 2 batch (every batch of the pipelined run) obeys its run's
// pause and abort, and hands what it installed and rebooted to the run,
// which verifies the agents of all its batches with shared calls and
// frees the blast radius as instances come back. An older batch verifies
// its own instances (kept so that batches recorded before the pipeline
// still replay).
func RemediateBatch(ctx workflow.Context, in BatchInput) (BatchResult, error) {
	if err := in.validate(); err != nil {
		return BatchResult{}, invalidInput(guard.BatchWorkflowType, err)
	}
	b := newBatchRun(in)
	if in.Engine >= engineV2 {
		b.listenForControl(ctx)
	}
	toInstall, ok := b.check(ctx)
	if !ok || len(toInstall) == 0 {
		return b.finish(), nil
	}
	if !b.gate(ctx, toInstall, "before install") {
		return b.finish(), nil
	}
	toReboot, ok := b.install(ctx, toInstall)
	if !ok {
		return b.finish(), nil
	}
	var rb activities.RebootOutcome
	rebootFailed := false
	if in.RebootPolicy != RebootNever && len(toReboot) > 0 {
		if err := b.grace(ctx); err != nil {
			return BatchResult{}, err // cancelled
		}
		if !b.gate(ctx, toReboot, "after install, before reboot") {
			return b.finish(), nil
		}
		rb, rebootFailed = b.reboot(ctx, toReboot)
		if b.result.AccountError != "" {
			return b.finish(), nil
		}
	}
	toVerify := b.undecided(toReboot)
	if in.Engine >= engineV2 {
		b.handOver(ctx, toVerify, rb, rebootFailed)
		return b.finish(), nil
	}
	return b.verifySelf(ctx, toVerify, rb.Unconfirmed)
}

// listenForControl follows the run's pause, resume and abort.
func (b *batchRun) listenForControl(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalBatchControl)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var c BatchControl
			if !ch.Receive(ctx, &c) {
				return
			}
			b.control = c
		}
	})
}

// gate holds the batch while its run is paused, and reports false (having
// decided the instances as not attempted) once the run is aborted. Older
// batches have no control and always pass.
func (b *batchRun) gate(ctx workflow.Context, ids []string, where string) bool {
	if b.in.Engine < engineV2 {
		return true
	}
	if err := workflow.Await(ctx, func() bool { return !b.control.Paused || b.control.Aborted }); err != nil {
		b.result.Aborted = true
	}
	if b.control.Aborted || b.result.Aborted {
		b.result.Aborted = true
		detail := "run aborted " + where
		if b.control.Reason != "" {
			detail += ": " + b.control.Reason
		}
		for _, id := range b.undecided(ids) {
			b.decide(id, OutcomeNotAttempted, ReasonAborted, detail)
		}
		return false
	}
	return b.confirm(ctx, ids, where)
}

// confirm asks the region's guard, right before an install or a reboot,
// whether the batch's run still holds the region (engine 3). A batch whose
// run lost it (a guard that had to be recreated and granted the region
// elsewhere, an operator's forced unlock) acts no further. A guard that
// cannot answer is asked again: acting unconfirmed is what must not happen.
func (b *batchRun) confirm(ctx workflow.Context, ids []string, where string) bool {
	var ga *guard.Activities
	if b.in.Engine < engineV3 {
		return true
	}
	var res guard.FenceResult
	err := workflow.ExecuteLocalActivity(confirmActivity(ctx), ga.ConfirmHolder,
		guard.ConfirmInput{Region: b.in.Region, WorkflowID: b.in.WorkflowID, Execution: b.in.Lease}).Get(ctx, &res)
	if err == nil && res.OK {
		return true
	}
	detail := "not acted on " + where + ": "
	if err != nil {
		detail += "the region's guard could not confirm that run " + b.in.WorkflowID + " still holds the region: " + errText(err)
	} else {
		detail += "run " + b.in.WorkflowID + " no longer holds the region: " + res.Reason
	}
	b.result.RegionLost = detail
	for _, id := range b.undecided(ids) {
		b.decide(id, OutcomeNotAttempted, ReasonRegionLost, detail)
	}
	return false
}

// check reads fresh facts: act on now, not on the page scanned minutes ago.
func (b *batchRun) check(ctx workflow.Context) ([]string, bool) {
	var a *activities.Activities
	ids := b.ids()
	var check activities.CheckResult
	err := workflow.ExecuteActivity(readActivity(ctx, b.in.Engine, fmt.Sprintf("re-check %d instances before acting: %s", len(ids), shortList(ids))),
		a.CheckInstances, activities.CheckInput{Region: b.in.Region, InstanceIDs: ids, ExcludeTag: b.in.ExcludeTag}).Get(ctx, &check)
	if err != nil {
		if !b.accountStop(ids, err) && !b.apiStop(ids, err) {
			b.failAll(ids, ReasonBatchError, err)
		}
		return nil, false
	}
	var toInstall []string
	for _, f := range check.Instances {
		switch {
		case !f.Exists:
			b.decide(f.InstanceID, OutcomeFailed, ReasonVanished, "instance no longer exists")
		case f.State != ecs.StateRunning:
			b.decide(f.InstanceID, OutcomeNotRunning, "", "instance is "+string(f.State))
		case f.Excluded:
			b.decide(f.InstanceID, OutcomeExcluded, "", "carries the opt-out tag "+b.in.ExcludeTag+" (tagged since the scan); never touched")
		case f.Unknown:
			b.decide(f.InstanceID, OutcomeUnknown, "", "ECS did not answer for its agent status; not acted on")
		case f.Healthy:
			b.decide(f.InstanceID, OutcomeAlreadyHealthy, "", "agent recovered before the batch acted")
		default:
			toInstall = append(toInstall, f.InstanceID)
		}
	}
	return toInstall, true
}

// install calls InstallAgents; the activity re-checks right before each
// call and isolates instances that make ECS refuse it. It returns the
// instances installed on.
func (b *batchRun) install(ctx workflow.Context, ids []string) ([]string, bool) {
	var a *activities.Activities
	var inst activities.InstallResult
	err := workflow.ExecuteActivity(apiActivity(ctx, fmt.Sprintf("install agent on %d instances: %s", len(ids), shortList(ids))),
		a.InstallAgents, activities.InstallInput{Region: b.in.Region, InstanceIDs: ids, ExcludeTag: b.in.ExcludeTag}).Get(ctx, &inst)
	if err != nil {
		if !b.accountStop(ids, err) && !b.apiStop(ids, err) {
			b.failAll(ids, ReasonInstallFailed, err)
		}
		return nil, false
	}
	for _, r := range inst.Rejected {
		b.reject(r, ReasonInstallFailed)
	}
	for _, id := range inst.Installed {
		b.step(id, "installed")
	}
	b.result.Installed = len(inst.Installed)
	return b.undecided(inst.Installed), true
}

// grace lets freshly installed agents start before deciding on reboots.
func (b *batchRun) grace(ctx workflow.Context) error {
	if b.in.RebootPolicy != RebootIfNeeded || b.in.RebootGrace <= 0 {
		return nil
	}
	timer := workflow.NewTimerWithOptions(ctx, b.in.RebootGrace.D(), workflow.TimerOptions{
		Summary: fmt.Sprintf("grace period: let freshly installed agents start before deciding on reboots (%s)", b.in.RebootGrace),
	})
	return timer.Get(ctx, nil)
}

// reboot reboots those still unhealthy. The activity re-checks each
// instance right before the call and never reboots one twice. It reports
// whether the activity failed, in which case whether the reboot happened
// is unknown.
func (b *batchRun) reboot(ctx workflow.Context, ids []string) (activities.RebootOutcome, bool) {
	var a *activities.Activities
	var rb activities.RebootOutcome
	err := workflow.ExecuteActivity(apiActivity(ctx, fmt.Sprintf("reboot the instances of %d still unhealthy after install: %s", len(ids), shortList(ids))),
		a.RebootIfStillUnhealthy, activities.RebootInput{Region: b.in.Region, InstanceIDs: ids, ExcludeTag: b.in.ExcludeTag}).Get(ctx, &rb)
	if err != nil {
		if b.accountStop(ids, err) {
			// Nothing was rebooted: verifying would wait a whole deadline
			// for agents that cannot start.
			return rb, true
		}
		workflow.GetLogger(ctx).Warn("reboot activity failed; verifying anyway", "Batch", b.in.Number, "Error", err)
		for _, id := range ids {
			b.step(id, "reboot failed: "+errText(err))
		}
		if b.in.Engine >= engineV4 {
			// Whether ECS carried the reboot out is unknown: the run
			// verifies them, and one that never comes back is
			// reboot-unconfirmed, not a failed repair of the instance.
			rb.Unconfirmed = append(rb.Unconfirmed, ids...)
		}
		return rb, true
	}
	for _, r := range rb.Rejected {
		b.reject(r, ReasonRebootRefused)
	}
	for _, id := range rb.Healthy {
		b.step(id, "healthy without reboot")
		b.decide(id, OutcomeRemediated, "", "agent healthy after install, no reboot needed")
	}
	for _, id := range rb.Rebooted {
		b.step(id, "rebooted")
	}
	for _, id := range rb.Unconfirmed {
		b.step(id, "reboot unconfirmed")
	}
	b.result.Rebooted = len(rb.Rebooted)
	return rb, false
}

// handOver lists the instances the run must verify.
func (b *batchRun) handOver(ctx workflow.Context, ids []string, rb activities.RebootOutcome, rebootFailed bool) {
	now := workflow.Now(ctx)
	rebooted := setOf(rb.Rebooted)
	inTransit := setOf(rb.InTransit)
	unconfirmed := setOf(rb.Unconfirmed)
	for _, id := range ids {
		i := b.index[id]
		b.result.Verify = append(b.result.Verify, VerifyTarget{
			ID: id, Problem: b.rows[i].Problem, Action: strings.Join(b.steps[i], ", "), Since: now,
			// A failed reboot activity may or may not have rebooted: treat
			// the instance as down until it is seen Running again.
			Rebooted: rebooted[id] || rebootFailed || unconfirmed[id], InTransit: inTransit[id], Unconfirmed: unconfirmed[id],
		})
	}
}

// verifySelf is how batches verified before the run did it for them: poll
// until each agent reports a fresh heartbeat or the deadline passes.
func (b *batchRun) verifySelf(ctx workflow.Context, toVerify, unconfirmed []string) (BatchResult, error) {
	if len(toVerify) == 0 {
		return b.finish(), nil
	}
	var a *activities.Activities
	in := b.in
	deadline := workflow.Now(ctx).Add(in.VerifyDeadline.D())
	var v activities.VerifyResult
	err := workflow.ExecuteActivity(
		verifyActivity(ctx, in.VerifyDeadline.D(), in.VerifyPollInterval.D(),
			fmt.Sprintf("verify a fresh heartbeat from %d instances within %s: %s", len(toVerify), in.VerifyDeadline, shortList(toVerify))),
		a.VerifyAgents, activities.VerifyInput{Region: in.Region, InstanceIDs: toVerify, Deadline: deadline, PollInterval: in.VerifyPollInterval.D()},
	).Get(ctx, &v)
	if err != nil {
		b.failAll(toVerify, ReasonNoHeartbeat, fmt.Errorf("verify could not finish: %w", err))
		return b.finish(), nil
	}
	for _, id := range v.Healthy {
		b.step(id, "verified")
		b.decide(id, OutcomeRemediated, "", "agent reports a fresh heartbeat")
	}
	for _, id := range v.Vanished {
		b.decide(id, OutcomeFailed, ReasonVanished, "instance vanished while verifying")
	}
	uc := setOf(unconfirmed)
	for _, f := range v.Unhealthy {
		if uc[f.InstanceID] {
			b.decide(f.InstanceID, OutcomeFailed, ReasonRebootUnconfirmed, rebootUnconfirmedDetail(f.State, in.VerifyDeadline))
			continue
		}
		b.decide(f.InstanceID, OutcomeFailed, ReasonNoHeartbeat, noHeartbeatDetail(f.State, f.LastHeartbeat, in.VerifyDeadline, in.RebootPolicy))
	}
	return b.finish(), nil
}

// setOf is a lookup set of ids (never iterated).
func setOf(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func noHeartbeatDetail(state ecs.InstanceState, lastHeartbeat time.Time, deadline Duration, policy string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "no heartbeat within %s", deadline)
	if policy == RebootNever {
		b.WriteString(" (reboot policy never: the agent usually needs a reboot to start)")
	}
	fmt.Fprintf(&b, "; instance %s", state)
	if lastHeartbeat.IsZero() {
		b.WriteString(", agent never reported (install did not take effect)")
	} else {
		fmt.Fprintf(&b, ", last heartbeat %s", lastHeartbeat.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return b.String()
}

// rebootUnconfirmedDetail explains an instance whose reboot a dying worker
// may or may not have sent: rebooting it again could reboot it twice, which
// a run never does, so it is left for the next run.
func rebootUnconfirmedDetail(state ecs.InstanceState, deadline Duration) string {
	return fmt.Sprintf("no heartbeat within %s; instance %s; a worker stopped after sending the reboot and before ECS answered, "+
		"so whether it rebooted is unknown and it was not rebooted again (never twice in one run); the next run will repair it",
		deadline, state)
}

// errText is an error's message without the SDK's wrapping noise: the
// innermost application error's one-line message (activities put the ECS
// code, its meaning, the request ID and what to do there).
func errText(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return "cancelled"
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "timed out (" + strings.ToLower(strings.TrimPrefix(timeout.TimeoutType().String(), "TIMEOUT_TYPE_")) + ")"
	}
	return err.Error()
}

// accountLevel reports whether err came from an ECS error that no call with
// the same credentials can overcome, and its code.
func accountLevel(err error) (string, bool) {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return "", false
	}
	return appErr.Type(), ecs.IsAccountLevel(appErr.Type())
}
