package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

// runCLI runs the program in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	code = run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestUsageErrors checks that bad invocations exit 2 with a message.
func TestUsageErrors(t *testing.T) {
	bad := writeConfig(t, &fileConfig{Issuer: "x", Clients: clientList{{ID: "a"}, {ID: "b"}, {ID: "c", SigningAlg: "HS257"}}})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: deputy"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve"}, "give exactly one of --demo and --config"},
		{[]string{"serve", "--demo", "--config", bad}, "give exactly one of --demo and --config"},
		{[]string{"serve", "--config", bad}, `config: clients[2].signing_alg: "HS257" not supported`},
		{[]string{"serve", "--config", filepath.Join(t.TempDir(), "missing.json")}, "config: open "},
		{[]string{"serve", "--config", bad, "--tls"}, "--tls works with --demo only"},
		{[]string{"serve", "--demo", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"serve", "--demo", "--cors-origin", "localhost:3000"}, "--cors-origin:"},
		{[]string{"serve", "--demo", "--rate-limit", "lots"}, "--rate-limit:"},
		{[]string{"serve", "--demo", "extra"}, `unexpected argument "extra"`},
		{[]string{"serve", "--no-such-flag"}, "flag provided but not defined"},
		{[]string{"token", "--client", "a"}, "[--config --sub] required"},
		{[]string{"token", "--config", bad, "--client", "a", "--sub", "u"}, "config: clients[0].signing_alg: required"},
		{[]string{"token", "--config", bad, "--client", "a", "--sub", "u", "--claims", `{"iss":"me"}`}, `--claims: "iss" is set from the flags`},
		{[]string{"token", "--config", bad, "--client", "a", "--sub", "u", "--claims", `[1]`}, "--claims: want a JSON object"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
		})
	}
	if code, stdout, _ := runCLI(t, "help"); code != 0 || !strings.Contains(stdout, "demo-config") {
		t.Errorf("help: %d %q", code, stdout)
	}
	if code, _, _ := runCLI(t, "serve", "-h"); code != 0 {
		t.Errorf("serve -h: exit %d", code)
	}
}

// TestDemoConfigAndToken checks that demo-config writes a config that
// serve and token accept, and that a minted token is what the issuer would
// have issued and delegates.
func TestDemoConfigAndToken(t *testing.T) {
	code, doc, stderr := runCLI(t, "demo-config", "--issuer", testIssuer)
	if code != 0 {
		t.Fatalf("demo-config: exit %d: %s", code, stderr)
	}
	path := filepath.Join(t.TempDir(), "deputy.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	hc, err := loadConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fc fileConfig
	if err := json.Unmarshal([]byte(doc), &fc); err != nil {
		t.Fatal(err)
	}
	s, err := newServer(serverConfig{hostConfig: *hc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	e := &testEnv{hc: hc, fc: &fc, srv: srv}

	for _, tc := range []struct {
		client string
		alg    jose.SignatureAlgorithm
		key    func() any
	}{
		{demoApp, jose.HS256, func() any { return e.secret(t, demoApp) }},
		{demoRSApp, jose.RS256, func() any {
			k, err := hc.Store.SigningKey(t.Context(), "RS256")
			if err != nil {
				t.Fatal(err)
			}
			return k.Public().Key
		}},
	} {
		t.Run(tc.client, func(t *testing.T) {
			code, out, stderr := runCLI(t, "token", "--config", path, "--client", tc.client, "--sub", "auth0|u1",
				"--claims", `{"name":"Ann","email":"ann@example.com","big":12345678901234567890}`, "--ttl", "10m")
			if code != 0 {
				t.Fatalf("token: exit %d: %s", code, stderr)
			}
			tok := strings.TrimSpace(out)
			_, claims := verifyToken(t, tok, tc.alg, tc.key())
			iat, exp := claims["iat"].(float64), claims["exp"].(float64)
			if exp-iat != 600 {
				t.Errorf("exp-iat = %v, want 600", exp-iat)
			}
			if jti, _ := claims["jti"].(string); len(jti) < 16 {
				t.Errorf("jti %q", jti)
			}
			delete(claims, "iat")
			delete(claims, "exp")
			delete(claims, "jti")
			want := map[string]any{"iss": testIssuer, "sub": "auth0|u1", "aud": tc.client, "azp": tc.client,
				"name": "Ann", "email": "ann@example.com", "big": 12345678901234567890.0}
			if diff := cmp.Diff(want, claims); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			// The big integer is written as it was given, not as a float.
			if !strings.Contains(decodePayload(t, tok), `"big":12345678901234567890`) {
				t.Error("big integer claim changed")
			}
			r := do(t, "POST", srv.URL+pathDelegation, "application/json", seedBody(tc.client, tok, demoAPI, "openid profile", "app"), nil)
			_, got := verifyToken(t, checkDelegated(t, r), jose.HS256, e.secret(t, demoAPI))
			if got["name"] != "Ann" || got["email"] != nil || got["aud"] != demoAPI || got["sub"] != "auth0|u1" {
				t.Errorf("delegated claims %v", got)
			}
		})
	}
	if code, _, stderr := runCLI(t, "token", "--config", path, "--client", "ghost", "--sub", "u"); code != exitUsage || !strings.Contains(stderr, `client "ghost" is not in`) {
		t.Errorf("unknown client: exit %d, %s", code, stderr)
	}
}

func decodePayload(t *testing.T, tok string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.HS256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return string(jws.UnsafePayloadWithoutVerification())
}

var listeningRE = regexp.MustCompile(`deputy: listening on (https?://\S+)`)

// serveProc is "deputy serve" running in-process.
type serveProc struct {
	base   string // http(s)://127.0.0.1:PORT
	stderr *syncBuffer
	cancel context.CancelFunc // what SIGTERM does
	done   chan struct{}      // closed when run has returned
	code   int                // run's exit code, once done
}

// startServe runs "deputy serve" on an ephemeral port until cancel.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &serveProc{stderr: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.code = run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), io.Discard, p.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if _, ok := p.wait(15 * time.Second); !ok {
			t.Error("serve did not stop")
		}
	})
	p.base = p.stderr.waitFor(t, listeningRE, 20*time.Second)[1]
	return p
}

