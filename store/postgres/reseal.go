package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Reseal re-encrypts every client secret, private key and client's
// api_types settings not sealed under Config.ActiveKey with it, in one
// transaction, and reports how many rows it moved. It also seals api_types
// settings kept in the clear by a version before migration 0002. Rotating the encryption key: give every replica the new key in
// EncryptionKeys, then make it ActiveKey everywhere, call Reseal once, and
// only then drop the old key from the Configs. Values do not change, so
// caches stay valid.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		type row struct {
			owner, id, keyID string
			sealed           []byte
		}
		collect := func(sql string) ([]row, error) {
			rows, err := tx.Query(ctx, sql, s.cfg.ActiveKey)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
				var x row
				err := r.Scan(&x.owner, &x.id, &x.keyID, &x.sealed)
				return x, err
			})
		}
		secrets, err := collect(`SELECT client_id, id, key_id, sealed FROM deputy_client_secrets
			WHERE key_id <> $1 FOR UPDATE`)
		if err != nil {
			return err
		}
		for _, r := range secrets {
			plain, err := s.sealer.open(r.keyID, r.sealed, kindSecret, r.owner, r.id)
			if err != nil {
				return err
			}
			keyID, sealed := s.sealer.seal(plain, kindSecret, r.owner, r.id)
			clear(plain)
			if _, err := tx.Exec(ctx, "UPDATE deputy_client_secrets SET key_id = $3, sealed = $4 WHERE client_id = $1 AND id = $2",
				r.owner, r.id, keyID, sealed); err != nil {
				return err
			}
			n++
		}
		keys, err := collect(`SELECT '', kid, key_id, sealed FROM deputy_keys
			WHERE key_id IS NOT NULL AND key_id <> $1 FOR UPDATE`)
		if err != nil {
			return err
		}
		for _, r := range keys {
			plain, err := s.sealer.open(r.keyID, r.sealed, kindKey, r.id)
			if err != nil {
				return err
			}
			keyID, sealed := s.sealer.seal(plain, kindKey, r.id)
			clear(plain)
			if _, err := tx.Exec(ctx, "UPDATE deputy_keys SET key_id = $2, sealed = $3 WHERE kid = $1", r.id, keyID, sealed); err != nil {
				return err
			}
			n++
		}
		// api_types settings, one row per client: those sealed under
		// another key, and those written in the clear before migration
		// 0002.
		rows, err := tx.Query(ctx, `SELECT id, api_types_key_id, api_types FROM deputy_clients
			WHERE api_types_key_id IS DISTINCT FROM $1 AND api_types <> '{}'::jsonb FOR UPDATE`, s.cfg.ActiveKey)
		if err != nil {
			return err
		}
		type apiRow struct {
			client   string
			keyID    pgtype.Text
			settings map[string]string
		}
		apiRows, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apiRow, error) {
			var x apiRow
			err := r.Scan(&x.client, &x.keyID, &x.settings)
			return x, err
		})
		if err != nil {
			return err
		}
		for _, r := range apiRows {
			plain := make(map[string]json.RawMessage, len(r.settings))
			for name, v := range r.settings {
				if !r.keyID.Valid {
					plain[name] = json.RawMessage(v)
					continue
				}
				if plain[name], err = s.openAPIType(r.keyID.String, r.client, name, v); err != nil {
					return err
				}
			}
			apiTypes, keyID, err := s.sealAPITypes(r.client, plain)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "UPDATE deputy_clients SET api_types = $2, api_types_key_id = $3 WHERE id = $1",
				r.client, apiTypes, keyID); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if errors.Is(err, ErrSealing) {
		return 0, err
	}
	if err != nil {
		return 0, s.fail(ctx, "resealing", err)
	}
	return n, nil
}
