//go:build unix

package testpeers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PostgresServer is a PostgreSQL server that a test started: a data
// directory of its own, 127.0.0.1 on a free port, a unix socket inside its
// directory and trust authentication for the superuser "postgres". Fit for
// tests, and nothing else: fsync is off.
type PostgresServer struct {
	// Port is the server's TCP port on 127.0.0.1.
	Port int

	bin    string // directory of initdb, pg_ctl and createdb
	dir    string // holds data/, sock/ and server.log
	asUser bool   // run the server tools as the postgres user: the test runs as root

	mu  sync.Mutex
	dbs int // databases created so far, for unique names
}

var (
	pgSharedOnce sync.Once
	pgShared     *PostgresServer
	pgSharedErr  error
)

// Postgres returns the DSN of a new, empty database on a PostgreSQL server
// that the test binary starts at its first call and shares among all its
// tests. The server outlives every test, so no test may stop it (use
// [StartPostgres] for that); a watcher process stops it and removes its
// files once the test binary has exited, however it exits. A missing
// PostgreSQL fails the test.
func Postgres(t testing.TB) string {
	t.Helper()
	bin := pgBinDir(t)
	pgSharedOnce.Do(func() { pgShared, pgSharedErr = pgStart(bin) })
	if pgSharedErr != nil {
		t.Fatalf("testpeers: start PostgreSQL: %v", pgSharedErr)
	}
	return pgShared.CreateDatabase(t)
}

// StartPostgres starts a PostgreSQL server for t alone, for tests that
// stop or restart it. t.Cleanup stops it (pg_ctl -m immediate) and removes
// its files, after logging the end of its log when the test failed.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	s, err := pgStart(pgBinDir(t))
	if err != nil {
		t.Fatalf("testpeers: start PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testpeers: last lines of the PostgreSQL log:\n%s", s.pgTail(40))
		}
		_ = s.pgCtl("-m", "immediate", "stop")
		_ = os.RemoveAll(s.dir)
	})
	return s
}

