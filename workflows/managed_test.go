package workflows

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/ecs"
)

// TestManagedInstancesAreReportedNeverRepaired: a region whose listing has
// more managed instances (most of them with an offline agent) than ECS
// instances. They are reported managed with their agent, counted apart,
// never handed to a batch; the short-circuit's share and the blast radius
// are of the ECS instances only (counted with them, 75% of the listing is
// unhealthy and the run would touch nothing).
func (s *regionSuite) TestManagedInstancesAreReportedNeverRepaired() {
	for i := range 15 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	for i := 15; i < 40; i++ {
		s.fleet.add(i, ecs.StateRunning, true, true)
	}
	for i := range 60 {
		s.fleet.addManaged(i, i >= 55)
	}
	in := quick("cn-hangzhou")
	in.MaxUnhealthyPercent = DefaultMaxUnhealthyPct
	in.BlastRadius = "10%"
	rep := s.run(in)
	s.Empty(rep.Stopped, "not short-circuited: 15 of 40 ECS instances are unhealthy")
	c := rep.Counts
	s.Equal(40, c.Scanned)
	s.Equal(40, rep.TotalInstances)
	s.Equal(15, c.AgentMissing)
	s.Equal(15, c.Remediated)
	s.Equal(60, c.Managed)
	s.Equal(55, c.ManagedUnhealthy)
	s.Equal(15, c.Unhealthy(), "the unhealthy count (and its search attribute) is of ECS instances")
	s.Equal(4, rep.BlastRadiusLimit, "10% of the 40 Running ECS instances")
	for _, calls := range [][][]string{s.fleet.installs, s.fleet.reboots, s.fleet.checks, s.fleet.polls} {
		for _, ids := range calls {
			for _, id := range ids {
				s.False(strings.HasPrefix(id, "mi-"), "%s was handed to a batch or a poll", id)
			}
		}
	}
	rows := s.rowsOf(rep)
	for i := range 60 {
		row, ok := rows[managedModelID(i)]
		s.Require().True(ok, "no row for %s", managedModelID(i))
		s.Equal(OutcomeManaged, row.Outcome)
		s.Zero(row.Batch)
		s.Empty(row.Action)
		if i >= 55 {
			s.Empty(row.Problem)
			s.Equal("managed instance (outside ECS): agent healthy, version 2.2.3.256; reported, never repaired (ECS cannot install on or reboot it)", row.Detail)
		} else {
			s.Equal(ProblemAgentSilent, row.Problem)
			s.Contains(row.Detail, "agent offline, last heartbeat 2026-01-01T00:00:00Z")
		}
	}
}

// TestRegionOfManagedInstancesOnlySucceeds: nothing to look up is not
// "DescribeInstances answered for none": the run ends done, having touched
// nothing, with the managed instances reported.
func (s *regionSuite) TestRegionOfManagedInstancesOnlySucceeds() {
	for i := range 150 {
		s.fleet.addManaged(i, i%2 == 0)
	}
	rep := s.run(quick("cn-hangzhou"))
	s.Empty(rep.Stopped)
	s.Equal(0, rep.Counts.Scanned)
	s.Equal(150, rep.Counts.Managed)
	s.Equal(75, rep.Counts.ManagedUnhealthy)
	s.Empty(s.fleet.checks)
	s.Len(rep.Rows, 150)
}

// TestManagedRowsGoFirstWhenTheReportIsFull: managed rows are skips: a
// failure or a remediation takes a managed row's place, never the other
// way round, and the counts stay complete.
func (s *regionSuite) TestManagedRowsGoFirstWhenTheReportIsFull() {
	for i := range 30 {
		s.fleet.addManaged(i, false)
	}
	for i := range 5 {
		s.fleet.add(i, ecs.StateRunning, false, false)
	}
	in := quick("cn-hangzhou")
	n := 10
	in.MaxReportRows = &n
	rep := s.run(in)
	s.Equal(30, rep.Counts.Managed)
	s.Len(rep.Rows, 10)
	s.Equal(25, rep.RowsOmitted)
	remediated := 0
	for _, r := range rep.Rows {
		if r.Outcome == OutcomeRemediated {
			remediated++
		}
	}
	s.Equal(5, remediated, "every remediation kept")
}

func TestInstanceIDValidation(t *testing.T) {
	for _, tc := range []struct {
		ids  []string
		want string // "" for valid
	}{
		{[]string{"i-bp1aaaaaaaaaaaaaaaaa", "i-abcdefgh"}, ""},
		{[]string{"mi-bp1aaaaaaaaaaaaaaaaa"}, `ids[0] "mi-bp1aaaaaaaaaaaaaaaaa" is a managed instance: fleetmend cannot repair managed instances, they are not ECS instances (ECS cannot install the agent on or reboot them)`},
		{[]string{"i-bp1aaaaaaaaaaaaaaaaa", "mi-x"}, `ids[1] "mi-x" is a managed instance`},
		{[]string{"web-01"}, `ids[0] "web-01" is not an ECS instance ID (i- followed by 8..30 lowercase letters or digits)`},
		{[]string{"I-BP1AAAAAAAAAAAAAAAAA"}, "is not an ECS instance ID"},
	} {
		err := ecs.ValidateInstanceIDs("ids", tc.ids)
		if tc.want == "" {
			require.NoError(t, err, "%v", tc.ids)
			continue
		}
		require.ErrorContains(t, err, tc.want, "%v", tc.ids)
	}
	for _, id := range []string{"i-bp1aaaaaaaaaaaaaaaaa", "mi-hz018jrc1o0aaaa"} {
		require.NoError(t, ecs.ValidateAuditID("--instance", id))
	}
	for _, id := range []string{"web-01", "mi-", "mi-ABCDEFGHIJ", "i-short", ""} {
		require.ErrorContains(t, ecs.ValidateAuditID("--instance", id), `--instance "`+id+`" is not an ECS instance ID (i- followed by 8..30 lowercase letters or digits) nor a managed instance's`)
	}
}

// Runs recorded before the zone had to belong to the region took one that
// did not (and found nothing in it): they replay as they ran, since the
// check is behind the zone-in-region marker.
func TestZoneOfAnotherRegionIsRefusedBehindItsMarker(t *testing.T) {
	in := RegionInput{Region: "cn-hangzhou", ZoneID: "cn-shanghai-a"}.WithDefaults()
	require.ErrorContains(t, in.Validate(), "is not a zone of region cn-hangzhou")
	require.ErrorContains(t, in.validate(true), "is not a zone of region cn-hangzhou")
	require.NoError(t, in.validate(false))
	require.True(t, in.zoneOutsideRegion())
	in.ZoneID = "cn-hangzhou-h"
	require.False(t, in.zoneOutsideRegion())
	require.NoError(t, in.Validate())
}
