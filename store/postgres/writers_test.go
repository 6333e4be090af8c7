package postgres_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
	"github.com/deputyauth/deputy/store/postgres"
	"github.com/deputyauth/deputy/store/postgres/pgtest"
)

func TestWritersOfMissingRows(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	s := w.store(t, nil)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"SetDisabled", func() error { return s.SetDisabled(ctx, "nobody", true) }},
		{"DeleteClient", func() error { return s.DeleteClient(ctx, "nobody") }},
		{"AddSecret", func() error {
			return s.AddSecret(ctx, "nobody", store.Secret{ID: "x", Value: randomBytes(32)})
		}},
		{"ExpireSecretOfUnknownClient", func() error { return s.ExpireSecret(ctx, "nobody", "x", time.Time{}) }},
		{"ExpireUnknownSecret", func() error { return s.ExpireSecret(ctx, appHS, "nope", time.Time{}) }},
		{"RetireKey", func() error { return s.RetireKey(ctx, "nope", time.Time{}) }},
		{"RemoveKey", func() error { return s.RemoveKey(ctx, "nope") }},
		{"RevokeRefreshToken", func() error { return s.RevokeRefreshToken(ctx, [32]byte{1}) }},
		{"DeleteProfile", func() error { return s.DeleteProfile(ctx, "nobody") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("error %v, want one wrapping store.ErrNotFound", err)
			}
		})
	}
}

func TestWritersRefuseInvalidRecords(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	s := w.store(t, nil)
	ctx := t.Context()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"PutClientInvalid", func() error { return s.PutClient(ctx, store.Client{ID: "x", SigningAlg: "none"}) }, store.ErrInvalidClient},
		{"AddSecretTooShort", func() error {
			return s.AddSecret(ctx, appHS, store.Secret{ID: "short", Value: randomBytes(16)})
		}, store.ErrInvalidClient},
		{"AddSecretDuplicateID", func() error {
			return s.AddSecret(ctx, appHS, store.Secret{ID: appHS + "-s1", Value: randomBytes(32)})
		}, store.ErrInvalidClient},
		{"AddKeyDuplicateKID", func() error {
			return s.AddKey(ctx, jose.JSONWebKey{Key: ec, KeyID: "rs-1", Algorithm: "ES256"})
		}, store.ErrInvalidKey},
		{"AddKeySymmetric", func() error {
			return s.AddKey(ctx, jose.JSONWebKey{Key: randomBytes(32), KeyID: "hs", Algorithm: "HS256"})
		}, store.ErrInvalidKey},
		{"StageKeyEmptyWindow", func() error {
			now := time.Now()
			return s.StageKey(ctx, store.Key{JSONWebKey: jose.JSONWebKey{Key: ec, KeyID: "es-w", Algorithm: "ES256"}, SignFrom: now, SignUntil: now})
		}, store.ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want one wrapping %v", err, tc.want)
			}
		})
	}

	t.Run("RemovedKIDNeverReused", func(t *testing.T) {
		if err := s.RemoveKey(ctx, "ed-1"); err != nil {
			t.Fatal(err)
		}
		err := s.AddKey(ctx, jose.JSONWebKey{Key: ec, KeyID: "ed-1", Algorithm: "ES256"})
		if !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("AddKey with a removed kid: %v, want ErrInvalidKey", err)
		}
	})
}

func TestClientsListsWithoutSecretValues(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	s := w.store(t, nil)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.ExpireSecret(t.Context(), apiHS, apiHS+"-s1", at); err != nil {
		t.Fatal(err)
	}
	// An earlier expiry is kept.
	if err := s.ExpireSecret(t.Context(), apiHS, apiHS+"-s1", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Clients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := w.clients([]string{engine.GrantTypeJWTBearer, engine.GrantTypeTokenExchange})
	want[0], want[1], want[2], want[3] = want[2], want[3], want[0], want[1] // api, api-ed, app, app-rs
	for i := range want {
		for j := range want[i].Secrets {
			want[i].Secrets[j].Value = nil
		}
	}
	want[0].Secrets[0].NotAfter = at
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("Clients (-want +got):\n%s", d)
	}
}

