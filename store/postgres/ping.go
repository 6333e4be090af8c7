package postgres

import (
	"context"
	"fmt"
)

// Ping reports whether the database answers a query within ctx and
// QueryTimeout, bypassing the cache: a readiness probe, which a cached
// lookup would answer while the database is down.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.lookupCtx(ctx)
	defer cancel()
	var one int
	if err := s.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}
