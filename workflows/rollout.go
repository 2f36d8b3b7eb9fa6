package workflows

import (
	"fmt"
	"math"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// The rollout widens a run's repairs only on evidence (engine 3). Its
// first wave, the canary, is small (one batch by default) and strict:
// nothing else is touched until the canary's result is known. Each wave
// after it may have more instances in repair at once, by the ramp factor,
// up to the blast radius; each widening waits for the previous wave's
// cohort (the first instances dispatched under its limit) to be judged.
// An instance of a cohort is judged healed when its agent is stable
// (see StableFor), failed when its repair failed or when it has been
// Running again after its reboot for EarlySignal with no heartbeat. A
// wave passes as soon as CanarySuccess percent of its repaired instances
// healed, and fails as soon as that can no longer happen; a failed wave
// stops the run. So a cause that rebooting does not fix costs at most the
// canary and one wave, whatever the fleet's size. Once the limit reaches
// the blast radius ("full"), the error budget, which counts an instance
// past the early signal as failed at once, guards the rest.
const (
	phaseCanary = "canary"
	phaseRamp   = "ramp"
	phaseFull   = "full"
	// maxWaveResults bounds the waves the report lists (a ramp from one
	// batch to the largest blast radius by the smallest factor has fewer).
	maxWaveResults   = 100
	maxFirstFailures = 3
)

// Rollout is the run's progress through its waves.
type Rollout struct {
	// Phase is canary, ramp or full; empty when the rollout is off.
	Phase string `json:"phase,omitempty"`
	Step  int    `json:"step,omitempty"` // 0 the canary, k the k-th ramp step
	// Limit is the most instances in repair at once in this wave.
	Limit int `json:"limit,omitempty"`
	// The wave's cohort: its first Want instances, in batches From..To.
	From int `json:"from,omitempty"`
	To   int `json:"to,omitempty"`
	Want int `json:"want,omitempty"`
	Size int `json:"size,omitempty"`
	// What the cohort's decided instances came to; Neutral ones (not
	// Running, vanished, recovered on their own…) are left out of the share.
	Healed   int      `json:"healed,omitempty"`
	Failed   int      `json:"failed,omitempty"`
	Neutral  int      `json:"neutral,omitempty"`
	Failures []string `json:"failures,omitempty"`
	// Waves are the judged waves, oldest first.
	Waves []WaveResult `json:"waves,omitempty"`
}

// WaveResult is one judged wave.
type WaveResult struct {
	Step      int  `json:"step"`
	Limit     int  `json:"limit"`
	Instances int  `json:"instances"`
	Healed    int  `json:"healed"`
	Failed    int  `json:"failed"`
	Passed    bool `json:"passed"`
	// Inconclusive: the wave stopped the run for want of evidence, not
	// because its instances failed (engine 4).
	Inconclusive bool      `json:"inconclusive,omitempty"`
	At           time.Time `json:"at"`
}

// startRollout sets up the first wave once the queue and the blast radius
// are known.
func (r *run) startRollout(ctx workflow.Context) {
	ro := &r.st.Rollout
	if !r.fenced() || *r.in.Canary == 0 || len(r.st.Queue) == 0 {
		return
	}
	r.st.RampOnFirstBeat = workflow.GetVersion(ctx, rampOnFirstBeat, workflow.DefaultVersion, 1) == 1
	ro.Phase, ro.Step = phaseCanary, 0
	ro.Limit = min(*r.in.Canary, max(1, r.st.Controls.BlastRadius))
	ro.Want = min(*r.in.Canary, len(r.st.Queue))
}

// gating says whether a wave's cohort is being filled or judged.
func (r *run) gating() bool {
	p := r.st.Rollout.Phase
	return p == phaseCanary || p == phaseRamp
}

// inRepairLimit is the most instances in repair at once right now: the
// wave's limit while the rollout ramps, the blast radius after.
func (r *run) inRepairLimit() int {
	br := max(1, r.st.Controls.BlastRadius)
	if r.gating() {
		return min(br, r.st.Rollout.Limit)
	}
	return br
}

// cohortOpen says whether the wave's cohort still takes instances.
func (r *run) cohortOpen() bool {
	ro := r.st.Rollout
	return r.gating() && ro.Size < ro.Want
}

// rolloutAllows says whether the rollout lets another batch start: the
// canary's cohort, once dispatched, holds everything until it is judged.
func (r *run) rolloutAllows() bool {
	return r.st.Rollout.Phase != phaseCanary || r.cohortOpen()
}

// cohortRoom caps the next batch so that a cohort ends exactly at Want.
func (r *run) cohortRoom(n int) int {
	if r.cohortOpen() {
		ro := r.st.Rollout
		return min(n, ro.Want-ro.Size)
	}
	return n
}

// joinCohort counts a batch that starts into the wave's cohort.
func (r *run) joinCohort(num, n int) {
	if !r.cohortOpen() {
		return
	}
	ro := &r.st.Rollout
	if ro.From == 0 {
		ro.From = num
	}
	ro.To = num
	ro.Size += n
}

func (r *run) inCohort(batch int) bool {
	ro := r.st.Rollout
	return r.gating() && ro.From > 0 && batch >= ro.From && batch <= ro.To
}

// tally counts a decided row of the cohort.
func (r *run) tally(row Row) {
	if !r.inCohort(row.Batch) {
		return
	}
	ro := &r.st.Rollout
	switch {
	case row.Outcome == OutcomeRemediated:
		ro.Healed++
	case row.Outcome == OutcomeFailed && failsTheGate(row.Reason):
		ro.Failed++
		if len(ro.Failures) < maxFirstFailures {
			ro.Failures = append(ro.Failures, row.InstanceID+" ("+row.Reason+")")
		}
	default:
		ro.Neutral++
	}
}

// failsTheGate says whether a failure is evidence against the repair.
func failsTheGate(reason string) bool {
	switch reason {
	case ReasonInstallFailed, ReasonRebootRefused, ReasonNoHeartbeat, ReasonBatchError:
		return true
	}
	return false
}

// earlyFailures counts the instances being verified that are past the
// early no-heartbeat signal, of the cohort when cohort is set.
func (r *run) earlyFailures(cohort bool) (n int, ids []string) {
	for _, v := range r.st.Verifying {
		if v.Early && (!cohort || r.inCohort(v.Batch)) {
			n++
			if len(ids) < maxFirstFailures {
				ids = append(ids, v.ID+" (no heartbeat "+r.in.EarlySignal.String()+" after its reboot)")
			}
		}
	}
	return n, ids
}

// judge decides the wave once its cohort's result is known, and passes to
// the next wave, pauses for approval after the canary, or stops the run.
func (r *run) judge(ctx workflow.Context) {
	if !r.gating() || r.st.Stopped != "" {
		return
	}
	ro := &r.st.Rollout
	if ro.Size < ro.Want && len(r.st.Queue) == 0 {
		ro.Want = ro.Size // nothing more to fill it with
	}
	if ro.Size < ro.Want || ro.Size == 0 {
		return
	}
	early, earlyIDs := r.earlyFailures(true)
	failed := ro.Failed + early
	healed := ro.Healed + r.firstBeats()
	repaired := ro.Size - ro.Neutral
	need := int(math.Ceil(float64(r.in.CanarySuccess) * float64(repaired) / 100))
	if r.strict() {
		// Engine 4: a wave passes only on evidence, and one that cannot
		// have enough stops the run.
		enough := minEvidence(ro.Size)
		switch {
		case healed >= need && healed+failed >= enough:
			r.passWave(ctx, healed, failed)
		case failed > repaired-need:
			r.failWave(ctx, failed, repaired, earlyIDs)
		case repaired < enough:
			r.inconclusiveWave(ctx, healed, failed, enough)
		}
		return
	}
	switch {
	case repaired <= 0 || healed >= need:
		r.passWave(ctx, healed, failed)
	case failed > repaired-need:
		r.failWave(ctx, failed, repaired, earlyIDs)
	}
}

// minEvidence is how many of a wave's instances must have given evidence
// (their agent read after the repair: healed, or failed) for the wave to
// pass: half of them, rounded up. Instances that give none (recovered on
// their own, not Running, vanished, excluded, left out of the answers,
// unverified because the polls failed, an API that kept failing) are left
// out of the share, but a wave made mostly of them proves nothing about
// the repair, and widening on it would be widening on no evidence at all.
func minEvidence(size int) int { return (size + 1) / 2 }

// inconclusiveWave stops a run whose wave can no longer give enough
// evidence: the safe answer to "does the repair work?" is not to go on.
func (r *run) inconclusiveWave(ctx workflow.Context, healed, failed, enough int) {
	ro := &r.st.Rollout
	r.recordWave(ctx, false, healed, failed)
	if n := len(ro.Waves); n > 0 && ro.Waves[n-1].Step == ro.Step {
		ro.Waves[n-1].Inconclusive = true
	}
	why := fmt.Sprintf("stopped: %s inconclusive: only %d of its %d instances can show whether the repair works (%d healed, %d failed; %d recovered on their own, were not Running, vanished, or could not be read), at least %d needed to go on",
		r.waveName(), ro.Size-ro.Neutral, ro.Size, healed, failed, ro.Neutral, enough)
	r.stop(ctx, why, "", ReasonCanary)
}

// firstBeats counts, in a ramp step of a run that widens on them, the
// cohort's instances still being verified whose agent has sent its first
// fresh heartbeat: the ramp's gate is the early signal (a repair that does
// not bring the agent back), and an agent that came back once is not that.
// The canary waits for lasting heartbeats (an agent that beats once and
// hangs fails it), and no outcome is decided on a first heartbeat: such an
// instance is remediated only when it lasts, and if it goes silent again
// it no longer counts here.
func (r *run) firstBeats() int {
	if r.st.Rollout.Step == 0 || !r.st.RampOnFirstBeat {
		return 0
	}
	n := 0
	for _, v := range r.st.Verifying {
		if !v.HealthyAt.IsZero() && r.inCohort(v.Batch) {
			n++
		}
	}
	return n
}

func (r *run) waveName() string {
	if r.st.Rollout.Step == 0 {
		return "canary"
	}
	return fmt.Sprintf("ramp step %d", r.st.Rollout.Step)
}

func (r *run) passWave(ctx workflow.Context, healed, failed int) {
	ro := &r.st.Rollout
	r.recordWave(ctx, true, healed, failed)
	what := fmt.Sprintf("%s passed: %d of %d healed (limit %d)", r.waveName(), healed, ro.Size-ro.Neutral, ro.Limit)
	workflow.GetLogger(ctx).Info("rollout wave passed", "Wave", r.waveName(), "Healed", healed, "Failed", failed)
	if ro.Step == 0 && r.in.PauseAfterCanary && !r.st.Controls.Paused {
		r.st.Controls.Paused = true
		r.control(ctx, UpdatePause, "fleetmend", "waiting for approval after the canary", what+"; starter resume approves, starter abort rejects")
		r.st.Phase = "awaiting approval"
		workflow.SetCurrentDetails(ctx, what+": waiting for approval (starter resume --reason … to go on, starter abort to stop)")
	}
	next := int(math.Ceil(float64(ro.Limit) * r.in.Ramp))
	*ro = Rollout{Phase: phaseRamp, Step: ro.Step + 1, Limit: next, Waves: ro.Waves}
	if next >= r.st.Controls.BlastRadius {
		ro.Phase, ro.Limit = phaseFull, r.st.Controls.BlastRadius
		return
	}
	ro.Want = min(next, len(r.st.Queue))
}

func (r *run) failWave(ctx workflow.Context, failed, repaired int, earlyIDs []string) {
	ro := &r.st.Rollout
	r.recordWave(ctx, false, ro.Healed+r.firstBeats(), failed)
	first := append(append([]string(nil), ro.Failures...), earlyIDs...)
	if len(first) > maxFirstFailures {
		first = first[:maxFirstFailures]
	}
	why := fmt.Sprintf("stopped: %s failed: %d of %d healed (%d%% needed to go on); first failures: %s",
		r.waveName(), ro.Healed, repaired, r.in.CanarySuccess, strings.Join(first, ", "))
	r.stop(ctx, why, "", ReasonCanary)
}

func (r *run) recordWave(ctx workflow.Context, passed bool, healed, failed int) {
	ro := &r.st.Rollout
	if len(ro.Waves) < maxWaveResults {
		ro.Waves = append(ro.Waves, WaveResult{Step: ro.Step, Limit: ro.Limit, Instances: ro.Size, Healed: healed, Failed: failed,
			Passed: passed, At: workflow.Now(ctx)})
	}
}
