package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/workflows"
)

// TestFleetFlagsAreChecked: what belongs to one region is refused on a
// fleet run, with the flag named and exit code 2, before connecting.
func TestFleetFlagsAreChecked(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--region", "cn-hangzhou", "--regions", "cn-beijing"}, "give --region, or --regions / --all-regions, not both"},
		{[]string{"run", "--regions", "cn-hangzhou", "--all-regions"}, "give --regions or --all-regions, not both"},
		{[]string{"run", "--regions", " , "}, "names no region"},
		{[]string{"run", "--all-regions", "--instance-ids", "i-bp1aaaaaaaaaaaaaaaaa"}, "--instance-ids: a fleet run takes no instance list"},
		{[]string{"run", "--regions", "cn-hangzhou", "--zone", "cn-hangzhou-h"}, "--zone: a fleet run takes no zone"},
		{[]string{"run", "--regions", "cn-hangzhou,Beijing"}, `--regions: regions[1]: region "Beijing" is not an ECS region ID`},
		{[]string{"run", "--regions", "cn-hangzhou,cn-hangzhou"}, `regions lists "cn-hangzhou" twice`},
		{[]string{"run", "--all-regions", "--reboot-policy", "sometimes"}, "--reboot-policy: reboot_policy is \"sometimes\""},
		{[]string{"run", "--regions", "cn-hangzhou,cn-shanghai", "--override-max-unhealthy", "INC-7"}, "--override-max-unhealthy on a fleet run must name the regions it is for: add --override-regions"},
		{[]string{"run", "--regions", "cn-hangzhou", "--override-regions", "cn-hangzhou"}, "--override-regions goes with --override-max-unhealthy <reason>"},
		{[]string{"run", "--regions", "cn-hangzhou", "--override-max-unhealthy", "INC-7", "--override-regions", "cn-beijing"}, `override_regions[0] "cn-beijing" is not one of the fleet run's regions`},
		{[]string{"run"}, "--region is required (an ECS region ID such as cn-hangzhou), or --regions / --all-regions for a fleet run"},
		{[]string{"schedule", "create", "--fleet", "--every", "6h"}, "--fleet: name the fleet schedule's regions with --regions or --all-regions"},
		{[]string{"schedule", "create", "--region", "cn-hangzhou", "--all-regions", "--every", "6h"}, "give --region, or --regions / --all-regions, not both"},
		{[]string{"schedule", "describe", "--fleet", "--region", "cn-hangzhou"}, "give --region or --fleet"},
		{[]string{"schedule", "trigger"}, "--region is required (an ECS region ID such as cn-hangzhou), or --fleet for the fleet schedule"},
	} {
		var out, errOut bytes.Buffer
		code := execute(context.Background(), append([]string{"--temporal-address", "127.0.0.1:1"}, c.args...), &out, &errOut)
		require.Equal(t, exitUsage, code, "%v: %s", c.args, errOut.String())
		require.Contains(t, errOut.String(), c.want, "%v", c.args)
	}
}

func TestFleetScheduleAndRunIDs(t *testing.T) {
	f := scheduleTarget{fleet: true}
	require.Equal(t, "fleetmend-fleet", f.id())
	require.Equal(t, "fleetmend/fleet/scheduled", f.workflowID())
	f.name = "nightly"
	require.Equal(t, "fleetmend-fleet-nightly", f.id())
	require.Equal(t, "fleetmend/fleet/scheduled-nightly", f.workflowID())
	id := fleetWorkflowID(true, time.Date(2026, 11, 22, 18, 15, 0, 0, time.FixedZone("CST", 8*3600)))
	require.Equal(t, "fleetmend/fleet/dryrun-20261122T101500Z", id)
	require.Equal(t, "fleetmend/cn-hangzhou/fleet-dryrun-20261122T101500Z", guard.FleetChildID(id, "cn-hangzhou"))
	// A fleet run names its regions' queues the way workers poll them.
}

func TestFleetDetailsNameTheRegions(t *testing.T) {
	in := workflows.FleetInput{Regions: []string{"cn-hangzhou", "cn-beijing"}, Run: workflows.RegionInput{Kind: "manual"}.WithDefaults()}
	d := fleetDetails(in)
	require.True(t, strings.HasPrefix(d, "**regions** cn-hangzhou, cn-beijing  \n**kind** manual"), d)
	in.Regions, in.AllRegions = nil, true
	require.Contains(t, fleetSummary(in), "fleet run of every region")
}
