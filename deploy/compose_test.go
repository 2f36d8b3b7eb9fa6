package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

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
	// Services that must report their health (others wait for them to be healthy).
	wantHealthcheck = []string{"postgresql", "temporal", "worker", "worker-sim"}
	// Long-running services, restarted by Docker unless stopped by hand.
	longRunning = []string{"postgresql", "temporal", "temporal-ui", "worker", "ecssim", "worker-sim"}
	// One-shot jobs: Docker must not restart them once they are done.
	oneShot = []string{"temporal-schema", "temporal-setup"}
	// Published ports, host_ip:published:target, as deploy/README.md lists them.
	wantPorts = map[string][]string{
		"temporal":    {"127.0.0.1:7233:7233"},
		"temporal-ui": {"127.0.0.1:8080:8080"},
		"ecssim":      {"127.0.0.1:8300:8300"},
	}
	// Services built from the repository's Dockerfile.
	builtHere = []string{"worker", "ecssim", "worker-sim"}
	// Every profile, for the loads that need the whole stack.
	allProfiles = []string{"cloud", "sim"}
)

const (
	composePath = "../docker-compose.yml"
	// The simulator's built-in keys (ecssim.DefaultAccessKeyID and its secret).
	simAccessKeyID     = "ecssim-access-key-id"
	simAccessKeySecret = "ecssim-access-key-secret"
)

// composeVarPrefixes covers every variable docker-compose.yml interpolates
// and Compose's own settings (COMPOSE_PROFILES, COMPOSE_PROJECT_NAME, …).
var composeVarPrefixes = []string{"ALIBABA_CLOUD_", "FLEETMEND_", "TEMPORAL_", "POSTGRES_", "ECSSIM_", "COMPOSE_"}

