package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A valid minimal config: two HS256 clients, no keys.
const minimalConfig = `{
  "issuer": "https://id.example.test/",
  "clients": [
    {"id": "app", "signing_alg": "HS256", "grants": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
     "secrets": [{"id": "s1", "value": "text:0123456789abcdef0123456789abcdef"}]},
    {"id": "api", "signing_alg": "HS256", "allowed_sources": ["app"],
     "secrets": [{"id": "s1", "value": "base64url:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}]}
  ]
}`

// TestConfigErrors checks that each problem is reported naming its field.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string // lines of the error, in order
	}{
		{"empty", ``, []string{"config: empty, want a JSON object"}},
		{"syntax", "{\n  \"issuer\": \"x\",\n  oops\n}", []string{`config: invalid JSON at line 3, column 3: invalid character 'o' looking for beginning of object key string`}},
		{"trailing data", `{"issuer":"x"} {}`, []string{"config: unexpected data after the JSON value"}},
		{"unknown top-level field", `{"isuer":"x"}`, []string{`config: unknown field "isuer"`, "config: issuer: required"}},
		{"wrong type", `{"issuer":"x","lifetime":36000}`, []string{"config: lifetime: must be a string, not number"}},
		{"clients not an array", `{"issuer":"x","clients":{}}`, []string{"config: clients: must be an array"}},
		{"unknown client field", `{"issuer":"x","clients":[{"id":"a","signing_alg":"EdDSA"},{"id":"b","secret":"x","signing_alg":"EdDSA"}]}`, []string{
			`config: clients[1]: unknown field "secret"`,
			`config: clients[0].signing_alg: no key with "alg":"EdDSA" in keys or keys_file`,
			`config: clients[1].signing_alg: no key with "alg":"EdDSA" in keys or keys_file`}},
		{"client field type", `{"issuer":"x","clients":[{"id":"a","disabled":"yes"}]}`, []string{"config: clients[0].disabled: must be true or false, not string"}},
		{"secret field type", `{"issuer":"x","clients":[{"id":"a","secrets":[{"id":"s","value":1}]}]}`, []string{"config: clients[0].secrets[0].value: must be a string, not number"}},
		{"unknown secret field", `{"issuer":"x","clients":[{"id":"a","signing_alg":"HS256","secrets":[{"id":"s","valu":"x"}]}]}`, []string{
			`config: clients[0].secrets[0]: unknown field "valu"`,
			`config: clients[0].secrets[0].value: must start with "base64url:", "text:", "env:" or "file:"`}},
		{"missing issuer", `{"clients":[]}`, []string{"config: issuer: required"}},
		{"weak secret of an asymmetric client", `{"issuer":"https://x/","keys":{"keys":[]},
  "clients":[{"id":"rs","signing_alg":"ES256","confidential":true,"secrets":[{"id":"s1","value":"text:x"}]}]}`,
			[]string{`config: clients[0].signing_alg: no key with "alg":"ES256" in keys or keys_file`,
				"config: clients[0].secrets[0].value: 1 bytes; ES256 needs at least 32"}},
		{"everything at once", `{
  "issuer": " https://x/",
  "lifetime": "10 hours",
  "clock_skew": "1.5s",
  "rate_limit": "10/fortnight",
  "cors_origins": ["http://localhost:3000/app", "*"],
  "keys": {"keys": [{"kty": "oct", "k": "AAAA", "kid": "k", "alg": "HS256"}]},
  "clients": [
    {"id": "app", "signing_alg": "HS256", "allowed_sources": ["ghost"], "grants": ["password"],
     "lifetime": "-1h", "scopes": ["openid", "wallet"],
     "secrets": [{"id": "s1", "value": "text:short", "not_after": "tomorrow"}, {"id": "s1", "value": "plain"}]},
    {"id": "app", "signing_alg": "HS256", "secrets": [{"id": "s", "value": "env:DEPUTY_TEST_UNSET_VAR"}]},
    {"id": "rs", "signing_alg": "HS257"},
    {"id": "ed", "signing_alg": "EdDSA", "confidential": true},
    {"signing_alg": "HS256"}
  ]
}`, []string{
			"config: issuer: has leading or trailing spaces (iss is compared exactly)",
			`config: lifetime: "10 hours" is not a duration such as "10h" or "30s"`,
			`config: clock_skew: "1.5s" must be whole seconds`,
			`config: rate_limit: "10/fortnight": the period must be s, m, h or whole seconds of at least 1s`,
			`config: cors_origins[0]: "http://localhost:3000/app" is not an origin (scheme://host[:port], no path)`,
			`config: cors_origins[1]: "*" is not allowed: list each origin`,
			`config: keys.keys[0]: store: invalid key "k": algorithm "HS256" is not a supported asymmetric algorithm`,
			`config: clients[1].id: "app" already used by clients[0]`,
			`config: clients[0].allowed_sources[0]: "ghost" is not a configured client (or "*")`,
			`config: clients[0].grants[0]: "password" is not a grant type deputy knows (urn:ietf:params:oauth:grant-type:jwt-bearer, urn:ietf:params:oauth:grant-type:token-exchange)`,
			`config: clients[0].scopes[1]: "wallet" is not a known scope`,
			`config: clients[0].lifetime: "-1h" must be positive`,
			"config: clients[0].secrets[0].value: 5 bytes; HS256 needs at least 32",
			"config: clients[0].secrets[0].not_after: want an RFC 3339 time such as 2030-01-02T15:04:05Z",
			`config: clients[0].secrets[1].id: duplicate "s1"`,
			`config: clients[0].secrets[1].value: must start with "base64url:", "text:", "env:" or "file:"`,
			`config: clients[1].secrets[0].value: environment variable "DEPUTY_TEST_UNSET_VAR" is not set`,
			`config: clients[2].signing_alg: "HS257" not supported (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA)`,
			`config: clients[3].signing_alg: no key with "alg":"EdDSA" in keys or keys_file`,
			"config: clients[3].secrets: a confidential client needs a secret to authenticate with",
			"config: clients[4].id: required",
			"config: clients[4].secrets: HS256 needs at least one secret",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.doc), "")
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tc.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConfigSecretsAndKeysFile checks the secret encodings and a keys file
// relative to the config file.
func TestConfigSecretsAndKeysFile(t *testing.T) {
	dir := t.TempDir()
	secret := []byte("0123456789abcdef0123456789abcdef\n") // a file secret is used byte for byte
	if err := os.WriteFile(filepath.Join(dir, "api.secret"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	fc := testConfig(t)
	if err := os.WriteFile(filepath.Join(dir, "keys.json"), fc.Keys, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DEPUTY_TEST_SECRET", "env-secret-env-secret-env-secret!")
	doc := strings.NewReplacer("{KEYS}", "keys.json").Replace(`{
  "issuer": "https://id.example.test/",
  "lifetime": "1h", "clock_skew": "30s", "rate_limit": "100/10m", "replay": true,
  "cors_origins": ["HTTP://LocalHost:3000"],
  "keys_file": "{KEYS}",
  "clients": [
    {"id": "app", "signing_alg": "RS256", "grants": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
     "confidential": true, "secrets": [{"id": "e", "value": "env:DEPUTY_TEST_SECRET"}]},
    {"id": "api", "signing_alg": "HS256", "allowed_sources": ["*"], "lifetime": "5m", "scopes": ["openid", "email"],
     "secrets": [{"id": "f", "value": "file:api.secret", "not_after": "2999-01-01T00:00:00Z"}]}
  ]
}`)
	path := filepath.Join(dir, "deputy.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	hc, err := loadConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	api, err := hc.Store.Client(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	app, _ := hc.Store.Client(context.Background(), "app")
	got := []string{string(api.Secrets[0].Value), string(app.Secrets[0].Value), hc.CORSOrigins[0], hc.RateLimit.String(), api.Lifetime.String()}
	want := []string{string(secret), "env-secret-env-secret-env-secret!", "http://localhost:3000", "100/10m0s", "5m0s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !hc.Replay || hc.Lifetime.String() != "1h0m0s" || hc.ClockSkew.String() != "30s" {
		t.Errorf("replay %v lifetime %v skew %v", hc.Replay, hc.Lifetime, hc.ClockSkew)
	}
}

// TestParseRateLimit covers the rate syntax.
func TestParseRateLimit(t *testing.T) {
	for in, want := range map[string]string{"": "off", "10/m": "10/1m0s", "5/s": "5/1s", "1/h": "1/1h0m0s", "100/10m": "100/10m0s"} {
		r, err := parseRateLimit(in)
		if err != nil || r.String() != want {
			t.Errorf("parseRateLimit(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
	for _, in := range []string{"10", "0/m", "-1/m", "x/m", "10/ms", "10/500ms", "10/1.5s"} {
		if _, err := parseRateLimit(in); err == nil {
			t.Errorf("parseRateLimit(%q): no error", in)
		}
	}
}
