// Package pgtest gives tests a PostgreSQL database of their own.
//
// [DSN] returns the DSN of a fresh, empty database, created for the calling
// test and dropped when it ends, so tests may run in parallel. The databases
// live on one server per test binary:
//
//   - If DEPUTY_TEST_POSTGRES holds a DSN, that server (its role needs
//     CREATEDB).
//   - Otherwise a throwaway server, started on first use with initdb and
//     pg_ctl (found on PATH, else under /usr/lib/postgresql/*/bin) in a
//     temporary directory, listening on a free port of 127.0.0.1 and on a
//     unix socket in that directory, with trust authentication. PostgreSQL
//     refuses to run as root, so a root test process runs the server as the
//     "postgres" user (runuser). [Main] stops it when the tests end.
//   - If neither is available the test is skipped with a message saying
//     so, unless DEPUTY_REQUIRE_POSTGRES=1, which makes it a failure (CI).
//
// [NewProxy] puts a TCP proxy that a test can cut and restore in front of a
// database, to simulate the database going down without disturbing other
// tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the variable holding the DSN of a server to use instead of
// a throwaway one.
const EnvDSN = "DEPUTY_TEST_POSTGRES"

// EnvRequire names the variable that, set to 1, turns a missing PostgreSQL
// into a test failure instead of a skip.
const EnvRequire = "DEPUTY_REQUIRE_POSTGRES"

// server is the per-binary server; started once.
var server struct {
	once  sync.Once
	admin string // DSN of the maintenance database
	err   error  // why there is no server
	skip  bool   // err means "not available" rather than "broken"
	stop  func()
}

// Main runs the tests and stops the throwaway server, if one was started.
// Call it from TestMain: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	if server.stop != nil {
		server.stop()
	}
	return code
}

// DSN returns the DSN of a new, empty database for t, dropped when t ends.
// Without a server it skips t, naming how to provide one, or fails it when
// DEPUTY_REQUIRE_POSTGRES=1.
func DSN(t testing.TB) string {
	t.Helper()
	admin := adminDSN(t)
	name := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := execAdmin(ctx, admin, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE closes connections a test left open (PostgreSQL 13+).
		if err := execAdmin(ctx, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: dropping database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// adminDSN returns the DSN of the server's maintenance database, starting
// the throwaway server on first use.
func adminDSN(t testing.TB) string {
	t.Helper()
	server.once.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			server.admin = dsn
			return
		}
		server.admin, server.stop, server.skip, server.err = startServer()
	})
	if server.err != nil {
		unavailable(t, server.err, server.skip, os.Getenv(EnvRequire) == "1")
		return ""
	}
	return server.admin
}

// unavailable ends t for want of a server: a skip when PostgreSQL is merely
// not installed and not required, else a failure.
func unavailable(t testing.TB, err error, notInstalled, required bool) {
	t.Helper()
	if !notInstalled {
		t.Fatalf("pgtest: starting a throwaway PostgreSQL failed: %v", err)
		return
	}
	msg := fmt.Sprintf("pgtest: no PostgreSQL: %v; set %s to a DSN (a role with CREATEDB), or put initdb and pg_ctl on PATH", err, EnvDSN)
	if required {
		t.Fatal(msg + " (failing, not skipping: " + EnvRequire + "=1)")
		return
	}
	t.Skip(msg)
}

func execAdmin(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns dsn with its database replaced by name.
func withDatabase(dsn, name string) (string, error) {
	if isURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parsing %s: %w", EnvDSN, err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// Keyword/value form: a later keyword overrides an earlier one.
	return dsn + " dbname=" + name, nil
}

// withHostPort returns dsn connecting to host:port instead.
func withHostPort(dsn, host string, port int) (string, error) {
	if isURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Host = net.JoinHostPort(host, strconv.Itoa(port))
		q := u.Query()
		q.Del("host")
		q.Del("port")
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return fmt.Sprintf("%s host=%s port=%d", dsn, host, port), nil
}

func isURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// findBin finds a PostgreSQL program on PATH or in the usual Debian place.
func findBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil // the glob sorts; last is newest
	}
	return "", fmt.Errorf("%s not found on PATH nor in /usr/lib/postgresql/*/bin", name)
}

