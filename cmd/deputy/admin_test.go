package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/store"
	"github.com/deputyauth/deputy/store/postgres"
	"github.com/deputyauth/deputy/store/postgres/pgtest"
)

// TestMain stops the throwaway PostgreSQL server pgtest may start.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// adminEnv is a fresh database with an encryption key file, and the admin
// commands run in-process against it.
type adminEnv struct {
	dsnRef  string // --store: file:PATH, so that no DSN sits in argv
	keyFile string
	dir     string
}

func newAdminEnv(t testing.TB) *adminEnv {
	t.Helper()
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	e := &adminEnv{dir: dir, dsnRef: "file:" + filepath.Join(dir, "dsn"), keyFile: filepath.Join(dir, "keys")}
	if err := os.WriteFile(filepath.Join(dir, "dsn"), []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The key file is made as an operator would: deputy store new-encryption-key.
	var key bytes.Buffer
	if code := runAdmin(t.Context(), "store", []string{"new-encryption-key", "--id", "k1"}, nil, &key, os.Stderr); code != exitOK {
		t.Fatalf("new-encryption-key: exit %d", code)
	}
	if err := os.WriteFile(e.keyFile, key.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// result is one admin command's outcome.
type result struct {
	code           int
	stdout, stderr string
}

// run runs "deputy noun verb --store … --encryption-key-file … args…"
// with stdin.
func (e *adminEnv) run(t testing.TB, stdin string, noun, verb string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{verb, "--store", e.dsnRef, "--encryption-key-file", e.keyFile}, args...)
	code := runAdmin(t.Context(), noun, all, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// must runs a command that has to succeed and returns its stdout.
func (e *adminEnv) must(t testing.TB, stdin string, noun, verb string, args ...string) string {
	t.Helper()
	r := e.run(t, stdin, noun, verb, args...)
	if r.code != exitOK {
		t.Fatalf("deputy %s %s %v: exit %d\n%s", noun, verb, args, r.code, r.stderr)
	}
	return r.stdout
}

// open opens the store as a server would (its own cache), for checking
// what the commands did.
func (e *adminEnv) open(t testing.TB) *postgres.Store {
	t.Helper()
	sf := storeFlags{dsn: e.dsnRef, keyFile: e.keyFile}
	st, err := sf.open(t.Context(), &sharedConfig{cacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// TestAdminClients puts clients from JSON on stdin and from flags, lists,
// disables, enables and deletes them, and checks the store after each.
func TestAdminClients(t *testing.T) {
	e := newAdminEnv(t)
	ctx := t.Context()
	e.must(t, "", "key", "generate", "--alg", "EdDSA")

	// An HS256 client from flags, with a generated secret printed once.
	out := e.must(t, "", "client", "put", "--id", "app", "--signing-alg", "HS256",
		"--grant", "urn:ietf:params:oauth:grant-type:jwt-bearer", "--allowed-source", "app", "--generate-secret")
	// The printed text is the secret itself: 32 random bytes in base64url.
	secret := strings.TrimSpace(out)
	raw := []byte(secret)
	if b, err := decodeSecret("base64url:"+secret, ""); err != nil || len(b) != 32 || len(raw) != 43 {
		t.Fatalf("generated secret %q: %d characters encoding %d bytes, %v", secret, len(raw), len(b), err)
	}
	// An EdDSA client from the config's client format on stdin; a flag
	// overrides its name.
	api := `{"id": "api", "name": "from json", "signing_alg": "EdDSA", "allowed_sources": ["app", "later"], "lifetime": "1h", "scopes": ["openid", "email"]}`
	r := e.run(t, api, "client", "put", "--file", "-", "--name", "The API")
	if r.code != exitOK || !strings.Contains(r.stderr, `allowed_sources[1]: "later" is not a client in the store (yet)`) {
		t.Fatalf("client put: exit %d, stderr %s", r.code, r.stderr)
	}

	st := e.open(t)
	got, err := st.Client(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	want := &store.Client{ID: "api", Name: "The API", SigningAlg: "EdDSA", AllowedSources: []string{"app", "later"},
		Lifetime: time.Hour, Scopes: []string{"openid", "email"}}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("api (-want +got):\n%s", diff)
	}
	app, err := st.Client(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(app.Secrets) != 1 || !bytes.Equal(app.Secrets[0].Value, raw) {
		t.Fatalf("app's secrets %v do not hold the printed one", app.Secrets)
	}

	// Putting app again without secrets keeps its secret.
	e.must(t, "", "client", "put", "--id", "app", "--signing-alg", "HS256", "--name", "renamed", "--allowed-source", "app")
	if app, err = st.Client(ctx, "app"); err != nil || app.Name != "renamed" || len(app.Secrets) != 1 || !bytes.Equal(app.Secrets[0].Value, raw) {
		t.Fatalf("app after a put without secrets: %+v, %v", app, err)
	}

	list := e.must(t, "", "client", "list", "--json")
	var listing struct{ Clients []clientListing }
	if err := json.Unmarshal([]byte(list), &listing); err != nil {
		t.Fatal(err)
	}
	wantList := []clientListing{
		{ID: "api", Name: "The API", SigningAlg: "EdDSA", AllowedSources: []string{"app", "later"}, Lifetime: "3600s", Scopes: []string{"openid", "email"}},
		{ID: "app", Name: "renamed", SigningAlg: "HS256", AllowedSources: []string{"app"}, Secrets: []secretListing{{ID: app.Secrets[0].ID}}},
	}
	if diff := cmp.Diff(wantList, listing.Clients); diff != "" {
		t.Errorf("client list --json (-want +got):\n%s", diff)
	}
	if strings.Contains(list, secret) {
		t.Error("client list prints a secret")
	}
	// What the shared store cannot keep is refused, not dropped.
	r = e.run(t, `{"id": "jwt", "signing_alg": "EdDSA", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}}`, "client", "put", "--file", "-")
	if r.code != exitUsage || !strings.Contains(r.stderr, "not kept by the shared store") {
		t.Errorf("client put with private_key_jwt: exit %d, %s", r.code, r.stderr)
	}
	table := e.must(t, "", "client", "list")
	if !regexp.MustCompile(`(?m)^api\s+EdDSA\s+enabled\s+-\s+app,later\s+The API$`).MatchString(table) {
		t.Errorf("client list table:\n%s", table)
	}

	e.must(t, "", "client", "disable", "--id", "api")
	if c, _ := st.Client(ctx, "api"); !c.Disabled {
		t.Error("api not disabled")
	}
	e.must(t, "", "client", "enable", "--id", "api")
	if c, _ := st.Client(ctx, "api"); c.Disabled {
		t.Error("api not enabled again")
	}
	e.must(t, "", "client", "delete", "--id", "api")
	if _, err := st.Client(ctx, "api"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("api after delete: %v", err)
	}
	if r := e.run(t, "", "client", "disable", "--id", "api"); r.code != exitNotFound {
		t.Errorf("disabling a deleted client: exit %d, want %d", r.code, exitNotFound)
	}
}

// TestAdminSecrets adds generated and given secrets and expires one.
func TestAdminSecrets(t *testing.T) {
	e := newAdminEnv(t)
	ctx := t.Context()
	e.must(t, "", "client", "put", "--id", "api", "--signing-alg", "HS384", "--allowed-source", "*", "--generate-secret")

	gen := strings.TrimSpace(e.must(t, "", "secret", "add", "--client", "api", "--id", "gen"))
	// The printed text is the secret: 48 random bytes (HS384's minimum)
	// in base64url, 64 characters.
	if b, err := decodeSecret("base64url:"+gen, ""); err != nil || len(b) != 48 || len(gen) != 64 {
		t.Fatalf("a generated HS384 secret is %d characters encoding %d bytes (%v), want 64 and 48", len(gen), len(b), err)
	}
	genRaw := []byte(gen)
	given := strings.Repeat("s", 48)
	if out := e.must(t, given, "secret", "add", "--client", "api", "--id", "given", "--value", "-"); out != "" {
		t.Errorf("a given secret was printed: %q", out)
	}
	path := filepath.Join(e.dir, "secret")
	os.WriteFile(path, []byte(strings.Repeat("f", 48)), 0o600)
	e.must(t, "", "secret", "add", "--client", "api", "--id", "from-file", "--value", "file:"+path, "--not-after", "2999-01-01T00:00:00Z")
	e.must(t, "", "secret", "expire", "--client", "api", "--id", "gen", "--at", "2001-01-01T00:00:00Z")

	st := e.open(t)
	c, err := st.Client(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	type sec struct {
		ID, Value string
		NotAfter  time.Time
	}
	var got []sec
	for _, s := range c.Secrets[:3] {
		got = append(got, sec{s.ID, string(s.Value), s.NotAfter.UTC()})
	}
	want := []sec{
		{"from-file", strings.Repeat("f", 48), time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"given", given, time.Time{}},
		{"gen", string(genRaw), time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("secrets, newest first (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"literal on the command line", "", []string{"--client", "api", "--value", "text:" + strings.Repeat("x", 48)}, exitUsage,
			"--value: want - (stdin), env:NAME or file:PATH; a secret on the command line is visible to every user of the machine"},
		{"too short", "short", []string{"--client", "api", "--value", "-"}, exitUsage, "--value: 5 bytes; HS384 needs at least 48"},
		{"unknown client", "", []string{"--client", "ghost"}, exitNotFound, "not found"},
		{"no client", "", nil, exitUsage, "--client required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(t, tc.stdin, "secret", "add", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", r.code, r.stdout, r.stderr, tc.code, tc.msg)
			}
		})
	}
}

// TestAdminKeys stages, retires and removes keys and checks the schedule.
func TestAdminKeys(t *testing.T) {
	e := newAdminEnv(t)
	ctx := t.Context()
	old := strings.TrimSpace(e.must(t, "", "key", "generate", "--alg", "ES256", "--kid", "es-old"))
	next := strings.TrimSpace(e.must(t, "", "key", "generate", "--alg", "ES256", "--kid", "es-next", "--sign-in", "1h"))
	if old != "es-old" || next != "es-next" {
		t.Fatalf("kids printed: %q, %q", old, next)
	}
	st := e.open(t)
	if k, err := st.SigningKey(ctx, "ES256"); err != nil || k.KeyID != "es-old" {
		t.Fatalf("signing key before the staged one starts: %v, %v", k, err)
	}
	if r := e.run(t, "", "key", "remove", "--kid", "es-old"); r.code != exitUsage || !strings.Contains(r.stderr, "still signs") {
		t.Fatalf("removing a signing key: exit %d, %s", r.code, r.stderr)
	}
	e.must(t, "", "key", "retire", "--kid", "es-old")
	if _, err := st.SigningKey(ctx, "ES256"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("signing key after retiring the only one in its window: %v", err)
	}
	if ks, err := st.VerificationKeys(ctx, "es-old"); err != nil || len(ks) != 1 {
		t.Fatalf("a retired key left the JWKS: %v, %v", ks, err)
	}
	table := e.must(t, "", "key", "list")
	for _, re := range []string{`(?m)^es-old\s+ES256\s+retired\s`, `(?m)^es-next\s+ES256\s+staged\s`} {
		if !regexp.MustCompile(re).MatchString(table) {
			t.Errorf("key list does not match %s:\n%s", re, table)
		}
	}
	e.must(t, "", "key", "remove", "--kid", "es-old")
	if _, err := st.VerificationKeys(ctx, "es-old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a removed key is still published: %v", err)
	}
	if r := e.run(t, "", "key", "remove", "--kid", "es-old"); r.code != exitNotFound {
		t.Errorf("removing it again: exit %d", r.code)
	}
	if r := e.run(t, "", "key", "generate", "--alg", "HS256"); r.code != exitUsage {
		t.Errorf("generate HS256: exit %d", r.code)
	}
	e.must(t, "", "key", "remove", "--kid", "es-next", "--force")
}

// TestAdminGrants stores a profile, issues refresh grants and revokes them
// by token and by hash.
func TestAdminGrants(t *testing.T) {
	e := newAdminEnv(t)
	ctx := t.Context()
	e.must(t, "", "client", "put", "--id", "app", "--signing-alg", "HS256", "--allowed-source", "app", "--generate-secret")
	e.must(t, `{"name": "Ada", "email_verified": true}`, "profile", "put", "--subject", "auth0|ada", "--file", "-")

	r := e.run(t, "", "grant", "issue", "--client", "app", "--subject", "auth0|ada", "--scope", "openid profile", "--expires-at", "2999-01-01T00:00:00Z")
	if r.code != exitOK {
		t.Fatalf("grant issue: %d %s", r.code, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	hash := sha256.Sum256([]byte(tok))
	if err := checkToken(tok); err != nil || !strings.Contains(r.stderr, hex.EncodeToString(hash[:])) {
		t.Fatalf("token %q (%v); stderr %s does not name its hash", tok, err, r.stderr)
	}
	st := e.open(t)
	g, err := st.RefreshToken(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	want := &store.RefreshGrant{ClientID: "app", Subject: "auth0|ada", Scope: []string{"openid", "profile"}, ExpiresAt: time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)}
	if diff := cmp.Diff(want, g, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("grant (-want +got):\n%s", diff)
	}
	p, err := st.Profile(ctx, "auth0|ada")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(claims.Set{"name": "Ada", "email_verified": true}, p); diff != "" {
		t.Errorf("profile (-want +got):\n%s", diff)
	}

	// Revoke by the token, on stdin as grant issue printed it.
	e.must(t, tok+"\n", "grant", "revoke", "--token", "-")
	if g, err := st.RefreshToken(ctx, hash); err != nil || !g.Revoked {
		t.Fatalf("after revoke: %+v, %v", g, err)
	}
	// And by the hash.
	tok2 := strings.TrimSpace(e.must(t, "", "grant", "issue", "--client", "app", "--subject", "auth0|ada", "--scope", "openid"))
	h2 := sha256.Sum256([]byte(tok2))
	e.must(t, "", "grant", "revoke", "--hash", hex.EncodeToString(h2[:]))
	if g, err := st.RefreshToken(ctx, h2); err != nil || !g.Revoked {
		t.Fatalf("after revoke --hash: %+v, %v", g, err)
	}

	for _, tc := range []struct {
		name, stdin, noun, verb string
		args                    []string
		code                    int
		msg                     string
	}{
		{"unknown grant", "", "grant", "revoke", []string{"--hash", strings.Repeat("0", 64)}, exitNotFound, "not found"},
		{"token on the command line", "", "grant", "revoke", []string{"--token", tok}, exitUsage, "--token: want - (stdin), env:NAME or file:PATH"},
		{"both", "", "grant", "revoke", []string{"--token", "-", "--hash", "00"}, exitUsage, "give exactly one of --token and --hash"},
		{"unknown scope", "", "grant", "issue", []string{"--client", "app", "--subject", "s", "--scope", "openid wallet"}, exitUsage, `--scope: "wallet" is not a known scope`},
		{"unknown client", "", "grant", "issue", []string{"--client", "ghost", "--subject", "s", "--scope", "openid"}, exitNotFound, "not found"},
		{"owned claim", "", "profile", "put", []string{"--subject", "s", "--claims", `{"sub": "x", "name": "y"}`}, exitUsage, "claims.sub: is a claim deputy sets itself"},
		{"not an object", "", "profile", "put", []string{"--subject", "s", "--claims", `[1]`}, exitUsage, "claims: must be an object of claims"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(t, tc.stdin, tc.noun, tc.verb, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", r.code, r.stdout, r.stderr, tc.code, tc.msg)
			}
		})
	}
	// A grant for a subject without a profile is issued with a warning.
	r = e.run(t, "", "grant", "issue", "--client", "app", "--subject", "nobody", "--scope", "openid")
	if r.code != exitOK || !strings.Contains(r.stderr, `warning: "nobody" has no profile`) {
		t.Errorf("grant without a profile: exit %d, %s", r.code, r.stderr)
	}
}

// TestAdminUsage checks invocations refused before the store is touched.
func TestAdminUsage(t *testing.T) {
	dir := t.TempDir()
	badKeys := filepath.Join(dir, "bad")
	os.WriteFile(badKeys, []byte("# comment\nk1:AAAA\nk1:"+strings.Repeat("A", 43)+"\nnocolon\n"), 0o600)
	t.Setenv(envStore, "")
	os.Unsetenv(envStore)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no verb", []string{}, exitUsage, "usage: deputy client delete|disable|enable|list|put [flags]"},
		{"unknown verb", []string{"rename"}, exitUsage, `deputy client: unknown command "rename" (want delete, disable, enable, list, put)`},
		{"no store", []string{"list", "--encryption-key-file", badKeys}, exitUsage, "no store: give --store or set DEPUTY_STORE"},
		{"password in --store", []string{"list", "--store", "postgres://u:pw@localhost/db"}, exitUsage, "the URL holds a password"},
		{"bad key file", []string{"list", "--store", "postgres://localhost/db", "--encryption-key-file", badKeys}, exitUsage,
			badKeys + " line 2: key \"k1\": 3 bytes; AES-256 needs 32\n" + badKeys + " line 4: want id:base64key"},
		{"missing id", []string{"disable", "--store", "postgres://localhost/db"}, exitUsage, "--id required"},
		{"positional", []string{"disable", "api"}, exitUsage, `unexpected argument "api"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runAdmin(context.Background(), "client", tc.args, strings.NewReader(""), &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errb.String(), tc.code, tc.msg)
			}
		})
	}
}

// TestAdminStoreFromEnvironment runs a command with neither --store nor
// --encryption-key-file: DEPUTY_STORE and DEPUTY_ENCRYPTION_KEYS stand in.
func TestAdminStoreFromEnvironment(t *testing.T) {
	e := newAdminEnv(t)
	e.must(t, "", "client", "put", "--id", "app", "--signing-alg", "HS256", "--allowed-source", "app", "--generate-secret")
	dsn, err := os.ReadFile(strings.TrimPrefix(e.dsnRef, "file:"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := os.ReadFile(e.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envStore, strings.TrimSpace(string(dsn)))
	t.Setenv(envEncryptionKeys, string(keys))
	var out, errb bytes.Buffer
	if code := runAdmin(t.Context(), "client", []string{"list"}, strings.NewReader(""), &out, &errb); code != exitOK || !strings.Contains(out.String(), "\napp ") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}