// composeEnv is the environment a test interpolates the compose file with:
// the test process's own minus every variable the file reads, so that a
// developer's shell cannot change the result or print their credentials into
// a failure message, plus set.
func composeEnv(set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !hasAnyPrefix(name, composeVarPrefixes...) {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// loadCompose loads the compose file at path with compose-go, the library
// the Compose CLI is built on: schema validation, interpolation, merging of
// the YAML anchors, consistency checks (depends_on on an unknown service,
// an undeclared volume) and profile selection, as `docker compose --profile …
// config` does, without any binary.
//
// The interpolation environment is composeEnv(set) and nothing else. The
// options deliberately leave out cli.WithOsEnv, cli.WithEnvFiles and
// cli.WithDotEnv: those are how compose-go would read the process
// environment or an .env file next to the compose file, and either would let
// a developer's settings or credentials into the result. The project name is
// fixed so that a copy of the file in a temporary directory loads the same.
func loadCompose(path string, profiles []string, set map[string]string) (*types.Project, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("compose file %s: %w", path, err)
	}
	opts, err := cli.NewProjectOptions([]string{abs},
		cli.WithName("fleetmend"),
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithEnv(composeEnv(set)),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		return nil, fmt.Errorf("compose options for %s: %w", path, err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		return nil, fmt.Errorf("load %s with profiles %v: %w", path, profiles, err)
	}
	return p, nil
}

// composeConfig is a loaded project with the services the tests read.
type composeConfig struct {
	Project *types.Project
	// Services are the active services (those of the loaded profiles).
	Services map[string]composeService
}

// composeService is a loaded service whose environment is flattened to plain
// strings, the form the scripts are run with. It shadows
// types.ServiceConfig.Environment, which holds *string: nil for a variable
// listed without a value and absent from the environment, which Docker then
// does not set, so it is left out here too.
type composeService struct {
	types.ServiceConfig
	Environment map[string]string
}

func newComposeConfig(p *types.Project) composeConfig {
	c := composeConfig{Project: p, Services: map[string]composeService{}}
	for name, s := range p.Services {
		env := map[string]string{}
		for k, v := range s.Environment {
			if v != nil {
				env[k] = *v
			}
		}
		c.Services[name] = composeService{ServiceConfig: s, Environment: env}
	}
	return c
}

// loadConfigFile loads the compose file at path with every profile active.
func loadConfigFile(t *testing.T, path string, env map[string]string) composeConfig {
	t.Helper()
	p, err := loadCompose(path, allProfiles, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Services) == 0 {
		t.Fatalf("%s: no services", path)
	}
	return newComposeConfig(p)
}

// loadConfig returns the repository's stack with every profile active.
func loadConfig(t *testing.T, env map[string]string) composeConfig {
	t.Helper()
	return loadConfigFile(t, composePath, env)
}

func allServices() []string {
	all := slices.Clone(baseServices)
	for _, s := range profileServices {
		all = append(all, s...)
	}
	sort.Strings(all)
	return all
}

func sortedKeys[V any](m map[string]V) []string {
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	return keys
}

// checkServices: the active services are exactly the base ones plus those of
// the loaded profiles, the file defines no other service, and each service
// has the documented profile (none for the base services).
func checkServices(c composeConfig) error {
	var errs []error
	want := slices.Clone(baseServices)
	for _, p := range c.Project.Profiles {
		want = append(want, profileServices[p]...)
	}
	sort.Strings(want)
	if got := sortedKeys(c.Project.Services); !slices.Equal(got, want) {
		errs = append(errs, fmt.Errorf("profiles %v activate services %v, want %v", c.Project.Profiles, got, want))
	}
	defined := map[string]types.ServiceConfig{}
	maps.Copy(defined, c.Project.Services)
	maps.Copy(defined, c.Project.DisabledServices)
	if got := sortedKeys(defined); !slices.Equal(got, allServices()) {
		errs = append(errs, fmt.Errorf("the file defines services %v; the tests and deploy/README.md know %v", got, allServices()))
	}
	for _, name := range baseServices {
		if s, ok := defined[name]; ok && len(s.Profiles) != 0 {
			errs = append(errs, fmt.Errorf("%s has profiles %v; it must run without any", name, s.Profiles))
		}
	}
	for profile, names := range profileServices {
		for _, name := range names {
			if s, ok := defined[name]; ok && !slices.Equal(s.Profiles, []string{profile}) {
				errs = append(errs, fmt.Errorf("%s has profiles %v, want [%s]", name, s.Profiles, profile))
			}
		}
	}
	return errors.Join(errs...)
}

// imageRef splits name[:tag][@digest].
func imageRef(ref string) (name, tag, digest string) {
	name, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// checkImagesPinned: every service names an image with an explicit tag that
// is not `latest` (services built from the Dockerfile included, or Compose
// would tag them latest), one image is used with one tag only, the fleetmend
// services are built from the repository's Dockerfile, and Temporal's server
// and admin-tools images share a version. It returns the tag of each image.
func checkImagesPinned(c composeConfig) (map[string]string, error) {
	var errs []error
	tags := map[string]string{}
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if s.Image == "" {
			errs = append(errs, fmt.Errorf("%s has no image: set one with an explicit tag", name))
			continue
		}
		img, tag, digest := imageRef(s.Image)
		switch {
		case tag == "" && digest == "":
			errs = append(errs, fmt.Errorf("%s: image %q has no tag", name, s.Image))
		case tag == "latest":
			errs = append(errs, fmt.Errorf("%s: image %q uses latest", name, s.Image))
		}
		if prev, ok := tags[img]; ok && prev != tag {
			errs = append(errs, fmt.Errorf("image %s is used with tags %s and %s", img, prev, tag))
		}
		tags[img] = tag
	}
	for _, name := range builtHere {
		s, ok := c.Services[name]
		switch {
		case !ok:
			continue
		case s.Build == nil:
			errs = append(errs, fmt.Errorf("%s must be built from the repository's Dockerfile", name))
		case s.Build.Context != c.Project.WorkingDir || s.Build.Dockerfile != "Dockerfile":
			errs = append(errs, fmt.Errorf("%s is built from %s in %s, want Dockerfile in %s (the repository)",
				name, s.Build.Dockerfile, s.Build.Context, c.Project.WorkingDir))
		}
	}
	server, admin := tags["temporalio/server"], tags["temporalio/admin-tools"]
	if server == "" || server != admin {
		errs = append(errs, fmt.Errorf("temporalio/server:%s and temporalio/admin-tools:%s must have the same version: "+
			"the schema job migrates the database for the server it runs with", server, admin))
	}
	return tags, errors.Join(errs...)
}

// healthchecked reports whether Docker can tell s is healthy: a healthcheck
// that is neither disabled nor NONE.
func healthchecked(s types.ServiceConfig) bool {
	h := s.HealthCheck
	return h != nil && !h.Disable && len(h.Test) > 0 && h.Test[0] != "NONE"
}

// checkStartOrder: the depends_on graph of the active services is the
// documented one and every dependency is required, each service waited on as
// healthy has a healthcheck, one-shot jobs are not restarted (Docker would
// rerun a finished job forever) and long-running services are.
func checkStartOrder(c composeConfig) error {
	var errs []error
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		got := map[string]string{}
		for dep, d := range s.DependsOn {
			got[dep] = d.Condition
			if !d.Required {
				errs = append(errs, fmt.Errorf("%s depends on %s with required: false; the order would not be enforced", name, dep))
			}
		}
		if want := wantDependsOn[name]; !maps.Equal(got, want) {
			errs = append(errs, fmt.Errorf("%s depends_on %v, want %v", name, got, want))
		}
		for _, dep := range sortedKeys(got) {
			target, ok := c.Services[dep]
			switch cond := got[dep]; {
			case !ok:
				errs = append(errs, fmt.Errorf("%s depends on %s, which is not an active service", name, dep))
			case cond == types.ServiceConditionHealthy && !healthchecked(target.ServiceConfig):
				errs = append(errs, fmt.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep))
			case cond == types.ServiceConditionCompletedSuccessfully && target.Restart != "" && target.Restart != types.RestartPolicyNo:
				errs = append(errs, fmt.Errorf("%s is a one-shot job (%s waits for it to complete) but has restart: %s", dep, name, target.Restart))
			}
		}
	}
	for _, name := range wantHealthcheck {
		if s, ok := c.Services[name]; ok && !healthchecked(s.ServiceConfig) {
			errs = append(errs, fmt.Errorf("%s has no healthcheck", name))
		}
	}
	for _, name := range longRunning {
		if s, ok := c.Services[name]; ok && s.Restart != types.RestartPolicyUnlessStopped {
			errs = append(errs, fmt.Errorf("%s: restart %q, want unless-stopped", name, s.Restart))
		}
	}
	for _, name := range oneShot {
		if s, ok := c.Services[name]; ok && s.Restart != "" && s.Restart != types.RestartPolicyNo {
			errs = append(errs, fmt.Errorf("%s is a one-shot job but has restart: %s", name, s.Restart))
		}
	}
	return errors.Join(errs...)
}

