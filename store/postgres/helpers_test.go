package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deputyauth/deputy/store"
	"github.com/deputyauth/deputy/store/postgres"
	"github.com/deputyauth/deputy/store/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newKey returns a fresh AES-256 key.
func newKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// testConfig returns a Config with one fresh encryption key, "k1".
func testConfig() postgres.Config {
	return postgres.Config{EncryptionKeys: map[string][]byte{"k1": newKey()}, ActiveKey: "k1"}
}

// open opens a Store on dsn, closed when t ends.
func open(t testing.TB, dsn string, cfg postgres.Config) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, dsn, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// execSQL runs statements on dsn directly, as an operator or an attacker
// with database access would.
func execSQL(t testing.TB, dsn string, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// reset empties every table of a migrated database.
func reset(t testing.TB, dsn string) {
	t.Helper()
	execSQL(t, dsn, `TRUNCATE deputy_clients, deputy_client_secrets, deputy_keys,
		deputy_refresh_grants, deputy_profiles, deputy_replay`)
}

// waitFor polls cond every millisecond until it holds or d passes, and
// reports how long it took.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// checkCtxErr checks that err wraps want (a context error) and is not a
// miss.
func checkCtxErr(t testing.TB, call string, err, want error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error, want one wrapping %v", call, want)
	case errors.Is(err, store.ErrNotFound):
		t.Errorf("%s: error %q wraps store.ErrNotFound", call, err)
	case !errors.Is(err, want):
		t.Errorf("%s: error %q does not wrap %v", call, err, want)
	}
}
