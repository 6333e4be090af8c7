package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/deputyauth/deputy/store"
)

const (
	kindSecret  = "client_secret"
	kindAPIType = "client_api_type" // an add-on's settings
)

// clientQuery reads one client with its secrets, newest first, in one
// round trip.
const clientQuery = `
SELECT c.id, c.name, c.disabled, c.confidential, c.signing_alg, c.allowed_sources,
       c.grants, c.lifetime_seconds, c.scopes, c.api_types, c.default_api_type,
       c.api_types_key_id, s.ids, s.key_ids, s.sealed, s.not_after
FROM deputy_clients c
LEFT JOIN LATERAL (
    SELECT array_agg(id ORDER BY seq DESC) AS ids,
           array_agg(key_id ORDER BY seq DESC) AS key_ids,
           array_agg(sealed ORDER BY seq DESC) AS sealed,
           array_agg(not_after ORDER BY seq DESC) AS not_after
    FROM deputy_client_secrets WHERE client_id = c.id
) s ON true`

// Client implements store.ClientStore. It serves from the cache when it
// can; misses are not cached, so a client added through another replica is
// found at once, and unknown IDs cannot fill the cache.
func (s *Store) Client(ctx context.Context, id string) (*store.Client, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if s.cache == nil {
		return s.readClient(ctx, id)
	}
	if c, ok := s.cache.client(id); ok {
		return c, nil
	}
	v, err := s.fill(ctx, noticeClient+id, func(ctx context.Context, gen uint64) (any, error) {
		at := time.Now()
		c, err := s.readClient(ctx, id)
		if err != nil {
			return nil, err
		}
		s.cache.putClient(c, gen, at)
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*store.Client), nil
}

func (s *Store) readClient(ctx context.Context, id string) (*store.Client, error) {
	if !storable(id) {
		return nil, notFound("client", id)
	}
	qctx, cancel := s.lookupCtx(ctx)
	defer cancel()
	c, err := s.scanClient(s.pool.QueryRow(qctx, clientQuery+" WHERE c.id = $1", id), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("client", id)
	}
	if err != nil {
		return nil, s.fail(qctx, "reading client", err)
	}
	return c, nil
}

// scanClient reads a row of clientQuery; it opens the secrets and the
// api_types settings if open, else leaves their values out.
func (s *Store) scanClient(row pgx.Row, open bool) (*store.Client, error) {
	var (
		c        store.Client
		lifetime int64
		apiTypes []byte
		apiKeyID pgtype.Text
		ids      []string
		keyIDs   []string
		sealed   [][]byte
		notAfter []pgtype.Timestamptz
	)
	err := row.Scan(&c.ID, &c.Name, &c.Disabled, &c.Confidential, &c.SigningAlg, &c.AllowedSources,
		&c.Grants, &lifetime, &c.Scopes, &apiTypes, &c.DefaultAPIType,
		&apiKeyID, &ids, &keyIDs, &sealed, &notAfter)
	if err != nil {
		return nil, err
	}
	c.Lifetime = time.Duration(lifetime) * time.Second
	var settings map[string]string
	if err := json.Unmarshal(apiTypes, &settings); err != nil {
		return nil, fmt.Errorf("client %q: api_types: %w", c.ID, err)
	}
	if len(settings) > 0 {
		c.APITypes = make(map[string]json.RawMessage, len(settings))
		for k, v := range settings {
			switch {
			case !open:
				c.APITypes[k] = nil
			case !apiKeyID.Valid: // written before migration 0002, in the clear
				c.APITypes[k] = json.RawMessage(v)
			default:
				plain, err := s.openAPIType(apiKeyID.String, c.ID, k, v)
				if err != nil {
					return nil, err
				}
				c.APITypes[k] = plain
			}
		}
	}
	if len(ids) > 0 {
		c.Secrets = make([]store.Secret, len(ids))
	}
	for i, sid := range ids {
		sec := &c.Secrets[i]
		sec.ID = sid
		if notAfter[i].Valid {
			sec.NotAfter = notAfter[i].Time.UTC()
		}
		if open {
			if sec.Value, err = s.sealer.open(keyIDs[i], sealed[i], kindSecret, c.ID, sid); err != nil {
				return nil, err
			}
		}
	}
	return &c, nil
}

// openAPIType opens the settings of api_type name of client clientID,
// sealed under keyID and base64-encoded as api_types keeps them.
func (s *Store) openAPIType(keyID, clientID, name, v string) (json.RawMessage, error) {
	sealed, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%w: client %q: api_type %q: sealed settings are not base64", ErrSealing, clientID, name)
	}
	return s.sealer.open(keyID, sealed, kindAPIType, clientID, name)
}