// checkPortsAndMounts: the published ports are the documented ones and
// listen on loopback only; bind mounts are read-only and exist, named volumes
// are declared, and every script and config file the services read from
// their mounts exists in the repository.
func checkPortsAndMounts(c composeConfig) error {
	var errs []error
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s:%s:%d", p.HostIP, p.Published, p.Target))
			if p.HostIP != "127.0.0.1" {
				errs = append(errs, fmt.Errorf("%s publishes %s:%d on %q; publish on 127.0.0.1 only", name, p.Published, p.Target, p.HostIP))
			}
		}
		if want := wantPorts[name]; !slices.Equal(ports, want) {
			errs = append(errs, fmt.Errorf("%s publishes %v, want %v", name, ports, want))
		}

		mounts := map[string]string{} // container path → host path
		for _, v := range s.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				if _, err := os.Stat(v.Source); err != nil {
					errs = append(errs, fmt.Errorf("%s mounts %s, which does not exist: %w", name, v.Source, err))
				}
				if !v.ReadOnly {
					errs = append(errs, fmt.Errorf("%s mounts %s read-write; the stack only reads the repository's files", name, v.Source))
				}
				mounts[v.Target] = v.Source
			case types.VolumeTypeVolume:
				if _, ok := c.Project.Volumes[v.Source]; !ok {
					errs = append(errs, fmt.Errorf("%s uses volume %q, which the file does not declare", name, v.Source))
				}
			default:
				errs = append(errs, fmt.Errorf("%s has a %s mount at %s; the tests know bind mounts and named volumes", name, v.Type, v.Target))
			}
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
				errs = append(errs, fmt.Errorf("%s reads %s, which is not under any of its mounts %v", name, f, mounts))
			} else if _, err := os.Stat(host); err != nil {
				errs = append(errs, fmt.Errorf("%s reads %s: %w", name, f, err))
			}
		}
	}
	return errors.Join(errs...)
}

