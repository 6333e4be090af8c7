package main

import (
	"crypto/ed25519"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
)

// wantMetadata is the metadata document of the demo world under issuer.
func wantMetadata(issuer string) map[string]any {
	base := strings.TrimSuffix(issuer, "/")
	return map[string]any{
		"issuer":         issuer,
		"token_endpoint": base + "/oauth/token",
		"jwks_uri":       base + "/.well-known/jwks.json",
		"scopes_supported": []any{
			"openid", "address", "email", "offline_access", "phone", "profile",
		},
		"grant_types_supported": []any{
			"urn:ietf:params:oauth:grant-type:jwt-bearer",
			"urn:ietf:params:oauth:grant-type:token-exchange",
		},
		"token_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post", "none"},
		"subject_types_supported":               []any{"public"},
		"id_token_signing_alg_values_supported": []any{"EdDSA", "HS256", "RS256"},
	}
}

// TestMetadata checks both well-known documents: the exact members, the
// headers, HEAD, and that other methods are refused.
func TestMetadata(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	for _, path := range []string{pathASMetadata, pathOIDCMetadata} {
		t.Run(path, func(t *testing.T) {
			r := do(t, http.MethodGet, e.srv.URL+path, "", "", nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			if diff := cmp.Diff(wantMetadata(testIssuer), r.members(t)); diff != "" {
				t.Errorf("document (-want +got):\n%s", diff)
			}
			wantHeaders := map[string]string{
				"Content-Type": "application/json", "Cache-Control": "public, max-age=300",
				"X-Content-Type-Options": "nosniff",
			}
			headers := func(r reply) map[string]string {
				got := map[string]string{}
				for k := range wantHeaders {
					got[k] = r.header.Get(k)
				}
				return got
			}
			if diff := cmp.Diff(wantHeaders, headers(r)); diff != "" {
				t.Errorf("GET headers (-want +got):\n%s", diff)
			}

			head := do(t, http.MethodHead, e.srv.URL+path, "", "", nil)
			if head.status != http.StatusOK || len(head.body) != 0 {
				t.Errorf("HEAD: status %d, %d body bytes; want 200 and none", head.status, len(head.body))
			}
			if diff := cmp.Diff(wantHeaders, headers(head)); diff != "" {
				t.Errorf("HEAD headers (-want +got):\n%s", diff)
			}
			if got, want := head.header.Get("Content-Length"), r.header.Get("Content-Length"); got != want {
				t.Errorf("HEAD Content-Length %q, GET %q", got, want)
			}

			for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
				r := do(t, m, e.srv.URL+path, formType, "x=1", nil)
				checkError(t, r, http.StatusMethodNotAllowed, "invalid_request")
				if got := r.header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("%s: Allow %q, want GET, HEAD", m, got)
				}
			}
		})
	}
}

