package postgres_test

// Tests written in review of the adapter: each pins a defect that was
// fixed, or a property the review checked and wants kept.

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
	"github.com/deputyauth/deputy/store/postgres"
	"github.com/deputyauth/deputy/store/postgres/pgtest"
)

// TestReviewRefusesUnknownSchemaVersion: a database migrated by a newer
// deputy (a version this binary does not know) is refused by Open and by
// Migrate, with an error naming the version, and nothing is applied.
func TestReviewRefusesUnknownSchemaVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		versions []int // recorded in deputy_schema_migrations besides this binary's
		want     string
	}{
		{"OneNewer", []int{1000}, "version 1000"},
		{"SeveralNewer", []int{1000, 1001, 4000}, "versions 1000, 1001, 4000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.DSN(t)
			cfg := testConfig()
			running := open(t, dsn, cfg) // migrates to this binary's version
			for _, v := range tc.versions {
				execSQL(t, dsn, "INSERT INTO deputy_schema_migrations (version, name) VALUES ($1, 'future')", v)
			}
			tables := func() int {
				var n int
				conn, err := pgx.Connect(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			before := tables()

			s, err := postgres.Open(t.Context(), dsn, cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a database with a newer schema")
			}
			if !errors.Is(err, postgres.ErrSchemaTooNew) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v; want an ErrSchemaTooNew naming %s", err, tc.want)
			}
			if err := running.Migrate(t.Context()); !errors.Is(err, postgres.ErrSchemaTooNew) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Migrate: %v; want an ErrSchemaTooNew naming %s", err, tc.want)
			}
			if after := tables(); after != before {
				t.Errorf("refused migration changed the schema: %d tables, then %d", before, after)
			}
		})
	}
}

// TestReviewDSNPasswordNotInErrors: a DSN that does not parse must not
// come back, password and all, in Open's error (which hosts log). pgx
// redacts passwords only on a best-effort basis.
func TestReviewDSNPasswordNotInErrors(t *testing.T) {
	t.Parallel()
	const pw = "hunter2pw"
	for _, tc := range []struct {
		name, dsn string
		listen    bool   // given as ListenDSN rather than the DSN
		want      string // what the error must still say
	}{
		{"SpacesAroundEquals", "host=127.0.0.1 password = " + pw + " port=zz", false, "invalid port"},
		{"EscapedSpace", `host=127.0.0.1 password=hun\ ter2pw port=zz`, false, "invalid port"},
		{"DoubledQuote", "host=127.0.0.1 password='hun''ter2pw' port=zz", false, "failed to parse as keyword/value"},
		{"URL", "postgres://deputy:" + pw + "@127.0.0.1:notaport/db", false, "invalid port"},
		{"ListenDSN", "host=127.0.0.1 password = " + pw + " port=zz", true, "invalid port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			dsn := tc.dsn
			if tc.listen {
				cfg.ListenDSN, dsn = tc.dsn, "host=127.0.0.1 port=1"
			}
			s, err := postgres.Open(t.Context(), dsn, cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			for _, leak := range []string{pw, "ter2pw"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("Open's error holds the password: %v", err)
				}
			}
			if !errors.Is(err, postgres.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v; want an ErrConfig saying %q", err, tc.want)
			}
		})
	}
}

// TestReviewReplayKeepsIDsForAtLeastTTL: PostgreSQL keeps microseconds, so
// an expiry rounded down let an id be taken again up to a microsecond
// before its TTL ran out.
func TestReviewReplayKeepsIDsForAtLeastTTL(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var now atomic.Int64
	now.Store(t0.UnixNano())
	cfg := testConfig()
	cfg.Now = func() time.Time { return time.Unix(0, now.Load()).UTC() }
	cfg.PruneInterval = -1
	s := open(t, pgtest.DSN(t), cfg)
	type step struct {
		at    time.Duration // after t0
		ttl   time.Duration
		first bool
	}
	steps := []step{
		{0, 1500 * time.Nanosecond, true},
		{1200 * time.Nanosecond, time.Minute, false}, // 300ns of the TTL left
		{1499 * time.Nanosecond, time.Minute, false},
		// Kept at least 1.5µs; rounding up keeps it until the next whole
		// microsecond, which the contract allows.
		{2 * time.Microsecond, time.Minute, true},
	}
	var got []step
	for _, st := range steps {
		now.Store(t0.Add(st.at).UnixNano())
		if st.at > 0 && st.at < 1500*time.Nanosecond {
			if n, err := s.PruneReplay(t.Context()); err != nil || n != 0 {
				t.Errorf("PruneReplay at t0+%v: %d, %v; want 0 deleted", st.at, n, err)
			}
		}
		first, err := s.Use(t.Context(), "jti-1", st.ttl)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, step{st.at, st.ttl, first})
	}
	if d := cmp.Diff(steps, got, cmp.AllowUnexported(step{})); d != "" {
		t.Errorf("Use (-want +got):\n%s", d)
	}
}

