package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/store"
)

// Refresh grants and profiles are never cached: a revocation or a profile
// change must hold on the very next request, on every replica.

// RefreshToken implements store.RefreshTokenStore.
func (s *Store) RefreshToken(ctx context.Context, hash [32]byte) (*store.RefreshGrant, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	qctx, cancel := s.lookupCtx(ctx)
	defer cancel()
	var (
		g       store.RefreshGrant
		expires pgtype.Timestamptz
	)
	err := s.pool.QueryRow(qctx, `SELECT client_id, subject, scope, expires_at, revoked
		FROM deputy_refresh_grants WHERE token_hash = $1`, hash[:]).
		Scan(&g.ClientID, &g.Subject, &g.Scope, &expires, &g.Revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: refresh token", store.ErrNotFound)
	}
	if err != nil {
		return nil, s.fail(qctx, "reading refresh token", err)
	}
	if expires.Valid {
		g.ExpiresAt = expires.Time.UTC()
	}
	return &g, nil
}

// PutRefreshToken stores g under the SHA-256 of token, replacing any grant
// for the same token; the token itself is not kept.
func (s *Store) PutRefreshToken(ctx context.Context, token string, g store.RefreshGrant) error {
	return s.PutRefreshGrant(ctx, sha256.Sum256([]byte(token)), g)
}

// PutRefreshGrant stores g under hash, the SHA-256 of its refresh token,
// replacing any grant for the same hash: for grants imported from
// elsewhere, where only the hash is known.
func (s *Store) PutRefreshGrant(ctx context.Context, hash [32]byte, g store.RefreshGrant) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO deputy_refresh_grants (token_hash, client_id, subject, scope, expires_at, revoked)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (token_hash) DO UPDATE SET client_id = EXCLUDED.client_id, subject = EXCLUDED.subject,
			scope = EXCLUDED.scope, expires_at = EXCLUDED.expires_at, revoked = EXCLUDED.revoked,
			updated_at = now()`,
		hash[:], g.ClientID, g.Subject, nonNil(g.Scope), nullTime(g.ExpiresAt), g.Revoked)
	if err != nil {
		return s.fail(ctx, "putting refresh token", err)
	}
	return nil
}

// RevokeRefreshToken revokes the grant whose token hashes to hash; every
// later RefreshToken returns it revoked. An unknown hash wraps
// store.ErrNotFound.
func (s *Store) RevokeRefreshToken(ctx context.Context, hash [32]byte) error {
	tag, err := s.pool.Exec(ctx, "UPDATE deputy_refresh_grants SET revoked = true, updated_at = now() WHERE token_hash = $1", hash[:])
	if err != nil {
		return s.fail(ctx, "revoking refresh token", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: refresh token", store.ErrNotFound)
	}
	return nil
}

// Profile implements store.ProfileStore. Claim values come back as
// encoding/json decodes them into an any.
func (s *Store) Profile(ctx context.Context, subject string) (claims.Set, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if !storable(subject) {
		return nil, notFound("profile", subject)
	}
	qctx, cancel := s.lookupCtx(ctx)
	defer cancel()
	var b []byte
	err := s.pool.QueryRow(qctx, "SELECT claims FROM deputy_profiles WHERE subject = $1", subject).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("profile", subject)
	}
	if err != nil {
		return nil, s.fail(qctx, "reading profile", err)
	}
	c := claims.Set{}
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("postgres: profile %q: %w", subject, err)
	}
	return c, nil
}

// PutProfile stores the user's claims, replacing any earlier profile of the
// subject. The claims must encode as JSON.
func (s *Store) PutProfile(ctx context.Context, subject string, c claims.Set) error {
	if c == nil {
		c = claims.Set{}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("postgres: profile %q: %w", subject, err)
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO deputy_profiles (subject, claims) VALUES ($1, $2)
		ON CONFLICT (subject) DO UPDATE SET claims = EXCLUDED.claims, updated_at = now()`, subject, b)
	if err != nil {
		return s.fail(ctx, "putting profile", err)
	}
	return nil
}

// DeleteProfile removes a user's profile. An unknown subject wraps
// store.ErrNotFound.
func (s *Store) DeleteProfile(ctx context.Context, subject string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM deputy_profiles WHERE subject = $1", subject)
	if err != nil {
		return s.fail(ctx, "deleting profile", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("profile", subject)
	}
	return nil
}
