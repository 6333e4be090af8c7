package pgtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deputyauth/deputy/store/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestDSNGivesFreshDatabases(t *testing.T) {
	a, b := pgtest.DSN(t), pgtest.DSN(t)
	if a == b {
		t.Fatalf("two DSN calls gave one database: %s", a)
	}
	ctx := t.Context()
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE x (i int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'x'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a table created in one test database is visible in another")
	}
}

func TestProxyCutAndRestore(t *testing.T) {
	p, dsn := pgtest.NewProxy(t, pgtest.DSN(t))
	ping := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		return c.Ping(ctx)
	}
	ctx := t.Context()
	held, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting through the proxy: %v", err)
	}
	defer held.Close(ctx)
	p.Cut()
	if err := ping(); err == nil {
		t.Error("a new connection through a cut proxy succeeded")
	}
	if err := held.Ping(ctx); err == nil {
		t.Error("a connection held across Cut still works")
	}
	p.Restore()
	if err := ping(); err != nil {
		t.Errorf("after Restore: %v", err)
	}
}
