package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/deputyauth/deputy/store"
)

const kindKey = "key"

// keyRec is one published key as read from the database.
type keyRec struct {
	private     *jose.JSONWebKey // nil for a public-only key
	public      jose.JSONWebKey
	from, until time.Time // signing window; until zero: no end
	seq         int64     // order of adding
}

func (k *keyRec) signs(now time.Time) bool {
	return k.private != nil && !now.Before(k.from) && (k.until.IsZero() || now.Before(k.until))
}

// keySet is an immutable snapshot of the published keys. Signing windows are
// judged when a key is looked up, never when the set is read.
type keySet struct {
	public  []jose.JSONWebKey            // oldest first
	byKID   map[string][]jose.JSONWebKey // one key each
	signing map[string][]*keyRec         // alg → private keys, latest start first
}

func newKeySet(recs []keyRec) *keySet {
	ks := &keySet{
		public:  make([]jose.JSONWebKey, 0, len(recs)),
		byKID:   make(map[string][]jose.JSONWebKey, len(recs)),
		signing: make(map[string][]*keyRec),
	}
	for i := range recs {
		r := &recs[i]
		ks.public = append(ks.public, r.public)
		ks.byKID[r.public.KeyID] = []jose.JSONWebKey{r.public}
		if r.private != nil {
			ks.signing[r.public.Algorithm] = append(ks.signing[r.public.Algorithm], r)
		}
	}
	for _, l := range ks.signing {
		// Latest start first; of equal starts, the one added last.
		slices.SortFunc(l, func(a, b *keyRec) int {
			if c := b.from.Compare(a.from); c != 0 {
				return c
			}
			return cmp.Compare(b.seq, a.seq)
		})
	}
	return ks
}

const keyColumns = "kid, public_jwk, key_id, sealed, sign_from, sign_until, seq"

