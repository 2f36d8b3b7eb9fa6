package deploy

import (
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDockerfile: pinned base images, the builder's Go is go.mod's, the
// build produces the three binaries from packages that exist, and the
// runtime runs the worker as a non-root user.
func TestDockerfile(t *testing.T) {
	df := readFile(t, "../Dockerfile")

	froms := regexp.MustCompile(`(?m)^FROM\s+(?:--platform=\S+\s+)?(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, found %d FROM lines", len(froms))
	}
	for _, f := range froms {
		_, tag, digest := imageRef(f[1])
		if (tag == "" && digest == "") || tag == "latest" {
			t.Errorf("base image %q is not pinned to a tag", f[1])
		}
	}

	goDirective := regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`).FindStringSubmatch(readFile(t, "../go.mod"))
	if goDirective == nil {
		t.Fatal("go.mod has no go line")
	}
	_, builderTag, _ := imageRef(froms[0][1])
	if !strings.HasPrefix(froms[0][1], "golang:") || !strings.HasPrefix(builderTag, goDirective[1]+"-") {
		t.Errorf("builder image %s, want golang:%s-… (go.mod's go line; GOTOOLCHAIN=local downloads no other)", froms[0][1], goDirective[1])
	}

	build := regexp.MustCompile(`(?m)^RUN go build .*$`).FindString(df)
	var pkgs []string
	for _, f := range strings.Fields(build) {
		if strings.HasPrefix(f, "./") {
			pkgs = append(pkgs, f)
		}
	}
	if want := []string{"./worker", "./ecssim/cmd/ecssim", "./starter"}; !slices.Equal(pkgs, want) {
		t.Fatalf("Dockerfile builds %v, want %v", pkgs, want)
	}
	// The packages exist, are commands, and build without cgo (the image
	// has no libc): `go list` checks that without compiling.
	cmd := exec.Command("go", append([]string{"list", "-e", "-deps", "-f", "{{if .Error}}{{.ImportPath}}: {{.Error}}{{end}}{{if .DepsErrors}}{{.ImportPath}}: {{.DepsErrors}}{{end}}"}, pkgs...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("CGO_ENABLED=0 go list %v: %v\n%s", pkgs, err, out)
	}
	cmd = exec.Command("go", append([]string{"list", "-f", "{{.Name}}"}, pkgs...)...)
	cmd.Dir = ".."
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for i, name := range strings.Fields(string(out)) {
		if name != "main" {
			t.Errorf("%s is package %s, not a command", pkgs[i], name)
		}
	}

	for _, bin := range []string{"worker", "starter", "ecssim"} {
		if !regexp.MustCompile(`(?m)^COPY --from=build .*/out/` + bin + `\b.* /usr/local/bin/`).MatchString(df) {
			t.Errorf("the runtime image does not get /usr/local/bin/%s", bin)
		}
	}
	if !strings.Contains(df, `ENTRYPOINT ["/usr/local/bin/worker"]`) {
		t.Error(`ENTRYPOINT is not ["/usr/local/bin/worker"]`)
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 {
		t.Error("no USER line: the runtime must not run as root")
	} else if u := users[len(users)-1][1]; u == "root" || strings.HasPrefix(u, "0") {
		t.Errorf("runtime USER %s is root", u)
	}
}

// TestDockerignore: the build context keeps what the build needs and drops
// the repository's history, local state and secrets.
func TestDockerignore(t *testing.T) {
	var patterns []string
	for _, line := range strings.Split(readFile(t, "../.dockerignore"), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	// A small model of Docker's matching: enough for these patterns.
	ignored := func(p string) bool {
		for _, pat := range patterns {
			candidates := []string{p}
			if rest, ok := strings.CutPrefix(pat, "**/"); ok {
				pat = rest
				candidates = append(candidates, path.Base(p))
			}
			for _, c := range candidates {
				if ok, _ := path.Match(pat, c); ok || strings.HasPrefix(c, pat+"/") {
					return true
				}
			}
		}
		return false
	}
	for _, keep := range []string{"go.mod", "go.sum", "worker/main.go", "ecssim/cmd/ecssim/main.go", "starter", "workflows/searchattr.go", "internal/config/config.go"} {
		if ignored(keep) {
			t.Errorf(".dockerignore drops %s, which the build needs", keep)
		}
	}
	for _, drop := range []string{".git", ".env", ".fleetmend", "temporal.db"} {
		if !ignored(drop) {
			t.Errorf(".dockerignore keeps %s in the build context", drop)
		}
	}
}