func TestKeysSchedule(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	now := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	s := w.store(t, func(c *postgres.Config) { c.Now = func() time.Time { return now } })
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	staged := store.Key{JSONWebKey: jose.JSONWebKey{Key: ec, KeyID: "es-1", Algorithm: "ES256"}, SignFrom: now.Add(time.Hour)}
	if err := s.StageKey(t.Context(), staged); err != nil {
		t.Fatal(err)
	}
	if err := s.RetireKey(t.Context(), "rs-1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Keys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		KID, Alg    string
		Public      bool
		From, Until time.Time
	}
	var rows []row
	for _, k := range got {
		rows = append(rows, row{k.KeyID, k.Algorithm, k.IsPublic(), k.SignFrom, k.SignUntil})
	}
	// rs-1 and ed-1 were added by newWorld at the real time.
	if len(rows) == 3 {
		rows[0].From, rows[1].From = time.Time{}, time.Time{}
	}
	want := []row{
		{"rs-1", "RS256", true, time.Time{}, now},
		{"ed-1", "EdDSA", true, time.Time{}, time.Time{}},
		{"es-1", "ES256", true, now.Add(time.Hour), time.Time{}},
	}
	if d := cmp.Diff(want, rows); d != "" {
		t.Errorf("Keys (-want +got):\n%s", d)
	}
	if _, err := s.SigningKey(t.Context(), "RS256"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SigningKey of a retired key's alg: %v, want ErrNotFound", err)
	}
}

func TestReplayLongIDsAndClock(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s := open(t, pgtest.DSN(t), postgres.Config{EncryptionKeys: map[string][]byte{"k": newKey()}, ActiveKey: "k", Now: clock, PruneInterval: -1})
	ctx := t.Context()
	use := func(id string, ttl time.Duration) bool {
		t.Helper()
		first, err := s.Use(ctx, id, ttl)
		if err != nil {
			t.Fatalf("Use: %v", err)
		}
		return first
	}
	long := strings.Repeat("x", 300)
	ids := []string{long + "1", long + "2", strings.Repeat("\x00", 256), string(make([]byte, 288)), "\x00\xff not UTF-8", ""}
	for _, id := range ids {
		if !use(id, time.Minute) {
			t.Errorf("first Use of %d-byte id %.10q = false", len(id), id)
		}
	}
	for _, id := range ids {
		if use(id, time.Minute) {
			t.Errorf("second Use of %d-byte id %.10q = true", len(id), id)
		}
	}
	now.Add(int64(time.Minute))
	if !use(ids[0], time.Minute) {
		t.Error("Use a TTL later on the store's clock = false")
	}

	// Pruning deletes expired ids only, in batches.
	for i := range 25 {
		use("short-"+string(rune('a'+i)), time.Second)
	}
	now.Add(int64(2 * time.Second))
	n, err := s.PruneReplay(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Expired: ids[1:] (a minute old) and the 25 short ones; ids[0] was renewed.
	if want := len(ids) - 1 + 25; n != want {
		t.Errorf("PruneReplay deleted %d ids, want %d", n, want)
	}
	if use(ids[0], time.Minute) {
		t.Error("a live id was pruned")
	}
}

func TestPrunerRunsInTheBackground(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s := open(t, dsn, postgres.Config{EncryptionKeys: map[string][]byte{"k": newKey()}, ActiveKey: "k", PruneInterval: 20 * time.Millisecond, PruneBatch: 7})
	for i := range 30 {
		if _, err := s.Use(t.Context(), "id-"+string(rune('a'+i)), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "pruner emptying deputy_replay", func() bool {
		var n int
		err := s.Pool().QueryRow(context.Background(), "SELECT count(*) FROM deputy_replay").Scan(&n)
		return err == nil && n == 0
	})
}
