// Package pgtest runs a throwaway PostgreSQL server for a test: its own
// data directory in a temporary directory, a free loopback port, a
// superuser with a random password, torn down when the test ends.
//
// It needs PostgreSQL's server binaries (initdb, pg_ctl, postgres), found on
// PATH, in $FLEETMEND_POSTGRES_BIN, or where Debian's postgresql package puts
// them (/usr/lib/postgresql/<version>/bin, the newest version first).
// Without them the test is skipped with one line, unless
// FLEETMEND_REQUIRE_POSTGRES=1 (as in .ci/run) makes that a failure.
//
// PostgreSQL refuses to run as root, so when the test runs as root the
// server runs as the unprivileged "postgres" user (Debian's package creates
// it) or else "nobody", and owns the temporary directory.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// RequireEnv set to 1 makes a missing PostgreSQL a test failure.
	RequireEnv = "FLEETMEND_REQUIRE_POSTGRES"
	// BinEnv names the directory of initdb and pg_ctl.
	BinEnv = "FLEETMEND_POSTGRES_BIN"
	// debianRoot is where Debian's postgresql-<version> packages install
	// each version's binaries, in <version>/bin.
	debianRoot = "/usr/lib/postgresql"
	// User is the superuser the server is created with.
	User = "fleetmend"
	// ctlTimeout bounds pg_ctl's waits for a start or a stop.
	ctlTimeout = 60 * time.Second
)

// Options sizes the server.
type Options struct {
	// MaxConnections is PostgreSQL's max_connections; 0 means its default
	// (100).
	MaxConnections int
}

// Server is a running PostgreSQL server.
type Server struct {
	t        *testing.T
	bin      string // directory of initdb and pg_ctl
	dir      string // owns everything: data, socket, log, password file
	data     string
	logFile  string
	port     int
	password string
	cred     *syscall.Credential // nil: run as ourselves
}

// FindBin returns the directory holding initdb and pg_ctl, or an error
// saying where it looked.
func FindBin() (string, error) {
	if dir := os.Getenv(BinEnv); dir != "" {
		if hasTools(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%s=%s holds no initdb and pg_ctl", BinEnv, dir)
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		// Debian puts only wrappers (or nothing) on PATH; follow a symlink
		// to the version's own directory, which has pg_ctl too.
		if real, err := filepath.EvalSymlinks(initdb); err == nil && hasTools(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if hasTools(filepath.Dir(initdb)) {
			return filepath.Dir(initdb), nil
		}
	}
	if dir := newestDebianBin(debianRoot); dir != "" {
		return dir, nil
	}
	return "", fmt.Errorf("initdb and pg_ctl are not on PATH, in $%s or in %s/<version>/bin", BinEnv, debianRoot)
}

// newestDebianBin is root/<version>/bin of the highest version that holds
// the tools, or "".
func newestDebianBin(root string) string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return ""
	}
	type found struct {
		version []int
		dir     string
	}
	var all []found
	for _, e := range entries {
		v, ok := parseVersion(e.Name())
		dir := filepath.Join(root, e.Name(), "bin")
		if ok && hasTools(dir) {
			all = append(all, found{v, dir})
		}
	}
	if len(all) == 0 {
		return ""
	}
	best := slices.MaxFunc(all, func(a, b found) int { return slices.Compare(a.version, b.version) })
	return best.dir
}

// parseVersion reads a directory name such as "15" or "9.6".
func parseVersion(s string) ([]int, bool) {
	var v []int
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

func hasTools(dir string) bool {
	for _, tool := range []string{"initdb", "pg_ctl", "postgres"} {
		if info, err := os.Stat(filepath.Join(dir, tool)); err != nil || info.IsDir() {
			return false
		}
	}
	return true
}

// Require returns the directory of PostgreSQL's binaries, or skips the
// test with one line (fails it when FLEETMEND_REQUIRE_POSTGRES=1).
func Require(t *testing.T) string {
	t.Helper()
	dir, err := FindBin()
	if err == nil {
		return dir
	}
	msg := fmt.Sprintf("no PostgreSQL: %v; install it (sudo apt-get install -y --no-install-recommends postgresql) or set %s to run this test", err, BinEnv)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1 requires it)", msg, RequireEnv)
	}
	t.Skip(msg)
	return ""
}

