package main

import (
	"math"
	"time"

	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/workflows"
)

// model is the latency and time model one bench run uses for fleetmend,
// for the OOS-style loop and for the lower bound alike.
type model struct {
	latency   time.Duration // added by the simulator to every call
	timeScale float64       // simulated seconds per real second
	// The simulator's lifecycle, in simulated time.
	stop, start, firstHeartbeat time.Duration
}

func newModel(latency time.Duration, timeScale float64) model {
	return model{latency: latency, timeScale: timeScale,
		stop: ecssim.DefaultStopDuration, start: ecssim.DefaultStartDuration, firstHeartbeat: ecssim.DefaultFirstHeartbeatDelay}
}

// real turns a simulated duration into wall time.
func (m model) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / m.timeScale)
}

// fleet is what the bench knows about the fleet it generated.
type fleet struct {
	size      int
	running   int // Running at the start
	unhealthy int // Running with a missing or silent agent (never-healing included)
	neverHeal int
	// chains is the number of instances listed by each OS type's token chain.
	chains map[string]int
}

// scanCalls is ⌈N/50⌉ + ⌈N/100⌉ over the chains: one
// DescribeCloudAssistantStatus page of 50 per call, one DescribeInstances
// lookup of 100 per call (rounded per chain, where fleetmend rounds too).
func (f fleet) scanCalls() int {
	n := 0
	for _, c := range f.chains {
		n += ceilDiv(c, ecs.MaxPageSize) + ceilDiv(c, ecs.MaxDescribeInstancesIDs)
	}
	return n
}

// criticalPath is the calls that must follow one another in fleetmend's
// scan plan: the longest chain's pages (each needs the previous page's
// token), plus the lookup of its last page, which cannot start before it.
// Everything else (the other chains, the lookups of earlier pages) runs
// beside it.
func (f fleet) criticalPath() int {
	longest := 0
	for _, c := range f.chains {
		longest = max(longest, c)
	}
	if longest == 0 {
		return 0
	}
	return ceilDiv(longest, ecs.MaxPageSize) + 1
}

// blastRadius is fleetmend's default: 5% of the Running instances, at least 20.
func (f fleet) blastRadius() int {
	return max(workflows.MinDefaultBlastRadius, int(math.Ceil(0.05*float64(f.running))))
}

// rollout is the run's canary and ramp as the bound sees them: a gated
// wave ends when its instances are judged: for the canary's, a later
// heartbeat stable after the first; for a ramp step's, the first one.
type rollout struct {
	canary int     // 0: no rollout
	ramp   float64 // the limit's growth from wave to wave
	stable time.Duration
}

// gatedWaves are the sizes of the waves the rollout judges before it
// widens: the canary, then its limit times the ramp, until the blast
// radius; fleetmend's own progression (workflows/rollout.go).
func (ro rollout) gatedWaves(unhealthy, blast int) []int {
	var out []int
	left := unhealthy
	for limit := ro.canary; ro.canary > 0 && left > 0 && limit < blast; limit = int(math.Ceil(float64(limit) * ro.ramp)) {
		n := min(limit, left)
		out = append(out, n)
		left -= n
	}
	return out
}

// bound is the lower bound on a run's makespan in this model:
//
//	scan   = critical-path calls × latency (the chains run side by side,
//	         the lookups beside the chains)
//	gated  = per wave the rollout judges, one after the other: the
//	         canary's wave + stable (its healed instances' later
//	         heartbeat), then each ramp step's wave; a clairvoyant
//	         scheduler keeps the never-healing instances out of them (one
//	         inside makes its wave wait for the early signal instead)
//	waves  = ⌈(unhealthy − gated) / blast radius⌉ × wave, where
//	wave   = install call + grace + reboot call + Stopping + Starting + first heartbeat
//	tail   = verify deadline, when some instance never heals (its wait
//	         ends only at its deadline)
type bound struct {
	Scan, Gated, Waves, Tail, Total time.Duration
	GatedCount, WaveCount           int
	Wave                            time.Duration
}

func (m model) lowerBound(f fleet, grace, verifyDeadline time.Duration, ro rollout) bound {
	var b bound
	b.Scan = time.Duration(f.criticalPath()) * m.latency
	if f.unhealthy > 0 {
		b.Wave = m.latency + grace + m.latency + m.real(m.stop+m.start+m.firstHeartbeat)
		rest := f.unhealthy
		for i, n := range ro.gatedWaves(f.unhealthy, f.blastRadius()) {
			b.GatedCount++
			b.Gated += b.Wave
			if i == 0 {
				b.Gated += ro.stable
			}
			rest -= n
		}
		b.WaveCount = ceilDiv(rest, f.blastRadius())
		b.Waves = time.Duration(b.WaveCount) * b.Wave
	}
	if f.neverHeal > 0 {
		b.Tail = verifyDeadline
	}
	b.Total = b.Scan + b.Gated + b.Waves + b.Tail
	return b
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
