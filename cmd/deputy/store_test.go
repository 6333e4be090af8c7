package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deputyauth/deputy/engine"
)

// replica is one "deputy serve" over the shared store, run in-process
// through run() with its own store.Open, cache, listener and engine.
type replica struct {
	url string
	log *syncBuffer
}

// startReplica runs "deputy serve args… --addr 127.0.0.1:0" until the
// test ends.
func startReplica(t *testing.T, args ...string) *replica {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append(append([]string{"serve"}, args...), "--addr", "127.0.0.1:0"), io.Discard, logs)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("deputy serve exited with %d:\n%s", code, logs.String())
		}
	})
	m := logs.waitFor(t, listeningRE, 30*time.Second)
	return &replica{url: m[1], log: logs}
}

// delegate sends a seed delegation with an id_token or a refresh token.
func (r *replica) delegate(t *testing.T, body string) (status int, m map[string]any) {
	t.Helper()
	rep := do(t, http.MethodPost, r.url+pathDelegation, "application/json", body, nil)
	return rep.status, rep.members(t)
}

// eventually polls cond until it holds, for at most 10s: longer than the
// store's default cache TTL (5s), the bound when a change notification is
// lost.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// refused reports whether a reply is the error code with no token in it.
func refused(t *testing.T, status int, m map[string]any, code string) bool {
	t.Helper()
	if _, ok := m["id_token"]; ok && status != http.StatusOK {
		t.Fatalf("a %d answer carries an id_token: %v", status, m)
	}
	return status >= 400 && m["error"] == code && m["id_token"] == nil && m["access_token"] == nil
}

