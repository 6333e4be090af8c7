package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/deputyauth/deputy/clientauth"
	"github.com/deputyauth/deputy/engine"
)

const hashedClient = "demo-hashed-svc" // authenticates with a hashed secret

// clientAuthConfig is the demo config with demoRSApp registered for
// private_key_jwt (its public key inline) and a confidential RS256 client
// whose only secret is stored as a hash; both may delegate to demoEdAPI.
func clientAuthConfig(t *testing.T, clientKey *ecdsa.PrivateKey, secret string) *fileConfig {
	t.Helper()
	fc := testConfig(t)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: clientKey.Public(), KeyID: "rs-app-assertions", Algorithm: "ES256", Use: "sig"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := clientauth.HashSecret(secret, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fc.Clients {
		c := &fc.Clients[i]
		switch c.ID {
		case demoRSApp:
			c.Confidential, c.TokenEndpointAuthMethod, c.JWKS = true, clientauth.MethodPrivateKeyJWT, jwks
		case demoEdAPI:
			c.AllowedSources = append(c.AllowedSources, hashedClient)
		}
	}
	fc.Clients = append(fc.Clients, clientConfig{
		ID: hashedClient, SigningAlg: "RS256", Confidential: true,
		Grants:                  []string{engine.GrantTypeJWTBearer},
		TokenEndpointAuthMethod: clientauth.MethodSecretPost,
		SecretHashes:            []secretHashConfig{{ID: "2026-12", Hash: hash}},
	})
	return fc
}

// assertionFor is a private_key_jwt assertion of demoRSApp for aud.
func assertionFor(t *testing.T, key *ecdsa.PrivateKey, aud, jti string, exp time.Time) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "rs-app-assertions"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(jwt.Claims{
		Issuer: demoRSApp, Subject: demoRSApp, Audience: jwt.Audience{aud}, ID: jti,
		Expiry: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(time.Now()),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestPrivateKeyJWTEndToEnd posts real signed assertions to the token
// endpoint: accepted once, refused when replayed, forged, expired, for
// another audience or missing, each refusal a 401 invalid_client with no
// token.
func TestPrivateKeyJWTEndToEnd(t *testing.T) {
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, clientAuthConfig(t, clientKey, strings.Repeat("k", 40)), nil)
	endpoint := strings.TrimSuffix(testIssuer, "/") + pathToken
	delegationURL := strings.TrimSuffix(testIssuer, "/") + pathDelegation
	post := func(form url.Values) reply {
		return do(t, http.MethodPost, e.srv.URL+pathToken, "application/x-www-form-urlencoded", form.Encode(), nil)
	}
	form := func(assertion string) url.Values {
		v := url.Values{
			"grant_type": {engine.GrantTypeJWTBearer}, "id_token": {e.mint(t, demoRSApp, "auth0|ada", nil, time.Hour)},
			"target": {demoEdAPI}, "scope": {"openid"},
		}
		if assertion != "" {
			v.Set("client_assertion", assertion)
			v.Set("client_assertion_type", engine.ClientAssertionTypeJWT)
		}
		return v
	}
	soon := time.Now().Add(time.Minute)
	good := assertionFor(t, clientKey, testIssuer, "jti-1", soon)

	// No client_id: the assertion names the client (RFC 7521 §4.2).
	r := post(form(good))
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	m := r.members(t)
	if tok, _ := m["id_token"].(string); tok == "" {
		t.Fatalf("no id_token in %s", r.body)
	}

	withID := func(v url.Values) url.Values { v.Set("client_id", demoRSApp); return v }
	for name, f := range map[string]url.Values{
		"replayed":         form(good),
		"forged":           form(assertionFor(t, forger, testIssuer, "jti-2", soon)),
		"expired":          form(assertionFor(t, clientKey, testIssuer, "jti-3", time.Now().Add(-time.Minute))),
		"exp too far":      form(assertionFor(t, clientKey, testIssuer, "jti-4", time.Now().Add(time.Hour))),
		"another audience": form(assertionFor(t, clientKey, "https://elsewhere.example/token", "jti-5", soon)),
		// Audience injection: only the issuer is our audience.
		"token endpoint audience":      form(assertionFor(t, clientKey, endpoint, "jti-7", soon)),
		"delegation endpoint audience": form(assertionFor(t, clientKey, delegationURL, "jti-8", soon)),
		"no assertion":                 withID(form("")),
		"plaintext secret":             func() url.Values { v := withID(form("")); v.Set("client_secret", strings.Repeat("k", 40)); return v }(),
	} {
		t.Run(name, func(t *testing.T) {
			r := post(f)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", r.status, r.body)
			}
			m := r.members(t)
			if m["error"] != engine.CodeInvalidClient || m["id_token"] != nil || m["access_token"] != nil {
				t.Errorf("body %s, want invalid_client and no token", r.body)
			}
		})
	}

}

// TestHashedSecretEndToEnd: a client whose secret the config holds only as
// a hash authenticates with the secret, never with the hash.
func TestHashedSecretEndToEnd(t *testing.T) {
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := rand.Text() + rand.Text()
	fc := clientAuthConfig(t, clientKey, secret)
	e := newTestEnv(t, fc, nil)
	hash := fc.Clients[len(fc.Clients)-1].SecretHashes[0].Hash
	for _, tc := range []struct {
		name, secret string
		status       int
	}{
		{"secret", secret, http.StatusOK},
		{"hash as secret", hash, http.StatusUnauthorized},
		{"wrong secret", secret[1:], http.StatusUnauthorized},
		{"no secret", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := url.Values{
				"grant_type": {engine.GrantTypeJWTBearer}, "client_id": {hashedClient},
				"id_token": {e.mint(t, hashedClient, "auth0|ada", nil, time.Hour)},
				"target":   {demoEdAPI}, "scope": {"openid"},
			}
			if tc.secret != "" {
				v.Set("client_secret", tc.secret)
			}
			r := do(t, http.MethodPost, e.srv.URL+pathToken, "application/x-www-form-urlencoded", v.Encode(), nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			if tc.status != http.StatusOK && bytes.Contains(r.body, []byte("id_token\"")) {
				t.Errorf("refusal carries a token: %s", r.body)
			}
		})
	}
	// The demo's plaintext-secret clients are unchanged.
	r := do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json",
		seedBody(demoApp, e.mint(t, demoApp, "auth0|ada", nil, time.Hour), demoAPI, "openid", ""), nil)
	if r.status != http.StatusOK {
		t.Errorf("plaintext demo client: status %d, body %s", r.status, r.body)
	}
}