// TestReviewWriterReplicaHonoursAtOnce: once a writer returns, the Store
// it went through refuses what it revoked on the very next exchange, even
// while other lookups keep refilling its cache. Through the engine: the
// exact code, and no token.
func TestReviewWriterReplicaHonoursAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		req    func(w *world) *engine.Request
		change func(ctx context.Context, w *world, s *postgres.Store) error
		want   string
	}{
		{"DisableRequester",
			func(w *world) *engine.Request { return delegation(appHS, w.idToken(t, appHS), apiHS) },
			func(ctx context.Context, w *world, s *postgres.Store) error { return s.SetDisabled(ctx, appHS, true) },
			engine.CodeInvalidClient},
		{"DeleteRequester",
			func(w *world) *engine.Request { return delegation(appHS, w.idToken(t, appHS), apiHS) },
			func(ctx context.Context, w *world, s *postgres.Store) error { return s.DeleteClient(ctx, appHS) },
			engine.CodeInvalidClient},
		{"ExpireSecret",
			func(w *world) *engine.Request { return delegation(appHS, w.idToken(t, appHS), apiHS) },
			func(ctx context.Context, w *world, s *postgres.Store) error {
				return s.ExpireSecret(ctx, appHS, appHS+"-s1", time.Time{})
			},
			engine.CodeInvalidGrant},
		{"RemoveVerificationKey",
			func(w *world) *engine.Request { return delegation(appRS, w.idToken(t, appRS), apiHS) },
			func(ctx context.Context, w *world, s *postgres.Store) error { return s.RemoveKey(ctx, w.rs.KeyID) },
			engine.CodeInvalidGrant},
		{"CloseTarget",
			func(w *world) *engine.Request { return delegation(appHS, w.idToken(t, appHS), apiHS) },
			func(ctx context.Context, w *world, s *postgres.Store) error {
				c := w.clients(nil)[2] // apiHS
				c.AllowedSources = []string{"someone-else"}
				return s.PutClient(ctx, c)
			},
			engine.CodeInvalidTarget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, "")
			s := w.store(t, func(c *postgres.Config) { c.CacheTTL = longTTL })
			x := exchanger(t, s, false)
			req := tc.req(w)
			if c, _ := exchange(t, x, req); c != "" {
				t.Fatalf("before: %s", c)
			}
			// Keep the cache busy: fills start and finish all around the
			// write.
			ctx, stop := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for ctx.Err() == nil {
						x.Exchange(ctx, req)
					}
				})
			}
			time.Sleep(20 * time.Millisecond)
			err := tc.change(t.Context(), w, s)
			c, res := exchange(t, x, req)
			stop()
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if c != tc.want || res != nil {
				t.Errorf("the exchange right after the write returned: code %q, response %v; want %s and no token", c, res, tc.want)
			}
		})
	}
}

