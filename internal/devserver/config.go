package devserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// namespaceCacheRefresh is how often every service re-reads namespaces from
// the database. See defaultDynamicConfig.
const namespaceCacheRefresh = time.Second

// defaultDynamicConfig returns the dynamic config a dev server runs with;
// Options.DynamicConfig is applied on top. Every entry says why it deviates
// from the server default. Things deliberately NOT set because the 1.32
// defaults already do what we need: schedules (frontend.enableSchedules,
// on), CHASM and standalone activities (history.enableChasm,
// activity.enableStandalone, on), workflow/activity user metadata
// (Summary/StaticSummary/Details need no flag; only size limits exist),
// update-with-start (on).
func defaultDynamicConfig() map[dynamicconfig.Key]any {
	return map[dynamicconfig.Key]any{
		// Default 2s. Namespaces are written to the database before the
		// server starts, so they are usable at once regardless; this only
		// shortens how long a search attribute added on restart (via the
		// operator API) or a namespace created at run time through the
		// UI/CLI takes to reach every service. Costs one tiny SQLite read
		// per service per second.
		dynamicconfig.NamespaceCacheRefreshInterval.Key(): namespaceCacheRefresh,
		// Default 10 per namespace per frontend. The UI alone issues
		// several visibility calls per page (list + counts, re-polled), and
		// tests poll ListWorkflow; at 10 RPS the UI shows rate-limit errors.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// Default 128000 cached mutable states. A dev server handles few
		// workflows; a smaller bound keeps memory predictable in a
		// long-running devstack.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8192,
	}
}

// prepareDatabase creates the schema if needed and inserts the namespace
// (with its search attributes) directly into the database before the
// server starts. Doing it before start rather than through the
// RegisterNamespace API means the namespace is in every service's
// namespace cache from the first request: no wait for a cache refresh.
func prepareDatabase(cfg settings) (*config.SQL, error) {
	sqlCfg := &config.SQL{PluginName: sqliteplugin.PluginName}
	if cfg.DBFile == "" {
		name, err := randomName()
		if err != nil {
			return nil, err
		}
		// The plugin pools connections by DSN for the life of the process
		// (see package doc), so every ephemeral server needs its own name
		// or it would see the previous one's data. "cache=shared" lets the
		// plugin's connections share one in-memory database; the plugin
		// creates the schema when it first opens it.
		sqlCfg.DatabaseName = "devserver-" + name
		sqlCfg.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		sqlCfg.DatabaseName = cfg.DBFile
		// WAL with synchronous=normal: the default rollback journal
		// fsyncs every commit, which made start-up (schema creation,
		// shard acquisition) take ~2.7s instead of ~0.7s here. A commit
		// can only be lost on an OS crash or power loss, never when
		// just the process dies: fine for a dev server. Side effect:
		// while open, the database is three files (.db, -wal, -shm).
		sqlCfg.ConnectAttributes = map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "normal"}
		fresh, err := needsSchema(cfg.DBFile)
		if err != nil {
			return nil, err
		}
		if fresh {
			if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
				return nil, fmt.Errorf("devserver: create SQLite schema in %s: %w", cfg.DBFile, err)
			}
		}
	}

	// On a fresh namespace this also assigns the custom search attributes
	// to the SQLite visibility's preallocated columns. On an existing one
	// CreateNamespaces is a no-op; attributes added since are registered
	// after start by ensureNamespaceReady.
	nsCfg, err := sqliteschema.NewNamespaceConfig(clusterName, cfg.Namespace, false, cfg.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace %q config: %w", cfg.Namespace, err)
	}
	if err := sqliteschema.CreateNamespaces(sqlCfg, nsCfg); err != nil {
		return nil, fmt.Errorf("devserver: create namespace %q: %w", cfg.Namespace, err)
	}
	return sqlCfg, nil
}

