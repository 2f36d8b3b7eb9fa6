package deploy

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/workflows"
)

// The stack as deploy/README.md documents it.
var (
	// Services that run whatever the profiles.
	baseServices = []string{"postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui"}
	// Services of each profile.
	profileServices = map[string][]string{
		"cloud": {"worker"},
		"sim":   {"ecssim", "worker-sim"},
	}
	// Start order: service → dependency → condition.
	wantDependsOn = map[string]map[string]string{
		"temporal-schema": {"postgresql": "service_healthy"},
		"temporal":        {"temporal-schema": "service_completed_successfully"},
		"temporal-setup":  {"temporal": "service_healthy"},
		"temporal-ui":     {"temporal": "service_healthy"},
		"worker":          {"temporal-setup": "service_completed_successfully"},
		"worker-sim":      {"temporal-setup": "service_completed_successfully", "ecssim": "service_started"},
	}
)

const (
	composePath = "../docker-compose.yml"
	// The simulator's built-in key (ecssim.DefaultAccessKeyID).
	simAccessKeyID = "ecssim-access-key-id"
)

// composeService is the part of a service of `docker-compose config` the
// tests read. Fields whose shape differs between Compose v1 and v2 output
// (ports, volumes) are left untyped.
type composeService struct {
	Image       string                `yaml:"image"`
	Build       any                   `yaml:"build"`
	Profiles    []string              `yaml:"profiles"`
	DependsOn   map[string]dependency `yaml:"depends_on"`
	Environment map[string]string     `yaml:"environment"`
	Healthcheck map[string]any        `yaml:"healthcheck"`
	Restart     string                `yaml:"restart"`
	Ports       []any                 `yaml:"ports"`
	Volumes     []any                 `yaml:"volumes"`
	Entrypoint  []string              `yaml:"entrypoint"`
	Command     []string              `yaml:"command"`
	StopGrace   string                `yaml:"stop_grace_period"`
}

type dependency struct {
	Condition string `yaml:"condition"`
}

type composeConfig struct {
	Services map[string]composeService `yaml:"services"`
}

// runCompose runs docker-compose on the repository's compose file. The
// environment is the test's minus every variable the compose file reads
// (so a developer's shell or .env cannot change the result or print their
// credentials into a failure message), plus env.
func runCompose(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatalf("docker-compose is required to check docker-compose.yml and is not on PATH (%v); "+
			"install it, e.g. `apt-get install docker-compose` on Debian", err)
	}
	emptyEnvFile := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(emptyEnvFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	full := append([]string{"-f", composePath, "--env-file", emptyEnvFile}, args...)
	cmd := exec.Command(bin, full...)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !hasAnyPrefix(name, "ALIBABA_CLOUD_", "FLEETMEND_", "TEMPORAL_", "POSTGRES_", "ECSSIM_", "COMPOSE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker-compose %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func profileArgs(profiles []string) []string {
	var args []string
	for _, p := range profiles {
		args = append(args, "--profile", p)
	}
	return args
}

// loadConfig returns the resolved configuration with every profile active.
func loadConfig(t *testing.T, env map[string]string) composeConfig {
	t.Helper()
	out, err := runCompose(t, env, append(profileArgs([]string{"cloud", "sim"}), "config")...)
	if err != nil {
		t.Fatal(err)
	}
	var c composeConfig
	if err := yaml.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("parse docker-compose config output: %v\n%s", err, out)
	}
	if len(c.Services) == 0 {
		t.Fatalf("docker-compose config printed no services:\n%s", out)
	}
	return c
}

func allServices() []string {
	all := slices.Clone(baseServices)
	for _, s := range profileServices {
		all = append(all, s...)
	}
	sort.Strings(all)
	return all
}

// TestComposeConfigValid: docker-compose accepts the file with each
// combination of profiles, and lists every service the profiles activate.
func TestComposeConfigValid(t *testing.T) {
	for _, profiles := range [][]string{nil, {"cloud"}, {"sim"}, {"cloud", "sim"}} {
		t.Run("profiles="+strings.Join(profiles, ","), func(t *testing.T) {
			t.Parallel()
			if _, err := runCompose(t, nil, append(profileArgs(profiles), "config", "-q")...); err != nil {
				t.Fatal(err)
			}
			out, err := runCompose(t, nil, append(profileArgs(profiles), "config", "--services")...)
			if err != nil {
				t.Fatal(err)
			}
			listed := strings.Fields(out)
			active := slices.Clone(baseServices)
			for _, p := range profiles {
				active = append(active, profileServices[p]...)
			}
			for _, s := range active {
				if !slices.Contains(listed, s) {
					t.Errorf("service %s is missing from `config --services` %v", s, listed)
				}
			}
			// Compose v1 lists inactive profile services too; v2 does not.
			for _, s := range listed {
				if !slices.Contains(allServices(), s) {
					t.Errorf("unexpected service %s; the tests and deploy/README.md know %v", s, allServices())
				}
			}
		})
	}
}