// TestReviewLongClientIDsPropagate: a client ID too long for a NOTIFY
// payload (8000 bytes) is announced as "drop everything", and one that
// fits as itself; either way another replica honours a disable.
func TestReviewLongClientIDsPropagate(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	a, b, _, _ := replicas(t, w, func(c *postgres.Config) { c.CacheTTL = longTTL })
	for _, n := range []int{6999, 7000, 7001, 7998, 7999, 8000, 9000} {
		id := strings.Repeat("c", n-4) + "-" + strings.Repeat("x", 3)
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			ctx := t.Context()
			c := store.Client{ID: id, SigningAlg: "EdDSA"}
			if err := a.PutClient(ctx, c); err != nil {
				t.Fatalf("PutClient of a %d-byte ID: %v", n, err)
			}
			got, err := b.Client(ctx, id)
			if err != nil || got.Disabled {
				t.Fatalf("B before: %v, %v", got, err)
			}
			if err := a.SetDisabled(ctx, id, true); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "B seeing the disable", func() bool {
				got, err := b.Client(ctx, id)
				return err == nil && got.Disabled
			})
		})
	}
}

// TestReviewCloseIsIdempotentAndSafe: Close may be called twice, and at
// once with lookups; lookups after it fail with an error that is not a
// miss.
func TestReviewCloseIsIdempotentAndSafe(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	ctx := t.Context()
	s, err := postgres.Open(ctx, w.dsn, postgres.Config{EncryptionKeys: w.encKeys, ActiveKey: "k1", PruneInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if i%2 == 0 {
					s.Client(ctx, appHS)
				} else {
					s.Use(ctx, "id", time.Minute)
				}
			}
		})
	}
	wg.Go(s.Close)
	wg.Go(s.Close)
	wg.Wait()
	s.Close()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Client", func() error { _, err := s.Client(ctx, "never-cached"); return err }},
		{"RefreshToken", func() error { _, err := s.RefreshToken(ctx, [32]byte{1}); return err }},
		{"Profile", func() error { _, err := s.Profile(ctx, "nobody"); return err }},
		{"Use", func() error { _, err := s.Use(ctx, "id-2", time.Minute); return err }},
	} {
		if err := tc.call(); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after Close: %v; want an error that is not a miss", tc.name, err)
		}
	}
}

// TestReviewUnstorableIDsAreMisses: PostgreSQL text holds only UTF-8
// without NUL, so such an ID names no row; a lookup of one, which a caller
// controls (client_id, a token's kid or sub), must be a miss as on
// store.Memory, not a store failure (server_error).
func TestReviewUnstorableIDsAreMisses(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	for _, cache := range caches {
		t.Run(cache.name, func(t *testing.T) {
			s := w.store(t, func(c *postgres.Config) { c.CacheTTL = cache.ttl })
			for _, id := range []string{"app\x00", "\x00", "\xff\xfe", "api\xc3"} {
				for _, tc := range []struct {
					name string
					call func() error
				}{
					{"Client", func() error { _, err := s.Client(t.Context(), id); return err }},
					{"Profile", func() error { _, err := s.Profile(t.Context(), id); return err }},
					{"VerificationKeys", func() error { _, err := s.VerificationKeys(t.Context(), id); return err }},
					{"SigningKey", func() error { _, err := s.SigningKey(t.Context(), id); return err }},
				} {
					if err := tc.call(); !errors.Is(err, store.ErrNotFound) {
						t.Errorf("%s(%q): %v; want a miss (store.ErrNotFound)", tc.name, id, err)
					}
				}
			}
			x := exchanger(t, s, false)
			for _, tc := range []struct {
				name string
				req  *engine.Request
				want string
			}{
				{"Requester", delegation("app\x00", w.idToken(t, appHS), apiHS), engine.CodeInvalidClient},
				{"RequesterNotUTF8", delegation("app\xff", w.idToken(t, appHS), apiHS), engine.CodeInvalidClient},
				{"Target", delegation(appHS, w.idToken(t, appHS), "api\x00"), engine.CodeInvalidTarget},
			} {
				if c, res := exchange(t, x, tc.req); c != tc.want || res != nil {
					t.Errorf("%s: code %q, response %v; want %s and no token", tc.name, c, res, tc.want)
				}
			}
		})
	}
}