// TestReplicasOverOneStore runs two deputy serve replicas over one
// database, changes the store through the admin commands, and checks that
// both honour each change, and that a one-time token is one-time across
// both.
func TestReplicasOverOneStore(t *testing.T) {
	e := newAdminEnv(t)
	ctx := t.Context()
	jwtBearer := engine.GrantTypeJWTBearer
	e.must(t, "", "key", "generate", "--alg", "EdDSA", "--kid", "ed-1")
	e.must(t, "", "client", "put", "--id", "app", "--signing-alg", "HS256", "--grant", jwtBearer,
		"--allowed-source", "app", "--generate-secret")
	e.must(t, "", "client", "put", "--id", "api", "--signing-alg", "EdDSA", "--allowed-source", "app")
	e.must(t, "", "profile", "put", "--subject", "auth0|ada", "--claims", `{"name": "Ada"}`)
	rt := strings.TrimSpace(e.must(t, "", "grant", "issue", "--client", "app", "--subject", "auth0|ada", "--scope", "openid profile"))

	// The host settings in a file, the records in the database. The two
	// replicas read the same file, as two processes of one deployment do.
	conf := filepath.Join(e.dir, "deputy.json")
	doc, _ := json.Marshal(map[string]any{
		"issuer": testIssuer, "store": e.dsnRef, "encryption_keys": "file:" + e.keyFile, "replay": true,
	})
	if err := os.WriteFile(conf, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	a := startReplica(t, "--config", conf)
	b := startReplica(t, "--config", conf)
	replicas := []*replica{a, b}

	st := e.open(t)
	app, err := st.Client(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	idToken := func() string {
		tok, err := mintSourceToken(ctx, st, testIssuer, app, "auth0|ada", map[string]any{"name": "Ada"}, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	idBody := func(tok string) string { return seedBody("app", tok, "api", "openid profile", "app") }
	rtBody := refreshBody("app", rt, "api", "openid profile")

	// kidOf checks a minted EdDSA token against the JWKS of every replica
	// and returns its kid.
	kidOf := func(m map[string]any) string {
		t.Helper()
		tok, _ := m["id_token"].(string)
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			t.Fatalf("minted token %q: %v", tok, err)
		}
		kid := jws.Signatures[0].Header.KeyID
		for _, r := range replicas {
			set, _ := fetchJWKS(t, r.url)
			ks := set.Key(kid)
			if len(ks) != 1 {
				t.Fatalf("kid %q is not in the JWKS of %s", kid, r.url)
			}
			if _, err := jws.Verify(ks[0]); err != nil {
				t.Fatalf("token does not verify with %s's JWKS: %v", r.url, err)
			}
		}
		return kid
	}

	t.Run("one-time across replicas", func(t *testing.T) {
		tok := idToken()
		status, m := a.delegate(t, idBody(tok))
		if status != http.StatusOK || kidOf(m) != "ed-1" {
			t.Fatalf("first use on A: %d %v", status, m)
		}
		if status, m := b.delegate(t, idBody(tok)); !refused(t, status, m, engine.CodeInvalidGrant) {
			t.Fatalf("second use on B: %d %v", status, m)
		}
		// 20 concurrent uses of one fresh token, split across both.
		tok = idToken()
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[int]int{}
		)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep := do(t, http.MethodPost, replicas[i%2].url+pathDelegation, "application/json", idBody(tok), nil)
				mu.Lock()
				statuses[rep.status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if diff := cmp.Diff(map[int]int{http.StatusOK: 1, http.StatusBadRequest: 19}, statuses); diff != "" {
			t.Errorf("statuses of 20 concurrent uses (-want +got):\n%s", diff)
		}
	})

	t.Run("revoke a refresh grant", func(t *testing.T) {
		for _, r := range replicas {
			if status, m := r.delegate(t, rtBody); status != http.StatusOK || m["id_token"] == nil {
				t.Fatalf("refresh token on %s before revoking: %d %v", r.url, status, m)
			}
		}
		h := sha256.Sum256([]byte(rt))
		e.must(t, "", "grant", "revoke", "--hash", hex.EncodeToString(h[:]))
		for _, r := range replicas {
			eventually(t, "revoked grant refused by "+r.url, func() bool {
				status, m := r.delegate(t, rtBody)
				return refused(t, status, m, engine.CodeInvalidGrant)
			})
		}
	})

	t.Run("disable a client", func(t *testing.T) {
		e.must(t, "", "client", "disable", "--id", "api")
		for _, r := range replicas {
			eventually(t, "disabled target refused by "+r.url, func() bool {
				status, m := r.delegate(t, idBody(idToken()))
				return refused(t, status, m, engine.CodeInvalidTarget)
			})
		}
		e.must(t, "", "client", "enable", "--id", "api")
		for _, r := range replicas {
			eventually(t, "enabled target served by "+r.url, func() bool {
				status, _ := r.delegate(t, idBody(idToken()))
				return status == http.StatusOK
			})
		}
	})

	t.Run("rotate a key", func(t *testing.T) {
		e.must(t, "", "key", "generate", "--alg", "EdDSA", "--kid", "ed-2")
		e.must(t, "", "key", "retire", "--kid", "ed-1")
		for _, r := range replicas {
			eventually(t, "ed-2 signing on "+r.url, func() bool {
				status, m := r.delegate(t, idBody(idToken()))
				return status == http.StatusOK && kidOf(m) == "ed-2"
			})
			// Retired, not removed: still published.
			if set, _ := fetchJWKS(t, r.url); len(set.Key("ed-1")) != 1 {
				t.Fatalf("retired ed-1 left %s's JWKS", r.url)
			}
		}
		e.must(t, "", "key", "remove", "--kid", "ed-1")
		for _, r := range replicas {
			eventually(t, "ed-1 gone from "+r.url+"'s JWKS", func() bool {
				set, _ := fetchJWKS(t, r.url)
				return len(set.Key("ed-1")) == 0 && len(set.Key("ed-2")) == 1
			})
		}
	})

	// Each replica opened its own store: two listeners on the database.
	for _, r := range replicas {
		if !strings.Contains(r.log.String(), "deputy: serving") {
			t.Errorf("%s logged no start:\n%s", r.url, r.log.String())
		}
	}
}

// TestServeStoreFlags checks deputy serve's store flags and config fields
// refused before anything listens.
func TestServeStoreFlags(t *testing.T) {
	dir := t.TempDir()
	withClients := filepath.Join(dir, "with-clients.json")
	os.WriteFile(withClients, []byte(`{"issuer": "https://id.example.test/", "store": "env:DEPUTY_TEST_UNSET_DSN",
  "encryption_keys": "text:abc", "store_cache_ttl": "0s",
  "clients": [{"id": "a", "signing_alg": "HS256"}], "profiles": {"u": {}}}`), 0o600)
	noStore := filepath.Join(dir, "no-store.json")
	os.WriteFile(noStore, []byte(`{"issuer": "https://id.example.test/", "encryption_keys": "env:X"}`), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want []string // lines of stderr
	}{
		{"store without issuer", []string{"--store", "postgres://localhost/db"},
			[]string{"deputy serve: --store without --config needs --issuer"}},
		{"issuer with config", []string{"--store", "postgres://localhost/db", "--config", noStore, "--issuer", "https://x/"},
			[]string{"deputy serve: with --config, the issuer comes from the config file; drop --issuer"}},
		{"demo and store", []string{"--demo", "--store", "postgres://localhost/db"},
			[]string{"deputy serve: give exactly one of --demo and --config (or --store)"}},
		{"key file without store", []string{"--demo", "--encryption-key-file", "k"},
			[]string{"deputy serve: --encryption-key-file and --issuer go with --store"}},
		{"password on the command line", []string{"--store", "postgres://u:secret@localhost/db", "--issuer", "https://x/"},
			[]string{"config: --store: the URL holds a password, which the process list shows to every user: give the DSN as env:NAME or file:PATH, or the password in PGPASSWORD or ~/.pgpass"}},
		{"records in a store config", []string{"--config", withClients}, []string{
			`config: clients: with "store", these live in the database (deputy client put); remove them from the file`,
			`config: profiles: with "store", these live in the database (deputy profile put); remove them from the file`,
			`config: store: environment variable "DEPUTY_TEST_UNSET_DSN" is not set`,
			`config: encryption_keys: must be "env:NAME" or "file:PATH" (a file of id:base64key lines), never the keys themselves`,
			`config: store_cache_ttl: "0s" must be positive; "off" is not supported: every request would query the database`,
		}},
		{"keys without store", []string{"--config", noStore}, []string{"config: store: required with encryption_keys and store_cache_ttl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errb syncBuffer
			code := run(t.Context(), append([]string{"serve"}, tc.args...), io.Discard, &errb)
			got := strings.Split(strings.TrimSpace(errb.String()), "\n")
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTokenRefusesStoreConfig checks that deputy token, which reads
// clients from the file, says so for a config naming a store.
func TestTokenRefusesStoreConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(path, []byte(`{"issuer": "https://id.example.test/", "store": "postgres://localhost/db"}`), 0o600)
	var errb syncBuffer
	code := run(t.Context(), []string{"token", "--config", path, "--client", "a", "--sub", "u"}, io.Discard, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "config: store: this command reads clients and keys from the file") {
		t.Errorf("exit %d, stderr %s", code, errb.String())
	}
}

// TestParseEncryptionKeys checks the key file format.
func TestParseEncryptionKeys(t *testing.T) {
	k := func(b byte) string { return strings.Repeat(string(rune('A'+b)), 43) }
	keys, active, err := parseEncryptionKeys("# rotation: new first\nk2:"+k(1)+"=\n\n k1:"+k(0)+" , k0:"+k(2)+"\n", "f")
	if err != nil {
		t.Fatal(err)
	}
	ids := slices.Sorted(maps.Keys(keys))
	if active != "k2" || fmt.Sprint(ids) != "[k0 k1 k2]" || len(keys["k1"]) != 32 {
		t.Errorf("active %q, ids %v", active, ids)
	}
	for _, tc := range []struct{ data, want string }{
		{"", "f: no keys (one id:base64key a line; make one with: deputy store new-encryption-key)"},
		{"k1:" + k(0) + "\nk1:" + k(1), `f line 2: key id "k1" repeated`},
		{"bad id!:" + k(0), `f line 1: key id "bad id!": want 1 to 64 letters, digits, '.', '_' or '-'`},
		{"k1:***", `f line 1: key "k1": not valid base64`},
	} {
		if _, _, err := parseEncryptionKeys(tc.data, "f"); err == nil || err.Error() != tc.want {
			t.Errorf("%q: error %v, want %q", tc.data, err, tc.want)
		}
	}
}

// TestServeWrongEncryptionKey checks that deputy serve refuses at start a
// key that is not the one the database's rows were sealed with.
func TestServeWrongEncryptionKey(t *testing.T) {
	e := newAdminEnv(t)
	e.must(t, "", "client", "put", "--id", "app", "--signing-alg", "HS256", "--allowed-source", "app", "--generate-secret")
	var other strings.Builder
	if code := runAdmin(t.Context(), "store", []string{"new-encryption-key", "--id", "k1"}, nil, &other, io.Discard); code != exitOK {
		t.Fatal(code)
	}
	wrong := filepath.Join(e.dir, "wrong-keys")
	if err := os.WriteFile(wrong, []byte(other.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var errb syncBuffer
	code := run(t.Context(), []string{"serve", "--store", e.dsnRef, "--issuer", testIssuer, "--encryption-key-file", wrong, "--addr", "127.0.0.1:0"}, io.Discard, &errb)
	if code != exitFailure || !strings.Contains(errb.String(), "opening the store") || strings.Contains(errb.String(), "listening") {
		t.Errorf("exit %d, stderr %s", code, errb.String())
	}
	if r := e.run(t, "", "client", "list"); r.code != exitOK {
		t.Errorf("the right key no longer opens the store: %s", r.stderr)
	}
}

// TestReloadSharedStore checks what a reload (SIGHUP) of a config naming a
// store does: new host settings over the store opened at start; another
// store, or file clients in its place, refused.
func TestReloadSharedStore(t *testing.T) {
	e := newAdminEnv(t)
	conf := filepath.Join(e.dir, "deputy.json")
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := `"issuer": "https://id.example.test/", "encryption_keys": "file:` + e.keyFile + `"`
	write(`{` + base + `, "store": "` + e.dsnRef + `", "lifetime": "1h"}`)
	var f serveStoreFlags
	cur, closeStore, err := f.loadHost(t.Context(), conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeStore)

	write(`{` + base + `, "store": "` + e.dsnRef + `", "lifetime": "2h", "replay": true}`)
	next, err := f.reloadHost(conf, cur)
	if err != nil {
		t.Fatal(err)
	}
	if next.Store != cur.Store || next.Lifetime != 2*time.Hour || !next.Replay {
		t.Errorf("reloaded: same store %v, lifetime %v, replay %v", next.Store == cur.Store, next.Lifetime, next.Replay)
	}
	for _, doc := range []string{
		`{` + base + `, "store": "env:DEPUTY_TEST_OTHER_DSN"}`,
		`{"issuer": "https://id.example.test/", "clients": []}`,
	} {
		t.Setenv("DEPUTY_TEST_OTHER_DSN", "postgres://elsewhere/db")
		write(doc)
		if _, err := f.reloadHost(conf, cur); err == nil || err.Error() != "config: store: changed: switching stores or their encryption keys needs a restart" {
			t.Errorf("reload to %s: %v", doc, err)
		}
	}
}