// TestComposeServicesAndProfiles: exactly the documented services, each in
// its profile, and nothing else.
func TestComposeServicesAndProfiles(t *testing.T) {
	t.Parallel()
	c := loadConfig(t, nil)
	var got []string
	for name := range c.Services {
		got = append(got, name)
	}
	sort.Strings(got)
	if !slices.Equal(got, allServices()) {
		t.Fatalf("services = %v, want %v", got, allServices())
	}
	for _, name := range baseServices {
		if p := c.Services[name].Profiles; len(p) != 0 {
			t.Errorf("%s has profiles %v; it must run without any", name, p)
		}
	}
	for profile, names := range profileServices {
		for _, name := range names {
			if p := c.Services[name].Profiles; !slices.Equal(p, []string{profile}) {
				t.Errorf("%s has profiles %v, want [%s]", name, p, profile)
			}
		}
	}
}

// imageRef splits name[:tag][@digest].
func imageRef(ref string) (name, tag, digest string) {
	name, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// TestComposeImagesPinned: every service names an image with an explicit tag
// that is not `latest` (services built from the Dockerfile included, or
// Compose would tag them latest); Temporal's server and admin-tools images
// share a version, and that version line is the one devstack embeds.
func TestComposeImagesPinned(t *testing.T) {
	t.Parallel()
	c := loadConfig(t, nil)
	tags := map[string]string{}
	for name, s := range c.Services {
		if s.Image == "" {
			t.Errorf("%s has no image: set one with an explicit tag", name)
			continue
		}
		img, tag, digest := imageRef(s.Image)
		switch {
		case tag == "" && digest == "":
			t.Errorf("%s: image %q has no tag", name, s.Image)
		case tag == "latest":
			t.Errorf("%s: image %q uses latest", name, s.Image)
		}
		if prev, ok := tags[img]; ok && prev != tag {
			t.Errorf("image %s is used with tags %s and %s", img, prev, tag)
		}
		tags[img] = tag
	}
	for _, name := range []string{"worker", "ecssim", "worker-sim"} {
		if c.Services[name].Build == nil {
			t.Errorf("%s must be built from the repository's Dockerfile", name)
		}
	}

	server, admin := tags["temporalio/server"], tags["temporalio/admin-tools"]
	if server == "" || server != admin {
		t.Errorf("temporalio/server:%s and temporalio/admin-tools:%s must have the same version: "+
			"the schema job migrates the database for the server it runs with", server, admin)
	}
	gomod := readFile(t, "../go.mod")
	for img, module := range map[string]string{
		"temporalio/server": "go.temporal.io/server",
		"temporalio/ui":     "github.com/temporalio/ui-server/v2",
	} {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+v(\d+\.\d+)\.`).FindStringSubmatch(gomod)
		if m == nil {
			t.Errorf("go.mod does not require %s", module)
			continue
		}
		if !strings.HasPrefix(tags[img], m[1]+".") {
			t.Errorf("%s:%s is not on the %s line that devstack and the tests use (%s in go.mod)",
				img, tags[img], m[1], module)
		}
	}
}

// TestComposeStartOrder: the depends_on graph is the documented one, every
// service waited on as healthy has a healthcheck, and one-shot jobs are not
// restarted (Docker would rerun a finished job forever).
func TestComposeStartOrder(t *testing.T) {
	t.Parallel()
	c := loadConfig(t, nil)
	for name, s := range c.Services {
		got := map[string]string{}
		for dep, d := range s.DependsOn {
			got[dep] = d.Condition
		}
		if want := wantDependsOn[name]; !maps.Equal(got, want) {
			t.Errorf("%s depends_on %v, want %v", name, got, wantDependsOn[name])
		}
		for dep, cond := range got {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on unknown service %s", name, dep)
			case cond == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			case cond == "service_completed_successfully" && target.Restart != "" && target.Restart != "no":
				t.Errorf("%s is a one-shot job (%s waits for it to complete) but has restart: %s", dep, name, target.Restart)
			}
		}
	}
	for _, name := range []string{"postgresql", "temporal", "temporal-ui", "worker", "ecssim", "worker-sim"} {
		if r := c.Services[name].Restart; r != "unless-stopped" {
			t.Errorf("%s: restart %q, want unless-stopped", name, r)
		}
	}
}

// TestComposeSearchAttributes: the setup job registers exactly the search
// attributes the workflows use, in the namespace the workers and the UI use.
func TestComposeSearchAttributes(t *testing.T) {
	t.Parallel()
	c := loadConfig(t, nil)
	setup := c.Services["temporal-setup"]
	got := strings.Fields(setup.Environment["SEARCH_ATTRIBUTES"])
	var want []string
	for _, sa := range workflows.SearchAttributeTypes() {
		want = append(want, sa[0]+"="+sa[1])
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("temporal-setup SEARCH_ATTRIBUTES = %v, want workflows.SearchAttributeTypes() %v", got, want)
	}

	ns := setup.Environment["TEMPORAL_NAMESPACE"]
	if ns == "" {
		t.Fatal("temporal-setup has no TEMPORAL_NAMESPACE")
	}
	for _, name := range []string{"worker", "worker-sim"} {
		if got := c.Services[name].Environment["TEMPORAL_NAMESPACE"]; got != ns {
			t.Errorf("%s TEMPORAL_NAMESPACE = %q, want %q (the namespace temporal-setup prepares)", name, got, ns)
		}
	}
	if got := c.Services["temporal-ui"].Environment["TEMPORAL_DEFAULT_NAMESPACE"]; got != ns {
		t.Errorf("temporal-ui TEMPORAL_DEFAULT_NAMESPACE = %q, want %q", got, ns)
	}
	for _, name := range []string{"temporal-setup", "temporal-ui", "worker", "worker-sim"} {
		if got := c.Services[name].Environment["TEMPORAL_ADDRESS"]; got != "temporal:7233" {
			t.Errorf("%s TEMPORAL_ADDRESS = %q, want temporal:7233", name, got)
		}
	}
}

// TestComposeWorkers: the cloud worker takes the operator's credentials and
// settings from the environment, with the worker's own defaults when unset;
// the simulated worker talks only to the simulator with the simulator's key,
// whatever the environment holds; no other service sees Alibaba credentials.
func TestComposeWorkers(t *testing.T) {
	t.Parallel()
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		c := loadConfig(t, nil)
		w := c.Services["worker"].Environment
		for k, want := range map[string]string{
			"FLEETMEND_TASK_QUEUE":   config.DefaultTaskQueue,
			"FLEETMEND_ECS_SCHEME":   "HTTPS",
			"FLEETMEND_ECS_ENDPOINT": "",
			"FLEETMEND_REGIONS":      "",
			"FLEETMEND_LOG_LEVEL":    "info",
			"FLEETMEND_STOP_TIMEOUT": "30s",
		} {
			if got, ok := w[k]; !ok || got != want {
				t.Errorf("worker %s = %q (set: %v), want %q", k, got, ok, want)
			}
		}
		stop, err := time.ParseDuration(w["FLEETMEND_STOP_TIMEOUT"])
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"worker", "worker-sim"} {
			grace, err := time.ParseDuration(c.Services[name].StopGrace)
			if err != nil || grace <= stop {
				t.Errorf("%s stop_grace_period %q must be longer than FLEETMEND_STOP_TIMEOUT %v, "+
					"or Docker kills running activities", name, c.Services[name].StopGrace, stop)
			}
		}
	})
	t.Run("from-environment", func(t *testing.T) {
		t.Parallel()
		c := loadConfig(t, map[string]string{
			"ALIBABA_CLOUD_ACCESS_KEY_ID":     "LTAI-test-key",
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "test-secret",
			"FLEETMEND_REGIONS":               "cn-shanghai,cn-beijing",
			"FLEETMEND_ECS_ENDPOINT":          "somewhere:1",
		})
		w := c.Services["worker"].Environment
		if w["ALIBABA_CLOUD_ACCESS_KEY_ID"] != "LTAI-test-key" || w["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] != "test-secret" {
			t.Errorf("worker did not receive the credentials from the environment: key %q", w["ALIBABA_CLOUD_ACCESS_KEY_ID"])
		}
		if w["FLEETMEND_REGIONS"] != "cn-shanghai,cn-beijing" {
			t.Errorf("worker FLEETMEND_REGIONS = %q", w["FLEETMEND_REGIONS"])
		}

		sim := c.Services["worker-sim"].Environment
		if sim["ALIBABA_CLOUD_ACCESS_KEY_ID"] != simAccessKeyID {
			t.Errorf("worker-sim ALIBABA_CLOUD_ACCESS_KEY_ID = %q, want the simulator's %q", sim["ALIBABA_CLOUD_ACCESS_KEY_ID"], simAccessKeyID)
		}
		if sim["FLEETMEND_ECS_ENDPOINT"] != "ecssim:8300" || sim["FLEETMEND_ECS_SCHEME"] != "HTTP" {
			t.Errorf("worker-sim endpoint %q scheme %q, want ecssim:8300 HTTP",
				sim["FLEETMEND_ECS_ENDPOINT"], sim["FLEETMEND_ECS_SCHEME"])
		}
		if !slices.Contains(c.Services["ecssim"].Command, "--addr=0.0.0.0:8300") {
			t.Errorf("ecssim command %v does not listen on 0.0.0.0:8300", c.Services["ecssim"].Command)
		}
		for name, s := range c.Services {
			if name == "worker" {
				continue
			}
			for k, v := range s.Environment {
				if strings.HasPrefix(k, "ALIBABA_CLOUD_") && v != "" && v != simAccessKeyID && v != "ecssim-access-key-secret" {
					t.Errorf("%s receives %s from the environment; only the cloud worker may", name, k)
				}
			}
		}
	})
}

// TestComposePortsAndMounts: published ports listen on loopback only, and
// every file the stack mounts from the repository exists.
func TestComposePortsAndMounts(t *testing.T) {
	t.Parallel()
	c := loadConfig(t, nil)
	for name, s := range c.Services {
		for _, p := range s.Ports {
			var hostIP string
			switch p := p.(type) {
			case string: // v1: 127.0.0.1:7233:7233/tcp
				if parts := strings.Split(p, ":"); len(parts) == 3 {
					hostIP = parts[0]
				}
			case map[string]any: // v2 long syntax
				hostIP, _ = p["host_ip"].(string)
			}
			if hostIP != "127.0.0.1" {
				t.Errorf("%s publishes %v on %q; publish on 127.0.0.1 only", name, p, hostIP)
			}
		}
		mounts := map[string]string{} // container path → host path
		for _, v := range s.Volumes {
			var src, dst string
			switch v := v.(type) {
			case string: // v1: /abs/src:/dst:ro, or volume:/dst:rw
				parts := strings.Split(v, ":")
				if len(parts) >= 2 {
					src, dst = parts[0], parts[1]
				}
			case map[string]any: // v2
				src, _ = v["source"].(string)
				dst, _ = v["target"].(string)
			}
			if !filepath.IsAbs(src) {
				continue // a named volume
			}
			if _, err := os.Stat(src); err != nil {
				t.Errorf("%s mounts %s, which does not exist: %v", name, src, err)
			}
			mounts[dst] = src
		}
		// Scripts and config files the services read from those mounts.
		var files []string
		if len(s.Entrypoint) == 2 && s.Entrypoint[0] == "/bin/sh" {
			files = append(files, s.Entrypoint[1])
		}
		if f := s.Environment["DYNAMIC_CONFIG_FILE_PATH"]; f != "" {
			files = append(files, f)
		}
		for _, f := range files {
			host := ""
			for dst, src := range mounts {
				if rel, err := filepath.Rel(dst, f); err == nil && !strings.HasPrefix(rel, "..") {
					host = filepath.Join(src, rel)
				}
			}
			if host == "" {
				t.Errorf("%s reads %s, which is not under any of its mounts %v", name, f, mounts)
			} else if _, err := os.Stat(host); err != nil {
				t.Errorf("%s reads %s: %v", name, f, err)
			}
		}
	}
}

// TestReadmeSearchAttributeLines: deploy/README.md gives the exact
// registration command for every search attribute, for clusters the compose
// stack does not set up.
func TestReadmeSearchAttributeLines(t *testing.T) {
	readme := readFile(t, "README.md")
	for _, sa := range workflows.SearchAttributeTypes() {
		line := fmt.Sprintf(`temporal operator search-attribute create --namespace "$NS" --name %s --type %s`, sa[0], sa[1])
		if !strings.Contains(readme, line) {
			t.Errorf("deploy/README.md lacks the line\n\t%s", line)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