// sealAPITypes seals each api_type's settings under the active key, bound
// to the client and the api_type, for api_types; the key id is NULL when
// there is nothing to seal.
func (s *Store) sealAPITypes(clientID string, apiTypes map[string]json.RawMessage) ([]byte, pgtype.Text, error) {
	var keyID pgtype.Text
	settings := make(map[string]string, len(apiTypes))
	for name, v := range apiTypes {
		id, sealed := s.sealer.seal(v, kindAPIType, clientID, name)
		keyID = pgtype.Text{String: id, Valid: true}
		settings[name] = base64.StdEncoding.EncodeToString(sealed)
	}
	b, err := json.Marshal(settings)
	return b, keyID, err
}

// PutClient validates c (store.Client.Validate) and stores it, replacing any
// client with the same ID together with all its secrets and its api_types
// settings, which are sealed under the active key. Every Store on the database drops its cached copy.
func (s *Store) PutClient(ctx context.Context, c store.Client) error {
	if err := c.Validate(); err != nil {
		return err
	}
	apiTypes, apiKeyID, err := s.sealAPITypes(c.ID, c.APITypes)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO deputy_clients (id, name, disabled, confidential, signing_alg, allowed_sources,
			                            grants, lifetime_seconds, scopes, api_types, default_api_type, api_types_key_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (id) DO UPDATE SET
				name = EXCLUDED.name, disabled = EXCLUDED.disabled, confidential = EXCLUDED.confidential,
				signing_alg = EXCLUDED.signing_alg, allowed_sources = EXCLUDED.allowed_sources,
				grants = EXCLUDED.grants, lifetime_seconds = EXCLUDED.lifetime_seconds,
				scopes = EXCLUDED.scopes, api_types = EXCLUDED.api_types,
				default_api_type = EXCLUDED.default_api_type, api_types_key_id = EXCLUDED.api_types_key_id,
				updated_at = now()`,
			c.ID, c.Name, c.Disabled, c.Confidential, c.SigningAlg, nonNil(c.AllowedSources),
			nonNil(c.Grants), int64(c.Lifetime/time.Second), nonNil(c.Scopes), apiTypes, c.DefaultAPIType, apiKeyID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM deputy_client_secrets WHERE client_id = $1", c.ID); err != nil {
			return err
		}
		for i, sec := range c.Secrets {
			// The first secret is the newest: it gets the highest seq.
			if err := s.insertSecret(ctx, tx, c.ID, sec, int64(len(c.Secrets)-i)); err != nil {
				return err
			}
		}
		return notify(ctx, tx, clientNotice(c.ID))
	})
	if err != nil {
		return s.fail(ctx, "putting client", err)
	}
	s.changed(clientNotice(c.ID))
	return nil
}

func (s *Store) insertSecret(ctx context.Context, tx pgx.Tx, clientID string, sec store.Secret, seq int64) error {
	keyID, sealed := s.sealer.seal(sec.Value, kindSecret, clientID, sec.ID)
	_, err := tx.Exec(ctx, `
		INSERT INTO deputy_client_secrets (client_id, id, seq, key_id, sealed, not_after)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		clientID, sec.ID, seq, keyID, sealed, nullTime(sec.NotAfter))
	return err
}