// TestReviewAPITypeSettingsSealed: add-on settings carry secrets
// (firebase's private_key, Azure's sasKey and storageAccessKey), so they
// are sealed like client secrets: not in the database in any encoding,
// bound to their client and api_type, and opened back as given.
func TestReviewAPITypeSettingsSealed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	s := w.store(t, func(c *postgres.Config) { c.CacheTTL = -1 })
	const (
		pem = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7review\\n-----END PRIVATE KEY-----\\n"
		sas = "c2FzLWtleS1vZi10aGUtbmFtZXNwYWNlLXJldmlldw=="
	)
	settings := map[string]json.RawMessage{
		"firebase": json.RawMessage(`{"private_key_id":"fb-1","private_key":"` + pem + `","client_email":"x@p.iam.gserviceaccount.com"}`),
		"azure_sb": json.RawMessage(`{"namespace":"ns","sasKeyName":"send","sasKey":"` + sas + `","entityPath":"q"}`),
	}
	c := store.Client{ID: "fb-target", SigningAlg: "RS256", APITypes: settings, DefaultAPIType: "firebase"}
	if err := s.PutClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	got, err := s.Client(t.Context(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(settings, got.APITypes); d != "" {
		t.Errorf("APITypes read back (-want +got):\n%s", d)
	}
	dump := dumpDatabase(t, w.dsn)
	for what, v := range map[string]string{"firebase private_key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7review", "azure sasKey": sas} {
		for enc, text := range map[string]string{
			"raw":    v,
			"hex":    hex.EncodeToString([]byte(v)),
			"base64": base64.StdEncoding.EncodeToString([]byte(v)),
		} {
			if strings.Contains(dump, text) {
				t.Errorf("the database holds the %s (%s)", what, enc)
			}
		}
	}

	// Listing names the api_types without opening their settings.
	list, err := s.Clients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		if l.ID != c.ID {
			continue
		}
		if d := cmp.Diff([]string{"azure_sb", "firebase"}, slices.Sorted(maps.Keys(l.APITypes))); d != "" {
			t.Errorf("Clients: api_types (-want +got):\n%s", d)
		}
		for name, v := range l.APITypes {
			if len(v) != 0 {
				t.Errorf("Clients: api_type %q carries its settings: %s", name, v)
			}
		}
	}

	// Settings moved to another api_type do not open: an error, never
	// another add-on's key.
	execSQL(t, w.dsn, `UPDATE deputy_clients SET api_types = jsonb_build_object('firebase', api_types->'azure_sb', 'azure_sb', api_types->'firebase') WHERE id = $1`, c.ID)
	if _, err := s.Client(t.Context(), c.ID); !errors.Is(err, postgres.ErrSealing) {
		t.Errorf("Client after swapping sealed settings: %v; want ErrSealing", err)
	}
}