// Start initialises and starts a server; the test's cleanup stops it and
// deletes its directory.
func Start(t *testing.T, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, bin: Require(t)}
	var err error
	if s.cred, err = unprivileged(); err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent directories are private to root, and the
	// server may run as another user.
	if s.dir, err = os.MkdirTemp("", "fleetmend-pg-"); err != nil {
		t.Fatalf("pgtest: temporary directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(s.dir) })
	s.data = filepath.Join(s.dir, "data")
	s.logFile = filepath.Join(s.dir, "postgres.log")
	s.password = randomHex(t)
	pwFile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwFile, []byte(s.password+"\n"), 0o600); err != nil {
		t.Fatalf("pgtest: password file: %v", err)
	}
	for _, p := range []string{s.dir, pwFile} {
		if err := s.chown(p); err != nil {
			t.Fatal(err)
		}
	}

	// --no-sync and, below, fsync=off: a test database need not survive an
	// OS crash, and syncing made start-up and every commit slow on a shared
	// machine. A restart (pg_ctl restart) still shuts down cleanly, so no
	// committed data is lost by it.
	if out, err := s.run("initdb", "-D", s.data, "-U", User, "--pwfile", pwFile, "--auth", "scram-sha-256",
		"-E", "UTF8", "--locale", "C", "--no-sync"); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	settings := [][2]string{{"listen_addresses", "127.0.0.1"}, {"unix_socket_directories", s.dir},
		{"fsync", "off"}, {"synchronous_commit", "off"}, {"full_page_writes", "off"}}
	if opts.MaxConnections > 0 {
		settings = append(settings, [2]string{"max_connections", strconv.Itoa(opts.MaxConnections)})
	}
	conf, err := os.OpenFile(filepath.Join(s.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = fmt.Fprintln(conf, "\n# pgtest")
		for _, kv := range settings {
			if err == nil {
				_, err = fmt.Fprintf(conf, "%s = '%s'\n", kv[0], kv[1])
			}
		}
		err = errors.Join(err, conf.Close())
	}
	if err != nil {
		t.Fatalf("pgtest: write postgresql.conf: %v", err)
	}

	// The port is free when probed; another process may take it before
	// PostgreSQL binds it, so a bind failure is retried on a new port.
	for attempt := 1; ; attempt++ {
		s.port = freePort(t)
		out, err := s.run("pg_ctl", "-D", s.data, "-l", s.logFile, "-w", "-t", strconv.Itoa(int(ctlTimeout.Seconds())),
			"-o", "-p "+strconv.Itoa(s.port), "start")
		if err == nil {
			break
		}
		if attempt < 3 && strings.Contains(s.log(), "could not bind") {
			continue
		}
		t.Fatalf("pgtest: pg_ctl start: %v\n%s\n%s", err, out, s.log())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: PostgreSQL log (last lines):\n%s", tail(s.log(), 40))
		}
		// Immediate: the data is thrown away anyway.
		_, _ = s.run("pg_ctl", "-D", s.data, "-m", "immediate", "-w", "stop")
	})
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Password is the superuser's password.
func (s *Server) Password() string { return s.password }

// URL is a connection URL for database db (which need not exist yet).
func (s *Server) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(User, s.password), Host: s.Addr(), Path: "/" + db,
		RawQuery: "sslmode=disable"}
	return u.String()
}

// Restart stops the server (fast: connections are cut, as when an
// operator restarts it or it fails over) and starts it again on the same
// port, waiting until it accepts connections.
func (s *Server) Restart() {
	s.t.Helper()
	// -l as for start: without it the new server writes to pg_ctl's
	// output, which run would then wait on forever.
	if out, err := s.run("pg_ctl", "-D", s.data, "-l", s.logFile, "-m", "fast", "-w", "-t", strconv.Itoa(int(ctlTimeout.Seconds())), "restart"); err != nil {
		s.t.Fatalf("pgtest: pg_ctl restart: %v\n%s\n%s", err, out, tail(s.log(), 40))
	}
}

// run runs one of PostgreSQL's tools as the server's user.
//
// Every run is bounded: pg_ctl has its own -t, and the context and
// WaitDelay make sure that a tool that hangs, or a server that keeps the
// tool's output open, fails the test instead of holding it until go
// test's timeout, which would skip the cleanup and leave the server
// running.
func (s *Server) run(tool string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, tool), args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=" + s.bin + string(os.PathListSeparator) + os.Getenv("PATH"), "LC_ALL=C", "TZ=UTC"}
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w", tool, err)
	}
	return string(out), nil
}

func (s *Server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("pgtest: hand %s to uid %d: %w", path, s.cred.Uid, err)
	}
	return nil
}

func (s *Server) log() string {
	b, _ := os.ReadFile(s.logFile)
	return string(b)
}

// unprivileged is who the server runs as when we are root: the postgres
// user, else nobody; nil when we are not root.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			errs = append(errs, fmt.Errorf("user %s: uid %q gid %q", name, u.Uid, u.Gid))
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("pgtest: running as root, and no unprivileged user to run PostgreSQL as: %w", errors.Join(errs...))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("pgtest: random password: %v", err)
	}
	return hex.EncodeToString(b)
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
