// Package config holds what the worker, the starter and devstack share about
// configuration: the Temporal connection (Temporal's standard environment
// configuration plus flag overrides) and flags that fall back to environment
// variables, so the same binary works from a shell, a container and a unit file.
package config

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/log"

	"github.com/fleetmend/fleetmend/activities"
)

// DefaultTaskQueue is the base name of fleetmend's task queues: region R's
// runs are on RegionTaskQueue(DefaultTaskQueue, R).
const DefaultTaskQueue = "fleetmend"

// RegionTaskQueue is the task queue of region's runs, batches and
// activities: workers serving the region poll it, and only they, so
// workers split regions between them. The name is made in one place,
// activities, where a fleet run needs it too.
func RegionTaskQueue(base, region string) string { return activities.RegionTaskQueue(base, region) }

// Temporal is the connection as flags may override it. Empty fields keep
// what Temporal's environment configuration says (TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE and
// the TOML config file), which in turn defaults to localhost:7233, "default".
type Temporal struct {
	Address   string
	Namespace string
}

// ClientOptions loads Temporal's environment configuration, applies the
// overrides and sets logger.
func (t Temporal) ClientOptions(logger log.Logger) (client.Options, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return client.Options{}, fmt.Errorf("load Temporal client configuration (TEMPORAL_* variables, config file): %w", err)
	}
	if t.Address != "" {
		opts.HostPort = t.Address
	}
	if t.Namespace != "" {
		opts.Namespace = t.Namespace
	}
	if opts.HostPort == "" {
		opts.HostPort = client.DefaultHostPort
	}
	if opts.Namespace == "" {
		opts.Namespace = client.DefaultNamespace
	}
	opts.Logger = logger
	return opts, nil
}

// RegisterFlags adds --temporal-address and --temporal-namespace to fs.
func (t *Temporal) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&t.Address, "temporal-address", "", "Temporal frontend host:port (default: TEMPORAL_ADDRESS, the config file, or localhost:7233)")
	fs.StringVar(&t.Namespace, "temporal-namespace", "", "Temporal namespace (default: TEMPORAL_NAMESPACE, the config file, or \"default\")")
}

// Env returns the environment variable name, or def when it is unset.
// Flags use it as their default so that FLEETMEND_* variables configure a
// container without a command line.
func Env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// SplitList splits a comma separated list, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
