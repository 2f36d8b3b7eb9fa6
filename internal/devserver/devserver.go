// Package devserver runs a real Temporal server (SQLite persistence) and the
// real Temporal Web UI inside the current process.
//
// It exists so that the devstack quickstart and the end-to-end tests need
// neither Docker nor a downloaded `temporal` binary: everything is compiled in
// from go.temporal.io/server and github.com/temporalio/ui-server/v2 (whose web
// assets are embedded in that module).
//
// Three modes:
//
//   - Options.DBFile == "": an in-memory SQLite database, gone when the
//     process exits. Meant for tests.
//   - Options.DBFile == path: a SQLite file. The schema is created on first
//     use; a later Start on the same file (in this or another process) resumes
//     the workflows, timers and schedules stored in it.
//   - Options.Postgres == URL: an existing PostgreSQL server (a team's
//     shared, persistent dev stack). The databases are created and their
//     schema set up with the server's own schema tool if missing, migrated
//     if older, and left alone otherwise; restarts resume as with a file.
//
// Process-wide side effects inherited from the upstream SQLite plugin (they
// are not state of this package, but callers should know them): the plugin
// keeps one pooled connection per database for the life of the process and
// never closes it. So an in-memory database's memory is not given back by
// Stop (each ephemeral Start uses a fresh database name), and a file database
// stays open until the process exits; a later Start on the same file in the
// same process simply reuses that connection. To keep two servers from ever
// sharing a file, a running server holds an flock on "<DBFile>.lock".
package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fleetmend/fleetmend/internal/pgschema"
)

const (
	defaultIP        = "127.0.0.1"
	defaultNamespace = "default"
	// clusterName is persisted in the database's cluster metadata and in
	// every namespace's replication config, so it must never change between
	// restarts on the same file.
	clusterName = "active"
	// numHistoryShards is persisted too and cannot be changed once a
	// database has been initialised. One shard is plenty for a dev server.
	numHistoryShards = 1
	// startTimeout caps Start's readiness waits when the caller's ctx has
	// no earlier deadline, so a server that never becomes ready fails
	// instead of hanging.
	startTimeout = 2 * time.Minute
)

// Options configures Start. The zero value is a usable ephemeral server with
// a UI on free ports.
type Options struct {
	// DBFile is the SQLite database file. "" means an in-memory database
	// (ephemeral). A path makes state persistent across restarts; its
	// directory must exist, the file is created (with schema) if missing or
	// empty. It is opened in WAL mode, so "-wal" and "-shm" files appear
	// next to it; delete or copy all three together, never while a server
	// is running on it.
	DBFile string
	// IP is the address the frontend and the UI listen on. Default
	// "127.0.0.1". The internal services (history, matching, worker) always
	// listen on 127.0.0.1 only.
	IP string
	// FrontendPort is the gRPC port of the frontend; 0 picks a free port.
	FrontendPort int
	// UIPort is the Web UI's HTTP port; 0 picks a free port, -1 disables the
	// UI.
	UIPort int
	// Namespace is created if missing (idempotent on restart). Default
	// "default".
	Namespace string
	// SearchAttributes are custom search attributes to register on
	// Namespace. Registration is idempotent on restart, and attributes
	// added to this map later are added to an existing database. Changing
	// the type of an already registered attribute is an error.
	SearchAttributes map[string]enums.IndexedValueType
	// Logger receives the server's and the devserver's own logs. The
	// Temporal server's messages are filtered to warn level and above
	// (stricter if Logger itself is stricter). nil discards all logs.
	//
	// The UI server's own HTTP logging is switched off (it uses a private
	// logger this package cannot redirect); the devserver logs the UI's
	// address and lifecycle here instead.
	Logger *zap.Logger
	// Postgres, when set, is a PostgreSQL URL
	// (postgres://user:password@host[:port]/database[?sslmode=...]) to keep
	// Temporal's state in instead of SQLite; DBFile must then be "". The
	// URL's database holds the persistence, "<database>_visibility" the SQL
	// visibility; both are created if missing (the user needs CREATEDB for
	// that) and their schemas set up or migrated to this server's version
	// at every Start. A running server holds an advisory lock on the
	// database, so a second dev server on it is refused.
	Postgres string
	// DynamicConfig overrides Temporal dynamic config values, keyed as in a
	// dynamic config YAML file (e.g. "limit.maxIDLength"). They are applied
	// on top of this package's defaults (see defaultDynamicConfig).
	DynamicConfig map[string]any
}

// Server is a running in-process Temporal server with an optional Web UI.
// Its methods are safe for concurrent use.
type Server struct {
	frontendHostPort string
	uiURL            string
	namespace        string
	logger           *zap.Logger
	serverLogLevel   zap.AtomicLevel

	temporal temporal.Server
	database string  // where the state is, to show
	dbLock   *dbLock // nil for an in-memory DB or PostgreSQL
	pgLock   *pgLock // nil but on PostgreSQL
	schema   []pgschema.Result
	ui       *uiserver.Server
	uiExited chan struct{} // closed when the UI's blocking Start returns
	uiErr    error         // Start's result; read only after uiExited is closed

	stopOnce sync.Once
	stopErr  error
}