// DSN returns the connection string of database db on s.
func (s *PostgresServer) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// CreateDatabase creates a new, empty database on s and returns its DSN.
func (s *PostgresServer) CreateDatabase(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	s.dbs++
	name := "credbroker_" + strconv.Itoa(s.dbs)
	s.mu.Unlock()
	_, stderr, err := Run(t, nil, filepath.Join(s.bin, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres", name)
	if err != nil {
		t.Fatalf("testpeers: create database %s: %v: %s", name, err, stderr)
	}
	return s.DSN(name)
}

// PSQL runs one SQL statement on the database dsn with PostgreSQL's psql
// and returns what it printed, unaligned and without headers, trimmed: for
// tests that reach behind a store to read or change its rows (which a
// package outside postgres may not do with a driver of its own). It fails
// t when psql does.
func PSQL(t testing.TB, dsn, query string) string {
	t.Helper()
	stdout, stderr, err := Run(t, nil, filepath.Join(pgBinDir(t), "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", query)
	if err != nil {
		t.Fatalf("testpeers: psql %q: %v: %s", query, err, stderr)
	}
	return strings.TrimSpace(stdout)
}

// Stop shuts s down (pg_ctl -m fast: open sessions are ended) and waits
// until it has.
func (s *PostgresServer) Stop(t testing.TB) {
	t.Helper()
	if err := s.pgCtl("-m", "fast", "stop"); err != nil {
		t.Fatalf("testpeers: stop PostgreSQL: %v", err)
	}
}

// Start starts s again after Stop, on the same port, and waits until it
// accepts connections.
func (s *PostgresServer) Start(t testing.TB) {
	t.Helper()
	if err := s.pgCtl("-o", s.pgOptions(), "start"); err != nil {
		t.Fatalf("testpeers: start PostgreSQL: %v\n%s", err, s.pgTail(20))
	}
}

// Restart restarts s (pg_ctl restart -m fast) and waits until it accepts
// connections again.
func (s *PostgresServer) Restart(t testing.TB) {
	t.Helper()
	if err := s.pgCtl("-m", "fast", "-o", s.pgOptions(), "restart"); err != nil {
		t.Fatalf("testpeers: restart PostgreSQL: %v\n%s", err, s.pgTail(20))
	}
}

// pgBinDir finds PostgreSQL's programs: PG_BIN of the peers file, or else
// the newest /usr/lib/postgresql/*/bin. It fails t when there is none.
func pgBinDir(t testing.TB) string {
	t.Helper()
	p := mustPeers(t)
	configured := p.values[KeyPGBin]
	if checkExecutable(filepath.Join(configured, "initdb")) == nil {
		return configured
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, dir := range dirs {
		if checkExecutable(filepath.Join(dir, "initdb")) == nil {
			return dir
		}
	}
	t.Fatalf("testpeers: PostgreSQL not found: no initdb in PG_BIN %q (from %s) nor in /usr/lib/postgresql/*/bin; %s",
		configured, p.source, depsHint)
	return ""
}

// pgStart initializes a data directory and starts a server on it, with a
// watcher that stops the server and removes the directory once the test
// binary has exited.
func pgStart(bin string) (*PostgresServer, error) {
	s := &PostgresServer{bin: bin, asUser: os.Geteuid() == 0}
	uid, gid := -1, -1
	if s.asUser {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL refuses to run as root and there is no postgres user (%v); %s", err, depsHint)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	dir, err := os.MkdirTemp(pgTempBase(), "credbroker-pg-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	if err := s.pgWatch(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start the watcher of %s: %w", dir, err)
	}
	err = errors.Join(os.Chmod(dir, 0o755), os.Mkdir(s.pgSock(), 0o700))
	if err == nil && s.asUser {
		err = errors.Join(os.Chown(dir, uid, gid), os.Chown(s.pgSock(), uid, gid))
	}
	if err != nil {
		return nil, err
	}
	if err := s.pgRun("initdb", "-D", s.pgData(), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, err
	}
	// Another process may take the free port before the server binds it.
	for attempt := 1; ; attempt++ {
		if s.Port, err = pgFreePort(); err != nil {
			return nil, err
		}
		err = s.pgCtl("-o", s.pgOptions(), "start")
		if err == nil {
			return s, nil
		}
		if attempt == 3 || !strings.Contains(s.pgTail(50), "already in use") {
			return nil, fmt.Errorf("%w\n%s", err, s.pgTail(20))
		}
	}
}

// pgData, pgSock and pgLog are the server's data directory, unix socket
// directory and log file.
func (s *PostgresServer) pgData() string { return filepath.Join(s.dir, "data") }
func (s *PostgresServer) pgSock() string { return filepath.Join(s.dir, "sock") }
func (s *PostgresServer) pgLog() string  { return filepath.Join(s.dir, "server.log") }

// pgOptions are the server's settings: loopback only, its own socket
// directory, and no fsync (a test server need not survive a power cut).
func (s *PostgresServer) pgOptions() string {
	return fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k '%s' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
		s.Port, s.pgSock())
}

// pgCtl runs pg_ctl on s's data directory, waiting up to a minute for the
// operation to finish.
func (s *PostgresServer) pgCtl(args ...string) error {
	return s.pgRun("pg_ctl", append([]string{"-D", s.pgData(), "-l", s.pgLog(), "-w", "-t", "60"}, args...)...)
}

// pgRun runs a PostgreSQL program from s.bin in s.dir, as the postgres
// user when the test runs as root.
func (s *PostgresServer) pgRun(tool string, args ...string) error {
	argv := s.pgArgv(append([]string{filepath.Join(s.bin, tool)}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = Env()
	cmd.Dir = s.dir // the postgres user must be able to enter the working directory
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pgArgv prefixes argv with runuser when the test runs as root, since
// PostgreSQL refuses to run as root.
func (s *PostgresServer) pgArgv(argv []string) []string {
	if !s.asUser {
		return argv
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		runuser = "/usr/sbin/runuser"
	}
	return append([]string{runuser, "-u", "postgres", "--"}, argv...)
}

// pgWatch starts a process, in a session of its own so that no signal
// meant for the test reaches it, that waits for the test binary to exit and
// then stops the server and removes s.dir: no server outlives its test
// binary, even one killed by -timeout.
func (s *PostgresServer) pgWatch() error {
	stop := s.pgArgv([]string{filepath.Join(s.bin, "pg_ctl"), "-D", s.pgData(), "-m", "immediate", "stop"})
	const script = `pid=$1 dir=$2; shift 2
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
"$@" >/dev/null 2>&1
rm -rf "$dir"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "credbroker-pg-watch", strconv.Itoa(os.Getpid()), s.dir}, stop...)...)
	cmd.Env = Env()
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}

// pgTail returns the last n lines of the server log.
func (s *PostgresServer) pgTail(n int) string {
	data, err := os.ReadFile(s.pgLog())
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// pgTempBase is the directory for servers' files: the system temp
// directory when every directory on its path is open to other users (the
// postgres user must reach its files), /tmp otherwise.
func pgTempBase() string {
	base := os.TempDir()
	for dir := base; ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if dir == filepath.Dir(dir) {
			return base
		}
	}
}

// pgFreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func pgFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