// startServer initialises and starts a throwaway server. skip reports that
// PostgreSQL is simply not installed.
func startServer() (admin string, stop func(), skip bool, err error) {
	initdb, err := findBin("initdb")
	if err != nil {
		return "", nil, true, err
	}
	pgctl, err := findBin("pg_ctl")
	if err != nil {
		return "", nil, true, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return "", nil, false, err
	}
	// run runs a PostgreSQL program, as the postgres user when we are root.
	var asUser []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, true, fmt.Errorf("running as root and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", nil, false, err
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, true, fmt.Errorf("running as root without runuser: %w", err)
		}
		asUser = []string{runuser, "-u", "postgres", "--"}
	}
	run := func(args ...string) error {
		args = append(asUser, args...)
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	// From here on, the directory and any server in it go when we do.
	watchdog(append(append([]string{}, asUser...), pgctl, "-D", data, "-m", "immediate", "-w", "stop"), dir)
	if err := run(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return "", nil, false, err
	}
	logFile := filepath.Join(dir, "server.log")
	// The free port may be taken between our probe and the server's
	// bind: try a few.
	var port int
	for attempt := 0; ; attempt++ {
		if port, err = freePort(); err != nil {
			os.RemoveAll(dir)
			return "", nil, false, err
		}
		// Durability is worthless for a throwaway server; speed is not.
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", port, dir)
		if err = run(pgctl, "-D", data, "-l", logFile, "-o", opts, "-w", "-t", "60", "start"); err == nil {
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(logFile)
			os.RemoveAll(dir)
			return "", nil, false, fmt.Errorf("%w\n%s", err, log)
		}
	}
	stop = func() {
		run(pgctl, "-D", data, "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	}
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", port), stop, false, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Proxy is a TCP proxy in front of a PostgreSQL server that a test can cut,
// to see what a client does while its database is unreachable.
type Proxy struct {
	l      net.Listener
	target func() (net.Conn, error)

	mu    sync.Mutex
	down  bool
	gate  chan struct{} // closed while traffic flows
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to the server of dsn and returns it with a DSN
// that connects through it; the proxy closes when t ends.
func NewProxy(t testing.TB, dsn string) (*Proxy, string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgtest: parsing DSN: %v", err)
	}
	network, addr := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, addr = "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: proxy: %v", err)
	}
	p := &Proxy{
		l:      l,
		target: func() (net.Conn, error) { return net.DialTimeout(network, addr, 5*time.Second) },
		conns:  make(map[net.Conn]struct{}),
		gate:   make(chan struct{}),
	}
	close(p.gate)
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	out, err := withHostPort(dsn, "127.0.0.1", l.Addr().(*net.TCPAddr).Port)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return p, out
}

// Cut closes every connection through the proxy and refuses new ones until
// Restore: to a client, the database is down.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

// Stall stops forwarding bytes, leaving connections open, until Restore:
// to a client, the database hangs.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default: // already stalled
	}
}

// Restore ends a Cut or a Stall: traffic flows and connections are
// accepted again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// flowing returns a channel closed once traffic may flow.
func (p *Proxy) flowing() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gate
}

func (p *Proxy) close() {
	p.l.Close()
	p.Cut()
	p.mu.Lock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.pipe(c) })
	}
}

// track registers c, or reports false when the proxy is cut.
func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

func (p *Proxy) pipe(c net.Conn) {
	defer c.Close()
	if !p.track(c) {
		return
	}
	defer p.untrack(c)
	s, err := p.target()
	if err != nil {
		return
	}
	defer s.Close()
	if !p.track(s) {
		return
	}
	defer p.untrack(s)
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			<-p.flowing()
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go cp(s, c)
	go cp(c, s)
	<-done
	// One side ended: end both, so the other copy returns too.
	c.Close()
	s.Close()
	<-done
}
