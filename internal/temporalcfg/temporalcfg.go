// Package temporalcfg is the one place for the settings of fleetmend's
// self-hosted Temporal server on PostgreSQL: the SQL plugin, the databases
// and their schema, the number of history shards, each service's ports, the
// connection pools, the dynamic config file, and the namespace.
//
// Two things are built from it and so cannot drift apart:
//
//   - docker-compose.yml, whose temporal, temporal-schema and temporal-setup
//     services must set exactly these values (deploy/compose_test.go loads
//     the file with compose-go and compares it with ServerEnv, SchemaJobEnv
//     and SetupJobEnv);
//   - the multi-process cluster of e2e/cluster, whose server configuration
//     is made from these values by package temporalcfg/serverconfig.
//
// devstack --postgres uses the plugin, the schema and the shard count too,
// so a database it created can later be served by the compose server.
//
// This package imports nothing of the Temporal server, so the compose tests
// stay light; serverconfig does the translation into the server's types.
package temporalcfg

import (
	"strconv"
	"time"
)

const (
	// SQLPlugin is the persistence and visibility plugin: Temporal's
	// PostgreSQL 12+ plugin over lib/pq (go.temporal.io/server's
	// sqlplugin/postgresql.PluginName; serverconfig's test holds them
	// equal).
	SQLPlugin = "postgres12"
	// Database and VisibilityDatabase are the two databases Temporal uses
	// (persistence and SQL visibility). They must be separate: both schemas
	// record their version in a schema_version table keyed by database
	// name.
	Database           = "temporal"
	VisibilityDatabase = "temporal_visibility"
	// SchemaDir is where both schemas live, in the server module's embedded
	// schema files (go.temporal.io/server/schema) and, under
	// AdminToolsSchemaRoot, in the temporalio/admin-tools image;
	// PersistenceSchema and VisibilitySchema are its two subdirectories.
	SchemaDir            = "postgresql/v12"
	PersistenceSchema    = "temporal"
	VisibilitySchema     = "visibility"
	AdminToolsSchemaRoot = "/etc/temporal/schema"

	// NumHistoryShards is written into the database when the cluster first
	// starts and can never change afterwards. Four shards spread a
	// fleetmend run's workflows (the region run and its batches) over more
	// than one history host, and cost nothing at this scale.
	NumHistoryShards = 4

	// ClusterName is persisted in the cluster metadata and in every
	// namespace; it must never change for a database. It is the name the
	// server image's config template uses.
	ClusterName = "active"

	// Connection pools per service process: persistence and visibility.
	// A process running several services has one pair of pools per
	// service; PostgreSQL's max_connections must cover them all (the
	// cluster test sizes its PostgreSQL with MaxConnections).
	MaxConns               = 20
	MaxIdleConns           = 20
	VisibilityMaxConns     = 10
	VisibilityMaxIdleConns = 10

	// DynamicConfigFile is the server's dynamic config, relative to the
	// repository root; the compose server mounts it read-only at
	// ContainerDynamicConfigFile, the cluster test's servers read it in
	// place. Both re-read it while running.
	DynamicConfigFile          = "deploy/dynamicconfig/development-sql.yaml"
	ContainerDynamicConfigFile = "/etc/temporal/config/dynamicconfig/development-sql.yaml"
	// DynamicConfigPollInterval is how often a server re-reads that file
	// (the server image's own setting).
	DynamicConfigPollInterval = 60 * time.Second

	// Namespace is where fleetmend runs, and NamespaceRetention how long its
	// closed runs (the audit trail in the UI) are kept.
	Namespace          = "default"
	NamespaceRetention = 30 * 24 * time.Hour
)

// Service is one of the Temporal server's services.
type Service string

const (
	Frontend Service = "frontend"
	History  Service = "history"
	Matching Service = "matching"
	Worker   Service = "worker"
)

// Services are the services a cluster runs, each on hosts of its own.
func Services() []Service { return []Service{History, Matching, Frontend, Worker} }

// Ports are the ports of one service host.
type Ports struct {
	// GRPC serves the service's API (for the frontend: clients).
	GRPC int
	// Membership is ringpop's, where the hosts of a cluster find each other.
	Membership int
	// HTTP is the frontend's HTTP API (0 for the other services).
	HTTP int
}

// DefaultPorts are each service's ports in the compose stack: the server
// image's own defaults, set explicitly there so this file knows them.
// The cluster test picks free loopback ports instead: its two history
// hosts share one address, and other test stacks run beside it.
func DefaultPorts() map[Service]Ports {
	return map[Service]Ports{
		Frontend: {GRPC: 7233, Membership: 6933, HTTP: 7243},
		History:  {GRPC: 7234, Membership: 6934},
		Matching: {GRPC: 7235, Membership: 6935},
		Worker:   {GRPC: 7239, Membership: 6939},
	}
}

// MaxConnections is what PostgreSQL's max_connections must be at least for
// hosts service processes of one service each, with a margin for the
// schema tool and psql.
func MaxConnections(hosts int) int {
	return hosts*(MaxConns+VisibilityMaxConns) + 20
}

// ServerEnv is the environment that makes the temporalio/server image's
// config template produce these settings; docker-compose.yml's temporal
// service must set each of these variables to exactly this value.
func ServerEnv() map[string]string {
	env := map[string]string{
		"DB":                       SQLPlugin,
		"DBNAME":                   Database,
		"VISIBILITY_DBNAME":        VisibilityDatabase,
		"NUM_HISTORY_SHARDS":       strconv.Itoa(NumHistoryShards),
		"SQL_MAX_CONNS":            strconv.Itoa(MaxConns),
		"SQL_MAX_IDLE_CONNS":       strconv.Itoa(MaxIdleConns),
		"SQL_VIS_MAX_CONNS":        strconv.Itoa(VisibilityMaxConns),
		"SQL_VIS_MAX_IDLE_CONNS":   strconv.Itoa(VisibilityMaxIdleConns),
		"DYNAMIC_CONFIG_FILE_PATH": ContainerDynamicConfigFile,
	}
	for svc, p := range DefaultPorts() {
		prefix := envPrefix(svc)
		env[prefix+"_GRPC_PORT"] = strconv.Itoa(p.GRPC)
		env[prefix+"_MEMBERSHIP_PORT"] = strconv.Itoa(p.Membership)
		if p.HTTP != 0 {
			env[prefix+"_HTTP_PORT"] = strconv.Itoa(p.HTTP)
		}
	}
	return env
}

// SchemaJobEnv is what docker-compose.yml's temporal-schema job must set
// for deploy/scripts/temporal-schema.sh.
func SchemaJobEnv() map[string]string {
	return map[string]string{
		"SQL_PLUGIN":        SQLPlugin,
		"DBNAME":            Database,
		"VISIBILITY_DBNAME": VisibilityDatabase,
		"SCHEMA_DIR":        AdminToolsSchemaRoot + "/" + SchemaDir,
	}
}

// SetupJobEnv is what docker-compose.yml's temporal-setup job must set for
// deploy/scripts/temporal-setup.sh (besides the search attributes, which
// come from package workflows).
func SetupJobEnv() map[string]string {
	return map[string]string{
		"TEMPORAL_NAMESPACE":  Namespace,
		"NAMESPACE_RETENTION": strconv.Itoa(int(NamespaceRetention/time.Hour)) + "h",
	}
}

// envPrefix is how the server image's template names a service's variables.
func envPrefix(s Service) string {
	switch s {
	case Frontend:
		return "FRONTEND"
	case History:
		return "HISTORY"
	case Matching:
		return "MATCHING"
	default:
		return "WORKER"
	}
}
