package main

import (
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
)

// firebaseAudience is the aud of every Firebase custom token: Google
// Identity Toolkit's.
const firebaseAudience = "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit"

// checkFirebaseAnswer checks a Firebase add-on answer, Auth0's shape
// exactly, and returns the custom token.
func checkFirebaseAnswer(t *testing.T, r reply, expiresIn float64) string {
	t.Helper()
	checkTokenAnswer(t, r)
	m := r.members(t)
	if diff := cmp.Diff(wantResponseKeys, slices.Sorted(maps.Keys(m))); diff != "" {
		t.Errorf("response members (-want +got):\n%s", diff)
	}
	if m["token_type"] != "Bearer" || m["expires_in"] != expiresIn {
		t.Errorf("token_type %v, expires_in %v; want Bearer, %v", m["token_type"], m["expires_in"], expiresIn)
	}
	tok, _ := m["id_token"].(string)
	return tok
}

// demoServiceAccount returns the key ID and public key of the demo
// Firebase target's service account, from the config's settings.
func demoServiceAccount(t *testing.T, fc *fileConfig) (string, *rsa.PublicKey) {
	t.Helper()
	for _, c := range fc.Clients {
		if c.ID != demoFB {
			continue
		}
		var s struct {
			PrivateKeyID string `json:"private_key_id"`
			PrivateKey   string `json:"private_key"`
			ClientEmail  string `json:"client_email"`
		}
		if err := json.Unmarshal(c.APITypes["firebase"], &s); err != nil {
			t.Fatal(err)
		}
		if s.ClientEmail != demoFBEmail || len(s.PrivateKeyID) != 40 {
			t.Errorf("demo service account %q, key id %q", s.ClientEmail, s.PrivateKeyID)
		}
		block, _ := pem.Decode([]byte(s.PrivateKey))
		if block == nil || block.Type != "PRIVATE KEY" {
			t.Fatal("demo private_key is not a PKCS#8 PEM block")
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		rk := k.(*rsa.PrivateKey)
		if rk.N.BitLen() != 2048 {
			t.Errorf("demo key has %d bits", rk.N.BitLen())
		}
		return s.PrivateKeyID, &rk.PublicKey
	}
	t.Fatal("no demo Firebase target")
	return "", nil
}

// TestFirebaseAddon asks the demo Firebase target for the user's custom
// token, with api_type firebase and without api_type (its default), as
// JSON and as auth0-js's form, and verifies each token with go-jose and
// the service account's public key.
func TestFirebaseAddon(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	kid, pub := demoServiceAccount(t, e.fc)
	src := e.mint(t, demoApp, demoSubject, nil, time.Hour)
	profile := map[string]any{"name": "Demo User", "email": "demo-user@example.com", "email_verified": true}
	for _, tc := range []struct {
		name, contentType, body string
		claims                  map[string]any // nil: no claims member
	}{
		{"json/api_type firebase", "application/json", seedBody(demoApp, src, demoFB, "openid profile email", "firebase"), profile},
		{"form/api_type firebase", "application/x-www-form-urlencoded", seedForm(demoApp, src, demoFB, "openid profile email", "firebase"), profile},
		{"json/no api_type", "application/json",
			`{"client_id":"` + demoApp + `","grant_type":"` + engine.GrantTypeJWTBearer + `","id_token":"` + src + `","target":"` + demoFB + `","scope":"openid email"}`,
			map[string]any{"email": "demo-user@example.com", "email_verified": true}},
		{"form/no api_type", "application/x-www-form-urlencoded", url.Values{
			"client_id": {demoApp}, "grant_type": {engine.GrantTypeJWTBearer}, "id_token": {src}, "target": {demoFB}, "scope": {"openid"},
		}.Encode(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now().Unix()
			r := do(t, http.MethodPost, e.srv.URL+pathDelegation, tc.contentType, tc.body, nil)
			tok := checkFirebaseAnswer(t, r, 3600)
			gotKid, claims := verifyToken(t, tok, jose.RS256, pub)
			if gotKid != kid {
				t.Errorf("kid %q, want private_key_id %q", gotKid, kid)
			}
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			if int64(iat) < start-1 || int64(iat) > time.Now().Unix()+1 || exp-iat != 3600 {
				t.Errorf("iat %v, exp %v: want now and now+3600", iat, exp)
			}
			delete(claims, "iat")
			delete(claims, "exp")
			want := map[string]any{"iss": demoFBEmail, "sub": demoFBEmail, "aud": firebaseAudience, "uid": demoSubject}
			if tc.claims != nil {
				want["claims"] = tc.claims
			}
			if diff := cmp.Diff(want, claims); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
	// api_type app still means the id_token, signed with the target's
	// own algorithm.
	r := do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json", seedBody(demoApp, src, demoFB, "openid", "app"), nil)
	key, err := e.hc.Store.SigningKey(t.Context(), "RS256")
	if err != nil {
		t.Fatal(err)
	}
	if _, claims := verifyToken(t, checkDelegated(t, r), jose.RS256, key.Public().Key); claims["aud"] != demoFB || claims["sub"] != demoSubject {
		t.Errorf("api_type app: claims %v", claims)
	}
	if strings.Contains(e.log.String(), "PRIVATE KEY") {
		t.Error("the log holds the service account key")
	}
}

// TestAddonRefusals checks that an api_type deputy does not serve, or one
// the target does not enable, is invalid_request and mints nothing.
func TestAddonRefusals(t *testing.T) {
	e := newTestEnv(t, nil, nil)
	src := e.mint(t, demoApp, demoSubject, nil, time.Hour)
	for _, tc := range []struct{ target, apiType string }{
		{demoFB, "aws"},        // an Auth0 add-on deputy does not mint
		{demoFB, "salesforce"}, // idem
		{demoFB, "azure_sb"},   // served, not enabled on the target
		{demoAPI, "firebase"},  // idem
		{demoFB, "Firebase"},   // names are exact
	} {
		t.Run(tc.target+"/"+tc.apiType, func(t *testing.T) {
			r := do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json",
				seedBody(demoApp, src, tc.target, "openid", tc.apiType), nil)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			if m := r.members(t); m["error"] != "invalid_request" || m["id_token"] != nil {
				t.Errorf("answer %v", m)
			}
		})
	}
}

// TestAzureAddons serves a config-file client enabling both Azure add-ons,
// the Service Bus key from env: and the storage key from file:, and checks
// each SAS by signing its string to sign again with the key the config
// named. No api_type gets the client's default, the blob SAS.
func TestAzureAddons(t *testing.T) {
	const (
		sbKey       = "Q2hhbmdlIG1lOiBhIGRlbW8gU2VydmljZSBCdXMga2V5IQ=="
		storageText = "c3RvcmFnZSBhY2NvdW50IGtleSBmb3IgZGVwdXR5IHRlc3Rz"
	)
	t.Setenv("DEPUTY_TEST_SB_KEY", sbKey)
	keyFile := filepath.Join(t.TempDir(), "storage.key")
	if err := os.WriteFile(keyFile, []byte(storageText), 0o600); err != nil {
		t.Fatal(err)
	}
	fc := testConfig(t)
	fc.Clients = append(fc.Clients, clientConfig{
		ID: "azure-api", SigningAlg: "RS256", AllowedSources: []string{demoApp},
		APITypes: map[string]json.RawMessage{
			"azure_sb": json.RawMessage(`{"namespace":"deputy-demo","sasKeyName":"send","sasKey":"env:DEPUTY_TEST_SB_KEY","entityPath":"orders","expiration":10}`),
			"azure_blob": json.RawMessage(`{"accountName":"deputydemo","storageAccessKey":"file:` + keyFile +
				`","containerName":"uploads","container_read":true,"container_list":true}`),
		},
		DefaultAPIType: "azure_blob",
	})
	e := newTestEnv(t, fc, nil)
	src := e.mint(t, demoApp, demoSubject, nil, time.Hour)
	post := func(apiType string) (map[string]any, int64) {
		t.Helper()
		body := seedBody(demoApp, src, "azure-api", "openid", apiType)
		if apiType == "" {
			body = `{"client_id":"` + demoApp + `","grant_type":"` + engine.GrantTypeJWTBearer + `","id_token":"` + src + `","target":"azure-api"}`
		}
		now := time.Now().Unix()
		r := do(t, http.MethodPost, e.srv.URL+pathDelegation, "application/json", body, nil)
		checkTokenAnswer(t, r)
		return r.members(t), now
	}
	sign := func(key []byte, s string) string {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(s))
		return base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}

	t.Run("azure_sb", func(t *testing.T) {
		m, now := post("azure_sb")
		sas, _ := m["azure_sb_sas"].(string)
		if len(m) != 1 || !strings.HasPrefix(sas, "SharedAccessSignature ") {
			t.Fatalf("answer %v", m)
		}
		q, err := url.ParseQuery(strings.TrimPrefix(sas, "SharedAccessSignature "))
		if err != nil {
			t.Fatal(err)
		}
		se, _ := strconv.ParseInt(q.Get("se"), 10, 64)
		if d := se - now; d < 599 || d > 601 {
			t.Errorf("se is %d s from now, want 600 (expiration 10)", d)
		}
		// Microsoft's string to sign: the URL-encoded resource URI, a
		// newline and the expiry, keyed with the key's text.
		sr := url.QueryEscape("https://deputy-demo.servicebus.windows.net/orders")
		want := "sr=" + sr + "&sig=" + url.QueryEscape(sign([]byte(sbKey), sr+"\n"+q.Get("se"))) + "&se=" + q.Get("se") + "&skn=send"
		if got := strings.TrimPrefix(sas, "SharedAccessSignature "); got != want {
			t.Errorf("SAS\n got %s\nwant %s", got, want)
		}
	})

	for _, apiType := range []string{"azure_blob", ""} {
		t.Run("azure_blob/api_type="+apiType, func(t *testing.T) {
			m, now := post(apiType)
			sas, _ := m["azure_blob_sas"].(string)
			if len(m) != 1 || sas == "" {
				t.Fatalf("answer %v", m)
			}
			var names []string
			for _, kv := range strings.Split(sas, "&") {
				k, _, _ := strings.Cut(kv, "=")
				names = append(names, k)
			}
			if diff := cmp.Diff([]string{"st", "se", "sp", "sv", "sr", "sig"}, names); diff != "" {
				t.Errorf("SAS members (-want +got):\n%s", diff)
			}
			q, err := url.ParseQuery(sas)
			if err != nil {
				t.Fatal(err)
			}
			st, err1 := time.Parse(time.RFC3339, q.Get("st"))
			se, err2 := time.Parse(time.RFC3339, q.Get("se"))
			if err1 != nil || err2 != nil || se.Sub(st) != 5*time.Minute || st.Unix() < now-1 || st.Unix() > now+1 {
				t.Errorf("st %s, se %s: want now and now+5m", q.Get("st"), q.Get("se"))
			}
			if q.Get("sp") != "rl" || q.Get("sr") != "c" {
				t.Errorf("sp %q, sr %q; want rl, c", q.Get("sp"), q.Get("sr"))
			}
			// "Create a service SAS" (version 2020-12-06 and later): sp,
			// st, se, canonicalized resource, si, sip, spr, sv, sr,
			// snapshot time, encryption scope, rscc, rscd, rsce, rscl,
			// rsct; keyed with the decoded account key.
			key, _ := base64.StdEncoding.DecodeString(storageText)
			toSign := strings.Join([]string{q.Get("sp"), q.Get("st"), q.Get("se"), "/blob/deputydemo/uploads", "", "", "",
				q.Get("sv"), "c", "", "", "", "", "", "", ""}, "\n")
			if got, want := q.Get("sig"), sign(key, toSign); got != want {
				t.Errorf("sig %s, want %s", got, want)
			}
		})
	}
}

// TestConfigAddonSettings loads add-on settings whose secrets come from
// env: and file: (relative to the config file) and checks what reaches
// the store: resolved strings, everything else as written.
func TestConfigAddonSettings(t *testing.T) {
	dir := t.TempDir()
	fc := testConfig(t)
	var demo map[string]any
	for _, c := range fc.Clients {
		if c.ID == demoFB {
			json.Unmarshal(c.APITypes["firebase"], &demo)
		}
	}
	pemKey := demo["private_key"].(string)
	if err := os.WriteFile(filepath.Join(dir, "firebase.pem"), []byte(pemKey), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DEPUTY_TEST_SB_KEY", "c2VydmljZSBidXMga2V5IGZvciBkZXB1dHkgdGVzdHM=")
	doc := `{
  "issuer": "https://id.example.test/",
  "clients": [
    {"id": "app", "signing_alg": "HS256", "secrets": [{"id": "s1", "value": "text:0123456789abcdef0123456789abcdef"}]},
    {"id": "fb", "signing_alg": "HS256", "allowed_sources": ["app"],
     "secrets": [{"id": "s1", "value": "text:0123456789abcdef0123456789abcdef"}],
     "default_api_type": "firebase",
     "api_types": {
       "firebase": {"private_key_id": "k1", "private_key": "file:firebase.pem",
                    "client_email": "sa@p.iam.gserviceaccount.com", "lifetime_in_seconds": 600,
                    "project_id": "text:stays literal", "extra": {"nested": "env:NOT_RESOLVED"}},
       "azure_sb": {"namespace": "deputy-demo", "sasKeyName": "send", "sasKey": "env:DEPUTY_TEST_SB_KEY",
                    "entityPath": "orders"}
     }}
  ]
}`
	path := filepath.Join(dir, "deputy.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	hc, err := loadConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := hc.Store.Client(context.Background(), "fb")
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultAPIType != "firebase" {
		t.Errorf("DefaultAPIType %q", c.DefaultAPIType)
	}
	got := make(map[string]map[string]any)
	for name, raw := range c.APITypes {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got[name] = m
	}
	want := map[string]map[string]any{
		"firebase": {"private_key_id": "k1", "private_key": pemKey, "client_email": "sa@p.iam.gserviceaccount.com",
			"lifetime_in_seconds": 600.0, "project_id": "text:stays literal", "extra": map[string]any{"nested": "env:NOT_RESOLVED"}},
		"azure_sb": {"namespace": "deputy-demo", "sasKeyName": "send", "sasKey": "c2VydmljZSBidXMga2V5IGZvciBkZXB1dHkgdGVzdHM=", "entityPath": "orders"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings in the store (-want +got):\n%s", diff)
	}
}

// TestConfigAddonErrors checks that bad add-on settings are reported
// against their field, each add-on's Validate included, and that no
// secret, inline or resolved, appears in the error.
func TestConfigAddonErrors(t *testing.T) {
	const secret = "c2VjcmV0IHRoYXQgbXVzdCBuZXZlciBiZSBwcmludGVk" // base64 text, in several settings
	t.Setenv("DEPUTY_TEST_ADDON_SECRET", "not base64 "+secret+"\n")
	client := func(apiTypes string) string {
		return `{"issuer":"https://id.example.test/","clients":[
  {"id":"app","signing_alg":"HS256","secrets":[{"id":"s1","value":"text:0123456789abcdef0123456789abcdef"}]},
  {"id":"api","signing_alg":"HS256","allowed_sources":["app"],"secrets":[{"id":"s1","value":"text:0123456789abcdef0123456789abcdef"}],
   ` + apiTypes + `}]}`
	}
	for _, tc := range []struct {
		name, doc string
		want      []string // prefixes of the error's lines, in order
	}{
		{"unknown add-on", client(`"api_types":{"aws":{},"app":{}}`), []string{
			`config: clients[1].api_types.app: "app" is not an add-on deputy serves (azure_blob, azure_sb, firebase); the id_token needs no entry`,
			`config: clients[1].api_types.aws: "aws" is not an add-on deputy serves (azure_blob, azure_sb, firebase)`,
		}},
		{"default not enabled", client(`"api_types":{"azure_sb":{"namespace":"deputy-ns","sasKeyName":"k","sasKey":"` + secret + `","entityPath":"q"}},"default_api_type":"firebase"`), []string{
			`config: clients[1].default_api_type: "firebase" is not enabled in api_types (enabled: azure_sb); leave it out for the id_token`,
		}},
		{"default without api_types", client(`"default_api_type":"app"`), []string{
			`config: clients[1].default_api_type: "app" is not enabled in api_types (enabled: none)`,
		}},
		{"firebase: bad key, no email", client(`"api_types":{"firebase":{"private_key_id":"k1","private_key":"-----BEGIN PRIVATE KEY-----\n` + secret + `\n-----END PRIVATE KEY-----\n"}}`), []string{
			`config: clients[1].api_types.firebase: settings: client_email: missing`,
			`config: clients[1].api_types.firebase: settings: private_key: `,
		}},
		{"firebase: not an object", client(`"api_types":{"firebase":"` + secret + `"}`), []string{
			`config: clients[1].api_types.firebase: settings: must be a JSON object`,
		}},
		{"azure_sb: missing key", client(`"api_types":{"azure_sb":{"namespace":"deputy-ns","sasKeyName":"k","entityPath":"q"}}`), []string{
			`config: clients[1].api_types.azure_sb: settings field "sasKey" `,
		}},
		{"azure_sb: resolved key invalid", client(`"api_types":{"azure_sb":{"namespace":"deputy-ns","sasKeyName":"k","sasKey":"env:DEPUTY_TEST_ADDON_SECRET","entityPath":"q"}}`), []string{
			`config: clients[1].api_types.azure_sb: settings field "sasKey" `,
		}},
		{"azure_blob: no permission", client(`"api_types":{"azure_blob":{"accountName":"acct1","storageAccessKey":"` + secret + `","containerName":"c1c"}}`), []string{
			`config: clients[1].api_types.azure_blob: settings field "container_read" `,
		}},
		{"env and file unresolved", client(`"api_types":{"azure_blob":{"accountName":"acct1","storageAccessKey":"file:no-such.key","containerName":"c1c","container_read":true},
     "azure_sb":{"namespace":"deputy-ns","sasKeyName":"k","sasKey":"env:DEPUTY_TEST_UNSET_VAR","entityPath":"q"}}`), []string{
			`config: clients[1].api_types.azure_blob.storageAccessKey: open no-such.key: no such file or directory`,
			`config: clients[1].api_types.azure_sb.sasKey: environment variable "DEPUTY_TEST_UNSET_VAR" is not set`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.doc), "")
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) < len(tc.want) {
				t.Fatalf("error lines:\n%s\nwant at least %d", err, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d:\n %s\nwant prefix\n %s", i, lines[i], w)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("the error shows a secret:\n%s", err)
			}
		})
	}
}

// TestSettingsProblem checks the last guard on add-on messages: the
// add-on's name prefix goes, and a message quoting a setting is withheld.
func TestSettingsProblem(t *testing.T) {
	values := []string{"short", "a-long-secret-value"}
	for msg, want := range map[string]string{
		"azure_sb: settings field \"sasKey\" is required": `settings field "sasKey" is required`,
		"settings: private_key: missing":                  "settings: private_key: missing",
		"azure_sb: bad key a-long-secret-value":           "invalid settings (the add-on's message quoted a setting, so it is withheld)",
		"azure_sb: short":                                 "short", // too short to be a secret worth hiding
	} {
		if got := settingsProblem("azure_sb", msg, values); got != want {
			t.Errorf("settingsProblem(%q) = %q, want %q", msg, got, want)
		}
	}
}
