package deploy

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetmend/fleetmend/internal/temporalcfg"
)

// checkClusterSettings: the compose stack's Temporal server, schema job and
// setup job are configured with internal/temporalcfg's settings, the
// settings the multi-process cluster test (e2e/cluster) runs the server
// with: the SQL plugin, the databases and schema directory, the history
// shards, each service's ports and connection pools, the namespace, and
// the dynamic config file, which must be the one the cluster test reads.
func checkClusterSettings(c composeConfig) error {
	var errs []error
	wantEnv := func(service string, want map[string]string) {
		s, ok := c.Services[service]
		if !ok {
			errs = append(errs, fmt.Errorf("no %s service", service))
			return
		}
		for _, k := range sortedKeys(want) {
			if got, set := s.Environment[k]; !set || got != want[k] {
				errs = append(errs, fmt.Errorf("%s %s = %q (set: %v), want %q as internal/temporalcfg has it", service, k, got, set, want[k]))
			}
		}
	}
	wantEnv("temporal", temporalcfg.ServerEnv())
	wantEnv("temporal-schema", temporalcfg.SchemaJobEnv())
	wantEnv("temporal-setup", temporalcfg.SetupJobEnv())

	// The frontend's gRPC port is the one published, health-checked and
	// dialled by every client of the stack.
	grpc := strconv.Itoa(temporalcfg.DefaultPorts()[temporalcfg.Frontend].GRPC)
	if s, ok := c.Services["temporal"]; ok {
		var published []string
		for _, p := range s.Ports {
			published = append(published, fmt.Sprintf("%s:%d", p.Published, p.Target))
		}
		if want := []string{grpc + ":" + grpc}; !slices.Equal(published, want) {
			errs = append(errs, fmt.Errorf("temporal publishes %v, want the frontend's gRPC port %v", published, want))
		}
		if h := s.HealthCheck; h == nil || !slices.Contains(h.Test, grpc) {
			errs = append(errs, fmt.Errorf("temporal's healthcheck does not probe the frontend's gRPC port %s", grpc))
		}
		// The dynamic config the server reads is the repository's file.
		dir, file := filepath.Split(temporalcfg.ContainerDynamicConfigFile)
		found := false
		for _, v := range s.Volumes {
			if filepath.Clean(v.Target) == filepath.Clean(dir) {
				found = true
				abs, err := filepath.Abs(filepath.Join("..", temporalcfg.DynamicConfigFile))
				if err == nil && filepath.Join(v.Source, file) != abs {
					errs = append(errs, fmt.Errorf("temporal reads its dynamic config from %s, want %s (the file the cluster test reads)",
						filepath.Join(v.Source, file), temporalcfg.DynamicConfigFile))
				}
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("temporal mounts nothing at %s", dir))
		}
	}
	for _, name := range sortedKeys(c.Services) {
		if addr, ok := c.Services[name].Environment["TEMPORAL_ADDRESS"]; ok && addr != "temporal:"+grpc {
			errs = append(errs, fmt.Errorf("%s TEMPORAL_ADDRESS = %q, want temporal:%s", name, addr, grpc))
		}
	}
	return errors.Join(errs...)
}

// TestComposeMatchesClusterSettings: docker-compose.yml runs Temporal with
// internal/temporalcfg's settings (the cluster test's), and a copy with one
// of them changed is rejected naming it.
func TestComposeMatchesClusterSettings(t *testing.T) {
	t.Parallel()
	if err := checkClusterSettings(loadConfig(t, nil)); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		name string
		edit [2]string
		want string
	}{
		{"shards", [2]string{`NUM_HISTORY_SHARDS: "4"`, `NUM_HISTORY_SHARDS: "8"`}, "NUM_HISTORY_SHARDS"},
		{"plugin", [2]string{"DB: postgres12", "DB: postgres12_pgx"}, "temporal DB"},
		{"history-port", [2]string{`HISTORY_GRPC_PORT: "7234"`, `HISTORY_GRPC_PORT: "7334"`}, "HISTORY_GRPC_PORT"},
		{"membership-port-unset", [2]string{"      MATCHING_MEMBERSHIP_PORT: \"6935\"\n", ""}, "MATCHING_MEMBERSHIP_PORT"},
		{"visibility-db", [2]string{"      VISIBILITY_DBNAME: temporal_visibility\n      SCHEMA_DIR", "      VISIBILITY_DBNAME: visibility\n      SCHEMA_DIR"}, "temporal-schema VISIBILITY_DBNAME"},
		{"schema-dir", [2]string{"SCHEMA_DIR: /etc/temporal/schema/postgresql/v12", "SCHEMA_DIR: /etc/temporal/schema/postgresql/v96"}, "SCHEMA_DIR"},
		{"pool", [2]string{`SQL_MAX_CONNS: "20"`, `SQL_MAX_CONNS: "50"`}, "SQL_MAX_CONNS"},
		{"retention", [2]string{"NAMESPACE_RETENTION: 720h", "NAMESPACE_RETENTION: 24h"}, "NAMESPACE_RETENTION"},
		{"dynamic-config", [2]string{
			"DYNAMIC_CONFIG_FILE_PATH: /etc/temporal/config/dynamicconfig/development-sql.yaml",
			"DYNAMIC_CONFIG_FILE_PATH: /etc/temporal/config/dynamicconfig/docker.yaml"}, "DYNAMIC_CONFIG_FILE_PATH"},
		{"published-port", [2]string{`"127.0.0.1:7233:7233"`, `"127.0.0.1:7233:7333"`}, "frontend's gRPC port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := loadCompose(composeCopy(t, tc.edit), allProfiles, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = checkClusterSettings(newComposeConfig(p))
			if err == nil {
				t.Fatalf("the settings check accepted the file with %q replaced by %q", tc.edit[0], tc.edit[1])
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not mention %q:\n%v", tc.want, err)
			}
		})
	}
}