// settings are the Options after defaults and validation, plus the ports
// actually chosen.
type settings struct {
	Options
	listenIP       string // where the frontend and UI listen
	connectIP      string // where a client on this host connects to them
	ports          ports
	serverLogLevel zap.AtomicLevel
	pg             *PostgresTarget // nil: SQLite
}

type ports struct {
	frontend, frontendHTTP, history, matching, worker int
	ui                                                int // 0 when the UI is disabled
}

// Start starts the server, registers the namespace and search attributes,
// starts the UI, and returns once all of them answer requests. ctx bounds
// the readiness waits (capped at two minutes); the server itself keeps
// running after ctx ends, until Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cfg, err := resolveSettings(opts)
	if err != nil {
		return nil, err
	}
	startedAt := time.Now()

	lock, err := lockDB(cfg.DBFile)
	if err != nil {
		return nil, err
	}
	srv, pgLock, schema, err := buildServer(ctx, cfg)
	if err != nil {
		_ = lock.release()
		return nil, err
	}

	s := &Server{
		frontendHostPort: net.JoinHostPort(cfg.connectIP, strconv.Itoa(cfg.ports.frontend)),
		namespace:        cfg.Namespace,
		logger:           cfg.Logger,
		serverLogLevel:   cfg.serverLogLevel,
		temporal:         srv,
		database:         dbDescription(cfg),
		dbLock:           lock,
		pgLock:           pgLock,
		schema:           schema,
	}
	if err := s.finishStart(ctx, cfg); err != nil {
		// Release ports and goroutines; the start error is the one that matters.
		_ = s.Stop()
		return nil, err
	}
	s.logger.Info("Temporal dev server started",
		zap.String("frontend", s.frontendHostPort),
		zap.String("ui", s.uiURL),
		zap.String("namespace", s.namespace),
		zap.String("db", s.database),
		zap.Duration("startup", time.Since(startedAt)))
	return s, nil
}

// buildServer prepares the database and starts the Temporal server. On
// PostgreSQL it also takes the database's lock, which it returns.
func buildServer(ctx context.Context, cfg settings) (_ temporal.Server, _ *pgLock, _ []pgschema.Result, err error) {
	var stores config.Persistence
	var lock *pgLock
	var schema []pgschema.Result
	if cfg.pg != nil {
		persistence, visibility, results, err := preparePostgres(*cfg.pg, serverLogger(cfg.Logger, cfg.serverLogLevel))
		if err != nil {
			return nil, nil, nil, err
		}
		schema = results
		if lock, err = lockPostgres(ctx, *cfg.pg); err != nil {
			return nil, nil, nil, err
		}
		defer func() {
			if err != nil {
				_ = lock.release()
			}
		}()
		stores = postgresStores(persistence, visibility)
	} else {
		sqlCfg, err := prepareDatabase(cfg)
		if err != nil {
			return nil, nil, nil, err
		}
		stores = sqliteStores(sqlCfg)
	}
	srv, err := newTemporalServer(cfg, stores)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := callRecovering("start Temporal server", srv.Start); err != nil {
		return nil, nil, nil, err
	}
	return srv, lock, schema, nil
}

// finishStart runs the steps that need a serving frontend.
func (s *Server) finishStart(ctx context.Context, cfg settings) error {
	if err := ensureNamespaceReady(ctx, s.frontendHostPort, cfg); err != nil {
		return err
	}
	if cfg.ports.ui == 0 {
		return nil
	}
	ui, err := newUIServer(cfg, s.frontendHostPort)
	if err != nil {
		return err
	}
	s.ui = ui
	s.uiExited = make(chan struct{})
	s.uiURL = "http://" + net.JoinHostPort(cfg.connectIP, strconv.Itoa(cfg.ports.ui))
	go func() {
		defer close(s.uiExited)
		// Start blocks until Stop closes the HTTP server.
		s.uiErr = callRecovering("run UI server", ui.Start)
	}()
	return s.waitForUI(ctx)
}

// FrontendHostPort is the frontend's gRPC address for clients on this host,
// e.g. "127.0.0.1:7233".
func (s *Server) FrontendHostPort() string { return s.frontendHostPort }

// UIURL is the Web UI's base URL, e.g. "http://127.0.0.1:8233", or "" when
// the UI is disabled.
func (s *Server) UIURL() string { return s.uiURL }

// Namespace is the namespace that Start registered.
func (s *Server) Namespace() string { return s.namespace }

// Database says where Temporal's state is: "in-memory", the SQLite file, or
// the PostgreSQL URL without its password.
func (s *Server) Database() string { return s.database }

// PostgresSchema is what Start found and did to the persistence and the
// visibility database's schema; nil on SQLite.
func (s *Server) PostgresSchema() []pgschema.Result { return s.schema }