// newIssuerEnv serves the demo world on loopback with the server's own URL
// (and a trailing slash) as the issuer, as serve --demo does, so that
// discovery can be followed for real.
func newIssuerEnv(t *testing.T) *testEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fc := testConfig(t)
	fc.Issuer = "http://" + ln.Addr().String() + "/"
	hc, err := buildConfig(fc, "")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s, err := newServer(serverConfig{hostConfig: *hc, Logger: newTestLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &testEnv{hc: hc, fc: fc, srv: srv, log: logs}
}

// TestMetadataDiscovery follows discovery the way client libraries do and
// uses what it finds: go-oidc's NewProvider fetches the issuer without its
// trailing slash plus /.well-known/openid-configuration and refuses a
// document whose issuer is not exactly the one it was given; RFC 8414 §3
// clients fetch /.well-known/oauth-authorization-server and compare the
// same way (§3.3). The discovered token endpoint then exchanges a token,
// verified with a key from the discovered jwks_uri.
func TestMetadataDiscovery(t *testing.T) {
	e := newIssuerEnv(t)
	issuer := e.hc.Issuer
	if issuer != e.srv.URL+"/" {
		t.Fatalf("issuer %q is not the server's URL %q", issuer, e.srv.URL)
	}
	var docs []metadata
	for _, suffix := range []string{pathOIDCMetadata, pathASMetadata} {
		r := do(t, http.MethodGet, strings.TrimSuffix(issuer, "/")+suffix, "", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d", suffix, r.status)
		}
		var doc metadata
		r.decode(t, &doc)
		if doc.Issuer != issuer {
			t.Errorf("%s: issuer %q, want exactly %q (go-oidc: issuer did not match)", suffix, doc.Issuer, issuer)
		}
		docs = append(docs, doc)
	}
	if diff := cmp.Diff(docs[0], docs[1]); diff != "" {
		t.Errorf("the two documents differ (-oidc +oauth):\n%s", diff)
	}
	doc := docs[0]

	res, err := http.Get(doc.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	err = json.NewDecoder(res.Body).Decode(&set)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	src := e.mint(t, demoApp, demoSubject, nil, time.Hour)
	r := do(t, http.MethodPost, doc.TokenEndpoint, formType,
		exchangeForm(src, engine.TokenTypeIDToken, "client_id", demoApp, "audience", demoEdAPI), nil)
	tok := checkExchanged(t, r, "openid")
	key := jwksKeys(t, set, "EdDSA")[0]
	_, claims := verifyToken(t, tok, jose.EdDSA, key.Key.(ed25519.PublicKey))
	if claims["iss"] != doc.Issuer || claims["aud"] != demoEdAPI {
		t.Errorf("iss %v, aud %v; want %s, %s", claims["iss"], claims["aud"], doc.Issuer, demoEdAPI)
	}
}

// TestMetadataIssuerRules: the document is served for an https issuer, or
// an http one on loopback; any other issuer gets none (404), since its
// endpoint URLs would be wrong or insecure.
func TestMetadataIssuerRules(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		base   string // "" when refused
	}{
		{"https://id.example.test/", "https://id.example.test"},
		{"https://id.example.test", "https://id.example.test"},
		{"https://id.example.test/tenant/", "https://id.example.test/tenant"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
		{"http://localhost:8080/", "http://localhost:8080"},
		{"http://[::1]:8080/", "http://[::1]:8080"},
		{"http://id.example.test/", ""},
		{"http://10.0.0.1/", ""},
		{"https://id.example.test/?tenant=1", ""},
		{"https://id.example.test/?", ""},
		{"https://id.example.test/#", ""},
		{"https://user@id.example.test/", ""},
		{"urn:example:issuer", ""},
		{"id.example.test", ""},
		{"ftp://id.example.test/", ""},
	} {
		t.Run(tc.issuer, func(t *testing.T) {
			base, err := issuerBase(tc.issuer)
			if (err == nil) != (tc.base != "") || base != tc.base {
				t.Errorf("issuerBase = %q, %v; want %q", base, err, tc.base)
			}
		})
	}
	fc := testConfig(t)
	fc.Issuer = "http://id.example.test/"
	e := newTestEnv(t, fc, nil)
	r := do(t, http.MethodGet, e.srv.URL+pathOIDCMetadata, "", "", nil)
	checkError(t, r, http.StatusNotFound, "not_found")
	if !strings.Contains(e.log.String(), "no authorization server metadata") {
		t.Errorf("no warning logged:\n%s", e.log.String())
	}
}

// TestMetadataAlgorithms: the id_token algorithms are those of the
// enabled clients.
func TestMetadataAlgorithms(t *testing.T) {
	fc := testConfig(t)
	for i := range fc.Clients {
		if fc.Clients[i].SigningAlg == "RS256" {
			fc.Clients[i].Disabled = true
		}
	}
	hc, err := buildConfig(fc, "")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := newMetadata(hc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"EdDSA", "HS256"}, doc.IDTokenSigningAlgValuesSupported); diff != "" {
		t.Errorf("algorithms (-want +got):\n%s", diff)
	}
}