// needsSchema reports whether path is a new database: missing, or empty
// (as left by os.CreateTemp). An existing non-empty file is assumed to hold
// a schema written by a previous run.
func needsSchema(path string) (bool, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Fail clearly here rather than with a SQLite "unable to open"
		// error from deep inside the schema setup.
		dir := filepath.Dir(path)
		if _, err := os.Stat(dir); err != nil {
			return false, fmt.Errorf("devserver: directory for DB file %s: %w", path, err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("devserver: stat DB file %s: %w", path, err)
	case info.IsDir():
		return false, fmt.Errorf("devserver: DB file %s is a directory", path)
	default:
		return info.Size() == 0, nil
	}
}

func randomName() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("devserver: random database name: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// sqliteStores is the persistence configuration for SQLite: one store for
// both persistence and visibility.
func sqliteStores(sqlCfg *config.SQL) config.Persistence {
	return config.Persistence{
		DefaultStore:     sqliteplugin.PluginName,
		VisibilityStore:  sqliteplugin.PluginName,
		NumHistoryShards: numHistoryShards,
		DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
	}
}

// newTemporalServer builds (but does not start) the server with all four
// services in this process.
func newTemporalServer(cfg settings, stores config.Persistence) (temporal.Server, error) {
	frontendAddr := net.JoinHostPort(cfg.connectIP, strconv.Itoa(cfg.ports.frontend))
	internalAddr := func(port int) string { return net.JoinHostPort(internalIP, strconv.Itoa(port)) }

	conf := &config.Config{}
	conf.Persistence = stores
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				// Persisted in cluster metadata, but the server rewrites it
				// on start when it differs, so a new port after a restart
				// is fine.
				RPCAddress: frontendAddr,
				// Where Nexus callbacks reach this cluster.
				HTTPAddress: net.JoinHostPort(cfg.connectIP, strconv.Itoa(cfg.ports.frontendHTTP)),
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	// The frontend's HTTP API is not used by us (the UI server talks
	// gRPC), but without it the server warns on every start that Nexus is
	// unavailable, and it is handy for curl. It listens on IP like gRPC.
	conf.Services = map[string]config.Service{
		string(primitives.FrontendService): {RPC: config.RPC{
			GRPCPort: cfg.ports.frontend,
			HTTPPort: cfg.ports.frontendHTTP,
			BindOnIP: cfg.listenIP,
		}},
		string(primitives.HistoryService):  {RPC: config.RPC{GRPCPort: cfg.ports.history, BindOnIP: internalIP}},
		string(primitives.MatchingService): {RPC: config.RPC{GRPCPort: cfg.ports.matching, BindOnIP: internalIP}},
		string(primitives.WorkerService):   {RPC: config.RPC{GRPCPort: cfg.ports.worker, BindOnIP: internalIP}},
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The worker service (scheduler, batcher, ...) reaches the frontend
	// through this address.
	conf.PublicClient.HostPort = frontendAddr
	// Global.Metrics stays nil (no-op metrics, no Prometheus port) and
	// Global.PProf.Port 0 (no pprof listener).

	dc := dynamicconfig.StaticClient(defaultDynamicConfig())
	if cfg.pg != nil {
		// PostgreSQL keeps IDs in VARCHAR(255) columns: refuse longer ones
		// at the API instead of at the database, as the compose stack's
		// dynamic config does (SQLite does not enforce the length).
		dc[dynamicconfig.MaxIDLengthLimit.Key()] = 255
	}
	for k, v := range cfg.DynamicConfig {
		dc[dynamicconfig.MakeKey(k)] = v
	}

	opts := []temporal.ServerOption{
		temporal.WithConfig(conf),
		// internal-frontend is only needed when the public frontend
		// enforces auth; we run without auth.
		temporal.ForServices(temporal.DefaultServices),
		// Static membership instead of ringpop: no membership ports, no
		// gossip join delay, and no ringpop goroutines outliving Stop.
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: static.SingleLocalHost(frontendAddr),
			primitives.HistoryService:  static.SingleLocalHost(internalAddr(cfg.ports.history)),
			primitives.MatchingService: static.SingleLocalHost(internalAddr(cfg.ports.matching)),
			primitives.WorkerService:   static.SingleLocalHost(internalAddr(cfg.ports.worker)),
		}),
		temporal.WithLogger(serverLogger(cfg.Logger, cfg.serverLogLevel)),
		temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper {
			return authorization.NewNoopClaimMapper()
		}),
		temporal.WithDynamicConfigClient(dc),
	}
	var srv temporal.Server
	// NewServer already runs the fx constructors, some of which log.Fatal.
	err := callRecovering("build Temporal server", func() error {
		var err error
		srv, err = temporal.NewServer(opts...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return srv, nil
}
