package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
)

// BatchTarget is one instance handed to a batch and the problem the scan saw.
type BatchTarget struct {
	InstanceID string `json:"instance_id"`
	Problem    string `json:"problem"`
}

// BatchInput is one RemediateBatch: at most 20 instances.
type BatchInput struct {
	Region             string        `json:"region"`
	RunID              string        `json:"run_id"`
	Number             int           `json:"number"`
	Instances          []BatchTarget `json:"instances"`
	RebootPolicy       string        `json:"reboot_policy"`
	RebootGrace        Duration      `json:"reboot_grace"`
	VerifyDeadline     Duration      `json:"verify_deadline"`
	VerifyPollInterval Duration      `json:"verify_poll_interval"`
}

// BatchResult has one row per instance of the batch, in input order.
type BatchResult struct {
	Number    int   `json:"number"`
	Rows      []Row `json:"rows"`
	Installed int   `json:"installed"`
	Rebooted  int   `json:"rebooted"`
}

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
	if err := ValidateInstanceIDs("instances", ids); err != nil {
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
	in     BatchInput
	rows   []Row
	index  map[string]int
	done   []bool
	steps  [][]string // per row: what was done, for the Action column
	result BatchResult
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

func (b *batchRun) finish() BatchResult {
	for i := range b.rows {
		b.rows[i].Action = strings.Join(b.steps[i], ", ")
		if !b.done[i] {
			// Unreachable by construction; a row without an outcome would
			// silently vanish from the counts, so make it loud.
			b.rows[i].Outcome, b.rows[i].Reason = OutcomeFailed, ReasonBatchError
			b.rows[i].Detail = "no outcome was decided (bug)"
		}
	}
	b.result.Number = b.in.Number
	b.result.Rows = b.rows
	return b.result
}

// rejectionOutcome maps an instance an action was refused for to its outcome.
func (b *batchRun) reject(r activities.Rejection, failReason string) {
	switch {
	case r.Vanished:
		b.decide(r.InstanceID, OutcomeFailed, ReasonVanished, r.Reason)
	case r.State != "" && r.State != ecs.StateRunning:
		b.decide(r.InstanceID, OutcomeNotRunning, "", r.Reason)
	default:
		b.decide(r.InstanceID, OutcomeFailed, failReason, strings.TrimSpace(r.Code+" "+r.Reason))
	}
}

// RemediateBatch repairs at most 20 instances: re-check, install, reboot
// those still unhealthy, verify. It returns one outcome per instance and
// fails only on invalid input: an API that keeps failing becomes the
// outcome of the instances it was for, so one bad instance or call never
// loses the rest of the batch.
func RemediateBatch(ctx workflow.Context, in BatchInput) (BatchResult, error) {
	if err := in.validate(); err != nil {
		return BatchResult{}, invalidInput("RemediateBatch", err)
	}
	var a *activities.Activities
	b := newBatchRun(in)
	logger := workflow.GetLogger(ctx)
	ids := make([]string, len(in.Instances))
	for i, t := range in.Instances {
		ids[i] = t.InstanceID
	}

	// 1. Fresh facts: act on now, not on the page scanned minutes ago.
	var check activities.CheckResult
	err := workflow.ExecuteActivity(apiActivity(ctx, fmt.Sprintf("re-check %d instances before acting: %s", len(ids), shortList(ids))),
		a.CheckInstances, activities.CheckInput{Region: in.Region, InstanceIDs: ids}).Get(ctx, &check)
	if err != nil {
		b.failAll(ids, ReasonBatchError, err)
		return b.finish(), nil
	}
	var toInstall []string
	for _, f := range check.Instances {
		switch {
		case !f.Exists:
			b.decide(f.InstanceID, OutcomeFailed, ReasonVanished, "instance no longer exists")
		case f.State != ecs.StateRunning:
			b.decide(f.InstanceID, OutcomeNotRunning, "", "instance is "+string(f.State))
		case f.Healthy:
			b.decide(f.InstanceID, OutcomeAlreadyHealthy, "", "agent recovered before the batch acted")
		default:
			toInstall = append(toInstall, f.InstanceID)
		}
	}
	if len(toInstall) == 0 {
		return b.finish(), nil
	}

	// 2. Install; the activity isolates instances that make ECS refuse the call.
	var inst activities.InstallResult
	err = workflow.ExecuteActivity(apiActivity(ctx, fmt.Sprintf("install agent on %d instances: %s", len(toInstall), shortList(toInstall))),
		a.InstallAgents, activities.InstallInput{Region: in.Region, InstanceIDs: toInstall}).Get(ctx, &inst)
	if err != nil {
		b.failAll(toInstall, ReasonInstallFailed, err)
		return b.finish(), nil
	}
	for _, r := range inst.Rejected {
		b.reject(r, ReasonInstallFailed)
	}
	for _, id := range inst.Installed {
		b.step(id, "installed")
	}
	b.result.Installed = len(inst.Installed)
	toVerify := b.undecided(inst.Installed)

	// 3. Reboot those still unhealthy. The activity re-checks each instance
	// right before the call and never reboots one twice. unconfirmed are
	// those whose reboot a dying worker may or may not have sent.
	var unconfirmed []string
	if in.RebootPolicy != RebootNever && len(toVerify) > 0 {
		if in.RebootPolicy == RebootIfNeeded && in.RebootGrace > 0 {
			timer := workflow.NewTimerWithOptions(ctx, in.RebootGrace.D(), workflow.TimerOptions{
				Summary: fmt.Sprintf("grace period: let freshly installed agents start before deciding on reboots (%s)", in.RebootGrace),
			})
			if err := timer.Get(ctx, nil); err != nil {
				return BatchResult{}, err // cancelled
			}
		}
		var rb activities.RebootOutcome
		err = workflow.ExecuteActivity(apiActivity(ctx, fmt.Sprintf("reboot the instances of %d still unhealthy after install: %s", len(toVerify), shortList(toVerify))),
			a.RebootIfStillUnhealthy, activities.RebootInput{Region: in.Region, InstanceIDs: toVerify}).Get(ctx, &rb)
		if err != nil {
			// Whether the reboot happened is unknown; verify decides.
			logger.Warn("reboot activity failed; verifying anyway", "Batch", in.Number, "Error", err)
			for _, id := range toVerify {
				b.step(id, "reboot failed: "+errText(err))
			}
		} else {
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
			unconfirmed = rb.Unconfirmed
			b.result.Rebooted = len(rb.Rebooted)
		}
		toVerify = b.undecided(toVerify)
	}

	// 4. Verify until each agent reports a fresh heartbeat or the deadline passes.
	if len(toVerify) > 0 {
		deadline := workflow.Now(ctx).Add(in.VerifyDeadline.D())
		var v activities.VerifyResult
		err = workflow.ExecuteActivity(
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
		for _, f := range v.Unhealthy {
			if slices.Contains(unconfirmed, f.InstanceID) {
				b.decide(f.InstanceID, OutcomeFailed, ReasonRebootUnconfirmed, rebootUnconfirmedDetail(f, in))
				continue
			}
			b.decide(f.InstanceID, OutcomeFailed, ReasonNoHeartbeat, noHeartbeatDetail(f, in))
		}
	}
	return b.finish(), nil
}

func noHeartbeatDetail(f activities.Facts, in BatchInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "no heartbeat within %s", in.VerifyDeadline)
	if in.RebootPolicy == RebootNever {
		b.WriteString(" (reboot policy never: the agent usually needs a reboot to start)")
	}
	fmt.Fprintf(&b, "; instance %s", f.State)
	if f.LastHeartbeat.IsZero() {
		b.WriteString(", agent never reported (install did not take effect)")
	} else {
		fmt.Fprintf(&b, ", last heartbeat %s", f.LastHeartbeat.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return b.String()
}

// rebootUnconfirmedDetail explains an instance whose reboot a dying worker
// may or may not have sent: rebooting it again could reboot it twice, which
// a run never does, so it is left for the next run.
func rebootUnconfirmedDetail(f activities.Facts, in BatchInput) string {
	return fmt.Sprintf("no heartbeat within %s; instance %s; a worker stopped after sending the reboot and before ECS answered, "+
		"so whether it rebooted is unknown and it was not rebooted again (never twice in one run); the next run will repair it",
		in.VerifyDeadline, f.State)
}

// errText is an error's message without the SDK's wrapping noise.
func errText(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Error()
	}
	return err.Error()
}
