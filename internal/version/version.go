// Package version says which build of fleetmend is running, from the
// module's build information: what --version prints and what fleetmend
// sends as its HTTP User-Agent.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// devel is what the Go toolchain calls a build without a version: `go run`,
// `go build` in a work tree, or -buildvcs=false.
const devel = "(devel)"

// String is the version of this build: the main module's version when it
// was built as a module (go install ...@v1.2.3), else the VCS revision the
// toolchain stamped (with "-dirty" for uncommitted changes), else "(devel)".
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return devel
	}
	return fromBuildInfo(info)
}

func fromBuildInfo(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != devel {
		return v
	}
	var revision string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return devel
	}
	// Twelve hex digits name a commit unambiguously in practice, as in Go's
	// own pseudo-versions.
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if modified {
		revision += "-dirty"
	}
	return revision
}

// Line is what a binary's --version prints, e.g.
// "fleetmend worker v1.2.3 (go1.26.8)".
func Line(binary string) string {
	return "fleetmend " + binary + " " + String() + " (" + runtime.Version() + ")"
}

// UserAgent is "fleetmend/<version>" as one HTTP token: characters a
// User-Agent product may not hold are replaced, so "(devel)" becomes "devel".
func UserAgent() string {
	return product + "/" + token(String())
}

// product is fleetmend's product token in a User-Agent.
const product = "fleetmend"

// token makes v an RFC 9110 token (the product version of a User-Agent).
func token(v string) string {
	v = strings.Trim(v, "()")
	var b strings.Builder
	for _, r := range v {
		if isTokenChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "devel"
	}
	return b.String()
}

func isTokenChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}
