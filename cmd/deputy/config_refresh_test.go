package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
)

// refreshBody is a seed delegation request presenting a refresh token.
func refreshBody(client, token, target, scope string) string {
	b, _ := json.Marshal(delegationBody{
		ClientID: client, GrantType: engine.GrantTypeJWTBearer, RefreshToken: token,
		Target: target, Scope: scope, APIType: "app",
	})
	return string(b)
}

// TestConfigRefreshGrantErrors checks that each problem with profiles and
// refresh_grants is reported naming its field, and that no message quotes
// a token.
func TestConfigRefreshGrantErrors(t *testing.T) {
	const secretToken = "tok-very-secret-value-0123456789"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "short.txt"), []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DEPUTY_TEST_RT", secretToken)
	// The clients of minimalConfig, with the fields under test spliced in.
	doc := func(extra string) string {
		return strings.TrimSuffix(strings.TrimSpace(minimalConfig), "}") + "," + extra + "}"
	}
	okHash := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, extra string
		want        []string
	}{
		{"profiles not an object", `"profiles": []`, []string{"config: profiles: must be an object of subject → claims"}},
		{"repeated subject", `"profiles": {"u1": {}, "u1": {"name": "x"}}`, []string{`config: profiles["u1"]: repeated`}},
		{"grants not an array", `"refresh_grants": {}`, []string{"config: refresh_grants: must be an array"}},
		{"unknown grant field", `"refresh_grants": [{"tokn": "x"}]`, []string{
			// An unknown field no longer hides the entry's other problems.
			`config: refresh_grants[0]: unknown field "tokn"`,
			"config: refresh_grants[0].token_sha256: required (or token as env:NAME or file:PATH)",
			`config: refresh_grants[0].client_id: "" is not a configured client`,
			"config: refresh_grants[0].subject: required",
			"config: refresh_grants[0].scope: required: the space-separated scopes the grant allows (an empty scope allows nothing)",
		}},
		{"everything at once", `
  "profiles": {
    "u1": {"name": "Ada", "sub": "someone-else", "Aud": "x"},
    "": {"name": "nobody"},
    "u2": ["not", "an", "object"]
  },
  "refresh_grants": [
    {"token": "text:` + secretToken + `", "client_id": "app", "subject": "u1", "scope": "openid"},
    {"token": "env:DEPUTY_TEST_RT", "token_sha256": "` + okHash + `", "client_id": "app", "subject": "u1", "scope": "openid"},
    {"token_sha256": "xyz", "client_id": "ghost", "subject": "u9", "scope": "openid wallet"},
    {"client_id": "app", "subject": "", "scope": "  "},
    {"token": "file:short.txt", "client_id": "app", "subject": "u1", "scope": "openid", "expires_at": "soon"},
    {"token": "env:DEPUTY_TEST_RT", "client_id": "app", "subject": "u1", "scope": "openid"},
    {"token_sha256": "` + hashHex(secretToken) + `", "client_id": "api", "subject": "u1", "scope": "profile"}
  ]`, []string{
			`config: profiles["u1"].Aud: is a claim deputy sets itself, never taken from a profile`,
			`config: profiles["u1"].sub: is a claim deputy sets itself, never taken from a profile`,
			`config: profiles[""]: the subject is empty`,
			`config: profiles["u2"]: must be an object of claims, such as {"name": "Ada"}`,
			`config: refresh_grants[0].token: must be "env:NAME" or "file:PATH"; to keep the grant in this file, give the token's token_sha256 instead`,
			`config: refresh_grants[1].token: give token or token_sha256, not both`,
			`config: refresh_grants[2].token_sha256: want 64 hex digits, the SHA-256 of the token (printf %s "$TOKEN" | sha256sum)`,
			`config: refresh_grants[2].client_id: "ghost" is not a configured client`,
			`config: refresh_grants[2].subject: "u9" has no entry in profiles (the claims of its tokens come from there)`,
			`config: refresh_grants[2].scope: "wallet" is not a known scope`,
			`config: refresh_grants[3].token_sha256: required (or token as env:NAME or file:PATH)`,
			`config: refresh_grants[3].subject: required`,
			`config: refresh_grants[3].scope: required: the space-separated scopes the grant allows (an empty scope allows nothing)`,
			`config: refresh_grants[4].token: the token is 3 bytes; at least 16 expected`,
			`config: refresh_grants[4].expires_at: want an RFC 3339 time such as 2030-01-02T15:04:05Z`,
			`config: refresh_grants[6]: the same token as refresh_grants[5]`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(doc(tc.extra)), dir)
			if err == nil {
				t.Fatal("config accepted")
			}
			if diff := cmp.Diff(tc.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), secretToken) {
				t.Errorf("an error quotes the token: %v", err)
			}
		})
	}
}

