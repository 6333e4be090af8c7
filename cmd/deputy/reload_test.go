package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/store"
)

// reloadEnv is a host serving a config file through a reloader, wired as
// runServe wires it.
type reloadEnv struct {
	path string
	rl   *reloader
	srv  *httptest.Server
	log  *syncBuffer
}

func newReloadEnv(t *testing.T, fc *fileConfig) *reloadEnv {
	t.Helper()
	path := writeConfig(t, fc)
	logs := &syncBuffer{}
	logger := newTestLogger(logs)
	replay := store.NewMemory()
	build := func(context.Context) (*server, error) {
		hc, err := loadConfigFile(path)
		if err != nil {
			return nil, err
		}
		return newServer(serverConfig{hostConfig: *hc, Logger: logger, ReplayCache: replay})
	}
	s, err := build(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(s)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &reloadEnv{path: path, rl: &reloader{host: h, build: build, log: logger}, srv: srv, log: logs}
}

// rewrite replaces the config file with fc, or with raw when fc is nil.
func (e *reloadEnv) rewrite(t *testing.T, fc *fileConfig, raw string) {
	t.Helper()
	if fc != nil {
		writeConfigAt(t, e.path, fc)
		return
	}
	if err := os.WriteFile(e.path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeConfigAt writes fc to path.
func writeConfigAt(t *testing.T, path string, fc *fileConfig) string {
	t.Helper()
	tmp := writeConfig(t, fc)
	b, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReload checks that a reload swaps in the new config file at once,
// on the same kept-alive connection; that a broken file changes nothing
// and every problem is reported; and that one-time use and the rate
// limit's counts survive reloads.
func TestReload(t *testing.T) {
	e0 := newTestEnv(t, nil, nil) // mints with the fixture's keys
	fc := testConfig(t)
	fc.Replay = true
	fc.RateLimit = "100/h"
	e := newReloadEnv(t, fc)

	var reused []bool
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	post := func(body string) reply {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathDelegation, strings.NewReader(body))
		req.Header.Set("Content-Type", mediaJSON)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(ci httptrace.GotConnInfo) { reused = append(reused, ci.Reused) },
		}))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return reply{status: res.StatusCode, header: res.Header, body: b}
	}
	tokA := e0.mint(t, demoApp, demoSubject, nil, time.Hour)
	tokB := e0.mint(t, demoApp, demoSubject, nil, time.Hour)
	first := post(seedBody(demoApp, tokA, demoAPI, "openid email", "app"))
	checkDelegated(t, first)

	// demo-api is disabled in the new file.
	fc2 := testConfig(t)
	fc2.Replay = true
	fc2.RateLimit = "100/h"
	for i := range fc2.Clients {
		if fc2.Clients[i].ID == demoAPI {
			fc2.Clients[i].Disabled = true
		}
	}
	e.rewrite(t, fc2, "")
	if err := e.rl.reload(t.Context()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	refused := post(seedBody(demoApp, tokB, demoAPI, "openid email", "app"))
	checkRefused(t, refused, http.StatusBadRequest, "invalid_target")

	// A broken file: nothing changes, every problem is reported.
	e.rewrite(t, nil, `{"issuer": "", "clients": [{"id": "x", "signing_alg": "HS257", "colour": "red"}]}`)
	err := e.rl.reload(t.Context())
	if err == nil {
		t.Fatal("a broken config reloaded")
	}
	wantProblems := []string{
		`config: clients[0]: unknown field "colour"`,
		"config: issuer: required",
		`config: clients[0].signing_alg: "HS257" not supported (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA)`,
	}
	if diff := cmp.Diff(wantProblems, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("reload problems (-want +got):\n%s", diff)
	}
	if n := strings.Count(e.log.String(), "reload failed"); n != len(wantProblems) {
		t.Errorf("%d problems logged, want %d:\n%s", n, len(wantProblems), e.log)
	}
	checkRefused(t, post(seedBody(demoApp, tokB, demoAPI, "openid email", "app")), http.StatusBadRequest, "invalid_target")

	// Back to the first file: the token used before the reloads is still
	// used; a fresh one goes through.
	e.rewrite(t, fc, "")
	if err := e.rl.reload(t.Context()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	checkRefused(t, post(seedBody(demoApp, tokA, demoAPI, "openid email", "app")), http.StatusBadRequest, "invalid_grant")
	last := post(seedBody(demoApp, tokB, demoAPI, "openid email", "app"))
	checkDelegated(t, last)

	if diff := cmp.Diff([]bool{false, true, true, true, true}, reused); diff != "" {
		t.Errorf("connection reused (-want +got):\n%s", diff)
	}
	// demo-app's budget went on counting through three reloads: five
	// requests, each charged to its own bucket.
	if a, b := first.header.Get("X-RateLimit-Remaining"), last.header.Get("X-RateLimit-Remaining"); a != "99" || b != "95" {
		t.Errorf("X-RateLimit-Remaining %s then %s, want 99 then 95", a, b)
	}
}

// checkRefused checks an error answer's status and code, and that no
// token came back.
func checkRefused(t *testing.T, r reply, status int, code string) {
	t.Helper()
	m := r.members(t)
	if r.status != status || m["error"] != code {
		t.Errorf("got %d %s, want %d %s", r.status, r.body, status, code)
	}
	for _, k := range []string{"id_token", "access_token"} {
		if _, ok := m[k]; ok {
			t.Errorf("an error answer carries %s", k)
		}
	}
}

// writeKeyPair writes a certificate and its key as PEM files.
func writeKeyPair(t *testing.T, dir string, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestReloadTLS checks that a reload serves the new certificate to new
// connections, leaves an established one open, and keeps the old
// certificate when the new files do not load.
func TestReloadTLS(t *testing.T) {
	dir := t.TempDir()
	cert1, ca1, err := demoTLS(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert2, ca2, err := demoTLS(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeKeyPair(t, dir, cert1)
	f := serveFlags{tlsCert: certFile, tlsKey: keyFile}
	tlsConfig, certs, _, err := f.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, nil, nil)
	// Not httptest's StartTLS: it adds a certificate of its own, which
	// crypto/tls prefers to GetCertificate for clients without SNI.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: e.srv.Config.Handler}
	go hs.Serve(tls.NewListener(ln, tlsConfig))
	defer hs.Close()
	srv := struct{ URL string }{"https://" + ln.Addr().String()}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca1)
	pool.AppendCertsFromPEM(ca2)
	rl := &reloader{certs: certs, log: newTestLogger(e.log)}

	kept := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer kept.CloseIdleConnections()
	// leaf returns the certificate a request was answered with, and
	// whether its connection was reused.
	leaf := func(c *http.Client) (string, bool) {
		t.Helper()
		var reused bool
		req, _ := http.NewRequest(http.MethodGet, srv.URL+pathHealth, nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(ci httptrace.GotConnInfo) { reused = ci.Reused },
		}))
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body) // so that the connection can be reused
		res.Body.Close()
		return string(res.TLS.PeerCertificates[0].Raw), reused
	}
	fresh := func() string {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
		s, _ := leaf(c)
		return s
	}
	one, two := string(cert1.Certificate[0]), string(cert2.Certificate[0])
	if got, _ := leaf(kept); got != one {
		t.Fatal("not serving the first certificate")
	}

	writeKeyPair(t, dir, cert2)
	if err := rl.reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if fresh() != two {
		t.Error("a new connection did not get the new certificate")
	}
	if got, reused := leaf(kept); got != one || !reused {
		t.Errorf("the established connection was not kept (reused %v)", reused)
	}

	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rl.reload(t.Context()); err == nil || !strings.Contains(err.Error(), "--tls-cert/--tls-key") {
		t.Errorf("reload of a broken certificate: %v", err)
	}
	if fresh() != two {
		t.Error("a failed reload changed the certificate")
	}
}