// wait waits up to d for run to return, and reports its exit code.
func (p *serveProc) wait(d time.Duration) (int, bool) {
	select {
	case <-p.done:
		return p.code, true
	case <-time.After(d):
		return 0, false
	}
}

// TestGracefulShutdown starts serve, begins a request, cancels the context
// (as SIGTERM does) while the request is in flight, and checks that the
// request completes, new connections are refused, and run returns 0.
func TestGracefulShutdown(t *testing.T) {
	e := newTestEnv(t, nil, nil) // for minting with the same keys
	p := startServe(t, "--config", writeConfig(t, e.fc))
	addr := strings.TrimPrefix(p.base, "http://")
	body := seedBody(demoApp, e.mint(t, demoApp, demoSubject, nil, time.Hour), demoAPI, "openid email", "app")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	// Expect: 100-continue makes the server say when the handler starts
	// reading the body: from then on the request is in flight.
	fmt.Fprintf(conn, "POST /delegation HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, len(body))
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v, %v", res, err)
	}

	p.cancel()
	p.stderr.waitFor(t, regexp.MustCompile(`deputy: shutting down`), 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break // the listener is closed
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections during shutdown")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, ok := p.wait(100 * time.Millisecond); ok {
		t.Fatalf("run returned %d with a request in flight", code)
	}

	io.WriteString(conn, body)
	res, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	checkDelegated(t, reply{status: res.StatusCode, header: res.Header, body: b})
	code, ok := p.wait(10 * time.Second)
	if !ok {
		t.Fatal("run did not return after the in-flight request finished")
	}
	if code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, p.stderr)
	}
}

// TestDemoTLS checks that serve --demo --tls serves HTTPS for 127.0.0.1
// and localhost with a CA it writes to the file it names, which is removed
// at exit.
func TestDemoTLS(t *testing.T) {
	p := startServe(t, "--demo", "--tls")
	if !strings.HasPrefix(p.base, "https://127.0.0.1:") {
		t.Fatalf("base URL %s", p.base)
	}
	caFile := p.stderr.waitFor(t, regexp.MustCompile(`certificate is in (\S+)`), time.Second)[1]
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file holds no certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(p.base, "https://"))
	for _, host := range []string{"127.0.0.1", "localhost"} {
		res, err := client.Get("https://" + net.JoinHostPort(host, port) + pathHealth)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%s: status %d", host, res.StatusCode)
		}
	}
	if !strings.Contains(p.stderr.String(), "--cacert "+shellQuote(caFile)) {
		t.Error("the curl command does not trust the CA")
	}
	p.cancel()
	if code, ok := p.wait(10 * time.Second); !ok || code != 0 {
		t.Errorf("exit %d (returned: %v)", code, ok)
	}
	if _, err := os.Stat(caFile); !os.IsNotExist(err) {
		t.Errorf("CA file left behind: %v", err)
	}
}
