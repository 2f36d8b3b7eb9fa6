package docs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The binaries whose flags the documentation must cover, by package.
var binaries = []string{"worker", "starter", "devstack", "ecssim/cmd/ecssim", "bench"}

// pages are the documentation: the README and every page in docs/.
func pages(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	require.NoError(t, err)
	files = append(files, "../README.md", "../deploy/README.md")
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		out[f] = string(b)
	}
	return out
}

func build(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-o", bin, "github.com/fleetmend/fleetmend/"+pkg).CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
	return bin
}

// help runs a binary with --help and returns what it printed.
func help(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, _ := exec.Command(bin, append(args, "--help")...).CombinedOutput() // the flag package exits 0 or 2 on --help
	return string(out)
}

var (
	// A flag line of cobra's help ("  -x, --name type   usage") or of the
	// flag package's ("  -name type"): the value type follows the name
	// after one space, the usage after two or more.
	flagLine = regexp.MustCompile(`(?m)^\s+(?:-[a-zA-Z], )?--?([a-z][a-z0-9-]*)(?: ([^\s]+))?`)
	// Cobra's "Available Commands:" entries.
	commandLine = regexp.MustCompile(`(?m)^  ([a-z][a-z-]*)\s{2,}\S`)
	// The value types cobra and the flag package print; anything else in
	// that place is back-quoted usage text cobra took for a type name.
	valueTypes = []string{"int", "int64", "uint", "string", "strings", "stringArray", "duration", "float", "float64", "value", "bool"}
)

// flagsOf returns every flag a binary's --help lists, for every command
// (cobra) it has, and the commands it walked.
func flagsOf(t *testing.T, bin string, path []string, seen map[string][]string) {
	t.Helper()
	out := help(t, bin, path...)
	flagsPart, commandsPart := out, ""
	if i := strings.Index(out, "Available Commands:"); i >= 0 {
		commandsPart = out[i:]
		if j := strings.Index(commandsPart, "\nFlags:"); j >= 0 {
			commandsPart = commandsPart[:j]
		}
	}
	for _, m := range flagLine.FindAllStringSubmatch(flagsPart, -1) {
		name, typ := m[1], m[2]
		if name == "help" || name == "h" {
			continue
		}
		where := strings.Join(append([]string{filepath.Base(bin)}, path...), " ")
		seen[name] = append(seen[name], where)
		if typ != "" && !slices.Contains(valueTypes, typ) {
			// Cobra names a flag's value after back-quoted text in its usage.
			t.Errorf("%s --%s shows %q as its value: back-quoted usage text? (%s)", where, name, typ, strings.TrimSpace(m[0]))
		}
	}
	for _, m := range commandLine.FindAllStringSubmatch(commandsPart, -1) {
		if m[1] == "help" || m[1] == "completion" {
			continue
		}
		flagsOf(t, bin, append(slices.Clone(path), m[1]), seen)
	}
}

// TestEveryFlagIsDocumented: every flag of every binary and command is
// named (as --flag) somewhere in the README or docs/, so a flag added
// without a line in the documentation fails here.
func TestEveryFlagIsDocumented(t *testing.T) {
	docs := pages(t)
	var all strings.Builder
	for _, p := range docs {
		all.WriteString(p)
	}
	text := all.String()
	for _, pkg := range binaries {
		bin := build(t, pkg)
		seen := map[string][]string{}
		flagsOf(t, bin, nil, seen)
		require.NotEmpty(t, seen, "%s lists no flags: the help format changed?", pkg)
		t.Logf("%s: %d flags", pkg, len(seen))
		for name, where := range seen {
			documented := regexp.MustCompile(`-{1,2}` + regexp.QuoteMeta(name) + `\b`).MatchString(text)
			require.True(t, documented, "--%s (%s) is documented nowhere in README.md or docs/", name, strings.Join(where, ", "))
		}
	}
}

var (
	link    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
)

// slug is a heading's anchor as GitHub makes it.
func slug(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestEveryLinkBetweenThePagesResolves: every relative link in the README,
// docs/ and deploy/README.md names a file that exists and, with #anchor, a
// heading of it.
func TestEveryLinkBetweenThePagesResolves(t *testing.T) {
	checked := 0
	for page, text := range pages(t) {
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
			}
			b, err := os.ReadFile(path)
			require.NoError(t, err, "%s links to %s, which does not exist", page, target)
			checked++
			if anchor == "" {
				continue
			}
			var anchors []string
			for _, h := range heading.FindAllStringSubmatch(string(b), -1) {
				anchors = append(anchors, slug(h[1]))
			}
			require.Contains(t, anchors, anchor, "%s links to %s: no such heading in %s", page, target, path)
		}
	}
	require.Positive(t, checked)
}

func TestFrontDoorStaysShort(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	require.LessOrEqual(t, strings.Count(string(b), "\n"), 250, "README.md is the front door: the reference goes in docs/")
}
