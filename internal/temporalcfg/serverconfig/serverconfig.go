// Package serverconfig turns temporalcfg's settings into the Temporal
// server's configuration for one service host on PostgreSQL, as the
// temporalio/server image's config template does from the environment
// that temporalcfg.ServerEnv gives it: the same plugin, databases, shards,
// pools, dynamic config file and cluster metadata, with ringpop membership.
package serverconfig

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"

	"github.com/fleetmend/fleetmend/internal/temporalcfg"
)

const (
	// The data store names the image's template uses.
	defaultStore    = "default"
	visibilityStore = "visibility"
	// maxJoinDuration is how long a host waits to join the ring: the
	// template's value.
	maxJoinDuration = 30 * time.Second
)

// Host describes one service host of a cluster.
type Host struct {
	// Service is what this host runs.
	Service temporalcfg.Service
	// IP is where it listens and what it tells the other hosts to dial.
	IP string
	// Ports are every service's ports; Ports[Service] are this host's
	// own. The others' gRPC ports are only a fallback: each host
	// advertises its own port in the ring.
	Ports map[temporalcfg.Service]temporalcfg.Ports
	// Frontend is the frontend's gRPC address as seen from this host
	// (cluster metadata, the worker service's client); HTTP its HTTP API.
	Frontend, FrontendHTTP string
	// SQL is the PostgreSQL connection (address, user, password,
	// attributes); database names and pools are temporalcfg's.
	SQL config.SQL
	// DynamicConfigFile is temporalcfg.DynamicConfigFile's absolute path.
	DynamicConfigFile string
}

// New builds the configuration of h.
func New(h Host) (*config.Config, error) {
	if net.ParseIP(h.IP) == nil {
		return nil, fmt.Errorf("serverconfig: host IP %q is not an IP address", h.IP)
	}
	if !filepath.IsAbs(h.DynamicConfigFile) {
		// The server resolves a relative path against its working
		// directory, which is not the repository's.
		return nil, fmt.Errorf("serverconfig: dynamic config file %q is not an absolute path", h.DynamicConfigFile)
	}
	services := map[string]config.Service{}
	for _, svc := range temporalcfg.Services() {
		p, ok := h.Ports[svc]
		if !ok || p.GRPC == 0 || p.Membership == 0 {
			return nil, fmt.Errorf("serverconfig: no gRPC and membership ports for %s", svc)
		}
		services[string(svc)] = config.Service{RPC: config.RPC{
			GRPCPort: p.GRPC, MembershipPort: p.Membership, HTTPPort: p.HTTP, BindOnIP: h.IP,
		}}
	}
	if _, ok := services[string(h.Service)]; !ok {
		return nil, fmt.Errorf("serverconfig: unknown service %q", h.Service)
	}
	if h.Frontend == "" || h.FrontendHTTP == "" {
		return nil, errors.New("serverconfig: no frontend address")
	}

	persistence := h.SQL
	persistence.PluginName = temporalcfg.SQLPlugin
	persistence.DatabaseName = temporalcfg.Database
	persistence.ConnectProtocol = "tcp"
	persistence.MaxConns = temporalcfg.MaxConns
	persistence.MaxIdleConns = temporalcfg.MaxIdleConns
	persistence.MaxConnLifetime = time.Hour
	visibility := persistence
	visibility.DatabaseName = temporalcfg.VisibilityDatabase
	visibility.MaxConns = temporalcfg.VisibilityMaxConns
	visibility.MaxIdleConns = temporalcfg.VisibilityMaxIdleConns
	visibility.ConnectAttributes = maps.Clone(persistence.ConnectAttributes)

	cfg := &config.Config{
		Global: config.Global{Membership: config.Membership{MaxJoinDuration: maxJoinDuration, BroadcastAddress: h.IP}},
		Persistence: config.Persistence{
			DefaultStore:     defaultStore,
			VisibilityStore:  visibilityStore,
			NumHistoryShards: temporalcfg.NumHistoryShards,
			DataStores: map[string]config.DataStore{
				defaultStore:    {SQL: &persistence},
				visibilityStore: {SQL: &visibility},
			},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        temporalcfg.ClusterName,
			CurrentClusterName:       temporalcfg.ClusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				temporalcfg.ClusterName: {
					Enabled: true, InitialFailoverVersion: 1,
					RPCAddress: h.Frontend, HTTPAddress: h.FrontendHTTP,
				},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		// The worker service (schedules, batch operations, the system
		// workflows) is a client of the frontend.
		PublicClient: config.PublicClient{HostPort: h.Frontend},
		DynamicConfigClient: &dynamicconfig.FileBasedClientConfig{
			Filepath: h.DynamicConfigFile, PollInterval: temporalcfg.DynamicConfigPollInterval,
		},
	}
	// Archival stays off, as in the compose stack's namespace.
	cfg.Archival.History.State = "disabled"
	cfg.Archival.Visibility.State = "disabled"
	cfg.NamespaceDefaults.Archival.History.State = "disabled"
	cfg.NamespaceDefaults.Archival.Visibility.State = "disabled"
	if err := cfg.Persistence.Validate(); err != nil {
		return nil, fmt.Errorf("serverconfig: persistence: %w", err)
	}
	return cfg, nil
}

// Address joins an IP and a port.
func Address(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