// readKeys reads published keys matching where (after "removed_at IS NULL
// AND") in the order given, opening private keys.
func (s *Store) readKeys(ctx context.Context, where, order string, args ...any) ([]keyRec, error) {
	q := "SELECT " + keyColumns + " FROM deputy_keys WHERE removed_at IS NULL"
	if where != "" {
		q += " AND " + where
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY "+order, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []keyRec
	for rows.Next() {
		var (
			r      keyRec
			kid    string
			pub    []byte
			keyID  pgtype.Text
			sealed []byte
			from   time.Time
			until  pgtype.Timestamptz
		)
		if err := rows.Scan(&kid, &pub, &keyID, &sealed, &from, &until, &r.seq); err != nil {
			return nil, err
		}
		if err := r.public.UnmarshalJSON(pub); err != nil {
			return nil, fmt.Errorf("key %q: public JWK: %w", kid, err)
		}
		if keyID.Valid {
			plain, err := s.sealer.open(keyID.String, sealed, kindKey, kid)
			if err != nil {
				return nil, err
			}
			r.private = new(jose.JSONWebKey)
			if err := r.private.UnmarshalJSON(plain); err != nil {
				return nil, fmt.Errorf("key %q: private JWK: %w", kid, err)
			}
		}
		r.from = from.UTC()
		if until.Valid {
			r.until = until.Time.UTC()
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// keySet returns the published keys, from the cache when it can.
func (s *Store) keySet(ctx context.Context) (*keySet, error) {
	if ks, ok := s.cache.keySet(); ok {
		return ks, nil
	}
	v, err := s.fill(ctx, noticeKeys, func(ctx context.Context, gen uint64) (any, error) {
		at := time.Now()
		qctx, cancel := s.lookupCtx(ctx)
		defer cancel()
		recs, err := s.readKeys(qctx, "", "seq")
		if err != nil {
			return nil, s.fail(qctx, "reading keys", err)
		}
		ks := newKeySet(recs)
		s.cache.putKeySet(ks, gen, at)
		return ks, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*keySet), nil
}

// SigningKey implements store.KeyStore, judging signing windows by
// Config.Now at each call.
func (s *Store) SigningKey(ctx context.Context, alg string) (*jose.JSONWebKey, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if !storable(alg) {
		return nil, notFound("signing key for", alg)
	}
	now := s.cfg.Now()
	if s.cache == nil {
		qctx, cancel := s.lookupCtx(ctx)
		defer cancel()
		// Only the one key that signs is read and opened.
		recs, err := s.readKeys(qctx, `alg = $1 AND sealed IS NOT NULL AND sign_from <= $2
			AND (sign_until IS NULL OR sign_until > $2)`, "sign_from DESC, seq DESC LIMIT 1", alg, now)
		if err != nil {
			return nil, s.fail(qctx, "reading signing key", err)
		}
		// The database keeps microseconds; judge by now exactly.
		if len(recs) == 0 || !recs[0].signs(now) {
			return nil, notFound("signing key for", alg)
		}
		return recs[0].private, nil
	}
	ks, err := s.keySet(ctx)
	if err != nil {
		return nil, err
	}
	return s.signingFrom(ks, alg, now)
}

func (s *Store) signingFrom(ks *keySet, alg string, now time.Time) (*jose.JSONWebKey, error) {
	for _, k := range ks.signing[alg] {
		if k.signs(now) {
			return k.private, nil
		}
	}
	return nil, notFound("signing key for", alg)
}

// VerificationKeys implements store.KeyStore.
func (s *Store) VerificationKeys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if !storable(kid) {
		return nil, notFound("key", kid)
	}
	var ks []jose.JSONWebKey
	if s.cache == nil {
		qctx, cancel := s.lookupCtx(ctx)
		defer cancel()
		where, args := "", []any{}
		if kid != "" {
			where, args = "kid = $1", []any{kid}
		}
		// Public halves only: the private material is not even read.
		recs, err := s.readPublicKeys(qctx, where, args...)
		if err != nil {
			return nil, s.fail(qctx, "reading keys", err)
		}
		ks = recs
	} else {
		set, err := s.keySet(ctx)
		if err != nil {
			return nil, err
		}
		if kid == "" {
			ks = set.public
		} else {
			ks = set.byKID[kid]
		}
	}
	if len(ks) == 0 {
		return nil, notFound("key", kid)
	}
	return ks, nil
}

func (s *Store) readPublicKeys(ctx context.Context, where string, args ...any) ([]jose.JSONWebKey, error) {
	q := "SELECT public_jwk FROM deputy_keys WHERE removed_at IS NULL"
	if where != "" {
		q += " AND " + where
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY seq", args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (jose.JSONWebKey, error) {
		var b []byte
		var k jose.JSONWebKey
		if err := row.Scan(&b); err != nil {
			return k, err
		}
		return k, k.UnmarshalJSON(b)
	})
}

// AddKey validates k (store.ValidateKey) and adds it, published and, for a
// private key, signing at once: StageKey with no window. A kid already
// present, or removed before, is refused.
func (s *Store) AddKey(ctx context.Context, k jose.JSONWebKey) error {
	return s.StageKey(ctx, store.Key{JSONWebKey: k})
}

// StageKey validates k and adds it: published at once, signing within its
// window; a zero SignFrom is recorded as Config.Now. A private key is
// sealed under the active encryption key. A window that ends before it
// starts is refused, as is a kid already present or removed before. Every
// Store on the database drops its cached key set.
func (s *Store) StageKey(ctx context.Context, k store.Key) error {
	if err := store.ValidateKey(&k.JSONWebKey); err != nil {
		return err
	}
	if !k.SignUntil.IsZero() && !k.SignFrom.IsZero() && !k.SignFrom.Before(k.SignUntil) {
		return fmt.Errorf("%w %q: signing window ends before it starts", store.ErrInvalidKey, k.KeyID)
	}
	pub, err := k.Public().MarshalJSON()
	if err != nil {
		return fmt.Errorf("%w %q: %v", store.ErrInvalidKey, k.KeyID, err)
	}
	var keyID pgtype.Text
	var sealed []byte
	if !k.IsPublic() {
		priv, err := k.MarshalJSON()
		if err != nil {
			return fmt.Errorf("%w %q: %v", store.ErrInvalidKey, k.KeyID, err)
		}
		keyID.String, sealed = s.sealer.seal(priv, kindKey, k.KeyID)
		keyID.Valid = true
		clear(priv)
	}
	from := k.SignFrom
	if from.IsZero() {
		from = s.cfg.Now()
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO deputy_keys (kid, alg, public_jwk, key_id, sealed, sign_from, sign_until)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kid) DO NOTHING`,
			k.KeyID, k.Algorithm, string(pub), keyID, sealed, from, nullTime(k.SignUntil))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w %q: kid already used", store.ErrInvalidKey, k.KeyID)
		}
		return notify(ctx, tx, noticeKeys)
	})
	if errors.Is(err, store.ErrInvalidKey) {
		return err
	}
	if err != nil {
		return s.fail(ctx, "adding key", err)
	}
	s.changed(noticeKeys)
	return nil
}

// RetireKey ends the signing window of the key with the given kid at at
// (Config.Now when zero), or keeps an earlier end it already has. The key
// stays published until RemoveKey. An unknown kid wraps store.ErrNotFound.
func (s *Store) RetireKey(ctx context.Context, kid string, at time.Time) error {
	if at.IsZero() {
		at = s.cfg.Now()
	}
	return s.keyWrite(ctx, "retiring key", kid, `
		UPDATE deputy_keys SET sign_until = LEAST(coalesce(sign_until, $2), $2)
		WHERE kid = $1 AND removed_at IS NULL`, kid, at)
}

// RemoveKey unpublishes the key with the given kid and erases its private
// material; once it returns, the key neither signs nor verifies through
// this Store, and other Stores follow as soon as they hear of it. The kid
// is never accepted again. An unknown kid wraps store.ErrNotFound.
func (s *Store) RemoveKey(ctx context.Context, kid string) error {
	return s.keyWrite(ctx, "removing key", kid, `
		UPDATE deputy_keys SET removed_at = now(), key_id = NULL, sealed = NULL
		WHERE kid = $1 AND removed_at IS NULL`, kid)
}

func (s *Store) keyWrite(ctx context.Context, op, kid, sql string, args ...any) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("key", kid)
		}
		return notify(ctx, tx, noticeKeys)
	})
	if errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil {
		return s.fail(ctx, op, err)
	}
	s.changed(noticeKeys)
	return nil
}

// Keys returns the schedule of every published key, oldest first: public
// halves only, with their signing windows (SignFrom as recorded).
func (s *Store) Keys(ctx context.Context) ([]store.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT public_jwk, sign_from, sign_until FROM deputy_keys
		WHERE removed_at IS NULL ORDER BY seq`)
	if err != nil {
		return nil, s.fail(ctx, "listing keys", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Key, error) {
		var (
			k     store.Key
			pub   []byte
			until pgtype.Timestamptz
		)
		if err := row.Scan(&pub, &k.SignFrom, &until); err != nil {
			return k, err
		}
		k.SignFrom = k.SignFrom.UTC()
		if until.Valid {
			k.SignUntil = until.Time.UTC()
		}
		return k, k.UnmarshalJSON(pub)
	})
	if err != nil {
		return nil, s.fail(ctx, "listing keys", err)
	}
	return out, nil
}