// TestSIGHUP sends real SIGHUPs to the test process while serve runs in
// it: the process survives, a changed config file is served, a broken one
// is reported and ignored; with --demo SIGHUP reloads nothing and harms
// nothing.
func TestSIGHUP(t *testing.T) {
	e0 := newTestEnv(t, nil, nil)
	fc := testConfig(t)
	path := writeConfig(t, fc)
	p := startServe(t, "--config", path)
	body := func() string {
		return seedBody(demoApp, e0.mint(t, demoApp, demoSubject, nil, time.Hour), demoAPI, "openid email", "app")
	}
	checkDelegated(t, do(t, http.MethodPost, p.base+pathDelegation, mediaJSON, body(), nil))

	hup := func(p *serveProc, want string, n int) {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(want)
		deadline := time.Now().Add(10 * time.Second)
		for len(re.FindAllString(p.stderr.String(), -1)) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q after SIGHUP:\n%s", want, p.stderr)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := range fc.Clients {
		if fc.Clients[i].ID == demoAPI {
			fc.Clients[i].Disabled = true
		}
	}
	writeConfigAt(t, path, fc)
	hup(p, `deputy: reloaded`, 1)
	checkRefused(t, do(t, http.MethodPost, p.base+pathDelegation, mediaJSON, body(), nil), http.StatusBadRequest, "invalid_target")

	if err := os.WriteFile(path, []byte(`{"issuer": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	hup(p, `reload failed`, 1)
	checkRefused(t, do(t, http.MethodPost, p.base+pathDelegation, mediaJSON, body(), nil), http.StatusBadRequest, "invalid_target")
	if r := do(t, http.MethodGet, p.base+pathReady, "", "", nil); r.status != 200 {
		t.Errorf("/readyz after a failed reload: %d", r.status)
	}

	demo := startServe(t, "--demo")
	hup(demo, `deputy: reload: nothing to reload`, 1)
	if r := do(t, http.MethodGet, demo.base+pathReady, "", "", nil); r.status != 200 {
		t.Errorf("demo /readyz after SIGHUP: %d", r.status)
	}
	if code, ok := p.wait(0); ok {
		t.Fatalf("serve exited (%d) after SIGHUP", code)
	}
}

// TestReloadInFlight checks that a request already being handled when a
// reload lands finishes on the configuration it started with.
func TestReloadInFlight(t *testing.T) {
	e0 := newTestEnv(t, nil, nil)
	fc := testConfig(t)
	e := newReloadEnv(t, fc)
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	body := seedBody(demoApp, e0.mint(t, demoApp, demoSubject, nil, time.Hour), demoAPI, "openid email", "app")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	// Expect: 100-continue: the server says when the handler starts
	// reading the body; from then on the request is in flight.
	fmt.Fprintf(conn, "POST /delegation HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, len(body))
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v, %v", res, err)
	}

	for i := range fc.Clients {
		if fc.Clients[i].ID == demoAPI {
			fc.Clients[i].Disabled = true
		}
	}
	e.rewrite(t, fc, "")
	if err := e.rl.reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A new request sees the new configuration...
	checkRefused(t, do(t, http.MethodPost, e.srv.URL+pathDelegation, mediaJSON,
		seedBody(demoApp, e0.mint(t, demoApp, demoSubject, nil, time.Hour), demoAPI, "openid email", "app"), nil),
		http.StatusBadRequest, "invalid_target")
	// ...the one in flight finishes on the old.
	io.WriteString(conn, body)
	res, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	checkDelegated(t, reply{status: res.StatusCode, header: res.Header, body: b})
}
