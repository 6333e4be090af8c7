package postgres_test

import (
	"testing"
	"time"

	"github.com/deputyauth/deputy/store/postgres/pgtest"
)

// TestPingSeesTheDatabaseNotTheCache checks that Ping fails while the
// database is cut off, although a cached lookup would still answer, and
// succeeds again once it is back.
func TestPingSeesTheDatabaseNotTheCache(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t, pgtest.DSN(t))
	cfg := testConfig()
	cfg.QueryTimeout = 500 * time.Millisecond
	s := open(t, dsn, cfg)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping with the database up: %v", err)
	}
	proxy.Stall()
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping with the database stalled: no error")
	}
	proxy.Restore()
	waitFor(t, 10*time.Second, "Ping to succeed after the database is back", func() bool {
		return s.Ping(t.Context()) == nil
	})
}