// TestClientAuthConfigErrors: every misregistration is named by its path.
func TestClientAuthConfigErrors(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privJWKS, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k"}}})
	noKID, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public()}}})
	for _, tc := range []struct {
		name string
		mod  func(c *clientConfig)
		want string
	}{
		{"unknown method", func(c *clientConfig) { c.TokenEndpointAuthMethod = "client_secret_jwt" }, "token_endpoint_auth_method: \"client_secret_jwt\" not supported"},
		{"jwt without keys", func(c *clientConfig) { c.TokenEndpointAuthMethod = "private_key_jwt" }, "jwks: private_key_jwt needs"},
		{"private key in jwks", func(c *clientConfig) { c.TokenEndpointAuthMethod, c.JWKS = "private_key_jwt", privJWKS }, "jwks: keys[0] is not a public key"},
		{"key without kid", func(c *clientConfig) { c.TokenEndpointAuthMethod, c.JWKS = "private_key_jwt", noKID }, "jwks: keys[0] has no kid"},
		{"jwks for a secret client", func(c *clientConfig) { c.JWKS = noKID }, "jwks: only a private_key_jwt client has keys"},
		{"missing jwks file", func(c *clientConfig) { c.TokenEndpointAuthMethod, c.JWKSFile = "private_key_jwt", "nope.json" }, "jwks_file:"},
		{"hash for an HS256 client", func(c *clientConfig) {
			c.SecretHashes = []secretHashConfig{{ID: "h", Hash: clientauth.HashPrefix + "i=1$AAAAAAAAAAA$" + strings.Repeat("A", 43)}}
		}, "secret_hashes: HS256 clients sign with their secrets"},
		{"not a hash", func(c *clientConfig) {
			c.SigningAlg, c.Secrets = "RS256", nil
			c.SecretHashes = []secretHashConfig{{ID: "h", Hash: "plaintext-secret-plaintext-secret"}}
		}, "secret_hashes[0].hash: not a secret hash"},
		{"hashes for a public client", func(c *clientConfig) {
			c.SigningAlg, c.Secrets, c.Confidential = "RS256", nil, false
			c.SecretHashes = []secretHashConfig{{ID: "h", Hash: clientauth.HashPrefix + "i=1$AAAAAAAAAAA$" + strings.Repeat("A", 43)}}
		}, "confidential: a client with secret_hashes must be confidential: true"},
		{"confidential none", func(c *clientConfig) { c.TokenEndpointAuthMethod, c.Confidential = "none", true }, "a confidential client cannot use none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := testConfig(t)
			for i := range fc.Clients {
				if fc.Clients[i].ID == demoApp {
					tc.mod(&fc.Clients[i])
				}
			}
			_, err := buildConfig(fc, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("buildConfig error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestJWKSFile: a private_key_jwt client's keys may live in a file beside
// the config.
func TestJWKSFile(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256"}}})
	if err := os.WriteFile(filepath.Join(dir, "rs-app.jwks"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	fc := testConfig(t)
	for i := range fc.Clients {
		if fc.Clients[i].ID == demoRSApp {
			fc.Clients[i].TokenEndpointAuthMethod, fc.Clients[i].JWKSFile = "private_key_jwt", "rs-app.jwks"
		}
	}
	hc, err := buildConfig(fc, dir)
	if err != nil {
		t.Fatal(err)
	}
	if ks := hc.ClientAuth.keys[demoRSApp]; len(ks) != 1 || ks[0].KeyID != "k1" {
		t.Errorf("keys = %+v", ks)
	}
}

func TestHashSecretCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	secret := strings.Repeat("s", 40)
	if code := runHashSecret(nil, strings.NewReader(secret+"\n"), &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	hash := strings.TrimSpace(out.String())
	if !clientauth.IsHash([]byte(hash)) || strings.Contains(hash, secret) {
		t.Errorf("printed %q, want a hash", hash)
	}
	out.Reset()
	if code := runHashSecret(nil, strings.NewReader("short\n"), &out, &errOut); code != exitUsage || out.Len() != 0 {
		t.Errorf("short secret: exit %d, output %q", code, out.String())
	}
}