// Stop stops the UI and then the server (services in reverse start order,
// waiting for them). It is idempotent: later calls return the first call's
// result. After Stop returns, the same DBFile can be passed to a new Start.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		// See newServerLogLevel. Raising (never lowering) is always valid.
		if s.serverLogLevel.Level() < zapcore.ErrorLevel {
			s.serverLogLevel.SetLevel(zapcore.ErrorLevel)
		}
		var errs []error
		if s.ui != nil {
			// Stop closes the listener; Start then returns. Waiting for it
			// guarantees no UI goroutine still serves when Stop returns.
			s.ui.Stop()
			<-s.uiExited
			if s.uiErr != nil {
				errs = append(errs, s.uiErr)
			}
		}
		if err := callRecovering("stop Temporal server", s.temporal.Stop); err != nil {
			errs = append(errs, err)
		}
		// Only now may another server open the database.
		if err := s.dbLock.release(); err != nil {
			errs = append(errs, err)
		}
		if err := s.pgLock.release(); err != nil {
			errs = append(errs, err)
		}
		s.stopErr = errors.Join(errs...)
		if s.stopErr != nil {
			s.logger.Warn("Temporal dev server stopped with errors", zap.Error(s.stopErr))
		} else {
			s.logger.Info("Temporal dev server stopped")
		}
	})
	return s.stopErr
}

// resolveSettings applies defaults, validates, and picks ports.
func resolveSettings(opts Options) (settings, error) {
	cfg := settings{Options: opts}
	if cfg.IP == "" {
		cfg.IP = defaultIP
	}
	ip := net.ParseIP(cfg.IP)
	if ip == nil {
		// The server would otherwise log.Fatal (os.Exit) on an unparsable
		// bind address.
		return settings{}, fmt.Errorf("devserver: invalid IP %q", cfg.IP)
	}
	cfg.listenIP = ip.String()
	cfg.connectIP = cfg.listenIP
	if ip.IsUnspecified() {
		// 0.0.0.0 / :: are fine to listen on but not to dial.
		cfg.connectIP = defaultIP
		if ip.To4() == nil {
			cfg.connectIP = "::1"
		}
	}
	if cfg.Namespace == "" {
		cfg.Namespace = defaultNamespace
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	cfg.serverLogLevel = newServerLogLevel(cfg.Logger)
	if cfg.FrontendPort < 0 || cfg.FrontendPort > 65535 {
		return settings{}, fmt.Errorf("devserver: invalid frontend port %d", cfg.FrontendPort)
	}
	if cfg.UIPort < -1 || cfg.UIPort > 65535 {
		return settings{}, fmt.Errorf("devserver: invalid UI port %d (use -1 to disable the UI)", cfg.UIPort)
	}
	if cfg.Postgres != "" {
		if cfg.DBFile != "" {
			return settings{}, errors.New("devserver: a DB file and a PostgreSQL URL exclude each other")
		}
		pg, err := ParsePostgresURL(cfg.Postgres)
		if err != nil {
			return settings{}, fmt.Errorf("devserver: PostgreSQL URL: %w", err)
		}
		cfg.pg = &pg
	}
	if cfg.DBFile != "" {
		abs, err := filepath.Abs(cfg.DBFile)
		if err != nil {
			return settings{}, fmt.Errorf("devserver: resolve DB file path %q: %w", cfg.DBFile, err)
		}
		// One spelling per file: the SQLite plugin pools connections by
		// DSN, so a restart must produce the same DSN to reuse the pooled
		// connection rather than open a second one on the same file.
		cfg.DBFile = abs
	}
	p, err := choosePorts(cfg.listenIP, cfg.FrontendPort, cfg.UIPort)
	if err != nil {
		return settings{}, err
	}
	cfg.ports = p
	return cfg, nil
}

func dbDescription(cfg settings) string {
	switch {
	case cfg.pg != nil:
		return cfg.pg.Redacted
	case cfg.DBFile == "":
		return "in-memory"
	default:
		return cfg.DBFile
	}
}

// callRecovering runs f and turns a panic into an error. The server's logger
// is built to panic instead of exiting on Fatal (see serverLogger), so a
// fatal start-up problem such as a port taken after we checked it surfaces
// here as an error rather than ending the process.
func callRecovering(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("devserver: %s: panic: %v", what, r)
		}
	}()
	if err := f(); err != nil {
		return fmt.Errorf("devserver: %s: %w", what, err)
	}
	return nil
}

// waitForUI polls the UI's health endpoint until it answers, the UI server
// exits, or ctx ends.
func (s *Server) waitForUI(ctx context.Context) error {
	baseURL := s.uiURL
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/healthz", nil)
		if err != nil {
			return fmt.Errorf("devserver: build UI health request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.uiExited:
			err := s.uiErr
			if err == nil {
				err = errors.New("exited without error")
			}
			return fmt.Errorf("devserver: UI server stopped during start-up: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("devserver: waiting for UI at %s: %w", baseURL, ctx.Err())
		case <-tick.C:
		}
	}
}
