package workflows

import (
	"fmt"

	"github.com/fleetmend/fleetmend/activities"
)

// The fleet-wide short-circuit: touch nothing when too many agents are
// unhealthy for broken agents to be the cause.

// shortCircuit stops the run before it touches anything when the share of
// unhealthy agents among Running instances, in the region or in a zone, is
// above the threshold: that smells of a systemic cause, and rebooting
// would not fix it. An override (recorded) lets one run go ahead.
//
// A run given instance IDs is the operator's choice and skips it, but an
// apply (engine 4) does not: a plan reviewed before an outage must not be
// applied into it. Its own scan is of the planned instances, so it judges
// the region's health measured for it (measureRegion).
func (r *run) shortCircuit() {
	zones := r.st.Zones
	switch {
	case r.in.Plan != nil && r.strict():
		zones = r.st.RegionZones
	case len(r.in.InstanceIDs) > 0:
		return
	}
	over := r.overThreshold(zones)
	if over == "" {
		return
	}
	if r.in.OverrideMaxUnhealthy != "" {
		r.warn(over + "; repairing anyway, overridden: " + r.in.OverrideMaxUnhealthy)
		return
	}
	why := "short-circuited: " + over + ": a systemic cause (network, DNS, a bad image) is more likely than broken agents, so nothing was touched; " +
		"fix the cause, or repair anyway for one run with --override-max-unhealthy <reason>"
	if r.in.DryRun {
		r.warn("a real run would stop here: " + why)
		r.st.WouldStop = why
		return
	}
	r.st.Stopped = why
	r.st.Phase = "short-circuited"
	r.notAttempted(ReasonShortCircuit, why)
}

// overThreshold describes the worst share above the threshold, region
// first, or returns "".
func (r *run) overThreshold(zones []activities.ZoneCount) string {
	limit := r.in.MaxUnhealthyPercent
	running, unhealthy := 0, 0
	for _, z := range zones {
		running += z.Running
		unhealthy += z.Unhealthy
	}
	above := func(u, n int) bool { return n > 0 && u*100 > limit*n }
	if above(unhealthy, running) {
		return fmt.Sprintf("%d%% of the Running instances of %s (%d of %d) have an unhealthy agent, above max_unhealthy_percent %d",
			unhealthy*100/running, r.in.Region, unhealthy, running, limit)
	}
	for _, z := range zones {
		if z.Running >= MinZoneForShortCircuit && above(z.Unhealthy, z.Running) {
			return fmt.Sprintf("%d%% of the Running instances of zone %s (%d of %d) have an unhealthy agent, above max_unhealthy_percent %d",
				z.Unhealthy*100/z.Running, z.Zone, z.Unhealthy, z.Running, limit)
		}
	}
	return ""
}
