package devserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/server/common/config"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"

	"github.com/fleetmend/fleetmend/internal/pgschema"
	"github.com/fleetmend/fleetmend/internal/temporalcfg"
)

const (
	// postgresURLForm is how a PostgreSQL URL is written, for errors.
	postgresURLForm = "postgres://user:password@host[:port]/database[?sslmode=disable]"
	defaultPGPort   = "5432"
	// visibilitySuffix names the SQL visibility database after the one the
	// URL names, as Temporal's own temporal and temporal_visibility.
	visibilitySuffix = "_visibility"
	// maxIdentifier is PostgreSQL's limit on a name (NAMEDATALEN - 1).
	maxIdentifier = 63

	// Pools of each of the four services in devstack's one process:
	// 4 x (10 + 5) = 60 connections at most, inside PostgreSQL's default
	// max_connections of 100 on a server a team shares. (The compose
	// server's are larger; see temporalcfg.)
	pgMaxConns           = 10
	pgVisibilityMaxConns = 5

	// pgLockKey is the advisory lock a dev server holds on its PostgreSQL
	// database ("fleetmen" in ASCII); see lockPostgres.
	pgLockKey int64 = 0x666c6565746d656e
	// namespaceRetention is how long closed runs are kept in a namespace
	// devserver registers on PostgreSQL: what schema/sqlite gives the
	// SQLite namespace, so both databases behave alike.
	namespaceRetention = 24 * time.Hour
)

// identifier is what a database and a user name may be: no quoting needed
// anywhere the server and its schema tool put them.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// PostgresTarget is a parsed devserver PostgreSQL URL.
type PostgresTarget struct {
	// Conn is the connection: address, user, password, attributes (the
	// URL's query). Its DatabaseName is Database.
	Conn config.SQL
	// Database holds Temporal's persistence, VisibilityDatabase (Database
	// + "_visibility") its SQL visibility.
	Database, VisibilityDatabase string
	// Redacted is the URL without its password, to show.
	Redacted string
	url      string
}

// ParsePostgresURL checks a PostgreSQL URL of the form
// postgres://user:password@host[:port]/database[?attributes]. Errors never
// repeat the password.
func ParsePostgresURL(raw string) (PostgresTarget, error) {
	var t PostgresTarget
	if raw == "" {
		return t, fmt.Errorf("empty; want %s", postgresURLForm)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		// url's own error quotes the input, password and all.
		return t, fmt.Errorf("not a URL; want %s", postgresURLForm)
	}
	t.Redacted = u.Redacted()
	switch {
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		if u.Scheme == "" {
			return t, fmt.Errorf("no postgres:// scheme (key=value strings are not taken); want %s", postgresURLForm)
		}
		return t, fmt.Errorf("scheme %q is not postgres or postgresql; want %s", u.Scheme, postgresURLForm)
	case u.Hostname() == "":
		return t, fmt.Errorf("%s has no host; want %s", t.Redacted, postgresURLForm)
	case u.User == nil || u.User.Username() == "":
		return t, fmt.Errorf("%s has no user; want %s", t.Redacted, postgresURLForm)
	case !identifier.MatchString(u.User.Username()):
		return t, fmt.Errorf("%s: user %q: only letters, digits and _, not starting with a digit", t.Redacted, u.User.Username())
	case u.Fragment != "":
		return t, fmt.Errorf("%s has a #fragment; want %s", t.Redacted, postgresURLForm)
	}
	port := u.Port()
	if port == "" {
		port = defaultPGPort
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return t, fmt.Errorf("%s: port %q is not 1..65535", t.Redacted, port)
	}
	db := strings.TrimPrefix(u.Path, "/")
	switch {
	case db == "":
		return t, fmt.Errorf("%s names no database; want %s", t.Redacted, postgresURLForm)
	case !identifier.MatchString(db):
		return t, fmt.Errorf("%s: database %q: only letters, digits and _, not starting with a digit", t.Redacted, db)
	case len(db)+len(visibilitySuffix) > maxIdentifier:
		return t, fmt.Errorf("%s: database %q is longer than %d characters (%q must fit in PostgreSQL's %d)",
			t.Redacted, db, maxIdentifier-len(visibilitySuffix), db+visibilitySuffix, maxIdentifier)
	}
	attrs := map[string]string{}
	for k, vs := range u.Query() {
		if len(vs) != 1 || k == "" {
			return t, fmt.Errorf("%s: attribute %q must be given once", t.Redacted, k)
		}
		attrs[k] = vs[0]
	}
	password, _ := u.User.Password()
	t.Conn = config.SQL{
		ConnectAddr: net.JoinHostPort(u.Hostname(), port), User: u.User.Username(), Password: password,
		ConnectAttributes: attrs, DatabaseName: db,
	}
	t.Database, t.VisibilityDatabase = db, db+visibilitySuffix
	t.url = raw
	return t, nil
}

