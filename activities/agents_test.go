package activities

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompareVersionsIsNumeric(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"2.2.3.189", "2.2.3.189", 0, true},
		{"2.2.3.188", "2.2.3.189", -1, true},
		{"2.2.3.1000", "2.2.3.189", 1, true}, // a string comparison says older
		{"2.10.0.1", "2.2.3.189", 1, true},   // and here too
		{"2.2.3", "2.2.3.0", 0, true},        // a missing part is 0
		{"2.2.3", "2.2.3.1", -1, true},
		{"3", "2.99.99.99", 1, true},
		{"2.2.x.1", "2.2.3.189", 0, false},
		{"", "2.2.3.189", 0, false},
		{"2.2.-1.0", "2.2.3.189", 0, false},
	} {
		got, ok := CompareVersions(c.a, c.b)
		require.Equal(t, c.ok, ok, "%s vs %s", c.a, c.b)
		require.Equal(t, c.want, got, "%s vs %s", c.a, c.b)
	}
}

func TestTooOldForSessionManager(t *testing.T) {
	for _, c := range []struct {
		os, v string
		old   bool
	}{
		{"Linux", "2.2.3.189", false},
		{"Linux", "2.2.3.188", true},
		{"Linux", "2.2.0.106", true},
		{"Linux", "2.10.0.1", false},
		{"Linux", "2.1.3.189", true}, // Windows' minimum is not Linux's
		{"Windows", "2.1.3.189", false},
		{"Windows", "2.1.3.188", true},
		{"Windows", "2.1.0.106", true},
		{"linux", "2.2.0.1", true}, // DescribeInstances' spelling
		{"FreeBSD", "0.0.0.1", false},
		{"Linux", "garbage", true}, // cannot be shown new enough
	} {
		require.Equal(t, c.old, TooOldForSessionManager(c.os, c.v), "%s %s", c.os, c.v)
	}
}

func TestAgentScanTalliesWithinBounds(t *testing.T) {
	var a, b AgentScan
	a.Add("i-1", "Linux", "2.2.3.256")
	a.Add("i-2", "Linux", "2.2.0.106")
	a.Add("i-3", "Windows", "2.1.0.106")
	b.Add("i-4", "Linux", "2.2.3.256")
	b.Add("i-5", "Linux", "2.10.0.1")
	a.Merge(b)
	require.Equal(t, []VersionCount{
		{"Linux", "2.2.0.106", 1}, {"Linux", "2.2.3.256", 2}, {"Linux", "2.10.0.1", 1}, {"Windows", "2.1.0.106", 1},
	}, a.Versions, "sorted by OS, then numerically")
	require.Equal(t, 5, a.Reported())
	require.Equal(t, 2, a.TooOldCount)
	require.Equal(t, []OldAgent{{"i-2", "Linux", "2.2.0.106"}, {"i-3", "Windows", "2.1.0.106"}}, a.TooOld)

	var big AgentScan
	for i := range 3 * maxVersionsKept {
		big.Add(fmt.Sprintf("i-%d", i), "Linux", fmt.Sprintf("1.0.0.%d", i))
	}
	require.LessOrEqual(t, len(big.Versions), maxVersionsKept+1, "distinct versions are bounded")
	require.Equal(t, 3*maxVersionsKept, big.Reported(), "every agent is counted")
	require.Equal(t, 3*maxVersionsKept, big.TooOldCount)
	require.Len(t, big.TooOld, MaxTooOldListed)
}
