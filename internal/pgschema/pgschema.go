// Package pgschema sets up Temporal's PostgreSQL databases with the server
// module's own tooling and schema files: the databases are created when
// missing, then each schema is brought to the version this server expects
// by the migrations embedded in go.temporal.io/server/schema, exactly as
// temporal-sql-tool's create, setup-schema -v 0.0 and update-schema do in
// the compose stack's schema job. No SQL is written here.
//
// Setting up is idempotent: on an up-to-date database every step is a
// no-op, and after a server upgrade it applies only the new migrations.
package pgschema

import (
	"errors"
	"fmt"
	"maps"
	"path"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	v12 "go.temporal.io/server/schema/postgresql/v12"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"

	// The postgres12 plugin registers itself with the SQL persistence
	// layer that the schema tool connects through.
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"

	"github.com/fleetmend/fleetmend/internal/temporalcfg"
)

// maintenanceDB is the database connected to for CREATE DATABASE, the
// schema tool's own default; it exists in every PostgreSQL cluster.
const maintenanceDB = "postgres"

// Store is one of Temporal's two databases.
type Store struct {
	// SQL connects to it; DatabaseName is the database to set up.
	SQL *config.SQL
	// Schema is its directory in the embedded schema files, e.g.
	// "postgresql/v12/temporal".
	Schema string
	// Want is the schema version this server module expects.
	Want string
}

// Persistence and Visibility are the two stores on the connection cfg
// (address, user, password, attributes): temporalcfg's plugin and schema
// directories, databases named db and visDB.
func Persistence(cfg config.SQL, db string) Store {
	return Store{SQL: onPlugin(cfg, db), Schema: path.Join(temporalcfg.SchemaDir, temporalcfg.PersistenceSchema), Want: v12.Version}
}

func Visibility(cfg config.SQL, visDB string) Store {
	return Store{SQL: onPlugin(cfg, visDB), Schema: path.Join(temporalcfg.SchemaDir, temporalcfg.VisibilitySchema), Want: v12.VisibilityVersion}
}

func onPlugin(cfg config.SQL, db string) *config.SQL {
	cfg.PluginName = temporalcfg.SQLPlugin
	cfg.ConnectProtocol = "tcp"
	cfg.DatabaseName = db
	cfg.ConnectAttributes = maps.Clone(cfg.ConnectAttributes)
	return &cfg
}

// Result says what Setup found and left.
type Result struct {
	Database string
	// Before is the schema version found ("" for a database without
	// Temporal's schema), After the version it has now.
	Before, After string
	Created       bool // the database itself was created
}

// Setup creates st's database if it is missing, creates the schema version
// tables if they are missing, and applies every migration above the
// recorded version.
func Setup(st Store, logger log.Logger) (Result, error) {
	res := Result{Database: st.SQL.DatabaseName}
	if res.Database == "" {
		return res, errors.New("pgschema: no database name")
	}
	created, err := ensureDatabase(st.SQL, logger)
	if err != nil {
		return res, err
	}
	res.Created = created
	conn, err := sqltool.NewConnection(st.SQL, logger)
	if err != nil {
		return res, fmt.Errorf("pgschema: connect to database %s: %w", res.Database, err)
	}
	defer closeQuietly(conn)
	// An error here means no version table yet: a database without
	// Temporal's schema.
	res.Before, _ = conn.ReadSchemaVersion()

	// Version tables at 0.0 unless a version is already recorded
	// (setup-schema -v 0.0 with no schema file).
	if err := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
		return res, fmt.Errorf("pgschema: version tables in %s: %w", res.Database, err)
	}
	// Every embedded migration above the recorded version (update-schema).
	update := &schema.UpdateConfig{DBName: res.Database, SchemaName: st.Schema}
	if err := schema.NewUpdateSchemaTask(conn, update, logger).Run(); err != nil {
		return res, fmt.Errorf("pgschema: migrate %s with %s: %w", res.Database, st.Schema, err)
	}
	if res.After, err = conn.ReadSchemaVersion(); err != nil {
		return res, fmt.Errorf("pgschema: read schema version of %s: %w", res.Database, err)
	}
	if res.After != st.Want {
		// A newer server migrated it further; this one may not run on it.
		return res, fmt.Errorf("pgschema: database %s has schema %s, this Temporal server expects %s", res.Database, res.After, st.Want)
	}
	return res, nil
}

// Version is the schema version recorded in st's database.
func Version(st Store, logger log.Logger) (string, error) {
	conn, err := sqltool.NewConnection(st.SQL, logger)
	if err != nil {
		return "", fmt.Errorf("pgschema: connect to database %s: %w", st.SQL.DatabaseName, err)
	}
	defer closeQuietly(conn)
	v, err := conn.ReadSchemaVersion()
	if err != nil {
		return "", fmt.Errorf("pgschema: read schema version of %s: %w", st.SQL.DatabaseName, err)
	}
	return v, nil
}

// ensureDatabase creates cfg's database unless it exists, and reports
// whether it did. A database that exists is used even when the user may
// not create databases (a DBA created it for them); one that cannot be
// reached is reported with the reason it could not be created.
func ensureDatabase(cfg *config.SQL, logger log.Logger) (bool, error) {
	if reachable(cfg, logger) == nil {
		return false, nil
	}
	maint := *cfg
	// DoCreateDatabase connects to its second argument and creates
	// maint.DatabaseName; it is a no-op if the database appeared meanwhile.
	if err := sqltool.DoCreateDatabase(&maint, maintenanceDB, logger); err != nil {
		if err2 := reachable(cfg, logger); err2 == nil {
			return false, nil
		}
		return false, fmt.Errorf("pgschema: create database %s (connected to %s): %w", cfg.DatabaseName, maintenanceDB, err)
	}
	return true, nil
}

// reachable connects to cfg's database and lists its tables. It is a
// probe whose failure is expected for a new database, so the connection's
// own error logs ("database ... does not exist") are not shown.
func reachable(cfg *config.SQL, _ log.Logger) error {
	conn, err := sqltool.NewConnection(cfg, log.NewNoopLogger())
	if err != nil {
		return err
	}
	defer closeQuietly(conn)
	_, err = conn.ListTables()
	return err
}

// closeQuietly closes a schema tool connection, whose Close panics when the
// driver reports an error (e.g. PostgreSQL went away): nothing is left to
// do about a connection being closed anyway.
func closeQuietly(c *sqltool.Connection) {
	defer func() { _ = recover() }()
	c.Close()
}