// preparePostgres creates both databases if missing and brings their
// schemas to this server's version, and returns the persistence and
// visibility stores' configuration.
func preparePostgres(t PostgresTarget, logger serverlog.Logger) (persistence, visibility *config.SQL, _ []pgschema.Result, err error) {
	stores := []pgschema.Store{pgschema.Persistence(t.Conn, t.Database), pgschema.Visibility(t.Conn, t.VisibilityDatabase)}
	var results []pgschema.Result
	for _, st := range stores {
		res, err := pgschema.Setup(st, logger)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("devserver: PostgreSQL schema at %s: %w", t.Redacted, err)
		}
		logger.Info("devserver: PostgreSQL schema ready", tag.NewStringTag("database", res.Database),
			tag.NewStringTag("found", res.Before), tag.NewStringTag("version", res.After), tag.NewBoolTag("created", res.Created))
		results = append(results, res)
	}
	persistence, visibility = stores[0].SQL, stores[1].SQL
	persistence.MaxConns, persistence.MaxIdleConns = pgMaxConns, pgMaxConns
	visibility.MaxConns, visibility.MaxIdleConns = pgVisibilityMaxConns, pgVisibilityMaxConns
	return persistence, visibility, results, nil
}

// pgLock is a session-level advisory lock on the persistence database,
// held from Start to Stop on a connection of its own.
//
// Two dev servers on one database would each think they are the only
// history host and keep stealing every shard from each other, as on one
// SQLite file (see dbLock). PostgreSQL drops the lock with the connection,
// so a dev server that dies leaves nothing behind; the flip side is that a
// connection lost to a PostgreSQL restart loses the lock too, and nothing
// then stops a second dev server until the first is restarted.
type pgLock struct {
	db   *sql.DB
	conn *sql.Conn
}

func lockPostgres(ctx context.Context, t PostgresTarget) (*pgLock, error) {
	// The "postgres" driver is lib/pq, which the server's postgres12
	// plugin brings in and registers; its URL form is the one we parsed.
	db, err := sql.Open("postgres", t.url)
	if err != nil {
		return nil, fmt.Errorf("devserver: connect to %s: %w", t.Redacted, err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("devserver: connect to %s: %w", t.Redacted, err)
	}
	var locked bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", pgLockKey).Scan(&locked); err != nil {
		_ = conn.Close()
		_ = db.Close()
		return nil, fmt.Errorf("devserver: lock database %s: %w", t.Database, err)
	}
	if !locked {
		_ = conn.Close()
		_ = db.Close()
		return nil, fmt.Errorf("devserver: PostgreSQL database %s at %s is in use by another dev server (advisory lock %#x held)",
			t.Database, t.Redacted, pgLockKey)
	}
	return &pgLock{db: db, conn: conn}, nil
}

// release drops the lock by closing its connection.
func (l *pgLock) release() error {
	if l == nil {
		return nil
	}
	if err := errors.Join(l.conn.Close(), l.db.Close()); err != nil {
		return fmt.Errorf("devserver: release PostgreSQL lock: %w", err)
	}
	return nil
}

// postgresStores is the persistence configuration for Postgres: two
// stores, as the compose server has them.
func postgresStores(persistence, visibility *config.SQL) config.Persistence {
	return config.Persistence{
		DefaultStore:     "default",
		VisibilityStore:  "visibility",
		NumHistoryShards: temporalcfg.NumHistoryShards,
		DataStores: map[string]config.DataStore{
			"default":    {SQL: persistence},
			"visibility": {SQL: visibility},
		},
	}
}