func hashHex(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// TestConfigRefreshDelegation serves refresh grants given each way the
// config allows and checks what each answers: the profile's claims under
// the grant's scope, or invalid_grant and no token.
func TestConfigRefreshDelegation(t *testing.T) {
	dir := t.TempDir()
	tokens := map[string]string{
		"env": newRefreshToken(), "file": newRefreshToken(), "hash": newRefreshToken(),
		"revoked": newRefreshToken(), "expired": newRefreshToken(), "api's": newRefreshToken(),
	}
	t.Setenv("DEPUTY_TEST_RT_ENV", tokens["env"])
	// A file as "deputy grant issue > rt.txt" writes it: one line.
	if err := os.WriteFile(filepath.Join(dir, "rt.txt"), []byte(tokens["file"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc := testConfig(t)
	fc.Profiles = profileList{
		{Subject: "auth0|ada", Claims: json.RawMessage(`{"name": "Ada Lovelace", "email": "ada@example.com", "email_verified": true}`)},
	}
	grant := func(tok, tokHash, client, scope, expires string, revoked bool) grantConfig {
		return grantConfig{Token: tok, TokenSHA256: tokHash, ClientID: client, Subject: "auth0|ada", Scope: scope, ExpiresAt: expires, Revoked: revoked}
	}
	fc.RefreshGrants = grantList{
		grant("env:DEPUTY_TEST_RT_ENV", "", demoApp, "openid profile", "", false),
		grant("file:rt.txt", "", demoApp, "openid email", "2999-01-01T00:00:00Z", false),
		grant("", hashHex(tokens["hash"]), demoApp, "openid profile email", "", false),
		grant("", hashHex(tokens["revoked"]), demoApp, "openid", "", true),
		grant("", hashHex(tokens["expired"]), demoApp, "openid", "2001-01-01T00:00:00Z", false),
		grant("", hashHex(tokens["api's"]), demoAPI, "openid", "", false),
	}
	hc, err := buildConfig(fc, dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(serverConfig{hostConfig: *hc})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	srv := hs.URL
	apiKey := (&testEnv{fc: fc}).secret(t, demoAPI)

	for _, tc := range []struct {
		name, token, scope string
		want               map[string]any // claims beyond the registered ones; nil: refused with code
		code               string
	}{
		{"env", "env", "openid profile", map[string]any{"name": "Ada Lovelace"}, ""},
		{"file", "file", "openid email", map[string]any{"email": "ada@example.com", "email_verified": true}, ""},
		{"hash", "hash", "openid profile email", map[string]any{"name": "Ada Lovelace", "email": "ada@example.com", "email_verified": true}, ""},
		{"beyond the grant's scope", "env", "openid profile email", nil, engine.CodeInvalidScope},
		{"revoked", "revoked", "openid", nil, engine.CodeInvalidGrant},
		{"expired", "expired", "openid", nil, engine.CodeInvalidGrant},
		{"another client's", "api's", "openid", nil, engine.CodeInvalidGrant},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodPost, srv+pathDelegation, "application/json",
				refreshBody(demoApp, tokens[tc.token], demoAPI, tc.scope), nil)
			m := r.members(t)
			if tc.want == nil {
				if r.status != http.StatusBadRequest || m["error"] != tc.code {
					t.Fatalf("status %d, body %s; want 400 %s", r.status, r.body, tc.code)
				}
				if _, ok := m["id_token"]; ok {
					t.Fatal("a refused request carries an id_token")
				}
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			_, got := verifyToken(t, m["id_token"].(string), "HS256", apiKey)
			if got["sub"] != "auth0|ada" || got["aud"] != demoAPI || got["iss"] != testIssuer {
				t.Errorf("sub, aud, iss = %v, %v, %v", got["sub"], got["aud"], got["iss"])
			}
			for _, k := range []string{"iss", "sub", "aud", "azp", "iat", "exp", "jti"} {
				delete(got, k)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("profile claims (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDemoRefreshToken checks the demo's refresh grant: the config holds
// the hash of the token demoConfig returns, and the token delegates.
func TestDemoRefreshToken(t *testing.T) {
	fc, err := demoConfig(testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	if fc.demoRefreshToken == "" || len(fc.RefreshGrants) != 1 || fc.RefreshGrants[0].TokenSHA256 != hashHex(fc.demoRefreshToken) {
		t.Fatalf("demo grants %+v do not hold the hash of the demo token", fc.RefreshGrants)
	}
	b, err := json.Marshal(fc)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), fc.demoRefreshToken) {
		t.Fatal("the written demo config holds the refresh token itself")
	}
	e := newTestEnv(t, fc, nil)
	r := do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json",
		refreshBody(demoApp, fc.demoRefreshToken, demoAPI, "openid profile email"), nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	_, got := verifyToken(t, r.members(t)["id_token"].(string), "HS256", e.secret(t, demoAPI))
	if got["sub"] != demoSubject || got["name"] != demoClaims["name"] {
		t.Errorf("sub %v, name %v", got["sub"], got["name"])
	}
}