// checkWorkerCredentials: the cloud worker receives exactly the credentials
// in creds (the environment the stack was loaded with); the simulated worker
// talks only to the simulator, with the simulator's keys, whatever the
// environment holds; no other service sees Alibaba credentials.
func checkWorkerCredentials(c composeConfig, creds map[string]string) error {
	var errs []error
	if w, ok := c.Services["worker"]; ok {
		for _, k := range sortedKeys(creds) {
			if got := w.Environment[k]; got != creds[k] {
				errs = append(errs, fmt.Errorf("worker %s = %q, want %q from the environment", k, got, creds[k]))
			}
		}
	}
	if sim, ok := c.Services["worker-sim"]; ok {
		for k, want := range map[string]string{
			"ALIBABA_CLOUD_ACCESS_KEY_ID":     simAccessKeyID,
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET": simAccessKeySecret,
			"FLEETMEND_ECS_ENDPOINT":          "ecssim:8300",
			"FLEETMEND_ECS_SCHEME":            "HTTP",
		} {
			if got := sim.Environment[k]; got != want {
				errs = append(errs, fmt.Errorf("worker-sim %s = %q, want %q (the simulator's)", k, got, want))
			}
		}
	}
	for _, name := range sortedKeys(c.Services) {
		if name == "worker" {
			continue
		}
		for k, v := range c.Services[name].Environment {
			if strings.HasPrefix(k, "ALIBABA_CLOUD_") && v != "" && v != simAccessKeyID && v != simAccessKeySecret {
				errs = append(errs, fmt.Errorf("%s receives %s from the environment; only the cloud worker may", name, k))
			}
		}
	}
	return errors.Join(errs...)
}

