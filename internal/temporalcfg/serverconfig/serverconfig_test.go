package serverconfig_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"

	"github.com/fleetmend/fleetmend/internal/temporalcfg"
	"github.com/fleetmend/fleetmend/internal/temporalcfg/serverconfig"
)

func dynamicConfigFile(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", "..", "..", temporalcfg.DynamicConfigFile))
	require.NoError(t, err)
	return abs
}

// TestHostConfig: each service's host gets temporalcfg's settings (the
// compose server's) with its own ports, and the server accepts them.
func TestHostConfig(t *testing.T) {
	require.Equal(t, postgresql.PluginName, temporalcfg.SQLPlugin, "temporalcfg names the server's postgres12 plugin")
	ports := temporalcfg.DefaultPorts()
	for _, svc := range temporalcfg.Services() {
		cfg, err := serverconfig.New(serverconfig.Host{
			Service: svc, IP: "127.0.0.1", Ports: ports,
			Frontend: "127.0.0.1:7233", FrontendHTTP: "127.0.0.1:7243",
			SQL:               config.SQL{ConnectAddr: "127.0.0.1:5432", User: "u", Password: "p", ConnectAttributes: map[string]string{"sslmode": "disable"}},
			DynamicConfigFile: dynamicConfigFile(t),
		})
		require.NoError(t, err, svc)
		require.EqualValues(t, temporalcfg.NumHistoryShards, cfg.Persistence.NumHistoryShards)
		def := cfg.Persistence.DataStores[cfg.Persistence.DefaultStore].SQL
		vis := cfg.Persistence.DataStores[cfg.Persistence.VisibilityStore].SQL
		require.Equal(t, temporalcfg.SQLPlugin, def.PluginName)
		require.Equal(t, temporalcfg.SQLPlugin, vis.PluginName)
		require.Equal(t, temporalcfg.Database, def.DatabaseName)
		require.Equal(t, temporalcfg.VisibilityDatabase, vis.DatabaseName)
		require.Equal(t, temporalcfg.MaxConns, def.MaxConns)
		require.Equal(t, temporalcfg.VisibilityMaxConns, vis.MaxConns)
		require.Equal(t, "127.0.0.1:5432", vis.ConnectAddr)
		require.Equal(t, ports[svc].GRPC, cfg.Services[string(svc)].RPC.GRPCPort)
		require.Equal(t, ports[svc].Membership, cfg.Services[string(svc)].RPC.MembershipPort)
		require.Equal(t, temporalcfg.ClusterName, cfg.ClusterMetadata.CurrentClusterName)
		require.Equal(t, "127.0.0.1", cfg.Global.Membership.BroadcastAddress)
	}
	_, err := serverconfig.New(serverconfig.Host{Service: temporalcfg.History, IP: "localhost", Ports: ports})
	require.ErrorContains(t, err, "not an IP")
}

// TestDynamicConfigFileLoads: the compose stack's dynamic config file,
// which the cluster test's servers read too, holds only keys and values
// this server knows.
func TestDynamicConfigFileLoads(t *testing.T) {
	b, err := os.ReadFile(dynamicConfigFile(t))
	require.NoError(t, err)
	lr := dynamicconfig.LoadYamlFile(b)
	require.NoError(t, lr.Err())
	require.Empty(t, lr.Warnings)
	require.NotEmpty(t, lr.Map)
}