// TestReviewAPITypeSettingsResealed: Reseal moves sealed settings to the
// active key and seals settings a version before migration 0002 left in
// the clear; Open checks a key against sealed settings too.
func TestReviewAPITypeSettingsResealed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	settings := map[string]json.RawMessage{"firebase": json.RawMessage(`{"private_key":"fb-private-key-review"}`)}
	legacy := map[string]json.RawMessage{"azure_sb": json.RawMessage(`{"sasKey":"sas-key-review"}`)}
	s := w.store(t, nil)
	if err := s.PutClient(t.Context(), store.Client{ID: "sealed", SigningAlg: "RS256", APITypes: settings}); err != nil {
		t.Fatal(err)
	}
	// As a version before migration 0002 wrote it.
	if err := s.PutClient(t.Context(), store.Client{ID: "legacy", SigningAlg: "RS256"}); err != nil {
		t.Fatal(err)
	}
	execSQL(t, w.dsn, `UPDATE deputy_clients SET api_types = '{"azure_sb": "{\"sasKey\":\"sas-key-review\"}"}' WHERE id = 'legacy'`)

	k2 := newKey()
	both := w.store(t, func(c *postgres.Config) {
		c.EncryptionKeys = map[string][]byte{"k1": w.encKeys["k1"], "k2": k2}
		c.ActiveKey = "k2"
		c.CacheTTL = -1
	})
	if c, err := both.Client(t.Context(), "legacy"); err != nil || !cmp.Equal(legacy, c.APITypes) {
		t.Fatalf("legacy settings before Reseal: %v, %v", c, err)
	}
	n, err := both.Reseal(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Two secrets and two private keys of the world, two clients' settings.
	if n != 6 {
		t.Errorf("Reseal moved %d rows, want 6", n)
	}
	if dump := dumpDatabase(t, w.dsn); strings.Contains(dump, "sas-key-review") || strings.Contains(dump, "fb-private-key-review") {
		t.Error("settings still in the clear after Reseal")
	}
	only := w.store(t, func(c *postgres.Config) {
		c.EncryptionKeys = map[string][]byte{"k2": k2}
		c.ActiveKey = "k2"
		c.CacheTTL = -1
	})
	for id, want := range map[string]map[string]json.RawMessage{"sealed": settings, "legacy": legacy} {
		c, err := only.Client(t.Context(), id)
		if err != nil {
			t.Fatalf("Client(%q) under the new key only: %v", id, err)
		}
		if d := cmp.Diff(want, c.APITypes); d != "" {
			t.Errorf("Client(%q) APITypes after Reseal (-want +got):\n%s", id, d)
		}
	}

	// A database whose only sealed rows are settings, without sentinels: a
	// wrong key is still refused at Open.
	dsn := pgtest.DSN(t)
	cfg := testConfig()
	first := open(t, dsn, cfg)
	if err := first.PutClient(t.Context(), store.Client{ID: "c", SigningAlg: "RS256", APITypes: settings}); err != nil {
		t.Fatal(err)
	}
	first.Close()
	execSQL(t, dsn, "DELETE FROM deputy_sealing_keys")
	wrong := postgres.Config{EncryptionKeys: map[string][]byte{"k1": newKey()}, ActiveKey: "k1"}
	if s, err := postgres.Open(t.Context(), dsn, wrong); !errors.Is(err, postgres.ErrSealing) || !strings.Contains(err.Error(), `a client_api_type row does not open with key id "k1"`) {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open with a wrong key over sealed settings: %v; want ErrSealing", err)
	}
}

// TestReviewKeyIDsMustBeText: a key id is stored as text, so one that is
// not UTF-8 or holds NUL is a config error, as documented, not a database
// error.
func TestReviewKeyIDsMustBeText(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	for _, id := range []string{"k\xff", "k\x00"} {
		cfg := postgres.Config{EncryptionKeys: map[string][]byte{id: newKey()}, ActiveKey: id}
		s, err := postgres.Open(t.Context(), dsn, cfg)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, postgres.ErrConfig) || !strings.Contains(err.Error(), "must be 1 to 64 bytes of UTF-8") {
			t.Errorf("Open with key id %q: %v; want an ErrConfig", id, err)
		}
	}
}

// TestReviewRefreshDelegationDuringOutage: refresh grants and profiles are
// never cached, so with the database cut or stalled a refresh-token
// delegation is server_error with no token, even on a warm cache, and
// works again once the database is back.
func TestReviewRefreshDelegationDuringOutage(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	proxy, dsn := pgtest.NewProxy(t, w.dsn)
	rw := *w
	rw.dsn = dsn
	s := rw.store(t, func(c *postgres.Config) { c.CacheTTL = longTTL; c.QueryTimeout = 300 * time.Millisecond })
	x := exchanger(t, s, false)
	req := &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: appHS, RefreshToken: "rt-ada", Target: apiHS, Scope: "openid email"}
	if c, _ := exchange(t, x, req); c != "" {
		t.Fatalf("before the outage: %s", c)
	}
	for _, tc := range []struct {
		name string
		down func()
	}{{"Cut", proxy.Cut}, {"Stall", proxy.Stall}} {
		tc.down()
		start := time.Now()
		c, res := exchange(t, x, req)
		if c != engine.CodeServerError || res != nil {
			t.Errorf("%s: code %q, response %v; want server_error and no token", tc.name, c, res)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: the exchange took %v with a QueryTimeout of 300ms", tc.name, d)
		}
		proxy.Restore()
		waitFor(t, 15*time.Second, "recovery after "+tc.name, func() bool {
			c, _ := exchange(t, x, req)
			return c == ""
		})
	}
}