// checkStopGrace: both workers get longer to stop than the worker waits for
// its running activities (FLEETMEND_STOP_TIMEOUT), or Docker kills them
// mid-activity.
func checkStopGrace(c composeConfig) error {
	w, ok := c.Services["worker"]
	if !ok {
		return errors.New("no worker service: load the cloud profile")
	}
	stop, err := time.ParseDuration(w.Environment["FLEETMEND_STOP_TIMEOUT"])
	if err != nil {
		return fmt.Errorf("worker FLEETMEND_STOP_TIMEOUT: %w", err)
	}
	var errs []error
	for _, name := range []string{"worker", "worker-sim"} {
		s, ok := c.Services[name]
		if !ok {
			continue
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= stop {
			errs = append(errs, fmt.Errorf("%s stop_grace_period %v must be longer than FLEETMEND_STOP_TIMEOUT %v, "+
				"or Docker kills running activities", name, s.StopGracePeriod, stop))
		}
	}
	return errors.Join(errs...)
}

// TestComposeConfigValid: compose-go accepts the file with each combination
// of profiles, the profiles activate exactly the documented services, and
// the start order, ports and mounts hold for each combination (a dependency
// on a service of an inactive profile would break `up` with that profile).
func TestComposeConfigValid(t *testing.T) {
	for _, profiles := range [][]string{nil, {"cloud"}, {"sim"}, {"cloud", "sim"}} {
		t.Run("profiles="+strings.Join(profiles, ","), func(t *testing.T) {
			t.Parallel()
			p, err := loadCompose(composePath, profiles, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := newComposeConfig(p)
			for _, check := range []func(composeConfig) error{checkServices, checkStartOrder, checkPortsAndMounts} {
				if err := check(c); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestComposeImagesPinned: every image is pinned (checkImagesPinned), and
// Temporal's server and UI versions are on the lines devstack embeds.
func TestComposeImagesPinned(t *testing.T) {
	t.Parallel()
	tags, err := checkImagesPinned(loadConfig(t, nil))
	if err != nil {
		t.Error(err)
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
			"ALIBABA_CLOUD_ACCESS_KEY_ID":     "",
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "",
			"ALIBABA_CLOUD_SECURITY_TOKEN":    "",
			"ALIBABA_CLOUD_ECS_METADATA":      "",
			"FLEETMEND_TASK_QUEUE":            config.DefaultTaskQueue,
			"FLEETMEND_ECS_SCHEME":            "HTTPS",
			"FLEETMEND_ECS_ENDPOINT":          "",
			"FLEETMEND_REGIONS":               "cn-hangzhou",
			"FLEETMEND_LOG_LEVEL":             "info",
			"FLEETMEND_STOP_TIMEOUT":          "30s",
			"FLEETMEND_METRICS_ADDR":          ":9464",
		} {
			if got, ok := w[k]; !ok || got != want {
				t.Errorf("worker %s = %q (set: %v), want %q", k, got, ok, want)
			}
		}
		if err := checkStopGrace(c); err != nil {
			t.Error(err)
		}
		// Both workers are health-checked by the worker binary itself (the
		// image has no shell), against the address they serve /healthz on.
		for _, name := range []string{"worker", "worker-sim"} {
			s := c.Services[name]
			if s.HealthCheck == nil || !slices.Equal(s.HealthCheck.Test, []string{"CMD", "/usr/local/bin/worker", "healthcheck"}) {
				t.Errorf("%s healthcheck %+v, want the worker's own probe", name, s.HealthCheck)
			}
			if s.Environment["FLEETMEND_METRICS_ADDR"] == "" {
				t.Errorf("%s serves no /healthz (FLEETMEND_METRICS_ADDR unset)", name)
			}
			if s.Environment["FLEETMEND_REGIONS"] == "" {
				t.Errorf("%s serves no region (FLEETMEND_REGIONS unset)", name)
			}
		}
		if err := checkWorkerCredentials(c, nil); err != nil {
			t.Error(err)
		}
		// The simulator's defaults, as deploy/README.md gives them.
		want := []string{"--addr=0.0.0.0:8300", "--fleet-size=500", "--time-scale=60"}
		if got := c.Services["ecssim"].Command; !slices.Equal(got, want) {
			t.Errorf("ecssim command %v, want %v", got, want)
		}
		if got := c.Services["ecssim"].Entrypoint; !slices.Equal(got, []string{"/usr/local/bin/ecssim"}) {
			t.Errorf("ecssim entrypoint %v, want [/usr/local/bin/ecssim]", got)
		}
	})
	t.Run("from-environment", func(t *testing.T) {
		t.Parallel()
		creds := map[string]string{
			"ALIBABA_CLOUD_ACCESS_KEY_ID":     "LTAI-test-key",
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "test-secret",
			"ALIBABA_CLOUD_SECURITY_TOKEN":    "test-token",
		}
		env := map[string]string{
			"FLEETMEND_REGIONS":      "cn-shanghai,cn-beijing",
			"FLEETMEND_ECS_ENDPOINT": "somewhere:1",
			"FLEETMEND_LOG_LEVEL":    "debug",
			"ECSSIM_FLEET_SIZE":      "7",
		}
		maps.Copy(env, creds)
		c := loadConfig(t, env)
		if err := checkWorkerCredentials(c, creds); err != nil {
			t.Error(err)
		}
		w := c.Services["worker"].Environment
		for _, k := range []string{"FLEETMEND_REGIONS", "FLEETMEND_ECS_ENDPOINT", "FLEETMEND_LOG_LEVEL"} {
			if w[k] != env[k] {
				t.Errorf("worker %s = %q, want %q from the environment", k, w[k], env[k])
			}
		}
		if got := c.Services["worker-sim"].Environment["FLEETMEND_LOG_LEVEL"]; got != "debug" {
			t.Errorf("worker-sim FLEETMEND_LOG_LEVEL = %q, want debug from the environment", got)
		}
		if cmd := c.Services["ecssim"].Command; !slices.Contains(cmd, "--fleet-size=7") || !slices.Contains(cmd, "--addr=0.0.0.0:8300") {
			t.Errorf("ecssim command %v, want --fleet-size=7 from ECSSIM_FLEET_SIZE and --addr=0.0.0.0:8300", cmd)
		}
	})
}

// TestComposeDatabasePassword: PostgreSQL, the schema job and the server use
// the same password, POSTGRES_PASSWORD's or the default.
func TestComposeDatabasePassword(t *testing.T) {
	t.Parallel()
	for _, want := range []string{"temporal", "s3cret"} {
		var env map[string]string
		if want != "temporal" {
			env = map[string]string{"POSTGRES_PASSWORD": want}
		}
		c := loadConfig(t, env)
		for name, k := range map[string]string{
			"postgresql":      "POSTGRES_PASSWORD",
			"temporal-schema": "SQL_PASSWORD",
			"temporal":        "POSTGRES_PWD",
		} {
			if got := c.Services[name].Environment[k]; got != want {
				t.Errorf("with POSTGRES_PASSWORD %q: %s %s = %q, want %q", env["POSTGRES_PASSWORD"], name, k, got, want)
			}
		}
	}
}

// TestComposePortsAndMounts: published ports listen on loopback only, and
// every file the stack mounts from the repository exists.
func TestComposePortsAndMounts(t *testing.T) {
	t.Parallel()
	if err := checkPortsAndMounts(loadConfig(t, nil)); err != nil {
		t.Error(err)
	}
}

// composeCopy writes docker-compose.yml into a new temporary directory with
// each edit's old text (which must occur exactly once) replaced by its new
// text, links the directory's deploy/ to the repository's so the bind mounts
// resolve, and returns the copy's path.
func composeCopy(t *testing.T, edits ...[2]string) string {
	t.Helper()
	text := readFile(t, composePath)
	for _, e := range edits {
		if n := strings.Count(text, e[0]); n != 1 {
			t.Fatalf("docker-compose.yml contains %q %d times, want once: update the test's edit", e[0], n)
		}
		text = strings.Replace(text, e[0], e[1], 1)
	}
	dir := t.TempDir()
	deployDir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(deployDir, filepath.Join(dir, "deploy")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestComposeChecksReject: the checks are real. An unchanged copy of the file
// passes every one of them, and a copy with one flaw is rejected, by the
// loader or by the check meant to catch it, with a message naming the flaw.
func TestComposeChecksReject(t *testing.T) {
	t.Parallel()
	creds := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-test-key"}
	checks := map[string]func(composeConfig) error{
		"services":         checkServices,
		"images":           func(c composeConfig) error { _, err := checkImagesPinned(c); return err },
		"start-order":      checkStartOrder,
		"ports-and-mounts": checkPortsAndMounts,
		"credentials":      func(c composeConfig) error { return checkWorkerCredentials(c, creds) },
		"stop-grace":       checkStopGrace,
	}

	t.Run("unchanged", func(t *testing.T) {
		t.Parallel()
		c := loadConfigFile(t, composeCopy(t), creds)
		for name, check := range checks {
			if err := check(c); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})

	for _, tc := range []struct {
		name  string
		edit  [2]string
		check string // "" when the loader itself must refuse the file
		want  string // in the error
	}{
		{"untagged-image", [2]string{"image: temporalio/ui:2.54.1", "image: temporalio/ui"}, "images", `"temporalio/ui" has no tag`},
		{"latest-image", [2]string{"image: postgres:16.15-bookworm", "image: postgres:latest"}, "images", "uses latest"},
		{"server-admin-mismatch", [2]string{"image: temporalio/server:1.32.1", "image: temporalio/server:1.31.0"}, "images", "same version"},
		{"wrong-condition", [2]string{
			"temporal-schema:\n        condition: service_completed_successfully",
			"temporal-schema:\n        condition: service_started"}, "start-order", "temporal depends_on"},
		{"optional-dependency", [2]string{
			"ecssim:\n        condition: service_started",
			"ecssim:\n        condition: service_started\n        required: false"}, "start-order", "required: false"},
		{"no-healthcheck", [2]string{
			`test: ["CMD", "nc", "-z", "localhost", "7233"]`,
			`test: ["NONE"]`}, "start-order", "temporal has no healthcheck"},
		{"restarted-job", [2]string{
			"  temporal-setup:\n    image: temporalio/admin-tools:1.32.1\n",
			"  temporal-setup:\n    image: temporalio/admin-tools:1.32.1\n    restart: on-failure\n"}, "start-order", "one-shot"},
		{"public-port", [2]string{`"127.0.0.1:8080:8080"`, `"8080:8080"`}, "ports-and-mounts", "publish on 127.0.0.1 only"},
		{"missing-mount", [2]string{"./deploy/dynamicconfig:", "./deploy/dynamic-config:"}, "ports-and-mounts", "does not exist"},
		{"writable-mount", [2]string{"./deploy/dynamicconfig:/etc/temporal/config/dynamicconfig:ro", "./deploy/dynamicconfig:/etc/temporal/config/dynamicconfig"}, "ports-and-mounts", "read-write"},
		{"leaked-credentials", [2]string{
			"ALIBABA_CLOUD_ACCESS_KEY_ID: ecssim-access-key-id",
			"ALIBABA_CLOUD_ACCESS_KEY_ID: ${ALIBABA_CLOUD_ACCESS_KEY_ID:-}"}, "credentials", "worker-sim receives ALIBABA_CLOUD_ACCESS_KEY_ID"},
		{"short-grace", [2]string{"${FLEETMEND_STOP_TIMEOUT:-30s}", "${FLEETMEND_STOP_TIMEOUT:-60s}"}, "stop-grace", "must be longer than FLEETMEND_STOP_TIMEOUT"},
		{"service-without-profile", [2]string{`profiles: ["cloud"]`, ""}, "services", "worker has profiles []"},
		{"unknown-dependency", [2]string{"      ecssim:\n        condition: service_started", "      ecsim:\n        condition: service_started"}, "", "ecsim"},
		{"invalid-condition", [2]string{"condition: service_started", "condition: service_ready"}, "", "depends_on.ecssim.condition"},
		{"undeclared-volume", [2]string{"volumes:\n  postgresql-data:\n", ""}, "", "postgresql-data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := loadCompose(composeCopy(t, tc.edit), allProfiles, creds)
			if tc.check == "" {
				if err == nil {
					t.Fatalf("compose-go accepted the file with %q replaced by %q", tc.edit[0], tc.edit[1])
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				err = checks[tc.check](newComposeConfig(p))
				if err == nil {
					t.Fatalf("check %s accepted the file with %q replaced by %q", tc.check, tc.edit[0], tc.edit[1])
				}
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not mention %q:\n%v", tc.want, err)
			}
		})
	}
}

// TestComposeIgnoresDotEnvAndShell: a load sees only the environment the test
// gives it, not an .env file next to the compose file nor the variables of
// the developer's shell (Compose's own COMPOSE_PROFILES included). Not
// parallel: it sets variables of the test process.
func TestComposeIgnoresDotEnvAndShell(t *testing.T) {
	t.Setenv("FLEETMEND_TASK_QUEUE", "from-shell")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-from-shell")
	t.Setenv("COMPOSE_PROFILES", "sim")
	path := composeCopy(t)
	dotEnv := "FLEETMEND_LOG_LEVEL=debug\nALIBABA_CLOUD_ACCESS_KEY_SECRET=from-dotenv\nCOMPOSE_PROFILES=sim\n"
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), ".env"), []byte(dotEnv), 0o600); err != nil {
		t.Fatal(err)
	}

	p, err := loadCompose(path, []string{"cloud"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedKeys(p.Services); slices.Contains(got, "ecssim") {
		t.Errorf("COMPOSE_PROFILES=sim from the shell or .env activated the sim profile: services %v", got)
	}
	w := newComposeConfig(p).Services["worker"].Environment
	for k, want := range map[string]string{
		"FLEETMEND_TASK_QUEUE":            config.DefaultTaskQueue,
		"FLEETMEND_LOG_LEVEL":             "info",
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     "",
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "",
	} {
		if w[k] != want {
			t.Errorf("worker %s = %q, want %q: the load read the shell or the .env file", k, w[k], want)
		}
	}

	// The same file and .env, with the value given by the test: it is used.
	p, err = loadCompose(path, []string{"cloud"}, map[string]string{"FLEETMEND_TASK_QUEUE": "from-test"})
	if err != nil {
		t.Fatal(err)
	}
	if got := newComposeConfig(p).Services["worker"].Environment["FLEETMEND_TASK_QUEUE"]; got != "from-test" {
		t.Errorf("worker FLEETMEND_TASK_QUEUE = %q, want from-test, the value the test set", got)
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
