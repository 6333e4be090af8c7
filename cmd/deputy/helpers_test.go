package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/engine"
)

const testIssuer = "https://id.example.test/"

// The demo world's keys are generated once per test binary: RSA
// generation is slow, under -race especially.
var (
	fixtureOnce sync.Once
	fixture     []byte // demo config document for testIssuer
)

// testConfig returns a fresh copy of the demo config document, which each
// test may change before building it.
func testConfig(t testing.TB) *fileConfig {
	t.Helper()
	fixtureOnce.Do(func() {
		fc, err := demoConfig(testIssuer)
		if err != nil {
			panic(err)
		}
		if fixture, err = json.Marshal(fc); err != nil {
			panic(err)
		}
	})
	var fc fileConfig
	if err := json.Unmarshal(fixture, &fc); err != nil {
		t.Fatal(err)
	}
	return &fc
}

// writeConfig writes fc to a file in a temporary directory.
func writeConfig(t testing.TB, fc *fileConfig) string {
	t.Helper()
	b, err := json.MarshalIndent(fc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "deputy.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testEnv is a server on loopback built from a config document.
type testEnv struct {
	hc  *hostConfig
	fc  *fileConfig
	srv *httptest.Server
	log *syncBuffer
}

// newTestEnv builds the demo world for testIssuer, lets mod adjust the
// server config, and serves it with httptest.
func newTestEnv(t testing.TB, fc *fileConfig, mod func(*serverConfig)) *testEnv {
	t.Helper()
	if fc == nil {
		fc = testConfig(t)
	}
	hc, err := buildConfig(fc, "")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg := serverConfig{hostConfig: *hc, Logger: newTestLogger(logs)}
	if mod != nil {
		mod(&cfg)
	}
	s, err := newServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &testEnv{hc: hc, fc: fc, srv: srv, log: logs}
}

// mint returns an id_token issued to client for sub, with the demo
// profile claims unless claims is given.
func (e *testEnv) mint(t testing.TB, client, sub string, claims map[string]any, ttl time.Duration) string {
	t.Helper()
	c, err := e.hc.Store.Client(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	if claims == nil {
		claims = demoClaims
	}
	tok, err := mintSourceToken(context.Background(), e.hc.Store, e.hc.Issuer, c, sub, claims, ttl, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// secret returns the raw bytes of a client's first secret in the config.
func (e *testEnv) secret(t testing.TB, client string) []byte {
	t.Helper()
	for _, c := range e.fc.Clients {
		if c.ID == client {
			b, err := decodeSecret(c.Secrets[0].Value, "")
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no client %q", client)
	return nil
}

// reply is a response with its body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request and reads the whole answer.
func do(t testing.TB, method, url, contentType, body string, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
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

// members decodes a JSON object body into its members.
func (r reply) members(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// seedBody is the seed's JSON request body.
func seedBody(client, idToken, target, scope, apiType string) string {
	b, _ := json.Marshal(delegationBody{
		ClientID: client, GrantType: engine.GrantTypeJWTBearer, IDToken: idToken,
		Target: target, Scope: scope, APIType: apiType,
	})
	return string(b)
}

// seedForm is the same request form-encoded, as auth0-js sends it.
func seedForm(client, idToken, target, scope, apiType string) string {
	return url.Values{
		"client_id": {client}, "grant_type": {engine.GrantTypeJWTBearer}, "id_token": {idToken},
		"target": {target}, "scope": {scope}, "api_type": {apiType},
	}.Encode()
}

// verifyToken checks tok's signature with key under alg and returns its
// header's kid and claims.
func verifyToken(t testing.TB, tok string, alg jose.SignatureAlgorithm, key any) (string, map[string]any) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("minted token does not parse as %s: %v", alg, err)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID, claims
}

// fetchJWKS reads the server's JWK set.
func fetchJWKS(t testing.TB, base string) (jose.JSONWebKeySet, reply) {
	t.Helper()
	r := do(t, http.MethodGet, base+pathJWKS, "", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("JWKS: status %d", r.status)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatal(err)
	}
	return set, r
}

// syncBuffer is an io.Writer safe for concurrent use whose content tests
// can wait on.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until re matches the content, and returns the submatches.
func (b *syncBuffer) waitFor(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no match for %q within %v; output:\n%s", re, timeout, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// decode decodes a JSON body into v.
func (r reply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}
