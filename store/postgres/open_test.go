package postgres_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
	"github.com/deputyauth/deputy/store/postgres"
	"github.com/deputyauth/deputy/store/postgres/pgtest"
)

func TestOpenRefusesBadConfig(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	k := newKey()
	for _, tc := range []struct {
		name string
		cfg  postgres.Config
		want []string // each must appear in the error
	}{
		{"NoKeys", postgres.Config{}, []string{"EncryptionKeys is empty", "ActiveKey is empty"}},
		{"NoActiveKey", postgres.Config{EncryptionKeys: map[string][]byte{"k1": k}}, []string{"ActiveKey is empty"}},
		{"ActiveKeyMissing", postgres.Config{EncryptionKeys: map[string][]byte{"k1": k}, ActiveKey: "k2"}, []string{`ActiveKey "k2" is not in EncryptionKeys`}},
		{"ShortKey", postgres.Config{EncryptionKeys: map[string][]byte{"k1": k[:16]}, ActiveKey: "k1"}, []string{`"k1" is 16 bytes, want 32`}},
		{"LongKey", postgres.Config{EncryptionKeys: map[string][]byte{"k1": append(k, 0)}, ActiveKey: "k1"}, []string{`"k1" is 33 bytes, want 32`}},
		{"EmptyKeyID", postgres.Config{EncryptionKeys: map[string][]byte{"": k, "k1": k}, ActiveKey: "k1"}, []string{`key id "" must be 1 to 64 bytes`}},
		{"AllAtOnce", postgres.Config{EncryptionKeys: map[string][]byte{"k1": k[:31], "k2": nil}, ActiveKey: "k3"},
			[]string{`"k1" is 31 bytes`, `"k2" is 0 bytes`, `ActiveKey "k3"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.Open(t.Context(), dsn, tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, postgres.ErrConfig) {
				t.Errorf("error %q does not wrap ErrConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestOpenChecksKeysAgainstTheDatabase(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	k1, k2 := newKey(), newKey()
	first := open(t, dsn, postgres.Config{EncryptionKeys: map[string][]byte{"k1": k1}, ActiveKey: "k1"})
	if err := first.PutClient(t.Context(), store.Client{ID: "app", SigningAlg: "HS256", Secrets: []store.Secret{{ID: "s1", Value: randomBytes(32)}}}); err != nil {
		t.Fatal(err)
	}
	first.Close()

	for _, tc := range []struct {
		name  string
		keys  map[string][]byte
		setup string // SQL run first
		want  string
	}{
		{"WrongKeyForID", map[string][]byte{"k1": k2}, "", `encryption key "k1" is not the key`},
		{"UsedKeyIDMissing", map[string][]byte{"k2": k2}, "", `encryption key ids "k1", which Config.EncryptionKeys lacks`},
		// Without its sentinel (a partial restore), a wrong key is still
		// caught by a row it fails to open.
		{"WrongKeyNoSentinel", map[string][]byte{"k1": k2}, "DELETE FROM deputy_sealing_keys", `does not open with key id "k1"`},
		// The failed Opens above recorded nothing: the right key opens.
		{"RightKeyAfterFailures", map[string][]byte{"k1": k1}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != "" {
				execSQL(t, dsn, tc.setup)
			}
			active := "k1"
			if _, ok := tc.keys[active]; !ok {
				active = "k2"
			}
			s, err := postgres.Open(t.Context(), dsn, postgres.Config{EncryptionKeys: tc.keys, ActiveKey: active})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, postgres.ErrSealing) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v; want an ErrSealing saying %q", err, tc.want)
			}
		})
	}
}

// TestReseal rotates the encryption key: both keys configured, the new one
// active, Reseal, then the old key dropped.
func TestReseal(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	k2 := newKey()
	both := w.store(t, func(c *postgres.Config) {
		c.EncryptionKeys = map[string][]byte{"k1": w.encKeys["k1"], "k2": k2}
		c.ActiveKey = "k2"
	})
	n, err := both.Reseal(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Two client secrets (app, api) and two private keys (rs-1, ed-1).
	if n != 4 {
		t.Errorf("Reseal moved %d rows, want 4", n)
	}
	if n, err := both.Reseal(t.Context()); err != nil || n != 0 {
		t.Errorf("second Reseal: %d, %v; want 0, nil", n, err)
	}
	only := w.store(t, func(c *postgres.Config) {
		c.EncryptionKeys = map[string][]byte{"k2": k2}
		c.ActiveKey = "k2"
		c.CacheTTL = -1
	})
	c, err := only.Client(t.Context(), appHS)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Secrets[0].Value, w.secrets[appHS]) {
		t.Error("a resealed secret does not open to its value")
	}
	x := exchanger(t, only, false)
	if c, _ := exchange(t, x, delegation(appRS, w.idToken(t, appRS), apiEd)); c != "" {
		t.Errorf("exchange with resealed keys: %s", c)
	}
}

// TestNothingSecretInTheDatabase dumps every table and looks for client
// secrets, private key material and refresh tokens in any encoding.
func TestNothingSecretInTheDatabase(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	s := w.store(t, nil)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(t.Context(), jose.JSONWebKey{Key: ec, KeyID: "es-1", Algorithm: "ES256"}); err != nil {
		t.Fatal(err)
	}
	const token = "rt-a-refresh-token-that-must-not-be-stored"
	if err := s.PutRefreshToken(t.Context(), token, store.RefreshGrant{ClientID: appHS, Subject: "auth0|ada"}); err != nil {
		t.Fatal(err)
	}
	ecD, _ := ec.Bytes()
	secrets := map[string][]byte{
		"app secret":    w.secrets[appHS],
		"api secret":    w.secrets[apiHS],
		"RSA d":         w.rs.Key.(*rsa.PrivateKey).D.Bytes(),
		"RSA p":         w.rs.Key.(*rsa.PrivateKey).Primes[0].Bytes(),
		"EdDSA seed":    w.ed.Key.(ed25519.PrivateKey).Seed(),
		"ECDSA d":       ecD,
		"refresh token": []byte(token),
	}
	dump := dumpDatabase(t, w.dsn)
	for what, v := range secrets {
		for enc, text := range map[string]string{
			"raw":       string(v),
			"hex":       hex.EncodeToString(v),
			"base64":    base64.StdEncoding.EncodeToString(v),
			"base64url": base64.RawURLEncoding.EncodeToString(v),
		} {
			if strings.Contains(dump, text) {
				t.Errorf("the database holds the %s (%s)", what, enc)
			}
		}
	}
	sum := sha256.Sum256([]byte(token))
	if !strings.Contains(dump, hex.EncodeToString(sum[:])) {
		t.Error("the refresh token's SHA-256 is not in the database: the dump misses rows")
	}
}

// dumpDatabase returns every row of every deputy table as text, bytea in
// hex.
func dumpDatabase(t *testing.T, dsn string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT tablename FROM pg_tables WHERE tablename LIKE 'deputy_%'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tab := range tables {
		rows, err := conn.Query(t.Context(), "SELECT t::text FROM "+pgx.Identifier{tab}.Sanitize()+" t")
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.Join(texts, "\n"))
	}
	return b.String()
}

// TestSealedValuesAreBoundToTheirRow moves sealed values between rows, as
// someone with write access to the database could: the moved value does
// not open, which is an error (server_error in the engine), never another
// client's secret or key.
func TestSealedValuesAreBoundToTheirRow(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	s := w.store(t, func(c *postgres.Config) { c.CacheTTL = -1 })
	execSQL(t, w.dsn, `UPDATE deputy_client_secrets SET sealed = (SELECT sealed FROM deputy_client_secrets WHERE client_id = $1) WHERE client_id = $2`, apiHS, appHS)
	_, err := s.Client(t.Context(), appHS)
	if !errors.Is(err, postgres.ErrSealing) || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Client after moving another client's sealed secret in: %v; want ErrSealing", err)
	}
	x := exchanger(t, s, false)
	if c, res := exchange(t, x, delegation(appHS, w.idToken(t, appHS), apiHS)); c != engine.CodeServerError || res != nil {
		t.Errorf("exchange: code %q, response %v; want server_error and none", c, res)
	}

	// A key's sealed JWK moved under another kid.
	execSQL(t, w.dsn, `UPDATE deputy_keys SET sealed = (SELECT sealed FROM deputy_keys WHERE kid = 'ed-1') WHERE kid = 'rs-1'`)
	if _, err := s.SigningKey(t.Context(), "RS256"); !errors.Is(err, postgres.ErrSealing) {
		t.Errorf("SigningKey after moving another key's sealed JWK in: %v; want ErrSealing", err)
	}
}

// TestConcurrentOpensMigrateOnce opens several Stores at once on a fresh
// database, as replicas starting together do.
func TestConcurrentOpensMigrateOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	cfg := testConfig()
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			s, err := postgres.Open(t.Context(), dsn, cfg)
			errs[i] = err
			if err == nil {
				s.Close()
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
	s := open(t, dsn, cfg)
	if err := s.Migrate(t.Context()); err != nil {
		t.Errorf("Migrate again: %v", err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), "SELECT version FROM deputy_schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]int32{1, 2}, versions); d != "" {
		t.Errorf("applied migrations (-want +got):\n%s", d)
	}
	var sentinels int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM deputy_sealing_keys").Scan(&sentinels); err != nil {
		t.Fatal(err)
	}
	if sentinels != 1 {
		t.Errorf("%d sentinel rows for one key id", sentinels)
	}
}