// SetDisabled disables or re-enables a client. An unknown client wraps
// store.ErrNotFound.
func (s *Store) SetDisabled(ctx context.Context, clientID string, disabled bool) error {
	return s.clientWrite(ctx, "disabling client", clientID,
		"UPDATE deputy_clients SET disabled = $2, updated_at = now() WHERE id = $1", clientID, disabled)
}

// DeleteClient removes a client and its secrets. An unknown client wraps
// store.ErrNotFound.
func (s *Store) DeleteClient(ctx context.Context, clientID string) error {
	return s.clientWrite(ctx, "deleting client", clientID, "DELETE FROM deputy_clients WHERE id = $1", clientID)
}

// ExpireSecret makes a client's secret stop signing, verifying and
// authenticating at at (Config.Now when zero), or keeps an earlier expiry
// it already has. An unknown client or secret wraps store.ErrNotFound.
func (s *Store) ExpireSecret(ctx context.Context, clientID, secretID string, at time.Time) error {
	if at.IsZero() {
		at = s.cfg.Now()
	}
	return s.clientWrite(ctx, "expiring secret", clientID, `
		UPDATE deputy_client_secrets SET not_after = LEAST(coalesce(not_after, $3), $3)
		WHERE client_id = $1 AND id = $2`, clientID, secretID, at)
}

// clientWrite runs one statement changing client clientID and announces
// the change; no row changed wraps store.ErrNotFound.
func (s *Store) clientWrite(ctx context.Context, op, clientID, sql string, args ...any) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("client or secret", clientID)
		}
		return notify(ctx, tx, clientNotice(clientID))
	})
	if errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil {
		return s.fail(ctx, op, err)
	}
	s.changed(clientNotice(clientID))
	return nil
}

// AddSecret adds a secret to a client as its newest, the one that signs,
// sealed under the active key. The client with the secret added must still
// pass store.Client.Validate (a long enough value, an unused ID). An
// unknown client wraps store.ErrNotFound.
func (s *Store) AddSecret(ctx context.Context, clientID string, sec store.Secret) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the client so concurrent AddSecret calls number in turn.
		var seq int64
		err := tx.QueryRow(ctx, `
			SELECT coalesce((SELECT max(seq) FROM deputy_client_secrets WHERE client_id = $1), 0)
			FROM deputy_clients WHERE id = $1 FOR UPDATE`, clientID).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("client", clientID)
		}
		if err != nil {
			return err
		}
		c, err := s.scanClient(tx.QueryRow(ctx, clientQuery+" WHERE c.id = $1", clientID), true)
		if err != nil {
			return err
		}
		c.Secrets = append([]store.Secret{sec}, c.Secrets...)
		if err := c.Validate(); err != nil {
			return err
		}
		if err := s.insertSecret(ctx, tx, clientID, sec, seq+1); err != nil {
			return err
		}
		return notify(ctx, tx, clientNotice(clientID))
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidClient) {
		return err
	}
	if err != nil {
		return s.fail(ctx, "adding secret", err)
	}
	s.changed(clientNotice(clientID))
	return nil
}

// Clients returns every client, ordered by ID, for listing: secrets carry
// their ID and expiry but no Value, APITypes name the enabled api_types
// with nil settings, and nothing is decrypted.
func (s *Store) Clients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.pool.Query(ctx, clientQuery+" ORDER BY c.id")
	if err != nil {
		return nil, s.fail(ctx, "listing clients", err)
	}
	defer rows.Close()
	var out []store.Client
	for rows.Next() {
		c, err := s.scanClient(rows, false)
		if err != nil {
			return nil, s.fail(ctx, "listing clients", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "listing clients", err)
	}
	return out, nil
}

// nonNil returns l, or an empty list for nil: the columns are NOT NULL.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return slices.Clip(l)
}

// nullTime maps the zero time, "never", to NULL.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}
