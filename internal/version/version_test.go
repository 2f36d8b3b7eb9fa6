package version

import (
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		info     debug.BuildInfo
		want, ua string
	}{
		{"module version", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3", "fleetmend/v1.2.3"},
		{"pseudo-version", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261122101500-0123456789ab+dirty"}},
			"v0.0.0-20261122101500-0123456789ab+dirty", "fleetmend/v0.0.0-20261122101500-0123456789ab+dirty"},
		{"vcs revision", debug.BuildInfo{Main: debug.Module{Version: devel}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "false"}}},
			"0123456789ab", "fleetmend/0123456789ab"},
		{"vcs revision, modified", debug.BuildInfo{Main: debug.Module{Version: devel}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "true"}}},
			"0123456789ab-dirty", "fleetmend/0123456789ab-dirty"},
		{"nothing", debug.BuildInfo{Main: debug.Module{Version: devel}}, "(devel)", "fleetmend/devel"},
		{"empty", debug.BuildInfo{}, "(devel)", "fleetmend/devel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(&tc.info)
			if got != tc.want {
				t.Errorf("version %q, want %q", got, tc.want)
			}
			if ua := "fleetmend/" + token(got); ua != tc.ua {
				t.Errorf("user agent %q, want %q", ua, tc.ua)
			}
		})
	}
}

// The User-Agent of this very build (a test binary: "(devel)" or a
// revision) is one token, whatever the version looks like.
func TestUserAgentIsOneToken(t *testing.T) {
	ua := UserAgent()
	if !regexp.MustCompile("^fleetmend/[!#$%&'*+.^_`|~0-9A-Za-z-]+$").MatchString(ua) {
		t.Fatalf("UserAgent() = %q is not product/version with token characters only", ua)
	}
	if strings.ContainsAny(ua, " ()") {
		t.Fatalf("UserAgent() = %q", ua)
	}
	if got := token("weird version (x) é"); got != "weird-version--x---" {
		t.Fatalf("token = %q", got)
	}
}

func TestLine(t *testing.T) {
	if got := Line("worker"); !regexp.MustCompile(`^fleetmend worker \S+ \(go[0-9.]+\S*\)$`).MatchString(got) {
		t.Fatalf("Line = %q", got)
	}
}
